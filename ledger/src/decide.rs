//! The ledger's rules: `decide` turns a command and a player's state into events, or a
//! rejection. It does no IO and reads no clock.

use rust_decimal::Decimal;

use crate::command::Command;
use crate::event::{
    Adjusted, BetPlaced, BetSettled, BetVoided, DepositRefunded, Deposited, Event,
    FairSeedCommitted, FairSeedRevealed, RefundConfirmed, RefundNoted, RefundRequested,
    RefundReversed, SubscriptionPaid, SubscriptionRefunded,
};
use crate::fair::{self, FairBet, Terms};
use crate::id::{ExternalRef, PaymentMethod, Timestamp};
use crate::money::{Currencies, CurrencyCode};
use crate::rejection::{FairProblem, Rejection};
use crate::state::{BetStatus, Deposit, PlayerState};

/// The ledger's configuration: the currencies it accepts.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub currencies: Currencies,
}

impl Ledger {
    /// Decides what `command` does to the player whose state is `state`, at time `now`.
    ///
    /// # Panics
    /// If `state` belongs to another player than the command: the caller loaded the
    /// wrong stream, which is a bug.
    pub fn decide(
        &self,
        state: &PlayerState,
        command: &Command,
        now: Timestamp,
    ) -> Result<Vec<Event>, Rejection> {
        let player = command.player();
        assert_eq!(
            state.player, player,
            "decide called with another player's state"
        );
        let event = match command {
            Command::Deposit {
                amount,
                currency,
                method,
                external_ref,
                ..
            } => {
                let amount = self.charge(state, *amount, currency, method, external_ref)?;
                let deposited = Event::Deposited(Deposited {
                    player,
                    method: method.clone(),
                    external_ref: external_ref.clone(),
                    amount,
                    currency: currency.clone(),
                    at: now,
                    postings: vec![],
                });
                return credit(state, deposited, external_ref, now);
            }
            Command::PlaceBet {
                bet_id,
                game,
                stake,
                currency,
                fair,
                ..
            } => {
                let stake = self.currencies.get(currency)?.positive(*stake)?;
                if state.bets.contains_key(bet_id) {
                    return Err(Rejection::DuplicateBet {
                        bet_id: bet_id.clone(),
                    });
                }
                if let Some(fair) = fair {
                    fair_bet(state, fair, game.as_str())?;
                }
                covers(state, currency, stake)?;
                Event::BetPlaced(BetPlaced {
                    player,
                    bet_id: bet_id.clone(),
                    game: game.clone(),
                    stake,
                    currency: currency.clone(),
                    at: now,
                    postings: vec![],
                    fair: fair.clone(),
                })
            }
            Command::SettleBet {
                bet_id,
                payout,
                roll,
                ..
            } => {
                let bet = open_bet(state, bet_id)?;
                let spec = self.currencies.get(&bet.currency)?;
                let payout = spec.non_negative(*payout)?;
                fair_settlement(bet, *roll, payout, spec.scale)?;
                Event::BetSettled(BetSettled {
                    player,
                    bet_id: bet_id.clone(),
                    stake: bet.stake,
                    payout,
                    currency: bet.currency.clone(),
                    at: now,
                    postings: vec![],
                    roll: *roll,
                })
            }
            Command::CommitFairSeed { seed_hash, .. } => {
                if !fair::is_seed_hash(seed_hash) {
                    return Err(Rejection::InvalidFair {
                        problem: FairProblem::SeedHashFormat,
                    });
                }
                if state.fair_seeds.contains_key(seed_hash) {
                    return Err(Rejection::FairSeedAlreadyCommitted {
                        seed_hash: seed_hash.clone(),
                    });
                }
                return Ok(vec![Event::FairSeedCommitted(FairSeedCommitted {
                    player,
                    seed_hash: seed_hash.clone(),
                    at: now,
                })]);
            }
            Command::RevealFairSeed {
                seed_hash, seed, ..
            } => {
                let committed =
                    state
                        .fair_seeds
                        .get(seed_hash)
                        .ok_or_else(|| Rejection::UnknownFairSeed {
                            seed_hash: seed_hash.clone(),
                        })?;
                if committed.revealed.is_some() {
                    return Err(Rejection::FairSeedAlreadyRevealed {
                        seed_hash: seed_hash.clone(),
                    });
                }
                if fair::parse_seed(seed).map(|s| fair::seed_hash(&s)).as_ref() != Some(seed_hash) {
                    return Err(Rejection::FairSeedMismatch {
                        seed_hash: seed_hash.clone(),
                    });
                }
                return Ok(vec![Event::FairSeedRevealed(FairSeedRevealed {
                    player,
                    seed_hash: seed_hash.clone(),
                    seed: seed.clone(),
                    at: now,
                })]);
            }
            Command::VoidBet { bet_id, reason, .. } => {
                let bet = open_bet(state, bet_id)?;
                Event::BetVoided(BetVoided {
                    player,
                    bet_id: bet_id.clone(),
                    stake: bet.stake,
                    currency: bet.currency.clone(),
                    reason: reason.clone(),
                    at: now,
                    postings: vec![],
                })
            }
            Command::PaySubscription {
                amount,
                currency,
                method,
                external_ref,
                until,
                renewal,
                ..
            } => {
                let amount = self.charge(state, *amount, currency, method, external_ref)?;
                let paid = Event::SubscriptionPaid(SubscriptionPaid {
                    player,
                    method: method.clone(),
                    external_ref: external_ref.clone(),
                    amount,
                    currency: currency.clone(),
                    until: *until,
                    renewal: *renewal,
                    at: now,
                    postings: vec![],
                });
                return credit(state, paid, external_ref, now);
            }
            Command::RefundDeposit {
                external_ref,
                forced,
                ..
            } => refund(state, external_ref, *forced, now)?,
            Command::RequestRefund { external_ref, .. } => {
                let deposit = refundable(state, external_ref)?;
                covers(state, &deposit.currency, deposit.amount)?;
                Event::RefundRequested(RefundRequested {
                    player,
                    method: deposit.method.clone(),
                    external_ref: external_ref.clone(),
                    amount: deposit.amount,
                    currency: deposit.currency.clone(),
                    at: now,
                    postings: vec![],
                })
            }
            Command::ConfirmRefund { external_ref, .. } => {
                let deposit = pending_refund(state, external_ref)?;
                confirmed(player, deposit, external_ref, now)
            }
            Command::ReverseRefund {
                external_ref,
                reason,
                ..
            } => {
                let deposit = pending_refund(state, external_ref)?;
                Event::RefundReversed(RefundReversed {
                    player,
                    method: deposit.method.clone(),
                    external_ref: external_ref.clone(),
                    amount: deposit.amount,
                    currency: deposit.currency.clone(),
                    reason: reason.clone(),
                    at: now,
                    postings: vec![],
                })
            }
            Command::Adjust {
                amount,
                currency,
                reason,
                ..
            } => {
                let amount = self.currencies.get(currency)?.non_zero(*amount)?;
                if amount < Decimal::ZERO {
                    covers(state, currency, -amount)?;
                }
                Event::Adjusted(Adjusted {
                    player,
                    amount,
                    currency: currency.clone(),
                    reason: reason.clone(),
                    at: now,
                    postings: vec![],
                })
            }
        };
        Ok(vec![with_postings(event)])
    }

    /// Checks money that arrived through a payment method (a deposit or a subscription
    /// charge): a known currency, Stars only in XTR, a positive amount, and a charge
    /// this player has not been credited with before.
    fn charge(
        &self,
        state: &PlayerState,
        amount: Decimal,
        currency: &CurrencyCode,
        method: &PaymentMethod,
        external_ref: &ExternalRef,
    ) -> Result<Decimal, Rejection> {
        let spec = self.currencies.get(currency)?;
        if method == &PaymentMethod::telegram_stars() && currency != &CurrencyCode::xtr() {
            return Err(Rejection::CurrencyMismatch {
                method: method.clone(),
                expected: CurrencyCode::xtr(),
                found: currency.clone(),
            });
        }
        let amount = spec.positive(amount)?;
        if state.knows_charge(external_ref) {
            return Err(Rejection::DuplicateDeposit {
                external_ref: external_ref.clone(),
            });
        }
        Ok(amount)
    }
}

/// Gives back one whole charge: a subscription charge from the house's revenue, a
/// deposit from the player's cash (unless the payment network already `forced` it).
/// A forced refund of a charge not credited (yet) is noted, and applied when the payment
/// arrives: the network's refund may come first.
/// A payment credited: `credited`, and, when its refund was noted before it arrived,
/// its refund at once (the money came and went back, both recorded), decided as any
/// refund the payment network forced.
fn credit(
    state: &PlayerState,
    credited: Event,
    external_ref: &ExternalRef,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let credited = with_postings(credited);
    if !state.noted_refunds.contains(external_ref) {
        return Ok(vec![credited]);
    }
    let mut after = state.clone();
    after.apply(&credited);
    let refunded = refund(&after, external_ref, true, now)?;
    Ok(vec![credited, with_postings(refunded)])
}

fn refund(
    state: &PlayerState,
    external_ref: &ExternalRef,
    forced: bool,
    now: Timestamp,
) -> Result<Event, Rejection> {
    let player = state.player;
    let refunded = || Rejection::DepositAlreadyRefunded {
        external_ref: external_ref.clone(),
    };
    if let Some(charge) = state.subscriptions.get(external_ref) {
        if charge.refunded {
            return Err(refunded());
        }
        return Ok(Event::SubscriptionRefunded(SubscriptionRefunded {
            player,
            method: charge.method.clone(),
            external_ref: external_ref.clone(),
            amount: charge.amount,
            currency: charge.currency.clone(),
            at: now,
            postings: vec![],
        }));
    }
    let Some(deposit) = state.deposits.get(external_ref) else {
        if !forced {
            return Err(Rejection::UnknownDeposit {
                external_ref: external_ref.clone(),
            });
        }
        if state.noted_refunds.contains(external_ref) {
            return Err(refunded());
        }
        return Ok(Event::RefundNoted(RefundNoted {
            player,
            external_ref: external_ref.clone(),
            at: now,
        }));
    };
    if deposit.refunded {
        return Err(refunded());
    }
    if deposit.refund_pending {
        if forced {
            // The network reports the refund staff asked for: it is made.
            return Ok(confirmed(player, deposit, external_ref, now));
        }
        return Err(Rejection::RefundPending {
            external_ref: external_ref.clone(),
        });
    }
    if !forced {
        covers(state, &deposit.currency, deposit.amount)?;
    }
    Ok(Event::DepositRefunded(DepositRefunded {
        player,
        method: deposit.method.clone(),
        external_ref: external_ref.clone(),
        amount: deposit.amount,
        currency: deposit.currency.clone(),
        forced,
        at: now,
        postings: vec![],
    }))
}

/// A deposit that a staff refund may ask the network to give back: credited, neither
/// refunded nor waiting for a refund.
fn refundable<'a>(
    state: &'a PlayerState,
    external_ref: &ExternalRef,
) -> Result<&'a Deposit, Rejection> {
    let deposit = state
        .deposits
        .get(external_ref)
        .ok_or_else(|| Rejection::UnknownDeposit {
            external_ref: external_ref.clone(),
        })?;
    if deposit.refunded {
        return Err(Rejection::DepositAlreadyRefunded {
            external_ref: external_ref.clone(),
        });
    }
    if deposit.refund_pending {
        return Err(Rejection::RefundPending {
            external_ref: external_ref.clone(),
        });
    }
    Ok(deposit)
}

/// A deposit whose staff refund waits for the network's answer.
fn pending_refund<'a>(
    state: &'a PlayerState,
    external_ref: &ExternalRef,
) -> Result<&'a Deposit, Rejection> {
    match state.deposits.get(external_ref) {
        Some(deposit) if deposit.refund_pending => Ok(deposit),
        _ => Err(Rejection::NoRefundPending {
            external_ref: external_ref.clone(),
        }),
    }
}

fn confirmed(
    player: crate::PlayerId,
    deposit: &Deposit,
    external_ref: &ExternalRef,
    now: Timestamp,
) -> Event {
    Event::RefundConfirmed(RefundConfirmed {
        player,
        method: deposit.method.clone(),
        external_ref: external_ref.clone(),
        amount: deposit.amount,
        currency: deposit.currency.clone(),
        at: now,
        postings: vec![],
    })
}

/// A fair bet uses a seed committed and not revealed, a fresh nonce, and terms of its
/// own game.
fn fair_bet(state: &PlayerState, bet: &FairBet, game: &str) -> Result<(), Rejection> {
    let seed = state
        .fair_seeds
        .get(&bet.seed_hash)
        .ok_or_else(|| Rejection::UnknownFairSeed {
            seed_hash: bet.seed_hash.clone(),
        })?;
    if seed.revealed.is_some() {
        return Err(Rejection::FairSeedAlreadyRevealed {
            seed_hash: bet.seed_hash.clone(),
        });
    }
    let invalid = |problem| Err(Rejection::InvalidFair { problem });
    if seed.nonces.contains(&bet.nonce) {
        return invalid(FairProblem::NonceUsed { nonce: bet.nonce });
    }
    if Terms::parse(&bet.terms).is_none_or(|t| t.game_name() != game) {
        return invalid(FairProblem::Terms {
            terms: bet.terms.clone(),
        });
    }
    Ok(())
}

/// A fair bet settles with its roll, and pays what the roll pays under its terms; any
/// other bet settles without a roll.
fn fair_settlement(
    bet: &crate::Bet,
    roll: Option<u32>,
    payout: Decimal,
    scale: u32,
) -> Result<(), Rejection> {
    let invalid = |problem| Err(Rejection::InvalidFair { problem });
    let terms = bet.fair.as_ref().and_then(|f| Terms::parse(&f.terms));
    match (terms, roll) {
        (_, Some(roll)) if roll >= fair::ROLL_RANGE => {
            invalid(FairProblem::RollOutOfRange { roll })
        }
        (None, Some(_)) => invalid(FairProblem::RollWithoutFairBet),
        (Some(_), None) => invalid(FairProblem::RollMissing),
        (Some(terms), Some(roll)) => {
            let expected = terms.outcome(bet.stake, roll, scale).payout;
            if expected == payout.normalize() {
                Ok(())
            } else {
                invalid(FairProblem::Payout { expected })
            }
        }
        (None, None) => Ok(()),
    }
}

/// Fills in the postings the event's fields call for.
fn with_postings(mut event: Event) -> Event {
    // `decide` keeps every amount within its currency's maximum, far from overflowing.
    let postings = event
        .expected_postings()
        .expect("amounts within the currency maximum do not overflow");
    let slot = match &mut event {
        Event::Deposited(e) => &mut e.postings,
        Event::BetPlaced(e) => &mut e.postings,
        Event::BetSettled(e) => &mut e.postings,
        Event::BetVoided(e) => &mut e.postings,
        Event::DepositRefunded(e) => &mut e.postings,
        Event::Adjusted(e) => &mut e.postings,
        Event::SubscriptionPaid(e) => &mut e.postings,
        Event::SubscriptionRefunded(e) => &mut e.postings,
        Event::RefundRequested(e) => &mut e.postings,
        Event::RefundConfirmed(e) => &mut e.postings,
        Event::RefundReversed(e) => &mut e.postings,
        Event::FairSeedCommitted(_) | Event::FairSeedRevealed(_) | Event::RefundNoted(_) => {
            return event
        }
    };
    *slot = postings;
    event
}

fn covers(state: &PlayerState, currency: &CurrencyCode, needed: Decimal) -> Result<(), Rejection> {
    let balance = state.cash(currency);
    if balance < needed {
        return Err(Rejection::InsufficientFunds {
            currency: currency.clone(),
            balance,
            needed,
        });
    }
    Ok(())
}

fn open_bet<'a>(
    state: &'a PlayerState,
    bet_id: &crate::BetId,
) -> Result<&'a crate::Bet, Rejection> {
    let bet = state
        .bets
        .get(bet_id)
        .ok_or_else(|| Rejection::UnknownBet {
            bet_id: bet_id.clone(),
        })?;
    if bet.status != BetStatus::Open {
        return Err(Rejection::BetAlreadyClosed {
            bet_id: bet_id.clone(),
            status: bet.status,
        });
    }
    Ok(bet)
}
