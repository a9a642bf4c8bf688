//! The ledger's rules: `decide` turns a command and a player's state into events, or a
//! rejection. It does no IO and reads no clock.

use rust_decimal::Decimal;

use crate::command::Command;
use crate::event::{
    Adjusted, BetPlaced, BetSettled, BetVoided, DepositRefunded, Deposited, Event,
    SubscriptionPaid, SubscriptionRefunded,
};
use crate::id::{ExternalRef, PaymentMethod, Timestamp};
use crate::money::{Currencies, CurrencyCode};
use crate::rejection::Rejection;
use crate::state::{BetStatus, PlayerState};

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
                Event::Deposited(Deposited {
                    player,
                    method: method.clone(),
                    external_ref: external_ref.clone(),
                    amount,
                    currency: currency.clone(),
                    at: now,
                    postings: vec![],
                })
            }
            Command::PlaceBet {
                bet_id,
                game,
                stake,
                currency,
                ..
            } => {
                let stake = self.currencies.get(currency)?.positive(*stake)?;
                if state.bets.contains_key(bet_id) {
                    return Err(Rejection::DuplicateBet {
                        bet_id: bet_id.clone(),
                    });
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
                })
            }
            Command::SettleBet { bet_id, payout, .. } => {
                let bet = open_bet(state, bet_id)?;
                let payout = self.currencies.get(&bet.currency)?.non_negative(*payout)?;
                Event::BetSettled(BetSettled {
                    player,
                    bet_id: bet_id.clone(),
                    stake: bet.stake,
                    payout,
                    currency: bet.currency.clone(),
                    at: now,
                    postings: vec![],
                })
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
                Event::SubscriptionPaid(SubscriptionPaid {
                    player,
                    method: method.clone(),
                    external_ref: external_ref.clone(),
                    amount,
                    currency: currency.clone(),
                    until: *until,
                    renewal: *renewal,
                    at: now,
                    postings: vec![],
                })
            }
            Command::RefundDeposit {
                external_ref,
                forced,
                ..
            } => refund(state, external_ref, *forced, now)?,
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
    let deposit = state
        .deposits
        .get(external_ref)
        .ok_or_else(|| Rejection::UnknownDeposit {
            external_ref: external_ref.clone(),
        })?;
    if deposit.refunded {
        return Err(refunded());
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

/// Fills in the postings the event's fields call for.
fn with_postings(mut event: Event) -> Event {
    let postings = event.expected_postings();
    let slot = match &mut event {
        Event::Deposited(e) => &mut e.postings,
        Event::BetPlaced(e) => &mut e.postings,
        Event::BetSettled(e) => &mut e.postings,
        Event::BetVoided(e) => &mut e.postings,
        Event::DepositRefunded(e) => &mut e.postings,
        Event::Adjusted(e) => &mut e.postings,
        Event::SubscriptionPaid(e) => &mut e.postings,
        Event::SubscriptionRefunded(e) => &mut e.postings,
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
