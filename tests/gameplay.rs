//! The play path under a player's own concurrency: one input is decided once and
//! committed once (its bet, settlement and session step together), and an input whose
//! session moved meanwhile is decided again, never answered 503 and never played twice.
//! The real pipeline and dispatcher against a fake Telegram, on both backends.

mod common;

use std::time::Duration;

use bot_adapter::db::BotDb;
use bot_adapter::pipeline::Handled;
use common::server::{texts, wait_for_text};
use common::{croupier, events, Scratch};
use serde_json::json;
use simulation::{Simulation, Updates};
use store::EventStore;

const PLAYER: u64 = 616_161;

fn deposit(url: &str, amount: u32) {
    let line = format!(
        r#"{{"type":"deposit","idempotency_key":"seed-{amount}","player":{PLAYER},"amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"charge-{amount}"}}"#
    );
    let out = croupier(url, &["ledger", "submit", "--json", &line]);
    assert!(out.status.success(), "{out:?}");
}

async fn simulation<S: EventStore>(store: S, url: &str) -> (Simulation<S>, Updates) {
    let db = BotDb::connect(url, 8).await.unwrap();
    let simulation = Simulation::start(store, db, Duration::ZERO).await.unwrap();
    let updates = Updates::after_recorded(&simulation.db).await.unwrap();
    (simulation, updates)
}

/// Two presses of "✅ Play" at once (Telegram sends two callback queries), then the
/// second redelivered: one bet, and both presses answered with its outcome.
async fn a_double_tap_on_play_places_one_bet_and_answers_both<S: EventStore>(store: S, url: &str) {
    deposit(url, 100);
    let (sim, mut updates) = simulation(store, url).await;
    let text = |updates: &mut Updates, text: &str| updates.message(PLAYER, json!({ "text": text }));
    for body in [
        text(&mut updates, "/play"),
        updates.callback(PLAYER, 1, "/play game coinflip:heads"),
        updates.callback(PLAYER, 2, "/play stake 10"),
    ] {
        sim.pipeline.process(body.as_bytes()).await.unwrap();
    }
    let first = updates.callback(PLAYER, 3, "/play go");
    let second = updates.callback(PLAYER, 3, "/play go");
    let (a, b) = tokio::join!(
        sim.pipeline.process(first.as_bytes()),
        sim.pipeline.process(second.as_bytes())
    );
    assert!(matches!(a.unwrap(), Handled::Done { .. }));
    assert!(matches!(b.unwrap(), Handled::Done { .. }));
    // Telegram delivers the second again: handled already, nothing more.
    assert_eq!(
        sim.pipeline.process(second.as_bytes()).await.unwrap(),
        Handled::Duplicate
    );
    let played = wait_for_text(&sim.fake, "(you chose heads)").await;
    let again = wait_for_text(
        &sim.fake,
        "Already played: 🪙 Coinflip on heads for 10 ⭐, and you",
    )
    .await;
    assert_eq!(
        again.contains("you won"),
        played.contains("You won"),
        "{again} after {played}"
    );
    assert_eq!(events(url, "bet_placed").await, 1);
    assert_eq!(events(url, "bet_settled").await, 1);
    assert_eq!(events(url, "session_bet").await, 1);
    // Every press was answered (Telegram shows a spinner until then): the game, the
    // stake and both taps.
    let answered = || sim.fake.succeeded("answerCallbackQuery").len();
    assert!(
        sim.fake
            .wait_for(Duration::from_secs(20), |_| answered() >= 4)
            .await
    );
    assert_eq!(answered(), 4);
    sim.stop().await.unwrap();
    let audit = croupier(url, &["audit", "verify"]);
    assert!(audit.status.success(), "{audit:?}");
}

/// Ten bets typed at once by one player with 30 ⭐: each is answered, none with an
/// error, and the balance never goes below zero.
async fn many_inputs_from_one_player_at_once_are_each_answered_without_overdraft<S: EventStore>(
    store: S,
    url: &str,
) {
    deposit(url, 30);
    let (sim, mut updates) = simulation(store, url).await;
    let bodies: Vec<String> = (0..10)
        .map(|_| updates.message(PLAYER, json!({ "text": "/coinflip 10 heads" })))
        .collect();
    let handled = futures_join_all(&sim, &bodies).await;
    assert!(
        handled
            .iter()
            .all(|h| matches!(h, Ok(Handled::Done { .. }))),
        "{handled:?}"
    );
    assert!(
        sim.fake
            .wait_for(Duration::from_secs(20), |_| texts(&sim.fake).len() >= 10)
            .await,
        "{:#?}",
        texts(&sim.fake)
    );
    let sent = texts(&sim.fake);
    let played = sent
        .iter()
        .filter(|t| t.contains("(you chose heads)"))
        .count();
    let short = sent.iter().filter(|t| t.contains("not enough")).count();
    assert_eq!(played + short, 10, "{sent:#?}");
    let placed = usize::try_from(events(url, "bet_placed").await).unwrap();
    assert_eq!(placed, played);
    assert_eq!(
        events(url, "session_bet").await,
        i64::try_from(played).unwrap()
    );
    sim.stop().await.unwrap();
    let balance = croupier(url, &["report", "balances", "--format", "csv"]);
    let shown = String::from_utf8_lossy(&balance.stdout).to_string();
    assert!(!shown.contains(",-"), "no negative balance: {shown}");
    let audit = croupier(url, &["audit", "verify"]);
    assert!(audit.status.success(), "{audit:?}");
}

async fn futures_join_all<S: EventStore>(
    sim: &Simulation<S>,
    bodies: &[String],
) -> Vec<Result<Handled, String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, body) in bodies.iter().enumerate() {
        let pipeline = sim.pipeline.clone();
        let body = body.clone();
        tasks.spawn(async move {
            (
                i,
                pipeline
                    .process(body.as_bytes())
                    .await
                    .map_err(|e| e.to_string()),
            )
        });
    }
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        results.push(done.unwrap());
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrations = "./migrations/postgres")]
                async fn $name(pool: sqlx::PgPool) {
                    let url = crate::common::database_url(&pool).await;
                    let store = store::PgStore::from_pool(pool);
                    super::$name(store, &url).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = crate::Scratch::new();
                    let url = dir.url();
                    let store::Database::Sqlite(store) = store::Database::open(&url).await.unwrap() else {
                        panic!("a SQLite database");
                    };
                    super::$name(store, &url).await
                }
            )*
        }
    };
}

on_both_backends!(
    a_double_tap_on_play_places_one_bet_and_answers_both,
    many_inputs_from_one_player_at_once_are_each_answered_without_overdraft,
);
