//! Group commit: one writer task per process takes every command waiting at that moment
//! and commits them in one transaction (one fsync), while each command keeps its own
//! idempotency check, its own stream-version check and its own outcome.
//!
//! For each batch, under the log's write lock:
//! 1. look up the batch's idempotency keys: a known key is a replay or a conflict;
//! 2. read each touched stream's version; a cached player state that is behind (another
//!    process appended) is caught up from the stream before anything is decided;
//! 3. decide each command in order against its player's state, so two commands for one
//!    player in one batch see each other;
//! 4. seal the events into the hash chain, insert events and records, commit.
//!
//! If the transaction fails, nothing of the batch is recorded, every caller gets the
//! error (transient failures are never recorded against a key, so a retry runs for real),
//! and the cached states the batch touched are dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ledger::command::Request;
use ledger::{Ledger, PlayerId, PlayerState, Rejection, Timestamp};
use tokio::sync::{mpsc, oneshot};

use crate::append::{now_micros, Chain};
use crate::codec;
use crate::event::{Metadata, NewEvent, StoredEvent};
use crate::outcome::{EventRef, Outcome};
use crate::record::{CommandRecord, RecordedOutcome};
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
    players: HashMap<PlayerId, PlayerState>,
}

impl<S: EventStore> Writer<S> {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < self.config.batch_size_max {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if self.players.len() > self.config.cached_players_max {
                self.players.clear();
            }
            match self.commit_batch(&jobs).await {
                Ok(outcomes) => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        // A caller that gave up waiting changes nothing: it is recorded.
                        let _ = job.reply.send(Ok(outcome));
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, commands = jobs.len(), "ledger batch failed; nothing of it was recorded");
                    for job in &jobs {
                        self.players
                            .remove(&job.submission.request.command.player());
                    }
                    let error = Arc::new(error);
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::Batch(error.clone())));
                    }
                }
            }
        }
    }

    async fn commit_batch(&mut self, jobs: &[Job]) -> Result<Vec<Outcome>, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let keys = distinct(
            jobs.iter()
                .map(|j| j.submission.request.idempotency_key.to_string()),
        );
        let recorded = tx.find_commands(&keys).await?;
        let players = distinct(jobs.iter().map(|j| j.submission.request.command.player()));
        let streams: Vec<String> = players.iter().map(|p| stream_of(*p)).collect();
        let versions = tx.stream_versions(&streams).await?;
        for (player, stream) in players.iter().zip(&streams) {
            let version = versions.get(stream).copied().unwrap_or(0);
            self.catch_up(&mut tx, *player, stream, version).await?;
        }

        let mut chain = Chain::after(tx.head(), now_micros());
        let now = Timestamp::from_micros(chain.recorded_at());
        let mut events: Vec<StoredEvent> = Vec::new();
        let mut records: Vec<CommandRecord> = Vec::new();
        let mut new_keys: HashMap<String, usize> = HashMap::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            let request = &job.submission.request;
            let key = request.idempotency_key.to_string();
            let earlier = recorded
                .get(&key)
                .or_else(|| new_keys.get(&key).map(|&i| &records[i]));
            if let Some(earlier) = earlier {
                outcomes.push(replay(earlier, request));
                continue;
            }
            let player = request.command.player();
            let stream = stream_of(player);
            let state = self
                .players
                .get_mut(&player)
                .expect("every player of the batch was loaded");
            let outcome = match self.ledger.decide(state, &request.command, now) {
                Ok(decided) => {
                    let metadata = Metadata {
                        idempotency_key: Some(key.clone()),
                        causation: job.submission.causation.clone(),
                        actor: job.submission.actor.clone(),
                    };
                    let mut refs = Vec::with_capacity(decided.len());
                    for event in &decided {
                        let (event_type, schema_version, payload) = codec::encode(event);
                        let new = NewEvent {
                            event_type: event_type.to_owned(),
                            schema_version,
                            payload,
                            metadata: metadata.clone(),
                        };
                        state.apply(event);
                        let stored = chain.seal(&stream, state.version, new);
                        refs.push(EventRef {
                            position: stored.position,
                            stream: stream.clone(),
                            version: stored.version,
                            event_type: stored.event_type.clone(),
                        });
                        events.push(stored);
                    }
                    RecordedOutcome::Accepted { events: refs }
                }
                Err(rejection) => rejected(&rejection),
            };
            let record = CommandRecord {
                idempotency_key: key.clone(),
                stream,
                command_type: request.command.kind().to_owned(),
                fingerprint: request.command.fingerprint(),
                outcome,
                balances: balances(state),
                recorded_at: chain.recorded_at(),
            };
            outcomes.push(Outcome::from_record(&record, false));
            new_keys.insert(key, records.len());
            records.push(record);
        }
        tx.insert(&events, &records).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Brings the cached state of `player` up to `version`, reading inside the
    /// transaction (the write lock is held, so nothing can move underneath).
    async fn catch_up(
        &mut self,
        tx: &mut S::Writer,
        player: PlayerId,
        stream: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        let state = self
            .players
            .entry(player)
            .or_insert_with(|| PlayerState::new(player));
        if state.version > version {
            // Cannot happen unless the log was rolled back under us: start over.
            *state = PlayerState::new(player);
        }
        if state.version == version {
            return Ok(());
        }
        for stored in tx.read_stream(stream, state.version).await? {
            let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
                .map_err(|e| StoreError::Corrupt {
                position: stored.position,
                problem: e.to_string(),
            })?;
            state.try_apply(&event).map_err(|e| StoreError::Corrupt {
                position: stored.position,
                problem: e.to_string(),
            })?;
        }
        if state.version != version {
            let reached = state.version;
            self.players.remove(&player);
            return Err(StoreError::Corrupt {
                position: 0,
                problem: format!(
                    "stream {stream} has version {version} but only {reached} events were read"
                ),
            });
        }
        Ok(())
    }
}

/// The stream of all money events touching one player.
pub fn stream_of(player: PlayerId) -> String {
    format!("player-{player}")
}

/// The outcome for a key seen before: the original outcome marked as a replay when the
/// content matches, otherwise a conflict naming the first differing field.
fn replay(earlier: &CommandRecord, request: &Request) -> Outcome {
    match earlier
        .fingerprint
        .first_difference(&request.command.fingerprint())
    {
        None => Outcome::from_record(earlier, true),
        Some(field) => Outcome::conflict(field),
    }
}

fn rejected(rejection: &Rejection) -> RecordedOutcome {
    RecordedOutcome::Rejected {
        code: rejection.code().to_owned(),
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
