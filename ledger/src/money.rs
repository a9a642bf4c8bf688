//! Money: currencies with a fixed scale, and the checks every amount passes before it
//! reaches the ledger. Amounts are `rust_decimal::Decimal`; there are no floats here.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::id::IdError;
use crate::rejection::{AmountProblem, Rejection};

/// An ISO-4217-like currency code: 3 to 8 upper-case letters (`XTR` is Telegram Stars).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn new(code: impl Into<String>) -> Result<Self, IdError> {
        let code = code.into();
        if (3..=8).contains(&code.len()) && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(IdError {
                what: "currency",
                value: crate::id::shorten(&code),
                expected: "3-8 upper-case letters, such as XTR or USD",
            })
        }
    }

    pub fn xtr() -> Self {
        Self("XTR".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = IdError;
    fn try_from(code: String) -> Result<Self, IdError> {
        Self::new(code)
    }
}

impl From<CurrencyCode> for String {
    fn from(code: CurrencyCode) -> String {
        code.0
    }
}

impl FromStr for CurrencyCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one way to write an amount, at every edge (`ledger submit`'s JSON, the bot's
/// `/deposit 100` and stakes): a plain decimal. An optional minus sign, a whole part that
/// is `0` or starts with another digit, then optionally a point and at least one digit.
/// No exponent (`1e3`), no plus sign, no leading zeros (`007`), no leading or trailing
/// point, no spaces, separators or underscores, and nothing that does not fit a
/// `Decimal`: each of those either means something else somewhere or is a typo, and
/// money is not guessed at. Whether the amount suits its use (sign, scale, maximum) is
/// the ledger's business rule, checked by [`CurrencySpec`].
pub fn parse_amount(text: &str) -> Option<Decimal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let plain = all_digits(whole)
        && (whole == "0" || !whole.starts_with('0'))
        && fraction.is_none_or(all_digits);
    if !plain {
        return None;
    }
    Decimal::from_str_exact(text).ok()
}

/// What the ledger accepts in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencySpec {
    pub code: CurrencyCode,
    /// Decimal places allowed (XTR: 0, USD: 2).
    pub scale: u32,
    /// The largest amount one command may move.
    pub amount_max: Decimal,
}

impl CurrencySpec {
    /// An amount counted in the currency's smallest unit, as Telegram counts
    /// `total_amount` (250 cents: 2.5 USD); `None` when the scale has no power of ten that
    /// fits a `u64`.
    pub fn from_minor_units(&self, minor: u64) -> Option<Decimal> {
        Some(Decimal::from(minor) / Decimal::from(10u64.checked_pow(self.scale)?))
    }

    /// A strictly positive amount (deposits, stakes), returned at the currency's scale.
    pub fn positive(&self, value: Decimal) -> Result<Decimal, Rejection> {
        if value <= Decimal::ZERO {
            return Err(self.invalid(value, AmountProblem::NotPositive));
        }
        self.checked(value)
    }

    /// A positive or zero amount (a payout: zero means the bet was lost).
    pub fn non_negative(&self, value: Decimal) -> Result<Decimal, Rejection> {
        if value < Decimal::ZERO {
            return Err(self.invalid(value, AmountProblem::Negative));
        }
        self.checked(value)
    }

    /// A signed, non-zero amount (a manual adjustment).
    pub fn non_zero(&self, value: Decimal) -> Result<Decimal, Rejection> {
        if value.is_zero() {
            return Err(self.invalid(value, AmountProblem::Zero));
        }
        self.checked(value)
    }

    fn checked(&self, value: Decimal) -> Result<Decimal, Rejection> {
        if value.normalize().scale() > self.scale {
            return Err(self.invalid(value, AmountProblem::TooManyDecimals { scale: self.scale }));
        }
        if value.abs() > self.amount_max {
            return Err(self.invalid(
                value,
                AmountProblem::AboveMaximum {
                    amount_max: self.amount_max,
                },
            ));
        }
        let mut value = value.normalize();
        value.rescale(self.scale);
        Ok(value)
    }

    fn invalid(&self, value: Decimal, problem: AmountProblem) -> Rejection {
        Rejection::InvalidAmount {
            value,
            currency: self.code.clone(),
            problem,
        }
    }
}

/// The currencies the ledger knows, with their scales. Defaults: XTR (0 decimals),
/// USD and EUR (2 decimals); more can be added with [`Currencies::with`].
#[derive(Debug, Clone)]
pub struct Currencies {
    specs: BTreeMap<CurrencyCode, CurrencySpec>,
}

impl Default for Currencies {
    fn default() -> Self {
        let fiat_max = Decimal::new(1_000_000_000, 2); // 10,000,000.00
        Self {
            specs: BTreeMap::new(),
        }
        .with(CurrencySpec {
            code: CurrencyCode::xtr(),
            scale: 0,
            amount_max: Decimal::from(100_000_000),
        })
        .with(CurrencySpec {
            code: CurrencyCode("USD".to_owned()),
            scale: 2,
            amount_max: fiat_max,
        })
        .with(CurrencySpec {
            code: CurrencyCode("EUR".to_owned()),
            scale: 2,
            amount_max: fiat_max,
        })
    }
}

impl Currencies {
    /// Adds or replaces a currency.
    pub fn with(mut self, spec: CurrencySpec) -> Self {
        self.specs.insert(spec.code.clone(), spec);
        self
    }

    /// The codes of the currencies held, in order.
    pub fn codes(&self) -> impl Iterator<Item = &CurrencyCode> {
        self.specs.keys()
    }

    pub fn get(&self, code: &CurrencyCode) -> Result<&CurrencySpec, Rejection> {
        self.specs
            .get(code)
            .ok_or_else(|| Rejection::UnknownCurrency {
                currency: code.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn spec(code: &str) -> CurrencySpec {
        Currencies::default()
            .get(&code.parse().unwrap())
            .unwrap()
            .clone()
    }

    #[test]
    fn stars_have_no_decimal_places() {
        let xtr = spec("XTR");
        let err = xtr.positive(d("12.5")).unwrap_err();
        assert_eq!(err.code(), "invalid_amount");
        assert_eq!(
            err.to_string(),
            "invalid amount '12.5' for XTR: XTR allows 0 decimal places"
        );
        assert_eq!(xtr.positive(d("12.000")).unwrap().to_string(), "12");
    }

    #[test]
    fn fiat_amounts_are_kept_at_two_decimals() {
        let usd = spec("USD");
        assert_eq!(usd.positive(d("5")).unwrap().to_string(), "5.00");
        assert_eq!(usd.positive(d("5.1")).unwrap().to_string(), "5.10");
        assert!(usd.positive(d("5.001")).is_err());
    }

    #[test]
    fn amounts_are_checked_for_sign_and_maximum() {
        let xtr = spec("XTR");
        assert!(
            xtr.positive(d("0"))
                .unwrap_err()
                .to_string()
                .contains("'0'"),
            "the message names the value"
        );
        assert!(xtr.positive(d("-3")).is_err());
        assert!(xtr.non_negative(d("0")).is_ok());
        assert!(xtr.non_negative(d("-1")).is_err());
        assert!(xtr.non_zero(d("-1")).is_ok());
        assert!(xtr.non_zero(d("0")).is_err());
        let err = xtr.positive(d("100000001")).unwrap_err();
        assert!(err.to_string().contains("100000001"), "{err}");
        assert!(xtr.non_zero(d("-100000001")).is_err());
    }

    /// Regression: `ledger submit` and the bot each had a parser of their own, and the
    /// bot's (`Decimal::from_str`) took `1e3`, `+5`, `.5` and `1_000`, which the other
    /// refused. This is the one rule both use now.
    #[test]
    fn amounts_have_one_spelling_at_every_edge() {
        for good in [
            "0",
            "10",
            "-5",
            "12.50",
            "0.001",
            "100000000",
            "10.0",
            "-0.5",
        ] {
            assert_eq!(parse_amount(good), Some(d(good)), "{good}");
        }
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "-.5",
            "1e3",
            "1E3",
            "1e-2",
            "+1",
            "1_000",
            "1,000",
            "1 000",
            " 1",
            "1 ",
            "007",
            "00.5",
            "-01",
            "0x10",
            "1.2.3",
            "NaN",
            "inf",
            "--1",
            "١٢",
            "1\n",
            "99999999999999999999999999999999",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn currency_codes_are_upper_case_letters() {
        assert!(CurrencyCode::new("xtr").is_err());
        assert!(CurrencyCode::new("X").is_err());
        assert!(CurrencyCode::new("US1").is_err());
        let unknown = Currencies::default()
            .get(&"GBP".parse().unwrap())
            .unwrap_err();
        assert_eq!(unknown.code(), "unknown_currency");
    }
}
