//! Deposits end to end: the invoice, the pre-checkout and the payment through a real
//! `croupier serve` and the fake Bot API, on both backends; the same payment delivered
//! twice, or again after a crash; a deposit in another currency through the provider.

mod common;

use serde_json::json;
use simulation::fake::FakeTelegram;
use simulation::updates::{self, Payment};

use common::server::{answers, texts, wait_for_text, Server, TOKEN, WAIT};
use common::updates::{paid, pre_checkout, text, PLAYER};
use common::{count, croupier, events, sqlite_url, Scratch};

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
    // One inbox row per input: the same charge in another update is the same input.
    assert_eq!(count(&url, "SELECT COUNT(*) FROM bot_inbox").await, 3);
}

/// Issue 18, item 2: the inbox de-duplicated by update id, forever, and Telegram reuses
/// update ids: a payment arriving under an id used before was acknowledged and never
/// credited.
async fn reused_update_id(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    assert_eq!(server.post(&text(9, 9, "/balance")).await, 200);
    wait_for_text(&fake, "Your balance").await;
    // The same update id, now carrying a payment.
    assert_eq!(
        server.post(&paid(9, 10, 30, "p", "charge-reused")).await,
        200
    );
    let said = wait_for_text(&fake, "Received 30 ⭐").await;
    assert!(said.contains("Your balance: 30 ⭐"), "{said}");
    // The payment delivered again under its own id is still a duplicate.
    assert_eq!(
        server.post(&paid(9, 10, 30, "p", "charge-reused")).await,
        200
    );
    assert!(server.stop().await.success());
    assert_eq!(events(url, "deposited").await, 1);
    assert_eq!(count(url, "SELECT COUNT(*) FROM bot_inbox").await, 2);
    assert_eq!(
        count(url, "SELECT COUNT(*) FROM bot_inbox WHERE update_id = 9").await,
        2
    );
}

#[tokio::test]
async fn a_reused_update_id_drops_a_payment_on_sqlite() {
    let (url, dir) = sqlite_url();
    reused_update_id(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn a_reused_update_id_drops_a_payment_on_postgres(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    reused_update_id(&url, None).await;
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
        updates::pre_checkout(update_id, PLAYER, "USD", amount, &payload)
    };
    assert_eq!(server.post(&query(4, 550)).await, 200);
    assert_eq!(server.post(&query(5, 5_500)).await, 200);
    let answered = answers(&fake, 2).await;
    assert_eq!(answered[0]["ok"], true);
    assert_eq!(
        answered[1]["ok"], false,
        "another amount than the invoice's"
    );

    let paid = updates::successful_payment(
        6,
        6,
        PLAYER,
        &Payment {
            provider_payment_charge_id: "stripe-1",
            ..Payment::new("USD", 550, &payload, "tg-usd-1")
        },
    );
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
    common::assert_audit_passes(&url);
}

/// Issue 18, item 3: a payment whose update frankenstein could not parse (an unknown
/// `chat.type`, a non-boolean `is_recurring`, a string `date`) was acknowledged and
/// dropped, and one whose `total_amount` no amount rule allows vanished without a trace.
async fn odd_payments(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    let mut odd_chat = paid(1, 1, 10, "p", "charge-odd-chat");
    odd_chat["message"]["chat"]["type"] = json!("direct_messages_topic");
    let mut odd_flag = paid(2, 2, 11, "p", "charge-odd-flag");
    odd_flag["message"]["successful_payment"]["is_recurring"] = json!("no");
    let mut odd_date = paid(3, 3, 12, "p", "charge-odd-date");
    odd_date["message"]["date"] = json!("yesterday");
    for update in [&odd_chat, &odd_flag, &odd_date] {
        assert_eq!(server.post(update).await, 200, "{update}");
    }
    wait_for_text(&fake, "Your balance: 33 ⭐").await;
    // An amount the ledger cannot hold is an update that cannot be read: kept, with its
    // reason, and acknowledged once kept.
    let mut huge = paid(4, 4, 1, "p", "charge-huge");
    huge["message"]["successful_payment"]["total_amount"] = json!(4_294_967_296_u64);
    assert_eq!(server.post(&huge).await, 200);
    assert!(server.stop().await.success());
    assert_eq!(events(url, "deposited").await, 3);
    let listed = croupier(url, &["inbox", "dead"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{out}");
    assert!(out.contains("1 dead letter"), "{out}");
    assert!(
        out.contains("4294967296") && out.contains("charge-huge"),
        "the reason and the body: {out}"
    );
}

#[tokio::test]
async fn a_payment_that_fails_to_parse_is_acknowledged_and_dropped_on_sqlite() {
    let (url, dir) = sqlite_url();
    odd_payments(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn a_payment_that_fails_to_parse_is_acknowledged_and_dropped_on_postgres(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    odd_payments(&url, None).await;
}
