//! The CPU cost of one append, without a database: deciding and applying a bet, encoding
//! the event as MessagePack, and sealing it into the hash chain. At the brief's raw
//! INSERT rate (55,000-80,000 rows/s, about 15 µs a row) these must stay a small fraction
//! of a row's budget; `croupier bench append` measures the whole path against the raw
//! INSERT on a real database.

use criterion::{criterion_group, criterion_main, Criterion};
use ledger::{
    BetId, Command, CurrencyCode, ExternalRef, GameId, Ledger, PaymentMethod, PlayerId,
    PlayerState, Timestamp,
};
use rust_decimal::Decimal;
use store::append::Chain;
use store::{codec, Metadata, NewEvent};

fn funded_player() -> (Ledger, PlayerState) {
    let ledger = Ledger::default();
    let mut state = PlayerState::new(PlayerId::new(7).unwrap());
    let deposit = Command::Deposit {
        player: state.player,
        amount: Decimal::from(1_000_000),
        currency: CurrencyCode::xtr(),
        method: PaymentMethod::telegram_stars(),
        external_ref: ExternalRef::new("charge").unwrap(),
    };
    for event in ledger
        .decide(&state, &deposit, Timestamp::default())
        .unwrap()
    {
        state.apply(&event);
    }
    (ledger, state)
}

fn bet(state: &PlayerState, n: u64) -> Command {
    Command::PlaceBet {
        player: state.player,
        bet_id: BetId::new(format!("round-{n}")).unwrap(),
        game: GameId::new("coinflip").unwrap(),
        stake: Decimal::ONE,
        currency: CurrencyCode::xtr(),
        fair: None,
    }
}

fn append_cpu(c: &mut Criterion) {
    c.bench_function("decide+apply a bet and its settlement", |b| {
        let (ledger, mut state) = funded_player();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let placed = ledger
                .decide(&state, &bet(&state, n), Timestamp::default())
                .unwrap();
            placed.iter().for_each(|e| state.apply(e));
            let settle = Command::SettleBet {
                player: state.player,
                bet_id: BetId::new(format!("round-{n}")).unwrap(),
                payout: Decimal::TWO,
                roll: None,
            };
            let settled = ledger
                .decide(&state, &settle, Timestamp::default())
                .unwrap();
            settled.iter().for_each(|e| state.apply(e));
        });
    });

    let (ledger, state) = funded_player();
    let event = ledger
        .decide(&state, &bet(&state, 1), Timestamp::default())
        .unwrap()
        .remove(0);
    c.bench_function("encode an event (MessagePack with field names)", |b| {
        b.iter(|| codec::encode(std::hint::black_box(&event)));
    });

    let (event_type, schema_version, payload) = codec::encode(&event);
    let new = NewEvent {
        event_type: event_type.to_owned(),
        schema_version,
        payload,
        metadata: Metadata {
            idempotency_key: Some("bench-key-0000000001".to_owned()),
            causation: None,
            actor: Some("bench".to_owned()),
        },
    };
    c.bench_function("seal an event into the hash chain (SHA-256)", |b| {
        let mut chain = Chain::after(None, 0);
        let mut version = 0;
        b.iter(|| {
            version += 1;
            chain.seal("player-7", version, new.clone())
        });
    });
}

criterion_group!(benches, append_cpu);
criterion_main!(benches);
