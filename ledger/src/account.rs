//! Accounts and postings: the double-entry half of every money event.
//!
//! Sign convention: a posting adds its amount to the account's balance. A deposit of 100
//! posts `external:telegram_stars -100` and `player:7:cash +100`; the postings of one event
//! always sum to zero per currency.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::id::{IdError, PaymentMethod, PlayerId};
use crate::money::CurrencyCode;

/// A ledger account. Only player cash is ever checked for funds: house and external
/// balances are derived, never locked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Account {
    /// What a player can spend.
    PlayerCash(PlayerId),
    /// Stakes of open bets, between placing and settling.
    BetsInPlay,
    /// The house's gaming result: stakes lost minus payouts won.
    HouseGaming,
    /// The other side of staff corrections.
    HouseAdjustments,
    /// Subscription revenue (VIP): paid to the house, never player cash.
    HouseSubscriptions,
    /// Staff refunds asked of the payment network and not yet confirmed or refused:
    /// the player's money is held here, neither theirs to spend nor gone.
    RefundsPending,
    /// Money outside the ledger, one account per payment method.
    External(PaymentMethod),
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PlayerCash(player) => write!(f, "player:{player}:cash"),
            Self::BetsInPlay => f.write_str("house:bets_in_play"),
            Self::HouseGaming => f.write_str("house:gaming"),
            Self::HouseAdjustments => f.write_str("house:adjustments"),
            Self::HouseSubscriptions => f.write_str("house:subscriptions"),
            Self::RefundsPending => f.write_str("house:refunds_pending"),
            Self::External(method) => write!(f, "external:{method}"),
        }
    }
}

impl FromStr for Account {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || {
            IdError {
            what: "account",
            value: s.to_owned(),
            expected: "player:ID:cash, house:bets_in_play, house:gaming, house:adjustments, house:subscriptions, house:refunds_pending or external:METHOD",
        }
        };
        match s {
            "house:bets_in_play" => return Ok(Self::BetsInPlay),
            "house:gaming" => return Ok(Self::HouseGaming),
            "house:adjustments" => return Ok(Self::HouseAdjustments),
            "house:subscriptions" => return Ok(Self::HouseSubscriptions),
            "house:refunds_pending" => return Ok(Self::RefundsPending),
            _ => {}
        }
        if let Some(method) = s.strip_prefix("external:") {
            return PaymentMethod::new(method)
                .map(Self::External)
                .map_err(|_| bad());
        }
        let id = s
            .strip_prefix("player:")
            .and_then(|rest| rest.strip_suffix(":cash"))
            .ok_or_else(bad)?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        PlayerId::new(id).map(Self::PlayerCash).map_err(|_| bad())
    }
}

impl TryFrom<String> for Account {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Account> for String {
    fn from(account: Account) -> String {
        account.to_string()
    }
}

/// One leg of a money event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: Account,
    pub currency: CurrencyCode,
    pub amount: Decimal,
}

/// Sums postings per currency; a balanced set sums to zero in every currency. `None` when
/// a sum overflows, which only postings no decision made can do (a tampered log).
pub fn totals(postings: &[Posting]) -> Option<BTreeMap<CurrencyCode, Decimal>> {
    let mut totals = BTreeMap::new();
    for posting in postings {
        let total = totals
            .entry(posting.currency.clone())
            .or_insert(Decimal::ZERO);
        *total = Decimal::checked_add(*total, posting.amount)?;
    }
    Some(totals)
}

/// Whether every currency's postings sum to zero (postings whose sum overflows do not).
pub fn balanced(postings: &[Posting]) -> bool {
    totals(postings).is_some_and(|totals| totals.values().all(Decimal::is_zero))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_through_their_names() {
        let accounts = [
            Account::PlayerCash(PlayerId::new(42).unwrap()),
            Account::BetsInPlay,
            Account::HouseGaming,
            Account::HouseAdjustments,
            Account::HouseSubscriptions,
            Account::RefundsPending,
            Account::External(PaymentMethod::telegram_stars()),
        ];
        for account in accounts {
            assert_eq!(account.to_string().parse::<Account>().unwrap(), account);
            // The name is what the log stores (serde goes through `String`).
            let stored = serde_json::to_string(&account).unwrap();
            assert_eq!(stored, format!("\"{account}\""));
            assert_eq!(serde_json::from_str::<Account>(&stored).unwrap(), account);
        }
        assert_eq!(String::from(Account::BetsInPlay), "house:bets_in_play");
        assert!("player:x:cash".parse::<Account>().is_err());
        assert!("house:vault".parse::<Account>().is_err());
    }
}
