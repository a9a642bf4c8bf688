//! `audit verify` against tampering, on PostgreSQL and SQLite: an attacker with database
//! access drops the guards and alters, removes or reorders events, or rewrites history
//! and recomputes every hash after it. Each is caught, at the right position.

mod common;

use ledger::Ledger;
use projections::audit::{verify, Finding, PublishedHead, Summary};
use store::hash::event_hash;
use store::{EventStore, GroupCommit, GroupCommitConfig, Metadata, OutcomeKind, Submission};

/// Backend-specific ways in.
trait Backend: EventStore {
    /// Drops the triggers that refuse UPDATE and DELETE on the log.
    async fn drop_guards(&self);
    async fn run(&self, sql: &str);
    async fn set_bytes(&self, position: u64, column: &str, bytes: &[u8]);
}

impl Backend for store::PgStore {
    async fn drop_guards(&self) {
        self.run("ALTER TABLE ledger_events DISABLE TRIGGER USER")
            .await;
    }
    async fn run(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.unwrap();
    }
    async fn set_bytes(&self, position: u64, column: &str, bytes: &[u8]) {
        sqlx::query(&format!(
            "UPDATE ledger_events SET {column} = $1 WHERE position = $2"
        ))
        .bind(bytes)
        .bind(i64::try_from(position).unwrap())
        .execute(self.pool())
        .await
        .unwrap();
    }
}

impl Backend for store::SqliteStore {
    async fn drop_guards(&self) {
        self.run("DROP TRIGGER ledger_events_no_update; DROP TRIGGER ledger_events_no_delete")
            .await;
    }
    async fn run(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.unwrap();
    }
    async fn set_bytes(&self, position: u64, column: &str, bytes: &[u8]) {
        sqlx::query(&format!(
            "UPDATE ledger_events SET {column} = ?1 WHERE position = ?2"
        ))
        .bind(bytes)
        .bind(i64::try_from(position).unwrap())
        .execute(self.pool())
        .await
        .unwrap();
    }
}

/// Positions 1 deposit, 2 bet, 3 settle, 4 bet, 5 settle, 6 another player's deposit.
async fn history<S: EventStore>(store: &S) {
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    let lines = [
        r#"{"type":"deposit","idempotency_key":"k1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"c1"}"#,
        r#"{"type":"place_bet","idempotency_key":"k2","player":7,"bet_id":"r1","game":"dice","stake":"10","currency":"XTR"}"#,
        r#"{"type":"settle_bet","idempotency_key":"k3","player":7,"bet_id":"r1","payout":"20"}"#,
        r#"{"type":"place_bet","idempotency_key":"k4","player":7,"bet_id":"r2","game":"dice","stake":"30","currency":"XTR"}"#,
        r#"{"type":"settle_bet","idempotency_key":"k5","player":7,"bet_id":"r2","payout":"0"}"#,
        r#"{"type":"deposit","idempotency_key":"k6","player":8,"amount":"50","currency":"XTR","method":"telegram_stars","external_ref":"c2"}"#,
    ];
    for line in lines {
        let outcome = writer
            .submit(Submission::new(ledger::wire::parse_command(line).unwrap()))
            .await
            .unwrap();
        assert_eq!(outcome.kind, OutcomeKind::Accepted);
    }
}

async fn audit<S: EventStore>(store: &S, head: Option<PublishedHead>) -> Result<Summary, Finding> {
    verify(store, head, projections::audit::Projections::Skip, |_| {})
        .await
        .unwrap()
}

async fn published<S: EventStore>(store: &S) -> PublishedHead {
    store
        .head()
        .await
        .unwrap()
        .unwrap()
        .display()
        .parse()
        .unwrap()
}

async fn an_untouched_log_verifies<S: Backend>(store: S) {
    assert_eq!(audit(&store, None).await.unwrap().head, None);
    history(&store).await;
    let head = published(&store).await;
    let summary = audit(&store, Some(head)).await.unwrap();
    assert_eq!(
        (summary.events, summary.streams, summary.players),
        (6, 2, 2)
    );
    assert_eq!(summary.head, Some(head.to_string()));
}

async fn a_changed_payload_byte_is_caught<S: Backend>(store: S) {
    history(&store).await;
    let mut payload = store.read_all(2, 1).await.unwrap().remove(0).payload;
    let last = payload.len() - 1;
    payload[last] ^= 1;
    store.drop_guards().await;
    store.set_bytes(3, "payload", &payload).await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(
        (finding.position, finding.stream.as_str()),
        (3, "player-7"),
        "{finding}"
    );
    assert!(finding.problem.contains("altered"), "{finding}");
}

async fn a_deleted_event_is_caught<S: Backend>(store: S) {
    history(&store).await;
    store.drop_guards().await;
    store
        .run("DELETE FROM ledger_events WHERE position = 4")
        .await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(finding.position, 5, "{finding}");
    assert!(
        finding.problem.contains("position 4 is missing"),
        "{finding}"
    );
}

async fn two_swapped_events_are_caught<S: Backend>(store: S) {
    history(&store).await;
    store.drop_guards().await;
    store
        .run("UPDATE ledger_events SET position = 1000 WHERE position = 2")
        .await;
    store
        .run("UPDATE ledger_events SET position = 2 WHERE position = 3")
        .await;
    store
        .run("UPDATE ledger_events SET position = 3 WHERE position = 1000")
        .await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(finding.position, 2, "{finding}");
}

/// History rewritten with every hash recomputed: the chain holds together again, and
/// only a head published before the rewrite shows it.
async fn a_rewritten_and_rehashed_history_misses_the_published_head<S: Backend>(store: S) {
    history(&store).await;
    let head = published(&store).await;
    let mut events = store.read_all(0, 100).await.unwrap();
    let mut forged = Metadata::decode(&events[2].metadata).unwrap();
    forged.actor = Some("someone else".to_owned());
    events[2].metadata = forged.encode();
    for i in 2..events.len() {
        if i > 2 {
            events[i].prev_hash = events[i - 1].hash;
        }
        events[i].hash = event_hash(&events[i]);
    }
    store.drop_guards().await;
    for event in &events[2..] {
        store
            .set_bytes(event.position, "metadata", &event.metadata)
            .await;
        store
            .set_bytes(event.position, "prev_hash", &event.prev_hash)
            .await;
        store.set_bytes(event.position, "hash", &event.hash).await;
    }
    assert!(
        audit(&store, None).await.is_ok(),
        "a consistent rewrite passes on its own"
    );
    let finding = audit(&store, Some(head)).await.unwrap_err();
    assert_eq!(finding.position, head.position, "{finding}");
    assert!(
        finding.problem.contains("no longer in the chain"),
        "{finding}"
    );
    // A head published beyond the end (events removed since) is caught too.
    let beyond = PublishedHead {
        position: 99,
        ..head
    };
    assert!(audit(&store, Some(beyond))
        .await
        .unwrap_err()
        .problem
        .contains("removed"));
}

/// A rehashed chain still has to make sense as a ledger: an inflated deposit no longer
/// matches its postings.
async fn a_rehashed_inflated_deposit_breaks_the_ledger_rules<S: Backend>(store: S) {
    history(&store).await;
    let mut events = store.read_all(0, 100).await.unwrap();
    let mut value: serde_json::Value = rmp_serde::from_slice(&events[0].payload).unwrap();
    value["amount"] = serde_json::json!("1000000");
    events[0].payload = rmp_serde::to_vec_named(&value).unwrap();
    for i in 0..events.len() {
        if i > 0 {
            events[i].prev_hash = events[i - 1].hash;
        }
        events[i].hash = event_hash(&events[i]);
    }
    store.drop_guards().await;
    for event in &events {
        store
            .set_bytes(event.position, "payload", &event.payload)
            .await;
        store
            .set_bytes(event.position, "prev_hash", &event.prev_hash)
            .await;
        store.set_bytes(event.position, "hash", &event.hash).await;
    }
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(finding.position, 1, "{finding}");
    assert!(
        finding.problem.contains("postings do not match"),
        "{finding}"
    );
}

on_both_backends!(
    an_untouched_log_verifies,
    a_changed_payload_byte_is_caught,
    a_deleted_event_is_caught,
    two_swapped_events_are_caught,
    a_rewritten_and_rehashed_history_misses_the_published_head,
    a_rehashed_inflated_deposit_breaks_the_ledger_rules,
);
