//! Properties of the pure ledger over random command sequences: postings always balance,
//! no player action overdraws, and replaying the events reproduces the state.

use std::collections::BTreeMap;

use ledger::account::balanced;
use ledger::{
    BetId, Command, CurrencyCode, Event, ExternalRef, GameId, Ledger, PaymentMethod, PlayerId,
    PlayerState, Timestamp,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn command() -> impl Strategy<Value = Command> {
    let player = PlayerId::new(1).unwrap();
    let xtr = CurrencyCode::xtr();
    let bet = (0..6u8).prop_map(|n| BetId::new(format!("b{n}")).unwrap());
    let charge = (0..4u8).prop_map(|n| ExternalRef::new(format!("c{n}")).unwrap());
    let amount = -5i64..200;
    prop_oneof![
        (amount.clone(), charge.clone()).prop_map({
            let xtr = xtr.clone();
            move |(a, c)| Command::Deposit {
                player,
                amount: Decimal::from(a),
                currency: xtr.clone(),
                method: PaymentMethod::telegram_stars(),
                external_ref: c,
            }
        }),
        (bet.clone(), amount.clone()).prop_map({
            let xtr = xtr.clone();
            move |(b, a)| Command::PlaceBet {
                player,
                bet_id: b,
                game: GameId::new("dice").unwrap(),
                stake: Decimal::from(a),
                currency: xtr.clone(),
                fair: None,
            }
        }),
        (bet.clone(), amount.clone()).prop_map(move |(b, a)| Command::SettleBet {
            player,
            bet_id: b,
            payout: Decimal::from(a),
            roll: None,
        }),
        bet.prop_map(move |b| Command::VoidBet {
            player,
            bet_id: b,
            reason: "void".to_owned(),
        }),
        (charge, any::<bool>()).prop_map(move |(c, forced)| Command::RefundDeposit {
            player,
            external_ref: c,
            forced,
        }),
        amount.prop_map(move |a| Command::Adjust {
            player,
            amount: Decimal::from(a - 100),
            currency: xtr.clone(),
            reason: "fix".to_owned(),
        }),
    ]
}

proptest! {
    #[test]
    fn random_histories_keep_the_ledger_sound(commands in prop::collection::vec(command(), 1..80)) {
        let ledger = Ledger::default();
        let player = PlayerId::new(1).unwrap();
        let xtr = CurrencyCode::xtr();
        let mut state = PlayerState::new(player);
        let mut log: Vec<Event> = Vec::new();
        let mut account_totals: BTreeMap<String, Decimal> = BTreeMap::new();
        for (i, command) in commands.iter().enumerate() {
            let now = Timestamp::from_micros(i64::try_from(i).unwrap());
            let before = state.cash(&xtr);
            let Ok(events) = ledger.decide(&state, command, now) else { continue };
            for event in &events {
                prop_assert!(balanced(event.postings()), "unbalanced: {event:?}");
                state.apply(event);
                for posting in event.postings() {
                    *account_totals.entry(posting.account.to_string()).or_default() += posting.amount;
                }
            }
            let forced = matches!(command, Command::RefundDeposit { forced: true, .. });
            if !forced && state.cash(&xtr) < Decimal::ZERO {
                prop_assert!(state.cash(&xtr) >= before, "a player action overdrew: {command:?}");
            }
            log.extend(events);
        }
        // The ledger as a whole sums to zero.
        prop_assert_eq!(account_totals.values().copied().sum::<Decimal>(), Decimal::ZERO);
        // Bets in play equal the open stakes.
        let open: Decimal = state.bets.values()
            .filter(|b| b.status == ledger::BetStatus::Open)
            .map(|b| b.stake).sum();
        prop_assert_eq!(state.in_play(&xtr), open);
        prop_assert_eq!(account_totals.get("house:bets_in_play").copied().unwrap_or_default(), open);
        // What an auditor does with a log it did not write: every event, checked on its
        // own by `try_apply`, is accepted in order and rebuilds the same state. (Replay
        // through the codec and the store's fold is store/tests/properties.rs.)
        let mut replayed = PlayerState::new(player);
        for event in &log {
            prop_assert!(replayed.try_apply(event).is_ok(), "refused on replay: {event:?}");
        }
        prop_assert_eq!(replayed, state);
    }

    #[test]
    fn deciding_the_same_command_twice_never_credits_twice(a in 1i64..1000) {
        let ledger = Ledger::default();
        let mut state = PlayerState::new(PlayerId::new(1).unwrap());
        let deposit = Command::Deposit {
            player: state.player,
            amount: Decimal::from(a),
            currency: CurrencyCode::xtr(),
            method: PaymentMethod::telegram_stars(),
            external_ref: ExternalRef::new("charge").unwrap(),
        };
        for e in ledger.decide(&state, &deposit, Timestamp::default()).unwrap() {
            state.apply(&e);
        }
        prop_assert_eq!(
            ledger.decide(&state, &deposit, Timestamp::default()).unwrap_err().code(),
            "duplicate_deposit"
        );
        prop_assert_eq!(state.cash(&CurrencyCode::xtr()), Decimal::from(a));
    }
}
