//! A player's state, folded from the events of their stream. `apply` checks every
//! invariant of the ledger and stops on a broken one: a wrong ledger is never recovered.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rust_decimal::Decimal;

use crate::account::{balanced, Account};
use crate::event::Event;
use crate::fair::{self, FairBet, Terms};
use crate::id::{BetId, ExternalRef, GameId, PaymentMethod, PlayerId, Timestamp};
use crate::money::CurrencyCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetStatus {
    Open,
    Settled,
    Voided,
}

impl fmt::Display for BetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Settled => "settled",
            Self::Voided => "voided",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bet {
    pub game: GameId,
    pub stake: Decimal,
    pub currency: CurrencyCode,
    pub status: BetStatus,
    /// A provably fair bet's inputs.
    pub fair: Option<FairBet>,
}

/// A provably fair seed the player's stream committed to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FairSeed {
    /// The seed (hex) once revealed.
    pub revealed: Option<String>,
    /// The nonces bets used under it.
    pub nonces: BTreeSet<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposit {
    pub method: PaymentMethod,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub refunded: bool,
    /// A staff refund asked of the payment network and not answered yet: the money is
    /// held in `house:refunds_pending`.
    pub refund_pending: bool,
    /// How many staff refunds the payment network refused (`refund_reversed`); the next
    /// request is attempt number `refunds_reversed`.
    pub refunds_reversed: u32,
}

/// A subscription charge the player paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub method: PaymentMethod,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub until: Timestamp,
    pub refunded: bool,
}

/// An event that cannot follow the state it was applied to: a bug, or a tampered log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant broken by {event_type} for player {player}: {problem}")]
pub struct InvariantViolation {
    pub event_type: &'static str,
    pub player: PlayerId,
    pub problem: String,
}

/// The balances an event leaves behind, in its currency.
struct After {
    currency: CurrencyCode,
    cash: Decimal,
    in_play: Decimal,
}

/// Everything `decide` needs to know about one player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerState {
    pub player: PlayerId,
    /// How many events of the player's stream have been applied.
    pub version: u64,
    /// Spendable cash per currency. Negative only after a forced refund: a debt.
    pub cash: BTreeMap<CurrencyCode, Decimal>,
    /// Stakes of open bets per currency.
    pub in_play: BTreeMap<CurrencyCode, Decimal>,
    pub bets: BTreeMap<BetId, Bet>,
    pub deposits: BTreeMap<ExternalRef, Deposit>,
    /// Subscription charges by charge id.
    pub subscriptions: BTreeMap<ExternalRef, Subscription>,
    /// Provably fair seeds committed, by their hash.
    pub fair_seeds: BTreeMap<String, FairSeed>,
    /// Charges refunded before the player was credited with them (`refund_noted`): the
    /// payment, when it arrives, is credited and refunded at once.
    pub noted_refunds: BTreeSet<ExternalRef>,
}

impl PlayerState {
    pub fn new(player: PlayerId) -> Self {
        Self {
            player,
            version: 0,
            cash: BTreeMap::new(),
            in_play: BTreeMap::new(),
            bets: BTreeMap::new(),
            deposits: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            fair_seeds: BTreeMap::new(),
            noted_refunds: BTreeSet::new(),
        }
    }

    pub fn cash(&self, currency: &CurrencyCode) -> Decimal {
        self.cash.get(currency).copied().unwrap_or(Decimal::ZERO)
    }

    pub fn in_play(&self, currency: &CurrencyCode) -> Decimal {
        self.in_play.get(currency).copied().unwrap_or(Decimal::ZERO)
    }

    /// Whether a payment with this charge id was credited to the player, as a deposit or
    /// as a subscription charge.
    pub fn knows_charge(&self, charge: &ExternalRef) -> bool {
        self.deposits.contains_key(charge) || self.subscriptions.contains_key(charge)
    }

    /// Until when the player's subscription entitles them: the latest end among the
    /// charges not refunded; `None` when they never paid one.
    pub fn subscribed_until(&self) -> Option<Timestamp> {
        self.subscriptions
            .values()
            .filter(|s| !s.refunded)
            .map(|s| s.until)
            .max()
    }

    /// The charge of the newest subscription payment not refunded (the one Telegram
    /// renews), with when it ends.
    pub fn current_subscription(&self) -> Option<(&ExternalRef, &Subscription)> {
        self.subscriptions
            .iter()
            .filter(|(_, s)| !s.refunded)
            .max_by_key(|(_, s)| s.until)
    }

    /// Applies an event, panicking on a broken invariant. Use [`PlayerState::try_apply`]
    /// where the events come from outside (an audit of a possibly tampered log).
    pub fn apply(&mut self, event: &Event) {
        if let Err(violation) = self.try_apply(event) {
            panic!("{violation}");
        }
    }

    /// Applies an event if it can follow this state; otherwise leaves the state as it was.
    /// Every check runs before anything changes, so a refused event leaves no trace.
    pub fn try_apply(&mut self, event: &Event) -> Result<(), InvariantViolation> {
        let after = self.check(event).map_err(|problem| InvariantViolation {
            event_type: event.event_type(),
            player: event.player(),
            problem,
        })?;
        match event {
            Event::Deposited(e) => {
                self.deposits.insert(
                    e.external_ref.clone(),
                    Deposit {
                        method: e.method.clone(),
                        amount: e.amount,
                        currency: e.currency.clone(),
                        refunded: false,
                        refund_pending: false,
                        refunds_reversed: 0,
                    },
                );
            }
            Event::BetPlaced(e) => {
                if let Some(bet) = &e.fair {
                    if let Some(seed) = self.fair_seeds.get_mut(&bet.seed_hash) {
                        seed.nonces.insert(bet.nonce);
                    }
                }
                self.bets.insert(
                    e.bet_id.clone(),
                    Bet {
                        game: e.game.clone(),
                        stake: e.stake,
                        currency: e.currency.clone(),
                        status: BetStatus::Open,
                        fair: e.fair.clone(),
                    },
                );
            }
            Event::BetSettled(e) => self.set_bet_status(&e.bet_id, BetStatus::Settled),
            Event::BetVoided(e) => self.set_bet_status(&e.bet_id, BetStatus::Voided),
            Event::DepositRefunded(e) => {
                if let Some(deposit) = self.deposits.get_mut(&e.external_ref) {
                    deposit.refunded = true;
                }
            }
            Event::RefundRequested(e) => {
                if let Some(deposit) = self.deposits.get_mut(&e.external_ref) {
                    deposit.refund_pending = true;
                }
            }
            Event::RefundConfirmed(e) => {
                if let Some(deposit) = self.deposits.get_mut(&e.external_ref) {
                    deposit.refund_pending = false;
                    deposit.refunded = true;
                }
            }
            Event::RefundReversed(e) => {
                if let Some(deposit) = self.deposits.get_mut(&e.external_ref) {
                    deposit.refund_pending = false;
                    deposit.refunds_reversed = deposit.refunds_reversed.saturating_add(1);
                }
            }
            Event::Adjusted(_) => {}
            Event::SubscriptionPaid(e) => {
                self.subscriptions.insert(
                    e.external_ref.clone(),
                    Subscription {
                        method: e.method.clone(),
                        amount: e.amount,
                        currency: e.currency.clone(),
                        until: e.until,
                        refunded: false,
                    },
                );
            }
            Event::SubscriptionRefunded(e) => {
                if let Some(charge) = self.subscriptions.get_mut(&e.external_ref) {
                    charge.refunded = true;
                }
            }
            Event::FairSeedCommitted(e) => {
                self.fair_seeds
                    .insert(e.seed_hash.clone(), FairSeed::default());
            }
            Event::FairSeedRevealed(e) => {
                if let Some(seed) = self.fair_seeds.get_mut(&e.seed_hash) {
                    seed.revealed = Some(e.seed.clone());
                }
            }
            Event::RefundNoted(e) => {
                self.noted_refunds.insert(e.external_ref.clone());
            }
        }
        if let (true, Some(after)) = (event.moves_player_money(), after) {
            self.cash.insert(after.currency.clone(), after.cash);
            self.in_play.insert(after.currency, after.in_play);
        }
        self.version += 1;
        Ok(())
    }

    /// Whether `event` may follow this state, and if not, why. Returns the balances the
    /// event leaves behind, computed with overflow checks (`None` for an event that moves
    /// no money).
    fn check(&self, event: &Event) -> Result<Option<After>, String> {
        if event.player() != self.player {
            return Err(format!(
                "event belongs to player {}, not {}",
                event.player(),
                self.player
            ));
        }
        if !balanced(event.postings()) {
            return Err("postings do not sum to zero".to_owned());
        }
        // Amounts are checked before anything is computed from them: a tampered log can
        // carry any `Decimal`, and arithmetic on it must refuse, not overflow.
        let expected = event
            .expected_postings()
            .ok_or("the event's amounts overflow its postings")?;
        if event.postings() != expected.as_slice() {
            return Err("postings do not match the event".to_owned());
        }
        match event {
            Event::Deposited(e) => {
                if e.amount <= Decimal::ZERO {
                    return Err(format!("deposit of {} is not positive", e.amount));
                }
                if self.knows_charge(&e.external_ref) {
                    return Err(format!("deposit '{}' credited twice", e.external_ref));
                }
            }
            Event::BetPlaced(e) => {
                if e.stake <= Decimal::ZERO {
                    return Err(format!("stake {} is not positive", e.stake));
                }
                if self.bets.contains_key(&e.bet_id) {
                    return Err(format!("bet '{}' placed twice", e.bet_id));
                }
                if let Some(bet) = &e.fair {
                    self.check_fair_bet(bet, e.game.as_str())?;
                }
            }
            Event::BetSettled(e) => {
                if e.payout < Decimal::ZERO {
                    return Err(format!("payout {} is negative", e.payout));
                }
                self.check_open_bet(&e.bet_id, e.stake, &e.currency)?;
                let fair = self.bets.get(&e.bet_id).is_some_and(|b| b.fair.is_some());
                match e.roll {
                    Some(roll) if roll >= fair::ROLL_RANGE => {
                        return Err(format!("roll {roll} is out of range"))
                    }
                    Some(_) if !fair => {
                        return Err(format!(
                            "bet '{}' is not fair but settled with a roll",
                            e.bet_id
                        ))
                    }
                    None if fair => {
                        return Err(format!("fair bet '{}' settled without its roll", e.bet_id))
                    }
                    _ => {}
                }
            }
            Event::FairSeedCommitted(e) => {
                if !fair::is_seed_hash(&e.seed_hash) {
                    return Err(format!(
                        "commitment '{}' is not a SHA-256 in hex",
                        e.seed_hash
                    ));
                }
                if self.fair_seeds.contains_key(&e.seed_hash) {
                    return Err(format!("seed {} committed twice", e.seed_hash));
                }
                return Ok(None);
            }
            Event::FairSeedRevealed(e) => {
                let seed = self
                    .fair_seeds
                    .get(&e.seed_hash)
                    .ok_or_else(|| format!("seed {} revealed without a commitment", e.seed_hash))?;
                if seed.revealed.is_some() {
                    return Err(format!("seed {} revealed twice", e.seed_hash));
                }
                if fair::parse_seed(&e.seed)
                    .map(|s| fair::seed_hash(&s))
                    .as_ref()
                    != Some(&e.seed_hash)
                {
                    return Err(format!(
                        "the revealed seed does not hash to its commitment {}",
                        e.seed_hash
                    ));
                }
                return Ok(None);
            }
            Event::RefundNoted(e) => {
                if self.knows_charge(&e.external_ref) {
                    return Err(format!(
                        "refund of '{}' noted while the charge is credited",
                        e.external_ref
                    ));
                }
                if self.noted_refunds.contains(&e.external_ref) {
                    return Err(format!("refund of '{}' noted twice", e.external_ref));
                }
                return Ok(None);
            }
            Event::BetVoided(e) => self.check_open_bet(&e.bet_id, e.stake, &e.currency)?,
            Event::DepositRefunded(e) => {
                let deposit = self
                    .deposits
                    .get(&e.external_ref)
                    .ok_or_else(|| format!("refund of unknown deposit '{}'", e.external_ref))?;
                if deposit.refunded {
                    return Err(format!("deposit '{}' refunded twice", e.external_ref));
                }
                if deposit.refund_pending {
                    return Err(format!(
                        "deposit '{}' refunded while a refund is pending",
                        e.external_ref
                    ));
                }
                same_deposit(deposit, &e.external_ref, &e.method, e.amount, &e.currency)?;
            }
            Event::RefundRequested(e) => {
                let deposit = self.deposit(&e.external_ref)?;
                if deposit.refunded || deposit.refund_pending {
                    return Err(format!(
                        "refund of deposit '{}' requested twice",
                        e.external_ref
                    ));
                }
                same_deposit(deposit, &e.external_ref, &e.method, e.amount, &e.currency)?;
            }
            Event::RefundConfirmed(e) => {
                let deposit = self.pending_refund(&e.external_ref, "confirmed")?;
                same_deposit(deposit, &e.external_ref, &e.method, e.amount, &e.currency)?;
            }
            Event::RefundReversed(e) => {
                let deposit = self.pending_refund(&e.external_ref, "reversed")?;
                same_deposit(deposit, &e.external_ref, &e.method, e.amount, &e.currency)?;
            }
            Event::Adjusted(e) => {
                if e.amount.is_zero() {
                    return Err("an adjustment of zero".to_owned());
                }
            }
            Event::SubscriptionPaid(e) => {
                if e.amount <= Decimal::ZERO {
                    return Err(format!(
                        "subscription charge of {} is not positive",
                        e.amount
                    ));
                }
                if self.knows_charge(&e.external_ref) {
                    return Err(format!("charge '{}' credited twice", e.external_ref));
                }
            }
            Event::SubscriptionRefunded(e) => {
                let charge = self.subscriptions.get(&e.external_ref).ok_or_else(|| {
                    format!("refund of unknown subscription charge '{}'", e.external_ref)
                })?;
                if charge.refunded {
                    return Err(format!("charge '{}' refunded twice", e.external_ref));
                }
                if charge.amount != e.amount
                    || charge.currency != e.currency
                    || charge.method != e.method
                {
                    return Err(format!(
                        "refund of '{}' differs from the charge",
                        e.external_ref
                    ));
                }
            }
        }
        let currency = event.currency().expect("money events have a currency");
        let (cash_before, in_play_before) = (self.cash(currency), self.in_play(currency));
        let (mut cash, mut in_play) = (cash_before, in_play_before);
        for posting in event.postings() {
            let bucket = match &posting.account {
                Account::PlayerCash(_) => &mut cash,
                Account::BetsInPlay => &mut in_play,
                _ => continue,
            };
            *bucket = bucket
                .checked_add(posting.amount)
                .ok_or("a balance overflows")?;
        }
        // Cash goes below zero only through a refund the payment network forced; a player
        // already in debt may still receive money.
        let forced = matches!(event, Event::DepositRefunded(e) if e.forced);
        if cash < Decimal::ZERO && cash < cash_before && !forced {
            return Err(format!(
                "cash {cash_before} {currency} would become {cash}: an overdraft"
            ));
        }
        if in_play < Decimal::ZERO {
            return Err(format!("bets in play would become {in_play} {currency}"));
        }
        Ok(Some(After {
            currency: currency.clone(),
            cash,
            in_play,
        }))
    }

    /// A fair bet may only use a seed committed before it and not revealed yet, a nonce
    /// once, and terms of its own game.
    fn check_fair_bet(&self, bet: &FairBet, game: &str) -> Result<(), String> {
        let seed = self
            .fair_seeds
            .get(&bet.seed_hash)
            .ok_or_else(|| format!("the bet's seed {} was never committed", bet.seed_hash))?;
        if seed.revealed.is_some() {
            return Err(format!(
                "the bet's seed {} was already revealed",
                bet.seed_hash
            ));
        }
        if seed.nonces.contains(&bet.nonce) {
            return Err(format!(
                "nonce {} used twice under seed {}",
                bet.nonce, bet.seed_hash
            ));
        }
        if Terms::parse(&bet.terms).is_none_or(|t| t.game_name() != game) {
            return Err(format!("terms '{}' do not fit a {game} bet", bet.terms));
        }
        Ok(())
    }

    fn check_open_bet(
        &self,
        bet_id: &BetId,
        stake: Decimal,
        currency: &CurrencyCode,
    ) -> Result<(), String> {
        let bet = self
            .bets
            .get(bet_id)
            .ok_or_else(|| format!("unknown bet '{bet_id}' closed"))?;
        if bet.status != BetStatus::Open {
            return Err(format!("bet '{bet_id}' closed twice"));
        }
        if bet.stake != stake || &bet.currency != currency {
            return Err(format!(
                "bet '{bet_id}' closed with another stake or currency"
            ));
        }
        Ok(())
    }

    fn deposit(&self, external_ref: &ExternalRef) -> Result<&Deposit, String> {
        self.deposits
            .get(external_ref)
            .ok_or_else(|| format!("refund of unknown deposit '{external_ref}'"))
    }

    /// The deposit whose refund is `settled` (confirmed, reversed): one must be pending.
    fn pending_refund(
        &self,
        external_ref: &ExternalRef,
        settled: &str,
    ) -> Result<&Deposit, String> {
        let deposit = self.deposit(external_ref)?;
        if !deposit.refund_pending {
            return Err(format!(
                "refund of deposit '{external_ref}' {settled} while none is pending"
            ));
        }
        Ok(deposit)
    }

    fn set_bet_status(&mut self, bet_id: &BetId, status: BetStatus) {
        if let Some(bet) = self.bets.get_mut(bet_id) {
            bet.status = status;
        }
    }
}

/// A refund names the deposit's own method, amount and currency.
fn same_deposit(
    deposit: &Deposit,
    external_ref: &ExternalRef,
    method: &PaymentMethod,
    amount: Decimal,
    currency: &CurrencyCode,
) -> Result<(), String> {
    if deposit.amount != amount || &deposit.currency != currency || &deposit.method != method {
        return Err(format!(
            "refund of '{external_ref}' differs from the deposit"
        ));
    }
    Ok(())
}
