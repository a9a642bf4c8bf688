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
        "SELECT ledger_append(NULL, NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', \
         '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
    )
    .fetch_one(&plain)
    .await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("needs READ COMMITTED"), "{error}");
}

/// Regression: key and payment lookups were planned once, while the tables were empty, as
/// sequential scans, and kept that plan as the tables grew (it cut throughput eightfold).
/// PostgreSQL's own counters show whether a table was scanned. A retried command in every
/// round sends each batch down the locked path, which looks keys and payments up.
#[sqlx::test(migrations = "../migrations/postgres")]
async fn key_and_payment_lookups_never_scan_their_tables(pool: sqlx::PgPool) {
    let store = PgStore::from_pool(pool.clone());
    let writer = GroupCommit::start(store, Ledger::default(), GroupCommitConfig::default());
    writer.submit(deposit("seed", 99)).await.unwrap();
    for round in 0..30 {
        let tasks: Vec<_> = (1..=10)
            .map(|player| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .submit(deposit(&format!("k{round}-{player}"), player))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let retry = writer.submit(deposit("seed", 99)).await.unwrap();
        assert!(retry.replayed);
        for task in tasks {
            assert_eq!(task.await.unwrap().kind, OutcomeKind::Accepted);
        }
    }
    drop(writer);
    // Statistics reach the shared counters when each session flushes them; closing the
    // sessions flushes them all.
    let options = (*pool.connect_options()).clone();
    pool.close().await;
    let fresh = sqlx::PgPool::connect_with(options).await.unwrap();
    let scans: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables \
         WHERE relname IN ('ledger_commands', 'ledger_deposit_refs') ORDER BY relname",
    )
    .fetch_all(&fresh)
    .await
    .unwrap();
    assert_eq!(scans.len(), 2);
    // PostgreSQL plans a statement's first few executions afresh, and scanning a table
    // of a few rows is then the right choice; after that, 30 batches must not mean 30
    // scans.
    for (table, seq_scan, idx_scan) in scans {
        assert!(
            seq_scan <= 5,
            "{table} was scanned sequentially {seq_scan} times"
        );
        assert!(idx_scan > 0, "{table} was never looked up");
    }
}

/// The README's grants for the application role are enough to run, and history stays
/// out of its reach even without the triggers: it holds no UPDATE, DELETE or CREATE.
#[sqlx::test(migrations = "../migrations/postgres")]
async fn the_application_role_needs_only_the_grants_the_readme_lists(pool: sqlx::PgPool) {
    use std::str::FromStr;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Roles belong to the whole server: a name of its own for every run.
    let role = format!("croupier_app_{}", uuid_like());
    for grant in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT CONNECT ON DATABASE \"{database}\" TO {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!(
            "GRANT SELECT, INSERT ON ledger_events, ledger_commands, ledger_deposit_refs TO {role}"
        ),
        format!("GRANT SELECT ON _sqlx_migrations TO {role}"),
    ] {
        sqlx::query(&grant).execute(&pool).await.unwrap();
    }
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL");
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin)
        .unwrap()
        .username(&role)
        .database(&database);
    let store = PgStore::connect_with(options).await.unwrap();
    store::EventStore::migrate(&store)
        .await
        .expect("nothing to migrate, nothing to create");
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    assert_eq!(
        writer.submit(deposit("k1", 7)).await.unwrap().kind,
        OutcomeKind::Accepted
    );
    assert_eq!(
        writer.submit(deposit("k1", 7)).await.unwrap().kind,
        OutcomeKind::Accepted
    );
    for change in [
        "UPDATE ledger_events SET version = 1",
        "DELETE FROM ledger_commands",
        "CREATE TABLE shadow (x int)",
    ] {
        let refused = sqlx::query(change).execute(store.pool()).await.unwrap_err();
        assert!(
            refused.to_string().contains("permission denied"),
            "{change}: {refused}"
        );
    }
    drop(writer);
    store.pool().close().await;
    sqlx::query(&format!("DROP OWNED BY {role}"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&pool)
        .await
        .unwrap();
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}
