//! Ledger events, in the past tense. Each money event carries its postings; the postings
//! are also derivable from the event's other fields, and [`Event::expected_postings`] is
//! the one place that says how, so `decide` and `apply` cannot disagree.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::account::{Account, Posting};
use crate::fair::FairBet;
use crate::id::{BetId, ExternalRef, GameId, PaymentMethod, PlayerId, Timestamp};
use crate::money::CurrencyCode;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposited {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetPlaced {
    pub player: PlayerId,
    pub bet_id: BetId,
    pub game: GameId,
    pub stake: Decimal,
    pub currency: CurrencyCode,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
    /// A provably fair bet's inputs. Absent from bets of other games and from every bet
    /// recorded before fairness entered the log (read as `None`), and left out of the
    /// payload when absent, so such a bet's bytes are what they always were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fair: Option<FairBet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetSettled {
    pub player: PlayerId,
    pub bet_id: BetId,
    pub stake: Decimal,
    pub payout: Decimal,
    pub currency: CurrencyCode,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
    /// The roll (0..10,000) that decided a provably fair bet; absent as `fair` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roll: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetVoided {
    pub player: PlayerId,
    pub bet_id: BetId,
    pub stake: Decimal,
    pub currency: CurrencyCode,
    pub reason: String,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRefunded {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    /// Forced by the payment network: recorded even when it overdraws the player.
    pub forced: bool,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjusted {
    pub player: PlayerId,
    /// Signed: positive credits the player.
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub reason: String,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

/// A subscription charge (its first payment or a renewal): house revenue, never player
/// cash. It entitles the player until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionPaid {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    /// When the entitlement this charge pays for ends.
    pub until: Timestamp,
    /// A renewal rather than the first payment.
    pub renewal: bool,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

/// A subscription charge given back: the revenue leaves the house, and the entitlement
/// it paid for ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRefunded {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

/// The server's commitment to a provably fair seed: its SHA-256, recorded before any bet
/// uses the seed. No money moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairSeedCommitted {
    pub player: PlayerId,
    pub seed_hash: String,
    pub at: Timestamp,
}

/// A committed seed revealed (on rotation): from here on anyone can recompute the bets it
/// decided. No money moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairSeedRevealed {
    pub player: PlayerId,
    pub seed_hash: String,
    /// The seed, as lowercase hex.
    pub seed: String,
    pub at: Timestamp,
}

/// A refund the payment network reported for a charge the player has not been credited
/// with (yet): Telegram can deliver a refund before its payment, or from another chat.
/// It is remembered, keyed by the charge, so that the payment, when it arrives, is
/// credited and refunded at once. No money moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNoted {
    pub player: PlayerId,
    pub external_ref: ExternalRef,
    pub at: Timestamp,
}

/// A staff refund of a deposit asked of the payment network: the money leaves the
/// player's cash for `house:refunds_pending`, where it waits for the network's answer.
/// The deposit cannot be refunded again meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequested {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

/// The payment network made a requested refund: the held money goes out to it. The
/// deposit ends refunded, as after `deposit_refunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundConfirmed {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

/// The payment network refused a requested refund for good: the held money goes back to
/// the player's cash, and the deposit can be refunded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundReversed {
    pub player: PlayerId,
    pub method: PaymentMethod,
    pub external_ref: ExternalRef,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    /// Why the network refused, as it said.
    pub reason: String,
    pub at: Timestamp,
    pub postings: Vec<Posting>,
}

/// Everything that can happen to a player's money, and the fairness facts of their bets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Deposited(Deposited),
    BetPlaced(BetPlaced),
    BetSettled(BetSettled),
    BetVoided(BetVoided),
    DepositRefunded(DepositRefunded),
    Adjusted(Adjusted),
    SubscriptionPaid(SubscriptionPaid),
    SubscriptionRefunded(SubscriptionRefunded),
    FairSeedCommitted(FairSeedCommitted),
    FairSeedRevealed(FairSeedRevealed),
    RefundNoted(RefundNoted),
    RefundRequested(RefundRequested),
    RefundConfirmed(RefundConfirmed),
    RefundReversed(RefundReversed),
}

impl Event {
    /// The stored event type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Deposited(_) => "deposited",
            Self::BetPlaced(_) => "bet_placed",
            Self::BetSettled(_) => "bet_settled",
            Self::BetVoided(_) => "bet_voided",
            Self::DepositRefunded(_) => "deposit_refunded",
            Self::Adjusted(_) => "adjusted",
            Self::SubscriptionPaid(_) => "subscription_paid",
            Self::SubscriptionRefunded(_) => "subscription_refunded",
            Self::FairSeedCommitted(_) => "fair_seed_committed",
            Self::FairSeedRevealed(_) => "fair_seed_revealed",
            Self::RefundNoted(_) => "refund_noted",
            Self::RefundRequested(_) => "refund_requested",
            Self::RefundConfirmed(_) => "refund_confirmed",
            Self::RefundReversed(_) => "refund_reversed",
        }
    }

    pub fn player(&self) -> PlayerId {
        match self {
            Self::Deposited(e) => e.player,
            Self::BetPlaced(e) => e.player,
            Self::BetSettled(e) => e.player,
            Self::BetVoided(e) => e.player,
            Self::DepositRefunded(e) => e.player,
            Self::Adjusted(e) => e.player,
            Self::SubscriptionPaid(e) => e.player,
            Self::SubscriptionRefunded(e) => e.player,
            Self::FairSeedCommitted(e) => e.player,
            Self::FairSeedRevealed(e) => e.player,
            Self::RefundNoted(e) => e.player,
            Self::RefundRequested(e) => e.player,
            Self::RefundConfirmed(e) => e.player,
            Self::RefundReversed(e) => e.player,
        }
    }

    /// The currency the event moves; `None` for the fairness facts and noted refunds,
    /// which move no money.
    pub fn currency(&self) -> Option<&CurrencyCode> {
        Some(match self {
            Self::Deposited(e) => &e.currency,
            Self::BetPlaced(e) => &e.currency,
            Self::BetSettled(e) => &e.currency,
            Self::BetVoided(e) => &e.currency,
            Self::DepositRefunded(e) => &e.currency,
            Self::Adjusted(e) => &e.currency,
            Self::SubscriptionPaid(e) => &e.currency,
            Self::SubscriptionRefunded(e) => &e.currency,
            Self::RefundRequested(e) => &e.currency,
            Self::RefundConfirmed(e) => &e.currency,
            Self::RefundReversed(e) => &e.currency,
            Self::FairSeedCommitted(_) | Self::FairSeedRevealed(_) | Self::RefundNoted(_) => {
                return None
            }
        })
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Self::Deposited(e) => e.at,
            Self::BetPlaced(e) => e.at,
            Self::BetSettled(e) => e.at,
            Self::BetVoided(e) => e.at,
            Self::DepositRefunded(e) => e.at,
            Self::Adjusted(e) => e.at,
            Self::SubscriptionPaid(e) => e.at,
            Self::SubscriptionRefunded(e) => e.at,
            Self::FairSeedCommitted(e) => e.at,
            Self::FairSeedRevealed(e) => e.at,
            Self::RefundNoted(e) => e.at,
            Self::RefundRequested(e) => e.at,
            Self::RefundConfirmed(e) => e.at,
            Self::RefundReversed(e) => e.at,
        }
    }

    /// The postings the event carries, as stored.
    pub fn postings(&self) -> &[Posting] {
        match self {
            Self::Deposited(e) => &e.postings,
            Self::BetPlaced(e) => &e.postings,
            Self::BetSettled(e) => &e.postings,
            Self::BetVoided(e) => &e.postings,
            Self::DepositRefunded(e) => &e.postings,
            Self::Adjusted(e) => &e.postings,
            Self::SubscriptionPaid(e) => &e.postings,
            Self::SubscriptionRefunded(e) => &e.postings,
            Self::RefundRequested(e) => &e.postings,
            Self::RefundConfirmed(e) => &e.postings,
            Self::RefundReversed(e) => &e.postings,
            Self::FairSeedCommitted(_) | Self::FairSeedRevealed(_) | Self::RefundNoted(_) => &[],
        }
    }

    /// Whether the event moves a player's own money (cash or stakes in play);
    /// subscription charges move only house and external money, fairness facts none.
    pub fn moves_player_money(&self) -> bool {
        !matches!(
            self,
            Self::SubscriptionPaid(_)
                | Self::SubscriptionRefunded(_)
                | Self::FairSeedCommitted(_)
                | Self::FairSeedRevealed(_)
                | Self::RefundNoted(_)
        )
    }

    /// The postings the event's other fields call for. Zero legs are left out. `None` when
    /// a leg overflows (a settlement's house leg, stake less payout), which only amounts no
    /// decision made can do: a tampered log.
    pub fn expected_postings(&self) -> Option<Vec<Posting>> {
        let cash = Account::PlayerCash(self.player());
        let legs: Vec<(Account, Decimal)> = match self {
            Self::Deposited(e) => vec![
                (Account::External(e.method.clone()), -e.amount),
                (cash, e.amount),
            ],
            Self::BetPlaced(e) => vec![(cash, -e.stake), (Account::BetsInPlay, e.stake)],
            Self::BetSettled(e) => vec![
                (Account::BetsInPlay, -e.stake),
                (Account::HouseGaming, e.stake.checked_sub(e.payout)?),
                (cash, e.payout),
            ],
            Self::BetVoided(e) => vec![(Account::BetsInPlay, -e.stake), (cash, e.stake)],
            Self::DepositRefunded(e) => vec![
                (cash, -e.amount),
                (Account::External(e.method.clone()), e.amount),
            ],
            Self::Adjusted(e) => vec![(cash, e.amount), (Account::HouseAdjustments, -e.amount)],
            Self::SubscriptionPaid(e) => vec![
                (Account::External(e.method.clone()), -e.amount),
                (Account::HouseSubscriptions, e.amount),
            ],
            Self::SubscriptionRefunded(e) => vec![
                (Account::HouseSubscriptions, -e.amount),
                (Account::External(e.method.clone()), e.amount),
            ],
            Self::RefundRequested(e) => {
                vec![(cash, -e.amount), (Account::RefundsPending, e.amount)]
            }
            Self::RefundConfirmed(e) => vec![
                (Account::RefundsPending, -e.amount),
                (Account::External(e.method.clone()), e.amount),
            ],
            Self::RefundReversed(e) => vec![(Account::RefundsPending, -e.amount), (cash, e.amount)],
            Self::FairSeedCommitted(_) | Self::FairSeedRevealed(_) | Self::RefundNoted(_) => {
                return Some(vec![])
            }
        };
        let currency = self.currency().expect("money events have a currency");
        let postings = legs
            .into_iter()
            .filter(|(_, amount)| !amount.is_zero())
            .map(|(account, amount)| Posting {
                account,
                currency: currency.clone(),
                amount,
            })
            .collect();
        Some(postings)
    }
}
