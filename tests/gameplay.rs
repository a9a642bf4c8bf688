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
    common::assert_audit_passes(url);
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
    common::assert_audit_passes(url);
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

/// A `croupier serve` killed (SIGKILL) while players are playing, then restarted, with
/// Telegram delivering again what was not acknowledged: every round is whole (a bet
/// placed is settled and in its session), each input is answered once, the log audits.
async fn a_server_killed_mid_play_leaves_no_half_played_round(url: &str, dir: Option<Scratch>) {
    use common::server::Server;
    use simulation::fake::FakeTelegram;
    const PLAYERS: u64 = 10;
    const ROUNDS: i64 = 6;
    for player in 1..=PLAYERS {
        let line = format!(
            r#"{{"type":"deposit","idempotency_key":"seed-{player}","player":{player},"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"charge-{player}"}}"#
        );
        assert!(croupier(url, &["ledger", "submit", "--json", &line])
            .status
            .success());
    }
    let updates: Vec<Vec<serde_json::Value>> = (1..=PLAYERS)
        .map(|player| {
            (1..=ROUNDS)
                .map(|round| {
                    let id = i64::try_from(player).unwrap() * 1000 + round;
                    simulation::updates::text(id, round, player, "/coinflip 1 heads")
                })
                .collect()
        })
        .collect();
    let fake = FakeTelegram::start(common::server::TOKEN).await.unwrap();
    let first = Server::start(url, &fake, None);
    let address = first.address.clone();
    let mut posting = tokio::task::JoinSet::new();
    for chat in updates.clone() {
        let address = address.clone();
        posting.spawn(async move {
            let client = reqwest::Client::new();
            for update in chat {
                // Each chat in order, as Telegram delivers; the server dies under us.
                let sent = client
                    .post(format!("http://{address}/telegram/webhook"))
                    .header("content-type", "application/json")
                    .header("X-Telegram-Bot-Api-Secret-Token", common::server::SECRET)
                    .body(update.to_string())
                    .send()
                    .await;
                if sent.is_err() {
                    return;
                }
            }
        });
    }
    // Killed once some rounds are in the log and others are not.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while events(url, "bet_placed").await < 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    while posting.join_next().await.is_some() {}
    let killed_at = events(url, "bet_placed").await;

    // Telegram delivers again everything not acknowledged (here: everything).
    let second = Server::start(url, &fake, dir);
    for chat in &updates {
        for update in chat {
            assert_eq!(second.post(update).await, 200);
        }
    }
    let rounds = i64::try_from(PLAYERS).unwrap() * ROUNDS;
    assert_eq!(
        events(url, "bet_placed").await,
        rounds,
        "killed after {killed_at}"
    );
    assert_eq!(events(url, "bet_settled").await, rounds);
    assert_eq!(events(url, "session_bet").await, rounds);
    // Each input has exactly one answer queued (the outbox de-duplicates), whether it was
    // decided before the kill, after it, or both. Those the killed dispatcher had leased
    // are sent again when their lease ends, which this test does not wait for.
    let queued = common::count(
        url,
        "SELECT COUNT(*) FROM bot_outbox WHERE method = 'sendMessage' AND params LIKE '%(you chose heads)%'",
    )
    .await;
    assert_eq!(queued, rounds);
    let answered = || {
        texts(&fake)
            .iter()
            .filter(|t| t.contains("(you chose heads)"))
            .count()
    };
    let leased = common::count(
        url,
        "SELECT COUNT(*) FROM bot_outbox WHERE lease_until > 0 AND state = 'pending'",
    )
    .await;
    let at_least = usize::try_from(rounds - leased).unwrap();
    assert!(
        fake.wait_for(Duration::from_secs(30), |_| answered() >= at_least)
            .await,
        "{} of {at_least} answered",
        answered()
    );
    assert!(answered() <= usize::try_from(rounds).unwrap());
    let mut second = second;
    assert!(second.stop().await.success());
    common::assert_audit_passes(url);
}

#[sqlx::test(migrations = "./migrations/postgres")]
async fn postgres_server_killed_mid_play_leaves_no_half_played_round(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    a_server_killed_mid_play_leaves_no_half_played_round(&url, None).await;
}

#[tokio::test]
async fn sqlite_server_killed_mid_play_leaves_no_half_played_round() {
    let dir = Scratch::new();
    let url = dir.url();
    a_server_killed_mid_play_leaves_no_half_played_round(&url, Some(dir)).await;
}

/// One thing a player does.
#[derive(Debug, Clone)]
enum Act {
    Coinflip(u8),
    Dice(u8),
    Play,
    Game(&'static str),
    Stake(u8),
    Go,
    Cancel,
    Balance,
}

fn act() -> impl proptest::strategy::Strategy<Value = Act> {
    use proptest::prelude::*;
    prop_oneof![
        (1u8..4).prop_map(Act::Coinflip),
        (1u8..4).prop_map(Act::Dice),
        Just(Act::Play),
        prop_oneof![Just("coinflip:heads"), Just("dice:50")].prop_map(Act::Game),
        (1u8..4).prop_map(Act::Stake),
        Just(Act::Go),
        Just(Act::Go),
        Just(Act::Cancel),
        Just(Act::Balance),
    ]
}

/// The update of `act`, the `n`th input of `player` (update and message ids unique).
fn update_of(player: u64, n: usize, act: &Act) -> String {
    let id = i64::try_from(player * 1000 + n as u64).unwrap();
    let text = |t: String| simulation::updates::text(id, id, player, &t).to_string();
    let press = |d: String| simulation::updates::callback(id, id - 1, player, &d).to_string();
    match act {
        Act::Coinflip(s) => text(format!("/coinflip {s} heads")),
        Act::Dice(s) => text(format!("/dice {s} 50")),
        Act::Play => text("/play".to_owned()),
        Act::Game(g) => press(format!("/play game {g}")),
        Act::Stake(s) => press(format!("/play stake {s}")),
        Act::Go => press("/play go".to_owned()),
        Act::Cancel => text("/cancel".to_owned()),
        Act::Balance => text("/balance".to_owned()),
    }
}

/// What a reply says, without what the dice decided (the seeds differ between runs).
fn kind_of(text: &str) -> String {
    let kinds = [
        ("(you chose", "coinflip played"),
        ("🎲 Rolled", "dice played"),
        ("What would you like to play?", "menu"),
        ("How much?", "stake?"),
        ("Already played", "already played"),
        ("no longer open", "closed"),
        ("Cancelled", "cancelled"),
        ("Nothing to cancel", "nothing to cancel"),
        ("Your balance", "balance"),
    ];
    if let Some((_, kind)) = kinds.iter().find(|(needle, _)| text.contains(needle)) {
        return (*kind).to_owned();
    }
    if text.ends_with('?') {
        // "🪙 Coinflip on heads for 2 ⭐?"
        return text.to_owned();
    }
    text.to_owned()
}

/// Runs the players' scripts through a fresh pipeline on a fresh SQLite database:
/// `concurrent` runs the players at once, each input delivered once or twice at once;
/// otherwise one input at a time, each once. Returns, per player, the kinds of the
/// replies in order, the bets placed and the session moves.
async fn run_scripts(
    scripts: &[Vec<(Act, bool)>],
    concurrent: bool,
) -> Vec<(Vec<String>, i64, i64)> {
    let dir = Scratch::new();
    let url = dir.url();
    for player in 1..=scripts.len() {
        let line = format!(
            r#"{{"type":"deposit","idempotency_key":"seed-{player}","player":{player},"amount":"1000","currency":"XTR","method":"telegram_stars","external_ref":"charge-{player}"}}"#
        );
        assert!(croupier(&url, &["ledger", "submit", "--json", &line])
            .status
            .success());
    }
    let store::Database::Sqlite(store) = store::Database::open(&url).await.unwrap() else {
        panic!("a SQLite database");
    };
    let (sim, _) = simulation(store, &url).await;
    let mut players = tokio::task::JoinSet::new();
    for (i, script) in scripts.iter().enumerate() {
        let player = u64::try_from(i + 1).unwrap();
        let updates: Vec<(String, bool)> = script
            .iter()
            .enumerate()
            .map(|(n, (act, twice))| (update_of(player, n + 1, act), *twice))
            .collect();
        let pipeline = sim.pipeline.clone();
        let run = async move {
            for (update, twice) in updates {
                if concurrent && twice {
                    let (a, b) = tokio::join!(
                        pipeline.process(update.as_bytes()),
                        pipeline.process(update.as_bytes())
                    );
                    a.unwrap();
                    b.unwrap();
                } else {
                    pipeline.process(update.as_bytes()).await.unwrap();
                }
            }
        };
        if concurrent {
            players.spawn(run);
        } else {
            run.await;
        }
    }
    while let Some(done) = players.join_next().await {
        done.unwrap();
    }
    // The answers in the order they were decided (queued), per chat.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let queued: Vec<(i64, String)> = sqlx::query_as(
        "SELECT chat_id, params FROM bot_outbox WHERE method = 'sendMessage' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut result = Vec::new();
    for player in 1..=scripts.len() {
        let kinds = queued
            .iter()
            .filter(|(chat, _)| *chat == i64::try_from(player).unwrap())
            .map(|(_, params)| {
                let params: serde_json::Value = serde_json::from_str(params).unwrap();
                kind_of(params["text"].as_str().unwrap_or_default())
            })
            .collect();
        let bets = common::count(
            &url,
            &format!("SELECT COUNT(*) FROM ledger_events WHERE event_type = 'bet_placed' AND stream_id = 'player-{player}'"),
        )
        .await;
        let moves = common::count(
            &url,
            &format!("SELECT COUNT(*) FROM ledger_events WHERE event_type = 'session_moved' AND stream_id LIKE 'session-{player}-{player}-%'"),
        )
        .await;
        result.push((kinds, bets, moves));
    }
    sim.stop().await.unwrap();
    common::assert_audit_passes(&url);
    result
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, ..Default::default() })]

    /// Random inputs from three players, run at once with inputs delivered twice at
    /// once, answer and record exactly what one input at a time does.
    #[test]
    fn interleaved_players_with_redeliveries_equal_one_input_at_a_time(
        scripts in proptest::collection::vec(
            proptest::collection::vec((act(), proptest::bool::ANY), 4..12),
            3,
        )
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (at_once, model) = runtime.block_on(async {
            (run_scripts(&scripts, true).await, run_scripts(&scripts, false).await)
        });
        proptest::prop_assert_eq!(at_once, model);
    }
}
