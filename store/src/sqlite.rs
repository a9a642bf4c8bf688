//! The SQLite backend: the embedded default, so a newcomer needs no server.
//!
//! Appends take SQLite's write lock with `BEGIN IMMEDIATE` before reading the head, which
//! serialises writers across processes just as the advisory lock does on PostgreSQL. The
//! database runs in WAL mode with `synchronous=FULL`: a commit is durable when it returns.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, Transaction};
use tokio::sync::watch;

use crate::event::{Append, DepositRef, EventBody, Head, StoredEvent};
use crate::hash::GENESIS;
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
                url: crate::url::redact(url),
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
        let head = sqlx::query(rows::HEAD)
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
        let mut conn = self.pool.acquire().await?;
        read_after(&mut conn, after_position, limit).await
    }

    async fn read_bodies(
        &self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<EventBody>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM ledger_events WHERE position > ?1 ORDER BY position LIMIT ?2",
            rows::BODY_COLUMNS
        ))
        .bind(to_i64(after_position))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::body).collect()
    }

    async fn append_if_head(
        &self,
        expected_head: Option<Head>,
        batch: &Append,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if !append_rows(&mut tx, expected_head, batch).await? {
            return Ok(false);
        }
        tx.commit().await?;
        self.commits.send_modify(|n| *n += 1);
        Ok(true)
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        sqlx::query(rows::HEAD)
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

    async fn rejected_commands(
        &self,
        command_type: &str,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE command_type = ?1 AND outcome = 'rejected' ORDER BY recorded_at"
        ))
        .bind(command_type)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::command).collect()
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
        find_commands(&mut self.tx, keys).await
    }

    async fn stream_versions(
        &mut self,
        streams: &[String],
    ) -> Result<HashMap<String, u64>, StoreError> {
        let mut versions = HashMap::new();
        for chunk in streams.chunks(VARIABLES_MAX) {
            // One indexed max() per stream, in one statement.
            let mut query = QueryBuilder::<Sqlite>::new("WITH s(id) AS (VALUES ");
            let mut list = query.separated(", ");
            for stream in chunk {
                list.push("(")
                    .push_bind_unseparated(stream)
                    .push_unseparated(")");
            }
            query.push(
                ") SELECT id, (SELECT max(version) FROM ledger_events WHERE stream_id = s.id) AS version FROM s",
            );
            for row in query.build().fetch_all(&mut *self.tx).await? {
                if let Some(version) = row.try_get::<Option<i64>, _>("version")? {
                    versions.insert(row.try_get("id")?, to_u64(version));
                }
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

    async fn read_after(
        &mut self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_after(&mut self.tx, after_position, limit).await
    }

    async fn find_deposits(
        &mut self,
        deposits: &[DepositRef],
    ) -> Result<HashSet<DepositRef>, StoreError> {
        find_deposits(&mut self.tx, deposits).await
    }

    async fn insert(&mut self, batch: &Append) -> Result<(), StoreError> {
        if !append_rows(&mut self.tx, self.head, batch).await? {
            return Err(StoreError::head_moved(self.head.map(|h| h.position)));
        }
        self.head = Head::after(self.head, &batch.events);
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.commits.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// SQLite allows 32,766 bound variables per statement; rows carry 10 columns.
const VARIABLES_MAX: usize = 30_000;
const ROWS_MAX: usize = VARIABLES_MAX / 10;

/// Appends if the head is `expected_head` (position and hash), in the caller's
/// transaction (which holds the write lock): `false`, writing nothing, otherwise. A key
/// or payment already recorded fails on its primary key. Mirrors `ledger_append`.
async fn append_rows(
    conn: &mut SqliteConnection,
    expected_head: Option<Head>,
    batch: &Append,
) -> Result<bool, StoreError> {
    let head = sqlx::query(rows::HEAD)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| rows::head(&row))
        .transpose()?;
    // Position and hash: a batch sealed after one that was never written cannot be
    // written either, even if the log reached the same position.
    if head.map(|h| (h.position, h.hash)) != expected_head.map(|h| (h.position, h.hash)) {
        return Ok(false);
    }
    if let Some(first) = batch.events.first() {
        let (position, hash) = head.map_or((0, GENESIS), |h| (h.position, h.hash));
        if first.position != position + 1 || first.prev_hash != hash {
            return Err(StoreError::Corrupt {
                position: first.position,
                problem: format!("the batch does not continue the chain at {position}"),
            });
        }
    }
    for chunk in batch.events.chunks(ROWS_MAX) {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("INSERT INTO ledger_events ({EVENT_COLUMNS}) "));
        query.push_values(chunk, |mut row, e| {
            row.push_bind(to_i64(e.position))
                .push_bind(&e.stream)
                .push_bind(to_i64(e.version))
                .push_bind(&e.event_type)
                .push_bind(i64::from(e.schema_version))
                .push_bind(&e.payload)
                .push_bind(&e.metadata)
                .push_bind(e.recorded_at)
                .push_bind(e.prev_hash.as_slice())
                .push_bind(e.hash.as_slice());
        });
        query.build().execute(&mut *conn).await?;
    }
    let records: Vec<_> = batch.commands.iter().map(CommandRecord::to_row).collect();
    for chunk in records.chunks(ROWS_MAX) {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "INSERT INTO ledger_commands ({COMMAND_COLUMNS}) "
        ));
        query.push_values(chunk, |mut row, r| {
            row.push_bind(&r.idempotency_key)
                .push_bind(&r.stream)
                .push_bind(&r.command_type)
                .push_bind(&r.fingerprint)
                .push_bind(r.outcome)
                .push_bind(r.rejection_code)
                .push_bind(&r.rejection_message)
                .push_bind(&r.events)
                .push_bind(&r.balances)
                .push_bind(r.recorded_at);
        });
        query.build().execute(&mut *conn).await?;
    }
    for chunk in batch.deposits.chunks(ROWS_MAX) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO ledger_deposit_refs (method, external_ref, stream_id, position) ",
        );
        query.push_values(chunk, |mut row, d| {
            row.push_bind(&d.deposit.method)
                .push_bind(&d.deposit.external_ref)
                .push_bind(&d.stream)
                .push_bind(to_i64(d.position));
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(true)
}

async fn find_commands(
    conn: &mut SqliteConnection,
    keys: &[String],
) -> Result<HashMap<String, CommandRecord>, StoreError> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(VARIABLES_MAX) {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE idempotency_key IN ("
        ));
        let mut list = query.separated(", ");
        for key in chunk {
            list.push_bind(key);
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            let record = rows::command(&row)?;
            found.insert(record.idempotency_key.clone(), record);
        }
    }
    Ok(found)
}

async fn find_deposits(
    conn: &mut SqliteConnection,
    deposits: &[DepositRef],
) -> Result<HashSet<DepositRef>, StoreError> {
    let mut found = HashSet::new();
    for deposit in deposits {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM ledger_deposit_refs WHERE method = ?1 AND external_ref = ?2",
        )
        .bind(&deposit.method)
        .bind(&deposit.external_ref)
        .fetch_optional(&mut *conn)
        .await?;
        if exists.is_some() {
            found.insert(deposit.clone());
        }
    }
    Ok(found)
}

async fn read_after(
    conn: &mut SqliteConnection,
    after_position: u64,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE position > ?1 ORDER BY position LIMIT ?2"
    ))
    .bind(to_i64(after_position))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(rows::event).collect()
}

async fn read_stream(
    conn: &mut SqliteConnection,
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
