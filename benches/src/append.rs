//! `croupier bench append`: how fast the configured database commits ledger events.
//!
//! These machines are small and noisy, so the headline is a ratio: committed events/s
//! through group commit against a raw multi-row INSERT of rows of the same shape, into a
//! table with the same indexes, measured in the same run (in alternating one-second
//! slices, because the disk's speed comes and goes). It also reports submit latency
//! at half the peak and the SQLite figure. Everything runs in a scratch database
//! (PostgreSQL) or a temp file (SQLite) made here and dropped at the end, so the ledger's
//! own data is never touched. A missed target is reported, never turned into a failure:
//! this is a measuring tool, not a test.

use std::collections::VecDeque;
use std::future::Future;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use ledger::command::Request;
use ledger::{BetId, Command, CurrencyCode, ExternalRef, GameId, IdempotencyKey, Ledger};
use ledger::{PaymentMethod, PlayerId};
use rust_decimal::Decimal;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Encode, PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, Type};
use store::Submission;
use store::{EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, PgStore, SqliteStore};
use tokio::task::JoinSet;

use store::Database;

/// Not counted: lets connections, caches and the deposits settle first.
const WARM_UP: Duration = Duration::from_secs(1);
const SINGLE_ROW_TIME: Duration = Duration::from_secs(2);
/// Players of the latency phase get their own ids, so no state is caught up mid-measure.
const LATENCY_FIRST_PLAYER: i64 = 1_000_001;
const TARGET_RATIO: f64 = 0.5;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_SQLITE: f64 = 20_000.0;

#[derive(clap::Args)]
pub struct AppendArgs {
    /// Concurrent simulated players, each with one command in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    players: u16,
    /// Seconds each measured phase runs (after a 1 s warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy)]
struct Run {
    players: usize,
    time: Duration,
}

#[derive(serde::Serialize)]
struct Report {
    backend: &'static str,
    players: usize,
    seconds: u64,
    events_per_s: f64,
    raw_rows_per_s: f64,
    raw_batch_rows: usize,
    raw_single_row_per_s: f64,
    ratio: f64,
    events_per_commit: f64,
    durability: String,
    p50_ms: f64,
    p99_ms: f64,
    latency_offered_commands_per_s: f64,
    latency_starts_skipped: u64,
    sqlite_events_per_s: f64,
}

pub async fn append(database: &Database, url: &str, args: AppendArgs) -> anyhow::Result<ExitCode> {
    let run = Run {
        players: usize::from(args.players),
        time: Duration::from_secs(args.seconds),
    };
    let report = match database {
        Database::Postgres(admin) => {
            let main = in_pg_scratch(admin.pool(), url, |s, _| {
                let raw = Raw::Pg(s.pool().clone());
                main_figures(s, raw, run, "PostgreSQL", args.seconds)
            })
            .await?;
            progress("SQLite: append phase on a temp file");
            let sqlite = in_sqlite_scratch(|s, _| append_phase(s, run, None)).await?;
            Report {
                sqlite_events_per_s: sqlite.events_per_s,
                ..main
            }
        }
        Database::Sqlite(_) => {
            in_sqlite_scratch(|s, _| {
                let raw = Raw::Sqlite(s.pool().clone());
                main_figures(s, raw, run, "SQLite", args.seconds)
            })
            .await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Append phase with the raw baseline, then latency, on one scratch store.
async fn main_figures<S: EventStore>(
    store: S,
    raw: Raw,
    run: Run,
    backend: &'static str,
    seconds: u64,
) -> anyhow::Result<Report> {
    progress(&format!(
        "{backend}: appends ({} players) alternating with raw INSERTs",
        run.players
    ));
    let appended = append_phase(store.clone(), run, Some(&raw)).await?;
    let raw = appended.raw.context("the raw baseline did not run")?;
    let offered = appended.events_per_s / 2.0 / appended.events_per_command;
    progress(&format!("{backend}: latency at {offered:.0} commands/s"));
    let latency = latency_phase(store, run, offered).await?;
    Ok(Report {
        backend,
        players: run.players,
        seconds,
        events_per_s: appended.events_per_s,
        raw_rows_per_s: raw.rows_per_s,
        raw_batch_rows: run.players,
        raw_single_row_per_s: raw.single_row_per_s,
        ratio: appended.events_per_s / raw.rows_per_s,
        events_per_commit: raw.events_per_commit,
        durability: raw.durability,
        p50_ms: latency.p50_ms,
        p99_ms: latency.p99_ms,
        latency_offered_commands_per_s: offered,
        latency_starts_skipped: latency.skipped,
        sqlite_events_per_s: appended.events_per_s,
    })
}

/// A simulated player: one deposit, then rounds of `place_bet` and `settle_bet`.
struct Player {
    id: PlayerId,
    seq: u64,
    open_bet: Option<(BetId, Decimal)>,
    rng: u64,
}

impl Player {
    fn new(id: i64) -> anyhow::Result<Self> {
        Ok(Self {
            id: PlayerId::new(id)?,
            seq: 0,
            open_bet: None,
            // xorshift must not start at zero.
            rng: uuid::Uuid::new_v4().as_u64_pair().0 | 1,
        })
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn request(&mut self, command: Command) -> anyhow::Result<Request> {
        self.seq += 1;
        let key = IdempotencyKey::new(format!("bench-{}-{}", self.id, self.seq))?;
        Ok(Request {
            idempotency_key: key,
            command,
        })
    }

    fn deposit(&mut self) -> anyhow::Result<Request> {
        let command = Command::Deposit {
            player: self.id,
            amount: Decimal::from(10_000_000),
            currency: CurrencyCode::xtr(),
            method: PaymentMethod::telegram_stars(),
            external_ref: ExternalRef::new(format!("bench-charge-{}", uuid::Uuid::new_v4()))?,
        };
        self.request(command)
    }

    /// The next command of the round. Its outcome must be accepted, or the bench stops.
    fn next(&mut self) -> anyhow::Result<Request> {
        let command = match self.open_bet.take() {
            Some((bet_id, stake)) => Command::SettleBet {
                player: self.id,
                bet_id,
                payout: if self.random().is_multiple_of(2) {
                    Decimal::ZERO
                } else {
                    stake * Decimal::TWO
                },
                roll: None,
            },
            None => {
                let bet_id = BetId::new(format!("bet-{}", self.seq + 1))?;
                let stake = Decimal::from(1 + self.random() % 5);
                self.open_bet = Some((bet_id.clone(), stake));
                Command::PlaceBet {
                    player: self.id,
                    bet_id,
                    game: GameId::new("dice")?,
                    stake,
                    currency: CurrencyCode::xtr(),
                    fair: None,
                }
            }
        };
        self.request(command)
    }
}

/// Submits and returns the number of events committed. Every command of the bench is
/// valid, so anything but an acceptance is a bug worth failing for.
async fn submit(ledger: &GroupCommit, request: Request) -> anyhow::Result<u64> {
    let kind = request.command.kind();
    let mut submission = Submission::new(request);
    // Metadata of the size a bot's command carries.
    submission.actor = Some("bench".to_owned());
    submission.causation = Some("telegram_update:123456789".to_owned());
    let outcome = ledger
        .submit(submission)
        .await
        .with_context(|| format!("{kind} failed"))?;
    match outcome.kind {
        OutcomeKind::Accepted => Ok(u64::try_from(outcome.events.len())?),
        other => bail!("{kind} was not accepted ({other:?}): a bug in the store or the bench"),
    }
}

struct Appended {
    events_per_s: f64,
    events_per_command: f64,
    raw: Option<RawFigures>,
}

struct RawFigures {
    rows_per_s: f64,
    single_row_per_s: f64,
    /// Mean events per transaction the store formed (one `recorded_at` per batch):
    /// shows how well group commit batched.
    events_per_commit: f64,
    durability: String,
}

/// The simulated players of a phase, each on its own task, gated by `running`.
struct Players {
    tasks: JoinSet<anyhow::Result<()>>,
    running: tokio::sync::watch::Sender<bool>,
    in_flight: Arc<AtomicUsize>,
    events: Arc<AtomicU64>,
    commands: Arc<AtomicU64>,
}

impl Players {
    /// Closed loop: every player submits its next command as soon as the last one is
    /// answered, so the writer always has up to `players` commands to batch.
    fn start(ledger: &GroupCommit, run: Run, first_id: i64) -> anyhow::Result<Self> {
        let mut players = Self {
            tasks: JoinSet::new(),
            running: tokio::sync::watch::channel(true).0,
            in_flight: Arc::default(),
            events: Arc::default(),
            commands: Arc::default(),
        };
        for i in 0..run.players {
            let mut player = Player::new(first_id + i64::try_from(i)?)?;
            let (ledger, mut running) = (ledger.clone(), players.running.subscribe());
            let (in_flight, events) = (players.in_flight.clone(), players.events.clone());
            let commands = players.commands.clone();
            players.tasks.spawn(async move {
                submit(&ledger, player.deposit()?).await?;
                loop {
                    // Counted before looking at the gate, so a pause never misses a
                    // command that is about to start.
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    if !*running.borrow() {
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        if running.wait_for(|r| *r).await.is_err() {
                            return Ok(()); // the phase is over
                        }
                        continue;
                    }
                    let committed = submit(&ledger, player.next()?).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    events.fetch_add(committed?, Ordering::Relaxed);
                    commands.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        Ok(players)
    }

    /// Runs the players for `time`; returns (events, commands, elapsed).
    async fn run_for(&mut self, time: Duration) -> anyhow::Result<(u64, u64, Duration)> {
        self.running.send_replace(true);
        let (start, (events, commands)) = (Instant::now(), self.counted());
        sleep_watching(&mut self.tasks, time).await?;
        let (end, (events_end, commands_end)) = (Instant::now(), self.counted());
        self.pause().await?;
        Ok((events_end - events, commands_end - commands, end - start))
    }

    fn counted(&self) -> (u64, u64) {
        let events = self.events.load(Ordering::Relaxed);
        (events, self.commands.load(Ordering::Relaxed))
    }

    /// Stops new commands and waits until the writer has answered those in flight, so
    /// a raw slice that follows has the database to itself.
    async fn pause(&mut self) -> anyhow::Result<()> {
        self.running.send_replace(false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            ensure!(
                Instant::now() < deadline,
                "commands in flight did not finish in 60 s"
            );
            sleep_watching(&mut self.tasks, Duration::from_millis(1)).await?;
        }
        Ok(())
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.running.send_replace(false);
        drop(self.running);
        while let Some(done) = self.tasks.join_next().await {
            done.context("a player task panicked")??;
        }
        Ok(())
    }
}

/// The append phase, and with `raw` the raw baseline: the disk of these machines is
/// bursty, so appends and raw INSERTs alternate in one-second slices (players paused
/// during raw slices) and both see the same disk. Without `raw`, one slice of `time`.
async fn append_phase<S: EventStore>(
    store: S,
    run: Run,
    raw: Option<&Raw>,
) -> anyhow::Result<Appended> {
    let ledger = GroupCommit::start(store, Ledger::default(), GroupCommitConfig::default());
    let mut players = Players::start(&ledger, run, 1)?;
    drop(ledger);
    sleep_watching(&mut players.tasks, WARM_UP).await?;
    players.pause().await?;
    let mut table = match raw {
        Some(raw) => Some(RawTable::create(raw, run.players).await?),
        None => None,
    };
    let slices = if table.is_some() {
        run.time.as_secs().max(1)
    } else {
        1
    };
    let slice = run.time / u32::try_from(slices)?;
    let (mut events, mut commands, mut append_time) = (0, 0, Duration::ZERO);
    let (mut rows, mut raw_time) = (0, Duration::ZERO);
    for _ in 0..slices {
        let (e, c, t) = players.run_for(slice).await?;
        (events, commands, append_time) = (events + e, commands + c, append_time + t);
        if let Some(table) = &mut table {
            let (r, t) = table.insert_for(run.players, slice).await?;
            (rows, raw_time) = (rows + r, raw_time + t);
        }
    }
    players.stop().await?;
    ensure!(commands > 0, "no command completed in {append_time:?}");
    let raw = match table {
        Some(mut table) => {
            let (single, single_time) = table.insert_for(1, SINGLE_ROW_TIME).await?;
            Some(RawFigures {
                rows_per_s: rows as f64 / raw_time.as_secs_f64(),
                single_row_per_s: single as f64 / single_time.as_secs_f64(),
                events_per_commit: table.events_per_commit().await?,
                durability: table.durability,
            })
        }
        None => None,
    };
    Ok(Appended {
        events_per_s: events as f64 / append_time.as_secs_f64(),
        events_per_command: events as f64 / commands as f64,
        raw,
    })
}

/// Sleeps, but fails at once when a player stops: players only stop on errors.
async fn sleep_watching(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    time: Duration,
) -> anyhow::Result<()> {
    tokio::select! {
        () = tokio::time::sleep(time) => Ok(()),
        Some(done) = tasks.join_next() => {
            done.context("a player task panicked")??;
            bail!("a player stopped early")
        }
    }
}

/// A scratch pool for the raw baseline.
enum Raw {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

enum RawConn {
    Pg(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

/// The bytes of a real event, reused so raw rows have the size of real ones.
#[derive(sqlx::FromRow)]
struct Sample {
    event_type: String,
    schema_version: i64,
    payload: Vec<u8>,
    metadata: Vec<u8>,
    recorded_at: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

const SAMPLE_SQL: &str =
    "SELECT event_type, schema_version, payload, metadata, recorded_at, prev_hash, hash \
     FROM ledger_events ORDER BY position DESC LIMIT 1000";

const COMMIT_SIZE_SQL: &str =
    "SELECT CAST(count(*) AS DOUBLE PRECISION) / count(DISTINCT recorded_at) FROM ledger_events";

/// `raw_events`: the columns, checks, primary key and unique index of `ledger_events`,
/// without its triggers, written on one connection.
struct RawTable {
    conn: RawConn,
    samples: Vec<Sample>,
    position: i64,
    players: i64,
    durability: String,
}

impl RawTable {
    async fn create(raw: &Raw, players: usize) -> anyhow::Result<Self> {
        let (conn, samples, durability) = match raw {
            Raw::Pg(pool) => {
                let mut c = pool.acquire().await?;
                sqlx::raw_sql("CREATE TABLE raw_events (LIKE ledger_events INCLUDING ALL)")
                    .execute(&mut *c)
                    .await?;
                let level: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(&mut *c)
                    .await?;
                let samples = sqlx::query_as(SAMPLE_SQL).fetch_all(&mut *c).await?;
                (
                    RawConn::Pg(c),
                    samples,
                    format!("synchronous_commit={level}"),
                )
            }
            Raw::Sqlite(pool) => {
                let mut c = pool.acquire().await?;
                sqlx::raw_sql(
                    "CREATE TABLE raw_events (position INTEGER PRIMARY KEY CHECK (position > 0), \
                     stream_id TEXT NOT NULL, version INTEGER NOT NULL CHECK (version > 0), \
                     event_type TEXT NOT NULL, schema_version INTEGER NOT NULL CHECK (schema_version > 0), \
                     payload BLOB NOT NULL, metadata BLOB NOT NULL, recorded_at INTEGER NOT NULL, \
                     prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32), \
                     hash BLOB NOT NULL CHECK (length(hash) = 32), UNIQUE (stream_id, version))",
                )
                .execute(&mut *c)
                .await?;
                let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(&mut *c)
                    .await?;
                let level = ["OFF", "NORMAL", "FULL", "EXTRA"].get(usize::try_from(level)?);
                let samples = sqlx::query_as(SAMPLE_SQL).fetch_all(&mut *c).await?;
                (
                    RawConn::Sqlite(c),
                    samples,
                    format!("synchronous={}", level.unwrap_or(&"?")),
                )
            }
        };
        ensure!(!samples.is_empty(), "the warm-up left no events to copy");
        Ok(Self {
            conn,
            samples,
            position: 0,
            players: i64::try_from(players)?,
            durability,
        })
    }

    /// Inserts `batch` rows per statement, each its own committed transaction, for
    /// `time`; returns the rows and the time taken.
    async fn insert_for(
        &mut self,
        batch: usize,
        time: Duration,
    ) -> anyhow::Result<(u64, Duration)> {
        let (start, mut rows) = (Instant::now(), 0);
        while start.elapsed() < time {
            let (samples, after, players) = (&self.samples, self.position, self.players);
            match &mut self.conn {
                RawConn::Pg(c) => {
                    let mut query = raw_insert::<Postgres>(samples, after, batch, players);
                    query.build().execute(&mut **c).await?;
                }
                RawConn::Sqlite(c) => {
                    let mut query = raw_insert::<Sqlite>(samples, after, batch, players);
                    query.build().execute(&mut **c).await?;
                }
            }
            self.position += i64::try_from(batch)?;
            rows += u64::try_from(batch)?;
        }
        Ok((rows, start.elapsed()))
    }

    async fn events_per_commit(&mut self) -> anyhow::Result<f64> {
        Ok(match &mut self.conn {
            RawConn::Pg(c) => {
                sqlx::query_scalar(COMMIT_SIZE_SQL)
                    .fetch_one(&mut **c)
                    .await?
            }
            RawConn::Sqlite(c) => {
                sqlx::query_scalar(COMMIT_SIZE_SQL)
                    .fetch_one(&mut **c)
                    .await?
            }
        })
    }
}

/// One multi-row INSERT of `batch` rows after position `after`, spread over `players`
/// streams as the append phase spreads them.
fn raw_insert<'a, DB: sqlx::Database>(
    samples: &'a [Sample],
    after: i64,
    batch: usize,
    players: i64,
) -> QueryBuilder<'a, DB>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(
        "INSERT INTO raw_events (position, stream_id, version, event_type, schema_version, \
         payload, metadata, recorded_at, prev_hash, hash) ",
    );
    query.push_values(
        samples.iter().cycle().zip(after..).take(batch),
        |mut row, (sample, index)| {
            row.push_bind(index + 1)
                .push_bind(format!("player-{}", index % players + 1))
                .push_bind(index / players + 1)
                .push_bind(sample.event_type.as_str())
                .push_bind(sample.schema_version)
                .push_bind(sample.payload.as_slice())
                .push_bind(sample.metadata.as_slice())
                .push_bind(sample.recorded_at)
                .push_bind(sample.prev_hash.as_slice())
                .push_bind(sample.hash.as_slice());
        },
    );
    query
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    skipped: u64,
}

/// Open loop: a ticker starts commands at a fixed rate, each on an idle player (rounds
/// stay in order per player); a start that finds every player busy is skipped and
/// counted, so a stall shows up in the report instead of silently lowering the load.
async fn latency_phase<S: EventStore>(
    store: S,
    run: Run,
    commands_per_s: f64,
) -> anyhow::Result<Latency> {
    ensure!(
        commands_per_s.is_finite() && commands_per_s > 0.0,
        "no peak to take half of"
    );
    let ledger = GroupCommit::start(store, Ledger::default(), GroupCommitConfig::default());
    // Deposits first, outside the clock: they are not what a round costs.
    let mut idle = VecDeque::new();
    for i in 0..run.players {
        idle.push_back(Player::new(LATENCY_FIRST_PLAYER + i64::try_from(i)?)?);
    }
    let deposits = idle
        .iter_mut()
        .map(|p| p.deposit())
        .collect::<anyhow::Result<Vec<_>>>()?;
    futures_util::future::try_join_all(deposits.into_iter().map(|d| submit(&ledger, d))).await?;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let period = Duration::from_secs_f64(1.0 / commands_per_s);
    let (mut latencies, mut skipped, mut in_flight) = (Vec::new(), 0_u64, 0_usize);
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start = Instant::now();
    let (end, mut next) = (start + WARM_UP + run.time, start);
    while Instant::now() < end {
        tokio::select! {
            _ = ticker.tick() => {
                let now = Instant::now();
                while next <= now {
                    next += period;
                    let Some(mut player) = idle.pop_front() else {
                        skipped += u64::from(now >= start + WARM_UP);
                        continue;
                    };
                    let (request, ledger, done_tx) = (player.next()?, ledger.clone(), done_tx.clone());
                    in_flight += 1;
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let result = submit(&ledger, request).await;
                        let _ = done_tx.send(result.map(|_| (player, started, started.elapsed())));
                    });
                }
            }
            Some(done) = done_rx.recv() => {
                let (player, started, latency) = done?;
                in_flight -= 1;
                if started >= start + WARM_UP {
                    latencies.push(latency);
                }
                idle.push_back(player);
            }
        }
    }
    for _ in 0..in_flight {
        let (_, _, latency) = done_rx.recv().await.context("a latency task vanished")??;
        latencies.push(latency);
    }
    ensure!(
        !latencies.is_empty(),
        "no command completed in the latency phase"
    );
    latencies.sort_unstable();
    // Nearest rank: the smallest latency at or above `percent` of the samples.
    let rank = |percent: usize| {
        latencies[(latencies.len() * percent).div_ceil(100) - 1].as_secs_f64() * 1000.0
    };
    Ok(Latency {
        p50_ms: rank(50),
        p99_ms: rank(99),
        skipped,
    })
}

/// Runs `work` on a fresh PostgreSQL database next to the configured one, then drops it,
/// also when `work` fails or the user interrupts.
pub async fn in_pg_scratch<T, Fut>(
    admin: &PgPool,
    url: &str,
    work: impl FnOnce(PgStore, String) -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let name = format!("croupier_bench_{}", uuid::Uuid::new_v4().simple());
    let scratch_url = with_database(url, &name)?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(admin)
        .await
        .with_context(|| {
            format!("cannot create scratch database {name} (the user needs CREATEDB)")
        })?;
    progress(&format!("created scratch database {name}"));
    let result = async {
        // The figures are for durable commits, whatever the server's default.
        sqlx::raw_sql(&format!(
            "ALTER DATABASE {name} SET synchronous_commit = on"
        ))
        .execute(admin)
        .await
        .context("cannot set synchronous_commit on the scratch database")?;
        let store = PgStore::connect(&scratch_url)
            .await
            .context("cannot connect to the scratch database")?;
        let result = migrated(store.clone(), |s| work(s, scratch_url.clone())).await;
        store.pool().close().await;
        result
    }
    .await;
    // FORCE: a task cut short by an error may still hold a connection.
    match sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin)
        .await
    {
        Ok(_) => progress(&format!("dropped scratch database {name}")),
        Err(e) => eprintln!("warning: cannot drop scratch database {name}: {e}; drop it by hand"),
    }
    result
}

/// The configured URL with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let authority = url.find("://").context("the database url has no scheme")? + 3;
    let (base, query) = url.split_at(
        url[authority..]
            .find('?')
            .map_or(url.len(), |i| authority + i),
    );
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let scratch = format!("{}/{name}{query}", &base[..path]);
    // Never run against the ledger's own database: ask the driver where it will connect
    // (a `dbname` query parameter would override the path).
    let options =
        PgConnectOptions::from_str(&scratch).context("cannot build the scratch database url")?;
    ensure!(
        options.get_database() == Some(name),
        "cannot point the database url at a scratch database; remove any dbname parameter"
    );
    Ok(scratch)
}

/// Runs `work` on a fresh SQLite file in the temp directory, then removes it.
pub async fn in_sqlite_scratch<T, Fut>(
    work: impl FnOnce(SqliteStore, String) -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let path = std::env::temp_dir().join(format!(
        "croupier_bench_{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let result = async {
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url)
            .await
            .with_context(|| format!("cannot create {}", path.display()))?;
        let result = migrated(store.clone(), |s| work(s, url.clone())).await;
        store.pool().close().await;
        result
    }
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        if let Err(e) = std::fs::remove_file(&file) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("warning: cannot remove {}: {e}", file.to_string_lossy());
            }
        }
    }
    result
}

/// Migrates the scratch store and runs `work` on it. Ctrl-C stops the work but still
/// lets the caller clean up the scratch database.
async fn migrated<S: EventStore, T, Fut>(store: S, work: impl FnOnce(S) -> Fut) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    store
        .migrate()
        .await
        .context("cannot migrate the scratch database")?;
    tokio::select! {
        result = work(store) => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    }
}

pub fn progress(message: &str) {
    eprintln!("bench: {message}");
}

fn print_summary(r: &Report) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let (ratio_met, p99_met) = (r.ratio >= TARGET_RATIO, r.p99_ms <= TARGET_P99_MS);
    let sqlite_met = r.sqlite_events_per_s >= TARGET_SQLITE;
    let (events, raw, single) = (r.events_per_s, r.raw_rows_per_s, r.raw_single_row_per_s);
    println!(
        "Croupier append benchmark: {}, {} players, {} s per phase, {} (appends and raw INSERTs alternate in 1 s slices)",
        r.backend, r.players, r.seconds, r.durability
    );
    println!(
        "  appends       {events:>9.0} events/s (group commit, {:.1} events per transaction)",
        r.events_per_commit
    );
    println!("  raw INSERT    {raw:>9.0} rows/s ({} rows per committed multi-row INSERT: the largest batch {} players with one command in flight each can form)", r.raw_batch_rows, r.players);
    println!("  raw 1 row/tx  {single:>9.0} rows/s (context only, not in the ratio)");
    println!(
        "  ratio         {:>9.2}        (target >= {TARGET_RATIO}: {})",
        r.ratio,
        verdict(ratio_met)
    );
    println!("  latency       p50 {:.2} ms, p99 {:.2} ms at {:.0} commands/s, half the peak (target p99 <= {TARGET_P99_MS} ms: {})", r.p50_ms, r.p99_ms, r.latency_offered_commands_per_s, verdict(p99_met));
    if r.latency_starts_skipped > 0 {
        println!(
            "                {} starts found every player busy and were skipped: less than that load ran",
            r.latency_starts_skipped
        );
    }
    println!(
        "  SQLite        {:>9.0} events/s (target >= {TARGET_SQLITE:.0}: {})",
        r.sqlite_events_per_s,
        verdict(sqlite_met)
    );
    if !(ratio_met && p99_met && sqlite_met) {
        println!("A missed target is a finding about this store on this machine, not a failure of the command.");
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_scratch_url_replaces_only_the_database() {
        let url = "postgres://u:p@db.example:5432/ledger?sslmode=disable";
        assert_eq!(
            with_database(url, "croupier_bench_x").unwrap(),
            "postgres://u:p@db.example:5432/croupier_bench_x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://localhost", "b").unwrap(),
            "postgresql://localhost/b"
        );
    }

    #[test]
    fn a_url_that_would_still_reach_the_ledger_is_refused() {
        assert!(with_database("postgres://localhost/ledger?dbname=ledger", "b").is_err());
    }
}
