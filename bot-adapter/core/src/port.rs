//! What the adapter needs from the rest of Croupier, as a trait: the core submits ledger
//! commands and reads a few facts, and knows nothing of databases, HTTP or MTProto.
//!
//! Architecture invariant: the adapter never touches the database; everything goes
//! through a [`Port`].

use std::collections::BTreeMap;
use std::future::Future;

use ledger::command::Request;
use ledger::session::{SessionEvent, SessionState};
use ledger::{Outcome, PlayerId};

use crate::fair::ServerSeed;

/// Something outside the core failed: nothing may be acknowledged, and the input must be
/// handled again later. Business refusals are not here: they are [`Outcome`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Unavailable for now: the database is down, a race was lost, the session moved
    /// meanwhile. The same input, handled again later, can succeed.
    #[error("{0}")]
    Unavailable(String),
    /// Broken until someone mends it: stored data that does not read, or the ledger
    /// refusing what the core had already decided. Handling the input again does the same.
    #[error("{0}")]
    Broken(String),
}

impl PortError {
    /// Whether handling the same input again later could succeed.
    pub fn transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// One line of `/history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub text: String,
}

/// The provably-fair inputs of one bet, fixed when the bet is first seen: a retry gets
/// the same nonce and so the same roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub seed: ServerSeed,
    pub seed_hash: String,
    pub client_seed: String,
    pub nonce: u64,
}

/// The player's current commitment, for `/fair`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairState {
    pub seed_hash: String,
    pub client_seed: String,
    /// The nonce the next bet will use.
    pub next_nonce: u64,
}

/// A seed revealed by rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub revealed_seed: String,
    pub revealed_hash: String,
    pub rounds: u64,
    pub next: FairState,
}

/// The player's subscription (VIP), from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The charge of the newest payment: what `editUserStarSubscription` names.
    pub charge_id: String,
    /// Unix seconds at which the entitlement ends unless a renewal arrives.
    pub until: u64,
}

/// What the ledger holds for a player, as `/balance` and the VIP checks read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Standing {
    /// Cash per currency, as decimal strings.
    pub balances: BTreeMap<String, String>,
    /// The newest subscription charge not refunded, if any.
    pub subscription: Option<Subscription>,
}

/// Where the adapter's inputs come from and its commands go.
pub trait Port: Send + Sync {
    /// Submits a command; `causation` says which Telegram input caused it. The answer is
    /// the ledger's [`Outcome`], as the store gives it (the core reads its kind and the
    /// balances, not the events).
    fn submit(
        &self,
        request: Request,
        causation: &str,
    ) -> impl Future<Output = Result<Outcome, PortError>> + Send;

    /// The player's cash and subscription, from one read of their stream.
    fn standing(
        &self,
        player: PlayerId,
    ) -> impl Future<Output = Result<Standing, PortError>> + Send;

    /// The newest `limit` money events of a player, newest first.
    fn history(
        &self,
        player: PlayerId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HistoryLine>, PortError>> + Send;

    /// Records that the player started the bot in `chat`; true the first time.
    fn register(
        &self,
        player: PlayerId,
        chat: i64,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// The player's current seed commitment, created (hash recorded) when missing.
    fn fair_state(
        &self,
        player: PlayerId,
    ) -> impl Future<Output = Result<FairState, PortError>> + Send;

    /// The fair inputs of `bet`, allocated the first time (the next nonce under the
    /// player's current seed, recorded with the bet's `terms`) and the same on every
    /// later call.
    fn fair_round(
        &self,
        player: PlayerId,
        bet: &str,
        terms: &str,
    ) -> impl Future<Output = Result<Round, PortError>> + Send;

    fn set_client_seed(
        &self,
        player: PlayerId,
        client_seed: &str,
    ) -> impl Future<Output = Result<FairState, PortError>> + Send;

    /// Reveals the current server seed and commits to a fresh one.
    fn rotate_seed(
        &self,
        player: PlayerId,
    ) -> impl Future<Output = Result<Rotated, PortError>> + Send;

    /// The conversation session of `player` in `chat`, marked active now: the one going
    /// on, or a new one (its start recorded) when the last one expired.
    fn session(
        &self,
        chat: i64,
        player: PlayerId,
    ) -> impl Future<Output = Result<SessionState, PortError>> + Send;

    /// Commits what one input decided, all of it or nothing: its commands in order and
    /// its session step, at the session's version as it was read.
    fn commit(
        &self,
        decision: Decision,
    ) -> impl Future<Output = Result<Committed, PortError>> + Send;
}

/// A command of a [`Decision`], decided only if the earlier command `requires` names
/// (an index into the decision's commands) is accepted; a command skipped so leaves no
/// record.
#[derive(Debug, Clone)]
pub struct Planned<T> {
    pub item: T,
    pub requires: Option<usize>,
}

/// Everything one input decided, committed at once by [`Port::commit`].
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub commands: Vec<Planned<Request>>,
    /// The session as the decision read it, and the events it adds.
    pub session: Option<(SessionState, Vec<Planned<SessionEvent>>)>,
    /// The input that caused it (its origin).
    pub causation: String,
}

impl Decision {
    /// Adds a command; returns its index, for a later command's `requires`.
    pub fn command(&mut self, request: Request, requires: Option<usize>) -> usize {
        self.commands.push(Planned {
            item: request,
            requires,
        });
        self.commands.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.session.as_ref().is_none_or(|(_, e)| e.is_empty())
    }
}

/// What became of a [`Decision`].
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// In the log: each command's outcome, `None` for one skipped.
    Done(Vec<Option<Outcome>>),
    /// The session moved since it was read: nothing was written; decide again.
    Moved,
}
