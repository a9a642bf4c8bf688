//! Ledger commands, in the imperative. Amounts arrive as parsed decimals; whether they
//! suit their currency is a business rule checked by `decide`.

use rust_decimal::Decimal;

use crate::fair::FairBet;
use crate::fingerprint::Fingerprint;
use crate::id::{BetId, ExternalRef, GameId, IdempotencyKey, PaymentMethod, PlayerId, Timestamp};
use crate::money::CurrencyCode;

/// A command with the idempotency key it is submitted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub idempotency_key: IdempotencyKey,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Credit money that arrived through a payment method.
    Deposit {
        player: PlayerId,
        amount: Decimal,
        currency: CurrencyCode,
        method: PaymentMethod,
        external_ref: ExternalRef,
    },
    /// Move a stake from the player's cash into play.
    PlaceBet {
        player: PlayerId,
        bet_id: BetId,
        game: GameId,
        stake: Decimal,
        currency: CurrencyCode,
        /// A provably fair bet's inputs, under a seed committed and not yet revealed.
        fair: Option<FairBet>,
    },
    /// Close an open bet with a payout (zero when lost).
    SettleBet {
        player: PlayerId,
        bet_id: BetId,
        payout: Decimal,
        /// The roll that decided a provably fair bet.
        roll: Option<u32>,
    },
    /// Close an open bet and return its stake.
    VoidBet {
        player: PlayerId,
        bet_id: BetId,
        reason: String,
    },
    /// Record a subscription charge (first payment or renewal) as house revenue that
    /// entitles the player until `until`.
    PaySubscription {
        player: PlayerId,
        amount: Decimal,
        currency: CurrencyCode,
        method: PaymentMethod,
        external_ref: ExternalRef,
        until: Timestamp,
        renewal: bool,
    },
    /// Give back one whole charge: a deposit, or a subscription charge (which takes the
    /// revenue back from the house and ends what it paid for). `forced` marks a refund the payment network already
    /// made: it is recorded even when it overdraws the player, leaving a visible debt.
    RefundDeposit {
        player: PlayerId,
        external_ref: ExternalRef,
        forced: bool,
    },
    /// Ask the payment network to give back a whole deposit (a staff refund): the money
    /// is held in `house:refunds_pending` until the network answers.
    RequestRefund {
        player: PlayerId,
        external_ref: ExternalRef,
    },
    /// The payment network made the requested refund of this deposit.
    ConfirmRefund {
        player: PlayerId,
        external_ref: ExternalRef,
    },
    /// The payment network refused the requested refund of this deposit for good: the
    /// money goes back to the player.
    ReverseRefund {
        player: PlayerId,
        external_ref: ExternalRef,
        reason: String,
    },
    /// A signed manual correction by staff.
    Adjust {
        player: PlayerId,
        amount: Decimal,
        currency: CurrencyCode,
        reason: String,
    },
    /// Record the commitment to a provably fair seed (its SHA-256, lowercase hex) before
    /// any bet uses it.
    CommitFairSeed { player: PlayerId, seed_hash: String },
    /// Reveal a committed seed (hex), so every bet it decided can be recomputed.
    RevealFairSeed {
        player: PlayerId,
        seed_hash: String,
        seed: String,
    },
}

impl Command {
    /// The wire name of the command, as in `{"type":"place_bet"}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deposit { .. } => "deposit",
            Self::PlaceBet { .. } => "place_bet",
            Self::SettleBet { .. } => "settle_bet",
            Self::VoidBet { .. } => "void_bet",
            Self::RefundDeposit { .. } => "refund_deposit",
            Self::RequestRefund { .. } => "request_refund",
            Self::ConfirmRefund { .. } => "confirm_refund",
            Self::ReverseRefund { .. } => "reverse_refund",
            Self::Adjust { .. } => "adjust",
            Self::PaySubscription { .. } => "pay_subscription",
            Self::CommitFairSeed { .. } => "commit_fair_seed",
            Self::RevealFairSeed { .. } => "reveal_fair_seed",
        }
    }

    pub fn player(&self) -> PlayerId {
        match self {
            Self::Deposit { player, .. }
            | Self::PlaceBet { player, .. }
            | Self::SettleBet { player, .. }
            | Self::VoidBet { player, .. }
            | Self::RefundDeposit { player, .. }
            | Self::RequestRefund { player, .. }
            | Self::ConfirmRefund { player, .. }
            | Self::ReverseRefund { player, .. }
            | Self::Adjust { player, .. }
            | Self::PaySubscription { player, .. }
            | Self::CommitFairSeed { player, .. }
            | Self::RevealFairSeed { player, .. } => *player,
        }
    }

    /// The command's content in canonical form, for comparing a retried command with the
    /// one first recorded under its key. Decimals are normalised, so `10` equals `10.0`.
    /// Optional fields are named only when present, so the fingerprint of a command
    /// without them is the one recorded before they existed.
    pub fn fingerprint(&self) -> Fingerprint {
        let amount = |d: &Decimal| d.normalize().to_string();
        let mut fields: Vec<(&str, String)> = vec![
            ("type", self.kind().to_owned()),
            ("player", self.player().to_string()),
        ];
        match self {
            Self::Deposit {
                amount: a,
                currency,
                method,
                external_ref,
                ..
            } => {
                fields.push(("amount", amount(a)));
                fields.push(("currency", currency.to_string()));
                fields.push(("method", method.to_string()));
                fields.push(("external_ref", external_ref.to_string()));
            }
            Self::PaySubscription {
                amount: a,
                currency,
                method,
                external_ref,
                until,
                renewal,
                ..
            } => {
                fields.push(("amount", amount(a)));
                fields.push(("currency", currency.to_string()));
                fields.push(("method", method.to_string()));
                fields.push(("external_ref", external_ref.to_string()));
                fields.push(("until", until.as_micros().to_string()));
                fields.push(("renewal", renewal.to_string()));
            }
            Self::PlaceBet {
                bet_id,
                game,
                stake,
                currency,
                fair,
                ..
            } => {
                fields.push(("bet_id", bet_id.to_string()));
                fields.push(("game", game.to_string()));
                fields.push(("stake", amount(stake)));
                fields.push(("currency", currency.to_string()));
                if let Some(fair) = fair {
                    fields.push(("fair.seed_hash", fair.seed_hash.clone()));
                    fields.push(("fair.client_seed", fair.client_seed.clone()));
                    fields.push(("fair.nonce", fair.nonce.to_string()));
                    fields.push(("fair.terms", fair.terms.clone()));
                }
            }
            Self::SettleBet {
                bet_id,
                payout,
                roll,
                ..
            } => {
                fields.push(("bet_id", bet_id.to_string()));
                fields.push(("payout", amount(payout)));
                if let Some(roll) = roll {
                    fields.push(("roll", roll.to_string()));
                }
            }
            Self::CommitFairSeed { seed_hash, .. } => {
                fields.push(("seed_hash", seed_hash.clone()));
            }
            Self::RevealFairSeed {
                seed_hash, seed, ..
            } => {
                fields.push(("seed_hash", seed_hash.clone()));
                fields.push(("seed", seed.clone()));
            }
            Self::VoidBet { bet_id, reason, .. } => {
                fields.push(("bet_id", bet_id.to_string()));
                fields.push(("reason", reason.clone()));
            }
            Self::RefundDeposit {
                external_ref,
                forced,
                ..
            } => {
                fields.push(("external_ref", external_ref.to_string()));
                fields.push(("forced", forced.to_string()));
            }
            Self::RequestRefund { external_ref, .. } | Self::ConfirmRefund { external_ref, .. } => {
                fields.push(("external_ref", external_ref.to_string()));
            }
            Self::ReverseRefund {
                external_ref,
                reason,
                ..
            } => {
                fields.push(("external_ref", external_ref.to_string()));
                fields.push(("reason", reason.clone()));
            }
            Self::Adjust {
                amount: a,
                currency,
                reason,
                ..
            } => {
                fields.push(("amount", amount(a)));
                fields.push(("currency", currency.to_string()));
                fields.push(("reason", reason.clone()));
            }
        }
        Fingerprint::new(fields)
    }
}
