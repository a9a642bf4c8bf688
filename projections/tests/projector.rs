//! The projector on PostgreSQL and SQLite: known answers for a fixed history, a rebuild
//! from scratch equal to incremental catch-up whatever the batch boundaries, and two
//! runners at once counting nothing twice.

mod common;

use ledger::session::SessionEvent;
use ledger::Ledger;
use ledger::Timestamp;
use projections::projector::Projector;
use projections::report::{BalanceRow, Days, LiabilityRow, SessionRow};
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

/// Every read model as the reports show it: balances, house accounts, liabilities, daily
/// figures, deposits, bets, sessions and the checkpoints.
async fn snapshot(projector: &Projector) -> String {
    let all = Days::default();
    format!(
        "{:#?}",
        (
            projector.balances().await.unwrap(),
            projector.house_accounts().await.unwrap(),
            projector.liabilities().await.unwrap(),
            projector.daily(&all).await.unwrap(),
            projector.deposits(&all).await.unwrap(),
            projector.bets(&all, None).await.unwrap(),
            projector.sessions(&all).await.unwrap(),
            projector.checkpoints().await.unwrap(),
        )
    )
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
    let together = snapshot(&a).await;
    // One runner alone over the same log: every read model must be the same, row for row.
    a.reset().await.unwrap();
    assert_eq!(a.catch_up(&store, 1, |_| {}).await.unwrap(), 8);
    let alone = snapshot(&a).await;
    assert_eq!(together, alone);
    assert!(alone.contains("\"105\""), "{alone}");
}

async fn the_audit_compares_the_projections_with_a_replay<S: Url>(store: S) {
    use projections::audit::{verify, Projections};
    submit_all(&store, &HISTORY).await;
    let projector = Projector::connect(&store.url().await).await.unwrap();
    let check = || {
        verify(
            &store,
            None,
            Projections::CatchUpAndCompare(&projector),
            |_| {},
        )
    };
    let edit = |sql: &'static str| sqlx::query(sql).execute(projector.pool());
    assert!(check().await.unwrap().unwrap().projections_checked);
    // Someone edits a read model: the audit names the player.
    edit("UPDATE proj_balances SET balance = '999' WHERE player = 8")
        .await
        .unwrap();
    let finding = check().await.unwrap().unwrap_err();
    assert_eq!(
        (finding.position, finding.stream.as_str()),
        (8, "player-8"),
        "{finding}"
    );
    assert!(finding.problem.contains("holds cash 999"), "{finding}");
    edit("UPDATE proj_balances SET balance = '30' WHERE player = 8")
        .await
        .unwrap();
    edit("UPDATE proj_house SET balance = '6' WHERE account = 'house:gaming'")
        .await
        .unwrap();
    let finding = check().await.unwrap().unwrap_err();
    assert_eq!(finding.stream, "house", "{finding}");
    // Put back; then a finance total is edited: the audit names the table and the day.
    projector.reset().await.unwrap();
    assert!(check().await.unwrap().unwrap().projections_checked);
    edit("UPDATE proj_finance_daily SET bets = bets + 1 WHERE currency = 'XTR'")
        .await
        .unwrap();
    let finding = check().await.unwrap().unwrap_err();
    assert_eq!(finding.stream, "finance_daily", "{finding}");
    assert!(
        finding.problem.contains("the events add up to"),
        "{finding}"
    );
    edit("UPDATE proj_finance_daily SET bets = bets - 1, ggr = '12345' WHERE currency = 'XTR'")
        .await
        .unwrap();
    let finding = check().await.unwrap().unwrap_err();
    assert!(
        finding.problem.contains("not its stakes less its payouts"),
        "{finding}"
    );
}

async fn finance_reports_give_known_answers<S: Url>(store: S) {
    use projections::report::Days;
    submit_all(&store, &HISTORY).await;
    let projector = Projector::connect(&store.url().await).await.unwrap();
    projector.catch_up(&store, 2, |_| {}).await.unwrap();
    let daily = projector.daily(&Days::default()).await.unwrap();
    let today = daily[0].day.clone();
    let shown: Vec<_> = daily
        .iter()
        .map(|d| {
            (
                d.currency.as_str(),
                [
                    d.deposits.as_str(),
                    &d.refunds,
                    &d.stakes,
                    &d.payouts,
                    &d.ggr,
                ],
                d.bets,
                d.active_players,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("USD", ["5.50", "0", "0", "0", "0"], 0, 1),
            ("XTR", ["150", "0", "50", "45", "5"], 2, 2),
        ]
    );
    let none = Days {
        from: Some("2000-01-01".to_owned()),
        to: Some("2000-01-02".to_owned()),
    };
    assert!(projector.daily(&none).await.unwrap().is_empty());
    let only_today = Days {
        from: Some(today.clone()),
        to: Some(today),
    };
    assert_eq!(projector.daily(&only_today).await.unwrap().len(), 2);

    let bets = projector.bets(&Days::default(), None).await.unwrap();
    let shown: Vec<_> = bets
        .iter()
        .map(|b| {
            (
                b.player,
                b.bet_id.as_str(),
                b.status.as_str(),
                b.payout.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (7, "r1", "settled", Some("45")),
            (8, "r1", "settled", Some("0")),
            (7, "r2", "open", None)
        ]
    );
    assert_eq!(
        projector
            .bets(&Days::default(), Some(8))
            .await
            .unwrap()
            .len(),
        1
    );

    submit_all(&store, &[r#"{"type":"refund_deposit","idempotency_key":"k9","player":8,"external_ref":"c2","forced":true}"#]).await;
    projector.catch_up(&store, 2, |_| {}).await.unwrap();
    let deposits = projector.deposits(&Days::default()).await.unwrap();
    let shown: Vec<_> = deposits
        .iter()
        .map(|d| {
            (
                d.external_ref.as_str(),
                d.player,
                d.amount.as_str(),
                d.status.as_str(),
                d.refunded_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("c1", 7, "100", "credited", false),
            ("c2", 8, "50", "refunded", true),
            ("u1", 9, "5.50", "credited", false)
        ]
    );
    let xtr = projector.daily(&Days::default()).await.unwrap().remove(1);
    assert_eq!((xtr.refunds.as_str(), xtr.active_players), ("50", 2));
    // A forced refund leaves player 8 in debt, visibly.
    assert_eq!(
        projector.balances().await.unwrap()[1],
        balance(8, "XTR", "-20", "0")
    );
}

async fn balances_as_of_a_position_or_a_time<S: Url>(store: S) {
    use projections::report::{balances_at, liabilities_of, At};
    submit_all(&store, &HISTORY).await;
    // After four events: 7 deposited 100, bet 30 and won 45; 8 deposited 50.
    let expected = [balance(7, "XTR", "115", "0"), balance(8, "XTR", "50", "0")];
    assert_eq!(
        balances_at(&store, At::Position(4)).await.unwrap(),
        expected
    );
    let fourth = store.read_all(3, 1).await.unwrap().remove(0);
    let by_time = balances_at(&store, At::Time(fourth.recorded_at))
        .await
        .unwrap();
    // Events committed in the same batch share a time: as of it, all of them count.
    let same_time = store
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.recorded_at <= fourth.recorded_at)
        .count();
    assert_eq!(
        by_time,
        balances_at(&store, At::Position(same_time as u64))
            .await
            .unwrap()
    );
    assert!(balances_at(&store, At::Time(0)).await.unwrap().is_empty());
    // As of the head, the replay and the projection agree.
    let projector = Projector::connect(&store.url().await).await.unwrap();
    projector.catch_up(&store, 100, |_| {}).await.unwrap();
    let now = balances_at(&store, At::Position(u64::MAX)).await.unwrap();
    assert_eq!(now, projector.balances().await.unwrap());
    assert_eq!(
        liabilities_of(&now).unwrap(),
        projector.liabilities().await.unwrap()
    );
}

async fn a_rebuild_swaps_in_fresh_tables<S: Url>(store: S) {
    submit_all(&store, &HISTORY).await;
    let projector = Projector::connect(&store.url().await).await.unwrap();
    projector.catch_up(&store, 3, |_| {}).await.unwrap();
    let good = (projector.balances().await.unwrap(), house(&projector).await);
    // Two read models go wrong; rebuilding one repairs that one only.
    for broken in [
        "UPDATE proj_balances SET balance = '999' WHERE player = 7",
        "UPDATE proj_house SET balance = '7' WHERE account = 'house:gaming'",
    ] {
        sqlx::query(broken).execute(projector.pool()).await.unwrap();
    }
    let mut seen = Vec::new();
    let reached = projector
        .rebuild(&store, &["balances".to_owned()], 3, |position, target| {
            seen.push((position, target))
        })
        .await
        .unwrap();
    assert_eq!(reached, 8);
    assert_eq!(seen.last(), Some(&(8, 8)), "progress reaches the target");
    assert_eq!(projector.balances().await.unwrap(), good.0);
    assert_ne!(house(&projector).await, good.1, "house was not rebuilt");
    // A name given twice is rebuilt once (each batch used to be applied to its shadow
    // table once per mention, and the swap then failed).
    sqlx::query("UPDATE proj_balances SET balance = '999' WHERE player = 7")
        .execute(projector.pool())
        .await
        .unwrap();
    let twice = ["balances".to_owned(), "balances".to_owned()];
    projector
        .rebuild(&store, &twice, 3, |_, _| {})
        .await
        .unwrap();
    assert_eq!(projector.balances().await.unwrap(), good.0);
    // All of them, twice (the second time from tables that were themselves swapped in).
    for _ in 0..2 {
        projector
            .rebuild(&store, &[], 100, |_, _| {})
            .await
            .unwrap();
        assert_eq!(
            (projector.balances().await.unwrap(), house(&projector).await),
            good
        );
    }
    assert!(projector
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .all(|c| c.position == 8));
    // New events after a rebuild are projected as usual.
    submit_all(&store, &[r#"{"type":"settle_bet","idempotency_key":"k10","player":7,"bet_id":"r2","payout":"30"}"#]).await;
    projector.catch_up(&store, 3, |_| {}).await.unwrap();
    assert_eq!(
        projector.balances().await.unwrap()[0],
        balance(7, "XTR", "135", "0")
    );
    let unknown = projector
        .rebuild(&store, &["nonsense".to_owned()], 3, |_, _| {})
        .await;
    assert!(unknown
        .unwrap_err()
        .to_string()
        .contains("unknown projection 'nonsense'"));
}

/// Appends one conversation session's events to its stream, as the bot does.
async fn append_session<S: EventStore>(store: &S, stream: &str, events: Vec<SessionEvent>) {
    let events = events.iter().map(store::codec::encode_session).collect();
    store::append(store, stream, store::ExpectedVersion::Any, events)
        .await
        .unwrap();
}

async fn sessions_give_known_answers_at_any_batch_size<S: Url>(store: S) {
    use ledger::session::{
        Flow, SessionBet, SessionEvent::*, SessionExpired, SessionMoved, SessionStarted,
    };
    let at = |second: i64| Timestamp::from_micros(1_795_000_000_000_000 + second * 1_000_000);
    let moved = |to: Flow, second| {
        Moved(SessionMoved {
            from: Flow::Idle,
            to,
            cause: format!("cb:{second}"),
            at: at(second),
        })
    };
    let bet = |stake: i64, payout: i64, second| {
        Bet(SessionBet {
            bet_id: format!("b{second}"),
            game: "dice:50".to_owned(),
            stake: stake.into(),
            payout: payout.into(),
            at: at(second),
        })
    };
    let start = |second| {
        Started(SessionStarted {
            chat: 100,
            player: 7,
            at: at(second),
        })
    };
    // Sessions and money interleaved in the log, a session's events spread over several
    // appends (so over batch boundaries).
    append_session(
        &store,
        "session-100-7-1",
        vec![start(0), moved(Flow::ChoosingGame, 1)],
    )
    .await;
    submit_all(&store, &HISTORY[..2]).await;
    let stake = Flow::ChoosingStake {
        game: "dice:50".to_owned(),
    };
    append_session(
        &store,
        "session-100-7-1",
        vec![moved(stake, 2), bet(10, 0, 3)],
    )
    .await;
    append_session(&store, "session-100-7-2", vec![start(6)]).await;
    append_session(&store, "session-100-7-1", vec![bet(5, 9, 4)]).await;
    submit_all(&store, &HISTORY[2..4]).await;
    let expired = Expired(SessionExpired {
        last_activity: at(4),
        at: at(5),
    });
    append_session(&store, "session-100-7-1", vec![expired]).await;
    append_session(
        &store,
        "session-100-7-2",
        vec![moved(Flow::ChoosingGame, 7)],
    )
    .await;
    let time = |second| Some(projections::time::rfc3339(at(second).as_micros()));
    let expected = [
        SessionRow {
            stream: "session-100-7-1".to_owned(),
            chat: 100,
            player: 7,
            state: "choosing_stake".to_owned(),
            status: "expired".to_owned(),
            started_at: time(0).unwrap(),
            last_activity_at: time(4).unwrap(),
            ended_at: time(5),
            play_started_at: time(3),
            bets: 2,
            wagered: "15".to_owned(),
            won: "9".to_owned(),
        },
        SessionRow {
            stream: "session-100-7-2".to_owned(),
            chat: 100,
            player: 7,
            state: "choosing_game".to_owned(),
            status: "active".to_owned(),
            started_at: time(6).unwrap(),
            last_activity_at: time(7).unwrap(),
            ended_at: None,
            play_started_at: None,
            bets: 0,
            wagered: "0".to_owned(),
            won: "0".to_owned(),
        },
    ];
    let projector = Projector::connect(&store.url().await).await.unwrap();
    let all = Days::default();
    for batch_size in [1, 2, 3, 5, 100] {
        projector.reset().await.unwrap();
        projector
            .catch_up(&store, batch_size, |_| {})
            .await
            .unwrap();
        assert_eq!(
            projector.sessions(&all).await.unwrap(),
            expected,
            "batch size {batch_size}"
        );
    }
    for batch_size in [1, 4, 100] {
        projector
            .rebuild(&store, &["sessions".to_owned()], batch_size, |_, _| {})
            .await
            .unwrap();
        assert_eq!(
            projector.sessions(&all).await.unwrap(),
            expected,
            "rebuilt, batch size {batch_size}"
        );
    }
}

/// Regression: the projector added amounts from the log unchecked, so a tampered log
/// whose sums overflow (two deposits of `Decimal::MAX`, appended with every hash right)
/// panicked it. It stops with an error naming the position instead.
async fn a_tampered_log_whose_sums_overflow_is_an_error_not_a_panic<S: Url>(store: S) {
    use ledger::{Account, CurrencyCode, Event, PaymentMethod, PlayerId, Posting};
    use rust_decimal::Decimal;
    for (player, charge) in [(1, "c1"), (2, "c2")] {
        let player = PlayerId::new(player).unwrap();
        let amount = Decimal::MAX;
        let leg = |account, amount| Posting {
            account,
            currency: CurrencyCode::xtr(),
            amount,
        };
        let event = Event::Deposited(ledger::event::Deposited {
            player,
            method: PaymentMethod::telegram_stars(),
            external_ref: charge.parse().unwrap(),
            amount,
            currency: CurrencyCode::xtr(),
            at: Timestamp::default(),
            postings: vec![
                leg(Account::External(PaymentMethod::telegram_stars()), -amount),
                leg(Account::PlayerCash(player), amount),
            ],
        });
        let (event_type, schema_version, payload) = store::codec::encode(&event);
        let new = store::NewEvent {
            event_type: event_type.to_owned(),
            schema_version,
            payload,
            metadata: store::Metadata::default(),
        };
        store::append::append(
            &store,
            &store::player::stream_of(player),
            store::append::ExpectedVersion::NoStream,
            vec![new],
        )
        .await
        .unwrap();
    }
    let projector = Projector::connect(&store.url().await).await.unwrap();
    let error = projector.catch_up(&store, 100, |_| {}).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("position 2") && message.contains("overflow"),
        "{message}"
    );
}

on_both_backends!(
    a_tampered_log_whose_sums_overflow_is_an_error_not_a_panic,
    sessions_give_known_answers_at_any_batch_size,
    a_fixed_history_gives_known_answers,
    a_rebuild_equals_incremental_catch_up,
    two_runners_at_once_count_nothing_twice,
    the_audit_compares_the_projections_with_a_replay,
    finance_reports_give_known_answers,
    balances_as_of_a_position_or_a_time,
    a_rebuild_swaps_in_fresh_tables,
);
