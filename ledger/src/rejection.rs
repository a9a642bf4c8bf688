//! Business rejections: values, not errors. Each has a stable snake_case code; the store
//! records a rejection against its idempotency key and replays it unchanged.

use std::fmt;

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
}

impl Rejection {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InsufficientFunds { .. } => "insufficient_funds",
            Self::UnknownBet { .. } => "unknown_bet",
            Self::BetAlreadyClosed { .. } => "bet_already_closed",
            Self::DuplicateBet { .. } => "duplicate_bet",
            Self::UnknownDeposit { .. } => "unknown_deposit",
            Self::DepositAlreadyRefunded { .. } => "deposit_already_refunded",
            Self::DuplicateDeposit { .. } => "duplicate_deposit",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::UnknownCurrency { .. } => "unknown_currency",
            Self::InvalidAmount { .. } => "invalid_amount",
            Self::FairSeedAlreadyCommitted { .. } => "fair_seed_already_committed",
            Self::UnknownFairSeed { .. } => "unknown_fair_seed",
            Self::FairSeedAlreadyRevealed { .. } => "fair_seed_already_revealed",
            Self::FairSeedMismatch { .. } => "fair_seed_mismatch",
            Self::InvalidFair { .. } => "invalid_fair",
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
