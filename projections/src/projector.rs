//! The projector: reads the log in position order from the projections' checkpoint and
//! maintains the read models, one batch per transaction, the checkpoint moved in that same
//! transaction. A crash anywhere leaves the read models exactly at their checkpoint:
//! nothing is counted twice, nothing is dropped.
//!
//! Several runners (two `croupier` processes making reports, say) may catch up at once:
//! each batch begins by moving the checkpoints from the position it read them at, and a
//! runner that finds them moved rolls back and starts again from the new position.
//!
//! The SQL serves both backends (sqlx's `Any` driver). Amounts are stored as decimal
//! strings and added up here, with `rust_decimal`.

use std::collections::BTreeMap;
use std::str::FromStr;

use ledger::session::{self, SessionEvent};
use ledger::{Account, Event};
use rust_decimal::Decimal;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::{Any, Row, Transaction};
use store::{codec, EventStore, StoreError, StoredEvent};

/// The read models this projector maintains, by checkpoint name.
pub const PROJECTIONS: [&str; 6] = [
    "balances",
    "bets",
    "deposits",
    "finance_daily",
    "house",
    "sessions",
];

/// The tables of the read models.
const TABLES: [&str; 7] = [
    "proj_balances",
    "proj_house",
    "proj_bets",
    "proj_deposits",
    "proj_finance_daily",
    "proj_finance_active",
    "proj_sessions",
];

/// Events per transaction when catching up.
pub const BATCH_SIZE: u32 = 5_000;

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
        Ok(Self { pool })
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
        loop {
            let events = store.read_all(position, batch_size).await?;
            let Some(last) = events.last() else {
                return Ok(position);
            };
            let mut tx = self.pool.begin().await?;
            // Claim the batch first: this also makes concurrent runners wait here.
            let claimed = sqlx::query(
                "UPDATE projection_checkpoints SET position = $1, updated_at = $2 WHERE position = $3",
            )
            .bind(to_i64(last.position))
            .bind(last.recorded_at)
            .bind(to_i64(position))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != PROJECTIONS.len() as u64 {
                tx.rollback().await?;
                position = self.position().await?;
                continue;
            }
            let events = decode(&events)?;
            for projection in PROJECTIONS {
                apply(projection, &mut tx, &events, "").await?;
            }
            tx.commit().await?;
            progress(last.position);
            position = last.position;
        }
    }

    /// Empties the read models and their checkpoints, to be rebuilt by `catch_up`.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projection_checkpoints SET position = 0, updated_at = 0")
            .execute(&mut *tx)
            .await?;
        for table in TABLES {
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
        let names: Vec<&str> = if names.is_empty() {
            PROJECTIONS.to_vec()
        } else {
            let mut chosen = Vec::new();
            for name in names {
                let known = PROJECTIONS.iter().find(|p| **p == name.as_str());
                chosen
                    .push(*known.ok_or_else(|| ProjectionError::UnknownProjection {
                        name: name.clone(),
                    })?);
            }
            chosen
        };
        let tables: Vec<&str> = names.iter().flat_map(|n| tables_of(n)).copied().collect();
        // The live tables first reach the head, so that the swap never moves them back.
        let target = self.catch_up(store, batch_size, |_| {}).await?;
        let postgres = self.pool.acquire().await?.backend_name() == "PostgreSQL";
        for table in &tables {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}_shadow"))
                .execute(&self.pool)
                .await?;
            let create = if postgres {
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
        while position < target {
            let events = store.read_all(position, batch_size).await?;
            let events: Vec<_> = events
                .into_iter()
                .take_while(|e| e.position <= target)
                .collect();
            let Some(last) = events.last() else { break };
            let next = last.position;
            let decoded = decode(&events)?;
            let mut tx = self.pool.begin().await?;
            for name in &names {
                apply(name, &mut tx, &decoded, "_shadow").await?;
            }
            tx.commit().await?;
            position = next;
            progress(position, target);
        }
        // The swap. Claiming the checkpoint rows makes a live runner finish its batch
        // first (and wait for this one); whatever it added since is applied to the shadow
        // tables here, so they are exactly at the checkpoints when they become live.
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projection_checkpoints SET updated_at = updated_at")
            .execute(&mut *tx)
            .await?;
        let live: Option<i64> =
            sqlx::query_scalar("SELECT min(position) FROM projection_checkpoints")
                .fetch_one(&mut *tx)
                .await?;
        let live = live.map_or(0, to_u64);
        while position < live {
            let events = store.read_all(position, batch_size).await?;
            let events: Vec<_> = events
                .into_iter()
                .take_while(|e| e.position <= live)
                .collect();
            let Some(last) = events.last() else { break };
            position = last.position;
            let decoded = decode(&events)?;
            for name in &names {
                apply(name, &mut tx, &decoded, "_shadow").await?;
            }
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

    /// The position every projection has reached.
    async fn position(&self) -> Result<u64, ProjectionError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT min(position) FROM projection_checkpoints")
                .fetch_one(&self.pool)
                .await?;
        Ok(position.map_or(0, to_u64))
    }
}

/// A batch of events, decoded, with their positions.
#[derive(Default)]
struct Batch {
    /// The events of player streams: money.
    ledger: Vec<(u64, Event)>,
    /// The events of conversation sessions, with their stream.
    sessions: Vec<(u64, String, SessionEvent)>,
}

/// Decodes the events the read models use; events of other streams are left out.
fn decode(events: &[StoredEvent]) -> Result<Batch, ProjectionError> {
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
            batch
                .sessions
                .push((stored.position, stored.stream.clone(), event));
        }
    }
    Ok(batch)
}

/// Cash and stakes in play per player and currency.
async fn apply_balances(
    tx: &mut Transaction<'_, Any>,
    events: &[(u64, Event)],
    s: &str,
) -> Result<(), ProjectionError> {
    let mut changes: BTreeMap<(i64, String), (Decimal, Decimal, u64)> = BTreeMap::new();
    for (position, event) in events {
        for posting in event.postings() {
            let key = (event.player().get(), posting.currency.to_string());
            let change = changes.entry(key).or_default();
            match posting.account {
                Account::PlayerCash(_) => change.0 += posting.amount,
                Account::BetsInPlay => change.1 += posting.amount,
                _ => continue,
            }
            change.2 = *position;
        }
    }
    for ((player, currency), (cash, in_play, position)) in changes {
        let row = sqlx::query(&sql(
            "SELECT balance, in_play FROM proj_balances{s} WHERE player = $1 AND currency = $2",
            s,
        ))
        .bind(player)
        .bind(&currency)
        .fetch_optional(&mut **tx)
        .await?;
        let (balance, staked) = match row {
            Some(row) => (
                amount(row.try_get("balance")?)?,
                amount(row.try_get("in_play")?)?,
            ),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        sqlx::query(&sql(
            "INSERT INTO proj_balances{s} (player, currency, balance, in_play, last_position) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (player, currency) DO UPDATE SET \
             balance = excluded.balance, in_play = excluded.in_play, \
             last_position = excluded.last_position",
            s,
        ))
        .bind(player)
        .bind(&currency)
        .bind((balance + cash).to_string())
        .bind((staked + in_play).to_string())
        .bind(to_i64(position))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Every account but player cash: house, clearing and external accounts.
async fn apply_house(
    tx: &mut Transaction<'_, Any>,
    events: &[(u64, Event)],
    s: &str,
) -> Result<(), ProjectionError> {
    let mut changes: BTreeMap<(String, String), (Decimal, u64)> = BTreeMap::new();
    for (position, event) in events {
        for posting in event.postings() {
            if matches!(posting.account, Account::PlayerCash(_)) {
                continue;
            }
            let change = changes
                .entry((posting.account.to_string(), posting.currency.to_string()))
                .or_default();
            change.0 += posting.amount;
            change.1 = *position;
        }
    }
    for ((account, currency), (delta, position)) in changes {
        let balance: Option<String> = sqlx::query_scalar(&sql(
            "SELECT balance FROM proj_house{s} WHERE account = $1 AND currency = $2",
            s,
        ))
        .bind(&account)
        .bind(&currency)
        .fetch_optional(&mut **tx)
        .await?;
        let balance = balance.map(amount).transpose()?.unwrap_or_default();
        sqlx::query(&sql(
            "INSERT INTO proj_house{s} (account, currency, balance, last_position) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account, currency) DO UPDATE SET \
             balance = excluded.balance, last_position = excluded.last_position",
            s,
        ))
        .bind(&account)
        .bind(&currency)
        .bind((balance + delta).to_string())
        .bind(to_i64(position))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Every round, as it is placed and closed.
async fn apply_bets(
    tx: &mut Transaction<'_, Any>,
    events: &[(u64, Event)],
    s: &str,
) -> Result<(), ProjectionError> {
    for (position, event) in events {
        let position = to_i64(*position);
        match event {
            Event::BetPlaced(e) => {
                sqlx::query(&sql(
                    "INSERT INTO proj_bets{s} (player, bet_id, game, currency, stake, status, \
                     placed_at, placed_position) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)",
                    s,
                ))
                .bind(e.player.get())
                .bind(e.bet_id.as_str())
                .bind(e.game.as_str())
                .bind(e.currency.as_str())
                .bind(e.stake.to_string())
                .bind(e.at.as_micros())
                .bind(position)
                .execute(&mut **tx)
                .await?;
            }
            Event::BetSettled(e) => {
                let closing = Closing {
                    status: "settled",
                    payout: Some(e.payout),
                    at: e.at.as_micros(),
                    position,
                };
                close_bet(tx, s, e.player.get(), e.bet_id.as_str(), closing).await?;
            }
            Event::BetVoided(e) => {
                let closing = Closing {
                    status: "voided",
                    payout: None,
                    at: e.at.as_micros(),
                    position,
                };
                close_bet(tx, s, e.player.get(), e.bet_id.as_str(), closing).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// How a bet closed.
struct Closing {
    status: &'static str,
    payout: Option<Decimal>,
    at: i64,
    position: i64,
}

async fn close_bet(
    tx: &mut Transaction<'_, Any>,
    s: &str,
    player: i64,
    bet_id: &str,
    closing: Closing,
) -> Result<(), ProjectionError> {
    let Closing {
        status,
        payout,
        at,
        position,
    } = closing;
    sqlx::query(&sql(
        "UPDATE proj_bets{s} SET status = $1, payout = $2, closed_at = $3, closed_position = $4 \
         WHERE player = $5 AND bet_id = $6",
        s,
    ))
    .bind(status)
    .bind(payout.map(|p| p.to_string()))
    .bind(at)
    .bind(position)
    .bind(player)
    .bind(bet_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every deposit, credited and perhaps refunded.
async fn apply_deposits(
    tx: &mut Transaction<'_, Any>,
    events: &[(u64, Event)],
    s: &str,
) -> Result<(), ProjectionError> {
    for (position, event) in events {
        let position = to_i64(*position);
        match event {
            Event::Deposited(e) => {
                sqlx::query(
                    &sql("INSERT INTO proj_deposits{s} (method, external_ref, player, amount, currency, \
                     status, credited_at, credited_position) \
                     VALUES ($1, $2, $3, $4, $5, 'credited', $6, $7)", s),
                )
                .bind(e.method.as_str())
                .bind(e.external_ref.as_str())
                .bind(e.player.get())
                .bind(e.amount.to_string())
                .bind(e.currency.as_str())
                .bind(e.at.as_micros())
                .bind(position)
                .execute(&mut **tx)
                .await?;
            }
            Event::DepositRefunded(e) => {
                sqlx::query(&sql(
                    "UPDATE proj_deposits{s} SET status = 'refunded', refunded_at = $1, \
                     refunded_position = $2 WHERE method = $3 AND external_ref = $4",
                    s,
                ))
                .bind(e.at.as_micros())
                .bind(position)
                .bind(e.method.as_str())
                .bind(e.external_ref.as_str())
                .execute(&mut **tx)
                .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// One UTC day's totals in one currency.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Day {
    pub(crate) deposits: Decimal,
    pub(crate) refunds: Decimal,
    pub(crate) stakes: Decimal,
    pub(crate) payouts: Decimal,
    pub(crate) bets: i64,
}

/// What events add to `finance_daily`, per (UTC day, currency), and who was active on
/// each: the projection adds it up batch by batch, the auditor over the whole log.
#[derive(Debug, Default)]
pub(crate) struct Finance {
    pub(crate) days: BTreeMap<(String, String), Day>,
    pub(crate) active: std::collections::BTreeSet<(String, String, i64)>,
}

impl Finance {
    pub(crate) fn add(&mut self, event: &Event) {
        let key = (
            crate::time::day(event.at().as_micros()),
            event.currency().to_string(),
        );
        self.active
            .insert((key.0.clone(), key.1.clone(), event.player().get()));
        let day = self.days.entry(key).or_default();
        match event {
            Event::Deposited(e) => day.deposits += e.amount,
            Event::DepositRefunded(e) => day.refunds += e.amount,
            Event::BetSettled(e) => {
                day.stakes += e.stake;
                day.payouts += e.payout;
                day.bets += 1;
            }
            _ => {}
        }
    }

    /// Active players per (day, currency).
    pub(crate) fn active_players(&self) -> BTreeMap<(String, String), i64> {
        let mut counts = BTreeMap::new();
        for (day, currency, _) in &self.active {
            *counts.entry((day.clone(), currency.clone())).or_default() += 1;
        }
        counts
    }
}

async fn apply_finance_daily(
    tx: &mut Transaction<'_, Any>,
    events: &[(u64, Event)],
    s: &str,
) -> Result<(), ProjectionError> {
    let mut finance = Finance::default();
    for (_, event) in events {
        finance.add(event);
    }
    let Finance { days, active } = finance;
    for (day, currency, player) in &active {
        sqlx::query(&sql(
            "INSERT INTO proj_finance_active{s} (day, currency, player) VALUES ($1, $2, $3) \
             ON CONFLICT (day, currency, player) DO NOTHING",
            s,
        ))
        .bind(day)
        .bind(currency)
        .bind(*player)
        .execute(&mut **tx)
        .await?;
    }
    for ((day, currency), change) in days {
        let row = sqlx::query(&sql(
            "SELECT deposits, refunds, stakes, payouts, bets FROM proj_finance_daily{s} \
             WHERE day = $1 AND currency = $2",
            s,
        ))
        .bind(&day)
        .bind(&currency)
        .fetch_optional(&mut **tx)
        .await?;
        let mut total = Day::default();
        if let Some(row) = row {
            total.deposits = amount(row.try_get("deposits")?)?;
            total.refunds = amount(row.try_get("refunds")?)?;
            total.stakes = amount(row.try_get("stakes")?)?;
            total.payouts = amount(row.try_get("payouts")?)?;
            total.bets = row.try_get("bets")?;
        }
        total.deposits += change.deposits;
        total.refunds += change.refunds;
        total.stakes += change.stakes;
        total.payouts += change.payouts;
        total.bets += change.bets;
        let active_players: i64 = sqlx::query_scalar(&sql(
            "SELECT count(*) FROM proj_finance_active{s} WHERE day = $1 AND currency = $2",
            s,
        ))
        .bind(&day)
        .bind(&currency)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(
            &sql("INSERT INTO proj_finance_daily{s} (day, currency, deposits, refunds, stakes, payouts, \
             ggr, bets, active_players) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (day, currency) DO UPDATE SET deposits = excluded.deposits, \
             refunds = excluded.refunds, stakes = excluded.stakes, payouts = excluded.payouts, \
             ggr = excluded.ggr, bets = excluded.bets, active_players = excluded.active_players", s),
        )
        .bind(&day)
        .bind(&currency)
        .bind(total.deposits.to_string())
        .bind(total.refunds.to_string())
        .bind(total.stakes.to_string())
        .bind(total.payouts.to_string())
        .bind((total.stakes - total.payouts).to_string())
        .bind(total.bets)
        .bind(active_players)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Conversation sessions and their play sessions' counts.
async fn apply_sessions(
    tx: &mut Transaction<'_, Any>,
    events: &[(u64, String, SessionEvent)],
    s: &str,
) -> Result<(), ProjectionError> {
    for (position, stream, event) in events {
        let at = event.at().as_micros();
        let position = to_i64(*position);
        match event {
            SessionEvent::Started(started) => {
                let number = session::parse_stream(stream).map_or(0, |(_, _, n)| n);
                sqlx::query(&sql(
                    "INSERT INTO proj_sessions{s} (stream, chat_id, player, number, state, status,                      started_at, last_activity_at, bets, wagered, won, started_position, last_position)                      VALUES ($1, $2, $3, $4, 'idle', 'active', $5, $5, 0, '0', '0', $6, $6)",
                    s,
                ))
                .bind(stream)
                .bind(started.chat)
                .bind(started.player)
                .bind(to_i64(number))
                .bind(at)
                .bind(position)
                .execute(&mut **tx)
                .await?;
            }
            SessionEvent::Moved(moved) => {
                sqlx::query(&sql(
                    "UPDATE proj_sessions{s} SET state = $1, last_activity_at = $2, last_position = $3                      WHERE stream = $4",
                    s,
                ))
                .bind(moved.to.step())
                .bind(at)
                .bind(position)
                .bind(stream)
                .execute(&mut **tx)
                .await?;
            }
            SessionEvent::Bet(bet) => {
                let row = sqlx::query(&sql(
                    "SELECT wagered, won FROM proj_sessions{s} WHERE stream = $1",
                    s,
                ))
                .bind(stream)
                .fetch_one(&mut **tx)
                .await?;
                let wagered = amount(row.try_get("wagered")?)? + bet.stake;
                let won = amount(row.try_get("won")?)? + bet.payout;
                sqlx::query(&sql(
                    "UPDATE proj_sessions{s} SET bets = bets + 1, wagered = $1, won = $2,                      play_started_at = COALESCE(play_started_at, $3), last_activity_at = $3,                      last_position = $4 WHERE stream = $5",
                    s,
                ))
                .bind(wagered.to_string())
                .bind(won.to_string())
                .bind(at)
                .bind(position)
                .bind(stream)
                .execute(&mut **tx)
                .await?;
            }
            SessionEvent::Expired(expired) => {
                sqlx::query(&sql(
                    "UPDATE proj_sessions{s} SET status = 'expired', ended_at = $1,                      last_activity_at = $2, last_position = $3 WHERE stream = $4",
                    s,
                ))
                .bind(at)
                .bind(expired.last_activity.as_micros())
                .bind(position)
                .bind(stream)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// Applies `events` to one projection's tables, named with `suffix` (`""` for the live
/// tables, `"_shadow"` while rebuilding).
async fn apply(
    projection: &str,
    tx: &mut Transaction<'_, Any>,
    batch: &Batch,
    suffix: &str,
) -> Result<(), ProjectionError> {
    let events = &batch.ledger;
    match projection {
        "sessions" => apply_sessions(tx, &batch.sessions, suffix).await,
        "balances" => apply_balances(tx, events, suffix).await,
        "house" => apply_house(tx, events, suffix).await,
        "bets" => apply_bets(tx, events, suffix).await,
        "deposits" => apply_deposits(tx, events, suffix).await,
        "finance_daily" => apply_finance_daily(tx, events, suffix).await,
        other => unreachable!("no projection named {other}"),
    }
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

/// `template` with `{s}` replaced by the table suffix.
fn sql(template: &str, suffix: &str) -> String {
    template.replace("{s}", suffix)
}

pub(crate) fn amount(text: String) -> Result<Decimal, ProjectionError> {
    Decimal::from_str(&text).map_err(|_| ProjectionError::NotAnAmount { value: text })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).expect("positions are below 2^63")
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
