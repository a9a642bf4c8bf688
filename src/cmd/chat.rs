//! `croupier chat`: a terminal in which you are a player. Each line you type is a
//! message to the real bot (the pipeline a webhook feeds, the real ledger, the configured
//! database); what the bot sends, through its outbox and dispatcher, reaches an
//! in-process fake Telegram and is printed: texts, keyboards as numbered choices (type
//! the number to press one), invoices (type `pay`), dice.
//!
//! It reads standard input line by line, so a script can be piped in.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bot_adapter::bot::show;
use bot_adapter::db::BotDb;
use bot_adapter::pipeline::Handled;
use rand::Rng;
use serde_json::json;
use simulation::fake::Received;
use store::EventStore;
use tokio::sync::mpsc;

use simulation::updates::Payment;
use simulation::{Simulation, Updates};
use store::{with_store, Database};

/// How long to wait for the bot's calls to reach the fake Telegram after an update.
const REPLY_WAIT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct ChatArgs {
    /// Your Telegram user id, which is also your private chat's id and your player id.
    #[arg(long, default_value_t = 1001,
          value_parser = clap::value_parser!(u64).range(1..=i64::MAX.unsigned_abs()))]
    user: u64,
}

const HELP: &str = "\
Type what a player types: /start, /help (the bot's own help), /deposit 100, /balance,
/coinflip 10 heads, /dice 10 50, /history, /fair ...
  N           press button N of the last keyboard shown
  pay         pay the last invoice (pre-checkout, then the payment)
  help        this text
  quit, exit  leave (so does end of input, Ctrl-D)";

pub async fn run(database: &Database, url: &str, args: ChatArgs) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(url, 4)
        .await
        .context("cannot open the bot's tables")?;
    // The dispatcher sends every pending call of this database to the fake Telegram: a
    // real bot's replies waiting in the outbox would be lost.
    let pending = db.pending_calls().await?;
    if pending > 0 {
        db.close().await;
        anyhow::bail!(
            "the outbox of this database holds {pending} calls still to be sent to Telegram, which croupier chat would hand to its fake Telegram instead; let `croupier serve` send them, or chat on another database (--database-url sqlite://chat.db)"
        );
    }
    outln!(
        "Croupier chat on {}, as user {} in a private chat with the bot (a fake Telegram in this process).",
        database.describe(),
        args.user
    )?;
    outln!("Type /start to begin, help for what you can type here, quit to leave.")?;
    with_store!(database, store => chat(store.clone(), db, args.user).await)
}

/// The last invoice the bot sent.
#[derive(Clone)]
struct Invoice {
    payload: String,
    currency: String,
    amount: u64,
}

struct Chat<S> {
    simulation: Simulation<S>,
    updates: Updates,
    user: u64,
    /// The last keyboard shown, `(label, callback data)` in reading order, and the id of
    /// the message it came with.
    keyboard: Vec<(String, String)>,
    keyboard_message: i64,
    invoice: Option<Invoice>,
    /// Makes this run's charge ids unique on a database used before.
    run: u64,
    paid: u64,
}

async fn chat<S: EventStore>(store: S, db: BotDb, user: u64) -> anyhow::Result<ExitCode> {
    // A small gap between two messages to one chat keeps them in order: the dispatcher
    // sends the calls of one round at once, and paces each chat.
    let simulation = Simulation::start(store, db, Duration::from_millis(1)).await?;
    let updates = Updates::after_recorded(&simulation.db).await?;
    let mut chat = Chat {
        simulation,
        updates,
        user,
        keyboard: Vec::new(),
        keyboard_message: 0,
        invoice: None,
        run: rand::rng().random_range(1..1u64 << 40),
        paid: 0,
    };
    let terminal = std::io::stdin().is_terminal();
    let mut lines = stdin_lines();
    loop {
        if terminal {
            out!("you> ")?;
            let _ = std::io::stdout().flush();
        }
        let line = match lines.recv().await {
            Some(Ok(line)) => line,
            Some(Err(unreadable)) => {
                eprintln!("{unreadable}");
                continue;
            }
            None => {
                if terminal {
                    outln!()?;
                }
                break;
            }
        };
        let line = line.trim();
        if !terminal && !line.is_empty() {
            outln!("you> {line}")?;
        }
        match line {
            "" => {}
            "quit" | "exit" => break,
            "help" => outln!("{HELP}")?,
            "pay" => chat.pay().await?,
            _ => match line.parse::<usize>() {
                Ok(n) if !chat.keyboard.is_empty() => chat.press(n).await?,
                _ => {
                    let body = chat.updates.message(user, json!({ "text": line }));
                    chat.exchange(&body).await?;
                }
            },
        }
    }
    chat.simulation.stop().await?;
    Ok(ExitCode::SUCCESS)
}

/// Lines of standard input, read on a thread of their own: a blocked read then never
/// holds up the runtime, nor the exit after `quit`. A line that is not UTF-8 comes as an
/// `Err` saying so, and the lines after it still come: it is one bad line, not the end
/// of the input (`lines()` would stop there, silently).
fn stdin_lines() -> mpsc::Receiver<Result<String, String>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut number = 0u64;
        loop {
            let mut bytes = Vec::new();
            match input.read_until(b'\n', &mut bytes) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ =
                        tx.blocking_send(Err(format!("error: cannot read standard input: {e}")));
                    break;
                }
            }
            number += 1;
            while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                bytes.pop();
            }
            let line = String::from_utf8(bytes)
                .map_err(|_| format!("error: line {number} is not valid UTF-8; it was skipped"));
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl<S: EventStore> Chat<S> {
    /// Hands an update to the bot, waits until the calls it queued reached the fake
    /// Telegram, prints them and returns them.
    async fn exchange(&mut self, body: &str) -> anyhow::Result<Vec<Received>> {
        let fake = &self.simulation.fake;
        let before = fake.calls().len();
        let queued = match self.simulation.pipeline.process(body.as_bytes()).await? {
            Handled::Done { queued } => queued,
            Handled::Duplicate | Handled::Malformed | Handled::DeadLetter => 0,
        };
        let arrived = fake
            .wait_for(REPLY_WAIT, |calls| calls.len() >= before + queued)
            .await;
        let calls: Vec<Received> = fake.calls().into_iter().skip(before).collect();
        for call in &calls {
            self.print(call)?;
        }
        if !arrived {
            outln!("(not every reply reached Telegram within {REPLY_WAIT:?}; `croupier outbox list` shows what is left)")?;
        }
        Ok(calls)
    }

    /// Prints one call as the player would see it, and remembers keyboards and invoices.
    fn print(&mut self, call: &Received) -> anyhow::Result<()> {
        let p = &call.params;
        match call.method.as_str() {
            "sendMessage" => {
                let text = p["text"].as_str().unwrap_or_default();
                outln!("bot: {}", text.replace('\n', "\n     "))?;
                let rows = p["reply_markup"]["inline_keyboard"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if !rows.is_empty() {
                    self.keyboard.clear();
                    self.keyboard_message = call
                        .result
                        .as_ref()
                        .and_then(|r| r["message_id"].as_i64())
                        .unwrap_or_default();
                    for row in rows {
                        let mut shown = Vec::new();
                        for button in row.as_array().into_iter().flatten() {
                            let label = button["text"].as_str().unwrap_or_default();
                            let data = button["callback_data"].as_str().unwrap_or_default();
                            self.keyboard.push((label.to_owned(), data.to_owned()));
                            shown.push(format!("[{}] {label}", self.keyboard.len()));
                        }
                        outln!("     {}", shown.join("  "))?;
                    }
                }
            }
            "sendInvoice" => {
                let currency = p["currency"].as_str().unwrap_or_default();
                let amount = p["prices"][0]["amount"].as_u64().unwrap_or_default();
                outln!(
                    "bot: 🧾 invoice \"{}\" for {} (type `pay` to pay)",
                    p["title"].as_str().unwrap_or_default(),
                    show(&amount.to_string(), currency)
                )?;
                self.invoice = Some(Invoice {
                    payload: p["payload"].as_str().unwrap_or_default().to_owned(),
                    currency: currency.to_owned(),
                    amount,
                });
            }
            "sendDice" => {
                let emoji = p["emoji"].as_str().unwrap_or("🎲");
                let value = call
                    .result
                    .as_ref()
                    .and_then(|r| r["dice"]["value"].as_i64());
                match value {
                    Some(value) => outln!("bot: {emoji} (Telegram rolled {value})")?,
                    None => outln!("bot: {emoji}")?,
                }
            }
            "answerPreCheckoutQuery" => {
                if p["ok"] == json!(true) {
                    outln!("bot: (pre-checkout accepted)")?;
                } else {
                    outln!(
                        "bot: (pre-checkout refused) {}",
                        p["error_message"].as_str().unwrap_or_default()
                    )?;
                }
            }
            "answerCallbackQuery" => {}
            other => outln!("bot: [{other}]")?,
        }
        Ok(())
    }

    /// Presses button `n` (from 1) of the last keyboard.
    async fn press(&mut self, n: usize) -> anyhow::Result<()> {
        let Some((_, data)) = n.checked_sub(1).and_then(|i| self.keyboard.get(i)) else {
            outln!(
                "no button {n}: the last keyboard has {}",
                self.keyboard.len()
            )?;
            return Ok(());
        };
        let data = data.clone();
        let body = self
            .updates
            .callback(self.user, self.keyboard_message, &data);
        self.exchange(&body).await?;
        Ok(())
    }

    /// Pays the last invoice as Telegram would: the pre-checkout query first, and only
    /// if the bot accepts it the payment, with a fresh charge id.
    async fn pay(&mut self) -> anyhow::Result<()> {
        let Some(invoice) = self.invoice.clone() else {
            outln!("no invoice to pay: ask the bot for one with /deposit 100")?;
            return Ok(());
        };
        let (body, query) = self.updates.pre_checkout(
            self.user,
            &invoice.currency,
            invoice.amount,
            &invoice.payload,
        );
        let answers = self.exchange(&body).await?;
        let accepted = answers.iter().any(|c| {
            c.method == "answerPreCheckoutQuery"
                && c.params["pre_checkout_query_id"] == json!(query)
                && c.params["ok"] == json!(true)
        });
        if !accepted {
            return Ok(());
        }
        self.paid += 1;
        let charge = format!("chat-{}-{}", self.run, self.paid);
        // Telegram lists the payment among the bot's Stars transactions.
        if invoice.currency == "XTR" {
            let stars = u32::try_from(invoice.amount).unwrap_or(u32::MAX);
            self.simulation
                .fake
                .add_star_payment(&charge, self.user, stars);
        }
        outln!(
            "telegram: you paid {}",
            show(&invoice.amount.to_string(), &invoice.currency)
        )?;
        let payment = Payment::new(&invoice.currency, invoice.amount, &invoice.payload, &charge);
        let body = self.updates.paid(self.user, &payment);
        self.exchange(&body).await?;
        Ok(())
    }
}
