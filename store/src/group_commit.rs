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

struct Job {
    submission: Submission,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
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
            known_head: None,
        };
        tokio::spawn(writer.run(queue));
        Self { jobs }
    }

    /// Submits a command and waits for its outcome. A business rejection or an
    /// idempotency conflict is an `Ok` outcome; `Err` means the database failed and
    /// nothing was recorded.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { submission, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

struct Writer<S> {
    store: S,
    ledger: Ledger,
    config: GroupCommitConfig,
    /// Player states, each current as of `known_head` when that is `Some`.
    players: HashMap<PlayerId, PlayerState>,
    /// The head this writer last saw committed (`Some(None)`: an empty log), or `None`
    /// when it does not know (at start, after an error).
    known_head: Option<Option<Head>>,
}

/// What deciding a batch produced, ready to append.
struct Decided {
    batch: Append,
    outcomes: Vec<Result<Outcome, StoreError>>,
    head: Option<Head>,
}

/// Players whose stream could not be read: their commands fail, the others go on.
type Unreadable = HashMap<PlayerId, Arc<StoreError>>;

impl<S: EventStore> Writer<S> {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.recv().await {
            let mut jobs = vec![first];
            self.drain(&mut queue, &mut jobs);
            if self.players.len() > self.config.cached_players_max {
                self.players.clear();
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
        self.known_head = None;
    }

    async fn commit_batch(
        &mut self,
        jobs: &[Job],
    ) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        if let Some(head) = self.known_head {
            // Fast path: decide from the cache and append in one statement, which refuses
            // (writing nothing) if anyone appended since `head` or a key was used before.
            let mut unreadable = Unreadable::new();
            for player in distinct(jobs.iter().map(|j| j.submission.request.command.player())) {
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
                        self.players
                            .remove(&job.submission.request.command.player());
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
    ) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let head = tx.head();
        match self.known_head {
            Some(known) => {
                let after = known.map_or(0, |h| h.position);
                let missed = tx.read_after(after, MISSED_EVENTS_MAX).await?;
                if missed.len() >= usize::try_from(MISSED_EVENTS_MAX).unwrap_or(usize::MAX) {
                    self.players.clear();
                } else {
                    self.fold_in(&missed);
                }
            }
            None => self.players.clear(),
        }
        let keys = distinct(
            jobs.iter()
                .map(|j| j.submission.request.idempotency_key.to_string()),
        );
        let recorded = tx.find_commands(&keys).await?;
        let deposits: Vec<DepositRef> = distinct(
            jobs.iter()
                .filter_map(|j| deposit_ref(&j.submission.request.command)),
        );
        // Most batches are bets: no round trip under the lock for no deposits.
        let claimed = if deposits.is_empty() {
            HashSet::new()
        } else {
            tx.find_deposits(&deposits).await?
        };
        let mut unreadable = Unreadable::new();
        for player in distinct(jobs.iter().map(|j| j.submission.request.command.player())) {
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

    /// Decides each command in order against the cached states (every player of the
    /// batch is loaded), sealing accepted events into the chain after `head`. `recorded`
    /// holds the batch's keys already recorded, `claimed` its payments already credited.
    fn decide_batch(
        &mut self,
        jobs: &[Job],
        recorded: &HashMap<String, CommandRecord>,
        claimed: &HashSet<DepositRef>,
        unreadable: &Unreadable,
        head: Option<Head>,
    ) -> Decided {
        let mut chain = Chain::after(head, now_micros());
        let now = Timestamp::from_micros(chain.recorded_at());
        let mut events: Vec<StoredEvent> = Vec::new();
        let mut records: Vec<CommandRecord> = Vec::new();
        let mut deposits: Vec<ClaimedDeposit> = Vec::new();
        let mut new_keys: HashMap<String, usize> = HashMap::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            let request = &job.submission.request;
            let key = request.idempotency_key.to_string();
            let earlier = recorded
                .get(&key)
                .or_else(|| new_keys.get(&key).map(|&i| &records[i]));
            if let Some(earlier) = earlier {
                outcomes.push(Ok(replay(earlier, request)));
                continue;
            }
            let player = request.command.player();
            if let Some(error) = unreadable.get(&player) {
                outcomes.push(Err(StoreError::Shared(error.clone())));
                continue;
            }
            let stream = stream_of(player);
            let state = self
                .players
                .get_mut(&player)
                .expect("every player of the batch was loaded");
            // A payment is credited once across all players. The ledger checks the
            // player's own deposits; other players' are in other streams, so the store
            // checks those, after the ledger's own checks, and with a unique key in the
            // database.
            let payment = deposit_ref(&request.command);
            let decision = self
                .ledger
                .decide(state, &request.command, now)
                .and_then(|decided| match (&payment, &request.command) {
                    (
                        Some(p),
                        Command::Deposit { external_ref, .. }
                        | Command::PaySubscription { external_ref, .. },
                    ) if claimed.contains(p) || deposits.iter().any(|d| &d.deposit == p) => {
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
                        causation: job.submission.causation.clone(),
                        actor: job.submission.actor.clone(),
                    };
                    let mut refs = Vec::with_capacity(decided.len());
                    for event in &decided {
                        state.apply(event);
                        let stored =
                            chain.seal_event(&stream, state.version, event, metadata.clone());
                        refs.push(EventRef {
                            position: stored.position,
                            stream: stream.clone(),
                            version: stored.version,
                            event_type: stored.event_type.clone(),
                        });
                        if let (Some(deposit), Event::Deposited(_) | Event::SubscriptionPaid(_)) =
                            (&payment, event)
                        {
                            deposits.push(ClaimedDeposit {
                                deposit: deposit.clone(),
                                stream: stream.clone(),
                                position: stored.position,
                            });
                        }
                        events.push(stored);
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
            outcomes.push(Ok(outcome.clone()));
            let record = CommandRecord {
                idempotency_key: key.clone(),
                stream,
                command_type: request.command.kind().to_owned(),
                fingerprint: request.command.fingerprint(),
                outcome,
                recorded_at: chain.recorded_at(),
            };
            new_keys.insert(key, records.len());
            records.push(record);
        }
        let head = Head::after(head, &events);
        Decided {
            batch: Append {
                events,
                commands: records,
                deposits,
            },
            outcomes,
            head,
        }
    }
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
