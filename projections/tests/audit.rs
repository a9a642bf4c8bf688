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

const SEED_A: [u8; 32] = [5; 32];
const SEED_B: [u8; 32] = [6; 32];

/// A fair dice bet's command and its settlement, by the seed's real roll.
fn fair_round(key: u32, bet: &str, seed: &[u8; 32], nonce: u64) -> [String; 2] {
    let hash = ledger::fair::seed_hash(seed);
    let roll = ledger::fair::roll(seed, "lucky-7", nonce);
    let payout = ledger::fair::Terms::parse("dice:50:200")
        .unwrap()
        .outcome(rust_decimal::Decimal::TEN, roll, 0)
        .payout;
    [
        format!(
            r#"{{"type":"place_bet","idempotency_key":"f{key}","player":7,"bet_id":"{bet}","game":"dice","stake":"10","currency":"XTR","fair":{{"seed_hash":"{hash}","client_seed":"lucky-7","nonce":{nonce},"terms":"dice:50:200"}}}}"#
        ),
        format!(
            r#"{{"type":"settle_bet","idempotency_key":"f{}","player":7,"bet_id":"{bet}","payout":"{payout}","roll":{roll}}}"#,
            key + 1
        ),
    ]
}

/// Positions 1 deposit, 2 commit A, 3 bet, 4 settle, 5 reveal A, 6 commit B, 7 bet,
/// 8 settle (B not revealed).
async fn fair_history<S: EventStore>(store: &S) {
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    let (a, b) = (
        ledger::fair::seed_hash(&SEED_A),
        ledger::fair::seed_hash(&SEED_B),
    );
    let mut lines = vec![
        r#"{"type":"deposit","idempotency_key":"k1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"c1"}"#.to_owned(),
        format!(r#"{{"type":"commit_fair_seed","idempotency_key":"c-a","player":7,"seed_hash":"{a}"}}"#),
    ];
    lines.extend(fair_round(1, "r1", &SEED_A, 0));
    lines.push(format!(
        r#"{{"type":"reveal_fair_seed","idempotency_key":"r-a","player":7,"seed_hash":"{a}","seed":"{}"}}"#,
        hex::encode(SEED_A)
    ));
    lines.push(format!(
        r#"{{"type":"commit_fair_seed","idempotency_key":"c-b","player":7,"seed_hash":"{b}"}}"#
    ));
    lines.extend(fair_round(3, "r2", &SEED_B, 0));
    for line in lines {
        let outcome = writer
            .submit(Submission::new(ledger::wire::parse_command(&line).unwrap()))
            .await
            .unwrap();
        assert_eq!(outcome.kind, OutcomeKind::Accepted, "{line}");
    }
}

/// Rewrites the payload at `position` with `edit` and rehashes the chain from there, as
/// an attacker with database access would.
async fn rewrite<S: Backend>(store: &S, position: u64, edit: impl Fn(&mut serde_json::Value)) {
    let mut events = store.read_all(0, 100).await.unwrap();
    let at = usize::try_from(position - 1).unwrap();
    let mut value: serde_json::Value = rmp_serde::from_slice(&events[at].payload).unwrap();
    edit(&mut value);
    events[at].payload = rmp_serde::to_vec_named(&value).unwrap();
    for i in at..events.len() {
        if i > 0 {
            events[i].prev_hash = events[i - 1].hash;
        }
        events[i].hash = event_hash(&events[i]);
    }
    store.drop_guards().await;
    for event in &events[at..] {
        store
            .set_bytes(event.position, "payload", &event.payload)
            .await;
        store
            .set_bytes(event.position, "prev_hash", &event.prev_hash)
            .await;
        store.set_bytes(event.position, "hash", &event.hash).await;
    }
}

async fn fair_bets_are_recomputed_once_revealed_and_pending_before<S: Backend>(store: S) {
    fair_history(&store).await;
    let summary = audit(&store, None).await.unwrap();
    assert_eq!(summary.events, 8);
    assert_eq!((summary.fair_verified, summary.fair_pending), (1, 1));
}

/// The regression this feature closes: a roll changed after the fact (and the chain
/// rehashed) is caught once the seed is revealed, at the bet's settlement.
async fn a_rehashed_tampered_roll_is_caught_at_its_settlement<S: Backend>(store: S) {
    fair_history(&store).await;
    rewrite(&store, 4, |settled| {
        let roll = settled["roll"].as_u64().unwrap();
        settled["roll"] = serde_json::json!((roll + 1) % 10_000);
    })
    .await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(
        (finding.position, finding.stream.as_str()),
        (4, "player-7"),
        "{finding}"
    );
    assert!(finding.problem.contains("bet 'r1'"), "{finding}");
    assert!(
        finding.problem.contains("is not the seed's roll"),
        "{finding}"
    );
}

async fn a_rehashed_reveal_not_matching_its_commitment_is_caught<S: Backend>(store: S) {
    fair_history(&store).await;
    rewrite(&store, 5, |revealed| {
        revealed["seed"] = serde_json::json!(hex::encode([9u8; 32]));
    })
    .await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(
        (finding.position, finding.stream.as_str()),
        (5, "player-7"),
        "{finding}"
    );
    assert!(
        finding.problem.contains("does not hash to its commitment"),
        "{finding}"
    );
}

/// A bet naming a seed never committed before it (the commitment moved after it).
async fn a_rehashed_bet_on_an_uncommitted_seed_is_caught<S: Backend>(store: S) {
    fair_history(&store).await;
    rewrite(&store, 7, |placed| {
        placed["fair"]["seed_hash"] = serde_json::json!(ledger::fair::seed_hash(&[9u8; 32]));
    })
    .await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(finding.position, 7, "{finding}");
    assert!(finding.problem.contains("was never committed"), "{finding}");
}

/// Regression: a payout rewritten on a fair bet whose seed is not revealed yet (bet r2,
/// settled at 8) passed the audit as "pending", though its roll and terms, public at
/// settlement, already say what it pays.
async fn a_rehashed_payout_of_an_unrevealed_fair_bet_is_caught_at_its_settlement<S: Backend>(
    store: S,
) {
    fair_history(&store).await;
    // The attacker rewrites the payout and the postings that follow from it, so that
    // every other check holds.
    rewrite(&store, 8, |settled| {
        let mut e: ledger::event::BetSettled = serde_json::from_value(settled.clone()).unwrap();
        e.payout = if e.payout.is_zero() {
            rust_decimal::Decimal::from(19)
        } else {
            rust_decimal::Decimal::ZERO
        };
        e.postings = ledger::Event::BetSettled(e.clone())
            .expected_postings()
            .unwrap();
        *settled = serde_json::to_value(&e).unwrap();
    })
    .await;
    let finding = audit(&store, None).await.unwrap_err();
    assert_eq!(
        (finding.position, finding.stream.as_str()),
        (8, "player-7"),
        "{finding}"
    );
    assert!(
        finding.problem.contains("bet 'r2' settled with"),
        "{finding}"
    );
}

/// Events as a tampered log could hold them, sealed into a chain with every hash right,
/// as an attacker who recomputes the hashes would leave them.
fn sealed(events: &[ledger::Event]) -> Vec<store::StoredEvent> {
    let mut chain = store::append::Chain::after(None, 0);
    let mut versions = std::collections::HashMap::new();
    events
        .iter()
        .map(|event| {
            let version = versions.entry(event.player()).or_insert(0);
            *version += 1;
            let stream = store::player::stream_of(event.player());
            chain.seal_event(&stream, *version, event, Metadata::default())
        })
        .collect()
}

/// Regression: the auditor added amounts read from the log unchecked (the house and
/// `finance_daily` sums, a settlement's stake less its payout before its sign was
/// checked, the postings' total, a fair bet's win), so a log holding amounts near
/// `Decimal::MAX` panicked `audit verify` instead of failing it at a position.
#[test]
fn tampered_amounts_that_overflow_are_a_finding_not_a_panic() {
    use ledger::event::{BetPlaced, BetSettled, Deposited, FairSeedCommitted};
    use ledger::{Account, CurrencyCode, Event, PaymentMethod, PlayerId, Posting, Timestamp};
    use rust_decimal::Decimal;

    let max = Decimal::MAX;
    let xtr = CurrencyCode::xtr;
    let player = |id| PlayerId::new(id).unwrap();
    let posting = |account, amount| Posting {
        account,
        currency: xtr(),
        amount,
    };
    let stars = || Account::External(PaymentMethod::telegram_stars());
    let deposit = |id, charge: &str, amount: Decimal| {
        Event::Deposited(Deposited {
            player: player(id),
            method: PaymentMethod::telegram_stars(),
            external_ref: charge.parse().unwrap(),
            amount,
            currency: xtr(),
            at: Timestamp::default(),
            postings: vec![
                posting(stars(), -amount),
                posting(Account::PlayerCash(player(id)), amount),
            ],
        })
    };
    let seed = [3u8; 32];
    let seed_hash = ledger::fair::seed_hash(&seed);
    let fair_bet = ledger::fair::FairBet {
        seed_hash: seed_hash.clone(),
        client_seed: "c".to_owned(),
        nonce: 0,
        terms: "dice:98:200".to_owned(),
    };
    let roll = ledger::fair::roll(&seed, "c", 0);
    assert!(roll < 9_800, "the roll wins, so its win is computed");
    let settled = |stake: Decimal, payout: Decimal, roll, postings| {
        Event::BetSettled(BetSettled {
            player: player(1),
            bet_id: "b".parse().unwrap(),
            stake,
            payout,
            currency: xtr(),
            at: Timestamp::default(),
            postings,
            roll,
        })
    };
    let cases: Vec<(&str, Vec<Event>, u64)> = vec![
        (
            "two players' deposits overflow the house and the day's deposits",
            vec![deposit(1, "c1", max), deposit(2, "c2", max)],
            2,
        ),
        (
            "a settlement's stake less a negative payout overflows",
            vec![settled(max, -Decimal::ONE, None, vec![])],
            1,
        ),
        (
            "postings whose total overflows",
            vec![settled(
                Decimal::ONE,
                Decimal::ONE,
                None,
                vec![
                    posting(Account::HouseGaming, max),
                    posting(Account::HouseGaming, max),
                ],
            )],
            1,
        ),
        (
            "a fair bet whose win cannot be computed",
            vec![
                Event::FairSeedCommitted(FairSeedCommitted {
                    player: player(1),
                    seed_hash,
                    at: Timestamp::default(),
                }),
                deposit(1, "c1", max),
                Event::BetPlaced(BetPlaced {
                    player: player(1),
                    bet_id: "b".parse().unwrap(),
                    game: "dice".parse().unwrap(),
                    stake: max,
                    currency: xtr(),
                    at: Timestamp::default(),
                    postings: vec![
                        posting(Account::PlayerCash(player(1)), -max),
                        posting(Account::BetsInPlay, max),
                    ],
                    fair: Some(fair_bet),
                }),
                settled(
                    max,
                    Decimal::ZERO,
                    Some(roll),
                    vec![
                        posting(Account::BetsInPlay, -max),
                        posting(Account::HouseGaming, max),
                    ],
                ),
            ],
            4,
        ),
    ];
    let mut wrong = Vec::new();
    for (case, events, position) in cases {
        let log = sealed(&events);
        let audited = std::panic::catch_unwind(|| {
            let mut verifier = projections::audit::Verifier::new(None);
            verifier.feed(&log)?;
            verifier.finish()
        });
        match audited {
            Ok(Err(finding)) if finding.position == position => {}
            Ok(Err(finding)) => wrong.push(format!("{case}: found at {finding}")),
            Ok(Ok(summary)) => wrong.push(format!("{case}: the log verified: {summary:?}")),
            Err(_) => wrong.push(format!("{case}: the auditor panicked")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

on_both_backends!(
    a_rehashed_payout_of_an_unrevealed_fair_bet_is_caught_at_its_settlement,
    fair_bets_are_recomputed_once_revealed_and_pending_before,
    a_rehashed_tampered_roll_is_caught_at_its_settlement,
    a_rehashed_reveal_not_matching_its_commitment_is_caught,
    a_rehashed_bet_on_an_uncommitted_seed_is_caught,
    an_untouched_log_verifies,
    a_changed_payload_byte_is_caught,
    a_deleted_event_is_caught,
    two_swapped_events_are_caught,
    a_rewritten_and_rehashed_history_misses_the_published_head,
    a_rehashed_inflated_deposit_breaks_the_ledger_rules,
);
