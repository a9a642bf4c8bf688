//! Ledger events to and from stored payloads: MessagePack with field names, so fields can
//! be added without breaking old events. Each type has a schema version; an old version is
//! upcast to the current one when read.

use ledger::event::{Adjusted, BetPlaced, BetSettled, BetVoided, DepositRefunded, Deposited};
use ledger::Event;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The schema version every ledger event type is written at today.
pub const SCHEMA_VERSION: u16 = 1;

/// Why a payload could not be read as a ledger event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type '{0}'")]
    UnknownType(String),
    #[error("{event_type} has schema version {version}, which this build does not know (newest: {SCHEMA_VERSION})")]
    UnknownVersion { event_type: String, version: u16 },
    #[error("{event_type} v{version} payload: {source}")]
    Payload {
        event_type: String,
        version: u16,
        source: rmp_serde::decode::Error,
    },
}

/// The stored form of an event: type, schema version and payload.
pub fn encode(event: &Event) -> (&'static str, u16, Vec<u8>) {
    let payload = match event {
        Event::Deposited(e) => to_bytes(e),
        Event::BetPlaced(e) => to_bytes(e),
        Event::BetSettled(e) => to_bytes(e),
        Event::BetVoided(e) => to_bytes(e),
        Event::DepositRefunded(e) => to_bytes(e),
        Event::Adjusted(e) => to_bytes(e),
    };
    (event.event_type(), SCHEMA_VERSION, payload)
}

/// Reads a stored payload, upcasting older schema versions.
pub fn decode(event_type: &str, version: u16, payload: &[u8]) -> Result<Event, DecodeError> {
    if version == 0 || version > SCHEMA_VERSION {
        return Err(DecodeError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
        });
    }
    // Version 1 is the first; when a type changes, its older versions are read into their
    // old struct here and converted, so the rest of the code sees only the newest shape.
    // Version 1 is the first of every type. When a type changes, its older versions are
    // read into their old struct here and converted, so the rest of the code sees only
    // the newest shape.
    Ok(match event_type {
        "deposited" => Event::Deposited(from_bytes::<Deposited>(event_type, version, payload)?),
        "bet_placed" => Event::BetPlaced(from_bytes::<BetPlaced>(event_type, version, payload)?),
        "bet_settled" => Event::BetSettled(from_bytes::<BetSettled>(event_type, version, payload)?),
        "bet_voided" => Event::BetVoided(from_bytes::<BetVoided>(event_type, version, payload)?),
        "deposit_refunded" => {
            Event::DepositRefunded(from_bytes::<DepositRefunded>(event_type, version, payload)?)
        }
        "adjusted" => Event::Adjusted(from_bytes::<Adjusted>(event_type, version, payload)?),
        other => return Err(DecodeError::UnknownType(other.to_owned())),
    })
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("ledger events always encode")
}

fn from_bytes<T: DeserializeOwned>(
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Result<T, DecodeError> {
    rmp_serde::from_slice(payload).map_err(|source| DecodeError::Payload {
        event_type: event_type.to_owned(),
        version,
        source,
    })
}
