//! `croupier demo`: simulated players talk to the real bot (the same pipeline a webhook
//! feeds, the real ledger, the configured database) while an in-process fake Telegram
//! takes the replies. They deposit Stars, play coinflip and dice, and some take their
//! money back; then a summary from the read models and an audit of the whole log.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use bot_adapter::db::BotDb;
use projections::audit::{verify, Projections};
use projections::projector::{Projector, BATCH_SIZE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::json;
use store::EventStore;

use simulation::updates::Payment;
use simulation::{Simulation, Updates};
use store::{with_store, Database};

/// Demo players' Telegram ids start here.
const FIRST_PLAYER: u64 = 9_000_000_000;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Simulated players.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    players: u64,
    /// Rounds each player plays.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    rounds: u64,
    /// Seed of the players' choices (amounts, games, stakes); the games' own rolls come
    /// from the provably fair seeds, fresh each run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub async fn run(database: &Database, url: &str, args: DemoArgs) -> anyhow::Result<ExitCode> {
    outln!(
        "Croupier demo on {}: {} players, {} rounds each, seed {}",
        database.describe(),
        args.players,
        args.rounds,
        args.seed
    )?;
    with_store!(database, store => run_on(store.clone(), url, args).await)
}

struct Player {
    id: u64,
    charge: String,
    amount: u64,
    /// Takes the deposit back before playing.
    refunds: bool,
}

async fn run_on<S: EventStore>(store: S, url: &str, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(url, 8).await?;
    // The demo need not keep Telegram's pace: nobody reads the replies as they come.
    let simulation = Simulation::start(store.clone(), db, Duration::ZERO).await?;
    let pipeline = &simulation.pipeline;
    let mut updates = Updates::after_recorded(&simulation.db).await?;
    // Charge ids carry a random run id, so runs can repeat on one database.
    let run: u64 = rand::rng().random_range(1..1u64 << 40);
    let mut choices = StdRng::seed_from_u64(args.seed);
    let players: Vec<Player> = (0..args.players)
        .map(|i| Player {
            id: FIRST_PLAYER + i,
            charge: format!("demo-{run}-{i}"),
            amount: choices.random_range(5..=50) * 10,
            refunds: i % 10 == 9,
        })
        .collect();
    let text = |t: String| json!({ "text": t });

    let total = args.players * (3 + args.rounds);
    let mut done = 0u64;
    let mut shown = 0u64;
    let mut step = |n: u64| {
        done += n;
        let percent = done * 100 / total.max(1);
        if percent >= shown + 10 || done == total {
            shown = percent;
            outln!("  {percent:>3}%  {done} of {total} updates handled")?;
        }
        anyhow::Ok(())
    };
    for player in &players {
        for body in [
            updates.message(player.id, text("/start".to_owned())),
            updates.message(player.id, text(format!("/deposit {}", player.amount))),
            updates.paid(
                player.id,
                &Payment::stars(player.amount, "demo", &player.charge),
            ),
        ] {
            pipeline.process(body.as_bytes()).await?;
        }
        step(3)?;
    }
    for round in 0..args.rounds {
        for player in &players {
            let body = if player.refunds && round == 0 {
                updates.refunded(
                    player.id,
                    &Payment::stars(player.amount, "demo", &player.charge),
                )
            } else {
                let stake = choices.random_range(1..=20);
                let command = if choices.random_bool(0.5) {
                    format!(
                        "/coinflip {stake} {}",
                        if choices.random_bool(0.5) {
                            "heads"
                        } else {
                            "tails"
                        }
                    )
                } else {
                    format!("/dice {stake} {}", choices.random_range(10..=90))
                };
                updates.message(player.id, text(command))
            };
            pipeline.process(body.as_bytes()).await?;
            step(1)?;
        }
    }
    let fake = simulation.fake.clone();
    simulation.stop().await?;
    outln!(
        "  {} replies sent to the (fake) Telegram",
        fake.calls().len()
    )?;

    let projector = Projector::connect(url).await?;
    projector.catch_up(&store, BATCH_SIZE, |_| {}).await?;
    let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
    for row in projector
        .daily(&projections::report::Days::default())
        .await?
    {
        if row.currency != "XTR" {
            continue;
        }
        for (name, value) in [
            ("deposits", &row.deposits),
            ("refunds", &row.refunds),
            ("stakes", &row.stakes),
            ("payouts", &row.payouts),
            ("ggr", &row.ggr),
        ] {
            *totals.entry(name).or_default() += value.parse::<Decimal>().unwrap_or_default();
        }
    }
    let liabilities = projector
        .liabilities()
        .await?
        .into_iter()
        .find(|l| l.currency == "XTR")
        .map_or_else(|| ("0".to_owned(), 0), |l| (l.total, l.players));
    let total = |name| totals.get(name).copied().unwrap_or_default();
    outln!("\nAll time, in Stars (XTR), this database:")?;
    outln!("  {:<22}{:>12}", "players with cash", liabilities.1)?;
    for (label, name) in [
        ("deposits", "deposits"),
        ("refunds", "refunds"),
        ("stakes settled", "stakes"),
        ("payouts", "payouts"),
        ("GGR", "ggr"),
    ] {
        outln!("  {label:<22}{:>12}", total(name))?;
    }
    outln!("  {:<22}{:>12}", "liabilities", liabilities.0)?;

    let audited = verify(&store, None, Projections::Compare(&projector), |_| {}).await?;
    match audited {
        Ok(summary) => {
            let head = summary.head.unwrap_or_else(|| "empty".to_owned());
            let compared = if summary.projections_checked {
                "the read models equal a replay"
            } else {
                "read models not compared (the log moved on)"
            };
            outln!(
                "\naudit: {} events in {} streams verified (hash chain, postings, bets in play, keys); {compared}; head {head}",
                summary.events, summary.streams
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(finding) => {
            outln!("\naudit FAILED: {finding}")?;
            Ok(ExitCode::from(5))
        }
    }
}
