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
        liabilities_of(&self.balances().await?)
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

/// A conversation session and its play session's counts (XTR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    pub stream: String,
    pub chat: i64,
    pub player: i64,
    /// The `/play` flow's step.
    pub state: String,
    /// `active` or `expired`.
    pub status: String,
    pub started_at: String,
    pub last_activity_at: String,
    pub ended_at: Option<String>,
    pub play_started_at: Option<String>,
    pub bets: i64,
    pub wagered: String,
    pub won: String,
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
    /// The days from `from` to `to`, both included (days checked by [`parse_day`]); an
    /// error naming both when `from` is after `to`, a range no day is in.
    pub fn new(from: Option<String>, to: Option<String>) -> Result<Self, String> {
        if let (Some(first), Some(last)) = (&from, &to) {
            if first > last {
                return Err(format!(
                    "--from {first} is after --to {last}: no day is in that range"
                ));
            }
        }
        Ok(Self { from, to })
    }

    /// Whether either end is given.
    pub fn is_bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    fn contains(&self, day: &str) -> bool {
        self.from.as_deref().is_none_or(|from| day >= from)
            && self.to.as_deref().is_none_or(|to| day <= to)
    }
}

/// Checks a `--from`/`--to` date: the date part of an RFC 3339 time.
pub fn parse_day(text: &str) -> Result<String, String> {
    if text.len() == 10 && crate::time::parse_rfc3339(&format!("{text}T00:00:00Z")).is_ok() {
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

    /// Sessions started within `days`, in the order they started.
    pub async fn sessions(&self, days: &Days) -> Result<Vec<SessionRow>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT stream, chat_id, player, state, status, started_at, last_activity_at, ended_at, \
             play_started_at, bets, wagered, won FROM proj_sessions ORDER BY started_position",
        )
        .fetch_all(self.pool())
        .await?;
        let mut sessions = Vec::new();
        for row in rows {
            let started_at: i64 = row.try_get("started_at")?;
            if days.contains(&day(started_at)) {
                sessions.push(SessionRow {
                    stream: row.try_get("stream")?,
                    chat: row.try_get("chat_id")?,
                    player: row.try_get("player")?,
                    state: row.try_get("state")?,
                    status: row.try_get("status")?,
                    started_at: rfc3339(started_at),
                    last_activity_at: rfc3339(row.try_get("last_activity_at")?),
                    ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(rfc3339),
                    play_started_at: row
                        .try_get::<Option<i64>, _>("play_started_at")?
                        .map(rfc3339),
                    bets: row.try_get("bets")?,
                    wagered: row.try_get("wagered")?,
                    won: row.try_get("won")?,
                });
            }
        }
        Ok(sessions)
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

/// The sum of player cash per currency in `balances`; `players` counts non-zero balances.
pub fn liabilities_of(balances: &[BalanceRow]) -> Result<Vec<LiabilityRow>, ProjectionError> {
    let mut totals: BTreeMap<String, (Decimal, u64)> = BTreeMap::new();
    for row in balances {
        let balance = amount(row.balance.clone())?;
        let total = totals.entry(row.currency.clone()).or_default();
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

/// A point in the log: a position, or a time (microseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Position(u64),
    Time(i64),
}

impl std::str::FromStr for At {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(At::Position)
                .map_err(|_| format!("invalid position '{text}'"));
        }
        crate::time::parse_rfc3339(text)
            .map(At::Time)
            .map_err(|e| format!("{e}, or a log position such as 1200"))
    }
}

impl At {
    /// Whether this point exists yet: a position at most the log's `head`, a time at most
    /// `now` (microseconds since the epoch). A later one would silently answer with the
    /// present, so the error names it and what is there instead.
    pub fn within(self, head: u64, now: i64) -> Result<(), String> {
        match self {
            At::Position(position) if position > head => Err(format!(
                "--at {position} is beyond the head of the log, at position {head}"
            )),
            At::Time(micros) if micros > now => Err(format!(
                "--at {} is in the future (it is now {})",
                crate::time::rfc3339(micros),
                crate::time::rfc3339(now)
            )),
            _ => Ok(()),
        }
    }

    fn includes(self, event: &store::StoredEvent) -> bool {
        match self {
            At::Position(position) => event.position <= position,
            At::Time(micros) => event.recorded_at <= micros,
        }
    }
}

/// Every player's balances as of `at`, replayed from the log (through the auditor's
/// checks: a log that fails them is refused rather than reported on).
pub async fn balances_at<S: store::EventStore>(
    store: &S,
    at: At,
) -> Result<Vec<BalanceRow>, ProjectionError> {
    const BATCH_SIZE: u32 = 10_000;
    let mut verifier = crate::audit::Verifier::new(None);
    let mut position = 0;
    loop {
        let batch = store.read_all(position, BATCH_SIZE).await?;
        let Some(last) = batch.last() else { break };
        position = last.position;
        // Commit times never decrease along the log, so the first event past `at` ends it.
        let included = batch.iter().take_while(|e| at.includes(e)).count();
        verifier
            .feed(&batch[..included])
            .map_err(|finding| ProjectionError::Unreadable {
                position: finding.position,
                problem: finding.problem,
            })?;
        if included < batch.len() {
            break;
        }
    }
    Ok(verifier
        .balances()
        .into_iter()
        .map(|((player, currency), (cash, in_play))| BalanceRow {
            player,
            currency,
            balance: cash.to_string(),
            in_play: in_play.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_multibyte_character_in_a_day_is_refused_not_a_panic() {
        for day in ["2020é1-01", "2026-1é-1", "2026-11-20"] {
            let parsed = super::parse_day(day);
            assert_eq!(parsed.is_ok(), day == "2026-11-20", "{day}");
        }
    }
}

/// A VIP subscription charge in the log (method `telegram_stars` or another), and whether
/// it was refunded. Subscription charges are house revenue, not deposits, so no read model
/// holds them; reconciliation needs them all the same, since Telegram lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChargeRow {
    pub method: String,
    pub external_ref: String,
    pub player: i64,
    pub amount: Decimal,
    pub currency: String,
    pub refunded: bool,
    /// RFC 3339, UTC.
    pub paid_at: String,
}

impl Projector {
    /// Every subscription charge in the log, in log order, read from the log itself.
    pub async fn subscription_charges(
        &self,
    ) -> Result<Vec<SubscriptionChargeRow>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT position, event_type, schema_version, payload FROM ledger_events \
             WHERE event_type IN ('subscription_paid', 'subscription_refunded') ORDER BY position",
        )
        .fetch_all(self.pool())
        .await?;
        let mut charges: Vec<SubscriptionChargeRow> = Vec::new();
        for row in rows {
            let position: i64 = row.try_get("position")?;
            let position = u64::try_from(position).unwrap_or_default();
            let unreadable = |problem: String| ProjectionError::Unreadable { position, problem };
            let event_type: String = row.try_get("event_type")?;
            let version: i64 = row.try_get("schema_version")?;
            let payload: Vec<u8> = row.try_get("payload")?;
            let version = u16::try_from(version)
                .map_err(|_| unreadable(format!("schema version {version} out of range")))?;
            let event = store::codec::decode(&event_type, version, &payload)
                .map_err(|e| unreadable(e.to_string()))?;
            match event {
                ledger::Event::SubscriptionPaid(e) => charges.push(SubscriptionChargeRow {
                    method: e.method.to_string(),
                    external_ref: e.external_ref.to_string(),
                    player: e.player.get(),
                    amount: e.amount,
                    currency: e.currency.to_string(),
                    refunded: false,
                    paid_at: rfc3339(e.at.as_micros()),
                }),
                ledger::Event::SubscriptionRefunded(e) => {
                    let charge = e.external_ref.as_str();
                    if let Some(paid) = charges.iter_mut().find(|c| c.external_ref == charge) {
                        paid.refunded = true;
                    }
                }
                _ => {}
            }
        }
        Ok(charges)
    }
}
