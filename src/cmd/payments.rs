//! `croupier payments refund CHARGE_ID`: staff refund a Stars deposit. The refund is
//! recorded in the ledger first (refused, with the reason, when the player's balance does
//! not cover it); then `refundStarPayment` and a note to the player go through the outbox,
//! which a running `croupier serve` sends. When Telegram later reports the refund
//! (`refunded_payment`), the ledger already has it and nothing changes.
//!
//! `croupier payments reconcile`: Telegram's Stars transactions against the ledger's
//! Stars charges: deposits (the `deposits` read model, brought up to the head of the log)
//! and VIP subscription charges (read from the log).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bot_adapter::bot::show;
use bot_adapter::call;
use bot_adapter::db::BotDb;
use bot_adapter::dispatcher;
use bot_adapter::reconcile::{self, LedgerDeposit, Reconciliation};
use ledger::command::{Command, Request};
use ledger::{ExternalRef, IdempotencyKey, Ledger, PaymentMethod};
use projections::projector::{Projector, BATCH_SIZE};
use rust_decimal::Decimal;
use store::{player, EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, Submission};

use super::report::print_table;
use super::serve::check_token;
use store::{with_store, Database};

/// Exit status when Telegram and the ledger disagree (as `audit verify` on a finding).
const EXIT_DISCREPANCIES: u8 = 5;

pub async fn refund(database: &Database, url: &str, charge: &str) -> anyhow::Result<ExitCode> {
    let external_ref = ExternalRef::new(charge).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = BotDb::connect(url, 2)
        .await
        .context("cannot open the bot's tables")?;
    let method = PaymentMethod::telegram_stars();
    let Some(stream) = db.deposit_stream(method.as_str(), charge).await? else {
        eprintln!("error: no Stars payment with charge id '{charge}'");
        return Ok(ExitCode::from(2));
    };
    let player = player::player_of(&stream).context("the deposit's stream names no player")?;
    with_store!(database, store => refund_on(store.clone(), &db, player, external_ref).await)
}

async fn refund_on<S: EventStore>(
    store: S,
    db: &BotDb,
    player: ledger::PlayerId,
    external_ref: ExternalRef,
) -> anyhow::Result<ExitCode> {
    let charge = external_ref.as_str().to_owned();
    let state = player::load(&store, player).await?;
    // A VIP subscription charge is refunded the same way; it takes revenue back from the
    // house instead of cash from the player.
    let (paid, currency, what) = match (
        state.deposits.get(&external_ref),
        state.subscriptions.get(&external_ref),
    ) {
        (Some(deposit), _) => (deposit.amount, deposit.currency.clone(), "deposit"),
        (None, Some(charge)) => (charge.amount, charge.currency.clone(), "VIP payment"),
        (None, None) => anyhow::bail!("the charge is not in the player's stream"),
    };
    let writer = GroupCommit::start(store, Ledger::default(), GroupCommitConfig::default());
    let request = Request {
        idempotency_key: IdempotencyKey::new(format!("staff:refund:{charge}"))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        command: Command::RefundDeposit {
            player,
            external_ref,
            forced: false,
        },
    };
    let mut submission = Submission::new(request);
    submission.actor = Some("staff".to_owned());
    submission.causation = Some("croupier payments refund".to_owned());
    let outcome = writer.submit(submission).await?;
    match outcome.kind {
        OutcomeKind::Accepted => {}
        OutcomeKind::Rejected { code, message } => {
            println!("refused ({code}): {message}");
            return Ok(ExitCode::from(3));
        }
        OutcomeKind::Conflict { field } => {
            println!("conflict: this charge was refunded before with a different {field}");
            return Ok(ExitCode::from(4));
        }
    }
    let user = u64::try_from(player.get()).context("player ids are positive")?;
    let amount = show(&paid.to_string(), currency.as_str());
    let balance = outcome
        .balances
        .get(currency.as_str())
        .map_or("0", String::as_str);
    let calls = [
        call::refund_stars(user, &charge),
        // In a private chat the chat id is the user id.
        call::message(
            player.get(),
            format!(
                "↩️ Your {what} of {amount} is being refunded to you. Your balance: {}.",
                show(balance, currency.as_str())
            ),
        ),
    ];
    db.finish_update(None, &format!("staffrefund:{charge}"), &calls)
        .await?;
    let again = if outcome.replayed {
        " (already recorded earlier)"
    } else {
        ""
    };
    println!("refund of {amount} to player {player} recorded{again}; refundStarPayment queued in the outbox");
    Ok(ExitCode::SUCCESS)
}

/// How `payments reconcile` reports.
pub struct ReportAs {
    pub json: bool,
    /// Only discrepancies dated this UTC day (`YYYY-MM-DD`) or later.
    pub since: Option<String>,
}

/// The Stars subscription charges (VIP) in the log. They are house revenue, not
/// deposits, so the deposits read model does not hold them; Telegram lists them among
/// its transactions all the same. Read through the projector's pool.
async fn subscription_charges(pool: &sqlx::AnyPool) -> anyhow::Result<Vec<LedgerDeposit>> {
    let rows = sqlx::query(
        "SELECT stream_id, event_type, schema_version, payload FROM ledger_events \
         WHERE event_type IN ('subscription_paid', 'subscription_refunded') ORDER BY position",
    )
    .fetch_all(pool)
    .await?;
    let mut charges: Vec<LedgerDeposit> = Vec::new();
    for row in rows {
        use sqlx::Row;
        let stream: String = row.try_get("stream_id")?;
        let event_type: String = row.try_get("event_type")?;
        let version: i64 = row.try_get("schema_version")?;
        let payload: Vec<u8> = row.try_get("payload")?;
        let version = u16::try_from(version).context("a schema version out of range")?;
        let event = store::codec::decode(&event_type, version, &payload)
            .with_context(|| format!("cannot read an event of {stream}"))?;
        match event {
            ledger::Event::SubscriptionPaid(e) if e.method == PaymentMethod::telegram_stars() => {
                charges.push(LedgerDeposit {
                    charge_id: e.external_ref.to_string(),
                    player: e.player.get(),
                    amount: e.amount,
                    currency: e.currency.to_string(),
                    refunded: false,
                    credited_at: projections::time::rfc3339(e.at.as_micros()),
                });
            }
            ledger::Event::SubscriptionRefunded(e) => {
                let charge = e.external_ref.as_str();
                if let Some(paid) = charges.iter_mut().find(|c| c.charge_id == charge) {
                    paid.refunded = true;
                }
            }
            _ => {}
        }
    }
    Ok(charges)
}

pub async fn reconcile(
    database: &Database,
    url: &str,
    token: &str,
    api_url: &str,
    report: ReportAs,
) -> anyhow::Result<ExitCode> {
    check_token(token)?;
    // Telegram first: a payment the bot credits meanwhile is then in the ledger too.
    let api = dispatcher::api(api_url, token, Duration::from_secs(30));
    let terminal = std::io::stderr().is_terminal();
    let mut shown = Instant::now();
    let mut pages = 0;
    let transactions = reconcile::fetch(&api, |page, transactions| {
        pages = page;
        if terminal {
            eprint!("\rfetched {page} pages of Stars transactions ({transactions} transactions)");
        } else if shown.elapsed() >= Duration::from_secs(1) {
            eprintln!("fetched {page} pages of Stars transactions ({transactions} transactions)");
            shown = Instant::now();
        }
    })
    .await
    .context(
        "cannot list the bot's Stars transactions (check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL)",
    )?;
    if terminal {
        eprintln!();
    }

    let projector = Projector::connect(url).await?;
    with_store!(database, s => projector.catch_up(s, BATCH_SIZE, |_| {}).await)?;
    let method = PaymentMethod::telegram_stars();
    let mut ledger = projector
        .deposits(&projections::report::Days::default())
        .await?
        .into_iter()
        .filter(|d| d.method == method.as_str())
        .map(|d| {
            let amount = d.amount.parse::<Decimal>().with_context(|| {
                format!(
                    "the deposits read model holds '{}' as the amount of charge '{}'; rebuild it with `croupier projections rebuild deposits`",
                    d.amount, d.external_ref
                )
            })?;
            Ok(LedgerDeposit {
                charge_id: d.external_ref,
                player: d.player,
                amount,
                currency: d.currency,
                refunded: d.status == "refunded",
                credited_at: d.credited_at,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    ledger.extend(subscription_charges(projector.pool()).await?);

    let result = reconcile::reconcile(&transactions, &ledger, report.since.as_deref());
    if report.json {
        println!(
            "{}",
            serde_json::json!({
                "ok": result.discrepancies.is_empty(),
                "pages": pages,
                "since": report.since,
                "telegram": result.telegram,
                "ledger_deposits": result.ledger_deposits,
                "agreed": result.agreed,
                "discrepancies": result.discrepancies,
            })
        );
    } else {
        print_reconciliation(&result, pages);
    }
    Ok(if result.discrepancies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DISCREPANCIES)
    })
}

fn print_reconciliation(result: &Reconciliation, pages: u32) {
    let t = &result.telegram;
    println!(
        "Telegram: {} transactions in {pages} pages ({} payments, {} refunds, {} other); ledger: {} Stars charges (deposits and VIP); {} payments agree",
        t.transactions, t.payments, t.refunds, t.other, result.ledger_deposits, result.agreed
    );
    if result.discrepancies.is_empty() {
        println!("Telegram and the ledger agree");
        return;
    }
    println!("{} discrepancies:", result.discrepancies.len());
    let rows: Vec<Vec<String>> = result
        .discrepancies
        .iter()
        .map(|d| {
            let (telegram, ledger) = d.sides();
            vec![
                d.kind().to_owned(),
                d.charge_id().to_owned(),
                telegram,
                ledger,
            ]
        })
        .collect();
    print_table(&["kind", "charge_id", "telegram", "ledger"], &rows);
}
