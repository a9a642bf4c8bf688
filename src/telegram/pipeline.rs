//! One update from bytes to queued replies: record it, let the core handle it, queue its
//! calls and mark it handled. Every transport (webhook, long polling, the crash recovery
//! sweep, `croupier chat`) goes through [`Pipeline::process`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bot_adapter::update::{translate, Input};
use bot_adapter::{Bot, PortError};
use store::EventStore;
use tokio::sync::Notify;

use super::db::{now_micros, BotDbError, Recorded};
use super::port::LedgerPort;

/// What happened to an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Handled now; `queued` calls were added to the outbox.
    Done { queued: usize },
    /// Handled before: nothing was done.
    Duplicate,
    /// Not JSON or no `update_id`: nothing was recorded.
    Malformed,
}

/// The update could not be made durable: do not acknowledge it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot record the update: {0}")]
    Record(#[from] BotDbError),
    #[error("cannot handle the update: {0}")]
    Handle(#[from] PortError),
}

/// The core wired to one database.
#[derive(Clone)]
pub struct Pipeline<S> {
    pub bot: Bot,
    pub port: LedgerPort<S>,
    /// Woken when calls are queued, so the dispatcher sends them at once.
    pub outbox_wake: Arc<Notify>,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<S: EventStore> Pipeline<S> {
    /// Records, handles and queues one update. Safe to call again with the same update,
    /// concurrently or after a crash at any point: it then does nothing twice.
    pub async fn process(&self, body: &[u8]) -> Result<Handled, PipelineError> {
        let translated = translate(body);
        let Some(update_id) = translated.update_id else {
            return Ok(Handled::Malformed);
        };
        let text = String::from_utf8_lossy(body);
        if self.port.db.record_update(update_id, &text).await? == Recorded::AlreadyHandled {
            return Ok(Handled::Duplicate);
        }
        self.handle(Some(update_id), &translated.input).await
    }

    /// Handles an input that is already durable (recorded in the inbox, or produced by a
    /// transport that redelivers until acknowledged).
    pub async fn handle(
        &self,
        update_id: Option<i64>,
        input: &Input,
    ) -> Result<Handled, PipelineError> {
        if let Input::Ignored { reason } = input {
            tracing::debug!(?reason, update_id, "update ignored");
        }
        let calls = self.bot.handle(&self.port, input, unix_now()).await?;
        let origin = input.origin();
        let queued = self
            .port
            .db
            .finish_update(update_id, origin.as_deref(), &calls)
            .await?;
        if queued > 0 {
            self.outbox_wake.notify_one();
        }
        Ok(Handled::Done { queued })
    }

    /// Handles updates recorded more than `age_micros` ago and never finished (the
    /// process died, or the database failed, mid-way); returns how many.
    pub async fn recover(&self, age_micros: i64) -> Result<usize, PipelineError> {
        let stuck = self
            .port
            .db
            .unhandled_updates(now_micros() - age_micros, 100)
            .await?;
        for (update_id, body) in &stuck {
            tracing::info!(update_id, "handling an update left unfinished");
            let translated = translate(body.as_bytes());
            self.handle(Some(*update_id), &translated.input).await?;
        }
        Ok(stuck.len())
    }
}
