//! `croupier audit verify`: replays the whole log from genesis and checks everything an
//! auditor relies on. The checks are pure (a [`Verifier`] is fed events in order); the
//! first broken rule is a [`Finding`] that names the position and the stream.
//!
//! Checked, event by event: the hash chain (nothing altered, removed or reordered); that
//! each stream's versions follow one another; that every ledger event decodes, belongs to
//! its stream's player and can follow that player's state (postings balance and match the
//! event, no overdraft but a forced refund, a bet closes once, a deposit is refunded
//! once: see `PlayerState::try_apply`); that an idempotency key names one command only;
//! that a payment is credited once across all players; that a head published earlier is
//! still in the chain. Provably fair bets: a bet's seed was committed earlier in its
//! stream and not yet revealed (`try_apply`), a reveal hashes to its commitment, and once
//! a bet is settled and its seed revealed, its roll is recomputed from the seed, client
//! seed and nonce, and its payout from the terms (`ledger::fair::recompute`); bets whose
//! seed is not revealed yet are counted as pending. At the end: that the bets-in-play
//! account equals the open stakes, and (when the read models are at the same head) that
//! the balances, house and finance_daily read models equal what the events add up to.
//! Every amount read from the log is added up with overflow checks: a tampered log may
//! hold any `Decimal`, and a sum that overflows is a finding at its position, never a
//! panic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use ledger::fair::{self, FairBet, ServerSeed};
use ledger::{Account, BetId, BetStatus, Currencies, CurrencyCode, Event, PlayerId, PlayerState};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::event::Hash;
use store::hash::{self, GENESIS};
use store::{codec, EventStore, Metadata, StoredEvent};

use crate::models::{add, Day, Finance};
use crate::pages::Pages;
use crate::projector::{amount, ProjectionError, Projector};
use crate::report::Days;

/// A head as an auditor publishes it: `POS:HEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedHead {
    pub position: u64,
    pub hash: Hash,
}

impl FromStr for PublishedHead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid head '{s}': expected POS:HEX, as `croupier audit head` prints");
        let (position, hex_hash) = s.split_once(':').ok_or_else(bad)?;
        let position = position.parse().map_err(|_| bad())?;
        let hash = hex::decode(hex_hash)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or_else(bad)?;
        // Position 0 is the empty log, whose only head is the genesis hash: any other is
        // not a head `audit head` could have printed, so it is bad input, not evidence.
        if position == 0 && hash != GENESIS {
            return Err(format!(
                "invalid head '{s}': position 0 is the empty log, whose head is 0:{}",
                hex::encode(GENESIS)
            ));
        }
        Ok(Self { position, hash })
    }
}

impl fmt::Display for PublishedHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.position, hex::encode(self.hash))
    }
}

/// The first broken rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub position: u64,
    pub stream: String,
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "position {}, stream '{}': {}",
            self.position, self.stream, self.problem
        )
    }
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub events: u64,
    pub streams: u64,
    pub players: u64,
    /// `POS:HEX` of the newest event; `None` for an empty log.
    pub head: Option<String>,
    /// Whether the balances, house and finance_daily projections were compared with the replay (not
    /// when the log moved on during the audit).
    pub projections_checked: bool,
    /// Provably fair bets recomputed from their revealed seeds, all agreeing.
    pub fair_verified: u64,
    /// Provably fair bets settled under a seed not revealed yet: not checkable yet.
    pub fair_pending: u64,
}

/// A settled provably fair bet, as the audit recomputes it.
#[derive(Debug, Clone)]
struct FairSettlement {
    position: u64,
    stream: String,
    bet_id: BetId,
    fair: FairBet,
    stake: Decimal,
    currency: CurrencyCode,
    payout: Decimal,
    roll: Option<u32>,
}

/// Checks a log fed to it in position order.
pub struct Verifier {
    expected_head: Option<PublishedHead>,
    expected_head_seen: bool,
    position: u64,
    hash: Hash,
    versions: HashMap<String, u64>,
    players: HashMap<PlayerId, PlayerState>,
    /// The `finance_daily` figures, recomputed.
    finance: Finance,
    /// Idempotency keys (hashed, to bound memory) and the command that used each.
    keys: HashMap<[u8; 16], u64>,
    last_key: Option<[u8; 16]>,
    payments: HashSet<(String, String)>,
    /// Every account but player cash, per currency, from the postings.
    house: HashMap<Account, HashMap<CurrencyCode, Decimal>>,
    currencies: Currencies,
    /// Settled fair bets waiting for their seed's reveal, by player and seed hash.
    fair_pending: HashMap<(PlayerId, String), Vec<FairSettlement>>,
    /// Revealed seeds, by player and seed hash.
    fair_revealed: HashMap<(PlayerId, String), ServerSeed>,
    fair_verified: u64,
}

impl Verifier {
    pub fn new(expected_head: Option<PublishedHead>) -> Self {
        Self {
            expected_head,
            // The empty log's head (0 and the genesis hash) is in every chain; another
            // hash at 0 never is.
            expected_head_seen: expected_head
                .is_some_and(|head| head.position == 0 && head.hash == GENESIS),
            position: 0,
            hash: GENESIS,
            versions: HashMap::new(),
            players: HashMap::new(),
            finance: Finance::default(),
            keys: HashMap::new(),
            last_key: None,
            payments: HashSet::new(),
            house: HashMap::new(),
            currencies: Currencies::default(),
            fair_pending: HashMap::new(),
            fair_revealed: HashMap::new(),
            fair_verified: 0,
        }
    }

    /// Checks the next events of the log.
    pub fn feed(&mut self, events: &[StoredEvent]) -> Result<(), Finding> {
        events.iter().try_for_each(|event| self.check(event))
    }

    fn check(&mut self, stored: &StoredEvent) -> Result<(), Finding> {
        let finding = |problem: String| Finding {
            position: stored.position,
            stream: stored.stream.clone(),
            problem,
        };
        (self.position, self.hash) =
            hash::verify((self.position, self.hash), std::slice::from_ref(stored))
                .map_err(|e| finding(chain_problem(&e)))?;
        if let Some(head) = self.expected_head {
            if head.position == stored.position {
                if head.hash != stored.hash {
                    return Err(finding(format!(
                        "the published head {head} is no longer in the chain: this position now has hash {}",
                        hex::encode(stored.hash)
                    )));
                }
                self.expected_head_seen = true;
            }
        }
        let version = match self.versions.get_mut(stored.stream.as_str()) {
            Some(version) => version,
            None => self.versions.entry(stored.stream.clone()).or_insert(0),
        };
        if stored.version != *version + 1 {
            return Err(finding(format!(
                "stream version {} follows version {}",
                stored.version, version
            )));
        }
        *version = stored.version;

        let metadata = Metadata::decode(&stored.metadata)
            .map_err(|e| finding(format!("unreadable metadata: {e}")))?;
        if let Some(key) = &metadata.idempotency_key {
            let digest = key_digest(key);
            // The events of one command are adjacent; a key met again later is reused.
            if self.last_key != Some(digest) {
                if let Some(first) = self.keys.insert(digest, stored.position) {
                    return Err(finding(format!(
                        "idempotency key '{key}' names two commands (first at position {first})"
                    )));
                }
            }
            self.last_key = Some(digest);
        } else {
            self.last_key = None;
        }

        let Some(player) = store::player::player_of(&stored.stream) else {
            return Ok(());
        };
        let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|e| finding(format!("unreadable event: {e}")))?;
        if event.player() != player {
            return Err(finding(format!(
                "the event belongs to player {}, not to this stream",
                event.player()
            )));
        }
        let charge = match &event {
            Event::Deposited(e) => Some((&e.method, &e.external_ref)),
            Event::SubscriptionPaid(e) => Some((&e.method, &e.external_ref)),
            _ => None,
        };
        if let Some((method, external_ref)) = charge {
            if !self
                .payments
                .insert((method.to_string(), external_ref.to_string()))
            {
                return Err(finding(format!(
                    "payment {method} '{external_ref}' is credited a second time"
                )));
            }
        }
        let state = self
            .players
            .entry(player)
            .or_insert_with(|| PlayerState::new(player));
        state
            .try_apply(&event)
            .map_err(|e| finding(e.to_string()))?;
        match &event {
            Event::BetSettled(e) => {
                let fair = state.bets.get(&e.bet_id).and_then(|b| b.fair.clone());
                if let Some(fair) = fair {
                    // The roll and the terms are public at settlement: the payout must be
                    // what they pay now, not only once the seed is revealed.
                    if let (Some(terms), Some(roll)) = (fair::Terms::parse(&fair.terms), e.roll) {
                        let scale = self
                            .currencies
                            .get(&e.currency)
                            .map_err(|_| finding(format!("unknown currency {}", e.currency)))?
                            .scale;
                        let pays = terms
                            .checked_outcome(e.stake, roll, scale)
                            .ok_or_else(|| {
                                finding(format!(
                                    "provably fair bet '{}': the stake {} is too large for what its roll pays to be computed",
                                    e.bet_id, e.stake
                                ))
                            })?
                            .payout;
                        if pays != e.payout {
                            return Err(finding(format!(
                                "provably fair bet '{}' settled with {} where its roll {roll} pays {pays} under {}",
                                e.bet_id, e.payout, fair.terms
                            )));
                        }
                    }
                    let settled = FairSettlement {
                        position: stored.position,
                        stream: stored.stream.clone(),
                        bet_id: e.bet_id.clone(),
                        fair,
                        stake: e.stake,
                        currency: e.currency.clone(),
                        payout: e.payout,
                        roll: e.roll,
                    };
                    let key = (player, settled.fair.seed_hash.clone());
                    match self.fair_revealed.get(&key) {
                        Some(seed) => {
                            let seed = *seed;
                            self.recompute(&seed, &settled)?;
                        }
                        None => self.fair_pending.entry(key).or_default().push(settled),
                    }
                }
            }
            Event::FairSeedRevealed(e) => {
                // try_apply checked that the seed is hex and hashes to its commitment.
                let seed = fair::parse_seed(&e.seed).ok_or_else(|| {
                    finding("the revealed seed is not 32 bytes of hex".to_owned())
                })?;
                let key = (player, e.seed_hash.clone());
                for settled in self.fair_pending.remove(&key).unwrap_or_default() {
                    self.recompute(&seed, &settled)?;
                }
                self.fair_revealed.insert(key, seed);
            }
            _ => {}
        }
        // Every sum of amounts read from the log is checked: a tampered log can hold any
        // `Decimal`, and its overflow is a finding like any other broken rule.
        self.finance
            .add(&event)
            .map_err(|overflow| finding(overflow.to_string()))?;
        for posting in event.postings() {
            if matches!(posting.account, Account::PlayerCash(_)) {
                continue;
            }
            // Looked up before anything is cloned: most postings go to known accounts.
            if !self.house.contains_key(&posting.account) {
                self.house.insert(posting.account.clone(), HashMap::new());
            }
            let currencies = self
                .house
                .get_mut(&posting.account)
                .expect("inserted above");
            match currencies.get_mut(&posting.currency) {
                Some(balance) => add(balance, posting.amount, "house accounts").map_err(|_| {
                    finding(format!(
                        "the {} balance in {} overflows",
                        posting.account, posting.currency
                    ))
                })?,
                None => {
                    currencies.insert(posting.currency.clone(), posting.amount);
                }
            }
        }
        Ok(())
    }

    /// Recomputes a settled fair bet from its revealed seed; the finding names the bet's
    /// settlement.
    fn recompute(&mut self, seed: &ServerSeed, settled: &FairSettlement) -> Result<(), Finding> {
        let scale = self
            .currencies
            .get(&settled.currency)
            .map_or(0, |spec| spec.scale);
        fair::recompute(
            seed,
            &settled.fair,
            settled.stake,
            scale,
            settled.roll,
            settled.payout,
        )
        .map_err(|disagreement| Finding {
            position: settled.position,
            stream: settled.stream.clone(),
            problem: format!(
                "provably fair bet '{}' (seed {}, client seed '{}', nonce {}, terms {}): {disagreement}",
                settled.bet_id,
                settled.fair.seed_hash,
                settled.fair.client_seed,
                settled.fair.nonce,
                settled.fair.terms
            ),
        })?;
        self.fair_verified += 1;
        Ok(())
    }

    /// Balances per player and currency, recomputed from the events alone.
    pub fn balances(&self) -> BTreeMap<(i64, String), (Decimal, Decimal)> {
        let mut balances = BTreeMap::new();
        for (player, state) in &self.players {
            for currency in state.cash.keys().chain(state.in_play.keys()) {
                balances.insert(
                    (player.get(), currency.to_string()),
                    (state.cash(currency), state.in_play(currency)),
                );
            }
        }
        balances
    }

    /// House, clearing and external accounts, recomputed from the events alone.
    pub fn house(&self) -> BTreeMap<(String, String), Decimal> {
        let mut house = BTreeMap::new();
        for (account, currencies) in &self.house {
            for (currency, balance) in currencies {
                house.insert((account.to_string(), currency.to_string()), *balance);
            }
        }
        house
    }

    /// The checks that need the whole log, and the summary.
    pub fn finish(&self) -> Result<Summary, Finding> {
        if let Some(head) = self.expected_head {
            if !self.expected_head_seen {
                let problem = if head.position == 0 {
                    format!("the published head {head} is not the empty log's: position 0 has the genesis hash only")
                } else {
                    format!(
                        "the published head {head} is beyond the end of the log at {}: events were removed",
                        self.position
                    )
                };
                return Err(Finding {
                    position: head.position,
                    stream: String::new(),
                    problem,
                });
            }
        }
        let bets_in_play = |problem: String| Finding {
            position: self.position,
            stream: "house:bets_in_play".to_owned(),
            problem,
        };
        let mut in_play: BTreeMap<CurrencyCode, Decimal> = BTreeMap::new();
        let mut open: BTreeMap<CurrencyCode, Decimal> = BTreeMap::new();
        for state in self.players.values() {
            for (currency, amount) in &state.in_play {
                add(
                    in_play.entry(currency.clone()).or_default(),
                    *amount,
                    "bets in play",
                )
                .map_err(|overflow| bets_in_play(overflow.to_string()))?;
            }
            for bet in state.bets.values().filter(|b| b.status == BetStatus::Open) {
                add(
                    open.entry(bet.currency.clone()).or_default(),
                    bet.stake,
                    "open stakes",
                )
                .map_err(|overflow| bets_in_play(overflow.to_string()))?;
            }
        }
        in_play.retain(|_, amount| !amount.is_zero());
        if in_play != open {
            return Err(bets_in_play(format!(
                "bets in play {in_play:?} differ from the open stakes {open:?}"
            )));
        }
        Ok(Summary {
            events: self.position,
            streams: u64::try_from(self.versions.len()).unwrap_or(u64::MAX),
            players: u64::try_from(self.players.len()).unwrap_or(u64::MAX),
            head: (self.position > 0).then(|| {
                PublishedHead {
                    position: self.position,
                    hash: self.hash,
                }
                .to_string()
            }),
            projections_checked: false,
            fair_verified: self.fair_verified,
            fair_pending: self
                .fair_pending
                .values()
                .map(|bets| u64::try_from(bets.len()).unwrap_or(u64::MAX))
                .sum(),
        })
    }
}

/// How the audit treats the read models.
#[derive(Clone, Copy)]
pub enum Projections<'a> {
    /// Leave them out.
    Skip,
    /// Bring them up to the replayed head, then compare.
    CatchUpAndCompare(&'a Projector),
    /// Compare them as they are, if they are at the replayed head (a read-only replica).
    Compare(&'a Projector),
}

/// Verifies the whole log of `store`, reading it in batches; `progress` hears how many
/// events were checked so far. The read models are then compared with the balances
/// recomputed from the events, as `projections` says. `Ok(Err(finding))` is a log that
/// fails the audit.
pub async fn verify<S: EventStore>(
    store: &S,
    expected_head: Option<PublishedHead>,
    projections: Projections<'_>,
    mut progress: impl FnMut(u64),
) -> Result<Result<Summary, Finding>, ProjectionError> {
    const BATCH_SIZE: u32 = 10_000;
    let mut verifier = Verifier::new(expected_head);
    let mut position = 0;
    // The next page is read while this one is checked.
    let mut pages = Pages::read(store, 0, None, BATCH_SIZE, |events: Vec<StoredEvent>| {
        Ok(events)
    });
    while let Some(page) = pages.next().await? {
        position = page.last;
        if let Err(finding) = verifier.feed(&page.content) {
            return Ok(Err(finding));
        }
        progress(position);
    }
    let mut summary = match verifier.finish() {
        Ok(summary) => summary,
        Err(finding) => return Ok(Err(finding)),
    };
    // Compared at the head the replay reached only: if the log moved on meanwhile, or the
    // read models are elsewhere, the comparison is skipped and the summary says so.
    let projector = match projections {
        Projections::Skip => None,
        Projections::CatchUpAndCompare(projector) => {
            let reached = projector
                .catch_up(store, crate::projector::BATCH_SIZE, |_| {})
                .await?;
            (reached == position).then_some(projector)
        }
        Projections::Compare(projector) => {
            let checkpoints = projector.checkpoints().await?;
            checkpoints
                .iter()
                .all(|c| c.position == position)
                .then_some(projector)
        }
    };
    if let Some(projector) = projector {
        if let Err(finding) = compare(&verifier, projector, position).await? {
            return Ok(Err(finding));
        }
        summary.projections_checked = true;
    }
    Ok(Ok(summary))
}

/// The read models against the replay: every row, both ways.
async fn compare(
    verifier: &Verifier,
    projector: &Projector,
    position: u64,
) -> Result<Result<(), Finding>, ProjectionError> {
    let mut projected = BTreeMap::new();
    for row in projector.balances().await? {
        projected.insert(
            (row.player, row.currency),
            (amount(row.balance)?, amount(row.in_play)?),
        );
    }
    if let Some((key, from_table, from_log)) = first_difference(&projected, &verifier.balances()) {
        return Ok(Err(Finding {
            position,
            stream: format!("player-{}", key.0),
            problem: format!(
                "the balances projection holds {} for {}, the events add up to {}",
                shown(from_table),
                key.1,
                shown(from_log)
            ),
        }));
    }
    let mut house = BTreeMap::new();
    for (account, currency, balance) in projector.house_accounts().await? {
        house.insert((account, currency), amount(balance)?);
    }
    if house != verifier.house() {
        return Ok(Err(Finding {
            position,
            stream: "house".to_owned(),
            problem: format!(
                "the house projection holds {house:?}, the events add up to {:?}",
                verifier.house()
            ),
        }));
    }
    let mut projected = BTreeMap::new();
    for row in projector.daily(&Days::default()).await? {
        let day = Day {
            deposits: amount(row.deposits)?,
            refunds: amount(row.refunds)?,
            stakes: amount(row.stakes)?,
            payouts: amount(row.payouts)?,
            bets: row.bets,
        };
        if day.ggr() != Some(amount(row.ggr)?) {
            return Ok(Err(Finding {
                position,
                stream: "finance_daily".to_owned(),
                problem: format!(
                    "the finance_daily projection's GGR for {} {} is not its stakes less its payouts",
                    row.day, row.currency
                ),
            }));
        }
        projected.insert((row.day, row.currency), (day, row.active_players));
    }
    let replayed: BTreeMap<_, _> = verifier
        .finance
        .days()
        .map(|((day, currency), activity)| {
            let players = i64::try_from(activity.players.len()).unwrap_or(i64::MAX);
            let key = (day.to_owned(), currency.to_owned());
            (key, (activity.totals.clone(), players))
        })
        .collect();
    if let Some((key, from_table, from_log)) = first_difference(&projected, &replayed) {
        return Ok(Err(Finding {
            position,
            stream: "finance_daily".to_owned(),
            problem: format!(
                "the finance_daily projection holds {from_table:?} for {} {}, the events add up to {from_log:?}",
                key.0, key.1
            ),
        }));
    }
    Ok(Ok(()))
}

/// The first key, in order, whose value differs between a read model and the replay
/// (missing on one side counts), with both values.
fn first_difference<'a, K: Ord, V: PartialEq>(
    table: &'a BTreeMap<K, V>,
    log: &'a BTreeMap<K, V>,
) -> Option<(&'a K, Option<&'a V>, Option<&'a V>)> {
    let keys: std::collections::BTreeSet<&K> = table.keys().chain(log.keys()).collect();
    keys.into_iter()
        .map(|key| (key, table.get(key), log.get(key)))
        .find(|(_, in_table, in_log)| in_table != in_log)
}

fn shown(balance: Option<&(Decimal, Decimal)>) -> String {
    balance.map_or("nothing".to_owned(), |(cash, in_play)| {
        format!("cash {cash}, in play {in_play}")
    })
}

fn key_digest(key: &str) -> [u8; 16] {
    let digest = Sha256::digest(key.as_bytes());
    let mut short = [0; 16];
    short.copy_from_slice(&digest[..16]);
    short
}

fn chain_problem(error: &hash::ChainError) -> String {
    match error {
        hash::ChainError::Gap { expected, .. } => {
            format!("the hash chain is broken: position {expected} is missing or out of order")
        }
        hash::ChainError::Broken { .. } => {
            "the hash chain is broken: the previous hash is not the hash of the event before"
                .to_owned()
        }
        hash::ChainError::Altered { .. } => {
            "the event was altered: its content does not match its hash".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::wire::parse_command;
    use ledger::{Ledger, Timestamp};
    use store::append::Chain;

    /// Seals commands (JSON lines, each decided against its player's state) into a
    /// log, as the writer would, whatever the store's guards would have said.
    fn log(lines: &[&str]) -> Vec<StoredEvent> {
        let mut chain = Chain::after(None, 0);
        let mut players: HashMap<PlayerId, PlayerState> = HashMap::new();
        let mut events = Vec::new();
        for line in lines {
            let request = parse_command(line).unwrap();
            let player = request.command.player();
            let state = players
                .entry(player)
                .or_insert_with(|| PlayerState::new(player));
            for event in Ledger::default()
                .decide(state, &request.command, Timestamp::default())
                .unwrap()
            {
                state.apply(&event);
                let metadata = Metadata {
                    idempotency_key: Some(request.idempotency_key.to_string()),
                    ..Metadata::default()
                };
                let stream = store::player::stream_of(player);
                events.push(chain.seal_event(&stream, state.version, &event, metadata));
            }
        }
        events
    }

    fn deposit(key: &str, player: i64, charge: &str) -> String {
        format!(
            r#"{{"type":"deposit","idempotency_key":"{key}","player":{player},"amount":"5","currency":"XTR","method":"telegram_stars","external_ref":"{charge}"}}"#
        )
    }

    fn check(events: &[StoredEvent]) -> Result<Summary, Finding> {
        let mut verifier = Verifier::new(None);
        verifier.feed(events)?;
        verifier.finish()
    }

    fn check_with(events: &[StoredEvent], head: PublishedHead) -> Result<Summary, Finding> {
        let mut verifier = Verifier::new(Some(head));
        verifier.feed(events)?;
        verifier.finish()
    }

    #[test]
    fn a_key_used_by_two_commands_is_caught() {
        let events = log(&[
            &deposit("k1", 1, "c1"),
            &deposit("k2", 1, "c2"),
            &deposit("k1", 2, "c3"),
        ]);
        let finding = check(&events).unwrap_err();
        assert_eq!(finding.position, 3);
        assert!(
            finding
                .problem
                .contains("names two commands (first at position 1)"),
            "{finding}"
        );
    }

    #[test]
    fn a_payment_credited_to_two_players_is_caught() {
        let events = log(&[&deposit("k1", 1, "c1"), &deposit("k2", 2, "c1")]);
        let finding = check(&events).unwrap_err();
        assert_eq!((finding.position, finding.stream.as_str()), (2, "player-2"));
        assert!(
            finding.problem.contains("credited a second time"),
            "{finding}"
        );
    }

    #[test]
    fn published_heads_parse_and_print_alike() {
        let head: PublishedHead = format!("42:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(head.to_string(), format!("42:{}", "ab".repeat(32)));
        for bad in ["42", "x:00", "42:zz", "42:abcd"] {
            assert!(bad.parse::<PublishedHead>().is_err(), "{bad}");
        }
        // The empty log's head, as `audit head` prints it, and nothing else at 0.
        let empty: PublishedHead = format!("0:{}", "00".repeat(32)).parse().unwrap();
        assert_eq!(check_with(&[], empty).unwrap().events, 0);
        assert_eq!(
            check_with(&log(&[&deposit("k1", 1, "c1")]), empty)
                .unwrap()
                .events,
            1
        );
        let bad = format!("0:{}", "ab".repeat(32))
            .parse::<PublishedHead>()
            .unwrap_err();
        assert!(bad.contains("position 0 is the empty log"), "{bad}");
    }
}
