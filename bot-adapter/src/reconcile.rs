//! Reconciling Stars payments: the transactions Telegram lists (`getStarTransactions`)
//! against the Stars deposits the ledger credited. [`fetch`] pages through Telegram;
//! [`reconcile`] compares, without IO.
//!
//! A payment is an incoming transaction from a user (`source` is a user, an invoice
//! payment) whose `id` is the `telegram_payment_charge_id` the ledger keys the deposit
//! by; its refund is an outgoing transaction to the user with the same `id`.

use std::collections::{HashMap, HashSet};

use frankenstein::methods::GetStarTransactionsParams;
use frankenstein::payments::{StarTransaction, TransactionPartner, TransactionType};
use frankenstein::AsyncTelegramApi;
use ledger::PaymentMethod;
use projections::projector::{ProjectionError, Projector};
use projections::report::Days;
use projections::time::rfc3339;
use rust_decimal::Decimal;
use serde::Serialize;

use super::db::OutboxRow;
use super::dispatcher::{with_retries, Api, CallError, RefundAnswer};

/// Transactions asked for per page: Telegram's maximum.
pub const PAGE_SIZE: u32 = 100;
/// Attempts at one page (429s and 5xx included) before giving up.
const ATTEMPTS_MAX: u32 = 8;

/// Every Stars transaction of the bot, oldest first: pages of [`PAGE_SIZE`] until one
/// comes back short. A 429 is waited out as told, a 5xx or network error retried with
/// backoff. `progress(pages, transactions)` is called after each page.
pub async fn fetch(
    api: &Api,
    mut progress: impl FnMut(u32, usize),
) -> Result<Vec<StarTransaction>, CallError> {
    let mut all = Vec::new();
    let mut offset: u32 = 0;
    let mut pages = 0;
    loop {
        let params = GetStarTransactionsParams::builder()
            .offset(offset)
            .limit(PAGE_SIZE)
            .build();
        let page = with_retries("getStarTransactions", ATTEMPTS_MAX, || {
            api.get_star_transactions(&params)
        })
        .await?;
        let got = u32::try_from(page.transactions.len()).unwrap_or(u32::MAX);
        all.extend(page.transactions);
        pages += 1;
        progress(pages, all.len());
        if got < PAGE_SIZE {
            return Ok(all);
        }
        offset = offset.saturating_add(got);
    }
}

/// The ledger's side of a reconciliation: every Stars charge it holds, deposits (from
/// the `deposits` read model, which the caller brings up to the head first) and VIP
/// subscription charges (from the log).
pub async fn ledger_charges(projector: &Projector) -> Result<Vec<LedgerDeposit>, ProjectionError> {
    let stars = PaymentMethod::telegram_stars();
    let mut charges = projector
        .deposits(&Days::default())
        .await?
        .into_iter()
        .filter(|d| d.method == stars.as_str())
        .map(|d| {
            let amount = d
                .amount
                .parse::<Decimal>()
                .map_err(|_| ProjectionError::NotAnAmount {
                    value: d.amount.clone(),
                })?;
            Ok(LedgerDeposit {
                charge_id: d.external_ref,
                player: d.player,
                amount,
                currency: d.currency,
                refunded: d.status == "refunded",
                refund_pending: d.status == "refund_pending",
                credited_at: d.credited_at,
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    charges.extend(
        projector
            .subscription_charges()
            .await?
            .into_iter()
            .filter(|c| c.method == stars.as_str())
            .map(|c| LedgerDeposit {
                charge_id: c.external_ref,
                player: c.player,
                amount: c.amount,
                currency: c.currency,
                refunded: c.refunded,
                refund_pending: false,
                credited_at: c.paid_at,
            }),
    );
    Ok(charges)
}

/// A Stars deposit as the ledger has it (method `telegram_stars`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerDeposit {
    /// The `telegram_payment_charge_id` (the deposit's external reference).
    pub charge_id: String,
    pub player: i64,
    pub amount: Decimal,
    pub currency: String,
    pub refunded: bool,
    /// A staff refund asked of Telegram and not answered yet (the money is held).
    pub refund_pending: bool,
    /// RFC 3339, UTC.
    pub credited_at: String,
}

/// A staff refund the ledger holds pending, and what Telegram's side says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRefund {
    pub player: i64,
    pub charge_id: String,
    /// The request it answers (`None`: whichever is pending).
    pub attempt: Option<u32>,
    pub answer: RefundAnswer,
}

/// A staff refund's `refundStarPayment` that became a dead letter: its charge, its
/// request number and Telegram's last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadRefund {
    pub charge_id: String,
    pub attempt: u32,
    pub error: String,
}

/// The dead letters among staff refund calls (see `BotDb::dead_refund_calls`).
pub fn dead_refunds(calls: &[OutboxRow]) -> Vec<DeadRefund> {
    calls
        .iter()
        .filter_map(|call| {
            let (charge, attempt) = super::staff::refund_attempt(&call.dedupe_key)?;
            Some(DeadRefund {
                charge_id: charge.to_owned(),
                attempt,
                error: call
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "dead letter".to_owned()),
            })
        })
        .collect()
}

/// How to settle the staff refunds the ledger holds pending: made when Telegram lists the
/// charge's refund, refused when the request's call is a dead letter (the latest request
/// of the charge), left pending otherwise (the call is still on its way).
pub fn pending_refunds(
    transactions: &[StarTransaction],
    ledger: &[LedgerDeposit],
    dead: &[DeadRefund],
) -> Vec<PendingRefund> {
    let refunded: HashSet<&str> = transactions
        .iter()
        .filter(|t| matches!(t.receiver, Some(TransactionPartner::User(_))))
        .map(|t| t.id.as_str())
        .collect();
    ledger
        .iter()
        .filter(|d| d.refund_pending)
        .filter_map(|d| {
            let (attempt, answer) = if refunded.contains(d.charge_id.as_str()) {
                (None, RefundAnswer::Made)
            } else {
                let call = dead
                    .iter()
                    .filter(|c| c.charge_id == d.charge_id)
                    .max_by_key(|c| c.attempt)?;
                (
                    Some(call.attempt),
                    RefundAnswer::Refused(call.error.clone()),
                )
            };
            Some(PendingRefund {
                player: d.player,
                charge_id: d.charge_id.clone(),
                attempt,
                answer,
            })
        })
        .collect()
}

/// Something Telegram and the ledger disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Discrepancy {
    /// Telegram took a payment the ledger never credited.
    MissingFromLedger {
        charge_id: String,
        user: u64,
        amount: String,
        date: String,
    },
    /// The ledger credited a Stars payment Telegram does not list.
    UnknownToTelegram {
        charge_id: String,
        player: i64,
        amount: String,
        currency: String,
        credited_at: String,
    },
    /// Both have the payment, for different amounts (or the ledger's is not in Stars).
    AmountMismatch {
        charge_id: String,
        telegram: String,
        ledger: String,
        ledger_currency: String,
    },
    /// Both have the payment, from different players.
    PlayerMismatch {
        charge_id: String,
        telegram_user: u64,
        ledger_player: i64,
    },
    /// One side refunded the payment, the other did not.
    RefundMismatch {
        charge_id: String,
        telegram_refunded: bool,
        ledger_refunded: bool,
    },
}

impl Discrepancy {
    pub fn charge_id(&self) -> &str {
        match self {
            Self::MissingFromLedger { charge_id, .. }
            | Self::UnknownToTelegram { charge_id, .. }
            | Self::AmountMismatch { charge_id, .. }
            | Self::PlayerMismatch { charge_id, .. }
            | Self::RefundMismatch { charge_id, .. } => charge_id,
        }
    }

    /// The stable name, as in the JSON: `missing_from_ledger`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingFromLedger { .. } => "missing_from_ledger",
            Self::UnknownToTelegram { .. } => "unknown_to_telegram",
            Self::AmountMismatch { .. } => "amount_mismatch",
            Self::PlayerMismatch { .. } => "player_mismatch",
            Self::RefundMismatch { .. } => "refund_mismatch",
        }
    }

    /// What each side says, for people: `(telegram, ledger)`.
    pub fn sides(&self) -> (String, String) {
        let refund = |refunded: bool| if refunded { "refunded" } else { "not refunded" };
        match self {
            Self::MissingFromLedger {
                user, amount, date, ..
            } => (
                format!("{amount} XTR from user {user} at {date}"),
                "-".to_owned(),
            ),
            Self::UnknownToTelegram {
                player,
                amount,
                currency,
                credited_at,
                ..
            } => (
                "-".to_owned(),
                format!("{amount} {currency} to player {player} at {credited_at}"),
            ),
            Self::AmountMismatch {
                telegram,
                ledger,
                ledger_currency,
                ..
            } => (
                format!("{telegram} XTR"),
                format!("{ledger} {ledger_currency}"),
            ),
            Self::PlayerMismatch {
                telegram_user,
                ledger_player,
                ..
            } => (
                format!("user {telegram_user}"),
                format!("player {ledger_player}"),
            ),
            Self::RefundMismatch {
                telegram_refunded,
                ledger_refunded,
                ..
            } => (
                refund(*telegram_refunded).to_owned(),
                refund(*ledger_refunded).to_owned(),
            ),
        }
    }
}

/// How many transactions of each kind Telegram listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TelegramCounts {
    pub transactions: usize,
    pub payments: usize,
    pub refunds: usize,
    /// Anything else (withdrawals, ads, paid media, ...): not compared.
    pub other: usize,
}

/// The outcome of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub telegram: TelegramCounts,
    pub ledger_deposits: usize,
    /// Payments both sides have and agree on (amount, player, refund).
    pub agreed: usize,
    pub discrepancies: Vec<Discrepancy>,
}

/// A payment as Telegram lists it.
struct Payment {
    user: u64,
    amount: Decimal,
    date: u64,
    refunded: bool,
}

/// Compares Telegram's transactions with the ledger's Stars deposits. With `since` (a
/// day, `YYYY-MM-DD`), only discrepancies dated that day or later on either side are
/// reported; everything is still compared with everything, so a payment made before
/// midnight and credited after is not reported twice.
pub fn reconcile(
    transactions: &[StarTransaction],
    ledger: &[LedgerDeposit],
    since: Option<&str>,
) -> Reconciliation {
    let mut counts = TelegramCounts {
        transactions: transactions.len(),
        ..TelegramCounts::default()
    };
    let mut order = Vec::new();
    let mut payments: HashMap<&str, Payment> = HashMap::new();
    for t in transactions {
        if let Some(TransactionPartner::User(user)) = &t.source {
            if user.transaction_type == TransactionType::InvoicePayment
                && !payments.contains_key(t.id.as_str())
            {
                counts.payments += 1;
                order.push(t.id.as_str());
                payments.insert(
                    &t.id,
                    Payment {
                        user: user.user.id,
                        amount: stars(t),
                        date: t.date,
                        refunded: false,
                    },
                );
                continue;
            }
        }
        counts.other += 1;
    }
    for t in transactions {
        if let Some(TransactionPartner::User(_)) = &t.receiver {
            if let Some(payment) = payments.get_mut(t.id.as_str()) {
                payment.refunded = true;
                counts.refunds += 1;
                counts.other -= 1;
            }
        }
    }

    let by_charge: HashMap<&str, &LedgerDeposit> =
        ledger.iter().map(|d| (d.charge_id.as_str(), d)).collect();
    let day_of = |seconds: u64| rfc3339(micros(seconds))[..10].to_owned();
    let recent = |days: &[&str]| since.is_none_or(|since| days.iter().any(|d| *d >= since));
    let mut discrepancies = Vec::new();
    let mut agreed = 0;
    for charge_id in order {
        let paid = &payments[charge_id];
        let telegram_day = day_of(paid.date);
        let Some(deposit) = by_charge.get(charge_id) else {
            if recent(&[&telegram_day]) {
                discrepancies.push(Discrepancy::MissingFromLedger {
                    charge_id: charge_id.to_owned(),
                    user: paid.user,
                    amount: paid.amount.normalize().to_string(),
                    date: rfc3339(micros(paid.date)),
                });
            }
            continue;
        };
        let mut found = Vec::new();
        if deposit.amount != paid.amount || deposit.currency != "XTR" {
            found.push(Discrepancy::AmountMismatch {
                charge_id: charge_id.to_owned(),
                telegram: paid.amount.normalize().to_string(),
                ledger: deposit.amount.normalize().to_string(),
                ledger_currency: deposit.currency.clone(),
            });
        }
        if u64::try_from(deposit.player).ok() != Some(paid.user) {
            found.push(Discrepancy::PlayerMismatch {
                charge_id: charge_id.to_owned(),
                telegram_user: paid.user,
                ledger_player: deposit.player,
            });
        }
        if deposit.refunded != paid.refunded {
            found.push(Discrepancy::RefundMismatch {
                charge_id: charge_id.to_owned(),
                telegram_refunded: paid.refunded,
                ledger_refunded: deposit.refunded,
            });
        }
        if found.is_empty() {
            agreed += 1;
        } else if recent(&[&telegram_day, deposit.credited_at.get(..10).unwrap_or("")]) {
            discrepancies.extend(found);
        }
    }
    let mut seen = HashSet::new();
    for deposit in ledger {
        let first = seen.insert(deposit.charge_id.as_str());
        if first
            && !payments.contains_key(deposit.charge_id.as_str())
            && recent(&[deposit.credited_at.get(..10).unwrap_or("")])
        {
            discrepancies.push(Discrepancy::UnknownToTelegram {
                charge_id: deposit.charge_id.clone(),
                player: deposit.player,
                amount: deposit.amount.normalize().to_string(),
                currency: deposit.currency.clone(),
                credited_at: deposit.credited_at.clone(),
            });
        }
    }
    Reconciliation {
        telegram: counts,
        ledger_deposits: ledger.len(),
        agreed,
        discrepancies,
    }
}

/// A transaction's amount in Stars, nanostars included.
fn stars(t: &StarTransaction) -> Decimal {
    let nanostars = t
        .nanostar_amount
        .map_or(Decimal::ZERO, |n| Decimal::new(i64::from(n), 9));
    Decimal::from(t.amount) + nanostars
}

fn micros(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}
