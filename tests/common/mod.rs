//! Helpers shared by the binary's end-to-end tests. Each test binary uses some of them,
//! so what one leaves unused is not dead code.
#![allow(dead_code)]

pub mod server;
pub mod updates;

use std::path::PathBuf;
use std::process::Command;

use sqlx::Row;

/// The URL of the fresh database `#[sqlx::test]` made for this test, for the processes
/// and pools the test starts itself.
pub async fn database_url(pool: &sqlx::PgPool) -> String {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL");
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => panic!("DATABASE_URL has no database path"),
    }
}

/// A directory of its own under the system's temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh one, named after the test binary so that a leftover says where it is from.
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "croupier-{}-{}",
            env!("CARGO_CRATE_NAME"),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The URL of a SQLite database in it.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("ledger.db").display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A SQLite database in a fresh scratch directory, which goes when the `Scratch` is dropped.
pub fn sqlite_url() -> (String, Scratch) {
    let dir = Scratch::new();
    (dir.url(), dir)
}

/// Runs the `croupier` command on the database at `url`.
pub fn croupier(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

/// Runs `croupier audit verify` on the database at `url` and asserts that it passes.
pub fn assert_audit_passes(url: &str) {
    let audit = croupier(url, &["audit", "verify"]);
    assert!(
        audit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
}

/// How many events of `event_type` the log holds.
pub async fn events(url: &str, event_type: &str) -> i64 {
    count(
        url,
        &format!("SELECT COUNT(*) FROM ledger_events WHERE event_type = '{event_type}'"),
    )
    .await
}

/// The number the query `sql` counts.
pub async fn count(url: &str, sql: &str) -> i64 {
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
