//! The PostgreSQL backend: the production store.
//!
//! Appends are serialised by one transaction-scoped advisory lock, taken before the head
//! of the log is read. A transaction therefore gives out positions only after every
//! earlier one is committed and visible, so commit order equals position order and a
//! tailing reader can never skip an event that commits late. The lock also makes the
//! hash chain linear. Group commit keeps that lock's cost to one round per batch.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Row, Transaction};
use tokio::sync::watch;

use crate::event::{Append, DepositRef, EventBody, Head, StoredEvent};
use crate::record::CommandRecord;
use crate::rows::{self, to_i64, to_u64};
use crate::{EventStore, StoreError, WriteTx};

/// The channel tailing readers listen on; notifications carry no payload.
pub const CHANNEL: &str = "croupier_events";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

const EVENT_COLUMNS: &str = "position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at, prev_hash, hash";
const COMMAND_COLUMNS: &str = "idempotency_key, stream_id, command_type, fingerprint, outcome, rejection_code, rejection_message, events, balances, recorded_at";

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    commits: Arc<Commits>,
}

/// Wakes local readers after local commits and, once a reader asks, after every
/// NOTIFY from any process.
struct Commits {
    sender: watch::Sender<u64>,
    listening: OnceLock<()>,
}

impl PgStore {
    /// Connects to `url` (`postgres://...`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Url {
            url: crate::url::redact(url),
            problem: e.to_string(),
        })?;
        Self::connect_with(options).await
    }

    /// Connects with `options`, asking for READ COMMITTED whatever the server's default:
    /// the fast path's one-statement append needs it (`ledger_append` checks). The server
    /// reads startup options split at spaces, hence the backslash.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let options = options.options([("default_transaction_isolation", r"read\ committed")]);
        // One plain connection first, so that an unreachable server is reported as such
        // rather than as a pool that timed out.
        sqlx::PgConnection::connect_with(&options)
            .await?
            .close()
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            commits: Arc::new(Commits {
                sender: watch::channel(0).0,
                listening: OnceLock::new(),
            }),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts the LISTEN task the first time a reader waits. It reconnects on its own.
    fn listen(&self) {
        self.commits.listening.get_or_init(|| {
            let pool = self.pool.clone();
            let commits = Arc::downgrade(&self.commits);
            tokio::spawn(async move {
                loop {
                    let mut listener = match PgListener::connect_with(&pool).await {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot listen for commits; polling meanwhile");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    if let Err(e) = listener.listen(CHANNEL).await {
                        tracing::warn!(error = %e, "cannot listen for commits; polling meanwhile");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    loop {
                        let received = listener.recv().await;
                        let Some(commits) = commits.upgrade() else { return };
                        // Wake readers on errors too: they may have missed something.
                        commits.sender.send_modify(|n| *n += 1);
                        if let Err(e) = received {
                            tracing::warn!(error = %e, "commit listener lost its connection");
                            break;
                        }
                    }
                }
            });
        });
    }
}

impl EventStore for PgStore {
    type Writer = PgWriter;

    async fn migrate(&self) -> Result<(), StoreError> {
        // Running the migrator always needs CREATE on the schema (it creates its own
        // table if missing), which the application role should not hold: when every
        // migration is applied already, with the same checksum, there is nothing to run.
        let tracked: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        let applied: Vec<(i64, Vec<u8>)> = if tracked {
            sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        let current = MIGRATOR.iter().all(|m| {
            applied
                .iter()
                .any(|(version, checksum)| *version == m.version && **checksum == *m.checksum)
        });
        if !current {
            MIGRATOR.run(&self.pool).await?;
        }
        Ok(())
    }

    async fn begin_write(&self) -> Result<PgWriter, StoreError> {
        // The lock-then-read-head order is only safe under READ COMMITTED (each statement
        // a fresh snapshot), whatever the server's default is.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        // The advisory lock that serialises appends (defined in the migration).
        sqlx::query("SELECT ledger_append_lock()")
            .execute(&mut *tx)
            .await?;
        // A new statement, so a new snapshot: it sees every append committed before the
        // lock was granted.
        let head = sqlx::query(rows::HEAD)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| rows::head(&row))
            .transpose()?;
        Ok(PgWriter {
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
            "SELECT {} FROM ledger_events WHERE position > $1 ORDER BY position LIMIT $2",
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
        // One statement, so one implicit transaction: lock, check, insert, commit.
        let mut conn = self.pool.acquire().await?;
        let appended = append_rows(&mut conn, expected_head, batch).await?;
        if appended {
            self.commits.sender.send_modify(|n| *n += 1);
        }
        Ok(appended)
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
            "SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE idempotency_key = $1"
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
            "SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE command_type = $1 AND outcome = 'rejected' ORDER BY recorded_at"
        ))
        .bind(command_type)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::command).collect()
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.listen();
        self.commits.sender.subscribe()
    }
}

/// A write transaction holding the append lock.
pub struct PgWriter {
    tx: Transaction<'static, Postgres>,
    head: Option<Head>,
    commits: Arc<Commits>,
}

impl WriteTx for PgWriter {
    fn head(&self) -> Option<Head> {
        self.head
    }

    async fn find_commands(
        &mut self,
        keys: &[String],
    ) -> Result<HashMap<String, CommandRecord>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        // One primary-key probe per key. (`= ANY($1)` was planned once, while the table
        // was empty, as a sequential scan, and kept that plan as the table grew.)
        let rows = sqlx::query(&format!(
            "SELECT c.* FROM unnest($1::text[]) AS k(key) CROSS JOIN LATERAL \
             (SELECT {COMMAND_COLUMNS} FROM ledger_commands WHERE idempotency_key = k.key LIMIT 1) AS c"
        ))
        .bind(keys)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| rows::command(row).map(|r| (r.idempotency_key.clone(), r)))
            .collect()
    }

    async fn stream_versions(
        &mut self,
        streams: &[String],
    ) -> Result<HashMap<String, u64>, StoreError> {
        // One backward index probe per stream, however long the stream is.
        let rows = sqlx::query(
            "SELECT s.id, (SELECT version FROM ledger_events WHERE stream_id = s.id \
             ORDER BY version DESC LIMIT 1) AS version FROM unnest($1::text[]) AS s(id)",
        )
        .bind(streams)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut versions = HashMap::new();
        for row in rows {
            if let Some(version) = row.try_get::<Option<i64>, _>("version")? {
                versions.insert(row.try_get("id")?, to_u64(version));
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
        let rows = sqlx::query(
            "SELECT d.method, d.external_ref FROM unnest($1::text[], $2::text[]) AS k(method, ref) \
             CROSS JOIN LATERAL (SELECT method, external_ref FROM ledger_deposit_refs \
             WHERE method = k.method AND external_ref = k.ref LIMIT 1) AS d",
        )
        .bind(deposits.iter().map(|d| d.method.as_str()).collect::<Vec<_>>())
        .bind(deposits.iter().map(|d| d.external_ref.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DepositRef {
                    method: row.try_get("method")?,
                    external_ref: row.try_get("external_ref")?,
                })
            })
            .collect()
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
        self.commits.sender.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// Appends through `ledger_append` (see the migration): `false`, writing nothing, when
/// the head is not `expected_head` (position and hash).
async fn append_rows(
    conn: &mut sqlx::PgConnection,
    expected_head: Option<Head>,
    batch: &Append,
) -> Result<bool, StoreError> {
    let events = &batch.events;
    let rows: Vec<_> = batch.commands.iter().map(CommandRecord::to_row).collect();
    let deposits = &batch.deposits;
    let appended: bool = sqlx::query_scalar(
        "SELECT ledger_append($1, $2, $3::bigint[], $4::text[], $5::bigint[], $6::text[], \
         $7::bigint[], $8::bytea[], $9::bytea[], $10::bigint[], $11::bytea[], $12::bytea[], \
         $13::text[], $14::text[], $15::text[], $16::bytea[], $17::text[], $18::text[], \
         $19::text[], $20::bytea[], $21::bytea[], $22::bigint[], \
         $23::text[], $24::text[], $25::text[], $26::bigint[])",
    )
    .bind(expected_head.map(|h| to_i64(h.position)))
    .bind(expected_head.map(|h| h.hash.to_vec()))
    .bind(
        events
            .iter()
            .map(|e| to_i64(e.position))
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.stream.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| to_i64(e.version)).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| i64::from(e.schema_version))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.payload.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.metadata.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.prev_hash.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.hash.as_slice()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.idempotency_key.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.stream.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.command_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.fingerprint.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.rejection_code.unwrap_or(""))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.rejection_message.as_deref().unwrap_or(""))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.events.as_slice()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.balances.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
    .bind(
        deposits
            .iter()
            .map(|d| d.deposit.method.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deposits
            .iter()
            .map(|d| d.deposit.external_ref.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deposits
            .iter()
            .map(|d| d.stream.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deposits
            .iter()
            .map(|d| to_i64(d.position))
            .collect::<Vec<_>>(),
    )
    .fetch_one(conn)
    .await?;
    Ok(appended)
}

async fn read_after(
    conn: &mut sqlx::PgConnection,
    after_position: u64,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(to_i64(after_position))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(rows::event).collect()
}

async fn read_stream(
    conn: &mut sqlx::PgConnection,
    stream: &str,
    after_version: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE stream_id = $1 AND version > $2 ORDER BY version"
    ))
    .bind(stream)
    .bind(to_i64(after_version))
    .fetch_all(conn)
    .await?;
    rows.iter().map(rows::event).collect()
}
