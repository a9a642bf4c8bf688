//! The JSON form of commands, as `croupier ledger submit` reads them. Everything from
//! outside is checked here, and each value has one spelling: a key given twice (at any
//! depth), unknown types and fields, ids that are not valid, amounts that are not decimal
//! strings in [`parse_amount`]'s one syntax (the bot's too), and whole numbers (`player`,
//! `roll`, `until_micros`) that are not JSON integers are refused as bad input before the
//! ledger sees them.
//!
//! ```json
//! {"type":"place_bet","idempotency_key":"k2","player":7,"bet_id":"r1","game":"coinflip","stake":"10","currency":"XTR"}
//! ```

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::command::{Command, Request};
use crate::fair::FairBet;
use crate::id::{IdError, IdempotencyKey, PlayerId};
use crate::money::parse_amount;

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
    let value =
        strict_json(text).map_err(|e| InputError(format!("error parsing command JSON: {e}")))?;
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
        "request_refund" | "confirm_refund" => &["external_ref"],
        "reverse_refund" => &["external_ref", "reason"],
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
                "unknown command type '{}': expected deposit, place_bet, settle_bet, void_bet, refund_deposit, request_refund, confirm_refund, reverse_refund, adjust, pay_subscription, commit_fair_seed or reveal_fair_seed",
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
            "request_refund" => Command::RequestRefund {
                player,
                external_ref: fields.parsed("external_ref")?,
            },
            "confirm_refund" => Command::ConfirmRefund {
                player,
                external_ref: fields.parsed("external_ref")?,
            },
            "reverse_refund" => Command::ReverseRefund {
                player,
                external_ref: fields.parsed("external_ref")?,
                reason: fields.reason()?,
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

    /// A whole number is a JSON integer, in range: not a string (`"007"` and `"7"` would
    /// be two spellings of one player), not a fraction or an exponent (`7.0`, `7e0`).
    fn integer(&self, name: &str) -> Result<i64, InputError> {
        let value = self.get(name)?;
        let bad = || {
            InputError(format!(
                "error parsing {name} {}: expected a whole JSON number such as 7",
                crate::id::shorten(&value.to_string())
            ))
        };
        match value {
            Value::Number(n) => n.as_i64().ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// Amounts are JSON strings holding a plain decimal ([`parse_amount`]). A JSON number
    /// is refused, even a whole one: a number may have lost precision before it got here
    /// (a float in the sender), and one rule is easier to keep than two.
    fn decimal(&self, name: &str) -> Result<Decimal, InputError> {
        let text = match self.get(name)? {
            Value::String(s) => s,
            other => {
                return Err(InputError(format!(
                    "error parsing {name} {}: write amounts as decimal strings such as \"10.50\"",
                    crate::id::shorten(&other.to_string())
                )))
            }
        };
        parse_amount(text).ok_or_else(|| {
            InputError(format!(
                "error parsing {name} '{}': expected a plain decimal such as \"10.50\" (no exponent, plus sign, leading zeros, spaces or separators)",
                crate::id::shorten(text)
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

    /// A place_bet's optional `fair` block: `{"seed_hash","client_seed","nonce","terms"}`,
    /// and nothing else.
    fn fair(&self) -> Result<Option<FairBet>, InputError> {
        const FIELDS: [&str; 4] = ["seed_hash", "client_seed", "nonce", "terms"];
        let expected = "expected {\"seed_hash\",\"client_seed\",\"nonce\",\"terms\"}";
        match self.0.get("fair") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(fields)) if !fields.keys().all(|k| FIELDS.contains(&k.as_str())) => {
                let unknown = fields
                    .keys()
                    .find(|k| !FIELDS.contains(&k.as_str()))
                    .map_or("", String::as_str);
                Err(InputError(format!(
                    "error parsing fair: unknown field '{}': {expected}",
                    crate::id::shorten(unknown)
                )))
            }
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|e| InputError(format!("error parsing fair: {e}: {expected}"))),
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

/// Parses JSON as `serde_json` does, except that an object naming a key twice, at any
/// depth, is an error: `serde_json::Value` keeps the last, so `"player":7,"player":8`
/// would credit player 8 while a reader of the line sees 7.
fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Strict(value) = Strict::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A JSON value whose objects have each key once.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(Strict(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key '{}' is given twice",
                    crate::id::shorten(&key)
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
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
            r#"{"type":"adjust","idempotency_key":"k","player":7,"amount":"-5","currency":"XTR","reason":"fix"}"#,
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

    /// Regression: a key given twice was read as the last one (`"player":7,"player":8`
    /// credited player 8), a player written as a string was read as a number (`"007"` was
    /// player 7), and a whole JSON number was taken as an amount though amounts are
    /// decimal strings. One spelling each: everything else is bad input.
    #[test]
    fn duplicate_keys_and_second_spellings_are_bad_input() {
        let deposit = |fields: &str| {
            format!(
                r#"{{"type":"deposit","idempotency_key":"k",{fields},"currency":"XTR","method":"telegram_stars","external_ref":"c"}}"#
            )
        };
        let fair = |block: &str| {
            format!(
                r#"{{"type":"place_bet","idempotency_key":"k","player":7,"bet_id":"b","game":"dice","stake":"10","currency":"XTR","fair":{block}}}"#
            )
        };
        let hash = "ab".repeat(32);
        let cases = [
            (deposit(r#""player":7,"player":8,"amount":"5""#), "the key 'player' is given twice"),
            (deposit(r#""player":7,"amount":"5","amount":"500""#), "the key 'amount' is given twice"),
            (
                fair(&format!(r#"{{"seed_hash":"{hash}","client_seed":"c","nonce":1,"nonce":2,"terms":"dice:50:200"}}"#)),
                "the key 'nonce' is given twice",
            ),
            (
                fair(&format!(r#"{{"seed_hash":"{hash}","client_seed":"c","nonce":1,"terms":"dice:50:200","edge":0}}"#)),
                "unknown field 'edge'",
            ),
            (deposit(r#""player":"007","amount":"5""#), "expected a whole JSON number"),
            (deposit(r#""player":"7","amount":"5""#), "expected a whole JSON number"),
            (deposit(r#""player":7.0,"amount":"5""#), "expected a whole JSON number"),
            (deposit(r#""player":7e0,"amount":"5""#), "expected a whole JSON number"),
            (deposit(r#""player":7,"amount":100"#), "write amounts as decimal strings"),
            (deposit(r#""player":7,"amount":"007""#), "error parsing amount '007'"),
            (deposit(r#""player":7,"amount":"1e3""#), "error parsing amount '1e3'"),
            (deposit(r#""player":7,"amount":"+5""#), "error parsing amount '+5'"),
            (
                r#"{"type":"settle_bet","idempotency_key":"k","player":7,"bet_id":"b","payout":"0","roll":"5"}"#.to_owned(),
                "error parsing roll",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_command(&text).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{text}: got '{err}', expected '{expected}'"
            );
        }
        // The same key in two different objects is two keys.
        let nested = fair(&format!(
            r#"{{"seed_hash":"{hash}","client_seed":"c","nonce":1,"terms":"dice:50:200"}}"#
        ));
        assert!(parse_command(&nested).is_ok(), "{nested}");
    }
}
