//! End-to-end tests of the bot: a real `croupier serve` process, a real database
//! (SQLite, and PostgreSQL where marked), and the in-repo fake Bot API server standing in
//! for Telegram. Updates are posted to the webhook as Telegram would post them.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use simulation::fake::{FakeTelegram, Fault};
use sqlx::Row;

const TOKEN: &str = "123456:test-token_ABC";
const SECRET: &str = "webhook-secret_1";
const PLAYER: u64 = 424_242;
const WAIT: Duration = Duration::from_secs(20);

/// A `croupier serve` process, stopped on drop.
struct Server {
    child: Child,
    address: String,
    database_url: String,
    _dir: Option<Scratch>,
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sqlite_url() -> (String, Scratch) {
    let dir = std::env::temp_dir().join(format!("croupier-bot-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    (format!("sqlite://{}/bot.db", dir.display()), Scratch(dir))
}

impl Server {
    fn start(database_url: &str, fake: &FakeTelegram, dir: Option<Scratch>) -> Self {
        Self::start_with(database_url, fake, dir, &[])
    }

    fn start_with(
        database_url: &str,
        fake: &FakeTelegram,
        dir: Option<Scratch>,
        flags: &[&str],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("DATABASE_URL", database_url)
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_WEBHOOK_SECRET", SECRET)
            .env("TELEGRAM_API_URL", fake.url())
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("croupier starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self {
            child,
            address,
            database_url: database_url.to_owned(),
            _dir: dir,
        }
    }

    async fn post(&self, update: &Value) -> reqwest::StatusCode {
        self.post_with(update, Some(SECRET)).await.0
    }

    async fn post_with(
        &self,
        update: &Value,
        secret: Option<&str>,
    ) -> (reqwest::StatusCode, Option<String>) {
        let mut request = reqwest::Client::new()
            .post(format!("http://{}/telegram/webhook", self.address))
            .header("content-type", "application/json")
            .body(update.to_string());
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let response = request.send().await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), retry_after)
    }

    /// SIGTERM, then the exit status. Waits without blocking the runtime, which serves
    /// the fake Bot API the server is still talking to.
    async fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user() -> Value {
    json!({ "id": PLAYER, "is_bot": false, "first_name": "Pat" })
}

fn chat() -> Value {
    json!({ "id": PLAYER, "type": "private", "first_name": "Pat" })
}

fn text(update_id: i64, message_id: i64, text: &str) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": message_id, "date": 1_700_000_000, "chat": chat(), "from": user(), "text": text,
    }})
}

fn pre_checkout(update_id: i64, amount: u64, payload: &str) -> Value {
    json!({ "update_id": update_id, "pre_checkout_query": {
        "id": format!("pcq-{update_id}"), "from": user(), "currency": "XTR",
        "total_amount": amount, "invoice_payload": payload,
    }})
}

fn paid(update_id: i64, message_id: i64, amount: u64, payload: &str, charge: &str) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": message_id, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "successful_payment": {
            "currency": "XTR", "total_amount": amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge, "provider_payment_charge_id": "",
        },
    }})
}

fn refunded(update_id: i64, message_id: i64, amount: u64, payload: &str, charge: &str) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": message_id, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "refunded_payment": {
            "currency": "XTR", "total_amount": amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
        },
    }})
}

/// Texts of the successful sendMessage calls so far.
fn texts(fake: &FakeTelegram) -> Vec<String> {
    fake.succeeded("sendMessage")
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn wait_for_text(fake: &FakeTelegram, needle: &str) -> String {
    let found = fake
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "sendMessage"
                    && c.fault.is_none()
                    && c.params["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(needle)
            })
        })
        .await;
    let all = texts(fake);
    assert!(found, "no message containing {needle:?}; sent: {all:#?}");
    all.into_iter().rev().find(|t| t.contains(needle)).unwrap()
}

/// Runs the `croupier` command on the database at `url`.
fn croupier(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

/// How many events of `event_type` the log holds.
async fn events(url: &str, event_type: &str) -> i64 {
    count(
        url,
        &format!("SELECT COUNT(*) FROM ledger_events WHERE event_type = '{event_type}'"),
    )
    .await
}

/// How many messages sent so far contain `needle`.
fn sent_with(fake: &FakeTelegram, needle: &str) -> usize {
    texts(fake).iter().filter(|t| t.contains(needle)).count()
}

async fn count(url: &str, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let n: i64 = sqlx::query(sql)
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    pool.close().await;
    n
}

/// Asks for an invoice of `amount` Stars and returns its payload.
async fn invoice(server: &Server, fake: &FakeTelegram, update_id: i64, amount: u64) -> String {
    let before = fake.succeeded("sendInvoice").len();
    assert_eq!(
        server
            .post(&text(update_id, update_id, &format!("/deposit {amount}")))
            .await,
        200
    );
    assert!(
        fake.wait_for(WAIT, |_| fake.succeeded("sendInvoice").len() > before)
            .await,
        "no invoice"
    );
    let invoice = fake.succeeded("sendInvoice").pop().unwrap();
    assert_eq!(invoice["currency"], "XTR");
    assert_eq!(invoice["prices"][0]["amount"], amount);
    assert_eq!(invoice["chat_id"], PLAYER);
    invoice["payload"].as_str().unwrap().to_owned()
}

async fn answers(fake: &FakeTelegram, n: usize) -> Vec<Value> {
    assert!(
        fake.wait_for(WAIT, |_| fake.succeeded("answerPreCheckoutQuery").len()
            >= n)
            .await,
        "no pre-checkout answer"
    );
    fake.succeeded("answerPreCheckoutQuery")
}

async fn deposit_flow(database_url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(database_url, &fake, dir);

    assert_eq!(server.post(&text(1, 1, "/start")).await, 200);
    let welcome = wait_for_text(&fake, "Welcome to Croupier").await;
    assert!(welcome.contains("/fair"), "{welcome}");
    let start = &fake.succeeded("sendMessage")[0];
    assert!(
        start["reply_markup"]["inline_keyboard"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty()),
        "{start}"
    );

    let payload = invoice(&server, &fake, 2, 100).await;
    // A pre-checkout for another amount than the invoice's is refused; the real one passes.
    assert_eq!(server.post(&pre_checkout(3, 1000, &payload)).await, 200);
    assert_eq!(server.post(&pre_checkout(4, 100, &payload)).await, 200);
    let answered = answers(&fake, 2).await;
    let by_id = |id: &str| {
        answered
            .iter()
            .find(|a| a["pre_checkout_query_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("pcq-3")["ok"], false);
    assert!(by_id("pcq-3")["error_message"]
        .as_str()
        .unwrap()
        .contains("amount"));
    assert_eq!(by_id("pcq-4")["ok"], true);

    assert_eq!(
        server.post(&paid(5, 5, 100, &payload, "charge-1")).await,
        200
    );
    let credited = wait_for_text(&fake, "Received 100 ⭐").await;
    assert!(credited.contains("Your balance: 100 ⭐"), "{credited}");

    assert_eq!(server.post(&text(6, 6, "/balance")).await, 200);
    wait_for_text(&fake, "Your balance: 100 ⭐.").await;
    assert_eq!(events(&server.database_url, "deposited").await, 1);
    assert!(server.stop().await.success());
    assert_eq!(
        count(
            &server.database_url,
            "SELECT COUNT(*) FROM bot_outbox WHERE state <> 'sent'"
        )
        .await,
        0,
        "{:#?}",
        fake.calls()
    );
}

#[tokio::test]
async fn the_whole_deposit_flow_on_sqlite() {
    let (url, dir) = sqlite_url();
    deposit_flow(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn the_whole_deposit_flow_on_postgres(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    deposit_flow(&url, None).await;
}

#[tokio::test]
async fn the_same_update_twice_and_the_same_charge_in_two_updates_credit_once() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));
    let payload = invoice(&server, &fake, 1, 50).await;

    let update = paid(2, 2, 50, &payload, "charge-dup");
    assert_eq!(server.post(&update).await, 200);
    assert_eq!(server.post(&update).await, 200);
    // The same charge delivered again in a different update (another message id).
    assert_eq!(
        server.post(&paid(3, 3, 50, &payload, "charge-dup")).await,
        200
    );
    wait_for_text(&fake, "Received 50 ⭐").await;
    // A second, different charge of the same invoice is a second payment: credited.
    assert_eq!(
        server.post(&paid(4, 4, 50, &payload, "charge-other")).await,
        200
    );
    wait_for_text(&fake, "Your balance: 100 ⭐").await;
    // Let the dispatcher drain, then count.
    assert!(server.stop().await.success());

    assert_eq!(events(&url, "deposited").await, 2);
    let received: Vec<String> = texts(&fake)
        .into_iter()
        .filter(|t| t.contains("Received"))
        .collect();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert_eq!(count(&url, "SELECT COUNT(*) FROM bot_inbox").await, 4);
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_refused_and_records_nothing() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let server = Server::start(&url, &fake, Some(dir));
    let update = text(1, 1, "/start");
    assert_eq!(server.post_with(&update, Some("wrong-secret")).await.0, 401);
    assert_eq!(
        server.post_with(&update, Some("webhook-secret_")).await.0,
        401
    );
    assert_eq!(server.post_with(&update, None).await.0, 401);
    // Not a Telegram update at all, with the right secret.
    assert_eq!(
        server.post_with(&json!({"hello": 1}), Some(SECRET)).await.0,
        400
    );
    let huge = json!({ "update_id": 9, "message": { "text": "x".repeat(2 * 1024 * 1024) } });
    assert_eq!(server.post_with(&huge, Some(SECRET)).await.0, 413);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM bot_inbox").await, 0);
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_429_storm_delays_replies_but_each_goes_out_once() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    fake.inject([
        Fault::TooManyRequests { retry_after: 1 },
        Fault::TooManyRequests { retry_after: 1 },
        Fault::ServerError,
        Fault::TooManyRequests { retry_after: 1 },
    ]);
    let mut server = Server::start(&url, &fake, Some(dir));
    for i in 1..=3 {
        assert_eq!(server.post(&text(i, i, "/help")).await, 200);
    }
    assert!(
        fake.wait_for(WAIT, |_| fake.succeeded("sendMessage").len() >= 3)
            .await,
        "{:#?}",
        fake.calls()
    );
    let faults = fake.calls().iter().filter(|c| c.fault.is_some()).count();
    assert_eq!(faults, 4);
    assert!(server.stop().await.success());
    assert_eq!(
        fake.succeeded("sendMessage").len(),
        3,
        "a reply went out twice"
    );
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM bot_outbox WHERE state = 'sent'").await,
        3
    );
}

#[tokio::test]
async fn a_call_telegram_refuses_becomes_a_dead_letter_and_can_be_retried() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    // A 403 (the player blocked the bot) cannot succeed by retrying.
    fake.inject([Fault::Forbidden]);
    let mut server = Server::start(&url, &fake, Some(dir));
    assert_eq!(server.post(&text(1, 1, "/help")).await, 200);
    assert!(
        fake.wait_for(WAIT, |calls| calls
            .iter()
            .any(|c| c.method == "sendMessage"))
            .await
    );
    assert!(server.stop().await.success());
    let dead = count(&url, "SELECT COUNT(*) FROM bot_outbox WHERE state = 'dead'").await;
    assert_eq!(dead, 1, "{:#?}", fake.calls());

    let list = croupier(&url, &["outbox", "list", "--dead"]);
    let shown = String::from_utf8_lossy(&list.stdout);
    assert!(
        shown.contains("sendMessage") && shown.contains("403"),
        "{shown}"
    );
    let retry = croupier(&url, &["outbox", "retry", "--all-dead"]);
    assert!(String::from_utf8_lossy(&retry.stdout).contains("1 dead call(s) queued again"));
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM bot_outbox WHERE state = 'pending'"
        )
        .await,
        1
    );
}

/// The line of `text` after `label`.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
}

#[tokio::test]
async fn coinflip_and_dice_settle_by_the_committed_seed_and_a_rotation_proves_it() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));
    assert_eq!(
        server.post(&paid(1, 1, 100, "any", "charge-play")).await,
        200
    );
    wait_for_text(&fake, "Received 100 ⭐").await;

    assert_eq!(server.post(&text(2, 2, "/fair seed lucky-7")).await, 200);
    wait_for_text(&fake, "Client seed set to lucky-7").await;
    assert_eq!(server.post(&text(3, 3, "/fair")).await, 200);
    let shown = wait_for_text(&fake, "Server seed hash:").await;
    let committed = field(&shown, "Server seed hash:").to_owned();

    assert_eq!(server.post(&text(4, 4, "/coinflip 10 heads")).await, 200);
    let flip = wait_for_text(&fake, "🪙").await;
    assert_eq!(server.post(&text(5, 5, "/dice 10 50")).await, 200);
    let dice = wait_for_text(&fake, "🎲 Rolled").await;
    assert_eq!(server.post(&text(6, 6, "/fair rotate")).await, 200);
    let rotated = wait_for_text(&fake, "Revealed server seed:").await;
    assert_eq!(field(&rotated, "Its hash:"), committed);
    assert!(rotated.contains("It decided 2 rounds"), "{rotated}");
    let seed: [u8; 32] = hex::decode(field(&rotated, "Revealed server seed:"))
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(bot_adapter::fair::seed_hash(&seed), committed);

    // Recompute both rounds from the revealed seed: the replies and balances must agree.
    let flip_roll = bot_adapter::fair::roll(&seed, "lucky-7", 0);
    let flip_won = flip_roll < 5_000;
    assert_eq!(
        flip.starts_with("🪙 Heads!"),
        flip_won,
        "{flip} (roll {flip_roll})"
    );
    let after_flip = if flip_won { 100 - 10 + 19 } else { 90 };
    assert!(
        flip.contains(&format!("Balance: {after_flip} ⭐")),
        "{flip}"
    );
    let dice_roll = bot_adapter::fair::roll(&seed, "lucky-7", 1);
    assert!(
        dice.contains(&bot_adapter::fair::show_roll(dice_roll)),
        "{dice}"
    );
    let after_dice = after_flip - 10 + if dice_roll < 5_000 { 19 } else { 0 };
    assert!(
        dice.contains(&format!("Balance: {after_dice} ⭐")),
        "{dice}"
    );

    // Limits and funds are explained, not crashed on.
    assert_eq!(server.post(&text(7, 7, "/coinflip 5000 heads")).await, 200);
    wait_for_text(&fake, "The largest stake is 1000 ⭐").await;
    assert_eq!(server.post(&text(8, 8, "/coinflip 1.5 heads")).await, 200);
    wait_for_text(&fake, "Stakes are whole Stars").await;
    assert_eq!(server.post(&text(9, 9, "/coinflip 1000 tails")).await, 200);
    wait_for_text(&fake, "not enough for a stake of 1000 ⭐").await;
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "bet_settled").await, 2);

    // An auditor recomputes each bet from the log and the revealed seed.
    for bet in ["coinflip-m-424242-4", "dice-m-424242-5"] {
        let out = croupier(&url, &["fair", "verify", bet]);
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.contains("OK: stake 10"), "{shown}");
    }
    // The refused 1,000-Star bet drew a round under the new seed, not yet revealed.
    let unrevealed = croupier(&url, &["fair", "verify", "coinflip-m-424242-9"]);
    assert_eq!(unrevealed.status.code(), Some(3));
    assert_eq!(
        croupier(&url, &["fair", "verify", "no-such-bet"])
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn a_refund_made_outside_the_bot_is_recorded_once() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));
    assert_eq!(server.post(&paid(1, 1, 40, "p", "charge-r")).await, 200);
    wait_for_text(&fake, "Received 40 ⭐").await;
    let refund = refunded(2, 2, 40, "p", "charge-r");
    assert_eq!(server.post(&refund).await, 200);
    assert_eq!(server.post(&refunded(3, 3, 40, "p", "charge-r")).await, 200);
    let said = wait_for_text(&fake, "refunded to you").await;
    assert!(
        said.contains("40 ⭐") && said.contains("Your balance: 0 ⭐"),
        "{said}"
    );
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "deposit_refunded").await, 1);
    assert_eq!(sent_with(&fake, "refunded to you"), 1);
}

#[tokio::test]
async fn a_deposit_committed_before_a_crash_is_not_credited_again_when_the_update_returns() {
    let (url, dir) = sqlite_url();
    // What a process that died after the deposit committed, before its reply was queued
    // and the update acknowledged, leaves: the deposit under the key the bot derives
    // from the charge, and no record of the update.
    let deposit = format!(
        r#"{{"type":"deposit","idempotency_key":"tg:pay:charge-crash:deposit","player":{PLAYER},"amount":"30","currency":"XTR","method":"telegram_stars","external_ref":"charge-crash"}}"#
    );
    let submitted = croupier(&url, &["ledger", "submit", "--json", &deposit]);
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stdout)
    );

    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));
    // Telegram never got a 200, so it delivers the update again.
    assert_eq!(
        server.post(&paid(77, 77, 30, "p", "charge-crash")).await,
        200
    );
    let said = wait_for_text(&fake, "Received 30 ⭐").await;
    assert!(said.contains("Your balance: 30 ⭐"), "{said}");
    assert_eq!(
        server.post(&paid(77, 77, 30, "p", "charge-crash")).await,
        200
    );
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "deposited").await, 1);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM bot_inbox").await, 1);
    assert_eq!(texts(&fake).len(), 1);
}

#[sqlx::test(migrations = false)]
async fn with_the_database_down_updates_get_503_and_nothing_is_lost_or_doubled(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let admin = sqlx::PgPool::connect(&std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, None);
    assert_eq!(server.post(&text(1, 1, "/start")).await, 200);
    wait_for_text(&fake, "Welcome").await;

    // The database goes away: no new connections, existing ones cut.
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    ))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    let payment = paid(2, 2, 70, "p", "charge-down");
    let (status, retry_after) = server.post_with(&payment, Some(SECRET)).await;
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("5"));
    let ready = reqwest::get(format!("http://{}/readyz", server.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health = reqwest::get(format!("http://{}/healthz", server.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // It comes back; Telegram delivers the update again, twice for good measure.
    sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let mut delivered = false;
    for _ in 0..50 {
        if server.post(&payment).await == 200 {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        delivered,
        "the update was never accepted after the database came back"
    );
    assert_eq!(server.post(&payment).await, 200);
    wait_for_text(&fake, "Received 70 ⭐").await;
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "deposited").await, 1);
    assert_eq!(sent_with(&fake, "Received"), 1);
}

#[tokio::test]
async fn a_player_who_floods_gets_one_notice_then_silence() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));
    for i in 1..=20 {
        assert_eq!(server.post(&text(i, i, "/help")).await, 200);
    }
    // A payment is money: never limited.
    assert_eq!(
        server.post(&paid(21, 21, 5, "p", "charge-flood")).await,
        200
    );
    wait_for_text(&fake, "Received 5 ⭐").await;
    wait_for_text(&fake, "You're going fast").await;
    assert!(server.stop().await.success());
    let sent = texts(&fake);
    assert_eq!(
        sent.iter().filter(|t| t.contains("going fast")).count(),
        1,
        "{sent:#?}"
    );
    let helped = sent
        .iter()
        .filter(|t| t.contains("/balance — your Stars"))
        .count();
    assert!((8..20).contains(&helped), "{helped} replies to 20 /help");
}

#[tokio::test]
async fn staff_refund_a_deposit_through_the_outbox_unless_the_balance_does_not_cover_it() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));
    assert_eq!(server.post(&paid(1, 1, 50, "p", "charge-a")).await, 200);
    assert_eq!(server.post(&paid(2, 2, 20, "p", "charge-b")).await, 200);
    wait_for_text(&fake, "Your balance: 70 ⭐").await;
    let run = |args: &[&str]| {
        let out = croupier(&url, args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (code, said) = run(&["payments", "refund", "charge-b"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        fake.wait_for(WAIT, |_| !fake.succeeded("refundStarPayment").is_empty())
            .await
    );
    let call = &fake.succeeded("refundStarPayment")[0];
    assert_eq!(
        (
            call["user_id"].as_u64(),
            call["telegram_payment_charge_id"].as_str()
        ),
        (Some(PLAYER), Some("charge-b"))
    );
    wait_for_text(
        &fake,
        "Your deposit of 20 ⭐ is being refunded to you. Your balance: 50 ⭐",
    )
    .await;
    // Telegram then reports the refund: already in the ledger, nothing changes.
    assert_eq!(server.post(&refunded(3, 3, 20, "p", "charge-b")).await, 200);

    // A stake in play leaves 5 Stars of cash: not enough to give back a 50-Star deposit.
    let bet = format!(
        r#"{{"type":"place_bet","idempotency_key":"open-bet","player":{PLAYER},"bet_id":"open-1","game":"dice","stake":"45","currency":"XTR"}}"#
    );
    assert_eq!(run(&["ledger", "submit", "--json", &bet]).0, Some(0));
    let (code, said) = run(&["payments", "refund", "charge-a"]);
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("insufficient_funds"), "{said}");

    // The same refund asked again is a replay, not a second refund.
    let (code, said) = run(&["payments", "refund", "charge-b"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("already recorded"), "{said}");
    assert_eq!(run(&["payments", "refund", "no-such-charge"]).0, Some(2));
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "deposit_refunded").await, 1);
    assert_eq!(fake.succeeded("refundStarPayment").len(), 1);
    let told: Vec<String> = texts(&fake)
        .into_iter()
        .filter(|t| t.contains("refunded to you"))
        .collect();
    assert_eq!(
        told.len(),
        1,
        "our own refund was announced twice: {told:#?}"
    );
}

#[test]
fn the_demo_plays_through_the_bot_and_its_figures_add_up_run_after_run() {
    let (url, _dir) = sqlite_url();
    for run in 1..=2 {
        let out = croupier(
            &url,
            &["demo", "--players", "12", "--rounds", "4", "--seed", "7"],
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "run {run}: {shown}");
        assert!(shown.contains("100%  84 of 84 updates handled"), "{shown}");
        assert!(shown.contains("the read models equal a replay"), "{shown}");
        let figure = |label: &str| -> i64 {
            shown
                .lines()
                .find_map(|l| l.trim_start().strip_prefix(label))
                .unwrap_or_else(|| panic!("no {label} in {shown}"))
                .trim()
                .parse()
                .unwrap()
        };
        let (deposits, refunds, ggr) = (figure("deposits"), figure("refunds"), figure("GGR"));
        assert_eq!(figure("stakes settled") - figure("payouts"), ggr);
        assert_eq!(figure("liabilities"), deposits - refunds - ggr, "{shown}");
        // One of every ten players takes the deposit back; run 2 adds to run 1.
        assert!(refunds > 0 && deposits > 0, "{shown}");
    }
}

async fn projector_lock_holder(admin: &sqlx::PgPool, database: &str) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1",
    )
    .bind(database)
    .fetch_optional(admin)
    .await
    .unwrap()
}

async fn projected_balance(url: &str) -> Option<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let balance = sqlx::query("SELECT balance FROM proj_balances WHERE player = $1")
        .bind(i64::try_from(PLAYER).unwrap())
        .fetch_optional(&pool)
        .await
        .unwrap()
        .map(|row| row.try_get::<String, _>("balance").unwrap());
    pool.close().await;
    balance
}

async fn eventually<T: PartialEq + std::fmt::Debug, F: std::future::Future<Output = T>>(
    expected: T,
    mut probe: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = probe().await;
        if seen == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {expected:?}, still {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn one_serve_instance_projects_at_a_time_and_another_takes_over_when_it_dies(
    pool: sqlx::PgPool,
) {
    let url = common::database_url(&pool).await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut first = Server::start(&url, &fake, None);
    let deadline = tokio::time::Instant::now() + WAIT;
    let holder = loop {
        if let Some(pid) = projector_lock_holder(&pool, &name).await {
            break pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no instance took the projector lock"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let second = Server::start(&url, &fake, None);
    assert_eq!(second.post(&paid(1, 1, 40, "p", "charge-p1")).await, 200);
    eventually(Some("40".to_owned()), || projected_balance(&url)).await;
    assert_eq!(
        projector_lock_holder(&pool, &name).await,
        Some(holder),
        "the lock moved while its holder lived"
    );

    // The holder dies without a word; its session ends and the other instance takes over.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match projector_lock_holder(&pool, &name).await {
            Some(pid) if pid != holder => break,
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no instance took over the projector"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(second.post(&paid(2, 2, 2, "p", "charge-p2")).await, 200);
    eventually(Some("42".to_owned()), || projected_balance(&url)).await;
}

#[tokio::test]
async fn long_polling_handles_updates_and_confirms_them_only_after() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    fake.push_update(paid(500, 1, 25, "p", "charge-poll"));
    fake.push_update(text(501, 2, "/balance"));
    let mut server = Server::start_with(&url, &fake, Some(dir), &["--polling"]);
    wait_for_text(&fake, "Received 25 ⭐").await;
    wait_for_text(&fake, "Your balance: 25 ⭐.").await;
    // The next getUpdates asks past both: they are confirmed.
    let confirmed = fake
        .wait_for(WAIT, |calls| {
            calls
                .iter()
                .any(|c| c.method == "getUpdates" && c.params["offset"] == 502)
        })
        .await;
    assert!(confirmed, "{:#?}", fake.calls());
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "deposited").await, 1);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM bot_inbox").await, 2);
}

/// Credits `amount` Stars to the test player as the bot would for `charge`.
fn seed_deposit(url: &str, amount: u64, charge: &str) {
    let deposit = format!(
        r#"{{"type":"deposit","idempotency_key":"tg:pay:{charge}:deposit","player":{PLAYER},"amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{charge}"}}"#
    );
    let submitted = croupier(url, &["ledger", "submit", "--json", &deposit]);
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stdout)
    );
}

fn dice_sent(fake: &FakeTelegram) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.method == "sendDice")
        .count()
}

#[tokio::test]
async fn slots_settle_by_the_value_telegram_rolled_and_a_failed_spin_is_voided_not_resent() {
    let (url, dir) = sqlite_url();
    seed_deposit(&url, 100, "charge-slots");
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, Some(dir));

    // 64 is 7️⃣ 7️⃣ 7️⃣: 20x.
    fake.set_dice([64]);
    assert_eq!(server.post(&text(1, 1, "/slots 10")).await, 200);
    let won = wait_for_text(&fake, "You won 200 ⭐").await;
    assert!(won.contains("Balance: 290 ⭐"), "{won}");
    assert_eq!(fake.succeeded("sendDice")[0]["emoji"], "🎰");

    // A 500 may or may not have rolled: the bet is voided and the machine never sent again.
    fake.inject([Fault::ServerError]);
    assert_eq!(server.post(&text(2, 2, "/slots 10")).await, 200);
    let voided = wait_for_text(&fake, "did not spin").await;
    assert!(voided.contains("Balance: 290 ⭐"), "{voided}");

    // 2 is grapes, bar, bar: nothing.
    fake.set_dice([2]);
    assert_eq!(server.post(&text(3, 3, "/slots 10")).await, 200);
    let lost = wait_for_text(&fake, "No luck").await;
    assert!(lost.contains("Balance: 280 ⭐"), "{lost}");

    // The same update again changes nothing.
    assert_eq!(server.post(&text(3, 3, "/slots 10")).await, 200);
    assert!(server.stop().await.success());
    assert_eq!(dice_sent(&fake), 3, "{:#?}", fake.calls());
    assert_eq!(events(&url, "bet_placed").await, 3);
    assert_eq!(events(&url, "bet_settled").await, 2);
    assert_eq!(events(&url, "bet_voided").await, 1);
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM bot_outbox WHERE state = 'void'").await,
        1
    );
    // `outbox retry --all-dead` cannot resend a void spin.
    let retried = croupier(&url, &["outbox", "retry", "--all-dead"]);
    assert!(retried.status.success());
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM bot_outbox WHERE state = 'pending'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_crash_while_a_spin_is_in_flight_voids_its_bet_and_never_spins_again() {
    let (url, dir) = sqlite_url();
    seed_deposit(&url, 50, "charge-spin-crash");
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let flags = ["--spin-orphan-s", "1"];
    let mut first = Server::start_with(&url, &fake, None, &flags);
    // Telegram takes the request and does not answer before the process dies.
    fake.inject([Fault::Timeout(Duration::from_secs(60))]);
    assert_eq!(first.post(&text(1, 1, "/slots 10")).await, 200);
    assert!(
        fake.wait_for(WAIT, |calls| calls.iter().any(|c| c.method == "sendDice"))
            .await
    );
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM bot_outbox WHERE state = 'in_flight'"
        )
        .await,
        1
    );

    let mut second = Server::start_with(&url, &fake, Some(dir), &flags);
    let voided = wait_for_text(&fake, "did not spin").await;
    assert!(voided.contains("stake of 10 ⭐ is back"), "{voided}");
    assert!(voided.contains("Balance: 50 ⭐"), "{voided}");
    assert!(second.stop().await.success());
    assert_eq!(dice_sent(&fake), 1, "{:#?}", fake.calls());
    assert_eq!(events(&url, "bet_voided").await, 1);
    assert_eq!(events(&url, "bet_settled").await, 0);
}

fn press(update_id: i64, data: &str) -> Value {
    json!({ "update_id": update_id, "callback_query": {
        "id": format!("cbq-{update_id}"), "from": user(), "chat_instance": "ci-1", "data": data,
        "message": { "message_id": 1, "date": 1_700_000_000, "chat": chat(), "text": "menu" },
    }})
}

#[tokio::test]
async fn play_resumes_where_it_was_after_a_crash_and_an_idle_session_expires_with_a_notice() {
    let (url, dir) = sqlite_url();
    seed_deposit(&url, 100, "charge-play");
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut first = Server::start(&url, &fake, None);
    assert_eq!(first.post(&text(1, 1, "/play")).await, 200);
    wait_for_text(&fake, "What would you like to play?").await;
    assert_eq!(
        first.post(&press(2, "/play game coinflip:heads")).await,
        200
    );
    wait_for_text(&fake, "Coinflip on heads. How much?").await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // After the restart the flow goes on from where it was: a typed number is the stake.
    let mut second = Server::start_with(&url, &fake, Some(dir), &["--session-timeout-s", "2"]);
    assert_eq!(second.post(&text(3, 3, "10")).await, 200);
    wait_for_text(&fake, "Coinflip on heads for 10 ⭐?").await;
    assert_eq!(second.post(&press(4, "/play go")).await, 200);
    let played = wait_for_text(&fake, "(you chose heads)").await;
    assert!(played.contains("Balance:"), "{played}");
    // The same button again (a redelivery) plays nothing more; a stale one says so.
    assert_eq!(second.post(&press(4, "/play go")).await, 200);
    assert_eq!(second.post(&press(5, "/play go")).await, 200);
    wait_for_text(&fake, "no longer open").await;

    // Left in the middle of /play, the session expires and the player is told.
    assert_eq!(second.post(&text(6, 6, "/play")).await, 200);
    wait_for_text(&fake, "⏱ Your game choice timed out").await;
    assert_eq!(events(&url, "session_expired").await, 1);
    // The next input starts a new session.
    assert_eq!(second.post(&text(7, 7, "/balance")).await, 200);
    wait_for_text(&fake, "Your balance:").await;
    assert!(second.stop().await.success());

    assert_eq!(events(&url, "bet_placed").await, 1);
    assert_eq!(events(&url, "session_started").await, 2);
    assert_eq!(events(&url, "session_bet").await, 1);
    // Idle → choosing a game → a stake → confirming → idle, then /play again.
    assert_eq!(events(&url, "session_moved").await, 5);
    assert_eq!(sent_with(&fake, "(you chose heads)"), 1);
    // The sessions read model: the first session expired mid-flow after one bet of 10.
    let report = croupier(&url, &["report", "sessions", "--format", "json"]);
    assert!(report.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&report.stdout).unwrap();
    let field = |row: &Value, name: &str| row[name].to_string().trim_matches('"').to_owned();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(field(&rows[0], "status"), "expired");
    assert_eq!(field(&rows[0], "state"), "choosing_game");
    assert_eq!(field(&rows[0], "bets"), "1");
    assert_eq!(field(&rows[0], "wagered"), "10");
    assert!(!field(&rows[0], "play_started_at").is_empty());
    assert_eq!(field(&rows[1], "status"), "active");
    assert_eq!(field(&rows[1], "bets"), "0");
    let status = croupier(&url, &["audit", "verify"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

/// Submits ledger commands, one JSON per line, through `croupier ledger submit`.
fn submit_lines(url: &str, lines: &[String]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["ledger", "submit"])
        .env("DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = lines.join("\n") + "\n";
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("\"accepted\"").count(), lines.len(), "{said}");
}

/// A Stars deposit of `amount` under the key the bot derives from the charge.
fn stars_deposit(charge: &str, amount: u32) -> String {
    format!(
        r#"{{"type":"deposit","idempotency_key":"tg:pay:{charge}:deposit","player":{PLAYER},"amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{charge}"}}"#
    )
}

/// `croupier payments reconcile FLAGS` against the fake; (exit code, stdout, stderr).
async fn reconcile(url: &str, api_url: &str, flags: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["payments", "reconcile"])
        .args(flags)
        .env("DATABASE_URL", url)
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", api_url)
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn reconcile_flow(url: &str) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    // More than one page of 100: every charge in both places, one refunded in both.
    let charges: Vec<(String, u32)> = (0..150u32)
        .map(|i| (format!("stars-{i:03}"), 1 + i % 50))
        .collect();
    let mut lines: Vec<String> = charges.iter().map(|(c, a)| stars_deposit(c, *a)).collect();
    lines.push(format!(
        r#"{{"type":"refund_deposit","idempotency_key":"refund-3","player":{PLAYER},"external_ref":"stars-003","forced":false}}"#
    ));
    submit_lines(url, &lines);
    for (charge, amount) in &charges {
        fake.add_star_payment(charge, PLAYER, *amount);
    }
    fake.add_star_refund("stars-003", PLAYER, 4);
    // Paging waits out a 429 as told.
    fake.inject([Fault::TooManyRequests { retry_after: 1 }]);

    let (code, said, _) = reconcile(url, &fake.url(), &[]).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Telegram and the ledger agree"), "{said}");
    assert!(
        said.contains("151 transactions in 2 pages (150 payments, 1 refunds, 0 other)"),
        "{said}"
    );
    let paged: Vec<(Option<u64>, bool)> = fake
        .calls()
        .iter()
        .filter(|c| c.method == "getStarTransactions")
        .map(|c| (c.params["offset"].as_u64(), c.fault.is_some()))
        .collect();
    assert_eq!(
        paged,
        [(Some(0), true), (Some(0), false), (Some(100), false)]
    );

    // Telegram took a payment the ledger lacks; the ledger credited one Telegram does not
    // know; one amount differs; Telegram refunded a payment the ledger still counts.
    fake.add_star_payment("stars-missing", PLAYER, 10);
    fake.add_star_payment("stars-amount", PLAYER, 40);
    fake.add_star_refund("stars-010", PLAYER, 11);
    submit_lines(
        url,
        &[
            stars_deposit("stars-unknown", 30),
            stars_deposit("stars-amount", 45),
        ],
    );
    let (code, said, _) = reconcile(url, &fake.url(), &[]).await;
    assert_eq!(code, Some(5), "{said}");
    for (kind, charge) in [
        ("missing_from_ledger", "stars-missing"),
        ("unknown_to_telegram", "stars-unknown"),
        ("amount_mismatch", "stars-amount"),
        ("refund_mismatch", "stars-010"),
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(kind) && l.contains(charge)),
            "{kind} {charge} not reported: {said}"
        );
    }
    assert!(said.contains("40 XTR") && said.contains("45 XTR"), "{said}");
    assert!(said.contains("4 discrepancies"), "{said}");

    let (code, said, _) = reconcile(url, &fake.url(), &["--json"]).await;
    assert_eq!(code, Some(5), "{said}");
    let report: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["pages"], 2);
    let mut found: Vec<(String, String)> = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["charge_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("amount_mismatch", "stars-amount"),
            ("missing_from_ledger", "stars-missing"),
            ("refund_mismatch", "stars-010"),
            ("unknown_to_telegram", "stars-unknown"),
        ]
        .map(|(k, c)| (k.to_owned(), c.to_owned()))
    );

    // A Bot API that refuses the token is an infrastructure error: exit 1, said plainly,
    // and the token is never shown.
    let other = FakeTelegram::start("999:another-bot").await.unwrap();
    let (code, said, error) = reconcile(url, &other.url(), &[]).await;
    assert_eq!(code, Some(1), "{said}{error}");
    assert!(
        error.contains("getStarTransactions was refused: 401"),
        "{error}"
    );
    assert!(!error.contains(TOKEN) && !said.contains(TOKEN), "{error}");
}

#[tokio::test]
async fn payments_reconcile_pages_telegram_and_names_each_discrepancy_on_sqlite() {
    let (url, _dir) = sqlite_url();
    reconcile_flow(&url).await;
}

#[sqlx::test(migrations = false)]
async fn payments_reconcile_pages_telegram_and_names_each_discrepancy_on_postgres(
    pool: sqlx::PgPool,
) {
    let url = common::database_url(&pool).await;
    reconcile_flow(&url).await;
}

#[test]
fn chat_pays_an_invoice_and_plays_with_the_keyboard_from_piped_input() {
    let (url, _dir) = sqlite_url();
    let script = "/start\n/deposit 100\npay\n/balance\n/coinflip 10 heads\n1\nhelp\n/deposit\n2\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["chat", "--user", "1001"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    // Each reply follows what it answers.
    let after = |input: &str| -> &str {
        let start = said
            .find(&format!("you> {input}\n"))
            .unwrap_or_else(|| panic!("{input} not echoed: {said}"));
        let rest = &said[start + input.len() + 6..];
        &rest[..rest.find("you> ").unwrap_or(rest.len())]
    };
    let start = after("/start");
    assert!(start.contains("bot: Welcome to Croupier!"), "{start}");
    assert!(start.contains("[1] 💰 Balance  [2] ⭐ Deposit"), "{start}");
    assert!(
        after("/deposit 100")
            .contains("invoice \"100 Stars for Croupier\" for 100 ⭐ (type `pay` to pay)"),
        "{said}"
    );
    let paid = after("pay");
    assert!(paid.contains("(pre-checkout accepted)"), "{paid}");
    assert!(
        paid.contains("Received 100 ⭐. Your balance: 100 ⭐."),
        "{paid}"
    );
    assert!(
        after("/balance").contains("bot: Your balance: 100 ⭐."),
        "{said}"
    );
    let played = after("/coinflip 10 heads");
    assert!(played.contains("bot: "), "{played}");
    // 1 presses 💰 Balance on the menu /start showed: 90 after a loss, 109 after a win.
    let pressed = after("1");
    assert!(
        pressed.contains("Your balance: 90 ⭐.") || pressed.contains("Your balance: 109 ⭐."),
        "{said}"
    );
    assert!(after("help").contains("press button N"), "{said}");
    assert!(
        after("/deposit").contains("[1] 50 ⭐  [2] 100 ⭐  [3] 500 ⭐"),
        "{said}"
    );
    assert!(after("2").contains("for 100 ⭐"), "{said}");
}

/// A subscription charge, as Telegram delivers the first payment (`first`) or a renewal.
fn subscription_paid(
    update_id: i64,
    payload: &str,
    charge: &str,
    first: bool,
    until: u64,
) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "successful_payment": {
            "currency": "XTR", "total_amount": 250, "invoice_payload": payload,
            "telegram_payment_charge_id": charge, "provider_payment_charge_id": "",
            "is_recurring": true, "is_first_recurring": first,
            "subscription_expiration_date": until,
        },
    }})
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The house's balance of `account` in Stars, from the `house` read model.
async fn house(url: &str, account: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let balance: Option<String> =
        sqlx::query("SELECT balance FROM proj_house WHERE account = $1 AND currency = 'XTR'")
            .bind(account)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .map(|row| row.try_get(0).unwrap());
    pool.close().await;
    balance.unwrap_or_else(|| "0".to_owned())
}

async fn vip_flow(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    assert_eq!(server.post(&paid(1, 1, 3_000, "p", "charge-v")).await, 200);
    wait_for_text(&fake, "Received 3000 ⭐").await;

    // Not VIP yet: the VIP limit is named.
    assert_eq!(server.post(&text(2, 2, "/coinflip 2000 heads")).await, 200);
    let refused = wait_for_text(&fake, "The largest stake is 1000 ⭐").await;
    assert!(
        refused.contains("VIPs may stake up to 5000 ⭐: /vip"),
        "{refused}"
    );

    // /vip: a 30-day subscription link, then a message that carries it.
    assert_eq!(server.post(&text(3, 3, "/vip")).await, 200);
    let offer = wait_for_text(&fake, "VIP is 250 ⭐ a month").await;
    let link_call = fake.succeeded("createInvoiceLink");
    assert_eq!(link_call.len(), 1);
    let link_call = &link_call[0];
    assert_eq!(link_call["subscription_period"], 2_592_000);
    assert_eq!(link_call["currency"], "XTR");
    assert_eq!(link_call["prices"][0]["amount"], 250);
    let payload = link_call["payload"].as_str().unwrap().to_owned();
    let link = fake
        .calls()
        .into_iter()
        .find(|c| c.method == "createInvoiceLink")
        .and_then(|c| c.result)
        .unwrap();
    let message = fake
        .succeeded("sendMessage")
        .into_iter()
        .find(|m| m["text"] == offer.as_str())
        .unwrap();
    assert_eq!(
        message["reply_markup"]["inline_keyboard"][0][0]["url"], link,
        "the link Telegram made is the one the player gets"
    );

    // The first payment: pre-checkout accepted, then house revenue and VIP.
    assert_eq!(server.post(&pre_checkout(4, 250, &payload)).await, 200);
    assert_eq!(answers(&fake, 1).await[0]["ok"], true);
    let until = unix_now() + 30 * 86_400;
    let first = subscription_paid(5, &payload, "sub-1", true, until);
    assert_eq!(server.post(&first).await, 200);
    let welcome = wait_for_text(&fake, "Welcome to VIP!").await;
    assert!(welcome.contains("stake up to 5000 ⭐"), "{welcome}");
    assert_eq!(server.post(&first).await, 200, "a redelivery");
    let mut again = first.clone();
    again["update_id"] = json!(6);
    assert_eq!(
        server.post(&again).await,
        200,
        "the same charge, another update"
    );

    // Now the higher limit holds, and cash was never touched by the subscription.
    assert_eq!(server.post(&text(7, 7, "/coinflip 2000 heads")).await, 200);
    let played = wait_for_text(&fake, "You ").await;
    assert!(
        played.contains("You won") || played.contains("You lost"),
        "{played}"
    );
    assert_eq!(server.post(&text(8, 8, "/vip")).await, 200);
    wait_for_text(&fake, "You are VIP until").await;
    assert_eq!(server.post(&text(9, 9, "/balance")).await, 200);
    let balance = wait_for_text(&fake, "⭐ VIP until").await;
    assert!(
        balance.contains("1000 ⭐") || balance.contains("4920 ⭐"),
        "3000 deposited, 2000 staked: {balance}"
    );

    // Cancel the renewal: editUserStarSubscription names the charge Telegram renews.
    assert_eq!(server.post(&text(10, 10, "/vip cancel")).await, 200);
    wait_for_text(&fake, "Your VIP will not renew").await;
    let edits = fake.succeeded("editUserStarSubscription");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["user_id"], PLAYER);
    assert_eq!(edits[0]["telegram_payment_charge_id"], "sub-1");
    assert_eq!(edits[0]["is_canceled"], true);

    // A renewal extends VIP; a refund of it (outside the bot) takes the revenue back.
    let renewal = subscription_paid(11, &payload, "sub-2", false, until + 30 * 86_400);
    assert_eq!(server.post(&renewal).await, 200);
    wait_for_text(&fake, "Your VIP is renewed until").await;
    let refund = json!({ "update_id": 12, "message": {
        "message_id": 12, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "refunded_payment": {
            "currency": "XTR", "total_amount": 250, "invoice_payload": payload,
            "telegram_payment_charge_id": "sub-2",
        },
    }});
    assert_eq!(server.post(&refund).await, 200);
    wait_for_text(&fake, "250 ⭐ refunded to you").await;

    assert!(server.stop().await.success());
    assert_eq!(events(url, "subscription_paid").await, 2);
    assert_eq!(events(url, "subscription_refunded").await, 1);
    assert_eq!(events(url, "bet_placed").await, 1);
    let verified = croupier(url, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_eq!(house(url, "house:subscriptions").await, "250");

    // Telegram lists subscription charges among its Stars transactions: they reconcile.
    fake.add_star_payment("charge-v", PLAYER, 3_000);
    fake.add_star_payment("sub-1", PLAYER, 250);
    fake.add_star_payment("sub-2", PLAYER, 250);
    fake.add_star_refund("sub-2", PLAYER, 250);
    let (code, out, err) = reconcile(url, &fake.url(), &[]).await;
    assert_eq!(code, Some(0), "{out}{err}");

    // Staff may refund a subscription charge: revenue goes back, cash is untouched.
    let refunded = croupier(url, &["payments", "refund", "sub-1"]);
    assert!(
        refunded.status.success(),
        "{}",
        String::from_utf8_lossy(&refunded.stdout)
    );
    assert_eq!(events(url, "subscription_refunded").await, 2);
    let verified = croupier(url, &["audit", "verify"]);
    assert!(verified.status.success());
    assert_eq!(house(url, "house:subscriptions").await, "0");
    let report = croupier(url, &["report", "liabilities", "--format", "json"]);
    let liabilities: Value = serde_json::from_slice(&report.stdout).unwrap();
    let cash = liabilities[0]["total"].as_str().unwrap();
    assert!(
        cash == "1000" || cash == "4920",
        "subscriptions are not player cash: {cash}"
    );
}

#[tokio::test]
async fn vip_is_a_subscription_link_whose_charges_are_house_revenue_on_sqlite() {
    let (url, dir) = sqlite_url();
    vip_flow(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn vip_is_a_subscription_link_whose_charges_are_house_revenue_on_postgres(
    pool: sqlx::PgPool,
) {
    let url = common::database_url(&pool).await;
    vip_flow(&url, None).await;
}

/// Deposits in another currency go through the payment provider: the invoice is in minor
/// units, the provider token reaches Telegram but never the outbox table, and the credit
/// is in that currency.
#[tokio::test]
async fn a_deposit_in_dollars_goes_through_the_provider_whose_token_is_never_stored() {
    const PROVIDER_TOKEN: &str = "284685063:TEST:c2VjcmV0LXByb3ZpZGVy";
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start_with(
        &url,
        &fake,
        Some(dir),
        &[
            "--provider-token",
            PROVIDER_TOKEN,
            "--provider-currencies",
            "usd",
        ],
    );
    assert_eq!(server.post(&text(1, 1, "/deposit 5 GBP")).await, 200);
    let refused = wait_for_text(&fake, "I cannot take GBP").await;
    assert!(refused.contains("/deposit 5 USD"), "{refused}");
    assert_eq!(server.post(&text(2, 2, "/deposit 5.505 USD")).await, 200);
    wait_for_text(&fake, "at most 2 decimals").await;

    assert_eq!(server.post(&text(3, 3, "/deposit 5.50 usd")).await, 200);
    assert!(
        fake.wait_for(WAIT, |_| !fake.succeeded("sendInvoice").is_empty())
            .await
    );
    let invoice = fake.succeeded("sendInvoice").pop().unwrap();
    assert_eq!(invoice["currency"], "USD");
    assert_eq!(
        invoice["prices"][0]["amount"], 550,
        "cents, as Telegram counts"
    );
    assert_eq!(invoice["provider_token"], PROVIDER_TOKEN);
    let payload = invoice["payload"].as_str().unwrap().to_owned();

    let query = |update_id: i64, amount: u64| {
        json!({ "update_id": update_id, "pre_checkout_query": {
            "id": format!("pcq-{update_id}"), "from": user(), "currency": "USD",
            "total_amount": amount, "invoice_payload": payload,
        }})
    };
    assert_eq!(server.post(&query(4, 550)).await, 200);
    assert_eq!(server.post(&query(5, 5_500)).await, 200);
    let answered = answers(&fake, 2).await;
    assert_eq!(answered[0]["ok"], true);
    assert_eq!(
        answered[1]["ok"], false,
        "another amount than the invoice's"
    );

    let paid = json!({ "update_id": 6, "message": {
        "message_id": 6, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "successful_payment": {
            "currency": "USD", "total_amount": 550, "invoice_payload": payload,
            "telegram_payment_charge_id": "tg-usd-1", "provider_payment_charge_id": "stripe-1",
        },
    }});
    assert_eq!(server.post(&paid).await, 200);
    assert_eq!(server.post(&paid).await, 200);
    let credited = wait_for_text(&fake, "Received 5.50 USD").await;
    assert!(credited.contains("Your balance: 5.50 USD"), "{credited}");
    assert!(server.stop().await.success());

    assert_eq!(events(&url, "deposited").await, 1);
    let stored = count(
        &url,
        &format!("SELECT COUNT(*) FROM bot_outbox WHERE params LIKE '%{PROVIDER_TOKEN}%'"),
    )
    .await;
    assert_eq!(
        stored, 0,
        "the provider token is never written to the outbox"
    );
    let verified = croupier(&url, &["audit", "verify"]);
    assert!(verified.status.success());
}
