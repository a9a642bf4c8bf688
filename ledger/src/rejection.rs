//! Business rejections: values, not errors. Each has a stable snake_case code; the store
//! records a rejection against its idempotency key and replays it unchanged.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::id::{BetId, ExternalRef, PaymentMethod};
use crate::money::CurrencyCode;
use crate::state::BetStatus;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountProblem {
    NotPositive,
    Negative,
    Zero,
    TooManyDecimals { scale: u32 },
    AboveMaximum { amount_max: Decimal },
}

/// Why a fair bet, its settlement or a commitment was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FairProblem {
    /// A seed hash is not 64 lowercase hex digits.
    SeedHashFormat,
    /// The terms do not parse, or name another game than the bet.
    Terms { terms: String },
    /// The nonce was already used under this seed.
    NonceUsed { nonce: u64 },
    /// A roll outside 0..10,000.
    RollOutOfRange { roll: u32 },
    /// A roll given for a bet placed without fair inputs.
    RollWithoutFairBet,
    /// A fair bet settled without its roll.
    RollMissing,
    /// The payout is not what the roll pays under the bet's terms.
    Payout { expected: Decimal },
}

/// Which [`Rejection`] a command met, without its details: what a rejection is once it
/// has been recorded (the store keeps the code and the message, and replays them) and what
/// clients match on. Its string (`insufficient_funds`) is stable: it is stored in
/// `ledger_commands.rejection_code` and printed by `croupier ledger submit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectionCode {
    InsufficientFunds,
    UnknownBet,
    BetAlreadyClosed,
    DuplicateBet,
    UnknownDeposit,
    DepositAlreadyRefunded,
    DuplicateDeposit,
    CurrencyMismatch,
    UnknownCurrency,
    InvalidAmount,
    FairSeedAlreadyCommitted,
    UnknownFairSeed,
    FairSeedAlreadyRevealed,
    FairSeedMismatch,
    InvalidFair,
    RefundPending,
    NoRefundPending,
}

impl RejectionCode {
    /// Every code, in declaration order.
    pub const ALL: [Self; 17] = [
        Self::InsufficientFunds,
        Self::UnknownBet,
        Self::BetAlreadyClosed,
        Self::DuplicateBet,
        Self::UnknownDeposit,
        Self::DepositAlreadyRefunded,
        Self::DuplicateDeposit,
        Self::CurrencyMismatch,
        Self::UnknownCurrency,
        Self::InvalidAmount,
        Self::FairSeedAlreadyCommitted,
        Self::UnknownFairSeed,
        Self::FairSeedAlreadyRevealed,
        Self::FairSeedMismatch,
        Self::InvalidFair,
        Self::RefundPending,
        Self::NoRefundPending,
    ];

    /// The stable snake_case string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InsufficientFunds => "insufficient_funds",
            Self::UnknownBet => "unknown_bet",
            Self::BetAlreadyClosed => "bet_already_closed",
            Self::DuplicateBet => "duplicate_bet",
            Self::UnknownDeposit => "unknown_deposit",
            Self::DepositAlreadyRefunded => "deposit_already_refunded",
            Self::DuplicateDeposit => "duplicate_deposit",
            Self::CurrencyMismatch => "currency_mismatch",
            Self::UnknownCurrency => "unknown_currency",
            Self::InvalidAmount => "invalid_amount",
            Self::FairSeedAlreadyCommitted => "fair_seed_already_committed",
            Self::UnknownFairSeed => "unknown_fair_seed",
            Self::FairSeedAlreadyRevealed => "fair_seed_already_revealed",
            Self::FairSeedMismatch => "fair_seed_mismatch",
            Self::InvalidFair => "invalid_fair",
            Self::RefundPending => "refund_pending",
            Self::NoRefundPending => "no_refund_pending",
        }
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no [`RejectionCode`] (a record written by a newer release, or a
/// corrupt one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rejection code '{0}'")]
pub struct UnknownRejectionCode(pub String);

impl FromStr for RejectionCode {
    type Err = UnknownRejectionCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownRejectionCode(s.to_owned()))
    }
}

/// A code equals its stable string, so that tests can pin the strings clients see.
impl PartialEq<str> for RejectionCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RejectionCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for RejectionCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A command the ledger refuses. Nothing is appended; the refusal itself is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    InsufficientFunds {
        currency: CurrencyCode,
        balance: Decimal,
        needed: Decimal,
    },
    UnknownBet {
        bet_id: BetId,
    },
    BetAlreadyClosed {
        bet_id: BetId,
        status: BetStatus,
    },
    DuplicateBet {
        bet_id: BetId,
    },
    UnknownDeposit {
        external_ref: ExternalRef,
    },
    DepositAlreadyRefunded {
        external_ref: ExternalRef,
    },
    DuplicateDeposit {
        external_ref: ExternalRef,
    },
    CurrencyMismatch {
        method: PaymentMethod,
        expected: CurrencyCode,
        found: CurrencyCode,
    },
    UnknownCurrency {
        currency: CurrencyCode,
    },
    InvalidAmount {
        value: Decimal,
        currency: CurrencyCode,
        problem: AmountProblem,
    },
    /// A seed committed a second time.
    FairSeedAlreadyCommitted {
        seed_hash: String,
    },
    /// A seed this player never committed to.
    UnknownFairSeed {
        seed_hash: String,
    },
    /// A seed revealed already: it can be revealed once, and decides no new bet.
    FairSeedAlreadyRevealed {
        seed_hash: String,
    },
    /// A revealed seed whose SHA-256 is not the commitment.
    FairSeedMismatch {
        seed_hash: String,
    },
    InvalidFair {
        problem: FairProblem,
    },
    /// A refund of this deposit was asked of the payment network and is waiting for its
    /// answer.
    RefundPending {
        external_ref: ExternalRef,
    },
    /// A confirmation or reversal of a refund that is not waiting (never requested, or
    /// already confirmed or reversed).
    NoRefundPending {
        external_ref: ExternalRef,
    },
}

impl Rejection {
    /// The stable code clients match on.
    pub fn code(&self) -> RejectionCode {
        match self {
            Self::InsufficientFunds { .. } => RejectionCode::InsufficientFunds,
            Self::UnknownBet { .. } => RejectionCode::UnknownBet,
            Self::BetAlreadyClosed { .. } => RejectionCode::BetAlreadyClosed,
            Self::DuplicateBet { .. } => RejectionCode::DuplicateBet,
            Self::UnknownDeposit { .. } => RejectionCode::UnknownDeposit,
            Self::DepositAlreadyRefunded { .. } => RejectionCode::DepositAlreadyRefunded,
            Self::DuplicateDeposit { .. } => RejectionCode::DuplicateDeposit,
            Self::CurrencyMismatch { .. } => RejectionCode::CurrencyMismatch,
            Self::UnknownCurrency { .. } => RejectionCode::UnknownCurrency,
            Self::InvalidAmount { .. } => RejectionCode::InvalidAmount,
            Self::FairSeedAlreadyCommitted { .. } => RejectionCode::FairSeedAlreadyCommitted,
            Self::UnknownFairSeed { .. } => RejectionCode::UnknownFairSeed,
            Self::FairSeedAlreadyRevealed { .. } => RejectionCode::FairSeedAlreadyRevealed,
            Self::FairSeedMismatch { .. } => RejectionCode::FairSeedMismatch,
            Self::InvalidFair { .. } => RejectionCode::InvalidFair,
            Self::RefundPending { .. } => RejectionCode::RefundPending,
            Self::NoRefundPending { .. } => RejectionCode::NoRefundPending,
        }
    }

    /// Whether the same request, sent again later under a new idempotency key, could
    /// succeed (a retry under the same key always replays this rejection).
    pub fn transient(&self) -> bool {
        matches!(
            self,
            Self::InsufficientFunds { .. } | Self::UnknownBet { .. } | Self::UnknownDeposit { .. }
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InsufficientFunds {
                currency,
                balance,
                needed,
            } => write!(
                f,
                "insufficient funds: balance {balance} {currency}, needs {needed} {currency}"
            ),
            Self::UnknownBet { bet_id } => write!(f, "unknown bet '{bet_id}' for this player"),
            Self::BetAlreadyClosed { bet_id, status } => {
                write!(f, "bet '{bet_id}' is already {status}")
            }
            Self::DuplicateBet { bet_id } => {
                write!(f, "bet '{bet_id}' already exists: choose a new bet_id")
            }
            Self::UnknownDeposit { external_ref } => {
                write!(f, "unknown deposit '{external_ref}' for this player")
            }
            Self::DepositAlreadyRefunded { external_ref } => {
                write!(f, "charge '{external_ref}' is already refunded")
            }
            Self::DuplicateDeposit { external_ref } => {
                write!(f, "charge '{external_ref}' is already credited")
            }
            Self::CurrencyMismatch {
                method,
                expected,
                found,
            } => write!(
                f,
                "currency {found} does not match {method}, which takes {expected}"
            ),
            Self::UnknownCurrency { currency } => write!(f, "unknown currency {currency}"),
            Self::InvalidAmount {
                value,
                currency,
                problem,
            } => {
                write!(f, "invalid amount '{value}' for {currency}: ")?;
                match problem {
                    AmountProblem::NotPositive => f.write_str("it must be greater than zero"),
                    AmountProblem::Negative => f.write_str("it must not be negative"),
                    AmountProblem::Zero => f.write_str("it must not be zero"),
                    AmountProblem::TooManyDecimals { scale } => {
                        write!(f, "{currency} allows {scale} decimal places")
                    }
                    AmountProblem::AboveMaximum { amount_max } => {
                        write!(f, "the maximum is {amount_max}")
                    }
                }
            }
            Self::FairSeedAlreadyCommitted { seed_hash } => {
                write!(f, "seed {seed_hash} is already committed: commit a new seed")
            }
            Self::UnknownFairSeed { seed_hash } => write!(
                f,
                "seed {seed_hash} is not committed for this player: commit it first"
            ),
            Self::FairSeedAlreadyRevealed { seed_hash } => write!(
                f,
                "seed {seed_hash} is already revealed: it decides no new bet"
            ),
            Self::FairSeedMismatch { seed_hash } => write!(
                f,
                "the revealed seed is not 32 bytes of hex whose SHA-256 is {seed_hash}"
            ),
            Self::RefundPending { external_ref } => write!(
                f,
                "a refund of charge '{external_ref}' is waiting for the payment network's answer"
            ),
            Self::NoRefundPending { external_ref } => write!(
                f,
                "no refund of charge '{external_ref}' is waiting for the payment network"
            ),
            Self::InvalidFair { problem } => match problem {
                FairProblem::SeedHashFormat => {
                    f.write_str("invalid seed hash: expected 64 lowercase hex digits")
                }
                FairProblem::Terms { terms } => write!(
                    f,
                    "invalid fair terms '{terms}': expected coinflip:SIDE:EDGE or dice:TARGET:EDGE for the bet's game"
                ),
                FairProblem::NonceUsed { nonce } => {
                    write!(f, "nonce {nonce} was already used under this seed")
                }
                FairProblem::RollOutOfRange { roll } => {
                    write!(f, "roll {roll} is out of range: expected 0-9999")
                }
                FairProblem::RollWithoutFairBet => {
                    f.write_str("a roll was given for a bet placed without fair inputs")
                }
                FairProblem::RollMissing => {
                    f.write_str("a provably fair bet settles with its roll")
                }
                FairProblem::Payout { expected } => {
                    write!(f, "the roll pays {expected} under the bet's terms")
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RejectionCode;

    #[test]
    fn every_code_reads_back_from_its_string() {
        for code in RejectionCode::ALL {
            assert_eq!(code.as_str().parse::<RejectionCode>(), Ok(code));
        }
        assert!("insufficient funds".parse::<RejectionCode>().is_err());
    }
}
