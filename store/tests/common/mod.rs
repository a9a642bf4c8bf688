//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::future::Future;

use store::{EventStore, PgStore, SqliteStore};

/// What the conformance suite needs of a backend beyond the store trait.
pub trait Backend: EventStore {
    /// Statements that would change history; each must fail.
    fn tampering_statements(&self) -> &'static [&'static str];
    fn execute(&self, sql: &'static str) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// A store on the same database whose connections are closed: every call fails.
    fn closed_copy(&self) -> impl Future<Output = Self> + Send;
    /// A store on the same database as another process would have it: its own pool
    /// (PostgreSQL), so commits reach it only through the database.
    fn other_process(&self) -> impl Future<Output = Self> + Send;
}

impl Backend for PgStore {
    fn tampering_statements(&self) -> &'static [&'static str] {
        &[
            "UPDATE ledger_events SET payload = '\\x00'",
            "DELETE FROM ledger_events",
            // CASCADE: a plain TRUNCATE of a referenced table is refused by the foreign
            // key before any trigger runs, which would prove nothing about the guard.
            "TRUNCATE ledger_events CASCADE",
            "UPDATE ledger_commands SET outcome = 'rejected'",
            "DELETE FROM ledger_commands",
            "TRUNCATE ledger_commands",
            "UPDATE ledger_deposit_refs SET stream_id = 'player-666'",
            "DELETE FROM ledger_deposit_refs",
            "TRUNCATE ledger_deposit_refs",
        ]
    }

    async fn execute(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(self.pool()).await.map(|_| ())
    }

    async fn closed_copy(&self) -> Self {
        let pool = sqlx::PgPool::connect_with((*self.pool().connect_options()).clone())
            .await
            .unwrap();
        pool.close().await;
        PgStore::from_pool(pool)
    }

    async fn other_process(&self) -> Self {
        let options = (*self.pool().connect_options()).clone();
        PgStore::from_pool(sqlx::PgPool::connect_with(options).await.unwrap())
    }
}

impl Backend for SqliteStore {
    fn tampering_statements(&self) -> &'static [&'static str] {
        &[
            "UPDATE ledger_events SET payload = x'00'",
            "DELETE FROM ledger_events",
            "UPDATE ledger_commands SET outcome = 'rejected'",
            "DELETE FROM ledger_commands",
            "UPDATE ledger_deposit_refs SET stream_id = 'player-666'",
            "DELETE FROM ledger_deposit_refs",
        ]
    }

    async fn execute(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(self.pool()).await.map(|_| ())
    }

    async fn closed_copy(&self) -> Self {
        let pool = sqlx::SqlitePool::connect_with((*self.pool().connect_options()).clone())
            .await
            .unwrap();
        pool.close().await;
        SqliteStore::from_pool(pool)
    }

    /// SQLite has no cross-process notification (other processes are found by polling),
    /// so this is the same store: its local commits wake its readers.
    async fn other_process(&self) -> Self {
        self.clone()
    }
}

/// A command line for `player` with the given type, key and extra fields.
pub fn cmd(kind: &str, key: &str, player: i64, fields: &str) -> String {
    format!(r#"{{"type":"{kind}","idempotency_key":"{key}","player":{player},{fields}}}"#)
}

pub fn deposit(key: &str, player: i64, amount: &str, charge: &str) -> String {
    cmd(
        "deposit",
        key,
        player,
        &format!(
            r#""amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{charge}""#
        ),
    )
}

pub fn bet(key: &str, player: i64, bet_id: &str, stake: &str) -> String {
    cmd(
        "place_bet",
        key,
        player,
        &format!(r#""bet_id":"{bet_id}","game":"coinflip","stake":"{stake}","currency":"XTR""#),
    )
}

pub fn settle(key: &str, player: i64, bet_id: &str, payout: &str) -> String {
    cmd(
        "settle_bet",
        key,
        player,
        &format!(r#""bet_id":"{bet_id}","payout":"{payout}""#),
    )
}
