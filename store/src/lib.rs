//! Croupier's event store: one append-only, hash-chained log on PostgreSQL or SQLite,
//! the idempotency records kept beside it, and the group-commit writer that turns ledger
//! commands into appended events.
//!
//! The two backends implement one trait, [`EventStore`], and mirror each other's files
//! (`postgres.rs`, `sqlite.rs`). Everything above the trait (hashing, positions,
//! idempotency, the ledger rules) is written once.

pub mod append;
pub mod codec;
pub mod database;
pub mod error;
pub mod event;
pub mod group_commit;
pub mod hash;
pub mod player;
pub mod postgres;
pub mod record;
mod rows;
pub mod sqlite;
pub mod tail;
pub mod url;

use std::collections::{HashMap, HashSet};
use std::future::Future;

pub use append::{append, ExpectedVersion};
pub use database::Database;
pub use error::{AppendError, StoreError};
pub use event::{
    Append, ClaimedDeposit, DepositRef, EventBody, Head, Metadata, NewEvent, StoredEvent,
};
pub use group_commit::{
    GroupCommit, GroupCommitConfig, SessionStep, Submission, Unit, UnitOutcome,
};
/// What [`GroupCommit::submit`] returns and [`CommandRecord`] keeps: the ledger's one
/// result type of a command, re-exported.
pub use ledger::outcome::{EventRef, Outcome, OutcomeKind};
pub use postgres::PgStore;
pub use record::CommandRecord;
pub use sqlite::SqliteStore;
pub use tail::Tail;

/// Reads from an event store. Writes go through [`EventStore::begin_write`].
pub trait EventStore: Clone + Send + Sync + 'static {
    type Writer: WriteTx;

    /// Starts a write transaction holding the log's single write lock, so that commit
    /// order equals position order: a reader that tails the log never skips an event
    /// that commits late.
    fn begin_write(&self) -> impl Future<Output = Result<Self::Writer, StoreError>> + Send;

    /// Events of one stream with a version above `after_version`, in order.
    fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// Up to `limit` events with a position above `after_position`, in order.
    fn read_all(
        &self,
        after_position: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// The same events as [`EventStore::read_all`] without their metadata and hashes:
    /// what the read models need, read for about a third less.
    fn read_bodies(
        &self,
        after_position: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EventBody>, StoreError>> + Send;

    /// Appends a batch sealed for `expected_head` (`None` for an empty log) in one
    /// statement, if the head is still that one, by position and hash: the fast path of
    /// group commit. `Ok(false)`, with nothing written, when another writer appended first; a
    /// key or payment already recorded is `Err(StoreError::Conflict)`, with nothing written.
    fn append_if_head(
        &self,
        expected_head: Option<Head>,
        batch: &Append,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The newest event's position and hash; `None` for an empty log.
    fn head(&self) -> impl Future<Output = Result<Option<Head>, StoreError>> + Send;

    /// The idempotency record of a key, if one was ever recorded.
    fn find_command(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<CommandRecord>, StoreError>> + Send;

    /// The records of every refused command of one type, oldest first: what an auditor
    /// reads of a command that left no event (a refused bet's fair inputs).
    fn rejected_commands(
        &self,
        command_type: &str,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, StoreError>> + Send;

    /// A counter that changes when new events may have been committed: after local
    /// commits, and on PostgreSQL after every commit notification from any process.
    /// Readers wait on it with a polling interval as the fallback (SQLite has no
    /// cross-process notification, so there polling is what finds other processes' events).
    fn commits(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Applies the backend's migrations (idempotent).
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A write transaction holding the log's write lock until it commits or is dropped.
pub trait WriteTx: Send {
    /// The head of the log when the lock was taken.
    fn head(&self) -> Option<Head>;

    /// The idempotency records among `keys`.
    fn find_commands(
        &mut self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, CommandRecord>, StoreError>> + Send;

    /// The current version of each stream that has events.
    fn stream_versions(
        &mut self,
        streams: &[String],
    ) -> impl Future<Output = Result<HashMap<String, u64>, StoreError>> + Send;

    /// Events of one stream above `after_version`, as seen inside this transaction.
    fn read_stream(
        &mut self,
        stream: &str,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// Up to `limit` events after `after_position`, as seen inside this transaction.
    fn read_after(
        &mut self,
        after_position: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// The payments among `deposits` that some deposit has already credited.
    fn find_deposits(
        &mut self,
        deposits: &[DepositRef],
    ) -> impl Future<Output = Result<HashSet<DepositRef>, StoreError>> + Send;

    /// Inserts a batch: events (positions and hashes already assigned, continuing the
    /// head), idempotency records and claimed payments.
    fn insert(&mut self, batch: &Append) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Commits, and wakes tailing readers (one payload-free notification per commit).
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
