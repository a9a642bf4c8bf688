//! Stored events and their metadata.

use serde::{Deserialize, Serialize};

/// A hash of the SHA-256 chain.
pub type Hash = [u8; 32];

/// Who and what caused an event; part of the hashed record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The idempotency key of the command that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// What caused the command, such as `telegram_update:12345`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation: Option<String>,
    /// Who asked: `cli`, `bot`, a staff member's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Metadata {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("metadata always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}

/// An event to append: the store assigns its position, version, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: String,
    pub schema_version: u16,
    pub payload: Vec<u8>,
    pub metadata: Metadata,
}

/// An event as it sits in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global position, from 1, in commit order.
    pub position: u64,
    pub stream: String,
    /// Version within the stream, from 1.
    pub version: u64,
    pub event_type: String,
    pub schema_version: u16,
    /// MessagePack with field names.
    pub payload: Vec<u8>,
    /// MessagePack of [`Metadata`].
    pub metadata: Vec<u8>,
    /// Commit time, microseconds since the Unix epoch; never decreases along the log.
    pub recorded_at: i64,
    pub prev_hash: Hash,
    pub hash: Hash,
}

/// An event as the read models need it: where it is and what it says, without the
/// metadata and hashes that only an audit checks (see [`EventStore::read_bodies`]).
///
/// [`EventStore::read_bodies`]: crate::EventStore::read_bodies
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBody {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    pub schema_version: u16,
    /// MessagePack with field names.
    pub payload: Vec<u8>,
    /// Commit time, microseconds since the Unix epoch.
    pub recorded_at: i64,
}

/// The newest event of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: u64,
    pub hash: Hash,
    pub recorded_at: i64,
}

impl Head {
    /// The head once `events` (which follow `head`) are appended.
    pub fn after(head: Option<Head>, events: &[StoredEvent]) -> Option<Head> {
        events.last().map_or(head, |last| {
            Some(Head {
                position: last.position,
                hash: last.hash,
                recorded_at: last.recorded_at,
            })
        })
    }

    /// `POS:HEX`, the form an auditor publishes.
    pub fn display(&self) -> String {
        format!("{}:{}", self.position, hex::encode(self.hash))
    }
}

/// A payment a deposit credits: its method and the network's reference. A payment is
/// credited once, to one player, ever; the store enforces it across streams.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DepositRef {
    pub method: String,
    pub external_ref: String,
}

/// A payment claimed by the deposit event at `position` of `stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDeposit {
    pub deposit: DepositRef,
    pub stream: String,
    pub position: u64,
}

/// Everything one append writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Append {
    /// Sealed events, continuing the head the append expects.
    pub events: Vec<StoredEvent>,
    /// Idempotency records.
    pub commands: Vec<crate::record::CommandRecord>,
    /// Payments the events credit.
    pub deposits: Vec<ClaimedDeposit>,
}
