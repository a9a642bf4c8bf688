//! Identifier newtypes, validated when they are made so the rest of the ledger can trust them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{value}': {expected}")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// A player, identified by their Telegram user id (positive, fits in 52 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PlayerId(i64);

impl PlayerId {
    /// Telegram user ids fit in 52 bits.
    pub const MAX: i64 = (1 << 52) - 1;

    pub fn new(id: i64) -> Result<Self, IdError> {
        if (1..=Self::MAX).contains(&id) {
            Ok(Self(id))
        } else {
            Err(IdError {
                what: "player",
                value: id.to_string(),
                expected: "a Telegram user id between 1 and 2^52-1",
            })
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for PlayerId {
    type Error = IdError;
    fn try_from(id: i64) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl From<PlayerId> for i64 {
    fn from(id: PlayerId) -> i64 {
        id.0
    }
}

impl fmt::Display for PlayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A point in time, in microseconds since the Unix epoch (UTC). The ledger never reads a
/// clock: callers pass one in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }
}

/// Declares a validated string identifier.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $len_max:expr, $allowed:expr, $expected:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in bytes.
            pub const LEN_MAX: usize = $len_max;

            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let allowed: fn(char) -> bool = $allowed;
                if !value.is_empty() && value.len() <= Self::LEN_MAX && value.chars().all(allowed) {
                    Ok(Self(value))
                } else {
                    Err(IdError { what: $what, value: shorten(&value), expected: $expected })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn visible(c: char) -> bool {
    c.is_ascii_graphic()
}

fn token(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')
}

fn snake(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// Values echoed in error messages are cut, so a huge input cannot flood a log.
pub(crate) fn shorten(value: &str) -> String {
    const SHOWN_MAX: usize = 64;
    if value.chars().count() <= SHOWN_MAX {
        value.to_owned()
    } else {
        let head: String = value.chars().take(SHOWN_MAX).collect();
        format!("{head}...")
    }
}

string_id!(
    /// The client's idempotency key of a command. Kept forever as part of the audit trail.
    IdempotencyKey, "idempotency_key", 200, visible, "1-200 visible ASCII characters"
);
string_id!(
    /// A bet (round), chosen by the game that places it; unique per player.
    BetId, "bet_id", 64, token, "1-64 characters of A-Z a-z 0-9 _ - : ."
);
string_id!(
    /// The game a bet belongs to, such as `coinflip`.
    GameId, "game", 32, snake, "1-32 characters of a-z 0-9 _"
);
string_id!(
    /// How money entered, such as `telegram_stars`; one external account per method.
    PaymentMethod, "method", 32, snake, "1-32 characters of a-z 0-9 _"
);
string_id!(
    /// The payment network's reference of a deposit (Telegram's `telegram_payment_charge_id`).
    ExternalRef, "external_ref", 256, visible, "1-256 visible ASCII characters"
);

impl PaymentMethod {
    /// Telegram Stars, always in XTR.
    pub fn telegram_stars() -> Self {
        Self("telegram_stars".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn player_ids_must_be_positive_telegram_ids() {
        assert!(PlayerId::new(0).is_err());
        assert!(PlayerId::new(-5).is_err());
        assert!(PlayerId::new(1 << 52).is_err());
        assert_eq!(PlayerId::new(7).unwrap().get(), 7);
    }

    #[test]
    fn string_ids_refuse_empty_long_and_odd_characters() {
        assert!(BetId::new("").is_err());
        assert!(BetId::new("a b").is_err());
        assert!(BetId::new("x".repeat(65)).is_err());
        assert!(BetId::new("round-1:a.b_c").is_ok());
        assert!(GameId::new("CoinFlip").is_err());
        assert!(IdempotencyKey::new("k\n").is_err());
        let err = ExternalRef::new("y".repeat(300)).unwrap_err();
        assert!(
            err.to_string().len() < 200,
            "long values are shortened: {err}"
        );
    }
}
