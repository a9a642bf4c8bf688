//! The store conformance suite: every test body is written once and runs against a fresh
//! PostgreSQL database and a fresh SQLite database (`#[sqlx::test]` makes both; the
//! PostgreSQL ones need `DATABASE_URL` and fail loudly without it).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bet, cmd, deposit, settle, Backend};
use ledger::session::{Flow, SessionBet, SessionEvent, SessionMoved};
use store::hash::{self, GENESIS};
use store::{
    append, AppendError, EventStore, ExpectedVersion, GroupCommit, GroupCommitConfig, Metadata,
    NewEvent, OutcomeKind, SessionStep, Submission, Tail, Unit, UnitOutcome,
};

fn new_event(n: u32) -> NewEvent {
    NewEvent {
        event_type: "test_event".to_owned(),
        schema_version: 1,
        payload: format!("payload {n}").into_bytes(),
        metadata: Metadata {
            idempotency_key: Some(format!("k{n}")),
            ..Metadata::default()
        },
    }
}

fn writer<S: EventStore>(store: &S) -> GroupCommit {
    GroupCommit::start(
        store.clone(),
        ledger::Ledger::default(),
        GroupCommitConfig::default(),
    )
}

async fn submit(ledger: &GroupCommit, line: &str) -> store::Outcome {
    ledger
        .submit(Submission::new(ledger::wire::parse_command(line).unwrap()))
        .await
        .unwrap()
}

async fn appends_and_reads_streams<S: Backend>(store: S) {
    let first = append(
        &store,
        "s-1",
        ExpectedVersion::NoStream,
        vec![new_event(1), new_event(2)],
    )
    .await
    .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|e| (e.position, e.version))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 2)]
    );
    append(&store, "s-2", ExpectedVersion::Any, vec![new_event(3)])
        .await
        .unwrap();
    append(&store, "s-1", ExpectedVersion::Exact(2), vec![new_event(4)])
        .await
        .unwrap();

    let s1 = store.read_stream("s-1", 0).await.unwrap();
    assert_eq!(s1.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2, 4]);
    assert_eq!(s1[2].version, 3);
    assert_eq!(s1[2].payload, b"payload 4");
    let from_version = store.read_stream("s-1", 2).await.unwrap();
    assert_eq!(from_version.len(), 1);
    assert!(store.read_stream("nobody", 0).await.unwrap().is_empty());
    let metadata = Metadata::decode(&s1[0].metadata).unwrap();
    assert_eq!(metadata.idempotency_key.as_deref(), Some("k1"));
}

async fn checks_the_expected_version_before_giving_out_positions<S: Backend>(store: S) {
    append(
        &store,
        "s-1",
        ExpectedVersion::NoStream,
        vec![new_event(1), new_event(2)],
    )
    .await
    .unwrap();
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(3),
    ] {
        match append(&store, "s-1", expected, vec![new_event(9)]).await {
            Err(AppendError::WrongExpectedVersion { actual, .. }) => assert_eq!(actual, 2),
            other => panic!("expected a version conflict for {expected}, got {other:?}"),
        }
    }
    // No position was used up by the refused appends: the log stays gap-free.
    let next = append(&store, "s-2", ExpectedVersion::NoStream, vec![new_event(3)])
        .await
        .unwrap();
    assert_eq!(next[0].position, 3);
}

async fn chains_every_event_to_the_one_before<S: Backend>(store: S) {
    for n in 0..5 {
        append(
            &store,
            &format!("s-{}", n % 2),
            ExpectedVersion::Any,
            vec![new_event(n), new_event(n + 100)],
        )
        .await
        .unwrap();
    }
    let all = store.read_all(0, 100).await.unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].prev_hash, GENESIS);
    let (position, head_hash) = hash::verify((0, GENESIS), &all).unwrap();
    let head = store.head().await.unwrap().unwrap();
    assert_eq!((head.position, head.hash), (position, head_hash));
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));

    let mut altered = all.clone();
    altered[4].payload[0] ^= 1;
    assert_eq!(
        hash::verify((0, GENESIS), &altered),
        Err(hash::ChainError::Altered { position: 5 })
    );
    let mut removed = all.clone();
    removed.remove(6);
    assert_eq!(
        hash::verify((0, GENESIS), &removed),
        Err(hash::ChainError::Gap {
            position: 8,
            expected: 7
        })
    );
    let mut swapped = all;
    swapped.swap(2, 3);
    assert!(hash::verify((0, GENESIS), &swapped).is_err());
}

async fn reads_the_log_in_batches<S: Backend>(store: S) {
    for n in 0..25 {
        append(&store, "s", ExpectedVersion::Any, vec![new_event(n)])
            .await
            .unwrap();
    }
    let mut position = 0;
    let mut sizes = Vec::new();
    loop {
        let batch = store.read_all(position, 10).await.unwrap();
        // The read models' read: the same events, without metadata and hashes.
        let bodies = store.read_bodies(position, 10).await.unwrap();
        let expected: Vec<_> = batch
            .iter()
            .map(|e| store::EventBody {
                position: e.position,
                stream: e.stream.clone(),
                version: e.version,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                payload: e.payload.clone(),
                recorded_at: e.recorded_at,
            })
            .collect();
        assert_eq!(bodies, expected);
        if batch.is_empty() {
            break;
        }
        sizes.push(batch.len());
        position = batch.last().unwrap().position;
    }
    assert_eq!(sizes, [10, 10, 5]);
}

async fn the_database_refuses_to_change_the_log<S: Backend>(store: S) {
    let ledger = writer(&store);
    submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    let (events, command) = (
        store.read_all(0, 10).await.unwrap(),
        store.find_command("d1").await.unwrap(),
    );
    assert_eq!(events.len(), 1);
    for sql in store.tampering_statements() {
        // Refused by the guard itself, in its own words: any other error (a foreign key, a
        // typo) would pass a weaker test with no guard at all.
        let op = sql.split_whitespace().next().unwrap();
        let table = sql
            .split_whitespace()
            .find(|word| word.starts_with("ledger_"))
            .unwrap();
        let message = match store.execute(sql).await {
            Err(sqlx::Error::Database(e)) => e.message().to_owned(),
            other => panic!("{sql}: not refused by the database's guard: {other:?}"),
        };
        assert_eq!(
            message,
            format!("{table} is append-only: {op} refused"),
            "{sql}"
        );
    }
    // Not a byte changed: the events (payloads, hashes) and the idempotency record.
    assert_eq!(store.read_all(0, 10).await.unwrap(), events);
    assert_eq!(store.find_command("d1").await.unwrap(), command);
}

async fn a_retry_replays_the_original_outcome<S: Backend>(store: S) {
    let ledger = writer(&store);
    let first = submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    assert_eq!(first.kind, OutcomeKind::Accepted);
    assert!(!first.replayed);
    submit(&ledger, &bet("b1", 7, "r1", "30")).await;

    let again = submit(&ledger, &deposit("d1", 7, "100.0", "c1")).await;
    assert!(again.replayed, "same content (100 = 100.0) is a replay");
    assert_eq!(again.events, first.events);
    assert_eq!(
        again.balances, first.balances,
        "the original outcome, not today's balance"
    );
    assert_eq!(
        store.read_all(0, 10).await.unwrap().len(),
        2,
        "nothing appended"
    );

    // A fresh writer (a restarted process) replays from the database.
    let restarted = writer(&store);
    let after_restart = submit(&restarted, &deposit("d1", 7, "100", "c1")).await;
    assert!(after_restart.replayed);
    assert_eq!(after_restart.events, first.events);
}

async fn a_reused_key_with_other_content_is_a_conflict_naming_the_field<S: Backend>(store: S) {
    let ledger = writer(&store);
    submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    let cases = [
        (deposit("d1", 7, "90", "c1"), "amount"),
        (deposit("d1", 8, "100", "c1"), "player"),
        (deposit("d1", 7, "100", "c2"), "external_ref"),
        (bet("d1", 7, "r1", "10"), "type"),
    ];
    for (line, field) in cases {
        let outcome = submit(&ledger, &line).await;
        assert_eq!(
            outcome.kind,
            OutcomeKind::Conflict {
                field: field.to_owned()
            },
            "{line}"
        );
    }
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

async fn a_rejection_is_recorded_and_never_succeeds_later<S: Backend>(store: S) {
    let ledger = writer(&store);
    let rejected = submit(&ledger, &bet("b1", 7, "r1", "50")).await;
    assert!(
        matches!(&rejected.kind, OutcomeKind::Rejected { code, .. } if code == "insufficient_funds")
    );
    submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    // The player can now afford it, but this key's answer is fixed.
    let retried = submit(&ledger, &bet("b1", 7, "r1", "50")).await;
    assert_eq!(retried.kind, rejected.kind);
    assert!(retried.replayed);
    assert_eq!(
        retried.balances.get("XTR"),
        None,
        "the balances recorded with the rejection"
    );
    // Under a new key the same bet goes through.
    let fresh = submit(&ledger, &bet("b2", 7, "r1", "50")).await;
    assert_eq!(fresh.kind, OutcomeKind::Accepted);
    assert_eq!(fresh.balances["XTR"], "50");
}

async fn a_transient_failure_is_not_recorded<S: Backend>(store: S) {
    let broken = store.closed_copy().await;
    let ledger = writer(&broken);
    let failed = ledger
        .submit(Submission::new(
            ledger::wire::parse_command(&deposit("d1", 7, "100", "c1")).unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(failed.transient(), "{failed}");
    assert!(store.find_command("d1").await.unwrap().is_none());
    // The retry runs for real.
    let retried = submit(&writer(&store), &deposit("d1", 7, "100", "c1")).await;
    assert_eq!(retried.kind, OutcomeKind::Accepted);
    assert!(!retried.replayed);
}

async fn concurrent_bets_never_spend_twice<S: Backend>(store: S) {
    let ledger = writer(&store);
    submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    // Twenty bets of 60 against a balance of 100, all at once: exactly one fits.
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                submit(&ledger, &bet(&format!("b{n}"), 7, &format!("r{n}"), "60")).await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let outcome = task.await.unwrap();
        match outcome.kind {
            OutcomeKind::Accepted => accepted += 1,
            OutcomeKind::Rejected { ref code, .. } => assert_eq!(code, "insufficient_funds"),
            OutcomeKind::Conflict { .. } => panic!("no key was reused"),
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 2);
}

async fn the_same_key_twice_in_one_batch_is_appended_once<S: Backend>(store: S) {
    let ledger = writer(&store);
    let line = deposit("d1", 7, "100", "c1");
    let (a, b) = tokio::join!(submit(&ledger, &line), submit(&ledger, &line));
    assert_eq!(a.events, b.events);
    assert!(a.replayed ^ b.replayed, "one runs, the other replays");
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

async fn writers_in_different_processes_see_each_other<S: Backend>(store: S) {
    // Two writers, each with its own cache, stand for two processes.
    let a = writer(&store);
    let b = writer(&store);
    submit(&a, &deposit("d1", 7, "100", "c1")).await;
    assert_eq!(
        submit(&b, &bet("b1", 7, "r1", "60")).await.kind,
        OutcomeKind::Accepted
    );
    // `a` last saw a balance of 100; it must catch up and refuse.
    let second = submit(&a, &bet("b2", 7, "r2", "60")).await;
    assert!(
        matches!(second.kind, OutcomeKind::Rejected { ref code, .. } if code == "insufficient_funds")
    );
    assert_eq!(
        submit(&a, &settle("s1", 7, "r1", "120")).await.balances["XTR"],
        "160"
    );
    assert_eq!(
        submit(&b, &settle("s2", 7, "r1", "120")).await.kind,
        OutcomeKind::Rejected {
            code: ledger::RejectionCode::BetAlreadyClosed,
            message: "bet 'r1' is already settled".to_owned()
        }
    );
}

async fn a_tail_sees_every_event_once_in_order<S: Backend>(store: S) {
    let mut tail = Tail::new(store.clone(), 0, 7, Duration::from_millis(20));
    let ledger = writer(&store);
    let writers: Vec<_> = (1..=4)
        .map(|p| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                submit(
                    &ledger,
                    &deposit(&format!("d{p}"), p, "1000", &format!("c{p}")),
                )
                .await;
                for n in 0..25 {
                    let outcome = submit(
                        &ledger,
                        &bet(&format!("b{p}-{n}"), p, &format!("r{n}"), "1"),
                    )
                    .await;
                    assert_eq!(outcome.kind, OutcomeKind::Accepted);
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    while seen.len() < 104 {
        let batch = tokio::time::timeout(Duration::from_secs(10), tail.next_batch())
            .await
            .expect("the tail stalled")
            .unwrap();
        seen.extend(batch.iter().map(|e| e.position));
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen, (1..=104).collect::<Vec<u64>>());
}

async fn replaying_a_stream_reproduces_the_reported_balances<S: Backend>(store: S) {
    let ledger = writer(&store);
    submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    submit(&ledger, &bet("b1", 7, "r1", "40")).await;
    submit(&ledger, &settle("s1", 7, "r1", "75")).await;
    submit(
        &ledger,
        &cmd("refund_deposit", "k4", 7, r#""external_ref":"c1""#),
    )
    .await;
    let last = submit(
        &ledger,
        &cmd(
            "adjust",
            "k5",
            7,
            r#""amount":"-35","currency":"XTR","reason":"fix""#,
        ),
    )
    .await;
    assert_eq!(last.balances["XTR"], "0");

    let events = store.read_stream("player-7", 0).await.unwrap();
    let types: BTreeSet<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    let state = store::player::fold(ledger::PlayerId::new(7).unwrap(), &events).unwrap();
    assert_eq!(state.cash(&ledger::CurrencyCode::xtr()).to_string(), "0");
    assert_eq!(state.version, 5);
    assert_eq!(types.len(), 5);
}

async fn a_writer_waits_until_the_one_before_it_has_committed<S: Backend>(store: S) {
    use store::WriteTx;
    // Writer A holds the lock with an uncommitted event at position 1.
    let mut a = store.begin_write().await.unwrap();
    let mut chain = store::append::Chain::after(a.head(), 0);
    let first = chain.seal("s-a", 1, new_event(1));
    a.insert(&store::Append {
        events: vec![first],
        ..store::Append::default()
    })
    .await
    .unwrap();
    // Writer B must not be able to take position 2 (or anything) before A commits,
    // or a reader could see 2 and then miss 1 when it commits late.
    let b = tokio::spawn({
        let store = store.clone();
        async move {
            append(&store, "s-b", ExpectedVersion::Any, vec![new_event(2)])
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !b.is_finished(),
        "a second writer ran while the first held the lock"
    );
    assert!(
        store.read_all(0, 10).await.unwrap().is_empty(),
        "uncommitted events are invisible"
    );
    a.commit().await.unwrap();
    let appended = b.await.unwrap();
    assert_eq!(appended[0].position, 2);
    let all = store.read_all(0, 10).await.unwrap();
    hash::verify((0, GENESIS), &all).unwrap();
}

async fn a_commit_wakes_a_waiting_tail_without_polling<S: Backend>(store: S) {
    let mut tail = Tail::new(store.clone(), 0, 100, Duration::from_secs(3600));
    let waiting = tokio::spawn(async move { tail.next_batch().await.unwrap() });
    // Let the reader find the log empty and start waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writer_store = store.other_process().await;
    append(
        &writer_store,
        "s-1",
        ExpectedVersion::Any,
        vec![new_event(1)],
    )
    .await
    .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the commit did not wake the reader")
        .unwrap();
    assert_eq!(seen.len(), 1);
}

async fn a_writer_catches_up_on_players_it_was_not_deciding<S: Backend>(store: S) {
    let a = writer(&store);
    let b = writer(&store);
    submit(&a, &deposit("d7", 7, "100", "c7")).await;
    submit(&a, &deposit("d8", 8, "10", "c8")).await;
    // `b` credits player 8 while `a` has 8 cached with a balance of 10.
    submit(&b, &deposit("d8b", 8, "90", "c8b")).await;
    // `a` decides for player 7: its fast path is refused (the head moved), and the
    // locked path folds `b`'s event into the cached state of player 8.
    assert_eq!(
        submit(&a, &bet("a7", 7, "r1", "10")).await.kind,
        OutcomeKind::Accepted
    );
    // Now `a` decides for player 8 on its fast path, from the cache. A stale state would
    // reject this bet, and a rejection appends no event for the stream-version index to
    // catch: the wrong answer would be recorded against the key for good.
    let bet_on_8 = submit(&a, &bet("a8", 8, "r2", "100")).await;
    assert_eq!(
        bet_on_8.kind,
        OutcomeKind::Accepted,
        "decided on a stale state: {bet_on_8:?}"
    );
    assert_eq!(bet_on_8.balances["XTR"], "0");
    // And the other way round: `b` spends what `a` thinks is still there.
    submit(&b, &deposit("d7b", 7, "5", "c7b")).await;
    submit(&b, &bet("b7", 7, "r2", "95")).await;
    let stale_spend = submit(&a, &bet("a7b", 7, "r3", "90")).await;
    assert!(
        matches!(stale_spend.kind, OutcomeKind::Rejected { ref code, .. } if code == "insufficient_funds"),
        "player 7's money was spent twice: {stale_spend:?}"
    );
}

async fn a_payment_is_credited_once_across_all_players<S: Backend>(store: S) {
    let a = writer(&store);
    let duplicate = |outcome: &store::Outcome| matches!(&outcome.kind, OutcomeKind::Rejected { code, .. } if code == "duplicate_deposit");
    assert_eq!(
        submit(&a, &deposit("d1", 1, "100", "CH1")).await.kind,
        OutcomeKind::Accepted
    );
    // The same charge, claimed for another player under another key.
    let second = submit(&a, &deposit("d2", 2, "100", "CH1")).await;
    assert!(duplicate(&second), "{second:?}");
    // Both claims in one batch: exactly one is credited.
    let (d3, d4) = (deposit("d3", 3, "50", "CH2"), deposit("d4", 4, "50", "CH2"));
    let (x, y) = tokio::join!(submit(&a, &d3), submit(&a, &d4));
    assert_eq!(
        [&x, &y]
            .iter()
            .filter(|o| o.kind == OutcomeKind::Accepted)
            .count(),
        1,
        "{x:?} {y:?}"
    );
    assert!(duplicate(&x) || duplicate(&y));
    // Through another writer, whose fast path does not know the charge.
    let b = writer(&store);
    submit(&b, &deposit("d5", 5, "10", "CH9")).await;
    let third = submit(&b, &deposit("d6", 6, "100", "CH1")).await;
    assert!(duplicate(&third), "{third:?}");
    let credited: Vec<_> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "deposited")
        .collect();
    assert_eq!(credited.len(), 3, "CH1, CH2 and CH9 once each");
    // Another payment method may reuse the reference: it is another network's id.
    let card = cmd(
        "deposit",
        "d7",
        7,
        r#""amount":"5","currency":"USD","method":"card","external_ref":"CH1""#,
    );
    assert_eq!(submit(&b, &card).await.kind, OutcomeKind::Accepted);
}

async fn an_unreadable_stream_fails_only_its_own_commands<S: Backend>(store: S) {
    // Player 9's stream holds an event this build cannot read (as a newer release
    // would write during a rolling deploy).
    let from_the_future = NewEvent {
        event_type: "deposited".to_owned(),
        schema_version: 2,
        payload: b"\x80".to_vec(),
        metadata: Metadata::default(),
    };
    append(
        &store,
        "player-9",
        ExpectedVersion::NoStream,
        vec![from_the_future],
    )
    .await
    .unwrap();
    let ledger = writer(&store);
    // The first round takes the locked path (a new writer), the second the fast path.
    for round in 0..2 {
        let (ok, bad) = (
            deposit(&format!("d7-{round}"), 7, "10", &format!("c7-{round}")),
            deposit(&format!("d9-{round}"), 9, "10", &format!("c9-{round}")),
        );
        let (seven, nine) = tokio::join!(
            ledger.submit(Submission::new(ledger::wire::parse_command(&ok).unwrap())),
            ledger.submit(Submission::new(ledger::wire::parse_command(&bad).unwrap()))
        );
        assert_eq!(seven.unwrap().kind, OutcomeKind::Accepted, "round {round}");
        let error = nine.unwrap_err();
        assert!(
            error.to_string().contains("schema version 2"),
            "round {round}: {error}"
        );
        assert!(
            !error.transient(),
            "retrying cannot help until the build is upgraded"
        );
        assert!(
            store
                .find_command(&format!("d9-{round}"))
                .await
                .unwrap()
                .is_none(),
            "nothing recorded"
        );
    }
}

fn unit(lines: &[(&str, Option<usize>)], session: Option<SessionStep>) -> Unit {
    Unit {
        commands: lines
            .iter()
            .map(|(line, requires)| {
                (
                    Submission::new(ledger::wire::parse_command(line).unwrap()),
                    *requires,
                )
            })
            .collect(),
        session,
    }
}

fn moved(n: u32) -> SessionEvent {
    SessionEvent::Moved(SessionMoved {
        from: Flow::Idle,
        to: Flow::ChoosingGame,
        cause: format!("cb:{n}"),
        at: ledger::Timestamp::from_micros(1),
    })
}

fn step(
    stream: &str,
    expected_version: u64,
    events: Vec<(SessionEvent, Option<usize>)>,
) -> SessionStep {
    SessionStep {
        stream: stream.to_owned(),
        expected_version,
        events,
        causation: Some("test".to_owned()),
    }
}

async fn a_unit_whose_session_moved_writes_nothing_of_itself<S: Backend>(store: S) {
    let ledger = writer(&store);
    submit(&ledger, &deposit("d1", 7, "100", "c1")).await;
    let play = |n: u32| {
        unit(
            &[
                (&bet(&format!("b{n}"), 7, &format!("r{n}"), "10"), None),
                (
                    &settle(&format!("s{n}"), 7, &format!("r{n}"), "20"),
                    Some(0),
                ),
            ],
            Some(step("session-1-7-1", 0, vec![(moved(n), None)])),
        )
    };
    // Two inputs decided on the same session version, at once (a double tap): one
    // commits, the other moves and leaves nothing, not even its keys' records.
    let (a, b) = tokio::join!(ledger.commit(play(1)), ledger.commit(play(2)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (won, lost) = match (&a, &b) {
        (UnitOutcome::Committed { .. }, UnitOutcome::Moved { .. }) => (a, b),
        (UnitOutcome::Moved { .. }, UnitOutcome::Committed { .. }) => (b, a),
        other => panic!("exactly one of two units on one session version commits: {other:?}"),
    };
    assert_eq!(lost, UnitOutcome::Moved { version: 1 });
    let UnitOutcome::Committed {
        outcomes,
        session_version,
    } = won
    else {
        unreachable!()
    };
    assert_eq!(session_version, Some(1));
    assert!(outcomes
        .iter()
        .all(|o| o.as_ref().unwrap().kind == OutcomeKind::Accepted));
    assert_eq!(outcomes[1].as_ref().unwrap().balances["XTR"], "110");
    let types: Vec<String> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        types,
        ["deposited", "bet_placed", "bet_settled", "session_moved"]
    );
    // The loser's keys are free: nothing was recorded under them.
    let loser = if store.find_command("b1").await.unwrap().is_some() {
        "b2"
    } else {
        "b1"
    };
    assert!(store.find_command(loser).await.unwrap().is_none());
}

async fn a_unit_skips_what_depends_on_a_refused_command<S: Backend>(store: S) {
    let ledger = writer(&store);
    submit(&ledger, &deposit("d1", 7, "5", "c1")).await;
    let bet_id = SessionBet {
        bet_id: "r1".to_owned(),
        game: "coinflip".to_owned(),
        stake: 10.into(),
        payout: 20.into(),
        at: ledger::Timestamp::from_micros(1),
    };
    let outcome = ledger
        .commit(unit(
            &[
                (&bet("b1", 7, "r1", "10"), None),
                (&settle("s1", 7, "r1", "20"), Some(0)),
            ],
            Some(step(
                "session-1-7-1",
                0,
                vec![(SessionEvent::Bet(bet_id), Some(1)), (moved(1), None)],
            )),
        ))
        .await
        .unwrap();
    let UnitOutcome::Committed {
        outcomes,
        session_version,
    } = outcome
    else {
        panic!("the session was at its expected version: {outcome:?}")
    };
    assert!(matches!(
        outcomes[0].as_ref().unwrap().kind,
        OutcomeKind::Rejected {
            code: ledger::RejectionCode::InsufficientFunds,
            ..
        }
    ));
    assert_eq!(outcomes[1], None, "no settlement of a bet never placed");
    assert!(store.find_command("s1").await.unwrap().is_none());
    // Only the move is recorded on the session: the bet event depended on the settle.
    assert_eq!(session_version, Some(1));
    let session = store.read_stream("session-1-7-1", 0).await.unwrap();
    assert_eq!(session.len(), 1);
    assert_eq!(session[0].event_type, "session_moved");
}

async fn a_session_step_checks_versions_written_by_other_writers<S: Backend>(store: S) {
    let a = writer(&store);
    let b = writer(&store);
    let only = |n: u32, version: u64| {
        unit(
            &[],
            Some(step("session-1-7-1", version, vec![(moved(n), None)])),
        )
    };
    assert!(matches!(
        a.commit(only(1, 0)).await.unwrap(),
        UnitOutcome::Committed {
            session_version: Some(1),
            ..
        }
    ));
    // `b` never saw the stream; another process appends to it with the low-level append.
    assert!(matches!(
        b.commit(only(2, 1)).await.unwrap(),
        UnitOutcome::Committed {
            session_version: Some(2),
            ..
        }
    ));
    append(
        &store,
        "session-1-7-1",
        ExpectedVersion::Exact(2),
        vec![store::codec::encode_session(&moved(3))],
    )
    .await
    .unwrap();
    // `a` cached version 1: it must not write at 2, nor at 3 again.
    assert_eq!(
        a.commit(only(4, 1)).await.unwrap(),
        UnitOutcome::Moved { version: 3 }
    );
    assert_eq!(
        b.commit(only(5, 2)).await.unwrap(),
        UnitOutcome::Moved { version: 3 }
    );
    // A caller that thinks the stream is longer than it is is refused too.
    assert_eq!(
        a.commit(only(6, 9)).await.unwrap(),
        UnitOutcome::Moved { version: 3 }
    );
    assert!(matches!(
        a.commit(only(7, 3)).await.unwrap(),
        UnitOutcome::Committed {
            session_version: Some(4),
            ..
        }
    ));
    let versions: Vec<u64> = store
        .read_stream("session-1-7-1", 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
}

macro_rules! conformance {
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

conformance!(
    appends_and_reads_streams,
    checks_the_expected_version_before_giving_out_positions,
    chains_every_event_to_the_one_before,
    reads_the_log_in_batches,
    the_database_refuses_to_change_the_log,
    a_retry_replays_the_original_outcome,
    a_reused_key_with_other_content_is_a_conflict_naming_the_field,
    a_rejection_is_recorded_and_never_succeeds_later,
    a_transient_failure_is_not_recorded,
    concurrent_bets_never_spend_twice,
    the_same_key_twice_in_one_batch_is_appended_once,
    writers_in_different_processes_see_each_other,
    a_tail_sees_every_event_once_in_order,
    replaying_a_stream_reproduces_the_reported_balances,
    a_writer_waits_until_the_one_before_it_has_committed,
    a_commit_wakes_a_waiting_tail_without_polling,
    a_writer_catches_up_on_players_it_was_not_deciding,
    a_payment_is_credited_once_across_all_players,
    an_unreadable_stream_fails_only_its_own_commands,
    a_unit_whose_session_moved_writes_nothing_of_itself,
    a_unit_skips_what_depends_on_a_refused_command,
    a_session_step_checks_versions_written_by_other_writers,
);
