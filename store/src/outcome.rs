//! What a submitted command did, in the shape `croupier ledger submit` prints.

use std::collections::BTreeMap;

use ledger::RejectionCode;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::record::{CommandRecord, RecordedOutcome};

/// An appended event, as reported to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    Accepted,
    /// A business rejection, recorded against the key.
    Rejected {
        code: RejectionCode,
        message: String,
    },
    /// The key was used before for a different command; `field` is the first that differs.
    Conflict {
        field: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// True when this is the recorded outcome of an earlier submission of the same command.
    pub replayed: bool,
    pub events: Vec<EventRef>,
    /// The player's cash per currency after the command.
    pub balances: BTreeMap<String, String>,
}

impl Outcome {
    pub fn from_record(record: &CommandRecord, replayed: bool) -> Self {
        let (kind, events) = match &record.outcome {
            RecordedOutcome::Accepted { events } => (OutcomeKind::Accepted, events.clone()),
            RecordedOutcome::Rejected { code, message } => (
                OutcomeKind::Rejected {
                    code: *code,
                    message: message.clone(),
                },
                Vec::new(),
            ),
        };
        Self {
            kind,
            replayed,
            events,
            balances: record.balances.clone(),
        }
    }

    pub fn conflict(field: String) -> Self {
        Self {
            kind: OutcomeKind::Conflict { field },
            replayed: false,
            events: Vec::new(),
            balances: BTreeMap::new(),
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
