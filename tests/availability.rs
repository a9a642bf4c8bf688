//! Crashes and availability of `croupier serve`: no input may panic it, a task that dies
//! stops it with a failure (so that a supervisor restarts it), its listener cuts off slow
//! and idle clients, bounds its connections and stops within a deadline, and an outbound
//! call that hangs is cut off before its lease ends.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use simulation::fake::{FakeTelegram, Fault};
use simulation::updates;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::server::{sent_with, wait_for_text, Server, SECRET, TOKEN, WAIT};
use common::updates::{paid, text, PLAYER};
use common::{events, sqlite_url};

/// Waits for the server to exit on its own, at most `within`.
async fn exit_within(server: &mut Server, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- 6: long or odd ids; supervised tasks ----

async fn a_payment_with_a_long_charge_id_is_credited(url: &str, dir: Option<common::Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    // 186 characters made the deposit's key one too long; 256 is the longest a charge
    // id may be.
    let long = "c".repeat(186);
    let longest = "d".repeat(256);
    assert_eq!(server.post(&paid(1, 1, 30, "p", &long)).await, 200);
    wait_for_text(&fake, "Received 30 ⭐").await;
    assert_eq!(server.post(&paid(2, 2, 12, "p", &longest)).await, 200);
    wait_for_text(&fake, "Received 12 ⭐. Your balance: 42 ⭐").await;
    // Delivered again: the same keys, credited once.
    assert_eq!(server.post(&paid(3, 3, 30, "p", &long)).await, 200);
    assert!(server.stop().await.success());
    assert_eq!(events(url, "deposited").await, 2);
    assert_eq!(sent_with(&fake, "Received"), 2);
}

#[sqlx::test(migrations = false)]
async fn a_payment_with_a_long_charge_id_is_credited_on_postgres(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    a_payment_with_a_long_charge_id_is_credited(&url, None).await;
}

#[tokio::test]
async fn a_payment_with_a_long_charge_id_is_credited_on_sqlite() {
    let (url, dir) = sqlite_url();
    a_payment_with_a_long_charge_id_is_credited(&url, Some(dir)).await;
}

/// A button press whose query id holds a space and is 200 characters long, over long
/// polling: the polling task used to die on it while `/healthz` said 200.
#[tokio::test]
async fn an_odd_callback_id_is_answered_and_polling_goes_on() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let odd = format!("odd id {}", "x".repeat(193));
    let mut press = updates::callback(2, 1, PLAYER, "/coinflip 1 heads");
    press["callback_query"]["id"] = json!(odd);
    fake.push_update(paid(1, 1, 10, "p", "charge-odd"));
    fake.push_update(press);
    fake.push_update(text(3, 3, "/balance"));
    let mut server = Server::start_with(&url, &fake, Some(dir), &["--polling"]);
    wait_for_text(&fake, "(you chose heads)").await;
    let answered = fake
        .wait_for(WAIT, |_| {
            fake.succeeded("answerCallbackQuery")
                .iter()
                .any(|p| p["callback_query_id"] == json!(odd))
        })
        .await;
    assert!(answered, "{:#?}", fake.calls());
    wait_for_text(&fake, "Your balance:").await;
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "bet_placed").await, 1);
}

#[tokio::test]
async fn a_serve_whose_task_dies_exits_non_zero() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start_env(
        &url,
        &fake,
        Some(dir),
        &[],
        &[("CROUPIER_FAILPOINT", "dispatcher_panics")],
    );
    let status = exit_within(&mut server, WAIT).await;
    let status = status.expect("serve went on without its dispatcher");
    assert!(!status.success(), "{status}");
}

// ---- 7: a writer panic ----

/// The ledger writer panics on its first batch: the instance used to answer 503 forever
/// with `/readyz` at 200.
#[tokio::test]
async fn a_writer_panic_stops_serve_instead_of_leaving_a_zombie() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start_env(
        &url,
        &fake,
        Some(dir),
        &[],
        &[("CROUPIER_FAILPOINT", "writer_panics")],
    );
    let status = reqwest::Client::new()
        .post(format!("http://{}/telegram/webhook", server.address))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body(paid(1, 1, 5, "p", "charge-zombie").to_string())
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_ne!(status.ok(), Some(200));
    let status = exit_within(&mut server, WAIT).await;
    let status = status.expect("serve went on without its ledger writer");
    assert!(!status.success(), "{status}");
    assert_eq!(events(&url, "deposited").await, 0);
}

// ---- 8: the listener's timeouts, connection bound and shutdown deadline ----

/// Reads until the server closes the connection (or `within` passes: `None`); what it
/// sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&seen).into_owned())
}

fn request_head(address: &str, content_length: usize) -> String {
    format!(
        "POST /telegram/webhook HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\nx-telegram-bot-api-secret-token: {SECRET}\r\ncontent-length: {content_length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_slow_loris_header_and_a_trickling_body_are_cut_off() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let flags = ["--header-timeout-s", "1", "--body-timeout-s", "1"];
    let mut server = Server::start_with(&url, &fake, Some(dir), &flags);

    // Headers, a byte at a time, never finished.
    let mut loris = TcpStream::connect(&server.address).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for byte in
            b"POST /telegram/webhook HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if loris.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    trickle.await;
    let closed = read_until_closed(&mut loris, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a slow header was never cut off");
    assert!(started.elapsed() < Duration::from_secs(12));

    // A body, a byte every 200 ms, of 100 announced.
    let update = text(1, 1, "/start").to_string();
    let mut slow = TcpStream::connect(&server.address).await.unwrap();
    slow.write_all(request_head(&server.address, update.len()).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    for byte in update.as_bytes().iter().take(20) {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("a trickling body was never cut off");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // The server is fine, and recorded nothing of either.
    assert_eq!(server.post(&text(2, 2, "/start")).await, 200);
    wait_for_text(&fake, "Welcome").await;
    assert!(server.stop().await.success());
    assert_eq!(
        common::count(&url, "SELECT COUNT(*) FROM bot_inbox").await,
        1
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_and_an_update_gets_through_once_others_close() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let flags = ["--connections-max", "4", "--header-timeout-s", "60"];
    let mut server = Server::start_with(&url, &fake, Some(dir), &flags);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&server.address).await.unwrap();
        // A request begun, so each is a connection the server is serving.
        stream
            .write_all(b"POST /telegram/webhook HTTP/1.1\r\n")
            .await
            .unwrap();
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let post = || {
        client
            .post(format!("http://{}/telegram/webhook", server.address))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .body(text(1, 1, "/start").to_string())
            .send()
    };
    assert!(post().await.is_err(), "a fifth connection was served");
    assert_eq!(
        common::count(&url, "SELECT COUNT(*) FROM bot_inbox").await,
        0
    );
    drop(idle);
    let mut delivered = false;
    for _ in 0..20 {
        if post().await.is_ok_and(|r| r.status() == 200) {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "the update never got through");
    wait_for_text(&fake, "Welcome").await;
    assert!(server.stop().await.success());
}

#[tokio::test]
async fn sigterm_with_a_half_sent_request_exits_within_the_deadline() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let flags = [
        "--shutdown-timeout-s",
        "2",
        "--header-timeout-s",
        "60",
        "--body-timeout-s",
        "60",
    ];
    let mut server = Server::start_with(&url, &fake, Some(dir), &flags);
    let update = text(1, 1, "/start").to_string();
    let mut half = TcpStream::connect(&server.address).await.unwrap();
    half.write_all(request_head(&server.address, update.len()).as_bytes())
        .await
        .unwrap();
    half.write_all(&update.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().to_string();
    let started = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = exit_within(&mut server, Duration::from_secs(15)).await;
    let status = status.expect("serve waited for the half-sent request");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(status.success(), "{status}");
    assert_eq!(
        common::count(&url, "SELECT COUNT(*) FROM bot_inbox").await,
        0
    );
}

// ---- 9: outbound calls within the lease ----

/// The Bot API hangs on the first call: it is cut off before the lease (2 s) ends and
/// sent again, once.
#[tokio::test]
async fn a_hung_bot_api_call_is_cut_off_within_its_lease_and_retried() {
    let (url, dir) = sqlite_url();
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    fake.inject([Fault::Timeout(Duration::from_secs(120))]);
    let mut server = Server::start_with(&url, &fake, Some(dir), &["--outbox-lease-s", "2"]);
    let started = Instant::now();
    assert_eq!(server.post(&text(1, 1, "/start")).await, 200);
    let sent = fake
        .wait_for(Duration::from_secs(10), |_| {
            !fake.succeeded("sendMessage").is_empty()
        })
        .await;
    assert!(
        sent,
        "the reply waited on the hung call: {:#?}",
        fake.calls()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let tries: Vec<Value> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendMessage")
        .map(|c| c.params)
        .collect();
    assert_eq!(tries.len(), 2, "{tries:#?}");
    assert!(server.stop().await.success());
    assert_eq!(sent_with(&fake, "Welcome"), 1);
}
