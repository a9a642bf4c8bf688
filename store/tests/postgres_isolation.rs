//! PostgreSQL only: the append path's correctness rests on READ COMMITTED (the head is
//! read in a snapshot taken after the lock is granted). A server whose default is another
//! level must not make it wrong: `PgStore::connect` asks for READ COMMITTED, and the
//! database function refuses to run under anything else.

use ledger::Ledger;
use store::{GroupCommit, GroupCommitConfig, OutcomeKind, PgStore, Submission};

fn deposit(key: &str, player: i64) -> Submission {
    Submission::new(
        ledger::wire::parse_command(&format!(
            r#"{{"type":"deposit","idempotency_key":"{key}","player":{player},"amount":"10","currency":"XTR","method":"telegram_stars","external_ref":"{key}"}}"#
        ))
        .unwrap(),
    )
}

#[sqlx::test(migrations = "../migrations/postgres")]
async fn appends_stay_correct_when_the_server_defaults_to_repeatable_read(pool: sqlx::PgPool) {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE \"{database}\" SET default_transaction_isolation = 'repeatable read'"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL");
    let url = format!("{}/{database}", admin.rsplit_once('/').unwrap().0);

    // Through `connect`, the way croupier opens a database: everything works, from
    // several writers at once.
    let store = PgStore::connect(&url).await.unwrap();
    let writers: Vec<_> = (0..3)
        .map(|_| {
            GroupCommit::start(
                store.clone(),
                Ledger::default(),
                GroupCommitConfig::default(),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for (w, writer) in writers.iter().enumerate() {
        for n in 0..20 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .submit(deposit(&format!("w{w}-{n}"), 1 + n))
                    .await
                    .unwrap()
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().kind, OutcomeKind::Accepted);
    }

    // A pool made elsewhere, at the server's default: the function refuses loudly
    // rather than append from a stale head.
    let plain = sqlx::PgPool::connect(&url).await.unwrap();
    let level: String = sqlx::query_scalar("SHOW transaction_isolation")
        .fetch_one(&plain)
        .await
        .unwrap();
    assert_eq!(level, "repeatable read");
    let result = sqlx::query_scalar::<_, bool>(
        "SELECT ledger_append(NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', \
         '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
    )
    .fetch_one(&plain)
    .await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("needs READ COMMITTED"), "{error}");
}
