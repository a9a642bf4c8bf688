//! One update from bytes to queued replies: skip it if it was handled before, let the
//! core handle it, then record it and queue its calls in one atomic write. Only then is
//! it acknowledged. Every transport (webhook, long polling) goes through
//! [`Pipeline::process`].
//!
//! There is no separate "received" record: an update cut short by a crash or a database
//! failure was not acknowledged, so Telegram delivers it again, and handling it again
//! does the same (every command's key comes from the update's content; the outbox
//! de-duplicates calls).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bot_adapter::call;
use bot_adapter::limit::{Admit, RateLimit};
use bot_adapter::update::{translate, Input};
use bot_adapter::{Bot, PortError};
use store::EventStore;
use tokio::sync::Notify;

use super::db::{now_micros, BotDbError};
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
    pub limit: Arc<RateLimit>,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<S: EventStore> Pipeline<S> {
    /// Handles and records one update. Safe to call again with the same update,
    /// concurrently or after a crash at any point: it then does nothing twice.
    pub async fn process(&self, body: &[u8]) -> Result<Handled, PipelineError> {
        let received_at = now_micros();
        let translated = translate(body);
        let Some(update_id) = translated.update_id else {
            return Ok(Handled::Malformed);
        };
        if self.port.db.handled(update_id).await? {
            return Ok(Handled::Duplicate);
        }
        let text = String::from_utf8_lossy(body);
        self.handle(Some((update_id, &text, received_at)), &translated.input)
            .await
    }

    /// Handles an input; `update` is its update id, body and arrival time, recorded
    /// with the calls.
    pub async fn handle(
        &self,
        update: Option<(i64, &str, i64)>,
        input: &Input,
    ) -> Result<Handled, PipelineError> {
        if let Input::Ignored { reason } = input {
            tracing::debug!(?reason, update_id = update.map(|u| u.0), "update ignored");
        }
        let admit = input.typed_by().map_or(Admit::Yes, |from| {
            self.limit.admit(from.user, Instant::now())
        });
        let calls = match (admit, input.typed_by()) {
            (Admit::Notice, Some(from)) => vec![call::message(
                from.chat,
                "You're going fast! I'll answer again in a few seconds.",
            )],
            (Admit::Notice | Admit::Silent, _) => Vec::new(),
            (Admit::Yes, _) => self.bot.handle(&self.port, input, unix_now()).await?,
        };
        let origin = input.origin();
        let queued = self
            .port
            .db
            .finish_update(update, origin.as_deref(), &calls)
            .await?;
        if queued > 0 {
            self.outbox_wake.notify_one();
        }
        Ok(Handled::Done { queued })
    }
}
