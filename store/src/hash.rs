//! The hash chain. Each event's hash is SHA-256 over a canonical, length-prefixed
//! encoding of every stored field and the previous event's hash; the first event's
//! previous hash is all zeros. Changing, removing or reordering any event breaks the
//! chain from that position on.

use sha2::{Digest, Sha256};

use crate::event::{Hash, StoredEvent};

/// The previous hash of the first event.
pub const GENESIS: Hash = [0; 32];

const DOMAIN: &[u8] = b"croupier/event/v1";

/// The hash an event must carry, given its fields and `prev_hash`.
pub fn event_hash(event: &StoredEvent) -> Hash {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        let len = u32::try_from(bytes.len()).expect("a stored field is under 4 GiB");
        h.update(len.to_be_bytes());
        h.update(bytes);
    };
    field(DOMAIN);
    field(&event.prev_hash);
    field(&event.position.to_be_bytes());
    field(event.stream.as_bytes());
    field(&event.version.to_be_bytes());
    field(event.event_type.as_bytes());
    field(&event.schema_version.to_be_bytes());
    field(&event.payload);
    field(&event.metadata);
    field(&event.recorded_at.to_be_bytes());
    h.finalize().into()
}

/// Why a stretch of the log does not chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "position {position}: expected position {expected} (an event is missing or out of order)"
    )]
    Gap { position: u64, expected: u64 },
    #[error("position {position}: previous hash does not match the event before it")]
    Broken { position: u64 },
    #[error("position {position}: the stored hash does not match the event's content")]
    Altered { position: u64 },
}

/// Checks events that follow `prev` (position and hash; `(0, GENESIS)` at the start).
/// Returns the new `(position, hash)` to continue from.
pub fn verify(prev: (u64, Hash), events: &[StoredEvent]) -> Result<(u64, Hash), ChainError> {
    let (mut position, mut hash) = prev;
    for event in events {
        if event.position != position + 1 {
            return Err(ChainError::Gap {
                position: event.position,
                expected: position + 1,
            });
        }
        if event.prev_hash != hash {
            return Err(ChainError::Broken {
                position: event.position,
            });
        }
        if event_hash(event) != event.hash {
            return Err(ChainError::Altered {
                position: event.position,
            });
        }
        position = event.position;
        hash = event.hash;
    }
    Ok((position, hash))
}
