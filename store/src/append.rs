//! Appending: positions, versions, commit times and hashes are assigned here, once for
//! both backends, while the caller holds the log's write lock.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::AppendError;
use crate::event::{Append, Hash, Head, NewEvent, StoredEvent};
use crate::hash::{event_hash, GENESIS};
use crate::{EventStore, WriteTx};

/// What the caller believes a stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream must be at exactly this version.
    Exact(u64),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "{v}"),
        }
    }
}

impl ExpectedVersion {
    pub fn allows(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(v) => v == actual,
        }
    }
}

/// The end of the log while a write lock is held: hands out the next positions and
/// links each new event to the one before it.
#[derive(Debug, Clone)]
pub struct Chain {
    next_position: u64,
    prev_hash: Hash,
    recorded_at: i64,
}

impl Chain {
    /// Continues after `head`. The commit time never goes backwards along the log, even
    /// when the clock does.
    pub fn after(head: Option<Head>, now_micros: i64) -> Self {
        match head {
            None => Self {
                next_position: 1,
                prev_hash: GENESIS,
                recorded_at: now_micros,
            },
            Some(head) => Self {
                next_position: head.position + 1,
                prev_hash: head.hash,
                recorded_at: now_micros.max(head.recorded_at),
            },
        }
    }

    /// The commit time every event sealed by this chain gets.
    pub fn recorded_at(&self) -> i64 {
        self.recorded_at
    }

    /// Encodes a ledger event and seals it as version `version` of `stream`.
    pub fn seal_event(
        &mut self,
        stream: &str,
        version: u64,
        event: &ledger::Event,
        metadata: crate::event::Metadata,
    ) -> StoredEvent {
        let (event_type, schema_version, payload) = crate::codec::encode(event);
        self.seal(
            stream,
            version,
            NewEvent {
                event_type: event_type.to_owned(),
                schema_version,
                payload,
                metadata,
            },
        )
    }

    /// Gives `event` the next position and links it into the chain.
    pub fn seal(&mut self, stream: &str, version: u64, event: NewEvent) -> StoredEvent {
        let mut stored = StoredEvent {
            position: self.next_position,
            stream: stream.to_owned(),
            version,
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
            metadata: event.metadata.encode(),
            recorded_at: self.recorded_at,
            prev_hash: self.prev_hash,
            hash: [0; 32],
        };
        stored.hash = event_hash(&stored);
        self.next_position += 1;
        self.prev_hash = stored.hash;
        stored
    }
}

/// Microseconds since the Unix epoch, from the system clock.
pub fn now_micros() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// Appends events to one stream if it is at the expected version. The check happens
/// under the write lock, before any position is given out.
pub async fn append<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<Vec<StoredEvent>, AppendError> {
    let mut tx = store.begin_write().await?;
    let versions = tx.stream_versions(&[stream.to_owned()]).await?;
    let actual = versions.get(stream).copied().unwrap_or(0);
    if !expected.allows(actual) {
        return Err(AppendError::WrongExpectedVersion {
            stream: stream.to_owned(),
            expected,
            actual,
        });
    }
    let mut chain = Chain::after(tx.head(), now_micros());
    let stored: Vec<StoredEvent> = events
        .into_iter()
        .zip(actual + 1..)
        .map(|(event, version)| chain.seal(stream, version, event))
        .collect();
    let batch = Append {
        events: stored,
        ..Append::default()
    };
    tx.insert(&batch).await?;
    tx.commit().await?;
    Ok(batch.events)
}
