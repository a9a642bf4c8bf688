//! The adapter's tables (inbox, outbox, players, fair seeds), one SQL for PostgreSQL and
//! SQLite through sqlx `Any`. Nothing here touches the ledger's tables.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bot_core::call::{Call, LinkMessage};
use bot_core::fair::{self, ServerSeed};
use bot_core::port::{FairState, Round};
use bot_core::slots::Spin;
use ledger::session::SessionState;
use rand::RngCore;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// Errors of the adapter's tables: all are infrastructure, never business refusals.
#[derive(Debug, thiserror::Error)]
pub enum BotDbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Concurrent writers kept winning the race for the same rows.
    #[error("{0}: too many concurrent writers, try again")]
    Contended(String),
}

impl BotDbError {
    /// Whether trying again later could succeed (the database was down, a race was lost);
    /// unreadable data stays unreadable. As `store::StoreError::transient`, every database
    /// error counts as transient.
    pub fn transient(&self) -> bool {
        match self {
            Self::Sqlx(_) | Self::Contended(_) => true,
            Self::Corrupt(_) => false,
        }
    }
}

/// Microseconds since the epoch.
pub fn now_micros() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// An update being recorded as handled: what it is (its inbox key), its id, its body and
/// when it arrived (micros).
#[derive(Debug, Clone, Copy)]
pub struct HandledUpdate<'a> {
    /// What de-duplicates the update: its input's origin (a payment's charge, a message's
    /// chat and id...), or `update:ID` for an input that causes nothing. Never the update
    /// id alone for an input that can move money: Telegram reuses update ids.
    pub key: &'a str,
    pub id: i64,
    pub body: &'a str,
    pub received_at: i64,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Parameters per row of [`outbox_insert`].
const OUTBOX_PARAMS: usize = 9;

/// `INSERT INTO bot_outbox ... VALUES (...), ...` for `rows` calls, parameters from `$first`.
fn outbox_insert(first: usize, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let base = first + row * OUTBOX_PARAMS;
            let params: Vec<String> = (base..base + OUTBOX_PARAMS)
                .map(|n| format!("${n}"))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO bot_outbox (dedupe_key, chat_id, method, params, urgent, created_at, due_at, spin, then_send) \
         VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
        values.join(", ")
    )
}

/// Binds the inbox row's parameters.
fn bind_update<'q>(query: AnyQuery<'q>, update: &HandledUpdate<'_>, now: i64) -> AnyQuery<'q> {
    query
        .bind(update.key.to_owned())
        .bind(update.id)
        .bind(update.body.to_owned())
        .bind(update.received_at)
        .bind(now)
}

/// Binds the parameters of [`outbox_insert`]: each call keyed `origin:index`.
fn bind_calls<'q>(
    mut query: AnyQuery<'q>,
    origin: &str,
    calls: &'q [Call],
    now: i64,
) -> AnyQuery<'q> {
    for (index, call) in calls.iter().enumerate() {
        query = bind_call(query, format!("{origin}:{index}"), call, now);
    }
    query
}

fn bind_call<'q>(query: AnyQuery<'q>, dedupe_key: String, call: &Call, now: i64) -> AnyQuery<'q> {
    query
        .bind(dedupe_key)
        .bind(call.chat)
        .bind(call.method)
        .bind(call.params.to_string())
        .bind(i64::from(call.urgent))
        .bind(now)
        .bind(now)
        .bind(call.spin.as_ref().map(Spin::encode))
        .bind(call.then_send.as_ref().map(LinkMessage::encode))
}

/// An update that could not be read, kept for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub update_id: Option<i64>,
    /// The update as it arrived.
    pub body: String,
    /// Why it could not be read.
    pub reason: String,
    /// Microseconds since the epoch.
    pub received_at: i64,
}

/// A queued Bot API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    /// Derived from the input that caused the call and its place among its calls:
    /// stable across retries (MTProto's `random_id` comes from it).
    pub dedupe_key: String,
    pub chat_id: Option<i64>,
    pub method: String,
    pub params: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub created_at: i64,
    pub due_at: i64,
    pub last_error: Option<String>,
    /// For a 🎰 `sendDice`: the encoded [`Spin`] its value settles.
    pub spin: Option<String>,
    /// For a `createInvoiceLink`: the encoded [`LinkMessage`] that shows the link.
    pub then_send: Option<String>,
}

/// Where a call is in the outbox: the `state` column of `bot_outbox`, whose stored strings
/// are [`OutboxState::as_str`]. Every statement here names a state through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting to be sent, or to be tried again (the column's default: new calls are
    /// inserted without a state).
    Pending,
    /// A 🎰 `sendDice` handed to Telegram whose value is not recorded yet: never sent again.
    InFlight,
    /// Sent; for a 🎰, its value is recorded.
    Sent,
    /// Given up on: `outbox list --dead` shows it, `outbox retry` queues it again.
    Dead,
    /// A 🎰 whose value will never be known: its bet is voided.
    Void,
}

impl OutboxState {
    /// Every state, in the order a call goes through them.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::InFlight,
        Self::Sent,
        Self::Dead,
        Self::Void,
    ];

    /// The string stored in `bot_outbox.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Sent => "sent",
            Self::Dead => "dead",
            Self::Void => "void",
        }
    }

    /// The state as an SQL string literal (`'pending'`). Statements filter on a literal,
    /// not a parameter, so that both planners can use the partial index
    /// `bot_outbox_due ... WHERE state = 'pending'`.
    fn sql(self) -> String {
        format!("'{}'", self.as_str())
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no [`OutboxState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outbox state '{0}': use pending, in_flight, sent, dead or void")]
pub struct UnknownOutboxState(pub String);

impl FromStr for OutboxState {
    type Err = UnknownOutboxState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownOutboxState(s.to_owned()))
    }
}

use OutboxState::{Dead, InFlight, Pending, Sent, Void};

const OUTBOX_COLUMNS: &str =
    "id, dedupe_key, chat_id, method, params, state, attempts, created_at, due_at, last_error, spin, then_send";

/// Marks a pending call (`$2`) sent at `$1`.
static MARK_SENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE bot_outbox SET state = {sent}, sent_at = $1, lease_until = 0 WHERE id = $2 AND state = {pending}",
        sent = Sent.sql(),
        pending = Pending.sql(),
    )
});

fn outbox_row(row: &sqlx::any::AnyRow) -> Result<OutboxRow, BotDbError> {
    let state: String = row.try_get("state")?;
    Ok(OutboxRow {
        id: row.try_get("id")?,
        dedupe_key: row.try_get("dedupe_key")?,
        chat_id: row.try_get("chat_id")?,
        method: row.try_get("method")?,
        params: row.try_get("params")?,
        state: state
            .parse()
            .map_err(|e: UnknownOutboxState| BotDbError::Corrupt(e.to_string()))?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        due_at: row.try_get("due_at")?,
        last_error: row.try_get("last_error")?,
        spin: row.try_get("spin")?,
        then_send: row.try_get("then_send")?,
    })
}

/// The adapter's tables in the Croupier database.
#[derive(Clone)]
pub struct BotDb {
    pool: AnyPool,
    postgres: bool,
}

impl BotDb {
    /// Connects to the database at `url`, whose migrations are applied.
    pub async fn connect(url: &str, connections_max: u32) -> Result<Self, BotDbError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(connections_max)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            postgres: url.starts_with("postgres"),
        })
    }

    /// True when the database answers and the adapter's tables exist.
    pub async fn ready(&self) -> Result<(), BotDbError> {
        sqlx::query("SELECT COUNT(*) FROM bot_outbox WHERE id = 0")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    // ---- inbox ----

    /// True when an update with this inbox key (see [`HandledUpdate::key`]) was handled
    /// before (its calls are queued).
    pub async fn handled(&self, key: &str) -> Result<bool, BotDbError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM bot_inbox WHERE inbox_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Records the update as handled and queues its calls, atomically: one statement on
    /// PostgreSQL, one transaction on SQLite. Calls are keyed `origin:index`, so handling
    /// the same input again (a redelivery, the same charge in another update) queues
    /// nothing new. Returns how many calls were queued.
    pub async fn finish_update(
        &self,
        update: Option<HandledUpdate<'_>>,
        origin: &str,
        calls: &[Call],
    ) -> Result<usize, BotDbError> {
        const INBOX: &str =
            "INSERT INTO bot_inbox (inbox_key, update_id, body, received_at, handled_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (inbox_key) DO NOTHING";
        let now = now_micros();
        if self.postgres {
            // One statement: the inbox row rides along as a data-modifying CTE.
            let sql = match update {
                Some(_) if calls.is_empty() => format!("WITH inbox AS ({INBOX}) SELECT 0"),
                Some(_) => format!("WITH inbox AS ({INBOX}) {}", outbox_insert(6, calls.len())),
                None if calls.is_empty() => return Ok(0),
                None => outbox_insert(1, calls.len()),
            };
            let mut query = sqlx::query(&sql);
            if let Some(update) = &update {
                query = bind_update(query, update, now);
            }
            let result = bind_calls(query, origin, calls, now)
                .execute(&self.pool)
                .await?;
            let queued = if calls.is_empty() {
                0
            } else {
                result.rows_affected()
            };
            return Ok(usize::try_from(queued).unwrap_or(usize::MAX));
        }
        let mut tx = self.pool.begin().await?;
        if let Some(update) = &update {
            bind_update(sqlx::query(INBOX), update, now)
                .execute(&mut *tx)
                .await?;
        }
        let mut queued = 0;
        if !calls.is_empty() {
            let sql = outbox_insert(1, calls.len());
            queued = bind_calls(sqlx::query(&sql), origin, calls, now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(usize::try_from(queued).unwrap_or(usize::MAX))
    }

    /// Keeps an update that cannot be read as an inbound dead letter, with its body and
    /// why; a copy of one already kept (the same id and body, delivered again) is not
    /// kept twice. Returns whether it was new.
    pub async fn dead_letter(
        &self,
        update_id: i64,
        body: &str,
        reason: &str,
        received_at: i64,
    ) -> Result<bool, BotDbError> {
        let kept = sqlx::query(
            "INSERT INTO bot_inbox_dead (update_id, body, reason, received_at) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS \
             (SELECT 1 FROM bot_inbox_dead WHERE update_id = $1 AND body = $2)",
        )
        .bind(update_id)
        .bind(body)
        .bind(reason)
        .bind(received_at)
        .execute(&self.pool)
        .await?;
        Ok(kept.rows_affected() > 0)
    }

    /// How many inbound dead letters are kept, and the newest `limit` of them.
    pub async fn dead_letters(&self, limit: i64) -> Result<(i64, Vec<DeadLetter>), BotDbError> {
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM bot_inbox_dead")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(
            "SELECT id, update_id, body, reason, received_at FROM bot_inbox_dead \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let letters = rows
            .iter()
            .map(|row| {
                Ok(DeadLetter {
                    id: row.try_get("id")?,
                    update_id: row.try_get("update_id")?,
                    body: row.try_get("body")?,
                    reason: row.try_get("reason")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok((count, letters))
    }

    // ---- outbox ----

    /// Leases up to `limit` due calls for `lease_micros`; urgent ones (answers to queries)
    /// first. Several dispatchers can claim at once: PostgreSQL skips rows others hold.
    pub async fn claim_calls(
        &self,
        limit: i64,
        lease_micros: i64,
    ) -> Result<Vec<OutboxRow>, BotDbError> {
        let now = now_micros();
        let lock = if self.postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE bot_outbox SET lease_until = $1 WHERE id IN (\
               SELECT id FROM bot_outbox WHERE state = {pending} AND due_at <= $2 AND lease_until <= $2 \
               ORDER BY urgent DESC, id LIMIT $3{lock}) \
             RETURNING {OUTBOX_COLUMNS}",
            pending = Pending.sql(),
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease_micros)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut calls = rows.iter().map(outbox_row).collect::<Result<Vec<_>, _>>()?;
        calls.sort_by_key(|c| c.id);
        Ok(calls)
    }

    pub async fn mark_sent(&self, id: i64) -> Result<(), BotDbError> {
        sqlx::query(&MARK_SENT)
            .bind(now_micros())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts claimed calls back until their due times `(id, due_at)`, in one statement:
    /// what a round of the dispatcher could not send yet because of the pace.
    pub async fn defer_all(&self, calls: &[(i64, i64)]) -> Result<(), BotDbError> {
        for chunk in calls.chunks(250) {
            let cases: Vec<String> = (0..chunk.len())
                .map(|i| format!("WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2))
                .collect();
            let ids: Vec<String> = (0..chunk.len())
                .map(|i| format!("${}", 2 * i + 1))
                .collect();
            let sql = format!(
                "UPDATE bot_outbox SET due_at = CASE id {} END, lease_until = 0 WHERE state = {pending} AND id IN ({})",
                cases.join(" "),
                ids.join(", "),
                pending = Pending.sql(),
            );
            let mut query = sqlx::query(&sql);
            for (id, due_at) in chunk {
                query = query.bind(*id).bind(*due_at);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Marks calls sent, in one statement: what a round of the dispatcher sent.
    pub async fn mark_sent_all(&self, ids: &[i64]) -> Result<(), BotDbError> {
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
            let sql = format!(
                "UPDATE bot_outbox SET state = {sent}, sent_at = $1, lease_until = 0 WHERE state = {pending} AND id IN ({})",
                placeholders.join(", "),
                sent = Sent.sql(),
                pending = Pending.sql(),
            );
            let mut query = sqlx::query(&sql).bind(now_micros());
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Marks a call sent and queues `then` in the same transaction, keyed after it: the
    /// message that needed the call's answer. Sent again only if this call is.
    pub async fn mark_sent_then(&self, call: &OutboxRow, then: &Call) -> Result<(), BotDbError> {
        let now = now_micros();
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(&MARK_SENT)
            .bind(now)
            .bind(call.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if marked == 1 {
            let key = format!("{}:then", call.dedupe_key);
            bind_call(sqlx::query(&outbox_insert(1, 1)), key, then, now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts a call back for later. `counted` says whether this try counts towards the
    /// attempt limit (a 429 does not: Telegram told us exactly when to come back).
    pub async fn retry_later(
        &self,
        id: i64,
        due_at: i64,
        counted: bool,
        error: &str,
    ) -> Result<(), BotDbError> {
        let sql = format!(
            "UPDATE bot_outbox SET due_at = $1, lease_until = 0, attempts = attempts + $2, last_error = $3 WHERE id = $4 AND state = {pending}",
            pending = Pending.sql(),
        );
        sqlx::query(&sql)
            .bind(due_at)
            .bind(i64::from(counted))
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The staff refunds (`refundStarPayment`) that became dead letters, oldest first:
    /// what `payments reconcile` reverses when the ledger still holds them pending.
    pub async fn dead_refund_calls(&self) -> Result<Vec<OutboxRow>, BotDbError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM bot_outbox WHERE method = 'refundStarPayment' AND state = {dead} ORDER BY id",
            dead = Dead.sql(),
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Gives up on a call: operators see it with `outbox list --dead`.
    pub async fn mark_dead(&self, id: i64, error: &str) -> Result<(), BotDbError> {
        let sql = format!(
            "UPDATE bot_outbox SET state = {dead}, lease_until = 0, attempts = attempts + 1, last_error = $1 WHERE id = $2 AND state = {pending}",
            dead = Dead.sql(),
            pending = Pending.sql(),
        );
        sqlx::query(&sql)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- 🎰 spins ----

    /// Marks a spin in flight just before it is sent; false when it is no longer pending
    /// (another dispatcher took it). From here on it is never sent again.
    pub async fn begin_spin(&self, id: i64) -> Result<bool, BotDbError> {
        let sql = format!(
            "UPDATE bot_outbox SET state = {in_flight}, sent_at = $1, lease_until = 0, attempts = attempts + 1 \
             WHERE id = $2 AND state = {pending}",
            in_flight = InFlight.sql(),
            pending = Pending.sql(),
        );
        let result = sqlx::query(&sql)
            .bind(now_micros())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records what became of a spin in flight: its value, or (`None`) that it will never
    /// be known. Does nothing when the spin was voided as an orphan meanwhile.
    pub async fn end_spin(
        &self,
        id: i64,
        value: Option<i64>,
        error: Option<&str>,
    ) -> Result<(), BotDbError> {
        let sql = format!(
            "UPDATE bot_outbox SET state = CASE WHEN $1 IS NULL THEN {void} ELSE {sent} END, \
             spin_value = $1, last_error = $2 WHERE id = $3 AND state = {in_flight}",
            void = Void.sql(),
            sent = Sent.sql(),
            in_flight = InFlight.sql(),
        );
        sqlx::query(&sql)
            .bind(value)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts a spin that Telegram refused with a 429 (so did not roll) back in the queue.
    pub async fn requeue_spin(&self, id: i64, due_at: i64, error: &str) -> Result<(), BotDbError> {
        let sql = format!(
            "UPDATE bot_outbox SET state = {pending}, due_at = $1, last_error = $2 WHERE id = $3 AND state = {in_flight}",
            pending = Pending.sql(),
            in_flight = InFlight.sql(),
        );
        sqlx::query(&sql)
            .bind(due_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Voids spins in flight since before `cutoff` (micros): their sender stopped (a crash)
    /// or gave up without recording anything. Returns how many.
    pub async fn void_orphan_spins(&self, cutoff: i64) -> Result<u64, BotDbError> {
        // Looked for first: the dispatcher asks on every round, and on SQLite an UPDATE
        // takes the write lock even when it matches nothing.
        let find = format!(
            "SELECT id FROM bot_outbox WHERE spin IS NOT NULL AND spin_settled_at IS NULL \
             AND state = {in_flight} AND sent_at < $1 LIMIT 1",
            in_flight = InFlight.sql(),
        );
        let orphans = sqlx::query(&find)
            .bind(cutoff)
            .fetch_optional(&self.pool)
            .await?;
        if orphans.is_none() {
            return Ok(0);
        }
        let void = format!(
            "UPDATE bot_outbox SET state = {void}, last_error = 'in flight when its sender stopped: the value is unknown' \
             WHERE spin IS NOT NULL AND spin_settled_at IS NULL AND state = {in_flight} AND sent_at < $1",
            void = Void.sql(),
            in_flight = InFlight.sql(),
        );
        Ok(sqlx::query(&void)
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Spins whose value is known or known to be lost, and whose bet is not yet settled:
    /// `(outbox id, spin, value)`.
    pub async fn unsettled_spins(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, Spin, Option<i64>)>, BotDbError> {
        let sql = format!(
            "SELECT id, spin, spin_value FROM bot_outbox \
             WHERE spin IS NOT NULL AND spin_settled_at IS NULL AND state IN ({sent}, {void}) \
             ORDER BY id LIMIT $1",
            sent = Sent.sql(),
            void = Void.sql(),
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("spin")?;
                let spin = Spin::parse(&text)
                    .ok_or_else(|| BotDbError::Corrupt(format!("spin '{text}'")))?;
                Ok((row.try_get("id")?, spin, row.try_get("spin_value")?))
            })
            .collect()
    }

    pub async fn spin_settled(&self, id: i64) -> Result<(), BotDbError> {
        sqlx::query("UPDATE bot_outbox SET spin_settled_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Calls in `state`, newest first.
    pub async fn list_calls(
        &self,
        state: OutboxState,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, BotDbError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM bot_outbox WHERE state = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Sends dead calls again (one id, or all): they become pending with a fresh count.
    pub async fn retry_dead(&self, id: Option<i64>) -> Result<u64, BotDbError> {
        let sql = format!(
            "UPDATE bot_outbox SET state = {pending}, attempts = 0, due_at = $1, created_at = $1, lease_until = 0 \
             WHERE state = {dead} AND ($2 < 0 OR id = $2)",
            pending = Pending.sql(),
            dead = Dead.sql(),
        );
        let result = sqlx::query(&sql)
            .bind(now_micros())
            .bind(id.unwrap_or(-1))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// How many calls are pending (for graceful shutdown and tests).
    pub async fn pending_calls(&self) -> Result<i64, BotDbError> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM bot_outbox WHERE state = {pending}",
            pending = Pending.sql(),
        );
        Ok(sqlx::query(&sql)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    // ---- players ----

    pub async fn register(&self, player: i64, chat: i64) -> Result<bool, BotDbError> {
        let inserted = sqlx::query(
            "INSERT INTO bot_players (player_id, chat_id, registered_at) VALUES ($1, $2, $3) ON CONFLICT (player_id) DO NOTHING",
        )
        .bind(player)
        .bind(chat)
        .bind(now_micros())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    // ---- provably fair ----
    //
    // `bot_fair_seeds` is the secret store: a seed stays here, and only here, until it is
    // revealed into the log. `bot_fair_rounds` allocates nonces (a bet's fair inputs are
    // in its `bet_placed`). The ledger port submits the commitments and reveals.

    /// The player's active seed, created when missing (its commitment is the caller's:
    /// `committed` says whether it is known to be in the log).
    pub async fn active_seed(&self, player: i64) -> Result<ActiveSeed, BotDbError> {
        loop {
            let row = sqlx::query(
                "SELECT seed_hash, seed, client_seed, committed_at FROM bot_fair_seeds WHERE player_id = $1 AND revealed_at IS NULL",
            )
            .bind(player)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                let seed: String = row.try_get("seed")?;
                let committed_at: Option<i64> = row.try_get("committed_at")?;
                return Ok(ActiveSeed {
                    seed_hash: row.try_get("seed_hash")?,
                    seed: parse_seed(&seed)?,
                    client_seed: row.try_get("client_seed")?,
                    committed: committed_at.is_some(),
                });
            }
            let client_seed = hex::encode(random_bytes::<6>());
            self.insert_seed(player, &client_seed).await?;
        }
    }

    async fn insert_seed(&self, player: i64, client_seed: &str) -> Result<(), BotDbError> {
        let seed: ServerSeed = random_bytes();
        // A concurrent creation loses on the unique active-seed index; the caller reads
        // whichever won.
        sqlx::query(
            "INSERT INTO bot_fair_seeds (seed_hash, player_id, seed, client_seed, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(fair::seed_hash(&seed))
        .bind(player)
        .bind(hex::encode(seed))
        .bind(client_seed)
        .bind(now_micros())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notes that the seed's commitment is in the log.
    pub async fn mark_committed(&self, seed_hash: &str) -> Result<(), BotDbError> {
        sqlx::query(
            "UPDATE bot_fair_seeds SET committed_at = $1 WHERE seed_hash = $2 AND committed_at IS NULL",
        )
        .bind(now_micros())
        .bind(seed_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rounds_of(&self, seed_hash: &str) -> Result<i64, BotDbError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM bot_fair_rounds WHERE seed_hash = $1")
                .bind(seed_hash)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// The player's commitment as `/fair` shows it, and whether it is known to be in the
    /// log.
    pub async fn fair_state(&self, player: i64) -> Result<(FairState, bool), BotDbError> {
        let active = self.active_seed(player).await?;
        let next_nonce = to_u64(self.rounds_of(&active.seed_hash).await?);
        Ok((
            FairState {
                seed_hash: active.seed_hash,
                client_seed: active.client_seed,
                next_nonce,
            },
            active.committed,
        ))
    }

    /// The fair inputs of `bet`: the first call allocates the next nonce of the active
    /// seed; later calls return the same. The flag says whether the round's seed is known
    /// to be committed in the log.
    pub async fn fair_round(
        &self,
        player: i64,
        bet: &str,
        terms: &str,
    ) -> Result<(Round, bool), BotDbError> {
        for _ in 0..16 {
            let active = self.active_seed(player).await?;
            // The next nonce of that seed, only while the seed is unrevealed. The bet's
            // round made before wins on its primary key, and is read below; a race for
            // the same nonce loses on UNIQUE (seed_hash, nonce) and tries again.
            let nonce: Option<i64> = sqlx::query_scalar(
                "INSERT INTO bot_fair_rounds (bet_id, player_id, seed_hash, client_seed, nonce, terms, created_at) \
                 SELECT $1, $2, s.seed_hash, $3, (SELECT COUNT(*) FROM bot_fair_rounds WHERE seed_hash = s.seed_hash), $4, $5 \
                 FROM bot_fair_seeds s WHERE s.seed_hash = $6 AND s.revealed_at IS NULL \
                 ON CONFLICT DO NOTHING RETURNING nonce",
            )
            .bind(bet)
            .bind(player)
            .bind(&active.client_seed)
            .bind(terms)
            .bind(now_micros())
            .bind(&active.seed_hash)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(nonce) = nonce {
                let committed = active.committed;
                return Ok((
                    Round {
                        seed: active.seed,
                        seed_hash: active.seed_hash,
                        client_seed: active.client_seed,
                        nonce: to_u64(nonce),
                    },
                    committed,
                ));
            }
            let row = sqlx::query(
                "SELECT r.seed_hash, s.seed, r.client_seed, r.nonce, s.committed_at FROM bot_fair_rounds r \
                 JOIN bot_fair_seeds s ON s.seed_hash = r.seed_hash WHERE r.bet_id = $1",
            )
            .bind(bet)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                let seed: String = row.try_get("seed")?;
                let committed_at: Option<i64> = row.try_get("committed_at")?;
                return Ok((
                    Round {
                        seed: parse_seed(&seed)?,
                        seed_hash: row.try_get("seed_hash")?,
                        client_seed: row.try_get("client_seed")?,
                        nonce: to_u64(row.try_get("nonce")?),
                    },
                    committed_at.is_some(),
                ));
            }
        }
        Err(BotDbError::Contended(format!(
            "could not allocate a fair round for bet {bet}"
        )))
    }

    pub async fn set_client_seed(&self, player: i64, client_seed: &str) -> Result<(), BotDbError> {
        self.active_seed(player).await?;
        sqlx::query("UPDATE bot_fair_seeds SET client_seed = $1 WHERE player_id = $2 AND revealed_at IS NULL")
            .bind(client_seed)
            .bind(player)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks `seed` revealed (its reveal is in the log) and creates the player's next
    /// seed with the same client seed; returns how many rounds the revealed seed decided.
    pub async fn rotate_seed(&self, player: i64, seed: &ActiveSeed) -> Result<u64, BotDbError> {
        sqlx::query("UPDATE bot_fair_seeds SET revealed_at = $1 WHERE seed_hash = $2 AND revealed_at IS NULL")
            .bind(now_micros())
            .bind(&seed.seed_hash)
            .execute(&self.pool)
            .await?;
        let rounds = to_u64(self.rounds_of(&seed.seed_hash).await?);
        self.insert_seed(player, &seed.client_seed).await?;
        Ok(rounds)
    }

    /// Closes the pool (before a scratch database is dropped).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The stream of the player a payment was credited to (a read of the ledger's
    /// payment index; nothing here writes to the ledger).
    pub async fn deposit_stream(
        &self,
        method: &str,
        external_ref: &str,
    ) -> Result<Option<String>, BotDbError> {
        let row = sqlx::query(
            "SELECT stream_id FROM ledger_deposit_refs WHERE method = $1 AND external_ref = $2",
        )
        .bind(method)
        .bind(external_ref)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("stream_id")).transpose()?)
    }

    /// The highest update id recorded below 2^31 (0 when none): simulations start above
    /// it. (Telegram's ids are 32-bit; anything larger was not understood.)
    pub async fn last_update_id(&self) -> Result<i64, BotDbError> {
        Ok(sqlx::query("SELECT COALESCE(MAX(update_id), 0) AS last FROM bot_inbox WHERE update_id < 2147483647")
            .fetch_one(&self.pool)
            .await?
            .try_get("last")?)
    }

    // ---- conversation sessions (a cache of the session streams; the log is the truth) ----

    /// The cached state of the current session of (chat, user), and when it was last
    /// active (micros).
    pub async fn session_snapshot(
        &self,
        chat: i64,
        user: i64,
    ) -> Result<Option<(SessionState, i64)>, BotDbError> {
        let row = sqlx::query(
            "SELECT state, last_activity FROM bot_sessions WHERE chat_id = $1 AND user_id = $2",
        )
        .bind(chat)
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let text: String = row.try_get("state")?;
            let last_activity: i64 = row.try_get("last_activity")?;
            let state = serde_json::from_str(&text)
                .map_err(|e| BotDbError::Corrupt(format!("session of chat {chat}: {e}")))?;
            Ok((state, last_activity))
        })
        .transpose()
    }

    /// Caches `state` as the current session of its (chat, player), active or not, last
    /// active at `last_activity` (micros). An older version never replaces a newer one.
    pub async fn save_session(
        &self,
        state: &SessionState,
        last_activity: i64,
    ) -> Result<(), BotDbError> {
        let json = serde_json::to_string(state).expect("session state always serialises");
        sqlx::query(
            "INSERT INTO bot_sessions (chat_id, user_id, stream, version, state, last_activity, active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (chat_id, user_id) DO UPDATE SET stream = excluded.stream, version = excluded.version, \
               state = excluded.state, last_activity = excluded.last_activity, active = excluded.active \
             WHERE bot_sessions.stream <> excluded.stream OR bot_sessions.version <= excluded.version",
        )
        .bind(state.chat)
        .bind(state.player)
        .bind(&state.stream)
        .bind(i64::try_from(state.version).unwrap_or(i64::MAX))
        .bind(json)
        .bind(last_activity)
        .bind(i64::from(!state.expired))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A peer seen over MTProto (grammers' `PeerInfo` as JSON), by its Bot API chat id.
    pub async fn mtproto_peer(&self, peer_id: i64) -> Result<Option<String>, BotDbError> {
        let row = sqlx::query("SELECT info FROM bot_mtproto_peers WHERE peer_id = $1")
            .bind(peer_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("info")).transpose()?)
    }

    /// Keeps what is known of a peer seen over MTProto.
    pub async fn save_mtproto_peer(&self, peer_id: i64, info: &str) -> Result<(), BotDbError> {
        sqlx::query(
            "INSERT INTO bot_mtproto_peers (peer_id, info, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (peer_id) DO UPDATE SET info = excluded.info, updated_at = excluded.updated_at",
        )
        .bind(peer_id)
        .bind(info)
        .bind(now_micros())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Active sessions last active before `cutoff` (micros): `(chat, user, last_activity)`.
    pub async fn idle_sessions(
        &self,
        cutoff: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64, i64)>, BotDbError> {
        let rows = sqlx::query(
            "SELECT chat_id, user_id, last_activity FROM bot_sessions \
             WHERE active = 1 AND last_activity < $1 ORDER BY last_activity LIMIT $2",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("chat_id")?,
                    row.try_get("user_id")?,
                    row.try_get("last_activity")?,
                ))
            })
            .collect()
    }
}

/// A player's active (unrevealed) seed.
#[derive(Debug, Clone)]
pub struct ActiveSeed {
    pub seed_hash: String,
    pub seed: ServerSeed,
    pub client_seed: String,
    /// Whether its commitment is known to be in the log.
    pub committed: bool,
}

fn parse_seed(hex_seed: &str) -> Result<ServerSeed, BotDbError> {
    let bytes =
        hex::decode(hex_seed).map_err(|e| BotDbError::Corrupt(format!("server seed: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| BotDbError::Corrupt("server seed is not 32 bytes".to_owned()))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
