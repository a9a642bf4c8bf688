//! Finance reports, read from the projections. Amounts are decimal strings, as stored.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use crate::projector::{amount, ProjectionError, Projector};
use crate::time::{day, rfc3339};

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

/// `{"day":"2026-11-20","currency":"XTR","deposits":"150","refunds":"0","stakes":"50",
/// "payouts":"45","ggr":"5","bets":2,"active_players":2}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyRow {
    pub day: String,
    pub currency: String,
    pub deposits: String,
    pub refunds: String,
    pub stakes: String,
    pub payouts: String,
    pub ggr: String,
    pub bets: i64,
    pub active_players: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepositRow {
    pub method: String,
    pub external_ref: String,
    pub player: i64,
    pub amount: String,
    pub currency: String,
    pub status: String,
    pub credited_at: String,
    pub refunded_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BetRow {
    pub player: i64,
    pub bet_id: String,
    pub game: String,
    pub currency: String,
    pub stake: String,
    pub payout: Option<String>,
    pub status: String,
    pub placed_at: String,
    pub closed_at: Option<String>,
}

/// An inclusive range of UTC days, `YYYY-MM-DD`; either end may be open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Days {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Days {
    fn contains(&self, day: &str) -> bool {
        self.from.as_deref().is_none_or(|from| day >= from)
            && self.to.as_deref().is_none_or(|to| day <= to)
    }
}

/// Checks a `--from`/`--to` date.
pub fn parse_day(text: &str) -> Result<String, String> {
    let digits = |range: std::ops::Range<usize>| {
        text.get(range)
            .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
    };
    let shaped = text.len() == 10
        && &text[4..5] == "-"
        && &text[7..8] == "-"
        && digits(0..4)
        && digits(5..7)
        && digits(8..10);
    let month = text.get(5..7).and_then(|m| m.parse::<u8>().ok());
    let day = text.get(8..10).and_then(|d| d.parse::<u8>().ok());
    if shaped
        && month.is_some_and(|m| (1..=12).contains(&m))
        && day.is_some_and(|d| (1..=31).contains(&d))
    {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "invalid date '{text}': expected YYYY-MM-DD, such as 2026-11-20"
        ))
    }
}

impl Projector {
    /// Daily finance per currency, by day then currency.
    pub async fn daily(&self, days: &Days) -> Result<Vec<DailyRow>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT day, currency, deposits, refunds, stakes, payouts, ggr, bets, active_players \
             FROM proj_finance_daily ORDER BY day, currency",
        )
        .fetch_all(self.pool())
        .await?;
        let mut daily = Vec::new();
        for row in rows {
            let day: String = row.try_get("day")?;
            if days.contains(&day) {
                daily.push(DailyRow {
                    day,
                    currency: row.try_get("currency")?,
                    deposits: row.try_get("deposits")?,
                    refunds: row.try_get("refunds")?,
                    stakes: row.try_get("stakes")?,
                    payouts: row.try_get("payouts")?,
                    ggr: row.try_get("ggr")?,
                    bets: row.try_get("bets")?,
                    active_players: row.try_get("active_players")?,
                });
            }
        }
        Ok(daily)
    }

    /// Deposits credited within `days`, in the order they were credited.
    pub async fn deposits(&self, days: &Days) -> Result<Vec<DepositRow>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT method, external_ref, player, amount, currency, status, credited_at, \
             refunded_at FROM proj_deposits ORDER BY credited_position",
        )
        .fetch_all(self.pool())
        .await?;
        let mut deposits = Vec::new();
        for row in rows {
            let credited_at: i64 = row.try_get("credited_at")?;
            if days.contains(&day(credited_at)) {
                deposits.push(DepositRow {
                    method: row.try_get("method")?,
                    external_ref: row.try_get("external_ref")?,
                    player: row.try_get("player")?,
                    amount: row.try_get("amount")?,
                    currency: row.try_get("currency")?,
                    status: row.try_get("status")?,
                    credited_at: rfc3339(credited_at),
                    refunded_at: row.try_get::<Option<i64>, _>("refunded_at")?.map(rfc3339),
                });
            }
        }
        Ok(deposits)
    }

    /// Bets placed within `days` (of one player, if given), in the order they were placed.
    pub async fn bets(
        &self,
        days: &Days,
        player: Option<i64>,
    ) -> Result<Vec<BetRow>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT player, bet_id, game, currency, stake, payout, status, placed_at, closed_at \
             FROM proj_bets ORDER BY placed_position",
        )
        .fetch_all(self.pool())
        .await?;
        let mut bets = Vec::new();
        for row in rows {
            let placed_at: i64 = row.try_get("placed_at")?;
            let owner: i64 = row.try_get("player")?;
            if days.contains(&day(placed_at)) && player.is_none_or(|p| p == owner) {
                bets.push(BetRow {
                    player: owner,
                    bet_id: row.try_get("bet_id")?,
                    game: row.try_get("game")?,
                    currency: row.try_get("currency")?,
                    stake: row.try_get("stake")?,
                    payout: row.try_get("payout")?,
                    status: row.try_get("status")?,
                    placed_at: rfc3339(placed_at),
                    closed_at: row.try_get::<Option<i64>, _>("closed_at")?.map(rfc3339),
                });
            }
        }
        Ok(bets)
    }
}
