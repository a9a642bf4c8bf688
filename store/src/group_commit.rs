//! Group commit: one writer task per process takes every command waiting at that moment
//! and commits them in one transaction (one fsync), while each command keeps its own
//! idempotency check, its own stream-version check and its own outcome.
//!
//! The writer keeps the states of the players it has seen, current as of the head it last
//! committed. Two paths:
//!
//! - Fast: decide the batch from the cache and append it with one statement that takes
//!   the write lock, checks that the head is still the one the batch was sealed for, and
//!   inserts events and idempotency records. Nothing else moved, so every state and every
//!   stream version the decisions read is still true. If another writer appended first,
//!   or a key or payment was already recorded (its primary key refuses it), the statement
//!   writes nothing and the locked path runs.
//! - Locked: take the write lock; fold in the events other writers appended since this
//!   one's last commit (so no cached state is stale); look the keys up (a known key is a
//!   replay or a conflict); load players not cached; decide; insert; commit.
//!
//! Either way, commands are decided in order, so two commands for one player in one batch
//! see each other. If the append fails, nothing of the batch is recorded, every caller
//! gets the error (transient failures are never recorded against a key, so a retry runs
//! for real), and the cache is dropped.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use ledger::command::Request;
use ledger::session::SessionEvent;
use ledger::{
    Command, Event, EventRef, Ledger, Outcome, OutcomeKind, PlayerId, PlayerState, Rejection,
    Timestamp,
};
use tokio::sync::{mpsc, oneshot};

use crate::append::{now_micros, Chain};
use crate::codec;
use crate::event::{Append, ClaimedDeposit, DepositRef, Head, Metadata, StoredEvent};
use crate::player::{self, player_of, stream_of};
use crate::record::CommandRecord;
use crate::{EventStore, StoreError, WriteTx};

/// Limits of the writer.
#[derive(Debug, Clone)]
pub struct GroupCommitConfig {
    /// The most commands committed in one transaction.
    pub batch_size_max: usize,
    /// Commands waiting for the writer before `submit` itself waits (backpressure).
    pub queue_size_max: usize,
    /// Player states kept in memory; past this the cache is emptied and refilled from
    /// the log on demand.
    pub cached_players_max: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            batch_size_max: 512,
            queue_size_max: 8192,
            cached_players_max: 100_000,
        }
    }
}

/// A command and where it came from.
#[derive(Debug, Clone)]
pub struct Submission {
    pub request: Request,
    /// What caused it, such as `telegram_update:123`.
    pub causation: Option<String>,
    /// Who sent it: `cli`, `bot`, a staff member.
    pub actor: Option<String>,
}

impl Submission {
    pub fn new(request: Request) -> Self {
        Self {
            request,
            causation: None,
            actor: None,
        }
    }
}

/// Events of a conversation session stream (no money), appended at the version the
/// caller read, in the same transaction as the commands of their [`Unit`].
#[derive(Debug, Clone)]
pub struct SessionStep {
    pub stream: String,
    /// The version the caller decided on: if the stream is elsewhere, nothing of the unit
    /// is written ([`UnitOutcome::Moved`]).
    pub expected_version: u64,
    /// Each event, and the index of the unit's command that must be accepted (now or
    /// before) for it to be written.
    pub events: Vec<(SessionEvent, Option<usize>)>,
    pub causation: Option<String>,
}

/// What one input decided, committed all at once: its commands in order and the step of
/// its session. Either all of it is in the log, or none of it.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// Each command, and the index of an earlier command of the unit that must be
    /// accepted (now or before) for it to be decided at all; a command skipped so is
    /// not recorded, and its key stays free.
    pub commands: Vec<(Submission, Option<usize>)>,
    pub session: Option<SessionStep>,
}

/// What became of a [`Unit`].
#[derive(Debug, Clone, PartialEq)]
pub enum UnitOutcome {
    /// Committed: each command's outcome (`None`: skipped, its condition unmet), and the
    /// session stream's version after the step.
    Committed {
        outcomes: Vec<Option<Outcome>>,
        session_version: Option<u64>,
    },
    /// The session stream was at `version`, not the expected one: nothing was written.
    /// Decide the input again from the session as it is now.
    Moved { version: u64 },
}

struct Job {
    unit: Unit,
    reply: oneshot::Sender<Result<UnitOutcome, StoreError>>,
}

/// A handle to the process's ledger writer. Cheap to clone; the writer stops when the
/// last handle is dropped, after finishing what was submitted.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer task on the current tokio runtime.
    pub fn start<S: EventStore>(store: S, ledger: Ledger, config: GroupCommitConfig) -> Self {
        let (jobs, queue) = mpsc::channel(config.queue_size_max);
        let writer = Writer {
            store,
            ledger,
            config,
            players: HashMap::new(),
            sessions: HashMap::new(),
            known_head: None,
        };
        tokio::spawn(writer.run(queue));
        Self { jobs }
    }

    /// Submits a command and waits for its outcome. A business rejection or an
    /// idempotency conflict is an `Ok` outcome; `Err` means the database failed and
    /// nothing was recorded.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, StoreError> {
        let unit = Unit {
            commands: vec![(submission, None)],
            session: None,
        };
        match self.commit(unit).await? {
            UnitOutcome::Committed { mut outcomes, .. } => Ok(outcomes
                .pop()
                .flatten()
                .expect("an unconditional command is always decided")),
            UnitOutcome::Moved { .. } => unreachable!("a unit without a session step never moves"),
        }
    }

    /// Commits a unit: its commands decided in order and its session step, in the same
    /// transaction as the rest of the batch, or nothing of it. `Err` means the database
    /// failed and nothing was recorded.
    pub async fn commit(&self, unit: Unit) -> Result<UnitOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { unit, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Resolves once the writer task has stopped. It runs while a handle lives, so
    /// while the caller holds this one that means it died (a panic): every commit fails
    /// from then on ([`StoreError::WriterStopped`]), and the process should stop.
    pub async fn stopped(&self) {
        self.jobs.closed().await;
    }
}

struct Writer<S> {
    store: S,
    ledger: Ledger,
    config: GroupCommitConfig,
    /// Player states, each current as of `known_head` when that is `Some`.
    players: HashMap<PlayerId, PlayerState>,
    /// Session stream versions, current as of `known_head` like `players`.
    sessions: HashMap<String, u64>,
    /// The head this writer last saw committed (`Some(None)`: an empty log), or `None`
    /// when it does not know (at start, after an error).
    known_head: Option<Option<Head>>,
}

/// What deciding a batch produced, ready to append.
struct Decided {
    batch: Append,
    outcomes: Vec<Result<UnitOutcome, StoreError>>,
    head: Option<Head>,
}

/// A batch being decided: the chain it is sealed into and what it will append.
struct Sealing {
    chain: Chain,
    now: Timestamp,
    events: Vec<StoredEvent>,
    records: Vec<CommandRecord>,
    deposits: Vec<ClaimedDeposit>,
    new_keys: HashMap<String, usize>,
}

/// Players whose stream could not be read: their commands fail, the others go on.
type Unreadable = HashMap<PlayerId, Arc<StoreError>>;

impl<S: EventStore> Writer<S> {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.recv().await {
            #[cfg(feature = "failpoints")]
            if std::env::var("CROUPIER_FAILPOINT").is_ok_and(|point| point == "writer_panics") {
                panic!("failpoint writer_panics reached");
            }
            let mut jobs = vec![first];
            self.drain(&mut queue, &mut jobs);
            if self.players.len() > self.config.cached_players_max
                || self.sessions.len() > self.config.cached_players_max
            {
                self.players.clear();
                self.sessions.clear();
            }
            match self.commit_batch(&jobs).await {
                Ok(outcomes) => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        // A caller that gave up waiting changes nothing: it is recorded.
                        let _ = job.reply.send(outcome);
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        error = %error.chain(),
                        commands = jobs.len(),
                        "ledger batch failed; if it failed while committing, its outcome is unknown and a retry with the same keys is safe"
                    );
                    self.forget();
                    let error = Arc::new(error);
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::Shared(error.clone())));
                    }
                }
            }
        }
    }

    fn drain(&self, queue: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>) {
        while jobs.len() < self.config.batch_size_max {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
    }

    /// Drops everything cached: the next batch takes the locked path and reloads.
    fn forget(&mut self) {
        self.players.clear();
        self.sessions.clear();
        self.known_head = None;
    }

    async fn commit_batch(
        &mut self,
        jobs: &[Job],
    ) -> Result<Vec<Result<UnitOutcome, StoreError>>, StoreError> {
        if let Some(head) = self.known_head {
            // Fast path: decide from the cache and append in one statement, which refuses
            // (writing nothing) if anyone appended since `head` or a key was used before.
            // What is read here without the lock is only trusted if that statement finds
            // the head unmoved, and then nothing can have changed since.
            let mut unreadable = Unreadable::new();
            for player in distinct(jobs.iter().flat_map(|j| players_of(&j.unit))) {
                if let Entry::Vacant(slot) = self.players.entry(player) {
                    match player::load(&self.store, player).await {
                        Ok(state) => {
                            slot.insert(state);
                        }
                        Err(e @ StoreError::Corrupt { .. }) => {
                            unreadable.insert(player, Arc::new(e));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            for step in jobs.iter().filter_map(|j| j.unit.session.as_ref()) {
                if !self.sessions.contains_key(&step.stream) {
                    // From the version before the one expected: an empty answer then
                    // means the stream is shorter than the caller thinks.
                    let events = self
                        .store
                        .read_stream(&step.stream, step.expected_version.saturating_sub(1))
                        .await?;
                    let version = events.last().map_or(0, |e| e.version);
                    self.sessions.insert(step.stream.clone(), version);
                }
            }
            let decided =
                self.decide_batch(jobs, &HashMap::new(), &HashSet::new(), &unreadable, head);
            let appended = self.store.append_if_head(head, &decided.batch).await;
            match appended {
                Ok(true) => {
                    self.known_head = Some(decided.head);
                    return Ok(decided.outcomes);
                }
                // Another writer appended first, or a key or payment was seen before: the
                // cached states the batch touched hold events that were never written.
                Ok(false) | Err(StoreError::Conflict(_)) => {
                    for job in jobs {
                        for player in players_of(&job.unit) {
                            self.players.remove(&player);
                        }
                        if let Some(step) = &job.unit.session {
                            self.sessions.remove(&step.stream);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.commit_batch_locked(jobs).await
    }

    /// The locked path: under the write lock, catch the cache up with what others
    /// appended, look the keys up, then decide and append.
    async fn commit_batch_locked(
        &mut self,
        jobs: &[Job],
    ) -> Result<Vec<Result<UnitOutcome, StoreError>>, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let head = tx.head();
        match self.known_head {
            Some(known) => {
                let after = known.map_or(0, |h| h.position);
                let missed = tx.read_after(after, MISSED_EVENTS_MAX).await?;
                if missed.len() >= usize::try_from(MISSED_EVENTS_MAX).unwrap_or(usize::MAX) {
                    self.players.clear();
                    self.sessions.clear();
                } else {
                    self.fold_in(&missed);
                }
            }
            None => {
                self.players.clear();
                self.sessions.clear();
            }
        }
        let keys = distinct(jobs.iter().flat_map(|j| {
            j.unit
                .commands
                .iter()
                .map(|(s, _)| s.request.idempotency_key.to_string())
        }));
        let recorded = tx.find_commands(&keys).await?;
        let deposits: Vec<DepositRef> = distinct(jobs.iter().flat_map(|j| {
            j.unit
                .commands
                .iter()
                .filter_map(|(s, _)| deposit_ref(&s.request.command))
        }));
        // Most batches are bets: no round trip under the lock for no deposits.
        let claimed = if deposits.is_empty() {
            HashSet::new()
        } else {
            tx.find_deposits(&deposits).await?
        };
        let mut unreadable = Unreadable::new();
        for player in distinct(jobs.iter().flat_map(|j| players_of(&j.unit))) {
            if let Entry::Vacant(slot) = self.players.entry(player) {
                let events = tx.read_stream(&stream_of(player), 0).await?;
                match player::fold(player, &events) {
                    Ok(state) => {
                        slot.insert(state);
                    }
                    Err(e) => {
                        unreadable.insert(player, Arc::new(e));
                    }
                }
            }
        }
        let streams: Vec<String> = distinct(
            jobs.iter()
                .filter_map(|j| j.unit.session.as_ref().map(|s| s.stream.clone()))
                .filter(|stream| !self.sessions.contains_key(stream)),
        );
        if !streams.is_empty() {
            let versions = tx.stream_versions(&streams).await?;
            for stream in streams {
                let version = versions.get(&stream).copied().unwrap_or(0);
                self.sessions.insert(stream, version);
            }
        }
        let decided = self.decide_batch(jobs, &recorded, &claimed, &unreadable, head);
        tx.insert(&decided.batch).await?;
        tx.commit().await?;
        self.known_head = Some(decided.head);
        Ok(decided.outcomes)
    }

    /// Applies events other writers appended to the cached states they touch. An event
    /// already applied (the state was loaded after it) is skipped; a state that cannot
    /// take an event in order is dropped, to be reloaded when needed.
    fn fold_in(&mut self, events: &[StoredEvent]) {
        for stored in events {
            if let Some(version) = self.sessions.get_mut(&stored.stream) {
                if stored.version == *version + 1 {
                    *version = stored.version;
                } else if stored.version > *version {
                    self.sessions.remove(&stored.stream);
                }
                continue;
            }
            let Some(player) = player_of(&stored.stream) else {
                continue;
            };
            let Some(state) = self.players.get_mut(&player) else {
                continue;
            };
            if stored.version <= state.version {
                continue;
            }
            let applied = stored.version == state.version + 1
                && codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
                    .ok()
                    .is_some_and(|event| state.try_apply(&event).is_ok());
            if !applied {
                self.players.remove(&player);
            }
        }
    }

    /// Decides each unit in order against the cached states (every player and session
    /// of the batch is loaded), sealing accepted events into the chain after `head`.
    /// `recorded` holds the batch's keys already recorded, `claimed` its payments
    /// already credited.
    fn decide_batch(
        &mut self,
        jobs: &[Job],
        recorded: &HashMap<String, CommandRecord>,
        claimed: &HashSet<DepositRef>,
        unreadable: &Unreadable,
        head: Option<Head>,
    ) -> Decided {
        let chain = Chain::after(head, now_micros());
        let mut sealing = Sealing {
            now: Timestamp::from_micros(chain.recorded_at()),
            chain,
            events: Vec::new(),
            records: Vec::new(),
            deposits: Vec::new(),
            new_keys: HashMap::new(),
        };
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            let unit = &job.unit;
            // A player whose stream cannot be read fails the whole unit, before any of
            // it is decided.
            if let Some(error) = players_of(unit).find_map(|p| unreadable.get(&p)) {
                outcomes.push(Err(StoreError::Shared(error.clone())));
                continue;
            }
            if let Some(step) = &unit.session {
                let version = self.sessions[&step.stream];
                if version != step.expected_version {
                    outcomes.push(Ok(UnitOutcome::Moved { version }));
                    continue;
                }
            }
            let mut decided: Vec<Option<Outcome>> = Vec::with_capacity(unit.commands.len());
            for (submission, requires) in &unit.commands {
                if !accepted(&decided, *requires) {
                    decided.push(None);
                    continue;
                }
                let outcome = self.decide_one(submission, recorded, claimed, &mut sealing);
                decided.push(Some(outcome));
            }
            let session_version = unit.session.as_ref().map(|step| {
                let version = self
                    .sessions
                    .get_mut(&step.stream)
                    .expect("every session of the batch was loaded");
                let metadata = Metadata {
                    idempotency_key: None,
                    causation: step.causation.clone(),
                    actor: Some("bot".to_owned()),
                };
                for (event, requires) in &step.events {
                    if !accepted(&decided, *requires) {
                        continue;
                    }
                    let mut new = codec::encode_session(event);
                    new.metadata = metadata.clone();
                    *version += 1;
                    sealing
                        .events
                        .push(sealing.chain.seal(&step.stream, *version, new));
                }
                *version
            });
            outcomes.push(Ok(UnitOutcome::Committed {
                outcomes: decided,
                session_version,
            }));
        }
        let head = Head::after(head, &sealing.events);
        Decided {
            batch: Append {
                events: sealing.events,
                commands: sealing.records,
                deposits: sealing.deposits,
            },
            outcomes,
            head,
        }
    }

    /// Decides one command (a replay when its key is known) and seals what it appends.
    fn decide_one(
        &mut self,
        submission: &Submission,
        recorded: &HashMap<String, CommandRecord>,
        claimed: &HashSet<DepositRef>,
        sealing: &mut Sealing,
    ) -> Outcome {
        let request = &submission.request;
        let key = request.idempotency_key.to_string();
        let earlier = recorded
            .get(&key)
            .or_else(|| sealing.new_keys.get(&key).map(|&i| &sealing.records[i]));
        if let Some(earlier) = earlier {
            return replay(earlier, request);
        }
        let player = request.command.player();
        let stream = stream_of(player);
        let state = self
            .players
            .get_mut(&player)
            .expect("every player of the batch was loaded");
        // A payment is credited once across all players. The ledger checks the player's
        // own deposits; other players' are in other streams, so the store checks those,
        // after the ledger's own checks, and with a unique key in the database.
        let payment = deposit_ref(&request.command);
        let decision = self
            .ledger
            .decide(state, &request.command, sealing.now)
            .and_then(|decided| match (&payment, &request.command) {
                (
                    Some(p),
                    Command::Deposit { external_ref, .. }
                    | Command::PaySubscription { external_ref, .. },
                ) if claimed.contains(p) || sealing.deposits.iter().any(|d| &d.deposit == p) => {
                    Err(Rejection::DuplicateDeposit {
                        external_ref: external_ref.clone(),
                    })
                }
                _ => Ok(decided),
            });
        let (kind, events_appended) = match decision {
            Ok(decided) => {
                let metadata = Metadata {
                    idempotency_key: Some(key.clone()),
                    causation: submission.causation.clone(),
                    actor: submission.actor.clone(),
                };
                let mut refs = Vec::with_capacity(decided.len());
                for event in &decided {
                    state.apply(event);
                    let stored =
                        sealing
                            .chain
                            .seal_event(&stream, state.version, event, metadata.clone());
                    refs.push(EventRef {
                        position: stored.position,
                        stream: stream.clone(),
                        version: stored.version,
                        event_type: stored.event_type.clone(),
                    });
                    if let (Some(deposit), Event::Deposited(_) | Event::SubscriptionPaid(_)) =
                        (&payment, event)
                    {
                        sealing.deposits.push(ClaimedDeposit {
                            deposit: deposit.clone(),
                            stream: stream.clone(),
                            position: stored.position,
                        });
                    }
                    sealing.events.push(stored);
                }
                (OutcomeKind::Accepted, refs)
            }
            Err(rejection) => (rejected(&rejection), Vec::new()),
        };
        let outcome = Outcome {
            kind,
            replayed: false,
            events: events_appended,
            balances: balances(state),
        };
        let record = CommandRecord {
            idempotency_key: key.clone(),
            stream,
            command_type: request.command.kind().to_owned(),
            fingerprint: request.command.fingerprint(),
            outcome: outcome.clone(),
            recorded_at: sealing.chain.recorded_at(),
        };
        sealing.new_keys.insert(key, sealing.records.len());
        sealing.records.push(record);
        outcome
    }
}

/// The players whose states a unit's commands read.
fn players_of(unit: &Unit) -> impl Iterator<Item = PlayerId> + '_ {
    unit.commands
        .iter()
        .map(|(submission, _)| submission.request.command.player())
}

/// Whether a unit's condition holds: no condition, or the command it names accepted.
fn accepted(decided: &[Option<Outcome>], requires: Option<usize>) -> bool {
    requires.is_none_or(|i| {
        decided
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|o| matches!(o.kind, OutcomeKind::Accepted))
    })
}

/// The payment a deposit command would credit.
fn deposit_ref(command: &Command) -> Option<DepositRef> {
    match command {
        Command::Deposit {
            method,
            external_ref,
            ..
        }
        | Command::PaySubscription {
            method,
            external_ref,
            ..
        } => Some(DepositRef {
            method: method.to_string(),
            external_ref: external_ref.to_string(),
        }),
        _ => None,
    }
}

/// Past this many events appended by other writers since this one last committed, the
/// cache is dropped rather than caught up.
const MISSED_EVENTS_MAX: u32 = 10_000;

/// The outcome for a key seen before: the original outcome marked as a replay when the
/// content matches, otherwise a conflict naming the first differing field.
fn replay(earlier: &CommandRecord, request: &Request) -> Outcome {
    match earlier
        .fingerprint
        .first_difference(&request.command.fingerprint())
    {
        None => earlier.outcome.as_replay(),
        Some(field) => Outcome::conflict(field),
    }
}

fn rejected(rejection: &Rejection) -> OutcomeKind {
    OutcomeKind::Rejected {
        code: rejection.code(),
        message: rejection.to_string(),
    }
}

fn balances(state: &PlayerState) -> BTreeMap<String, String> {
    state
        .cash
        .iter()
        .map(|(currency, amount)| (currency.to_string(), amount.to_string()))
        .collect()
}

fn distinct<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|item| seen.insert(item.clone())).collect()
}
