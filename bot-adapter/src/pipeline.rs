//! One update from bytes to queued replies: skip it if it was handled before (by what it
//! is, its input's origin, never by its update id alone, which Telegram reuses), let the
//! core handle it, then record it and queue its calls in one atomic write. Only then is
//! it acknowledged. The Bot API transports (webhook, long polling) go through
//! [`Pipeline::process`]; MTProto, which has no update ids, through
//! [`Pipeline::process_input`].
//!
//! There is no separate "received" record: an update cut short by a crash or a database
//! failure was not acknowledged, so Telegram delivers it again, and handling it again
//! does the same (every command's key comes from the update's content; the outbox
//! de-duplicates calls).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bot_core::call;
use bot_core::limit::{Admit, RateLimit};
use bot_core::payload::PayloadSigner;
use bot_core::update::{translate_with, Input};
use bot_core::{Bot, Config, PortError};
use ledger::Ledger;
use sha2::{Digest, Sha256};
use store::{EventStore, GroupCommit, GroupCommitConfig};
use tokio::sync::Notify;

use super::db::{now_micros, BotDb, BotDbError, HandledUpdate};
use super::dispatcher::{Dispatcher, Limits, Outlet, RefundAnswer, Refunds, Secrets, Spins};
use super::ledger_port::LedgerPort;

/// What happened to an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Handled now; `queued` calls were added to the outbox.
    Done { queued: usize },
    /// Handled before: nothing was done.
    Duplicate,
    /// Not JSON or no `update_id`: nothing was recorded.
    Malformed,
    /// A payment that cannot be read: kept as an inbound dead letter, with its body and
    /// the reason (`croupier inbox dead`), and never acted on. Acknowledge it: Telegram
    /// would resend it forever, and it is stored.
    DeadLetter,
}

/// The update could not be made durable: do not acknowledge it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot record the update: {0}")]
    Record(#[from] BotDbError),
    #[error("cannot handle the update: {0}")]
    Handle(#[from] PortError),
}

impl PipelineError {
    /// Whether handling the update again later could succeed: the database was down or a
    /// race was lost, rather than stored data being unreadable or a bug.
    pub fn transient(&self) -> bool {
        match self {
            Self::Record(error) => error.transient(),
            Self::Handle(error) => error.transient(),
        }
    }
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

/// The invoice-signing key, derived from the bot token so there is nothing more to
/// configure. A new token invalidates unpaid invoices, which expire within the hour anyway.
pub fn payload_signer(token: &str) -> PayloadSigner {
    let mut hasher = Sha256::new();
    hasher.update(b"croupier invoice payload key\0");
    hasher.update(token.as_bytes());
    PayloadSigner::new(&hasher.finalize())
}

/// The default settings of the bot of `token`.
pub fn bot_config(token: &str) -> Config {
    Config::new(payload_signer(token))
}

/// The bot of `token`, with the default rules.
pub fn bot(token: &str) -> Bot {
    Bot::new(bot_config(token))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<S: EventStore> Pipeline<S> {
    /// Wires `bot` to `store` (through a new group-commit writer) and to the adapter's
    /// tables in `db`.
    pub fn start(store: S, db: BotDb, bot: Bot, limit: RateLimit) -> Self {
        let writer = GroupCommit::start(
            store.clone(),
            Ledger::default(),
            GroupCommitConfig::default(),
        );
        Self {
            bot,
            port: LedgerPort { store, writer, db },
            outbox_wake: Arc::new(Notify::new()),
            limit: Arc::new(limit),
        }
    }

    /// The dispatcher of this pipeline's outbox, woken when it queues calls; it sends
    /// through `outlet` (the Bot API, or MTProto).
    pub fn dispatcher(&self, outlet: impl Into<Outlet>, limits: Limits) -> Dispatcher {
        Dispatcher {
            db: self.port.db.clone(),
            outlet: outlet.into(),
            secrets: Secrets::default(),
            limits,
            wake: self.outbox_wake.clone(),
            spins: Arc::new(self.clone()),
            refunds: Arc::new(self.clone()),
        }
    }

    /// Expires the conversation sessions quiet for longer than `idle`, recording each
    /// expiry in its session's stream; a player left in the middle of `/play` is told.
    /// Returns how many it expired.
    pub async fn expire_sessions(&self, idle: std::time::Duration) -> Result<usize, PipelineError> {
        let cutoff = now_micros() - i64::try_from(idle.as_micros()).unwrap_or(i64::MAX);
        let mut expired = 0;
        for (chat, user, last_activity) in self.port.db.idle_sessions(cutoff, 100).await? {
            let Some((stream, flow)) = self.port.expire_session(chat, user, last_activity).await?
            else {
                continue;
            };
            expired += 1;
            let calls = self.bot.session_expired(chat, &flow);
            if !calls.is_empty() {
                self.port
                    .db
                    .finish_update(None, &format!("expired:{stream}"), &calls)
                    .await?;
                self.outbox_wake.notify_one();
            }
        }
        Ok(expired)
    }

    /// Voids the 🎰 spins in flight since before `orphan_cutoff` (micros), then settles
    /// the bet of every spin whose value is recorded, and voids those whose value is lost.
    /// Returns how many bets it settled or voided.
    pub async fn settle_spins(&self, orphan_cutoff: i64) -> Result<usize, PipelineError> {
        let voided = self.port.db.void_orphan_spins(orphan_cutoff).await?;
        if voided > 0 {
            tracing::warn!(
                voided,
                "🎰 spins in flight when their sender stopped: their bets are voided"
            );
        }
        let spins = self.port.db.unsettled_spins(100).await?;
        for (id, spin, value) in &spins {
            let value = value.and_then(|v| u8::try_from(v).ok());
            let calls = self
                .bot
                .spin_result(&self.port, spin, value, unix_now())
                .await?;
            self.port
                .db
                .finish_update(None, &format!("spin:{}", spin.bet), &calls)
                .await?;
            self.port.db.spin_settled(*id).await?;
        }
        if !spins.is_empty() {
            self.outbox_wake.notify_one();
        }
        Ok(spins.len())
    }

    /// Handles and records one update. Safe to call again with the same update,
    /// concurrently or after a crash at any point: it then does nothing twice.
    pub async fn process(&self, body: &[u8]) -> Result<Handled, PipelineError> {
        let received_at = now_micros();
        let translated = translate_with(body, &self.bot.config().currencies);
        let Some(update_id) = translated.update_id else {
            return Ok(Handled::Malformed);
        };
        let body = String::from_utf8_lossy(body);
        if let Input::Unreadable { reason } = &translated.input {
            let db = &self.port.db;
            if db
                .dead_letter(update_id, &body, reason, received_at)
                .await?
            {
                tracing::warn!(
                    update_id,
                    %reason,
                    "update cannot be read: kept as a dead letter (croupier inbox dead)"
                );
            }
            return Ok(Handled::DeadLetter);
        }
        let key = inbox_key(&translated.input, update_id);
        let update = HandledUpdate {
            key: &key,
            id: update_id,
            body: &body,
            received_at,
        };
        self.process_once(update, &translated.input).await
    }

    /// Handles and records an input that a transport without Bot API updates (MTProto)
    /// has translated itself. `inbox_id` takes the place of the update id: it must be
    /// stable for the input (derive it from [`Input::origin`]) and never collide with
    /// Telegram's update ids. The inbox keeps the input as JSON. Safe to call again, like
    /// [`Pipeline::process`].
    pub async fn process_input(
        &self,
        inbox_id: i64,
        input: &Input,
    ) -> Result<Handled, PipelineError> {
        let received_at = now_micros();
        let body = serde_json::to_string(input).expect("an input always serialises");
        let key = inbox_key(input, inbox_id);
        let update = HandledUpdate {
            key: &key,
            id: inbox_id,
            body: &body,
            received_at,
        };
        self.process_once(update, input).await
    }

    /// Skips an update handled before, else handles and records it.
    async fn process_once(
        &self,
        update: HandledUpdate<'_>,
        input: &Input,
    ) -> Result<Handled, PipelineError> {
        if self.port.db.handled(update.key).await? {
            return Ok(Handled::Duplicate);
        }
        self.handle(update, input).await
    }

    /// Handles an input (after the rate limit) and records it with its calls.
    async fn handle(
        &self,
        update: HandledUpdate<'_>,
        input: &Input,
    ) -> Result<Handled, PipelineError> {
        if let Input::Ignored { reason } = input {
            tracing::debug!(?reason, update_id = update.id, "update ignored");
        }
        let typed_by = input.typed_by();
        let calls = match typed_by.map(|from| (from, self.limit.admit(from.user, Instant::now()))) {
            Some((from, Admit::Notice)) => vec![call::message(
                from.chat,
                "You're going fast! I'll answer again in a few seconds.",
            )],
            Some((_, Admit::Silent)) => Vec::new(),
            Some((_, Admit::Yes)) | None => self.bot.handle(&self.port, input, unix_now()).await?,
        };
        // Inputs without an origin (ignored ones) cause no calls worth keeping.
        let origin = input.origin();
        let calls = if origin.is_some() { &calls[..] } else { &[] };
        crate::failpoint::hit("after_commit");
        let queued = self
            .port
            .db
            .finish_update(Some(update), origin.as_deref().unwrap_or_default(), calls)
            .await?;
        crate::failpoint::hit("before_ack");
        if queued > 0 {
            self.outbox_wake.notify_one();
        }
        Ok(Handled::Done { queued })
    }
}

impl<S: EventStore> Spins for Pipeline<S> {
    fn settle(
        &self,
        orphan_cutoff: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, String>> + Send + '_>>
    {
        Box::pin(async move {
            self.settle_spins(orphan_cutoff)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// What de-duplicates an update in the inbox: what it is, not its id. Telegram reuses
/// update ids, and a reused id may carry a payment; an input without an origin causes
/// nothing, so its id will do.
fn inbox_key(input: &Input, update_id: i64) -> String {
    input
        .origin()
        .unwrap_or_else(|| format!("update:{update_id}"))
}

impl<S: EventStore> Refunds for Pipeline<S> {
    fn answered<'a>(
        &'a self,
        params: &'a str,
        answer: RefundAnswer,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let Some((player, charge)) = super::staff::refund_params(params) else {
                tracing::warn!("outbox: a refundStarPayment names no user or charge");
                return Ok(());
            };
            let settled = super::staff::settle(
                &self.port.store,
                &self.port.writer,
                &self.port.db,
                (player, &charge),
                None,
                answer,
            )
            .await
            .map_err(|e| e.to_string())?;
            if matches!(settled, super::staff::Settled::Reversed { .. }) {
                tracing::warn!(charge = %charge, "staff refund refused by Telegram: reversed");
                self.outbox_wake.notify_one();
            }
            Ok(())
        })
    }
}
