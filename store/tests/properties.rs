//! Property: random commands (with reused keys, retries and conflicts) submitted through
//! the group-commit writer to a real SQLite database give exactly the outcomes of a
//! simple sequential model, and replaying the log (read back, decoded and folded)
//! reproduces every player's whole state.

use std::collections::{HashMap, HashSet};

use ledger::command::Request;
use ledger::{
    BetId, Command, CurrencyCode, ExternalRef, Fingerprint, GameId, IdempotencyKey, Ledger,
    PaymentMethod, PlayerId, PlayerState, Timestamp,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use store::{EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, SqliteStore, Submission};

fn request() -> impl Strategy<Value = Request> {
    let player = (1i64..=3).prop_map(|p| PlayerId::new(p).unwrap());
    let bet = (0..4u8).prop_map(|n| BetId::new(format!("b{n}")).unwrap());
    let amount = (0i64..120).prop_map(Decimal::from);
    let command = prop_oneof![
        (player.clone(), amount.clone(), 0..3u8).prop_map(|(player, amount, c)| Command::Deposit {
            player,
            amount,
            currency: CurrencyCode::xtr(),
            method: PaymentMethod::telegram_stars(),
            external_ref: ExternalRef::new(format!("c{c}")).unwrap(),
        }),
        (player.clone(), bet.clone(), amount.clone()).prop_map(|(player, bet_id, stake)| {
            Command::PlaceBet {
                player,
                bet_id,
                game: GameId::new("dice").unwrap(),
                stake,
                currency: CurrencyCode::xtr(),
                fair: None,
            }
        }),
        (player.clone(), bet.clone(), amount).prop_map(|(player, bet_id, payout)| {
            Command::SettleBet {
                player,
                bet_id,
                payout,
                roll: None,
            }
        }),
        (player.clone(), bet).prop_map(|(player, bet_id)| Command::VoidBet {
            player,
            bet_id,
            reason: "void".to_owned(),
        }),
        (player, 0..3u8, any::<bool>()).prop_map(|(player, c, forced)| Command::RefundDeposit {
            player,
            external_ref: ExternalRef::new(format!("c{c}")).unwrap(),
            forced,
        }),
    ];
    // Few keys, so that retries and conflicting reuses are common.
    (0..12u8, command).prop_map(|(k, command)| Request {
        idempotency_key: IdempotencyKey::new(format!("key-{k}")).unwrap(),
        command,
    })
}

/// What the store should answer, computed one command at a time with no database.
#[derive(Default)]
struct Model {
    players: HashMap<PlayerId, PlayerState>,
    keys: HashMap<String, (Fingerprint, String)>,
    /// Payments credited to anyone: a charge is credited once across all players.
    charges: HashSet<String>,
}

impl Model {
    /// The outcome label, and whether it is a replay.
    fn submit(&mut self, request: &Request) -> (String, bool) {
        let key = request.idempotency_key.to_string();
        if let Some((fingerprint, label)) = self.keys.get(&key) {
            return match fingerprint.first_difference(&request.command.fingerprint()) {
                None => (label.clone(), true),
                Some(field) => (format!("conflict:{field}"), false),
            };
        }
        let player = request.command.player();
        let state = self
            .players
            .entry(player)
            .or_insert_with(|| PlayerState::new(player));
        let charge = match &request.command {
            Command::Deposit { external_ref, .. } => Some(external_ref.to_string()),
            _ => None,
        };
        let decision = Ledger::default()
            .decide(state, &request.command, Timestamp::default())
            .and_then(|events| match &charge {
                Some(c) if self.charges.contains(c) => Err(ledger::Rejection::DuplicateDeposit {
                    external_ref: ExternalRef::new(c.clone()).unwrap(),
                }),
                _ => Ok(events),
            });
        let label = match decision {
            Ok(events) => {
                self.charges.extend(charge);
                events.iter().for_each(|e| state.apply(e));
                "accepted".to_owned()
            }
            Err(rejection) => format!("rejected:{}", rejection.code()),
        };
        self.keys
            .insert(key, (request.command.fingerprint(), label.clone()));
        (label, false)
    }
}

fn label(kind: &OutcomeKind) -> String {
    match kind {
        OutcomeKind::Accepted => "accepted".to_owned(),
        OutcomeKind::Rejected { code, .. } => format!("rejected:{code}"),
        OutcomeKind::Conflict { field } => format!("conflict:{field}"),
    }
}

/// Submits the chunks one after the other (each lands in one batch) or, `queued`, all at
/// once into batches of at most 3, so that the writer takes many batches in a row from
/// its queue and reused keys send many of them from the fast path to the locked path.
async fn check(chunks: Vec<Vec<Request>>, queued: bool) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir().join(format!("croupier-prop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", rand_suffix()));
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let config = if queued {
        GroupCommitConfig {
            batch_size_max: 3,
            ..GroupCommitConfig::default()
        }
    } else {
        GroupCommitConfig::default()
    };
    let writer = GroupCommit::start(store.clone(), Ledger::default(), config);
    let chunks = if queued {
        vec![chunks.concat()]
    } else {
        chunks
    };
    let mut model = Model::default();
    for chunk in chunks {
        // Submitted at once: the commands join the writer's queue in this order.
        let futures: Vec<_> = chunk
            .iter()
            .map(|r| writer.submit(Submission::new(r.clone())))
            .collect();
        let outcomes = futures_util::future::join_all(futures).await;
        for (request, outcome) in chunk.iter().zip(outcomes) {
            let outcome = outcome.unwrap();
            let (expected, replayed) = model.submit(request);
            prop_assert_eq!(label(&outcome.kind), expected, "{:?}", request);
            prop_assert_eq!(outcome.replayed, replayed);
        }
    }
    for (player, expected) in &model.players {
        // Read back through the database, the codec and `store::player::fold`: the whole
        // state (cash, bets in play, every bet and payment, the version), not a balance.
        let state = store::player::load(&store, *player).await.unwrap();
        prop_assert_eq!(&state, expected);
    }
    drop(writer);
    store.pool().close().await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_store_answers_like_the_sequential_model(
        chunks in prop::collection::vec(prop::collection::vec(request(), 1..8), 1..12)
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(check(chunks.clone(), false))?;
        runtime.block_on(check(chunks, true))?;
    }
}
