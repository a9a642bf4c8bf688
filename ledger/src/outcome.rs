//! What a submitted [`Request`](crate::command::Request) did: accepted (with the events
//! appended), rejected, or a conflict on its idempotency key. This is the one result type
//! of a command, whoever asks: the store's writer returns it and records it against the
//! key (and replays it, marked `replayed`), `croupier ledger submit` prints it as JSON, and
//! the bot's core reads it through its port.
//!
//! It lives in the ledger, beside the request it answers ([`crate::wire`] parses the
//! request, this module prints the answer), so that the store and the bot's core share
//! it without the core depending on the store. The ledger never builds one: positions,
//! balances and replays are the store's to fill in.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::rejection::RejectionCode;

/// An appended event, as reported to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// Which of the three answers a command got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    Accepted,
    /// A business rejection, recorded against the key. Once recorded, a rejection is its
    /// code and message: the details of the [`Rejection`](crate::Rejection) are in the
    /// message.
    Rejected {
        code: RejectionCode,
        message: String,
    },
    /// The key was used before for a different command; `field` is the first that differs.
    /// Never recorded: it is the answer to a reuse of a key recorded before.
    Conflict {
        field: String,
    },
}

/// The answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// True when this is the recorded outcome of an earlier submission of the same command.
    pub replayed: bool,
    /// The events the command appended (none unless accepted).
    pub events: Vec<EventRef>,
    /// The player's cash per currency after the command, as decimal strings (none for a
    /// conflict).
    pub balances: BTreeMap<String, String>,
}

impl Outcome {
    /// The answer to a key used before for a different command.
    pub fn conflict(field: String) -> Self {
        Self {
            kind: OutcomeKind::Conflict { field },
            replayed: false,
            events: Vec::new(),
            balances: BTreeMap::new(),
        }
    }

    /// This outcome given again to a later submission of the same command.
    pub fn as_replay(&self) -> Self {
        Self {
            replayed: true,
            ..self.clone()
        }
    }

    /// `accepted`, `rejected` or `conflict`.
    pub fn label(&self) -> &'static str {
        match self.kind {
            OutcomeKind::Accepted => "accepted",
            OutcomeKind::Rejected { .. } => "rejected",
            OutcomeKind::Conflict { .. } => "conflict",
        }
    }
}

/// `{"outcome":..,"replayed":..,"events":[..],"rejection":{..},"conflict":{..},"balances":{..}}`
impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("outcome", self.label())?;
        map.serialize_entry("replayed", &self.replayed)?;
        map.serialize_entry("events", &self.events)?;
        match &self.kind {
            OutcomeKind::Accepted => {}
            OutcomeKind::Rejected { code, message } => {
                let rejection = BTreeMap::from([("code", code.as_str()), ("message", message)]);
                map.serialize_entry("rejection", &rejection)?;
            }
            OutcomeKind::Conflict { field } => {
                map.serialize_entry("conflict", &BTreeMap::from([("field", field)]))?;
            }
        }
        if !matches!(self.kind, OutcomeKind::Conflict { .. }) {
            map.serialize_entry("balances", &self.balances)?;
        }
        map.end()
    }
}
