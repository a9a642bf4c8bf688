//! Refunds end to end: one made outside the bot and reported by Telegram (also before
//! its payment, or in another user's chat), and one staff ask for with `croupier payments
//! refund`, sent through the outbox, held until Telegram answers, and confirmed or
//! reversed by that answer.

mod common;

use std::time::Duration;

use simulation::fake::{FakeTelegram, Fault};
use simulation::updates::{self, Payment};

use common::server::{sent_with, texts, wait_for_text, Server, TOKEN, WAIT};
use common::updates::{paid, refunded, PLAYER};
use common::{croupier, events, sqlite_url, Scratch};

/// Waits until the log holds `n` events of `event_type`.
async fn wait_for_events(url: &str, event_type: &str, n: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while events(url, event_type).await != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {n} {event_type} events: {}",
            events(url, event_type).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Someone else than the test player.
const OTHER: u64 = 515_151;

/// Issue 18, item 1: the refund arrives, then its payment, then the refund again. The
/// first refund was refused as an unknown deposit under a key without the player, the
/// payment was credited, and the second refund replayed the refusal: the player kept
/// the money.
async fn refund_before_payment(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    assert_eq!(
        server.post(&refunded(1, 1, 40, "p", "charge-early")).await,
        200
    );
    assert_eq!(server.post(&paid(2, 2, 40, "p", "charge-early")).await, 200);
    let said = wait_for_text(&fake, "arrived after its refund").await;
    assert!(said.contains("Your balance: 0 ⭐"), "{said}");
    assert_eq!(
        server.post(&refunded(3, 3, 40, "p", "charge-early")).await,
        200
    );
    // Another payment is credited as usual, onto a balance without the refunded one.
    assert_eq!(server.post(&paid(4, 4, 25, "p", "charge-kept")).await, 200);
    let said = wait_for_text(&fake, "Received 25 ⭐").await;
    assert!(said.contains("Your balance: 25 ⭐"), "{said}");
    assert!(server.stop().await.success());
    assert_eq!(events(url, "refund_noted").await, 1);
    assert_eq!(events(url, "deposited").await, 2);
    assert_eq!(events(url, "deposit_refunded").await, 1);
    common::assert_audit_passes(url);
}

#[tokio::test]
async fn a_refund_delivered_before_its_payment_is_lost_on_sqlite() {
    let (url, dir) = sqlite_url();
    refund_before_payment(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn a_refund_delivered_before_its_payment_is_lost_on_postgres(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    refund_before_payment(&url, None).await;
}

/// Issue 18, item 1: a refund of the player's charge reported by another user first
/// froze the refund's key (which did not name the user) as refused, so the player's own
/// refund replayed that refusal and was dropped.
async fn refund_by_another_user(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    let charge = Payment::stars(40, "p", "charge-a");
    let theirs = updates::refunded_payment(1, 1, OTHER, &charge);
    assert_eq!(server.post(&theirs).await, 200);
    assert_eq!(server.post(&paid(2, 2, 40, "p", "charge-a")).await, 200);
    wait_for_text(&fake, "Received 40 ⭐").await;
    assert_eq!(server.post(&refunded(3, 3, 40, "p", "charge-a")).await, 200);
    let said = wait_for_text(&fake, "refunded to you").await;
    assert!(said.contains("Your balance: 0 ⭐"), "{said}");
    assert!(server.stop().await.success());
    assert_eq!(events(url, "deposit_refunded").await, 1);
}

#[tokio::test]
async fn a_refund_reported_by_another_user_drops_the_payers_refund_on_sqlite() {
    let (url, dir) = sqlite_url();
    refund_by_another_user(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn a_refund_reported_by_another_user_drops_the_payers_refund_on_postgres(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    refund_by_another_user(&url, None).await;
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
    // Telegram made it: the refund held since the request is confirmed.
    wait_for_events(&url, "refund_confirmed", 1).await;
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
    assert_eq!(events(&url, "refund_requested").await, 1);
    assert_eq!(events(&url, "refund_confirmed").await, 1);
    assert_eq!(events(&url, "deposit_refunded").await, 0);
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

/// Issue 18, item 4: a staff refund debited the player, then queued `refundStarPayment`;
/// when Telegram refused it for good, the call became a dead letter and the player stayed
/// debited with no money sent. The refund is now held until Telegram answers: a refusal
/// reverses it (the money is the player's again, and they are told), and it can be asked
/// again; `CHARGE_ALREADY_REFUNDED` on the Bot API confirms it, as over MTProto.
async fn refused_staff_refund(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    assert_eq!(server.post(&paid(1, 1, 50, "p", "charge-a")).await, 200);
    assert_eq!(server.post(&paid(2, 2, 20, "p", "charge-b")).await, 200);
    wait_for_text(&fake, "Your balance: 70 ⭐").await;
    let run = |args: &[&str]| {
        let out = croupier(url, args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    fake.inject_for(
        "refundStarPayment",
        [Fault::BadRequest("Bad Request: CHARGE_NOT_FOUND")],
    );
    let (code, said) = run(&["payments", "refund", "charge-a"]);
    assert_eq!(code, Some(0), "{said}");
    let said = wait_for_text(&fake, "could not be made").await;
    assert!(said.contains("balance: 70 ⭐"), "{said}");
    wait_for_events(url, "refund_reversed", 1).await;
    assert_eq!(fake.succeeded("refundStarPayment").len(), 0);

    // Reversed, the deposit can be refunded again: a new request, not a replay.
    let (code, said) = run(&["payments", "refund", "charge-a"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(!said.contains("already recorded"), "{said}");
    wait_for_events(url, "refund_confirmed", 1).await;
    assert_eq!(fake.succeeded("refundStarPayment").len(), 1);

    // Telegram says the charge was refunded already: the refund is made, not refused.
    fake.inject_for(
        "refundStarPayment",
        [Fault::BadRequest("Bad Request: CHARGE_ALREADY_REFUNDED")],
    );
    let (code, said) = run(&["payments", "refund", "charge-b"]);
    assert_eq!(code, Some(0), "{said}");
    wait_for_events(url, "refund_confirmed", 2).await;
    assert!(server.stop().await.success());

    assert_eq!(events(url, "refund_requested").await, 3);
    assert_eq!(events(url, "refund_reversed").await, 1);
    assert_eq!(events(url, "deposit_refunded").await, 0);
    assert_eq!(
        common::count(url, "SELECT COUNT(*) FROM bot_outbox WHERE state = 'dead'").await,
        1,
        "only the refused call is a dead letter"
    );
    common::assert_audit_passes(url);
}

#[tokio::test]
async fn a_staff_refund_telegram_refuses_for_good_leaves_the_player_debited_on_sqlite() {
    let (url, dir) = sqlite_url();
    refused_staff_refund(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn a_staff_refund_telegram_refuses_for_good_leaves_the_player_debited_on_postgres(
    pool: sqlx::PgPool,
) {
    let url = common::database_url(&pool).await;
    refused_staff_refund(&url, None).await;
}
