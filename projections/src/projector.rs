//! The projector: reads the log in position order from the projections' checkpoint and
//! maintains the read models, one batch per transaction, the checkpoint moved in that same
//! transaction. A crash anywhere leaves the read models exactly at their checkpoint:
//! nothing is counted twice, nothing is dropped.
//!
//! Several runners (two `croupier` processes making reports, say) may catch up at once:
//! each batch begins by moving the checkpoints from the position it read them at, and a
//! runner that finds them moved rolls back and starts again from the new position.
//!
//! A batch is decoded while the one before it is written (see [`crate::pages`]), folded in
//! memory and written with a few multi-row statements per table (see [`crate::models`]).
//! The SQL serves both backends (sqlx's `Any` driver). Amounts are stored as decimal
//! strings and added up here, with `rust_decimal`.

use std::str::FromStr;

use ledger::session;
use rust_decimal::Decimal;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AnyConnection, AnyPool, Row};
use store::{codec, EventBody, EventStore, StoreError};

use crate::bulk::{Copier, Dialect, Writer};
use crate::models::{self, Batch};
use crate::pages::Pages;

/// The read models this projector maintains, by checkpoint name, in the order a batch
/// is applied to them: bets first, which makes the most rows, so that a rebuild on
/// PostgreSQL copies those while it writes the others (they are independent).
pub const PROJECTIONS: [&str; 6] = [
    "bets",
    "balances",
    "deposits",
    "finance_daily",
    "house",
    "sessions",
];

/// Events per transaction when catching up.
pub const BATCH_SIZE: u32 = 5_000;

/// Events per transaction when rebuilding: larger, since nobody waits for the shadow
/// tables, and a batch's writes cost less per event the more events share them (a bet
/// placed and settled in one batch is written once, a balance once per batch). Measured
/// on 1,000,000 events with 1,000 players: 25,000 per batch 3.4-3.6 s on PostgreSQL and
/// 5.3-6.3 s on SQLite, 50,000 2.7-3.0 s and 4.9-5.1 s, 100,000 no faster. With the page
/// read ahead, a rebuild holds up to three pages of decoded events (some 90 MB).
pub const REBUILD_BATCH_SIZE: u32 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the event at position {position} cannot be projected: {problem}")]
    Unreadable { position: u64, problem: String },
    #[error("unknown projection '{name}': expected one of balances, bets, deposits, finance_daily, house, sessions")]
    UnknownProjection { name: String },
    #[error("the read model holds '{value}' where an amount belongs")]
    NotAnAmount { value: String },
    #[error("the {what} overflow when added up: the log holds amounts no ledger could have written (run `croupier audit verify`)")]
    Overflow { what: String },
}

/// One projection's progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checkpoint {
    pub name: String,
    pub position: u64,
}

/// Maintains the read models of one database.
#[derive(Clone)]
pub struct Projector {
    pool: AnyPool,
    dialect: Dialect,
    /// On PostgreSQL, the connection a rebuild copies new rows into its shadow tables by.
    copy: Option<PgPool>,
}

impl Projector {
    /// Connects to the database at `url` (the one the log is in, whose migrations are
    /// applied).
    pub async fn connect(url: &str) -> Result<Self, ProjectionError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await?;
        let dialect = Dialect::of(pool.acquire().await?.backend_name());
        let copy = match dialect {
            Dialect::Postgres => Some(PgPoolOptions::new().max_connections(1).connect_lazy(url)?),
            Dialect::Sqlite => None,
        };
        Ok(Self {
            pool,
            dialect,
            copy,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, ProjectionError> {
        let rows = sqlx::query("SELECT name, position FROM projection_checkpoints ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    name: row.try_get("name")?,
                    position: to_u64(row.try_get("position")?),
                })
            })
            .collect()
    }

    /// Applies every event after the checkpoints, `batch_size` per transaction, and
    /// returns the position reached; `progress` hears each batch's last position.
    pub async fn catch_up<S: EventStore>(
        &self,
        store: &S,
        batch_size: u32,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ProjectionError> {
        // Known after each batch this runner commits; read again only when a claim fails
        // (another runner, a reset or a rebuild moved the checkpoints).
        let mut position = self.position().await?;
        let mut pages = Pages::read(store, position, None, batch_size, decode);
        loop {
            let Some(page) = pages.next().await? else {
                return Ok(position);
            };
            let mut tx = self.pool.begin().await?;
            // Claim the batch first: this also makes concurrent runners wait here.
            let claimed = sqlx::query(
                "UPDATE projection_checkpoints SET position = $1, updated_at = $2 WHERE position = $3",
            )
            .bind(to_i64(page.last))
            .bind(page.recorded_at)
            .bind(to_i64(position))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != PROJECTIONS.len() as u64 {
                tx.rollback().await?;
                position = self.position().await?;
                pages = Pages::read(store, position, None, batch_size, decode);
                continue;
            }
            self.apply(&mut tx, None, &PROJECTIONS, &page.content, "")
                .await?;
            tx.commit().await?;
            progress(page.last);
            position = page.last;
        }
    }

    /// Empties the read models and their checkpoints, to be rebuilt by `catch_up`.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projection_checkpoints SET position = 0, updated_at = 0")
            .execute(&mut *tx)
            .await?;
        for table in PROJECTIONS.into_iter().flat_map(tables_of) {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rebuilds the projections named (all of them when `names` is empty) from the log,
    /// into shadow tables, and swaps those in in one transaction. Readers keep getting
    /// answers from the old tables until the swap. `progress` hears (position, target).
    /// Returns the position the projections are at after the swap.
    pub async fn rebuild<S: EventStore>(
        &self,
        store: &S,
        names: &[String],
        batch_size: u32,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<u64, ProjectionError> {
        if let Some(unknown) = names.iter().find(|n| !PROJECTIONS.contains(&n.as_str())) {
            return Err(ProjectionError::UnknownProjection {
                name: unknown.clone(),
            });
        }
        // In the order batches are applied, each once however often it was named.
        let names: Vec<&str> = PROJECTIONS
            .into_iter()
            .filter(|p| names.is_empty() || names.iter().any(|n| n == p))
            .collect();
        let tables: Vec<&str> = names.iter().flat_map(|n| tables_of(n)).copied().collect();
        // The live tables first reach the head, so that the swap never moves them back.
        let target = self.catch_up(store, batch_size, |_| {}).await?;
        for table in &tables {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}_shadow"))
                .execute(&self.pool)
                .await?;
            let create = if self.dialect == Dialect::Postgres {
                format!("CREATE TABLE {table}_shadow (LIKE {table} INCLUDING ALL)")
            } else {
                // SQLite keeps each table's CREATE statement; the first mention of the
                // name in it is the table's own (quoted once the table was renamed).
                let ddl: String = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1",
                )
                .bind(*table)
                .fetch_one(&self.pool)
                .await?;
                ddl.replacen(table, &format!("{table}_shadow"), 1)
            };
            sqlx::query(&create).execute(&self.pool).await?;
        }
        let mut position = 0;
        let mut pages = Pages::read(store, 0, Some(target), batch_size, decode);
        let copier = self.copy.as_ref().map(Copier::start);
        while let Some(page) = pages.next().await? {
            let mut tx = self.pool.begin().await?;
            self.apply(&mut tx, copier.as_ref(), &names, &page.content, "_shadow")
                .await?;
            if let Some(copier) = &copier {
                copier.commit().await?;
            }
            tx.commit().await?;
            position = page.last;
            progress(position, target);
        }
        drop(copier);
        // The swap. Claiming the checkpoint rows makes a live runner finish its batch
        // first (and wait for this one); whatever it added since is applied to the shadow
        // tables here, so they are exactly at the checkpoints when they become live.
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projection_checkpoints SET updated_at = updated_at")
            .execute(&mut *tx)
            .await?;
        let live = checkpoints_position(&mut *tx).await?;
        let mut pages = Pages::read(store, position, Some(live), batch_size, decode);
        while let Some(page) = pages.next().await? {
            self.apply(&mut tx, None, &names, &page.content, "_shadow")
                .await?;
        }
        for table in &tables {
            for statement in [
                format!("ALTER TABLE {table} RENAME TO {table}_old"),
                format!("ALTER TABLE {table}_shadow RENAME TO {table}"),
                format!("DROP TABLE {table}_old"),
            ] {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(live)
    }

    /// Applies `batch` to the projections named, in their tables named with `suffix`
    /// (`""` for the live tables, `"_shadow"` while rebuilding), new rows copied by
    /// `copier` if given.
    async fn apply(
        &self,
        conn: &mut AnyConnection,
        copier: Option<&Copier>,
        names: &[&str],
        batch: &Batch,
        suffix: &str,
    ) -> Result<(), ProjectionError> {
        let mut writer = Writer::new(conn, self.dialect, suffix, copier);
        for name in names {
            models::apply(name, &mut writer, batch).await?;
        }
        Ok(())
    }

    /// The position every projection has reached.
    async fn position(&self) -> Result<u64, ProjectionError> {
        checkpoints_position(&self.pool).await
    }
}

/// The position every projection has reached, read by `executor`.
async fn checkpoints_position<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<u64, ProjectionError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT min(position) FROM projection_checkpoints")
            .fetch_one(executor)
            .await?;
    Ok(position.map_or(0, to_u64))
}

/// Decodes the events the read models use; events of other streams are left out.
fn decode(events: Vec<EventBody>) -> Result<Batch, ProjectionError> {
    let mut batch = Batch::default();
    for stored in events {
        let unreadable = |e: codec::DecodeError| ProjectionError::Unreadable {
            position: stored.position,
            problem: e.to_string(),
        };
        if store::player::player_of(&stored.stream).is_some() {
            let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
                .map_err(unreadable)?;
            batch.ledger.push((stored.position, event));
        } else if session::parse_stream(&stored.stream).is_some() {
            let event =
                codec::decode_session(&stored.event_type, stored.schema_version, &stored.payload)
                    .map_err(unreadable)?;
            batch.sessions.push((stored.position, stored.stream, event));
        }
    }
    Ok(batch)
}

/// The tables a projection keeps.
fn tables_of(projection: &str) -> &'static [&'static str] {
    match projection {
        "balances" => &["proj_balances"],
        "house" => &["proj_house"],
        "bets" => &["proj_bets"],
        "deposits" => &["proj_deposits"],
        "finance_daily" => &["proj_finance_daily", "proj_finance_active"],
        "sessions" => &["proj_sessions"],
        _ => &[],
    }
}

pub(crate) fn amount(text: String) -> Result<Decimal, ProjectionError> {
    Decimal::from_str(&text).map_err(|_| ProjectionError::NotAnAmount { value: text })
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).expect("positions are below 2^63")
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
