//! `croupier bench replay`: how fast the read side goes through the log. In a scratch
//! database it generates a valid history of the size asked, then times a rebuild of every
//! projection and a full audit, each against a raw sequential read of the same log in the
//! same run (`COPY ... TO STDOUT` on PostgreSQL, a plain `SELECT` on SQLite).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use futures_util::StreamExt;
use ledger::{
    Command, CurrencyCode, Event, Ledger, PaymentMethod, PlayerId, PlayerState, Timestamp,
};
use projections::audit::{verify, Projections};
use projections::projector::{Projector, BATCH_SIZE, REBUILD_BATCH_SIZE};
use rust_decimal::Decimal;
use store::append::{now_micros, Chain};
use store::{Append, ClaimedDeposit, DepositRef, EventStore, Metadata, WriteTx};

use crate::append::{in_pg_scratch, in_sqlite_scratch, progress};
use store::Database;

const TARGET_RATIO: f64 = 0.5;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Events in the generated log.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    events: u64,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    backend: &'static str,
    events: u64,
    rebuild_events_per_s: f64,
    verify_events_per_s: f64,
    raw_rows_per_s: f64,
    rebuild_ratio: f64,
    verify_ratio: f64,
}

/// The raw read to compare with.
enum Raw {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

pub async fn replay(database: &Database, url: &str, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let events = args.events;
    let report = match database {
        Database::Postgres(admin) => {
            in_pg_scratch(admin.pool(), url, |s, url| {
                let raw = Raw::Postgres(s.pool().clone());
                measure(s, url, events, raw, "PostgreSQL")
            })
            .await?
        }
        Database::Sqlite(_) => {
            in_sqlite_scratch(|s, url| {
                let raw = Raw::Sqlite(s.pool().clone());
                measure(s, url, events, raw, "SQLite")
            })
            .await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let verdict = |ratio: f64| {
            if ratio >= TARGET_RATIO {
                "met"
            } else {
                "MISSED"
            }
        };
        println!(
            "Croupier replay benchmark: {}, {} events",
            report.backend, report.events
        );
        println!("  raw read      {:>12.0} rows/s", report.raw_rows_per_s);
        println!(
            "  rebuild       {:>12.0} events/s  ratio {:.3} (target >= {TARGET_RATIO}: {})",
            report.rebuild_events_per_s,
            report.rebuild_ratio,
            verdict(report.rebuild_ratio)
        );
        println!(
            "  audit verify  {:>12.0} events/s  ratio {:.3} (target >= {TARGET_RATIO}: {})",
            report.verify_events_per_s,
            report.verify_ratio,
            verdict(report.verify_ratio)
        );
        println!("A missed target is a finding about this code on this machine, not a failure of the command.");
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure<S: EventStore>(
    store: S,
    url: String,
    events: u64,
    raw: Raw,
    backend: &'static str,
) -> anyhow::Result<Report> {
    progress(&format!("{backend}: generating {events} events"));
    generate(&store, events).await?;
    progress(&format!("{backend}: raw sequential read"));
    let started = Instant::now();
    let rows = raw_read(&raw).await?;
    let raw_rows_per_s = per_second(rows, started);
    let projector = Projector::connect(&url).await?;
    // The live tables first, untimed, so that the timed rebuild is the shadow pass alone.
    progress(&format!(
        "{backend}: bringing the live projections to the head"
    ));
    projector.catch_up(&store, BATCH_SIZE, |_| {}).await?;
    progress(&format!("{backend}: rebuilding every projection"));
    let started = Instant::now();
    projector
        .rebuild(&store, &[], REBUILD_BATCH_SIZE, |_, _| {})
        .await?;
    let rebuild_events_per_s = per_second(events, started);
    progress(&format!("{backend}: audit verify"));
    let started = Instant::now();
    let audit = verify(&store, None, Projections::Skip, |_| {}).await?;
    let verify_events_per_s = per_second(events, started);
    if let Err(finding) = audit {
        anyhow::bail!("the generated log fails its audit: {finding}");
    }
    Ok(Report {
        backend,
        events,
        rebuild_events_per_s,
        verify_events_per_s,
        raw_rows_per_s,
        rebuild_ratio: rebuild_events_per_s / raw_rows_per_s,
        verify_ratio: verify_events_per_s / raw_rows_per_s,
    })
}

/// A valid history: each player deposits, then bets and settles in turn, decided by the
/// ledger and sealed into the chain, appended in large batches.
async fn generate<S: EventStore>(store: &S, events: u64) -> anyhow::Result<()> {
    const APPEND_SIZE: usize = 10_000;
    let players = (events / 1_000).clamp(1, 10_000);
    let ledger = Ledger::default();
    let xtr = CurrencyCode::xtr();
    let mut states: Vec<PlayerState> = (1..=players)
        .map(|p| {
            PlayerState::new(PlayerId::new(i64::try_from(p).unwrap_or(1)).expect("ids from 1"))
        })
        .collect();
    let mut written = 0u64;
    while written < events {
        let mut tx = store.begin_write().await?;
        let mut chain = Chain::after(tx.head(), now_micros());
        let now = Timestamp::from_micros(chain.recorded_at());
        let mut batch = Append::default();
        while batch.events.len() < APPEND_SIZE && written < events {
            let state = &mut states[usize::try_from(written % players).unwrap_or(0)];
            let command = next_command(state, written, &xtr);
            let decided = ledger
                .decide(state, &command, now)
                .map_err(|r| anyhow::anyhow!("the generator made a rejected command: {r}"))?;
            for event in decided {
                state.apply(&event);
                let stream = store::player::stream_of(state.player);
                let metadata = Metadata {
                    idempotency_key: Some(format!("gen-{written}")),
                    ..Metadata::default()
                };
                let stored = chain.seal_event(&stream, state.version, &event, metadata);
                if let Event::Deposited(e) = &event {
                    batch.deposits.push(ClaimedDeposit {
                        deposit: DepositRef {
                            method: e.method.to_string(),
                            external_ref: e.external_ref.to_string(),
                        },
                        stream,
                        position: stored.position,
                    });
                }
                batch.events.push(stored);
                written += 1;
            }
        }
        tx.insert(&batch).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// What a player does next: deposit first, then bet and settle in turn.
fn next_command(state: &PlayerState, n: u64, xtr: &CurrencyCode) -> Command {
    let player = state.player;
    let round = state.version / 2;
    let bet_id = ledger::BetId::new(format!("r{round}")).expect("a valid bet id");
    if state.version == 0 {
        Command::Deposit {
            player,
            amount: Decimal::from(10_000_000),
            currency: xtr.clone(),
            method: PaymentMethod::telegram_stars(),
            external_ref: ledger::ExternalRef::new(format!("gen-{player}")).expect("a valid ref"),
        }
    } else if state.version % 2 == 1 {
        Command::PlaceBet {
            player,
            bet_id,
            game: ledger::GameId::new("dice").expect("a valid game"),
            stake: Decimal::from(1 + n % 5),
            currency: xtr.clone(),
            fair: None,
        }
    } else {
        let bet_id = ledger::BetId::new(format!("r{}", round - 1)).expect("a valid bet id");
        Command::SettleBet {
            player,
            bet_id,
            payout: Decimal::from((n % 3) * 2),
            roll: None,
        }
    }
}

async fn raw_read(raw: &Raw) -> anyhow::Result<u64> {
    const COLUMNS: &str = "position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at, prev_hash, hash";
    let mut rows = 0u64;
    match raw {
        Raw::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            let mut copy = conn
                .copy_out_raw(&format!(
                    "COPY (SELECT {COLUMNS} FROM ledger_events ORDER BY position) TO STDOUT"
                ))
                .await?;
            while let Some(chunk) = copy.next().await {
                let chunk = chunk.context("the raw COPY read failed")?;
                rows += u64::try_from(chunk.iter().filter(|&&b| b == b'\n').count()).unwrap_or(0);
            }
        }
        Raw::Sqlite(pool) => {
            let query = format!("SELECT {COLUMNS} FROM ledger_events ORDER BY position");
            let mut stream = sqlx::query(&query).fetch(pool);
            while let Some(row) = stream.next().await {
                row?;
                rows += 1;
            }
        }
    }
    Ok(rows)
}

fn per_second(count: u64, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64().max(1e-9)
}
