//! `croupier bench webhook`: updates per second through the whole webhook path (HTTP,
//! secret check, inbox de-duplication, the adapter, a ledger command appended through
//! group commit, the outbox write), against a trivial handler on the same HTTP stack in
//! the same run; and the p99 latency at a steady 1,000 updates/s.
//!
//! `--mix` chooses the updates. `deposits`: each is a Stars payment (`successful_payment`
//! with a fresh charge id), one deposit appended and one reply queued. `gameplay`: what
//! players do most, from thousands of funded players, each well under the inbound rate
//! limit and in order within its chat as Telegram delivers them: `/coinflip`, `/dice`
//! and the `/play` button flow (the command, then three button presses). `mixed` (the
//! default): a deposit after every six plays in the throughput run, and also deposits
//! alone and gameplay alone in the same run, so that their ratio can be read. The outbox
//! dispatcher runs too, sending to the in-process fake Bot API at Telegram's pace.

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
/// Players each chat lane takes turns with: at 3,000 updates/s over 64 lanes each player
/// posts about once in two seconds, under the inbound limit of one a second.
const PLAYERS_PER_CHAT: u64 = 100;
/// Players of the steady run, which sends 1,000 updates/s.
const STEADY_PLAYERS: u64 = 4_000;
/// Each player's Stars before the gameplay runs.
const FUNDING: u64 = 1_000;
/// One round of a player's gameplay: two one-line bets, then the button flow.
const GAMEPLAY: [&str; 6] = [
    "/coinflip 1 heads",
    "/dice 1 50",
    "/play",
    "/play game coinflip:heads",
    "/play stake 5",
    "/play go",
];
/// Inputs of that round that are typed; the rest are button presses.
const GAMEPLAY_TYPED: usize = 3;

/// Which updates the webhook is measured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mix {
    /// Stars payments only.
    Deposits,
    /// Bets by command and by buttons, from funded players.
    Gameplay,
    /// Gameplay with a deposit after every six plays; deposits and gameplay alone too.
    Mixed,
}

#[derive(clap::Args)]
pub struct WebhookArgs {
    /// Seconds per measurement (each of the three runs).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    json: bool,
    /// The updates to measure with.
    #[arg(long, value_enum, default_value = "mixed")]
    mix: Mix,
}

#[derive(serde::Serialize)]
struct Report {
    backend: &'static str,
    mix: Mix,
    /// The rate of the chosen mix.
    updates_per_s: f64,
    trivial_per_s: f64,
    ratio: f64,
    p99_ms_at_1000: f64,
    /// Updates actually sent per second in the steady run (below 1,000 if the client
    /// could not keep up).
    steady_rate: f64,
    failed: u64,
    /// With `--mix mixed`: deposits alone and gameplay alone, in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    deposits_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gameplay_per_s: Option<f64>,
    /// Gameplay over deposits (the brief asks for at least 0.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    gameplay_to_deposits: Option<f64>,
}

pub async fn webhook(
    database: &Database,
    url: &str,
    args: WebhookArgs,
) -> anyhow::Result<ExitCode> {
    let seconds = Duration::from_secs(args.seconds);
    let mix = args.mix;
    let report = match database {
        Database::Postgres(admin) => {
            in_pg_scratch(admin.pool(), url, |s, url| {
                measure(s, url, seconds, mix, "PostgreSQL")
            })
            .await?
        }
        Database::Sqlite(_) => {
            in_sqlite_scratch(|s, url| measure(s, url, seconds, mix, "SQLite")).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        println!(
            "Croupier webhook benchmark: {}, {:?} updates, {} chats, {}s per run",
            report.backend, report.mix, CHATS, args.seconds
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
        if let (Some(deposits), Some(gameplay), Some(ratio)) = (
            report.deposits_per_s,
            report.gameplay_per_s,
            report.gameplay_to_deposits,
        ) {
            println!("  deposits alone         {deposits:>9.0} updates/s");
            println!(
                "  gameplay alone         {gameplay:>9.0} updates/s   {ratio:.2} of deposits (target 0.70: {})",
                verdict(ratio >= 0.7)
            );
        }
        if report.failed > 0 {
            println!("  {} updates were not acknowledged with 200", report.failed);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A payment of `amount` Stars from `player` with a charge id of its own.
fn payment(update_id: i64, player: u64, amount: u64) -> String {
    let charge = format!("bench-{update_id}");
    let payment = Payment::stars(amount, "bench", &charge);
    updates::successful_payment(update_id, update_id, player, &payment).to_string()
}

/// The `k`th gameplay input of `player` (its rounds repeat).
fn gameplay(update_id: i64, player: u64, k: u64) -> String {
    let step = usize::try_from(k % 6).unwrap_or_default();
    let input = GAMEPLAY[step];
    if step < GAMEPLAY_TYPED {
        updates::text(update_id, update_id, player, input).to_string()
    } else {
        updates::callback(update_id, update_id, player, input).to_string()
    }
}

/// The `k`th input of `player` in `mix`.
fn input(mix: Mix, update_id: i64, player: u64, k: u64) -> String {
    match mix {
        Mix::Deposits => payment(update_id, player, 10),
        Mix::Gameplay => gameplay(update_id, player, k),
        // A deposit after each round of six plays.
        Mix::Mixed if k % 7 == 6 => payment(update_id, player, 10),
        Mix::Mixed => gameplay(update_id, player, k - k / 7),
    }
}

/// Which players a run uses: `count` of them from `first`; each run its own, so no
/// player's flow is interrupted by another run.
#[derive(Clone, Copy)]
struct Players {
    first: u64,
    count: u64,
}

async fn measure<S: EventStore>(
    store: S,
    url: String,
    seconds: Duration,
    mix: Mix,
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
    let run = Run {
        client,
        hook: format!("http://{address}/telegram/webhook"),
        ids: Arc::new(AtomicI64::new(1)),
        failed: Arc::new(AtomicU64::new(0)),
        seconds,
    };
    let lanes = |first: u64| Players {
        first,
        count: CHATS * PLAYERS_PER_CHAT,
    };
    let (main, deposits_alone, gameplay_alone) = (lanes(100_000), lanes(200_000), lanes(300_000));
    let steady_players = Players {
        first: 400_000,
        count: STEADY_PLAYERS,
    };

    let trivial = run
        .closed_loop(
            &format!("http://{address}/trivial"),
            Mix::Deposits,
            lanes(10_000),
        )
        .await;
    if mix != Mix::Deposits {
        progress("funding the players of the gameplay runs");
        for players in [main, gameplay_alone, steady_players] {
            run.fund(players).await;
        }
    }
    run.failed.store(0, Ordering::Relaxed);
    let updates = run.closed_loop(&run.hook, mix, main).await;
    let (deposits_per_s, gameplay_per_s) = if mix == Mix::Mixed {
        (
            Some(
                run.closed_loop(&run.hook, Mix::Deposits, deposits_alone)
                    .await,
            ),
            Some(
                run.closed_loop(&run.hook, Mix::Gameplay, gameplay_alone)
                    .await,
            ),
        )
    } else {
        (None, None)
    };
    let (p99, steady_rate) = run.steady(mix, steady_players).await;

    let _ = stop_tx.send(true);
    let _ = dispatching.await;
    server.abort();
    db.close().await;
    Ok(Report {
        backend,
        mix,
        updates_per_s: updates,
        trivial_per_s: trivial,
        ratio: updates / trivial,
        p99_ms_at_1000: p99,
        steady_rate,
        failed: run.failed.load(Ordering::Relaxed),
        deposits_per_s,
        gameplay_per_s,
        gameplay_to_deposits: deposits_per_s
            .zip(gameplay_per_s)
            .map(|(deposits, gameplay)| gameplay / deposits),
    })
}

fn progress(message: &str) {
    eprintln!("bench webhook: {message}");
}

/// What every run of one measurement shares.
struct Run {
    client: reqwest::Client,
    hook: String,
    ids: Arc<AtomicI64>,
    failed: Arc<AtomicU64>,
    seconds: Duration,
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

impl Run {
    /// Gives each of `players` `FUNDING` Stars (not timed).
    async fn fund(&self, players: Players) {
        let mut chats = tokio::task::JoinSet::new();
        for chat in 0..CHATS {
            let (client, hook, ids) = (self.client.clone(), self.hook.clone(), self.ids.clone());
            chats.spawn(async move {
                let mut player = players.first + chat;
                while player < players.first + players.count {
                    let id = ids.fetch_add(1, Ordering::Relaxed);
                    while !send(&client, &hook, payment(id, player, FUNDING)).await {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    player += CHATS;
                }
            });
        }
        while chats.join_next().await.is_some() {}
    }

    /// `CHATS` lanes, each posting its next update as soon as the last is acknowledged;
    /// each lane takes turns with its own `PLAYERS_PER_CHAT` players, so that a player's
    /// inputs arrive in order, as Telegram delivers one chat's updates.
    async fn closed_loop(&self, url: &str, mix: Mix, players: Players) -> f64 {
        let per_lane = players.count / CHATS;
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut chats = tokio::task::JoinSet::new();
        for chat in 0..CHATS {
            let (client, url, ids, failed, done, seconds) = (
                self.client.clone(),
                url.to_owned(),
                self.ids.clone(),
                self.failed.clone(),
                done.clone(),
                self.seconds,
            );
            chats.spawn(async move {
                let mut n = 0;
                while started.elapsed() < seconds {
                    let id = ids.fetch_add(1, Ordering::Relaxed);
                    let player = players.first + chat * per_lane + n % per_lane;
                    if send(&client, &url, input(mix, id, player, n / per_lane)).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            });
        }
        while chats.join_next().await.is_some() {}
        per_second(done.load(Ordering::Relaxed), started.elapsed())
    }

    /// Updates at a steady `STEADY_RATE` per second from `players` in turn; returns the
    /// p99 latency in ms and the rate actually achieved.
    async fn steady(&self, mix: Mix, players: Players) -> (f64, f64) {
        let mut ticker = tokio::time::interval(
            Duration::from_secs(1) / u32::try_from(STEADY_RATE).unwrap_or(1000),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let mut requests = tokio::task::JoinSet::new();
        let mut sent = 0u64;
        while started.elapsed() < self.seconds {
            ticker.tick().await;
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            let (client, url, failed) =
                (self.client.clone(), self.hook.clone(), self.failed.clone());
            let body = input(
                mix,
                id,
                players.first + sent % players.count,
                sent / players.count,
            );
            requests.spawn(async move {
                let begun = Instant::now();
                if !send(&client, &url, body).await {
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
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let count = u32::try_from(count).map_or(f64::from(u32::MAX), f64::from);
    count / elapsed.as_secs_f64()
}
