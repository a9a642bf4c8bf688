//! Crash drills: `croupier serve` aborts (as `kill -9` would) at a named point on the
//! way from an update to a sent reply (the `failpoints` feature, on in the test suite's
//! build; `bot_adapter::failpoint`), is restarted, and Telegram does what it does: it
//! delivers again what was not acknowledged. Nothing may be lost or counted twice. A
//! reply Telegram accepted just before the crash is sent again once its lease ends: the
//! Bot API has no idempotent send, so delivery is at least once, and exactly twice here.
//! Both backends.

mod common;

use std::time::{Duration, Instant};

use common::server::{sent_with, wait_for_text, Server, SECRET, TOKEN};
use common::updates::{text, PLAYER};
use common::{croupier, events, Scratch};
use simulation::fake::FakeTelegram;

async fn drill(url: &str, dir: Option<Scratch>, point: &str) {
    let deposit = format!(
        r#"{{"type":"deposit","idempotency_key":"seed","player":{PLAYER},"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"charge-drill"}}"#
    );
    assert!(croupier(url, &["ledger", "submit", "--json", &deposit])
        .status
        .success());
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let update = text(1, 1, "/coinflip 1 heads");
    // A short lease: a call the dead process had claimed is free again a second later.
    let lease = ["--outbox-lease-s", "1"];
    let mut first = Server::start_env(url, &fake, None, &lease, &[("CROUPIER_FAILPOINT", point)]);
    let posted = reqwest::Client::new()
        .post(format!("http://{}/telegram/webhook", first.address))
        .header("content-type", "application/json")
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body(update.to_string())
        .send()
        .await;
    let acknowledged = posted.is_ok_and(|r| r.status() == 200);
    // The drill's point is reached: the process is gone, not stopped.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{point} was never reached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success(), "{point}: {status}");
    assert_eq!(
        acknowledged,
        point == "after_send",
        "{point}: acknowledged only once the update was durable"
    );

    let mut second = Server::start_with(url, &fake, dir, &lease);
    if !acknowledged {
        assert_eq!(second.post(&update).await, 200, "{point}: the redelivery");
    }
    wait_for_text(&fake, "(you chose heads)").await;
    let sends = if point == "after_send" { 2 } else { 1 };
    // Past the lease (1 s), so a call left claimed by the dead process has gone out again.
    let settle = Instant::now() + Duration::from_secs(3);
    while sent_with(&fake, "(you chose heads)") < sends && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sent_with(&fake, "(you chose heads)"), sends, "{point}");
    assert!(second.stop().await.success());
    assert_eq!(events(url, "bet_placed").await, 1, "{point}");
    assert_eq!(events(url, "bet_settled").await, 1, "{point}");
    assert_eq!(events(url, "session_bet").await, 1, "{point}");
    let audit = croupier(url, &["audit", "verify"]);
    assert!(audit.status.success(), "{point}: {audit:?}");
}

macro_rules! drills {
    ($($name:ident: $point:literal),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrations = "./migrations/postgres")]
                async fn $name(pool: sqlx::PgPool) {
                    let url = crate::common::database_url(&pool).await;
                    super::drill(&url, None, $point).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = crate::Scratch::new();
                    let url = dir.url();
                    super::drill(&url, Some(dir), $point).await;
                }
            )*
        }
    };
}

drills!(
    killed_after_the_ledger_commit_before_the_outbox_write: "after_commit",
    killed_after_the_outbox_write_before_the_ack: "before_ack",
    killed_after_a_send_before_it_is_marked_sent: "after_send",
);
