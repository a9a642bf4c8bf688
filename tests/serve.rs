//! The `croupier serve` process: what its webhook refuses, PostgreSQL going away mid-run,
//! a flooding player, long polling, and two instances on one database where one projects
//! at a time.

mod common;

use std::time::Duration;

use serde_json::json;
use simulation::fake::FakeTelegram;
use sqlx::Row;

use common::server::{sent_with, texts, wait_for_text, Server, SECRET, TOKEN, WAIT};
use common::updates::{paid, text, PLAYER};
use common::{count, events, sqlite_url};

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

/// The test database `name` goes away: no new connections, existing ones cut.
async fn cut(admin: &sqlx::PgPool, name: &str) {
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    ))
    .execute(admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(admin)
        .await
        .unwrap();
}

/// The test database `name` takes connections again.
async fn restore(admin: &sqlx::PgPool, name: &str) {
    sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .execute(admin)
        .await
        .unwrap();
}

/// The test database's name and a connection to the server's admin database.
async fn outage_handles(pool: &sqlx::PgPool) -> (String, sqlx::PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let admin = sqlx::PgPool::connect(&std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();
    (name, admin)
}

/// Issue 18's fault drill: payments from twelve players posted at once, the database cut
/// while they are in flight. Each is answered 200 (recorded) or 503 (not), never dropped;
/// once it is back, Telegram delivers every one again (those answered 200 too) and each
/// payment is credited and acknowledged exactly once.
#[sqlx::test(migrations = false)]
async fn a_burst_cut_by_a_database_outage_lands_once_when_redelivered(pool: sqlx::PgPool) {
    use simulation::updates::{successful_payment, Payment};
    let url = common::database_url(&pool).await;
    let (name, admin) = outage_handles(&pool).await;
    pool.close().await;
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let server = Server::start(&url, &fake, None);
    let payments: Vec<_> = (0..12u64)
        .map(|i| {
            let charge = format!("burst-{i}");
            let payment = Payment::stars(10, "p", &charge);
            let id = i64::try_from(100 + i).unwrap();
            successful_payment(id, id, 9_000 + i, &payment)
        })
        .collect();
    // Half of them in flight as the database goes; the other half after it is gone.
    let (during, after) = payments.split_at(6);
    let burst = futures_util::future::join_all(during.iter().map(|p| server.post(p)));
    let outage = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        cut(&admin, &name).await;
    };
    let (statuses, ()) = tokio::join!(burst, outage);
    for status in &statuses {
        assert!(status.as_u16() == 200 || status.as_u16() == 503, "{status}");
    }
    let statuses = futures_util::future::join_all(after.iter().map(|p| server.post(p))).await;
    assert!(statuses.iter().all(|s| s.as_u16() == 503), "{statuses:?}");
    restore(&admin, &name).await;
    for payment in &payments {
        let mut accepted = false;
        for _ in 0..50 {
            if server.post(payment).await == 200 {
                accepted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(accepted, "never accepted after the outage: {payment}");
    }
    assert!(
        fake.wait_for(WAIT, |_| sent_with(&fake, "Received 10 ⭐") >= 12)
            .await,
        "{:#?}",
        texts(&fake)
    );
    let mut server = server;
    assert!(server.stop().await.success());
    assert_eq!(events(&url, "deposited").await, 12);
    assert_eq!(sent_with(&fake, "Received 10 ⭐"), 12);
}

/// `ledger submit` while the database is away exits 1 (infrastructure) with a message and
/// records nothing; the same command submitted again once it is back is recorded once,
/// and a third submission replays it.
#[sqlx::test(migrations = false)]
async fn ledger_submit_with_the_database_down_exits_1_and_the_retry_lands_once(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    let (name, admin) = outage_handles(&pool).await;
    pool.close().await;
    assert!(common::croupier(&url, &["migrate"]).status.success());
    let deposit = r#"{"type":"deposit","idempotency_key":"outage-1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"outage-c1"}"#;
    let submit = || common::croupier(&url, &["ledger", "submit", "--json", deposit]);
    cut(&admin, &name).await;
    let down = submit();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(!down.stderr.is_empty(), "no message on stderr");
    restore(&admin, &name).await;
    let first = submit();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let again = submit();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("\"replayed\":true"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(events(&url, "deposited").await, 1);
}

#[sqlx::test(migrations = false)]
async fn with_the_database_down_updates_get_503_and_nothing_is_lost_or_doubled(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    let (name, admin) = outage_handles(&pool).await;
    pool.close().await;
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(&url, &fake, None);
    assert_eq!(server.post(&text(1, 1, "/start")).await, 200);
    wait_for_text(&fake, "Welcome").await;

    // The database goes away: no new connections, existing ones cut.
    cut(&admin, &name).await;
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
    restore(&admin, &name).await;
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
    // No input comes back to the bucket while the test runs, however slow the machine
    // (with the default of one a second, a loaded machine refilled it between posts and
    // the player was told twice).
    let mut server = Server::start_with(&url, &fake, Some(dir), &["--inbound-refill-s", "3600"]);
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
