//! The SQLite backend: the embedded default, so a newcomer needs no server.
//!
//! Appends take SQLite's write lock with `BEGIN IMMEDIATE` before reading the head, which
//! serialises writers across processes just as the advisory lock does on PostgreSQL. The
//! database runs in WAL mode with `synchronous=FULL`: a commit is durable when it returns.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::watch;

use crate::event::{Head, StoredEvent};
use crate::record::CommandRecord;
use crate::rows::{self, to_i64, to_u64};
use crate::{EventStore, StoreError, WriteTx};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

const EVENT_COLUMNS: &str = "position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at, prev_hash, hash";
const COMMAND_COLUMNS: &str = "idempotency_key, stream_id, command_type, fingerprint, outcome, rejection_code, rejection_message, events, balances, recorded_at";

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    commits: Arc<watch::Sender<u64>>,
}

impl SqliteStore {
    /// Opens `url` (`sqlite://path`), creating the file when missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Url {
                url: redact(url),
                problem: e.to_string(),
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            commits: Arc::new(watch::channel(0).0),
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl EventStore for SqliteStore {
    type Writer = SqliteWriter;

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<SqliteWriter, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let head = sqlx::query(
            "SELECT position, hash, recorded_at FROM ledger_events ORDER BY position DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| rows::head(&row))
        .transpose()?;
        Ok(SqliteWriter {
            tx,
            head,
            commits: self.commits.clone(),
        })
    }

    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_stream(&mut conn, stream, after_version).await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE position > ?1 ORDER BY position LIMIT ?2"
        ))
        .bind(to_i64(after_position))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        sqlx::query(
            "SELECT position, hash, recorded_at FROM ledger_events ORDER BY position DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|row| rows::head(&row))
        .transpose()
    }

    async fn find_command(&self, key: &str) -> Result<Option<CommandRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE idempotency_key = ?1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| rows::command(&r)).transpose()
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }
}

/// A write transaction holding SQLite's write lock.
pub struct SqliteWriter {
    tx: Transaction<'static, Sqlite>,
    head: Option<Head>,
    commits: Arc<watch::Sender<u64>>,
}

impl WriteTx for SqliteWriter {
    fn head(&self) -> Option<Head> {
        self.head
    }

    async fn find_commands(
        &mut self,
        keys: &[String],
    ) -> Result<HashMap<String, CommandRecord>, StoreError> {
        let mut found = HashMap::new();
        for key in keys {
            let row = sqlx::query(&format!(
                "SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE idempotency_key = ?1"
            ))
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
            if let Some(row) = row {
                found.insert(key.clone(), rows::command(&row)?);
            }
        }
        Ok(found)
    }

    async fn stream_versions(
        &mut self,
        streams: &[String],
    ) -> Result<HashMap<String, u64>, StoreError> {
        let mut versions = HashMap::new();
        for stream in streams {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT max(version) FROM ledger_events WHERE stream_id = ?1")
                    .bind(stream)
                    .fetch_one(&mut *self.tx)
                    .await?;
            if let Some(version) = version {
                versions.insert(stream.clone(), to_u64(version));
            }
        }
        Ok(versions)
    }

    async fn read_stream(
        &mut self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_stream(&mut self.tx, stream, after_version).await
    }

    async fn insert(
        &mut self,
        events: &[StoredEvent],
        commands: &[CommandRecord],
    ) -> Result<(), StoreError> {
        let insert_event = format!(
            "INSERT INTO ledger_events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        );
        for e in events {
            sqlx::query(&insert_event)
                .bind(to_i64(e.position))
                .bind(&e.stream)
                .bind(to_i64(e.version))
                .bind(&e.event_type)
                .bind(i32::from(e.schema_version))
                .bind(&e.payload)
                .bind(&e.metadata)
                .bind(e.recorded_at)
                .bind(e.prev_hash.as_slice())
                .bind(e.hash.as_slice())
                .execute(&mut *self.tx)
                .await?;
        }
        let insert_command = format!(
            "INSERT INTO ledger_commands ({COMMAND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        );
        for record in commands {
            let r = record.to_row();
            sqlx::query(&insert_command)
                .bind(&r.idempotency_key)
                .bind(&r.stream)
                .bind(&r.command_type)
                .bind(&r.fingerprint)
                .bind(r.outcome)
                .bind(&r.rejection_code)
                .bind(&r.rejection_message)
                .bind(&r.events)
                .bind(&r.balances)
                .bind(r.recorded_at)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.commits.send_modify(|n| *n += 1);
        Ok(())
    }
}

async fn read_stream(
    conn: &mut sqlx::SqliteConnection,
    stream: &str,
    after_version: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE stream_id = ?1 AND version > ?2 ORDER BY version"
    ))
    .bind(stream)
    .bind(to_i64(after_version))
    .fetch_all(conn)
    .await?;
    rows.iter().map(rows::event).collect()
}

/// A database URL with its password hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
