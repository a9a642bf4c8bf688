//! A player's state, rebuilt from their stream: what the writer caches, and what anyone
//! can recompute from the log.

use ledger::{PlayerId, PlayerState};

use crate::codec;
use crate::event::StoredEvent;
use crate::{EventStore, StoreError};

/// The stream of all money events touching one player.
pub fn stream_of(player: PlayerId) -> String {
    format!("player-{player}")
}

/// The player whose stream this is, if it is a player stream.
pub fn player_of(stream: &str) -> Option<PlayerId> {
    stream
        .strip_prefix("player-")?
        .parse::<i64>()
        .ok()
        .and_then(|id| PlayerId::new(id).ok())
}

/// Folds `events` (a player's stream from its first event, in order) into their state.
/// An event that cannot be read, or cannot follow the one before, is corruption.
pub fn fold(player: PlayerId, events: &[StoredEvent]) -> Result<PlayerState, StoreError> {
    let mut state = PlayerState::new(player);
    for stored in events {
        let corrupt = |problem: String| StoreError::Corrupt {
            position: stored.position,
            problem,
        };
        let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|e| corrupt(e.to_string()))?;
        state
            .try_apply(&event)
            .map_err(|e| corrupt(e.to_string()))?;
        if state.version != stored.version {
            return Err(corrupt(format!(
                "stream {} has version {} where {} was expected",
                stored.stream, stored.version, state.version
            )));
        }
    }
    Ok(state)
}

/// Rebuilds a player's state from the log.
pub async fn load<S: EventStore>(store: &S, player: PlayerId) -> Result<PlayerState, StoreError> {
    let events = store.read_stream(&stream_of(player), 0).await?;
    fold(player, &events)
}
