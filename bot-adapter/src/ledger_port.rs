//! The adapter's [`Port`] over the real ledger: commands go to the process's group-commit
//! writer, reads come from the player's stream, fair seeds and players from [`BotDb`].

use bot_core::bot::show;
use bot_core::port::{
    Committed, Decision, FairState, HistoryLine, Port, PortError, Rotated, Round, Standing,
    Subscription,
};
use ledger::command::{Command, Request};
use ledger::session::{self, Flow, SessionEvent, SessionExpired, SessionStarted, SessionState};
use ledger::{
    CurrencyCode, Event, IdempotencyKey, Outcome, OutcomeKind, PlayerId, RejectionCode, Timestamp,
};
use rust_decimal::Decimal;
use store::codec::DecodeError;
use store::{
    codec, player, EventStore, GroupCommit, SessionStep, StoreError, Submission, Unit, UnitOutcome,
};

use super::db::{now_micros, BotDb, BotDbError};

/// Connects the adapter's core to one database.
#[derive(Clone)]
pub struct LedgerPort<S> {
    pub store: S,
    pub writer: GroupCommit,
    pub db: BotDb,
}

/// How many session events the session cache may lag behind the log before a read
/// writes it back.
const CACHE_LAG_MAX: u64 = 16;

/// How fresh a session's last activity is kept in the cache, for the idle sweeper.
const ACTIVITY_GRANULARITY_MICROS: i64 = 1_000_000;

/// A store failure, transient as the store says.
fn store_error(error: StoreError) -> PortError {
    if error.transient() {
        PortError::Unavailable(error.to_string())
    } else {
        PortError::Broken(error.to_string())
    }
}

/// A stored event that does not decode: it will not decode on a retry either.
fn decode_error(error: DecodeError) -> PortError {
    PortError::Broken(error.to_string())
}

impl From<BotDbError> for PortError {
    fn from(error: BotDbError) -> Self {
        if error.transient() {
            Self::Unavailable(error.to_string())
        } else {
            Self::Broken(error.to_string())
        }
    }
}

impl<S: EventStore> Port for LedgerPort<S> {
    async fn submit(&self, request: Request, causation: &str) -> Result<Outcome, PortError> {
        let mut submission = Submission::new(request);
        submission.causation = Some(causation.to_owned());
        submission.actor = Some("bot".to_owned());
        self.writer.submit(submission).await.map_err(store_error)
    }

    async fn standing(&self, player: PlayerId) -> Result<Standing, PortError> {
        let state = player::load(&self.store, player)
            .await
            .map_err(store_error)?;
        Ok(Standing {
            balances: state
                .cash
                .iter()
                .map(|(currency, amount)| (currency.to_string(), amount.to_string()))
                .collect(),
            subscription: state
                .current_subscription()
                .map(|(charge, paid)| Subscription {
                    charge_id: charge.to_string(),
                    until: u64::try_from(paid.until.as_micros() / 1_000_000).unwrap_or(0),
                }),
        })
    }

    async fn history(&self, player: PlayerId, limit: usize) -> Result<Vec<HistoryLine>, PortError> {
        let events = self
            .store
            .read_stream(&player::stream_of(player), 0)
            .await
            .map_err(store_error)?;
        let money = |amount: &Decimal, currency: &CurrencyCode| {
            show(&amount.to_string(), currency.as_str())
        };
        let mut lines = Vec::new();
        for stored in events.iter().rev().take(limit) {
            let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
                .map_err(decode_error)?;
            let text = match &event {
                Event::Deposited(e) => format!("+{} deposit", money(&e.amount, &e.currency)),
                Event::BetPlaced(e) => format!(
                    "−{} {} bet {}",
                    money(&e.stake, &e.currency),
                    e.game,
                    e.bet_id
                ),
                Event::BetSettled(e) => {
                    format!("+{} settled {}", money(&e.payout, &e.currency), e.bet_id)
                }
                Event::BetVoided(e) => format!(
                    "+{} voided {} ({})",
                    money(&e.stake, &e.currency),
                    e.bet_id,
                    e.reason
                ),
                Event::DepositRefunded(e) => format!("−{} refund", money(&e.amount, &e.currency)),
                Event::Adjusted(e) => format!(
                    "{} adjustment ({})",
                    money(&e.amount, &e.currency),
                    e.reason
                ),
                Event::SubscriptionPaid(e) => format!(
                    "{} VIP {}",
                    money(&e.amount, &e.currency),
                    if e.renewal { "renewal" } else { "subscription" }
                ),
                Event::SubscriptionRefunded(e) => {
                    format!("{} VIP refund", money(&e.amount, &e.currency))
                }
                Event::FairSeedCommitted(e) => {
                    format!("fair seed committed {}…", short(&e.seed_hash))
                }
                Event::FairSeedRevealed(e) => {
                    format!("fair seed revealed {}…", short(&e.seed_hash))
                }
                Event::RefundNoted(e) => {
                    format!("refund of {} noted before its payment", e.external_ref)
                }
                Event::RefundRequested(e) => {
                    format!("−{} refund requested", money(&e.amount, &e.currency))
                }
                Event::RefundConfirmed(e) => {
                    format!("{} refund made", money(&e.amount, &e.currency))
                }
                Event::RefundReversed(e) => format!(
                    "+{} refund refused, returned ({})",
                    money(&e.amount, &e.currency),
                    e.reason
                ),
            };
            lines.push(HistoryLine { text });
        }
        Ok(lines)
    }

    async fn register(&self, player: PlayerId, chat: i64) -> Result<bool, PortError> {
        Ok(self.db.register(player.get(), chat).await?)
    }

    async fn fair_state(&self, player: PlayerId) -> Result<FairState, PortError> {
        let (state, committed) = self.db.fair_state(player.get()).await?;
        if !committed {
            self.commit_seed(player, &state.seed_hash).await?;
        }
        Ok(state)
    }

    async fn fair_round(
        &self,
        player: PlayerId,
        bet: &str,
        terms: &str,
    ) -> Result<Round, PortError> {
        let (round, committed) = self.db.fair_round(player.get(), bet, terms).await?;
        // The commitment is in the log before the bet that uses the seed is submitted.
        if !committed {
            self.commit_seed(player, &round.seed_hash).await?;
        }
        Ok(round)
    }

    async fn set_client_seed(
        &self,
        player: PlayerId,
        client_seed: &str,
    ) -> Result<FairState, PortError> {
        self.db.set_client_seed(player.get(), client_seed).await?;
        self.fair_state(player).await
    }

    async fn rotate_seed(&self, player: PlayerId) -> Result<Rotated, PortError> {
        let active = self.db.active_seed(player.get()).await?;
        if !active.committed {
            self.commit_seed(player, &active.seed_hash).await?;
        }
        // Into the log first: a crash after it replays the same reveal on the retry.
        let seed = hex::encode(active.seed);
        self.fair_command(
            Command::RevealFairSeed {
                player,
                seed_hash: active.seed_hash.clone(),
                seed: seed.clone(),
            },
            RejectionCode::FairSeedAlreadyRevealed,
        )
        .await?;
        let rounds = self.db.rotate_seed(player.get(), &active).await?;
        Ok(Rotated {
            revealed_seed: seed,
            revealed_hash: active.seed_hash,
            rounds,
            next: self.fair_state(player).await?,
        })
    }

    async fn session(&self, chat: i64, player: PlayerId) -> Result<SessionState, PortError> {
        let now = now_micros();
        let (mut state, cached) = match self.db.session_snapshot(chat, player.get()).await? {
            Some((cached, last_activity)) => {
                let version = cached.version;
                (
                    Some(self.caught_up(cached).await?),
                    Some((version, last_activity)),
                )
            }
            None => (None, None),
        };
        let mut number = state.as_ref().map_or(0, SessionState::number);
        let mut started = false;
        // The last session ended (or there was none): the next one is the one after it,
        // possibly started already by an input whose handling was cut short.
        while state.as_ref().is_none_or(|s| s.expired) {
            number += 1;
            started = true;
            let stream = session::stream_of(chat, player.get(), number);
            let found = self.caught_up(SessionState::new(&stream)).await?;
            if found.version > 0 {
                state = Some(found);
                continue;
            }
            let start = SessionEvent::Started(SessionStarted {
                chat,
                player: player.get(),
                at: Timestamp::from_micros(now),
            });
            match self.extend(&found, &[start], now).await? {
                Some(started) => state = Some(started),
                // Another handler started it first: read it on the next turn.
                None => number -= 1,
            }
        }
        let state = state.expect("the loop ends with a live session");
        // The cache is a shortcut, caught up from the log on every read: it is written
        // when it names another session, lags by many events, or its activity time (what
        // the idle sweeper reads) is a second old, not on every input.
        let stale = match cached {
            Some((version, last_activity)) => {
                started
                    || state.version >= version + CACHE_LAG_MAX
                    || now - last_activity >= ACTIVITY_GRANULARITY_MICROS
            }
            None => true,
        };
        if stale {
            self.db.save_session(&state, now).await?;
        }
        Ok(state)
    }

    async fn commit(&self, decision: Decision) -> Result<Committed, PortError> {
        let Decision {
            commands,
            session,
            causation,
        } = decision;
        let commands = commands
            .into_iter()
            .map(|planned| {
                let mut submission = Submission::new(planned.item);
                submission.causation = Some(causation.clone());
                submission.actor = Some("bot".to_owned());
                (submission, planned.requires)
            })
            .collect();
        let step = session.map(|(read, events)| SessionStep {
            stream: read.stream,
            expected_version: read.version,
            events: events.into_iter().map(|e| (e.item, e.requires)).collect(),
            causation: Some(causation),
        });
        let unit = Unit {
            commands,
            session: step,
        };
        match self.writer.commit(unit).await.map_err(store_error)? {
            UnitOutcome::Moved { .. } => Ok(Committed::Moved),
            // The session cache catches up from the log on the next read.
            UnitOutcome::Committed { outcomes, .. } => Ok(Committed::Done(outcomes)),
        }
    }
}

impl<S: EventStore> LedgerPort<S> {
    /// Records the commitment to a seed in the log, then notes it in `bot_fair_seeds`.
    async fn commit_seed(&self, player: PlayerId, seed_hash: &str) -> Result<(), PortError> {
        self.fair_command(
            Command::CommitFairSeed {
                player,
                seed_hash: seed_hash.to_owned(),
            },
            RejectionCode::FairSeedAlreadyCommitted,
        )
        .await?;
        Ok(self.db.mark_committed(seed_hash).await?)
    }

    /// Submits a commitment or a reveal, keyed by the seed so a retry replays it. `done`
    /// is the rejection that means it is in the log already.
    async fn fair_command(&self, command: Command, done: RejectionCode) -> Result<(), PortError> {
        let seed_hash = match &command {
            Command::CommitFairSeed { seed_hash, .. }
            | Command::RevealFairSeed { seed_hash, .. } => seed_hash.clone(),
            _ => unreachable!("only fairness facts are submitted here"),
        };
        let key = IdempotencyKey::new(format!("fair:{}:{seed_hash}", command.kind()))
            .map_err(|e| PortError::Broken(e.to_string()))?;
        let request = Request {
            idempotency_key: key,
            command,
        };
        match self.submit(request, "fair").await?.kind {
            OutcomeKind::Accepted => Ok(()),
            OutcomeKind::Rejected { code, .. } if code == done => Ok(()),
            OutcomeKind::Rejected { code, message } => Err(PortError::Broken(format!(
                "the ledger refused a fairness fact ({code}): {message}"
            ))),
            OutcomeKind::Conflict { field } => Err(PortError::Broken(format!(
                "a fairness fact's key was used for another command (field {field})"
            ))),
        }
    }

    /// `state` with the events of its stream after its version folded in.
    async fn caught_up(&self, mut state: SessionState) -> Result<SessionState, PortError> {
        let events = self
            .store
            .read_stream(&state.stream, state.version)
            .await
            .map_err(store_error)?;
        for stored in &events {
            let event =
                codec::decode_session(&stored.event_type, stored.schema_version, &stored.payload)
                    .map_err(decode_error)?;
            state.apply(&event);
        }
        Ok(state)
    }

    /// Appends `events` to `session` at the version it was read (through the writer,
    /// like every event), and caches the result as last active at `last_activity`;
    /// `None`, with nothing written, when the stream moved meanwhile.
    async fn extend(
        &self,
        session: &SessionState,
        events: &[SessionEvent],
        last_activity: i64,
    ) -> Result<Option<SessionState>, PortError> {
        let unit = Unit {
            commands: Vec::new(),
            session: Some(SessionStep {
                stream: session.stream.clone(),
                expected_version: session.version,
                events: events.iter().map(|e| (e.clone(), None)).collect(),
                causation: None,
            }),
        };
        match self.writer.commit(unit).await.map_err(store_error)? {
            UnitOutcome::Moved { .. } => return Ok(None),
            UnitOutcome::Committed { .. } => {}
        }
        let mut state = session.clone();
        for event in events {
            state.apply(event);
        }
        self.db.save_session(&state, last_activity).await?;
        Ok(Some(state))
    }

    /// Ends the session of (chat, user) if it is still active and was last active at
    /// `last_activity` (micros) or before; returns its stream and the flow it was left in. `None` when
    /// the player came back meanwhile, or another sweeper got there first.
    pub async fn expire_session(
        &self,
        chat: i64,
        user: i64,
        last_activity: i64,
    ) -> Result<Option<(String, Flow)>, PortError> {
        let Some((cached, _)) = self.db.session_snapshot(chat, user).await? else {
            return Ok(None);
        };
        let state = self.caught_up(cached).await?;
        if state.expired {
            self.db.save_session(&state, last_activity).await?;
            return Ok(None);
        }
        let expired = SessionEvent::Expired(SessionExpired {
            last_activity: Timestamp::from_micros(last_activity),
            at: Timestamp::from_micros(now_micros()),
        });
        if self
            .extend(&state, &[expired], last_activity)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some((state.stream, state.flow)))
    }
}

/// The first 12 hex digits of a seed hash, as the bot shows it.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_error_is_transient_exactly_when_its_cause_is() {
        assert!(!store_error(StoreError::WriterStopped).transient());
        assert!(!store_error(StoreError::CorruptRecord {
            key: "k".to_owned()
        })
        .transient());
        let shared = StoreError::Shared(std::sync::Arc::new(StoreError::Corrupt {
            position: 7,
            problem: "unknown event type".to_owned(),
        }));
        assert!(!store_error(shared).transient());
        assert!(PortError::from(BotDbError::Sqlx(sqlx::Error::PoolTimedOut)).transient());
        assert!(PortError::from(BotDbError::Contended("fair round".to_owned())).transient());
        assert!(!PortError::from(BotDbError::Corrupt("spin 'x'".to_owned())).transient());
        assert!(!decode_error(DecodeError::UnknownType("x".to_owned())).transient());
    }
}
