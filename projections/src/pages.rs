//! Reading the log ahead of whoever goes through it: a task of its own fetches the next
//! pages (and prepares them, say decodes them) while the current one is checked or
//! written. Reading and the work on what was read then overlap instead of taking turns.

use std::future::Future;

use store::{EventBody, EventStore, StoreError, StoredEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::projector::ProjectionError;

/// What a page holds: whole events (an audit checks their hashes), or their bodies (the
/// read models need no more).
pub(crate) trait Logged: Send + Sized + 'static {
    fn read<S: EventStore>(
        store: &S,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send;
    fn position(&self) -> u64;
    fn recorded_at(&self) -> i64;
}

impl Logged for StoredEvent {
    fn read<S: EventStore>(
        store: &S,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send {
        store.read_all(after, limit)
    }
    fn position(&self) -> u64 {
        self.position
    }
    fn recorded_at(&self) -> i64 {
        self.recorded_at
    }
}

impl Logged for EventBody {
    fn read<S: EventStore>(
        store: &S,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send {
        store.read_bodies(after, limit)
    }
    fn position(&self) -> u64 {
        self.position
    }
    fn recorded_at(&self) -> i64 {
        self.recorded_at
    }
}

/// Pages read ahead: one ready and one being read while the consumer works.
const AHEAD: usize = 1;

/// The pages of the log after a position, each prepared by a function, in order.
pub(crate) struct Pages<T> {
    pages: mpsc::Receiver<Result<Page<T>, ProjectionError>>,
    /// Until it is seen to end.
    reader: Option<JoinHandle<()>>,
}

/// One page: what `prepare` made of its events, and where it ends.
pub(crate) struct Page<T> {
    pub(crate) content: T,
    /// The position of the page's last event.
    pub(crate) last: u64,
    /// The commit time of the page's last event.
    pub(crate) recorded_at: i64,
}

impl<T: Send + 'static> Pages<T> {
    /// Reads the events (or their bodies, as `prepare` takes) after `after` up to `until`
    /// (the head, when `None`), `size` per page, and passes each page to `prepare`.
    /// Stops after the first error.
    pub(crate) fn read<S: EventStore, E: Logged>(
        store: &S,
        after: u64,
        until: Option<u64>,
        size: u32,
        prepare: impl Fn(Vec<E>) -> Result<T, ProjectionError> + Send + Sync + 'static,
    ) -> Self {
        let (sender, pages) = mpsc::channel(AHEAD);
        let store = store.clone();
        let prepare = std::sync::Arc::new(prepare);
        let reader = tokio::spawn(async move {
            let mut position = after;
            while until.is_none_or(|until| position < until) {
                let page = match E::read(&store, position, size).await {
                    Ok(mut events) => {
                        if let Some(until) = until {
                            events.retain(|e| e.position() <= until);
                        }
                        let Some(last) = events.last() else { break };
                        position = last.position();
                        let recorded_at = last.recorded_at();
                        // Off the async workers: a page takes tens of milliseconds to
                        // decode, which would hold up the tasks that write.
                        let prepare = prepare.clone();
                        let prepared = tokio::task::spawn_blocking(move || prepare(events)).await;
                        let prepared = match prepared {
                            Ok(prepared) => prepared,
                            // The reader's own panic, which `next` passes on.
                            Err(e) => std::panic::resume_unwind(e.into_panic()),
                        };
                        prepared.map(|content| Page {
                            content,
                            last: position,
                            recorded_at,
                        })
                    }
                    Err(e) => Err(e.into()),
                };
                let failed = page.is_err();
                if sender.send(page).await.is_err() || failed {
                    break;
                }
            }
        });
        Self {
            pages,
            reader: Some(reader),
        }
    }

    /// The next page, or `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<Page<T>>, ProjectionError> {
        if let Some(page) = self.pages.recv().await {
            return page.map(Some);
        }
        // The reader is gone: at the end of what it was to read, or because it panicked,
        // which must not pass for the end of the log.
        if let Some(reader) = self.reader.take() {
            if let Err(e) = reader.await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
        Ok(None)
    }
}

impl<T> Drop for Pages<T> {
    /// A consumer that stops early (a finding, a claim lost to another runner) stops the
    /// reader too.
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}
