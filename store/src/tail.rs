//! Following the log: a reader that yields every event exactly once, in position order,
//! and waits for new commits (notification, or polling as the fallback).

use std::time::Duration;

use tokio::sync::watch;

use crate::event::StoredEvent;
use crate::{EventStore, StoreError};

/// A live reader of the whole log from a position.
pub struct Tail<S> {
    store: S,
    position: u64,
    batch_size: u32,
    poll_interval: Duration,
    commits: watch::Receiver<u64>,
}

impl<S: EventStore> Tail<S> {
    /// Reads events after `position`, `batch_size` at a time, polling every
    /// `poll_interval` when no notification arrives.
    pub fn new(store: S, position: u64, batch_size: u32, poll_interval: Duration) -> Self {
        let commits = store.commits();
        Self {
            store,
            position,
            batch_size,
            poll_interval,
            commits,
        }
    }

    /// The position of the last event returned.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next events, waiting until there are some.
    pub async fn next_batch(&mut self) -> Result<Vec<StoredEvent>, StoreError> {
        loop {
            // Mark the current notification as seen before reading, so a commit that
            // lands after the read wakes the wait below.
            self.commits.borrow_and_update();
            let events = self.store.read_all(self.position, self.batch_size).await?;
            if let Some(last) = events.last() {
                self.position = last.position;
                return Ok(events);
            }
            let _ = tokio::time::timeout(self.poll_interval, self.commits.changed()).await;
        }
    }
}
