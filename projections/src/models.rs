//! The read models: what events do to each of them. A batch of events is folded in memory
//! first (amounts added up per key, rows created and updated in log order), then the rows
//! it touched are read in one statement, and everything is written back with a few
//! multi-row statements ([`crate::bulk`]): rows the batch created are inserted, rows it
//! changed are upserted whole. The result is the one the events applied one at a time
//! would give.
//!
//! Which events matter to a read model is said once, in its `fold` (or in
//! [`Finance::add`] for `finance_daily`, which the auditor shares); balances and house
//! accounts follow the postings, whatever the event.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use ledger::event::{BetPlaced, Deposited};
use ledger::session::{self, SessionEvent, SessionStarted};
use ledger::{Account, Event};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::bulk::{Table, Value, Writer};
use crate::projector::{amount, to_i64, ProjectionError};

/// A batch of events, decoded, with their positions.
#[derive(Default)]
pub(crate) struct Batch {
    /// The events of player streams: money.
    pub(crate) ledger: Vec<(u64, Event)>,
    /// The events of conversation sessions, with their stream.
    pub(crate) sessions: Vec<(u64, String, SessionEvent)>,
}

/// Applies `batch` to one projection's tables.
pub(crate) async fn apply(
    projection: &str,
    w: &mut Writer<'_>,
    batch: &Batch,
) -> Result<(), ProjectionError> {
    let events = &batch.ledger;
    match projection {
        "balances" => write_balances(w, fold_balances(events)?).await,
        "house" => write_house(w, fold_house(events)?).await,
        "bets" => write_bets(w, events).await,
        "deposits" => write_deposits(w, events).await,
        "finance_daily" => write_finance(w, Finance::of(events)?).await,
        "sessions" => write_sessions(w, &batch.sessions).await,
        other => unreachable!("no projection named {other}"),
    }
}

/// The rows a batch touches in one table, in the order it first touched them; each
/// knows whether it is stored already (to be upserted whole) or new (to be inserted).
struct Rows<K, R> {
    index: HashMap<K, usize>,
    rows: Vec<(K, R, bool)>,
}

impl<K: Hash + Eq + Clone, R> Rows<K, R> {
    fn new() -> Self {
        Self {
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut R> {
        self.index.get(key).map(|&i| &mut self.rows[i].1)
    }

    /// Adds a row; one already there under `key` is replaced.
    fn put(&mut self, key: K, row: R, stored: bool) {
        match self.index.entry(key.clone()) {
            Entry::Occupied(entry) => self.rows[*entry.get()] = (key, row, stored),
            Entry::Vacant(entry) => {
                entry.insert(self.rows.len());
                self.rows.push((key, row, stored));
            }
        }
    }

    /// Inserts the new rows and upserts the stored ones.
    async fn write<'a>(
        self,
        w: &mut Writer<'_>,
        table: &Table,
        values: impl Fn(K, R) -> Vec<Value<'a>>,
    ) -> Result<(), ProjectionError> {
        let (mut new, mut stored) = (Vec::new(), Vec::new());
        for (key, row, is_stored) in self.rows {
            if is_stored {
                stored.push(values(key, row));
            } else {
                new.push(values(key, row));
            }
        }
        w.insert(table, new).await?;
        w.upsert(table, stored).await?;
        Ok(())
    }
}

/// The keys a batch touches before (or without) creating them: the rows to read first.
/// `touched` says, in log order, each key an event touches and whether it creates it.
fn earlier_rows<K: Hash + Eq + Clone>(touched: impl Iterator<Item = (K, bool)>) -> Vec<K> {
    let (mut created, mut seen) = (HashSet::new(), HashSet::new());
    let mut earlier = Vec::new();
    for (key, creates) in touched {
        if creates {
            created.insert(key);
        } else if !created.contains(&key) && seen.insert(key.clone()) {
            earlier.push(key);
        }
    }
    earlier
}

// ---------------------------------------------------------------------------------------
// balances

const BALANCES: Table = Table {
    name: "proj_balances",
    key: &["player", "currency"],
    columns: &["balance", "in_play", "last_position"],
};

/// What a batch adds to a player's cash and stakes in play in one currency.
#[derive(Default)]
struct BalanceChange {
    cash: Decimal,
    in_play: Decimal,
    position: u64,
}

fn fold_balances(
    events: &[(u64, Event)],
) -> Result<BTreeMap<(i64, &str), BalanceChange>, ProjectionError> {
    let mut changes: BTreeMap<(i64, &str), BalanceChange> = BTreeMap::new();
    for (position, event) in events {
        for posting in event.postings() {
            // Only the player's own accounts make a balance row (a subscription charge,
            // say, moves house and external money only).
            let cash = match posting.account {
                Account::PlayerCash(_) => true,
                Account::BetsInPlay => false,
                _ => continue,
            };
            let key = (event.player().get(), posting.currency.as_str());
            let change = changes.entry(key).or_default();
            let sum = if cash {
                &mut change.cash
            } else {
                &mut change.in_play
            };
            add(sum, posting.amount, "player's balances").map_err(|overflow| {
                ProjectionError::Unreadable {
                    position: *position,
                    problem: overflow.to_string(),
                }
            })?;
            change.position = *position;
        }
    }
    Ok(changes)
}

async fn write_balances(
    w: &mut Writer<'_>,
    changes: BTreeMap<(i64, &str), BalanceChange>,
) -> Result<(), ProjectionError> {
    let keys = changes
        .keys()
        .map(|&(player, currency)| vec![player.into(), currency.into()])
        .collect();
    let mut stored = HashMap::new();
    for row in w.select(&BALANCES, keys).await? {
        let key: (i64, String) = (row.try_get("player")?, row.try_get("currency")?);
        let balance = amount(row.try_get("balance")?)?;
        stored.insert(key, (balance, amount(row.try_get("in_play")?)?));
    }
    let mut rows = Vec::new();
    for ((player, currency), change) in changes {
        let (mut balance, mut in_play) = stored
            .remove(&(player, currency.to_owned()))
            .unwrap_or_default();
        let overflow = |_| ProjectionError::Overflow {
            what: format!("balances of player {player} in {currency}"),
        };
        add(&mut balance, change.cash, "balances").map_err(overflow)?;
        add(&mut in_play, change.in_play, "balances").map_err(overflow)?;
        rows.push(vec![
            player.into(),
            currency.into(),
            balance.to_string().into(),
            in_play.to_string().into(),
            to_i64(change.position).into(),
        ]);
    }
    w.upsert(&BALANCES, rows).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// house

const HOUSE: Table = Table {
    name: "proj_house",
    key: &["account", "currency"],
    columns: &["balance", "last_position"],
};

/// What a batch adds to each (account, currency) and the last position that did.
type HouseChanges<'a> = BTreeMap<(String, &'a str), (Decimal, u64)>;

/// What a batch adds to every account but player cash, per currency, and the last
/// position that did.
fn fold_house(events: &[(u64, Event)]) -> Result<HouseChanges<'_>, ProjectionError> {
    let mut changes: BTreeMap<(&Account, &str), (Decimal, u64)> = BTreeMap::new();
    for (position, event) in events {
        for posting in event.postings() {
            if matches!(posting.account, Account::PlayerCash(_)) {
                continue;
            }
            let key = (&posting.account, posting.currency.as_str());
            let change = changes.entry(key).or_default();
            add(&mut change.0, posting.amount, "house accounts").map_err(|overflow| {
                ProjectionError::Unreadable {
                    position: *position,
                    problem: overflow.to_string(),
                }
            })?;
            change.1 = *position;
        }
    }
    Ok(changes
        .into_iter()
        .map(|((account, currency), change)| ((account.to_string(), currency), change))
        .collect())
}

async fn write_house(w: &mut Writer<'_>, changes: HouseChanges<'_>) -> Result<(), ProjectionError> {
    let keys = changes
        .keys()
        .map(|(account, currency)| vec![account.as_str().into(), (*currency).into()])
        .collect();
    let mut stored = HashMap::new();
    for row in w.select(&HOUSE, keys).await? {
        let key: (String, String) = (row.try_get("account")?, row.try_get("currency")?);
        stored.insert(key, amount(row.try_get("balance")?)?);
    }
    let mut rows = Vec::new();
    for ((account, currency), (delta, position)) in changes {
        let mut balance = stored
            .remove(&(account.clone(), currency.to_owned()))
            .unwrap_or_default();
        add(&mut balance, delta, "house accounts").map_err(|_| ProjectionError::Overflow {
            what: format!("balances of {account} in {currency}"),
        })?;
        rows.push(vec![
            account.into(),
            currency.into(),
            balance.to_string().into(),
            to_i64(position).into(),
        ]);
    }
    w.upsert(&HOUSE, rows).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bets

const BETS: Table = Table {
    name: "proj_bets",
    key: &["player", "bet_id"],
    columns: &[
        "game",
        "currency",
        "stake",
        "payout",
        "status",
        "placed_at",
        "closed_at",
        "placed_position",
        "closed_position",
    ],
};

/// A row of `proj_bets` but its key.
struct BetRow<'a> {
    game: Cow<'a, str>,
    currency: Cow<'a, str>,
    stake: String,
    payout: Option<String>,
    status: Cow<'a, str>,
    placed_at: i64,
    closed_at: Option<i64>,
    placed_position: i64,
    closed_position: Option<i64>,
}

impl<'a> BetRow<'a> {
    fn placed(position: u64, e: &'a BetPlaced) -> Self {
        Self {
            game: e.game.as_str().into(),
            currency: e.currency.as_str().into(),
            stake: e.stake.to_string(),
            payout: None,
            status: "open".into(),
            placed_at: e.at.as_micros(),
            closed_at: None,
            placed_position: to_i64(position),
            closed_position: None,
        }
    }

    fn stored(row: &AnyRow) -> Result<(BetKey<'a>, Self), ProjectionError> {
        let key = (row.try_get("player")?, Cow::Owned(row.try_get("bet_id")?));
        Ok((
            key,
            Self {
                game: Cow::Owned(row.try_get("game")?),
                currency: Cow::Owned(row.try_get("currency")?),
                stake: row.try_get("stake")?,
                payout: row.try_get("payout")?,
                status: Cow::Owned(row.try_get("status")?),
                placed_at: row.try_get("placed_at")?,
                closed_at: row.try_get("closed_at")?,
                placed_position: row.try_get("placed_position")?,
                closed_position: row.try_get("closed_position")?,
            },
        ))
    }

    fn close(&mut self, status: &'static str, payout: Option<Decimal>, at: i64, position: u64) {
        self.status = status.into();
        self.payout = payout.map(|p| p.to_string());
        self.closed_at = Some(at);
        self.closed_position = Some(to_i64(position));
    }

    fn values(key: BetKey<'a>, row: Self) -> Vec<Value<'a>> {
        vec![
            key.0.into(),
            Value::Text(Some(key.1)),
            Value::Text(Some(row.game)),
            Value::Text(Some(row.currency)),
            row.stake.into(),
            row.payout.into(),
            Value::Text(Some(row.status)),
            row.placed_at.into(),
            row.closed_at.into(),
            row.placed_position.into(),
            row.closed_position.into(),
        ]
    }
}

type BetKey<'a> = (i64, Cow<'a, str>);

/// The bet an event opens or closes, if any.
fn bet_of(event: &Event) -> Option<(BetKey<'_>, bool)> {
    let (player, bet_id, opens) = match event {
        Event::BetPlaced(e) => (e.player, &e.bet_id, true),
        Event::BetSettled(e) => (e.player, &e.bet_id, false),
        Event::BetVoided(e) => (e.player, &e.bet_id, false),
        _ => return None,
    };
    Some(((player.get(), Cow::Borrowed(bet_id.as_str())), opens))
}

async fn write_bets(w: &mut Writer<'_>, events: &[(u64, Event)]) -> Result<(), ProjectionError> {
    let mut rows = Rows::new();
    let stored = earlier_rows(events.iter().filter_map(|(_, e)| bet_of(e)));
    let keys = stored
        .iter()
        .map(|(player, bet)| vec![(*player).into(), bet.as_ref().into()])
        .collect();
    for row in w.select(&BETS, keys).await? {
        let (key, row) = BetRow::stored(&row)?;
        rows.put(key, row, true);
    }
    for (position, event) in events {
        let Some((key, _)) = bet_of(event) else {
            continue;
        };
        match event {
            Event::BetPlaced(e) => rows.put(key, BetRow::placed(*position, e), false),
            Event::BetSettled(e) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.close("settled", Some(e.payout), e.at.as_micros(), *position);
                }
            }
            Event::BetVoided(e) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.close("voided", None, e.at.as_micros(), *position);
                }
            }
            _ => {}
        }
    }
    rows.write(w, &BETS, BetRow::values).await
}

// ---------------------------------------------------------------------------------------
// deposits

const DEPOSITS: Table = Table {
    name: "proj_deposits",
    key: &["method", "external_ref"],
    columns: &[
        "player",
        "amount",
        "currency",
        "status",
        "credited_at",
        "refunded_at",
        "credited_position",
        "refunded_position",
    ],
};

type DepositKey<'a> = (Cow<'a, str>, Cow<'a, str>);

/// A row of `proj_deposits` but its key.
struct DepositRow<'a> {
    player: i64,
    amount: String,
    currency: Cow<'a, str>,
    status: Cow<'a, str>,
    credited_at: i64,
    refunded_at: Option<i64>,
    credited_position: i64,
    refunded_position: Option<i64>,
}

impl<'a> DepositRow<'a> {
    fn credited(position: u64, e: &'a Deposited) -> Self {
        Self {
            player: e.player.get(),
            amount: e.amount.to_string(),
            currency: e.currency.as_str().into(),
            status: "credited".into(),
            credited_at: e.at.as_micros(),
            refunded_at: None,
            credited_position: to_i64(position),
            refunded_position: None,
        }
    }

    fn refunded(&mut self, at: ledger::Timestamp, position: u64) {
        self.status = "refunded".into();
        self.refunded_at = Some(at.as_micros());
        self.refunded_position = Some(to_i64(position));
    }

    fn stored(row: &AnyRow) -> Result<(DepositKey<'a>, Self), ProjectionError> {
        let key = (
            Cow::Owned(row.try_get("method")?),
            Cow::Owned(row.try_get("external_ref")?),
        );
        Ok((
            key,
            Self {
                player: row.try_get("player")?,
                amount: row.try_get("amount")?,
                currency: Cow::Owned(row.try_get("currency")?),
                status: Cow::Owned(row.try_get("status")?),
                credited_at: row.try_get("credited_at")?,
                refunded_at: row.try_get("refunded_at")?,
                credited_position: row.try_get("credited_position")?,
                refunded_position: row.try_get("refunded_position")?,
            },
        ))
    }

    fn values(key: DepositKey<'a>, row: Self) -> Vec<Value<'a>> {
        vec![
            Value::Text(Some(key.0)),
            Value::Text(Some(key.1)),
            row.player.into(),
            row.amount.into(),
            Value::Text(Some(row.currency)),
            Value::Text(Some(row.status)),
            row.credited_at.into(),
            row.refunded_at.into(),
            row.credited_position.into(),
            row.refunded_position.into(),
        ]
    }
}

/// The deposit an event credits or refunds, if any.
fn deposit_of(event: &Event) -> Option<(DepositKey<'_>, bool)> {
    let (method, external_ref, credits) = match event {
        Event::Deposited(e) => (&e.method, &e.external_ref, true),
        Event::DepositRefunded(e) => (&e.method, &e.external_ref, false),
        Event::RefundRequested(e) => (&e.method, &e.external_ref, false),
        Event::RefundConfirmed(e) => (&e.method, &e.external_ref, false),
        Event::RefundReversed(e) => (&e.method, &e.external_ref, false),
        _ => return None,
    };
    let key = (
        Cow::Borrowed(method.as_str()),
        Cow::Borrowed(external_ref.as_str()),
    );
    Some((key, credits))
}

async fn write_deposits(
    w: &mut Writer<'_>,
    events: &[(u64, Event)],
) -> Result<(), ProjectionError> {
    let mut rows = Rows::new();
    let stored = earlier_rows(events.iter().filter_map(|(_, e)| deposit_of(e)));
    let keys = stored
        .iter()
        .map(|(method, reference)| vec![method.as_ref().into(), reference.as_ref().into()])
        .collect();
    for row in w.select(&DEPOSITS, keys).await? {
        let (key, row) = DepositRow::stored(&row)?;
        rows.put(key, row, true);
    }
    for (position, event) in events {
        let Some((key, _)) = deposit_of(event) else {
            continue;
        };
        match event {
            Event::Deposited(e) => rows.put(key, DepositRow::credited(*position, e), false),
            Event::DepositRefunded(e) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.refunded(e.at, *position);
                }
            }
            Event::RefundConfirmed(e) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.refunded(e.at, *position);
                }
            }
            // A staff refund waits for the payment network: not refunded yet, and not
            // the player's to spend either.
            Event::RefundRequested(_) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.status = "refund_pending".into();
                }
            }
            Event::RefundReversed(_) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.status = "credited".into();
                }
            }
            _ => {}
        }
    }
    rows.write(w, &DEPOSITS, DepositRow::values).await
}

// ---------------------------------------------------------------------------------------
// finance_daily

const FINANCE_DAILY: Table = Table {
    name: "proj_finance_daily",
    key: &["day", "currency"],
    columns: &[
        "deposits",
        "refunds",
        "stakes",
        "payouts",
        "ggr",
        "bets",
        "active_players",
    ],
};

const FINANCE_ACTIVE: Table = Table {
    name: "proj_finance_active",
    key: &["day", "currency", "player"],
    columns: &[],
};

/// One UTC day's totals in one currency.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Day {
    pub(crate) deposits: Decimal,
    pub(crate) refunds: Decimal,
    pub(crate) stakes: Decimal,
    pub(crate) payouts: Decimal,
    pub(crate) bets: i64,
}

impl Day {
    /// Adds `other`; `None`, leaving `self` unchanged, when a sum overflows.
    fn add(&mut self, other: &Day) -> Option<()> {
        *self = Day {
            deposits: self.deposits.checked_add(other.deposits)?,
            refunds: self.refunds.checked_add(other.refunds)?,
            stakes: self.stakes.checked_add(other.stakes)?,
            payouts: self.payouts.checked_add(other.payouts)?,
            bets: self.bets.checked_add(other.bets)?,
        };
        Some(())
    }

    /// Stakes less payouts; `None` when it overflows.
    pub(crate) fn ggr(&self) -> Option<Decimal> {
        self.stakes.checked_sub(self.payouts)
    }
}

/// A sum of amounts from the log that does not fit a `Decimal`: amounts no decision
/// could have made, so a tampered log. Added up unchecked it would panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {what} overflow when added up")]
pub(crate) struct Overflow {
    pub(crate) what: &'static str,
}

/// `sum + amount`, or the [`Overflow`] of `what`.
pub(crate) fn add(sum: &mut Decimal, amount: Decimal, what: &'static str) -> Result<(), Overflow> {
    *sum = sum.checked_add(amount).ok_or(Overflow { what })?;
    Ok(())
}

/// A day's totals in one currency and the players active that day.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    pub(crate) totals: Day,
    pub(crate) players: BTreeSet<i64>,
}

/// What events add to `finance_daily`, per (UTC day, currency): the projection adds it
/// up batch by batch, the auditor over the whole log.
#[derive(Debug, Default)]
pub(crate) struct Finance {
    /// Per day (`YYYY-MM-DD`), per currency.
    days: BTreeMap<String, BTreeMap<String, Activity>>,
    /// The last day met, by number since the epoch and by name: events come in time
    /// order, so a day's name is rarely made twice.
    last_day: Option<(i64, String)>,
}

impl Finance {
    pub(crate) fn of(events: &[(u64, Event)]) -> Result<Self, ProjectionError> {
        let mut finance = Self::default();
        for (position, event) in events {
            finance
                .add(event)
                .map_err(|overflow| ProjectionError::Unreadable {
                    position: *position,
                    problem: overflow.to_string(),
                })?;
        }
        Ok(finance)
    }

    /// Adds `event`'s figures to its day; an [`Overflow`] leaves the figures as they were.
    pub(crate) fn add(&mut self, event: &Event) -> Result<(), Overflow> {
        // The fairness facts move no money: they make no one an active player.
        let Some(currency) = event.currency() else {
            return Ok(());
        };
        let micros = event.at().as_micros();
        let number = micros.div_euclid(86_400_000_000);
        let (day, days) = match &mut self.last_day {
            Some((n, day)) if *n == number => (day.as_str(), &mut self.days),
            last_day => (
                last_day
                    .insert((number, crate::time::day(micros)))
                    .1
                    .as_str(),
                &mut self.days,
            ),
        };
        if !days.contains_key(day) {
            days.insert(day.to_owned(), BTreeMap::new());
        }
        let currencies = days.get_mut(day).expect("inserted above");
        let currency = currency.as_str();
        if !currencies.contains_key(currency) {
            currencies.insert(currency.to_owned(), Activity::default());
        }
        let activity = currencies.get_mut(currency).expect("inserted above");
        let change = match event {
            Event::Deposited(e) => Day {
                deposits: e.amount,
                ..Day::default()
            },
            // Money given back counts when it leaves: a staff refund when the network
            // confirms it, not when it is asked for.
            Event::DepositRefunded(e) => Day {
                refunds: e.amount,
                ..Day::default()
            },
            Event::RefundConfirmed(e) => Day {
                refunds: e.amount,
                ..Day::default()
            },
            Event::BetSettled(e) => Day {
                stakes: e.stake,
                payouts: e.payout,
                bets: 1,
                ..Day::default()
            },
            _ => Day::default(),
        };
        activity.totals.add(&change).ok_or(Overflow {
            what: "day's finance figures",
        })?;
        activity.players.insert(event.player().get());
        Ok(())
    }

    /// Every (day, currency) met, in order, with its figures.
    pub(crate) fn days(&self) -> impl Iterator<Item = ((&str, &str), &Activity)> {
        self.days.iter().flat_map(|(day, currencies)| {
            currencies
                .iter()
                .map(move |(currency, activity)| ((day.as_str(), currency.as_str()), activity))
        })
    }
}

async fn write_finance(w: &mut Writer<'_>, finance: Finance) -> Result<(), ProjectionError> {
    let keys = finance
        .days()
        .map(|((day, currency), _)| vec![day.into(), currency.into()])
        .collect();
    let mut stored: HashMap<(String, String), (Day, i64)> = HashMap::new();
    for row in w.select(&FINANCE_DAILY, keys).await? {
        let day = Day {
            deposits: amount(row.try_get("deposits")?)?,
            refunds: amount(row.try_get("refunds")?)?,
            stakes: amount(row.try_get("stakes")?)?,
            payouts: amount(row.try_get("payouts")?)?,
            bets: row.try_get("bets")?,
        };
        let key = (row.try_get("day")?, row.try_get("currency")?);
        stored.insert(key, (day, row.try_get("active_players")?));
    }
    let active = finance
        .days()
        .flat_map(|((day, currency), activity)| {
            activity
                .players
                .iter()
                .map(move |&player| vec![day.into(), currency.into(), player.into()])
        })
        .collect();
    let mut seen: HashMap<(String, String), HashSet<i64>> = HashMap::new();
    for row in w.select(&FINANCE_ACTIVE, active).await? {
        let key = (row.try_get("day")?, row.try_get("currency")?);
        seen.entry(key).or_default().insert(row.try_get("player")?);
    }
    let (mut days, mut players) = (Vec::new(), Vec::new());
    for ((day, currency), activity) in finance.days() {
        let key = (day.to_owned(), currency.to_owned());
        let (mut total, mut active_players) = stored.remove(&key).unwrap_or_default();
        let overflow = || ProjectionError::Overflow {
            what: format!("finance_daily figures of {} {}", key.0, key.1),
        };
        total.add(&activity.totals).ok_or_else(overflow)?;
        let ggr = total.ggr().ok_or_else(overflow)?;
        let seen = seen.remove(&key).unwrap_or_default();
        let (day, currency) = key;
        for &player in &activity.players {
            if !seen.contains(&player) {
                active_players += 1;
                players.push(vec![
                    day.clone().into(),
                    currency.clone().into(),
                    player.into(),
                ]);
            }
        }
        days.push(vec![
            day.into(),
            currency.into(),
            total.deposits.to_string().into(),
            total.refunds.to_string().into(),
            total.stakes.to_string().into(),
            total.payouts.to_string().into(),
            ggr.to_string().into(),
            total.bets.into(),
            active_players.into(),
        ]);
    }
    w.insert(&FINANCE_ACTIVE, players).await?;
    w.upsert(&FINANCE_DAILY, days).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// sessions

const SESSIONS: Table = Table {
    name: "proj_sessions",
    key: &["stream"],
    columns: &[
        "chat_id",
        "player",
        "number",
        "state",
        "status",
        "started_at",
        "last_activity_at",
        "ended_at",
        "play_started_at",
        "bets",
        "wagered",
        "won",
        "started_position",
        "last_position",
    ],
};

/// A row of `proj_sessions` but its key.
struct SessionRow {
    chat: i64,
    player: i64,
    number: i64,
    state: String,
    status: String,
    started_at: i64,
    last_activity_at: i64,
    ended_at: Option<i64>,
    play_started_at: Option<i64>,
    bets: i64,
    wagered: Decimal,
    won: Decimal,
    started_position: i64,
    last_position: i64,
}

impl SessionRow {
    fn started(position: u64, stream: &str, e: &SessionStarted) -> Self {
        let at = e.at.as_micros();
        let number = session::parse_stream(stream).map_or(0, |(_, _, n)| n);
        Self {
            chat: e.chat,
            player: e.player,
            number: to_i64(number),
            state: "idle".to_owned(),
            status: "active".to_owned(),
            started_at: at,
            last_activity_at: at,
            ended_at: None,
            play_started_at: None,
            bets: 0,
            wagered: Decimal::ZERO,
            won: Decimal::ZERO,
            started_position: to_i64(position),
            last_position: to_i64(position),
        }
    }

    fn stored(row: &AnyRow) -> Result<(String, Self), ProjectionError> {
        Ok((
            row.try_get("stream")?,
            Self {
                chat: row.try_get("chat_id")?,
                player: row.try_get("player")?,
                number: row.try_get("number")?,
                state: row.try_get("state")?,
                status: row.try_get("status")?,
                started_at: row.try_get("started_at")?,
                last_activity_at: row.try_get("last_activity_at")?,
                ended_at: row.try_get("ended_at")?,
                play_started_at: row.try_get("play_started_at")?,
                bets: row.try_get("bets")?,
                wagered: amount(row.try_get("wagered")?)?,
                won: amount(row.try_get("won")?)?,
                started_position: row.try_get("started_position")?,
                last_position: row.try_get("last_position")?,
            },
        ))
    }

    /// What a later event of the session does to it.
    fn fold(&mut self, position: u64, event: &SessionEvent) {
        let at = event.at().as_micros();
        match event {
            SessionEvent::Started(_) => return,
            SessionEvent::Moved(moved) => {
                self.state = moved.to.step().to_owned();
                self.last_activity_at = at;
            }
            SessionEvent::Bet(bet) => {
                self.bets += 1;
                self.wagered += bet.stake;
                self.won += bet.payout;
                self.play_started_at = self.play_started_at.or(Some(at));
                self.last_activity_at = at;
            }
            SessionEvent::Expired(expired) => {
                self.status = "expired".to_owned();
                self.ended_at = Some(at);
                self.last_activity_at = expired.last_activity.as_micros();
            }
        }
        self.last_position = to_i64(position);
    }

    fn values(stream: Cow<'_, str>, row: Self) -> Vec<Value<'_>> {
        vec![
            Value::Text(Some(stream)),
            row.chat.into(),
            row.player.into(),
            row.number.into(),
            row.state.into(),
            row.status.into(),
            row.started_at.into(),
            row.last_activity_at.into(),
            row.ended_at.into(),
            row.play_started_at.into(),
            row.bets.into(),
            row.wagered.to_string().into(),
            row.won.to_string().into(),
            row.started_position.into(),
            row.last_position.into(),
        ]
    }
}

async fn write_sessions(
    w: &mut Writer<'_>,
    events: &[(u64, String, SessionEvent)],
) -> Result<(), ProjectionError> {
    let touched = events
        .iter()
        .map(|(_, stream, event)| (stream.as_str(), matches!(event, SessionEvent::Started(_))));
    let keys = earlier_rows(touched)
        .into_iter()
        .map(|stream| vec![stream.into()])
        .collect();
    let mut rows: Rows<Cow<'_, str>, SessionRow> = Rows::new();
    for row in w.select(&SESSIONS, keys).await? {
        let (stream, row) = SessionRow::stored(&row)?;
        rows.put(Cow::Owned(stream), row, true);
    }
    for (position, stream, event) in events {
        let key = Cow::Borrowed(stream.as_str());
        match event {
            SessionEvent::Started(started) => {
                let row = SessionRow::started(*position, stream, started);
                rows.put(key, row, false);
            }
            // As an UPDATE would: nothing to change when the session is unknown.
            SessionEvent::Moved(_) | SessionEvent::Expired(_) => {
                if let Some(row) = rows.get_mut(&key) {
                    row.fold(*position, event);
                }
            }
            // Its counts add to what the session holds, so it must hold something.
            SessionEvent::Bet(_) => rows
                .get_mut(&key)
                .ok_or_else(|| ProjectionError::Unreadable {
                    position: *position,
                    problem: format!("no session_started in stream '{stream}' before its bet"),
                })?
                .fold(*position, event),
        }
    }
    rows.write(w, &SESSIONS, SessionRow::values).await
}
