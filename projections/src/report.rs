//! Finance reports, read from the projections. Amounts are decimal strings, as stored.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use crate::projector::{amount, ProjectionError, Projector};

/// `{"player":7,"currency":"XTR","balance":"60","in_play":"10"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceRow {
    pub player: i64,
    pub currency: String,
    pub balance: String,
    pub in_play: String,
}

/// What the operator owes its players: `{"currency":"XTR","total":"135","players":2}`.
/// Stakes in play are not cash and are not included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiabilityRow {
    pub currency: String,
    pub total: String,
    /// Players with a balance other than zero in this currency.
    pub players: u64,
}

impl Projector {
    /// Every player's balance per currency, by player then currency.
    pub async fn balances(&self) -> Result<Vec<BalanceRow>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT player, currency, balance, in_play FROM proj_balances ORDER BY player, currency",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BalanceRow {
                    player: row.try_get("player")?,
                    currency: row.try_get("currency")?,
                    balance: row.try_get("balance")?,
                    in_play: row.try_get("in_play")?,
                })
            })
            .collect()
    }

    /// House, clearing and external accounts: `(account, currency, balance)`.
    pub async fn house_accounts(&self) -> Result<Vec<(String, String, String)>, ProjectionError> {
        Ok(sqlx::query_as(
            "SELECT account, currency, balance FROM proj_house ORDER BY account, currency",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The sum of player cash per currency.
    pub async fn liabilities(&self) -> Result<Vec<LiabilityRow>, ProjectionError> {
        let mut totals: BTreeMap<String, (Decimal, u64)> = BTreeMap::new();
        for row in self.balances().await? {
            let balance = amount(row.balance)?;
            let total = totals.entry(row.currency).or_default();
            total.0 += balance;
            if !balance.is_zero() {
                total.1 += 1;
            }
        }
        Ok(totals
            .into_iter()
            .map(|(currency, (total, players))| LiabilityRow {
                currency,
                total: total.to_string(),
                players,
            })
            .collect())
    }
}
