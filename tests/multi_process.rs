//! Several `croupier` OS processes, and writers with many commands per batch, append to
//! one database at once while this test tails the log. Afterwards: every committed event
//! was seen exactly once and in order, no money was spent twice, no key ran twice, the
//! chain verifies, and the projector, which followed along, applied every event once.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use ledger::{CurrencyCode, PlayerId};
use rust_decimal::Decimal;
use serde_json::Value;
use store::hash::{self, GENESIS};
use store::{EventStore, GroupCommit, GroupCommitConfig, PgStore, SqliteStore, Submission, Tail};

const PROCESSES: usize = 4;
const IN_PROCESS_WRITERS: usize = 2;
const PLAYERS: i64 = 6;
const ROUNDS: usize = 20;
const DEPOSIT: i64 = 100;
const STAKE: i64 = 7;

fn line(kind: &str, key: &str, player: i64, fields: &str) -> String {
    format!(r#"{{"type":"{kind}","idempotency_key":"{key}","player":{player},{fields}}}"#)
}

/// The commands process `p` submits: its own bets on every player, and bets every
/// process submits under the same keys (only one may run; the others replay).
fn script(p: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for round in 0..ROUNDS {
        for player in 1..=PLAYERS {
            let bet = format!("p{p}-r{round}");
            let payout = if (round + p).is_multiple_of(3) {
                2 * STAKE
            } else {
                0
            };
            lines.push(line(
                "place_bet",
                &format!("{bet}-{player}-bet"),
                player,
                &format!(r#""bet_id":"{bet}","game":"dice","stake":"{STAKE}","currency":"XTR""#),
            ));
            lines.push(line(
                "settle_bet",
                &format!("{bet}-{player}-settle"),
                player,
                &format!(r#""bet_id":"{bet}","payout":"{payout}""#),
            ));
            if round.is_multiple_of(5) {
                let shared = format!("shared-r{round}");
                lines.push(line(
                    "place_bet",
                    &format!("{shared}-{player}-bet"),
                    player,
                    &format!(r#""bet_id":"{shared}","game":"dice","stake":"1","currency":"XTR""#),
                ));
            }
        }
    }
    lines
}

/// Submits `lines` through a group-commit writer of this process: one task per player,
/// each in its lines' order. Returns them as `run_process` does, in the order given.
async fn in_process_writer<S: EventStore>(
    store: S,
    lines: Vec<String>,
) -> (Vec<String>, i32, Vec<Value>) {
    let writer = GroupCommit::start(
        store,
        ledger::Ledger::default(),
        GroupCommitConfig::default(),
    );
    let mut by_player: BTreeMap<i64, Vec<(usize, String)>> = BTreeMap::new();
    for (i, text) in lines.iter().enumerate() {
        let player = serde_json::from_str::<Value>(text).unwrap()["player"]
            .as_i64()
            .unwrap();
        by_player.entry(player).or_default().push((i, text.clone()));
    }
    let tasks: Vec<_> = by_player
        .into_values()
        .map(|mine| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for (i, text) in mine {
                    let request = ledger::wire::parse_command(&text).unwrap();
                    let outcome = writer.submit(Submission::new(request)).await.unwrap();
                    outcomes.push((i, serde_json::to_value(&outcome).unwrap()));
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = vec![Value::Null; lines.len()];
    for task in tasks {
        for (i, outcome) in task.await.unwrap() {
            outcomes[i] = outcome;
        }
    }
    (lines, 0, outcomes)
}

fn run_process(url: &str, lines: &[String]) -> (i32, Vec<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["--database-url", url, "ledger", "submit"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("croupier starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = lines.join("\n");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.code().is_some(),
        "croupier was killed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcomes = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output.status.code().unwrap(), outcomes)
}

async fn several_processes_append_while_a_reader_tails<S: EventStore>(store: S, url: String) {
    let deposits: Vec<String> = (1..=PLAYERS)
        .map(|p| {
            line("deposit", &format!("dep-{p}"), p, &format!(
                r#""amount":"{DEPOSIT}","currency":"XTR","method":"telegram_stars","external_ref":"charge-{p}""#
            ))
        })
        .collect();
    let (status, _) = run_process(&url, &deposits);
    assert_eq!(status, 0);

    // The projector follows the log in small batches the whole time the writers run.
    let projector = projections::projector::Projector::connect(&url)
        .await
        .unwrap();
    // It stops once it has passed the end marker, whose position it is told.
    let (end_sender, end) = tokio::sync::watch::channel(u64::MAX);
    let projecting = {
        let (store, projector) = (store.clone(), projector.clone());
        tokio::spawn(async move {
            let mut commits = store.commits();
            loop {
                let reached = projector.catch_up(&store, 7, |_| {}).await.unwrap();
                if reached >= *end.borrow() {
                    return;
                }
                let _ = tokio::time::timeout(Duration::from_millis(10), commits.changed()).await;
            }
        })
    };
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tail = Tail::new(store, 0, 50, Duration::from_millis(10));
            let mut seen = Vec::new();
            loop {
                let batch = tail.next_batch().await.unwrap();
                let done = batch.iter().any(|e| e.stream == "end");
                seen.extend(
                    batch
                        .into_iter()
                        .filter(|e| e.stream != "end")
                        .map(|e| e.position),
                );
                if done {
                    return seen;
                }
            }
        })
    };

    // OS processes, each submitting one command at a time...
    let processes: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                let lines = script(p);
                let (status, outcomes) = run_process(&url, &lines);
                (lines, status, outcomes)
            })
        })
        .collect();
    // ...and writers in this process with a task per player, so that their batches hold
    // many commands and their fast paths race the processes' appends.
    let writers: Vec<_> = (0..IN_PROCESS_WRITERS)
        .map(|w| tokio::spawn(in_process_writer(store.clone(), script(PROCESSES + w))))
        .collect();
    let mut results = Vec::new();
    for process in processes {
        results.push(process.await.unwrap());
    }
    for writer in writers {
        results.push(writer.await.unwrap());
    }
    // A marker event tells the reader that every writer has finished.
    store::append(
        &store,
        "end",
        store::ExpectedVersion::Any,
        vec![store::NewEvent {
            event_type: "end".to_owned(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: store::Metadata::default(),
        }],
    )
    .await
    .unwrap();
    end_sender.send_replace(store.head().await.unwrap().unwrap().position);
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader stalled")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), projecting)
        .await
        .expect("the projector stalled")
        .unwrap();
    // Every committed event was applied exactly once: the read models equal a replay.
    let audit = projections::audit::verify(
        &store,
        None,
        projections::audit::Projections::CatchUpAndCompare(&projector),
        |_| {},
    )
    .await
    .unwrap()
    .unwrap_or_else(|finding| panic!("{finding}"));
    assert!(audit.projections_checked);

    // Every event committed by any process was seen once, in position order.
    let all = store.read_all(0, 1_000_000).await.unwrap();
    hash::verify((0, GENESIS), &all).expect("the chain verifies");
    let positions: Vec<u64> = all
        .iter()
        .filter(|e| e.stream != "end")
        .map(|e| e.position)
        .collect();
    assert_eq!(
        seen, positions,
        "the tailing reader saw every event exactly once, in order"
    );

    // Outcomes: one line per command, no bad input, no conflicts, no infrastructure errors.
    let mut first_runs: HashMap<String, usize> = HashMap::new();
    let mut events_by_key: HashMap<String, Value> = HashMap::new();
    let mut expected_cash: BTreeMap<i64, i64> = (1..=PLAYERS).map(|p| (p, DEPOSIT)).collect();
    let mut appended = usize::try_from(PLAYERS).unwrap();
    for (lines, status, outcomes) in &results {
        assert!(matches!(status, 0 | 3), "exit status {status}");
        assert_eq!(lines.len(), outcomes.len());
        for (text, outcome) in lines.iter().zip(outcomes) {
            let command: Value = serde_json::from_str(text).unwrap();
            let key = command["idempotency_key"].as_str().unwrap().to_owned();
            let kind = outcome["outcome"].as_str().unwrap();
            assert!(
                matches!(kind, "accepted" | "rejected"),
                "{text} -> {outcome}"
            );
            if let Some(earlier) = events_by_key.insert(key.clone(), outcome["events"].clone()) {
                assert_eq!(
                    earlier, outcome["events"],
                    "a replay returns the original events"
                );
            }
            if outcome["replayed"] == false {
                *first_runs.entry(key).or_default() += 1;
                if kind == "accepted" {
                    appended += outcome["events"].as_array().unwrap().len();
                    let player = command["player"].as_i64().unwrap();
                    let cash = expected_cash.get_mut(&player).unwrap();
                    match command["type"].as_str().unwrap() {
                        "place_bet" => {
                            *cash -= command["stake"].as_str().unwrap().parse::<i64>().unwrap()
                        }
                        "settle_bet" => {
                            *cash += command["payout"].as_str().unwrap().parse::<i64>().unwrap()
                        }
                        other => panic!("unexpected {other}"),
                    }
                }
            }
        }
    }
    assert!(
        first_runs.values().all(|&n| n == 1),
        "a key ran more than once"
    );
    assert_eq!(
        appended,
        positions.len(),
        "events reported = events in the log"
    );

    // Replaying each player's stream gives the cash the outcomes add up to, never below zero.
    let xtr = CurrencyCode::xtr();
    for (player, cash) in expected_cash {
        let state = store::player::load(&store, PlayerId::new(player).unwrap())
            .await
            .unwrap();
        assert!(state.cash(&xtr) >= Decimal::ZERO);
        assert_eq!(state.cash(&xtr), Decimal::from(cash), "player {player}");
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn postgres_processes_append_while_a_reader_tails(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    several_processes_append_while_a_reader_tails(PgStore::from_pool(pool), url).await;
}

#[tokio::test]
async fn sqlite_processes_append_while_a_reader_tails() {
    let (url, _dir) = common::sqlite_url();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    several_processes_append_while_a_reader_tails(store, url).await;
}
