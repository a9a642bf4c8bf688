//! The games end to end: coinflip and dice recomputed from the revealed seed, slots settled
//! by the value Telegram rolled (and voided, never sent again, when the spin is in doubt),
//! and the `/play` session resumed after a crash and expired when left idle.

mod common;

use std::time::Duration;

use serde_json::Value;
use simulation::fake::{FakeTelegram, Fault};
use simulation::updates;

use common::server::{sent_with, wait_for_text, Server, TOKEN, WAIT};
use common::updates::{paid, text, PLAYER};
use common::{count, croupier, events, sqlite_url};

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

/// A press on a button carrying `data` under the bot's first message.
fn press(update_id: i64, data: &str) -> Value {
    updates::callback(update_id, 1, PLAYER, data)
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
    // The same button again (a redelivery) plays nothing more; another press of it (a
    // double tap, a stale button) is answered with what the round did.
    assert_eq!(second.post(&press(4, "/play go")).await, 200);
    assert_eq!(second.post(&press(5, "/play go")).await, 200);
    let again = wait_for_text(
        &fake,
        "Already played: 🪙 Coinflip on heads for 10 ⭐, and you",
    )
    .await;
    let won = played.contains("You won");
    assert_eq!(again.contains("you won"), won, "{again} after {played}");

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
