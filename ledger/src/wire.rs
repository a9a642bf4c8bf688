//! The JSON form of commands, as `croupier ledger submit` reads them. Everything from
//! outside is checked here: unknown types and fields, ids, and amounts that are not
//! decimal strings are refused as bad input before the ledger sees them.
//!
//! ```json
//! {"type":"place_bet","idempotency_key":"k2","player":7,"bet_id":"r1","game":"coinflip","stake":"10","currency":"XTR"}
//! ```

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::command::{Command, Request};
use crate::fair::FairBet;
use crate::id::{IdError, IdempotencyKey, PlayerId};

/// Input that is not a well-formed command. Not a business rejection: nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(String);

impl From<IdError> for InputError {
    fn from(e: IdError) -> Self {
        Self(e.to_string())
    }
}

/// The longest reason text accepted, in characters.
pub const REASON_LEN_MAX: usize = 500;

/// Parses one command from its JSON text.
pub fn parse_command(text: &str) -> Result<Request, InputError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| InputError(format!("error parsing command JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(InputError(
            "error parsing command: expected a JSON object such as {\"type\":\"deposit\",...}"
                .to_owned(),
        ));
    };
    let fields = Fields(&map);
    let kind = fields.string("type")?;
    let allowed: &[&str] = match kind.as_str() {
        "deposit" => &["amount", "currency", "method", "external_ref"],
        "place_bet" => &["bet_id", "game", "stake", "currency", "fair"],
        "settle_bet" => &["bet_id", "payout", "roll"],
        "void_bet" => &["bet_id", "reason"],
        "refund_deposit" => &["external_ref", "forced"],
        "adjust" => &["amount", "currency", "reason"],
        "pay_subscription" => &[
            "amount",
            "currency",
            "method",
            "external_ref",
            "until_micros",
            "renewal",
        ],
        "commit_fair_seed" => &["seed_hash"],
        "reveal_fair_seed" => &["seed_hash", "seed"],
        other => {
            return Err(InputError(format!(
                "unknown command type '{}': expected deposit, place_bet, settle_bet, void_bet, refund_deposit, adjust, pay_subscription, commit_fair_seed or reveal_fair_seed",
                crate::id::shorten(other)
            )))
        }
    };
    if let Some(unknown) = map.keys().find(|k| {
        !matches!(k.as_str(), "type" | "idempotency_key" | "player")
            && !allowed.contains(&k.as_str())
    }) {
        return Err(InputError(format!(
            "unknown field '{}' for {kind}: expected {}",
            crate::id::shorten(unknown),
            allowed.join(", ")
        )));
    }
    let idempotency_key = IdempotencyKey::new(fields.string("idempotency_key")?)?;
    let player = PlayerId::new(fields.integer("player")?)?;
    let command =
        match kind.as_str() {
            "deposit" => Command::Deposit {
                player,
                amount: fields.decimal("amount")?,
                currency: fields.parsed("currency")?,
                method: fields.parsed("method")?,
                external_ref: fields.parsed("external_ref")?,
            },
            "place_bet" => Command::PlaceBet {
                player,
                bet_id: fields.id_text("bet_id")?.parse()?,
                game: fields.parsed("game")?,
                stake: fields.decimal("stake")?,
                currency: fields.parsed("currency")?,
                fair: fields.fair()?,
            },
            "settle_bet" => Command::SettleBet {
                player,
                bet_id: fields.id_text("bet_id")?.parse()?,
                payout: fields.decimal("payout")?,
                roll: match fields.0.get("roll") {
                    None => None,
                    Some(_) => Some(u32::try_from(fields.integer("roll")?).map_err(|_| {
                        InputError("error parsing roll: expected 0-9999".to_owned())
                    })?),
                },
            },
            "commit_fair_seed" => Command::CommitFairSeed {
                player,
                seed_hash: fields.string("seed_hash")?,
            },
            "reveal_fair_seed" => Command::RevealFairSeed {
                player,
                seed_hash: fields.string("seed_hash")?,
                seed: fields.string("seed")?,
            },
            "void_bet" => Command::VoidBet {
                player,
                bet_id: fields.id_text("bet_id")?.parse()?,
                reason: fields.reason()?,
            },
            "refund_deposit" => Command::RefundDeposit {
                player,
                external_ref: fields.parsed("external_ref")?,
                forced: fields.flag("forced")?,
            },
            "pay_subscription" => Command::PaySubscription {
                player,
                amount: fields.decimal("amount")?,
                currency: fields.parsed("currency")?,
                method: fields.parsed("method")?,
                external_ref: fields.parsed("external_ref")?,
                until: crate::Timestamp::from_micros(fields.integer("until_micros")?),
                renewal: fields.flag("renewal")?,
            },
            _ => Command::Adjust {
                player,
                amount: fields.decimal("amount")?,
                currency: fields.parsed("currency")?,
                reason: fields.reason()?,
            },
        };
    Ok(Request {
        idempotency_key,
        command,
    })
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Result<&Value, InputError> {
        self.0
            .get(name)
            .ok_or_else(|| InputError(format!("missing field '{name}'")))
    }

    fn string(&self, name: &str) -> Result<String, InputError> {
        match self.get(name)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(InputError(format!(
                "field '{name}' must be a string, not {}",
                kind_of(other)
            ))),
        }
    }

    fn parsed<T: FromStr<Err = IdError>>(&self, name: &str) -> Result<T, InputError> {
        Ok(self.string(name)?.parse()?)
    }

    /// A string, or a whole number written as a JSON number (bet ids are often numeric).
    fn id_text(&self, name: &str) -> Result<String, InputError> {
        match self.get(name)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            _ => self.string(name),
        }
    }

    fn integer(&self, name: &str) -> Result<i64, InputError> {
        let bad = || {
            InputError(format!(
                "error parsing {name} '{}': expected a whole number such as 7",
                crate::id::shorten(&self.0[name].to_string())
            ))
        };
        match self.get(name)? {
            Value::Number(n) => n.as_i64().ok_or_else(bad),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }

    /// Amounts are decimal strings. A whole JSON number is exact and accepted too; a
    /// fractional JSON number may already have lost precision, so it is refused.
    fn decimal(&self, name: &str) -> Result<Decimal, InputError> {
        let text = match self.get(name)? {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            other => {
                return Err(InputError(format!(
                    "error parsing {name} {}: write amounts as decimal strings such as \"10.50\"",
                    crate::id::shorten(&other.to_string())
                )))
            }
        };
        parse_decimal(&text).ok_or_else(|| {
            InputError(format!(
                "error parsing {name} '{}': expected a decimal number such as \"10.50\"",
                crate::id::shorten(&text)
            ))
        })
    }

    fn flag(&self, name: &str) -> Result<bool, InputError> {
        match self.0.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(InputError(format!(
                "field '{name}' must be true or false, not {}",
                kind_of(other)
            ))),
        }
    }

    /// A place_bet's optional `fair` block: `{"seed_hash","client_seed","nonce","terms"}`.
    fn fair(&self) -> Result<Option<FairBet>, InputError> {
        match self.0.get("fair") {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone()).map(Some).map_err(|e| {
                InputError(format!(
                    "error parsing fair: {e}: expected {{\"seed_hash\",\"client_seed\",\"nonce\",\"terms\"}}"
                ))
            }),
        }
    }

    fn reason(&self) -> Result<String, InputError> {
        let reason = self.string("reason")?;
        let trimmed = reason.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > REASON_LEN_MAX
            || trimmed.chars().any(char::is_control)
        {
            return Err(InputError(format!(
                "invalid reason: expected 1-{REASON_LEN_MAX} characters without control characters"
            )));
        }
        Ok(trimmed.to_owned())
    }
}

/// A plain decimal: optional minus sign, digits, optional fraction. No exponent, no
/// separators, no spaces.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_empty() != digits.contains('.');
    if !plain {
        return None;
    }
    Decimal::from_str_exact(text).ok()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_type() {
        let lines = [
            r#"{"type":"deposit","idempotency_key":"k","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"ch"}"#,
            r#"{"type":"place_bet","idempotency_key":"k","player":7,"bet_id":"b","game":"coinflip","stake":"10","currency":"XTR"}"#,
            r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":12,"payout":"0"}"#,
            r#"{"type":"void_bet","idempotency_key":"k","player":7,"bet_id":"b","reason":"dice lost"}"#,
            r#"{"type":"refund_deposit","idempotency_key":"k","player":7,"external_ref":"ch"}"#,
            r#"{"type":"adjust","idempotency_key":"k","player":"7","amount":"-5","currency":"XTR","reason":"fix"}"#,
        ];
        let kinds: Vec<_> = lines
            .iter()
            .map(|l| parse_command(l).unwrap().command.kind())
            .collect();
        assert_eq!(
            kinds,
            [
                "deposit",
                "place_bet",
                "settle_bet",
                "void_bet",
                "refund_deposit",
                "adjust"
            ]
        );
    }

    #[test]
    fn refuses_bad_input_with_a_message_naming_it() {
        let cases = [
            ("not json", "error parsing command JSON"),
            ("[1]", "expected a JSON object"),
            (
                r#"{"type":"withdraw","idempotency_key":"k","player":7}"#,
                "unknown command type 'withdraw'",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":"b","payout":"abc"}"#,
                "error parsing payout 'abc'",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":"b","payout":"1e3"}"#,
                "error parsing payout '1e3'",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":"b","payout":1.5}"#,
                "decimal strings",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":"b"}"#,
                "missing field 'payout'",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":"b","payout":"1","payuot":"2"}"#,
                "unknown field 'payuot'",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":-1,"bet_id":"b","payout":"1"}"#,
                "invalid player '-1'",
            ),
            (
                r#"{"type":"settle_bet","idempotency_key":"","player":7,"bet_id":"b","payout":"1"}"#,
                "invalid idempotency_key",
            ),
            (
                r#"{"type":"void_bet","idempotency_key":"k","player":7,"bet_id":"b","reason":"  "}"#,
                "invalid reason",
            ),
            (
                r#"{"type":"refund_deposit","idempotency_key":"k","player":7,"external_ref":"c","forced":"yes"}"#,
                "true or false",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_command(text).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{text}: got '{err}', expected '{expected}'"
            );
        }
    }

    #[test]
    fn decimals_are_plain() {
        for good in ["0", "10", "-5", "12.50", "0.001"] {
            assert!(parse_decimal(good).is_some(), "{good}");
        }
        for bad in [
            "", "-", "1.", ".5", "1e5", "1_000", " 1", "+1", "1.2.3", "NaN",
        ] {
            assert!(parse_decimal(bad).is_none(), "{bad}");
        }
    }
}
