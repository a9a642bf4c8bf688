//! The outbox end to end: replies wait out 429s and 5xx and still go out once; a call
//! Telegram refuses becomes a dead letter that `croupier outbox retry` queues again.

mod common;

use simulation::fake::{FakeTelegram, Fault};

use common::server::{Server, TOKEN, WAIT};
use common::updates::text;
use common::{count, croupier, sqlite_url};

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
