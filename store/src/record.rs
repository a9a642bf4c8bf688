//! Idempotency records: what a key first did, kept forever beside the log.

use std::collections::BTreeMap;

use ledger::{Fingerprint, RejectionCode};
use serde::{Deserialize, Serialize};

use crate::outcome::EventRef;
use erased::Encode;

/// The first outcome recorded under a key. Transient failures are never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedOutcome {
    Accepted {
        events: Vec<EventRef>,
    },
    Rejected {
        code: RejectionCode,
        message: String,
    },
}

/// One row of `ledger_commands`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    pub idempotency_key: String,
    pub stream: String,
    pub command_type: String,
    /// The command's canonical content, to tell a retry from a reuse of the key.
    pub fingerprint: Fingerprint,
    pub outcome: RecordedOutcome,
    /// The player's cash per currency right after the command.
    pub balances: BTreeMap<String, String>,
    pub recorded_at: i64,
}

/// The columns of a record as stored: MessagePack for the structured parts.
pub struct RecordRow {
    pub idempotency_key: String,
    pub stream: String,
    pub command_type: String,
    pub fingerprint: Vec<u8>,
    pub outcome: &'static str,
    pub rejection_code: Option<&'static str>,
    pub rejection_message: Option<String>,
    pub events: Vec<u8>,
    pub balances: Vec<u8>,
    pub recorded_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Refs(Vec<EventRef>);

impl CommandRecord {
    pub fn to_row(&self) -> RecordRow {
        let (outcome, code, message, events) = match &self.outcome {
            RecordedOutcome::Accepted { events } => ("accepted", None, None, events.clone()),
            RecordedOutcome::Rejected { code, message } => (
                "rejected",
                Some(code.as_str()),
                Some(message.clone()),
                Vec::new(),
            ),
        };
        RecordRow {
            idempotency_key: self.idempotency_key.clone(),
            stream: self.stream.clone(),
            command_type: self.command_type.clone(),
            fingerprint: self.fingerprint.encode(),
            outcome,
            rejection_code: code,
            rejection_message: message,
            events: Refs(events).encode(),
            balances: self.balances.encode(),
            recorded_at: self.recorded_at,
        }
    }

    /// Reads a stored row back; `None` when a column does not decode (a corrupt row, or a
    /// rejection code this release does not know).
    #[allow(clippy::too_many_arguments)]
    pub fn from_row(
        idempotency_key: String,
        stream: String,
        command_type: String,
        fingerprint: &[u8],
        outcome: &str,
        rejection_code: Option<String>,
        rejection_message: Option<String>,
        events: &[u8],
        balances: &[u8],
        recorded_at: i64,
    ) -> Option<Self> {
        let outcome = match outcome {
            "accepted" => RecordedOutcome::Accepted {
                events: rmp_serde::from_slice::<Refs>(events).ok()?.0,
            },
            "rejected" => RecordedOutcome::Rejected {
                code: rejection_code?.parse().ok()?,
                message: rejection_message.unwrap_or_default(),
            },
            _ => return None,
        };
        Some(Self {
            idempotency_key,
            stream,
            command_type,
            fingerprint: rmp_serde::from_slice(fingerprint).ok()?,
            outcome,
            balances: rmp_serde::from_slice(balances).ok()?,
            recorded_at,
        })
    }
}

mod erased {
    /// MessagePack with field names for any serialisable value.
    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            rmp_serde::to_vec_named(self).expect("records always encode")
        }
    }
}
