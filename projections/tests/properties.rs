//! Property: for random histories, the read models maintained incrementally (catching up
//! at random moments, in random batch sizes) equal the ones rebuilt from scratch, and
//! equal a replay of the log. SQLite, for speed; the same SQL serves PostgreSQL.

use ledger::Ledger;
use projections::audit::{verify, Projections};
use projections::projector::Projector;
use projections::report::Days;
use proptest::prelude::*;
use store::{EventStore, GroupCommit, GroupCommitConfig, SqliteStore, Submission};

/// A command for one of three players; some are rejected, which is part of the point.
fn command() -> impl Strategy<Value = String> {
    let player = 1..=3i64;
    let bet = 0..4u8;
    let amount = 1..80i64;
    prop_oneof![
        (player.clone(), amount.clone(), 0..6u8).prop_map(|(p, a, c)| format!(
            r#""type":"deposit","player":{p},"amount":"{a}","currency":"XTR","method":"telegram_stars","external_ref":"c{c}""#
        )),
        (player.clone(), bet.clone(), amount.clone()).prop_map(|(p, b, a)| format!(
            r#""type":"place_bet","player":{p},"bet_id":"b{b}","game":"dice","stake":"{a}","currency":"XTR""#
        )),
        (player.clone(), bet.clone(), 0..120i64).prop_map(|(p, b, a)| format!(
            r#""type":"settle_bet","player":{p},"bet_id":"b{b}","payout":"{a}""#
        )),
        (player.clone(), bet).prop_map(|(p, b)| format!(
            r#""type":"void_bet","player":{p},"bet_id":"b{b}","reason":"void""#
        )),
        (player, 0..6u8, any::<bool>()).prop_map(|(p, c, f)| format!(
            r#""type":"refund_deposit","player":{p},"external_ref":"c{c}","forced":{f}"#
        )),
    ]
}

/// Everything the read models hold, as one comparable value.
async fn snapshot(projector: &Projector) -> String {
    let all = Days::default();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        projector.balances().await.unwrap(),
        projector.house_accounts().await.unwrap(),
        projector.bets(&all, None).await.unwrap(),
        projector.deposits(&all).await.unwrap(),
        projector.daily(&all).await.unwrap()
    )
}

async fn check(
    history: Vec<(String, Option<u32>)>,
    rebuild_batch: u32,
) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir().join(format!("croupier-pprop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{n}.db"));
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    let projector = Projector::connect(&url).await.unwrap();
    for (i, (fields, catch_up)) in history.iter().enumerate() {
        let line = format!(r#"{{"idempotency_key":"k{i}",{fields}}}"#);
        writer
            .submit(Submission::new(ledger::wire::parse_command(&line).unwrap()))
            .await
            .unwrap();
        if let Some(batch) = catch_up {
            projector.catch_up(&store, *batch, |_| {}).await.unwrap();
        }
    }
    projector.catch_up(&store, 5, |_| {}).await.unwrap();
    let incremental = snapshot(&projector).await;
    projector
        .rebuild(&store, &[], rebuild_batch, |_, _| {})
        .await
        .unwrap();
    prop_assert_eq!(&snapshot(&projector).await, &incremental);
    projector.reset().await.unwrap();
    projector
        .catch_up(&store, rebuild_batch, |_| {})
        .await
        .unwrap();
    prop_assert_eq!(&snapshot(&projector).await, &incremental);
    let audit = verify(&store, None, Projections::Compare(&projector), |_| {})
        .await
        .unwrap();
    prop_assert!(
        audit.as_ref().is_ok_and(|s| s.projections_checked),
        "{:?}",
        audit
    );
    drop(writer);
    store.pool().close().await;
    projector.pool().close().await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_rebuilt_equals_replayed(
        history in prop::collection::vec((command(), prop::option::of(1..6u32)), 1..60),
        rebuild_batch in 1..20u32,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(check(history, rebuild_batch))?;
    }
}
