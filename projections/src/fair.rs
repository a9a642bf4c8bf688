//! `croupier fair verify BET_ID`, the read side: a provably fair bet's evidence gathered
//! from the log alone (its `bet_placed` with the fair inputs, the seed's commitment and
//! reveal, the settlement with its roll), for `ledger::fair::recompute` to check.

use std::collections::HashMap;

use ledger::fair::FairBet;
use ledger::{CurrencyCode, Event, Fingerprint};
use rust_decimal::Decimal;
use store::{codec, EventStore, StoreError};

/// Where a fact is in the log.
pub type Position = u64;

/// A provably fair bet as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub stream: String,
    pub player: i64,
    pub placed: Position,
    pub fair: FairBet,
    pub stake: Decimal,
    pub currency: CurrencyCode,
    /// The commitment to the bet's seed, in the bet's stream.
    pub committed: Option<Position>,
    /// The reveal of the bet's seed (hex), in the bet's stream.
    pub revealed: Option<(Position, String)>,
    /// The settlement: its payout and roll.
    pub settled: Option<(Position, Decimal, Option<u32>)>,
}

/// What the log says about a bet id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A bet placed with fair inputs.
    Fair(Box<Evidence>),
    /// A bet placed without fair inputs (slots, or before fairness entered the log).
    NotFair,
    /// No bet with this id in the log.
    Missing,
}

/// Why the evidence could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum FairError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the event at position {position} is unreadable: {problem}")]
    Unreadable { position: u64, problem: String },
}

/// Reads the whole log once for the bet `bet_id` (the first placed under that id) and
/// the facts of its seed.
pub async fn find<S: EventStore>(store: &S, bet_id: &str) -> Result<Found, FairError> {
    const BATCH_SIZE: u32 = 10_000;
    let mut placed: Option<Evidence> = None;
    let mut not_fair = false;
    // Commitments and reveals of every stream, by (stream, seed hash): the bet's seed is
    // known only once the bet is found, and its commitment comes before it.
    let mut commitments: HashMap<(String, String), Position> = HashMap::new();
    let mut reveals: HashMap<(String, String), (Position, String)> = HashMap::new();
    let mut position = 0;
    loop {
        let batch = store.read_all(position, BATCH_SIZE).await?;
        let Some(last) = batch.last() else { break };
        position = last.position;
        for stored in &batch {
            if store::player::player_of(&stored.stream).is_none() {
                continue;
            }
            let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
                .map_err(|e| FairError::Unreadable {
                position: stored.position,
                problem: e.to_string(),
            })?;
            match event {
                Event::FairSeedCommitted(e) => {
                    commitments
                        .entry((stored.stream.clone(), e.seed_hash))
                        .or_insert(stored.position);
                }
                Event::FairSeedRevealed(e) => {
                    reveals
                        .entry((stored.stream.clone(), e.seed_hash))
                        .or_insert((stored.position, e.seed));
                }
                Event::BetPlaced(e) if e.bet_id.as_str() == bet_id && placed.is_none() => {
                    match e.fair {
                        Some(fair) => {
                            placed = Some(Evidence {
                                stream: stored.stream.clone(),
                                player: e.player.get(),
                                placed: stored.position,
                                fair,
                                stake: e.stake,
                                currency: e.currency,
                                committed: None,
                                revealed: None,
                                settled: None,
                            });
                        }
                        None => not_fair = true,
                    }
                }
                Event::BetSettled(e) if e.bet_id.as_str() == bet_id => {
                    if let Some(bet) = placed.as_mut().filter(|b| b.stream == stored.stream) {
                        bet.settled = Some((stored.position, e.payout, e.roll));
                    }
                }
                _ => {}
            }
        }
    }
    let Some(mut bet) = placed else {
        return Ok(if not_fair {
            Found::NotFair
        } else {
            Found::Missing
        });
    };
    let key = (bet.stream.clone(), bet.fair.seed_hash.clone());
    bet.committed = commitments.get(&key).copied();
    bet.revealed = reveals.remove(&key);
    Ok(Found::Fair(Box::new(bet)))
}

/// A place_bet the ledger refused: no event, but its fair inputs are in its idempotency
/// record (`ledger_commands`), kept forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub stream: String,
    pub code: String,
    pub seed_hash: Option<String>,
    pub client_seed: Option<String>,
    pub nonce: Option<String>,
    pub terms: Option<String>,
}

/// The refused place_bet commands for `bet_id`, from their records.
pub async fn refused<S: EventStore>(store: &S, bet_id: &str) -> Result<Vec<Refused>, FairError> {
    let records = store.rejected_commands("place_bet").await?;
    let field = |fp: &Fingerprint, name: &str| fp.get(name).map(str::to_owned);
    Ok(records
        .into_iter()
        .filter(|r| r.fingerprint.get("bet_id") == Some(bet_id))
        .map(|r| Refused {
            stream: r.stream,
            code: match r.outcome.kind {
                ledger::OutcomeKind::Rejected { code, .. } => code.to_string(),
                _ => String::new(),
            },
            seed_hash: field(&r.fingerprint, "fair.seed_hash"),
            client_seed: field(&r.fingerprint, "fair.client_seed"),
            nonce: field(&r.fingerprint, "fair.nonce"),
            terms: field(&r.fingerprint, "fair.terms"),
        })
        .collect())
}

/// Whether the seed `seed_hash` is revealed in `stream`: its position and the seed.
pub async fn reveal_of<S: EventStore>(
    store: &S,
    stream: &str,
    seed_hash: &str,
) -> Result<Option<(Position, String)>, FairError> {
    for stored in store.read_stream(stream, 0).await? {
        let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|e| FairError::Unreadable {
                position: stored.position,
                problem: e.to_string(),
            })?;
        if let Event::FairSeedRevealed(e) = event {
            if e.seed_hash == seed_hash {
                return Ok(Some((stored.position, e.seed)));
            }
        }
    }
    Ok(None)
}
