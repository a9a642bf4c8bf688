//! `croupier bench webhook`: updates per second through the whole webhook path (HTTP,
//! secret check, inbox de-duplication, the adapter, a ledger command appended through
//! group commit, the outbox write), against a trivial handler on the same HTTP stack in
//! the same run; and the p99 latency at a steady 1,000 updates/s.
//!
//! Each update is a Stars payment (`successful_payment` with a fresh charge id): one
//! deposit appended and one reply queued. The outbox dispatcher runs too, sending to the
//! in-process fake Bot API at Telegram's pace.

use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bot_adapter::db::BotDb;
use bot_adapter::dispatcher::{self, Limits};
use bot_adapter::limit::RateLimit;
use bot_adapter::pipeline::{self, Pipeline};
use bot_adapter::webhook::{self, SECRET_HEADER};
use simulation::fake::FakeTelegram;
use simulation::updates::{self, Payment};
use store::EventStore;
use tokio::sync::watch;

use crate::append::{in_pg_scratch, in_sqlite_scratch};
use store::Database;

const TARGET_UPDATES_PER_S: f64 = 3_000.0;
const TARGET_P99_MS: f64 = 25.0;
const TOKEN: &str = "1:bench";
const SECRET: &str = "bench-secret";
/// Chats posting at once in the throughput runs (Telegram sends one update per chat at a time).
const CHATS: u64 = 64;
const STEADY_RATE: u64 = 1_000;

#[derive(clap::Args)]
pub struct WebhookArgs {
    /// Seconds per measurement (each of the three runs).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    backend: &'static str,
    updates_per_s: f64,
    trivial_per_s: f64,
    ratio: f64,
    p99_ms_at_1000: f64,
    /// Updates actually sent per second in the steady run (below 1,000 if the client
    /// could not keep up).
    steady_rate: f64,
    failed: u64,
}

pub async fn webhook(
    database: &Database,
    url: &str,
    args: WebhookArgs,
) -> anyhow::Result<ExitCode> {
    let seconds = Duration::from_secs(args.seconds);
    let report = match database {
        Database::Postgres(admin) => {
            in_pg_scratch(admin.pool(), url, |s, url| {
                measure(s, url, seconds, "PostgreSQL")
            })
            .await?
        }
        Database::Sqlite(_) => {
            in_sqlite_scratch(|s, url| measure(s, url, seconds, "SQLite")).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        println!(
            "Croupier webhook benchmark: {}, {} chats, {}s per run",
            report.backend, CHATS, args.seconds
        );
        println!(
            "  trivial handler        {:>9.0} requests/s",
            report.trivial_per_s
        );
        println!(
            "  webhook, end to end    {:>9.0} updates/s   ratio {:.2}   (target {TARGET_UPDATES_PER_S:.0}/s: {})",
            report.updates_per_s,
            report.ratio,
            verdict(report.updates_per_s >= TARGET_UPDATES_PER_S)
        );
        println!(
            "  p99 at {STEADY_RATE}/s           {:>9.1} ms         (sent {:.0}/s; target {TARGET_P99_MS} ms: {})",
            report.p99_ms_at_1000,
            report.steady_rate,
            verdict(report.p99_ms_at_1000 <= TARGET_P99_MS)
        );
        if report.failed > 0 {
            println!("  {} updates were not acknowledged with 200", report.failed);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A 10-Star payment from `player` with a charge id of its own.
fn payment(update_id: i64, player: u64) -> String {
    let charge = format!("bench-{update_id}");
    let payment = Payment::stars(10, "bench", &charge);
    updates::successful_payment(update_id, update_id, player, &payment).to_string()
}

async fn measure<S: EventStore>(
    store: S,
    url: String,
    seconds: Duration,
    backend: &'static str,
) -> anyhow::Result<Report> {
    let fake = FakeTelegram::start(TOKEN).await?;
    let db = BotDb::connect(&url, 32).await?;
    let pipeline = Pipeline::start(
        store,
        db.clone(),
        pipeline::bot(TOKEN),
        RateLimit::default(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let dispatcher = pipeline.dispatcher(
        dispatcher::api(&fake.url(), TOKEN, Duration::from_secs(10)),
        Limits::default(),
    );
    let dispatching = tokio::spawn(dispatcher.run(stop_rx, Duration::ZERO));

    let app = webhook::router(pipeline, Some(SECRET.to_owned()))
        .route("/trivial", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let ids = Arc::new(AtomicI64::new(1));
    let failed = Arc::new(AtomicU64::new(0));

    let trivial = closed_loop(
        &client,
        &format!("http://{address}/trivial"),
        seconds,
        &ids,
        &failed,
    )
    .await;
    failed.store(0, Ordering::Relaxed);
    let hook = format!("http://{address}/telegram/webhook");
    let updates = closed_loop(&client, &hook, seconds, &ids, &failed).await;
    let (p99, steady_rate) = steady(&client, &hook, seconds, &ids, &failed).await;

    let _ = stop_tx.send(true);
    let _ = dispatching.await;
    server.abort();
    db.close().await;
    Ok(Report {
        backend,
        updates_per_s: updates,
        trivial_per_s: trivial,
        ratio: updates / trivial,
        p99_ms_at_1000: p99,
        steady_rate,
        failed: failed.load(Ordering::Relaxed),
    })
}

async fn send(client: &reqwest::Client, url: &str, body: String) -> bool {
    let sent = client
        .post(url)
        .header(SECRET_HEADER, SECRET)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    matches!(sent, Ok(response) if response.status().is_success())
}

/// `CHATS` chats, each posting its next update as soon as the last is acknowledged.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    seconds: Duration,
    ids: &Arc<AtomicI64>,
    failed: &Arc<AtomicU64>,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut chats = tokio::task::JoinSet::new();
    for chat in 0..CHATS {
        let (client, url, ids, failed, done) = (
            client.clone(),
            url.to_owned(),
            ids.clone(),
            failed.clone(),
            done.clone(),
        );
        chats.spawn(async move {
            while started.elapsed() < seconds {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                if send(&client, &url, payment(id, 10_000 + chat)).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while chats.join_next().await.is_some() {}
    per_second(done.load(Ordering::Relaxed), started.elapsed())
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let count = u32::try_from(count).map_or(f64::from(u32::MAX), f64::from);
    count / elapsed.as_secs_f64()
}

/// Updates at a steady `STEADY_RATE` per second from many chats; returns the p99 latency
/// in ms and the rate actually achieved.
async fn steady(
    client: &reqwest::Client,
    url: &str,
    seconds: Duration,
    ids: &Arc<AtomicI64>,
    failed: &Arc<AtomicU64>,
) -> (f64, f64) {
    let mut ticker =
        tokio::time::interval(Duration::from_secs(1) / u32::try_from(STEADY_RATE).unwrap_or(1000));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    while started.elapsed() < seconds {
        ticker.tick().await;
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let (client, url, failed) = (client.clone(), url.to_owned(), failed.clone());
        let player = 20_000 + u64::try_from(id).unwrap_or(0) % 1_000;
        requests.spawn(async move {
            let begun = Instant::now();
            if !send(&client, &url, payment(id, player)).await {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            begun.elapsed()
        });
        sent += 1;
    }
    let rate = per_second(sent, started.elapsed());
    let mut latencies = Vec::new();
    while let Some(joined) = requests.join_next().await {
        if let Ok(latency) = joined {
            latencies.push(latency);
        }
    }
    latencies.sort();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1_000.0);
    (p99, rate)
}
