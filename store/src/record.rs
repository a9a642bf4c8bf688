//! Idempotency records: what a key first did, kept forever beside the log.

use std::collections::BTreeMap;

use ledger::{EventRef, Fingerprint, Outcome, OutcomeKind};
use serde::{Deserialize, Serialize};

use erased::Encode;

/// One row of `ledger_commands`: the first outcome recorded under a key, which a later
/// submission of the same command gets again ([`Outcome::as_replay`]). Only accepted and
/// rejected outcomes are recorded, never a conflict (the answer to a key recorded before)
/// and never a transient failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    pub idempotency_key: String,
    pub stream: String,
    pub command_type: String,
    /// The command's canonical content, to tell a retry from a reuse of the key.
    pub fingerprint: Fingerprint,
    /// As it was first given: not replayed, and with the player's cash right after the
    /// command.
    pub outcome: Outcome,
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
        // The stored `outcome` strings, read back by `from_row`.
        let (outcome, code, message) = match &self.outcome.kind {
            OutcomeKind::Accepted => ("accepted", None, None),
            OutcomeKind::Rejected { code, message } => {
                ("rejected", Some(code.as_str()), Some(message.clone()))
            }
            OutcomeKind::Conflict { .. } => {
                unreachable!("a conflict is never recorded: it answers a key recorded before")
            }
        };
        RecordRow {
            idempotency_key: self.idempotency_key.clone(),
            stream: self.stream.clone(),
            command_type: self.command_type.clone(),
            fingerprint: self.fingerprint.encode(),
            outcome,
            rejection_code: code,
            rejection_message: message,
            events: Refs(self.outcome.events.clone()).encode(),
            balances: self.outcome.balances.encode(),
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
        let (kind, events) = match outcome {
            "accepted" => (
                OutcomeKind::Accepted,
                rmp_serde::from_slice::<Refs>(events).ok()?.0,
            ),
            "rejected" => (
                OutcomeKind::Rejected {
                    code: rejection_code?.parse().ok()?,
                    message: rejection_message.unwrap_or_default(),
                },
                Vec::new(),
            ),
            _ => return None,
        };
        let balances: BTreeMap<String, String> = rmp_serde::from_slice(balances).ok()?;
        Some(Self {
            idempotency_key,
            stream,
            command_type,
            fingerprint: rmp_serde::from_slice(fingerprint).ok()?,
            outcome: Outcome {
                kind,
                replayed: false,
                events,
                balances,
            },
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

#[cfg(test)]
mod tests {
    use ledger::RejectionCode;

    use super::*;

    fn record(kind: OutcomeKind, events: Vec<EventRef>) -> CommandRecord {
        let request = ledger::wire::parse_command(
            r#"{"type":"place_bet","idempotency_key":"k1","player":7,"bet_id":"b1","game":"coinflip","stake":"10","currency":"XTR"}"#,
        )
        .unwrap();
        CommandRecord {
            idempotency_key: "k1".to_owned(),
            stream: "player-7".to_owned(),
            command_type: request.command.kind().to_owned(),
            fingerprint: request.command.fingerprint(),
            outcome: Outcome {
                kind,
                replayed: false,
                events,
                balances: BTreeMap::from([("XTR".to_owned(), "5".to_owned())]),
            },
            recorded_at: 42,
        }
    }

    fn read_back(record: &CommandRecord) -> Option<CommandRecord> {
        let row = record.to_row();
        CommandRecord::from_row(
            row.idempotency_key,
            row.stream,
            row.command_type,
            &row.fingerprint,
            row.outcome,
            row.rejection_code.map(str::to_owned),
            row.rejection_message,
            &row.events,
            &row.balances,
            row.recorded_at,
        )
    }

    #[test]
    fn accepted_and_rejected_outcomes_read_back_as_they_were_recorded() {
        let accepted = record(
            OutcomeKind::Accepted,
            vec![EventRef {
                position: 3,
                stream: "player-7".to_owned(),
                version: 2,
                event_type: "bet_placed".to_owned(),
            }],
        );
        assert_eq!(read_back(&accepted), Some(accepted.clone()));
        let rejected = record(
            OutcomeKind::Rejected {
                code: RejectionCode::InsufficientFunds,
                message: "insufficient funds: balance 5 XTR, needs 10 XTR".to_owned(),
            },
            Vec::new(),
        );
        let row = rejected.to_row();
        assert_eq!(
            (row.outcome, row.rejection_code),
            ("rejected", Some("insufficient_funds"))
        );
        assert_eq!(read_back(&rejected), Some(rejected));
    }

    #[test]
    #[should_panic(expected = "a conflict is never recorded")]
    fn a_conflict_is_never_recorded() {
        record(
            OutcomeKind::Conflict {
                field: "stake".to_owned(),
            },
            Vec::new(),
        )
        .to_row();
    }
}
