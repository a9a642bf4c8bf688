//! Kill the projector mid-run (SIGKILL, a real process), restart it: nothing counted
//! twice, nothing lost. The read models must equal a replay of the log.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use ledger::Ledger;
use projections::audit::{verify, Projections};
use projections::projector::Projector;
use store::{
    EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, PgStore, SqliteStore, Submission,
};

const PLAYERS: i64 = 20;
const ROUNDS: usize = 60;

/// About 2,400 events: every player deposits, then bets and settles, concurrently.
async fn history<S: EventStore>(store: &S) {
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    let tasks: Vec<_> = (1..=PLAYERS)
        .map(|player| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut lines = vec![format!(
                    r#"{{"type":"deposit","idempotency_key":"d{player}","player":{player},"amount":"100000","currency":"XTR","method":"telegram_stars","external_ref":"c{player}"}}"#
                )];
                for round in 0..ROUNDS {
                    lines.push(format!(
                        r#"{{"type":"place_bet","idempotency_key":"b{player}-{round}","player":{player},"bet_id":"r{round}","game":"dice","stake":"{}","currency":"XTR"}}"#,
                        1 + round % 7
                    ));
                    lines.push(format!(
                        r#"{{"type":"settle_bet","idempotency_key":"s{player}-{round}","player":{player},"bet_id":"r{round}","payout":"{}"}}"#,
                        (round % 3) * 2
                    ));
                }
                for line in lines {
                    let request = ledger::wire::parse_command(&line).unwrap();
                    let outcome = writer.submit(Submission::new(request)).await.unwrap();
                    assert_eq!(outcome.kind, OutcomeKind::Accepted);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn killed_mid_run_and_restarted<S: EventStore>(store: S, url: String) {
    history(&store).await;
    let head = store.head().await.unwrap().unwrap().position;
    let projector = Projector::connect(&url).await.unwrap();
    let catch_up = || {
        Command::new(env!("CARGO_BIN_EXE_croupier"))
            .args([
                "--database-url",
                &url,
                "projections",
                "catch-up",
                "--batch-size",
                "3",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Kill it; adjust the moment until the kill lands in the middle of the run.
    let mut delay = Duration::from_millis(150);
    let mut killed_mid_run = false;
    for _ in 0..8 {
        let mut child = catch_up();
        tokio::time::sleep(delay).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let reached = projector.checkpoints().await.unwrap()[0].position;
        if reached > 0 && reached < head {
            killed_mid_run = true;
            break;
        }
        delay = if reached == 0 { delay * 2 } else { delay / 2 };
        projector.reset().await.unwrap();
    }
    assert!(killed_mid_run, "never caught the projector mid-run");
    // Restart: it resumes from its checkpoint, and ends equal to a replay.
    let status = catch_up().wait().unwrap();
    assert!(status.success());
    let summary = verify(&store, None, Projections::Compare(&projector), |_| {})
        .await
        .unwrap()
        .unwrap_or_else(|finding| panic!("{finding}"));
    assert!(
        summary.projections_checked,
        "the projections are not at the head"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn postgres_projector_killed_mid_run_loses_and_doubles_nothing(pool: sqlx::PgPool) {
    let url = common::database_url(&pool).await;
    killed_mid_run_and_restarted(PgStore::from_pool(pool), url).await;
}

#[tokio::test]
async fn sqlite_projector_killed_mid_run_loses_and_doubles_nothing() {
    let (url, _dir) = common::sqlite_url();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    killed_mid_run_and_restarted(store, url).await;
}
