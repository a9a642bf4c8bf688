//! The projector on PostgreSQL and SQLite: known answers for a fixed history, a rebuild
//! from scratch equal to incremental catch-up whatever the batch boundaries, and two
//! runners at once counting nothing twice.

use ledger::Ledger;
use projections::projector::Projector;
use projections::report::{BalanceRow, LiabilityRow};
use store::{EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, Submission};

/// The URL of the database a test store is on, for the projector's own pool.
trait Url: EventStore {
    async fn url(&self) -> String;
}

impl Url for store::PgStore {
    async fn url(&self) -> String {
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(self.pool())
            .await
            .unwrap();
        let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL");
        format!("{}/{database}", admin.rsplit_once('/').unwrap().0)
    }
}

impl Url for store::SqliteStore {
    async fn url(&self) -> String {
        let path: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(self.pool())
                .await
                .unwrap();
        format!("sqlite://{path}")
    }
}

const HISTORY: [&str; 8] = [
    r#"{"type":"deposit","idempotency_key":"k1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"c1"}"#,
    r#"{"type":"deposit","idempotency_key":"k2","player":8,"amount":"50","currency":"XTR","method":"telegram_stars","external_ref":"c2"}"#,
    r#"{"type":"place_bet","idempotency_key":"k3","player":7,"bet_id":"r1","game":"dice","stake":"30","currency":"XTR"}"#,
    r#"{"type":"settle_bet","idempotency_key":"k4","player":7,"bet_id":"r1","payout":"45"}"#,
    r#"{"type":"place_bet","idempotency_key":"k5","player":8,"bet_id":"r1","game":"dice","stake":"20","currency":"XTR"}"#,
    r#"{"type":"settle_bet","idempotency_key":"k6","player":8,"bet_id":"r1","payout":"0"}"#,
    r#"{"type":"place_bet","idempotency_key":"k7","player":7,"bet_id":"r2","game":"dice","stake":"10","currency":"XTR"}"#,
    r#"{"type":"deposit","idempotency_key":"k8","player":9,"amount":"5.50","currency":"USD","method":"card","external_ref":"u1"}"#,
];

async fn submit_all<S: EventStore>(store: &S, lines: &[&str]) {
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    for line in lines {
        let outcome = writer
            .submit(Submission::new(ledger::wire::parse_command(line).unwrap()))
            .await
            .unwrap();
        assert_eq!(outcome.kind, OutcomeKind::Accepted, "{line}");
    }
}

fn balance(player: i64, currency: &str, balance: &str, in_play: &str) -> BalanceRow {
    BalanceRow {
        player,
        currency: currency.to_owned(),
        balance: balance.to_owned(),
        in_play: in_play.to_owned(),
    }
}

async fn house(projector: &Projector) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT account, currency, balance FROM proj_house ORDER BY account, currency")
        .fetch_all(projector.pool())
        .await
        .unwrap()
}

async fn a_fixed_history_gives_known_answers<S: Url>(store: S) {
    submit_all(&store, &HISTORY).await;
    let projector = Projector::connect(&store.url().await).await.unwrap();
    assert_eq!(projector.catch_up(&store, 3, |_| {}).await.unwrap(), 8);
    assert_eq!(
        projector.balances().await.unwrap(),
        [
            balance(7, "XTR", "105", "10"),
            balance(8, "XTR", "30", "0"),
            balance(9, "USD", "5.50", "0"),
        ]
    );
    let liabilities = projector.liabilities().await.unwrap();
    assert_eq!(
        liabilities,
        [
            LiabilityRow {
                currency: "USD".to_owned(),
                total: "5.50".to_owned(),
                players: 1
            },
            LiabilityRow {
                currency: "XTR".to_owned(),
                total: "135".to_owned(),
                players: 2
            },
        ]
    );
    let expected = [
        ("external:card", "USD", "-5.50"),
        ("external:telegram_stars", "XTR", "-150"),
        ("house:bets_in_play", "XTR", "10"),
        ("house:gaming", "XTR", "5"),
    ];
    let house = house(&projector).await;
    assert_eq!(
        house
            .iter()
            .map(|(a, c, b)| (a.as_str(), c.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
        expected
    );
    // Caught up: nothing more to do, and the checkpoints say where.
    assert_eq!(projector.catch_up(&store, 3, |_| {}).await.unwrap(), 8);
    assert!(projector
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .all(|c| c.position == 8));
}

async fn a_rebuild_equals_incremental_catch_up<S: Url>(store: S) {
    let projector = Projector::connect(&store.url().await).await.unwrap();
    // Incrementally, a command at a time.
    for line in HISTORY {
        submit_all(&store, &[line]).await;
        projector.catch_up(&store, 1, |_| {}).await.unwrap();
    }
    let incremental = (projector.balances().await.unwrap(), house(&projector).await);
    for batch_size in [1, 2, 3, 7, 100] {
        projector.reset().await.unwrap();
        assert!(projector.balances().await.unwrap().is_empty());
        projector
            .catch_up(&store, batch_size, |_| {})
            .await
            .unwrap();
        let rebuilt = (projector.balances().await.unwrap(), house(&projector).await);
        assert_eq!(rebuilt, incremental, "batch size {batch_size}");
    }
}

async fn two_runners_at_once_count_nothing_twice<S: Url>(store: S) {
    submit_all(&store, &HISTORY).await;
    let url = store.url().await;
    let (a, b) = (
        Projector::connect(&url).await.unwrap(),
        Projector::connect(&url).await.unwrap(),
    );
    let (x, y) = tokio::join!(a.catch_up(&store, 1, |_| {}), b.catch_up(&store, 1, |_| {}));
    assert_eq!((x.unwrap(), y.unwrap()), (8, 8));
    assert_eq!(
        a.balances().await.unwrap()[0],
        balance(7, "XTR", "105", "10")
    );
    assert_eq!(a.liabilities().await.unwrap()[1].total, "135");
}

async fn the_audit_compares_the_projections_with_a_replay<S: Url>(store: S) {
    use projections::audit::verify;
    submit_all(&store, &HISTORY).await;
    let projector = Projector::connect(&store.url().await).await.unwrap();
    let summary = verify(&store, None, Some(&projector), |_| {})
        .await
        .unwrap()
        .unwrap();
    assert!(summary.projections_checked);
    // Someone edits a read model: the audit names the player.
    sqlx::query("UPDATE proj_balances SET balance = '999' WHERE player = 8")
        .execute(projector.pool())
        .await
        .unwrap();
    let finding = verify(&store, None, Some(&projector), |_| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (finding.position, finding.stream.as_str()),
        (8, "player-8"),
        "{finding}"
    );
    assert!(finding.problem.contains("holds cash 999"), "{finding}");
    sqlx::query("UPDATE proj_balances SET balance = '30' WHERE player = 8")
        .execute(projector.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE proj_house SET balance = '6' WHERE account = 'house:gaming'")
        .execute(projector.pool())
        .await
        .unwrap();
    let finding = verify(&store, None, Some(&projector), |_| {})
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(finding.stream, "house", "{finding}");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrations = "../migrations/postgres")]
                async fn $name(pool: sqlx::PgPool) {
                    super::$name(store::PgStore::from_pool(pool)).await
                }
            )*
        }
        mod sqlite {
            $(
                #[sqlx::test(migrations = "../migrations/sqlite")]
                async fn $name(pool: sqlx::SqlitePool) {
                    super::$name(store::SqliteStore::from_pool(pool)).await
                }
            )*
        }
    };
}

on_both_backends!(
    a_fixed_history_gives_known_answers,
    a_rebuild_equals_incremental_catch_up,
    two_runners_at_once_count_nothing_twice,
    the_audit_compares_the_projections_with_a_replay,
);
