//! `croupier fair verify BET_ID`: recomputes a provably fair bet from the log alone (its
//! `bet_placed` with the fair inputs, the seed's commitment and reveal, the settlement
//! with its roll) and checks the settlement. Exit 0 when they agree, 5 when they do not,
//! 3 when the seed is not revealed yet, 2 when there is no such bet.

use std::process::ExitCode;

use anyhow::Context;
use ledger::fair::{self, Disagreement};
use ledger::Currencies;
use projections::fair::{Evidence, Found};

use store::{with_store, Database};

const EXIT_DISAGREE: u8 = 5;
const EXIT_NOT_REVEALED: u8 = 3;
const EXIT_NO_BET: u8 = 2;

pub async fn verify(database: &Database, bet: &str) -> anyhow::Result<ExitCode> {
    let found = with_store!(database, s => projections::fair::find(s, bet).await)?;
    match found {
        Found::Fair(evidence) => check(bet, &evidence),
        Found::NotFair => {
            eprintln!("error: bet '{bet}' was placed without provably fair inputs (coinflip and dice bets have them)");
            Ok(ExitCode::from(EXIT_NO_BET))
        }
        Found::Missing => refused(database, bet).await,
    }
}

fn check(bet: &str, evidence: &Evidence) -> anyhow::Result<ExitCode> {
    let fair_bet = &evidence.fair;
    outln!(
        "bet {bet}: player {}, terms {} (position {})",
        evidence.player,
        fair_bet.terms,
        evidence.placed
    )?;
    let Some(committed) = evidence.committed.filter(|&c| c < evidence.placed) else {
        outln!(
            "FAIL: the seed hash {} was not committed in the log before the bet",
            fair_bet.seed_hash
        )?;
        return Ok(ExitCode::from(EXIT_DISAGREE));
    };
    outln!(
        "server seed hash {} (committed at position {committed}, before the bet), client seed {}, nonce {}",
        fair_bet.seed_hash, fair_bet.client_seed, fair_bet.nonce
    )?;
    let Some((revealed_at, seed_hex)) = &evidence.revealed else {
        outln!("the server seed is not revealed yet: the player reveals it with /fair rotate")?;
        return Ok(ExitCode::from(EXIT_NOT_REVEALED));
    };
    let Some(seed) =
        fair::parse_seed(seed_hex).filter(|s| fair::seed_hash(s) == fair_bet.seed_hash)
    else {
        outln!("FAIL: the seed revealed at position {revealed_at} does not hash to the recorded commitment")?;
        return Ok(ExitCode::from(EXIT_DISAGREE));
    };
    let roll = fair::roll(&seed, &fair_bet.client_seed, fair_bet.nonce);
    outln!(
        "roll {} = HMAC-SHA256(seed revealed at position {revealed_at}, \"{}:{}\")",
        fair::show_roll(roll),
        fair_bet.client_seed,
        fair_bet.nonce
    )?;
    let scale = Currencies::default()
        .get(&evidence.currency)
        .map_or(0, |spec| spec.scale);
    let terms = fair::Terms::parse(&fair_bet.terms)
        .with_context(|| format!("unreadable terms '{}'", fair_bet.terms))?;
    let stake = evidence.stake;
    // The stake is read from the log: a tampered one may be too large to compute with.
    let Some(expected) = terms.checked_outcome(stake, roll, scale) else {
        outln!("FAIL: the stake {stake} is too large for what the roll pays to be computed")?;
        return Ok(ExitCode::from(EXIT_DISAGREE));
    };
    let Some((_, payout, settled_roll)) = evidence.settled else {
        outln!(
            "the bet is not settled yet; it should pay {}",
            expected.payout
        )?;
        return Ok(ExitCode::from(EXIT_NOT_REVEALED));
    };
    match fair::recompute(&seed, fair_bet, stake, scale, settled_roll, payout) {
        Ok(_) => {
            outln!(
                "OK: stake {stake}, {} pays {}, and the ledger settled {payout} with roll {}",
                if expected.won { "a win" } else { "a loss" },
                expected.payout,
                fair::show_roll(roll)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(Disagreement::Payout { .. }) => {
            outln!(
                "FAIL: stake {stake} should have paid {}, but the ledger settled {payout}",
                expected.payout
            )?;
            Ok(ExitCode::from(EXIT_DISAGREE))
        }
        Err(disagreement) => {
            outln!("FAIL: {disagreement}")?;
            Ok(ExitCode::from(EXIT_DISAGREE))
        }
    }
}

/// No bet in the log: a bet the ledger refused (for funds, say) left no event, but its
/// fair inputs are in its idempotency record.
async fn refused(database: &Database, bet: &str) -> anyhow::Result<ExitCode> {
    let records = with_store!(database, s => projections::fair::refused(s, bet).await)?;
    let Some(record) = records.into_iter().find(|r| r.seed_hash.is_some()) else {
        eprintln!(
            "error: no provably fair bet '{bet}' in the log (coinflip and dice bets have one)"
        );
        return Ok(ExitCode::from(EXIT_NO_BET));
    };
    let seed_hash = record.seed_hash.unwrap_or_default();
    outln!(
        "bet {bet}: refused by the ledger ({}), so no money moved; terms {}, server seed hash {seed_hash}, client seed {}, nonce {}",
        record.code,
        record.terms.as_deref().unwrap_or("?"),
        record.client_seed.as_deref().unwrap_or("?"),
        record.nonce.as_deref().unwrap_or("?"),
    )?;
    let revealed = with_store!(database, s => projections::fair::reveal_of(s, &record.stream, &seed_hash).await)?;
    if revealed.is_none() {
        outln!("the server seed is not revealed yet: the player reveals it with /fair rotate")?;
        return Ok(ExitCode::from(EXIT_NOT_REVEALED));
    }
    outln!("no bet was placed with this round: nothing to check")?;
    Ok(ExitCode::SUCCESS)
}
