//! Sends the outbox, through the Bot API or MTProto ([`Outlet`]). Telegram allows about one message a second per chat and thirty a
//! second in all; the dispatcher keeps under both, honours a 429's `retry_after`, backs
//! off exponentially with jitter on 5xx and network errors, and moves a call to the dead
//! letters after too many attempts or when it is too old to matter.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bot_core::call::LinkMessage;
/// The Bot API client.
pub use frankenstein::client_reqwest::Bot as Api;
use frankenstein::response::MethodResponse;
use frankenstein::AsyncTelegramApi;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::db::{now_micros, BotDb, BotDbError, OutboxRow};

/// The dispatcher's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Messages per second across all chats.
    pub global_per_s: u32,
    /// Minimum gap between two messages to one chat.
    pub chat_interval: Duration,
    /// Counted failures (5xx, network) before a call is dead.
    pub attempts_max: i64,
    /// A call older than this is dead instead of retried.
    pub age_max: Duration,
    /// First backoff; doubles per attempt.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Calls claimed per round.
    pub claim_size: i64,
    /// A 🎰 spin still in flight after this long is voided: its sender stopped. Longer
    /// than a send may take ([`Limits::call_timeout`]), so a live sender has given up by
    /// then.
    pub spin_orphan_after: Duration,
    /// How long a claimed call is this dispatcher's: past it, a call whose sender died
    /// before recording the send is claimed and sent again.
    pub lease: Duration,
}

impl Limits {
    /// How long one send may take, whichever the outlet: half the lease, so that a round
    /// is over (its calls answered or given up on, and marked) before another instance
    /// may claim its calls again. A call cut off so is retried like a transient failure.
    pub fn call_timeout(&self) -> Duration {
        self.lease / 2
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            global_per_s: 30,
            chat_interval: Duration::from_secs(1),
            attempts_max: 8,
            age_max: Duration::from_secs(24 * 3600),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            claim_size: 30,
            spin_orphan_after: Duration::from_secs(120),
            lease: Duration::from_secs(60),
        }
    }
}

/// The Bot API client for `api_url` (such as `https://api.telegram.org`) and `token`.
/// The token is inside the client's URL only; errors are stripped of the URL.
pub fn api(api_url: &str, token: &str, timeout: Duration) -> Api {
    let client = frankenstein::reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .expect("the HTTP client builds");
    Api::builder()
        .api_url(format!("{}/bot{token}", api_url.trim_end_matches('/')))
        .client(client)
        .build()
}

/// What one send attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Done. The result as the Bot API returns it, when the transport has one: the sent
    /// `Message` of a send (for `sendDice`, `dice.value` is the roll), `true` for others.
    Ok(Option<serde_json::Value>),
    /// 429 (MTProto: FLOOD_WAIT_X): come back after this many seconds.
    TooMany(u64),
    /// 5xx, a timeout, a connection error: retry with backoff.
    Transient(String),
    /// Any other refusal (400, 403...): retrying cannot help.
    Permanent(String),
}

/// Makes one Bot API call.
pub async fn send(api: &Api, method: &str, params: &serde_json::Value) -> Sent {
    match api
        .request::<_, MethodResponse<serde_json::Value>>(method, Some(params))
        .await
    {
        Ok(response) => Sent::Ok(Some(response.result)),
        Err(error) => failure(error),
    }
}

/// What a failed Bot API call means for a retry (never [`Sent::Ok`]).
pub fn failure(error: frankenstein::Error) -> Sent {
    match error {
        frankenstein::Error::Api(error) => {
            let description = format!("{} {}", error.error_code, error.description);
            match error.error_code {
                429 => Sent::TooMany(
                    error
                        .parameters
                        .and_then(|p| p.retry_after)
                        .map_or(1, u64::from),
                ),
                500..=599 => Sent::Transient(description),
                _ => Sent::Permanent(description),
            }
        }
        other => Sent::Transient(other.to_string()),
    }
}

/// A call made with [`with_retries`] that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Telegram refused it (400, 401, 403, ...): retrying cannot help.
    #[error("{method} was refused: {reason}")]
    Refused { method: String, reason: String },
    /// Still failing (429, 5xx, network) after every attempt.
    #[error("{method} failed {attempts} times, last with: {last}")]
    GaveUp {
        method: String,
        attempts: u32,
        last: String,
    },
}

/// Makes a call whose answer the caller waits for (not through the outbox), retrying the
/// way the dispatcher does: after a 429 as long as `retry_after` says, after a 5xx or a
/// network error with exponential backoff; at most `attempts_max` attempts in all.
/// `call` makes one attempt, typically a typed method of [`Api`].
pub async fn with_retries<T, F, Fut>(
    method: &str,
    attempts_max: u32,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<MethodResponse<T>, frankenstein::Error>>,
{
    let mut attempts = 0;
    loop {
        let failed = match call().await {
            Ok(response) => return Ok(response.result),
            Err(error) => failure(error),
        };
        attempts += 1;
        let (wait, last) = match failed {
            Sent::Ok(_) => unreachable!("failure() never says Ok"),
            Sent::Permanent(reason) => {
                return Err(CallError::Refused {
                    method: method.to_owned(),
                    reason,
                })
            }
            Sent::TooMany(seconds) => (
                Duration::from_secs(seconds),
                format!("429 retry after {seconds}s"),
            ),
            Sent::Transient(error) => (
                backoff(
                    Duration::from_millis(500),
                    Duration::from_secs(30),
                    i64::from(attempts),
                ),
                error,
            ),
        };
        if attempts >= attempts_max {
            return Err(CallError::GaveUp {
                method: method.to_owned(),
                attempts,
                last,
            });
        }
        tracing::warn!(method, attempts, ?wait, error = %last, "Bot API call failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// `base * 2^(attempts-1)`, capped at `max`, with ±50% jitter so that many clients do not
/// retry in step.
pub fn backoff(base: Duration, max: Duration, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let wait = base.saturating_mul(1 << exponent).min(max);
    wait.mul_f64(rand::rng().random_range(0.5..1.5))
}

/// Where the outbox's calls go. Pacing, backoff and dead letters are the dispatcher's,
/// whichever the outlet.
#[derive(Clone)]
pub enum Outlet {
    /// The Bot API over HTTPS.
    BotApi(Api),
    /// MTProto, with the bot's grammers client.
    #[cfg(feature = "mtproto")]
    Mtproto(super::mtproto::outlet::MtprotoOutlet),
}

impl From<Api> for Outlet {
    fn from(api: Api) -> Self {
        Self::BotApi(api)
    }
}

impl Outlet {
    /// Makes one queued call.
    pub async fn send(&self, call: &OutboxRow) -> Sent {
        match self {
            Self::BotApi(api) => {
                let params: serde_json::Value =
                    serde_json::from_str(&call.params).unwrap_or(serde_json::Value::Null);
                send(api, &call.method, &params).await
            }
            #[cfg(feature = "mtproto")]
            Self::Mtproto(outlet) => outlet.send(call).await,
        }
    }
}

/// Secrets some calls need and the outbox never stores: they are added to a call's
/// parameters just before it is sent.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `TELEGRAM_PROVIDER_TOKEN`, for invoices in other currencies than Stars.
    pub provider_token: Option<Arc<str>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.provider_token.as_ref().map(|_| "<hidden>");
        f.debug_struct("Secrets")
            .field("provider_token", &shown)
            .finish()
    }
}

impl Secrets {
    /// `call` with the secrets it needs (borrowed as it is when it needs none); `Err`
    /// says what is missing (such a call can never succeed here).
    pub fn fill<'a>(&self, call: &'a OutboxRow) -> Result<Cow<'a, OutboxRow>, &'static str> {
        if call.method != "sendInvoice" {
            return Ok(Cow::Borrowed(call));
        }
        let Ok(mut params) = serde_json::from_str::<serde_json::Value>(&call.params) else {
            return Ok(Cow::Borrowed(call));
        };
        if params.get("currency").and_then(serde_json::Value::as_str) == Some("XTR") {
            return Ok(Cow::Borrowed(call));
        }
        let token = self
            .provider_token
            .as_deref()
            .ok_or("no payment provider token is configured (TELEGRAM_PROVIDER_TOKEN)")?;
        params["provider_token"] = serde_json::Value::from(token);
        Ok(Cow::Owned(OutboxRow {
            params: params.to_string(),
            ..call.clone()
        }))
    }
}

pub struct Dispatcher {
    pub db: BotDb,
    pub outlet: Outlet,
    pub secrets: Secrets,
    pub limits: Limits,
    pub wake: Arc<Notify>,
    /// Settles the bets of 🎰 spins whose outcome is recorded.
    pub spins: Arc<dyn Spins>,
    /// Records Telegram's answer to a staff refund (`refundStarPayment`) in the ledger.
    pub refunds: Arc<dyn Refunds>,
}

/// Why a call Telegram kept answering with 429 is given up on.
const TOO_OLD_429: &str = "429 until too old";

/// The Bot API method of a staff refund.
pub const REFUND_METHOD: &str = "refundStarPayment";

/// Telegram's last word on a `refundStarPayment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAnswer {
    /// Made (or made before: `CHARGE_ALREADY_REFUNDED`).
    Made,
    /// Refused for good, or given up on (the call is a dead letter): the reason.
    Refused(String),
}

/// What records a staff refund's answer (confirms or reverses the pending refund). It is
/// called before the call is marked sent or dead; an `Err` leaves the call claimed, to be
/// sent again when its lease ends (a made refund then answers `CHARGE_ALREADY_REFUNDED`).
/// Recording twice must change nothing.
pub trait Refunds: Send + Sync {
    /// `params` are the call's JSON parameters (`user_id`, `telegram_payment_charge_id`).
    fn answered<'a>(
        &'a self,
        params: &'a str,
        answer: RefundAnswer,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

/// What settles 🎰 bets once their spin's value is recorded (or known to be lost).
pub trait Spins: Send + Sync {
    /// Voids spins in flight since before `orphan_cutoff` (micros), then settles every
    /// recorded spin; returns how many bets it settled or voided.
    fn settle(
        &self,
        orphan_cutoff: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, String>> + Send + '_>>;
}

struct Pace {
    /// When the next message may go, across all chats.
    next_global: Instant,
    next_by_chat: HashMap<i64, Instant>,
    /// A 🎰 spin ended (its value recorded, or lost) since its bets were last settled.
    spun: bool,
    /// When 🎰 bets were last settled.
    spins_settled: Instant,
}

/// How often the dispatcher looks for 🎰 bets to settle when it ended no spin itself
/// (another instance did, or a crashed one left spins in flight).
const SPINS_EVERY: Duration = Duration::from_secs(1);

impl Dispatcher {
    /// Runs until `stop` turns true and nothing due is left (or `drain` has passed since).
    pub async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        drain: Duration,
    ) -> Result<(), BotDbError> {
        let mut pace = Pace {
            next_global: Instant::now(),
            next_by_chat: HashMap::new(),
            spun: false,
            spins_settled: Instant::now() - SPINS_EVERY,
        };
        let mut stopping_since: Option<Instant> = None;
        loop {
            crate::failpoint::panic_at("dispatcher_panics");
            let sent = self.round(&mut pace).await;
            let worked = match sent {
                Ok(n) => n > 0,
                Err(error) => {
                    tracing::warn!(error = %error, "outbox: database unavailable");
                    false
                }
            };
            if pace.spun || pace.spins_settled.elapsed() >= SPINS_EVERY {
                pace.spun = false;
                pace.spins_settled = Instant::now();
                let cutoff = now_micros() - micros(self.limits.spin_orphan_after);
                match self.spins.settle(cutoff).await {
                    Ok(0) => {}
                    Ok(settled) => {
                        tracing::debug!(settled, "outbox: 🎰 bets settled");
                        // More may be waiting: look again at once.
                        pace.spun = true;
                        continue;
                    }
                    Err(error) => tracing::warn!(error = %error, "outbox: cannot settle 🎰 bets"),
                }
            }
            if *stop.borrow() {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                let pending = self.db.pending_calls().await.unwrap_or(0);
                if pending == 0 || since.elapsed() >= drain {
                    if pending > 0 {
                        tracing::warn!(pending, "outbox: stopping with calls still pending; they go out at the next start");
                    }
                    return Ok(());
                }
            }
            if !worked {
                tokio::select! {
                    () = self.wake.notified() => {}
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        }
    }

    /// Claims due calls and sends those the pace allows; returns how many were tried.
    async fn round(&self, pace: &mut Pace) -> Result<usize, BotDbError> {
        let lease = micros(self.limits.lease);
        let claimed = self.db.claim_calls(self.limits.claim_size, lease).await?;
        let mut tried = 0;
        let mut in_flight = tokio::task::JoinSet::new();
        // Calls the pace holds back go back to the table together, in one statement.
        let mut deferred = Vec::new();
        for call in claimed {
            let now = Instant::now();
            if let Some(chat) = call.chat_id {
                let ready = pace.next_by_chat.get(&chat).copied().unwrap_or(now);
                if ready > now || pace.next_global > now {
                    let wait = ready.max(pace.next_global) - now;
                    deferred.push((call.id, now_micros() + micros(wait)));
                    continue;
                }
                pace.next_by_chat
                    .insert(chat, now + self.limits.chat_interval);
                pace.next_global = now + Duration::from_secs(1) / self.limits.global_per_s.max(1);
            }
            if call.spin.is_some() && !self.db.begin_spin(call.id).await? {
                continue;
            }
            tried += 1;
            let outlet = self.outlet.clone();
            let secrets = self.secrets.clone();
            let timeout = self.limits.call_timeout();
            in_flight.spawn(async move {
                let sent = match secrets.fill(&call) {
                    Ok(filled) => tokio::time::timeout(timeout, outlet.send(&filled))
                        .await
                        .unwrap_or_else(|_| {
                            Sent::Transient(format!("no answer within {timeout:?}"))
                        }),
                    Err(missing) => Sent::Permanent(missing.to_owned()),
                };
                (call, sent)
            });
        }
        // Plain sends are marked together, in one statement at the end of the round.
        let mut sent_ids = Vec::new();
        while let Some(joined) = in_flight.join_next().await {
            let Ok((call, sent)) = joined else { continue };
            if matches!(sent, Sent::Ok(_)) {
                crate::failpoint::hit("after_send");
                if call.spin.is_none() && call.then_send.is_none() && call.method != REFUND_METHOD {
                    sent_ids.push(call.id);
                    continue;
                }
            }
            self.settle(&call, sent, pace).await?;
        }
        self.db.mark_sent_all(&sent_ids).await?;
        self.db.defer_all(&deferred).await?;
        if pace.next_by_chat.len() > 10_000 {
            let now = Instant::now();
            pace.next_by_chat.retain(|_, at| *at > now);
        }
        Ok(tried)
    }

    async fn settle(
        &self,
        call: &OutboxRow,
        sent: Sent,
        pace: &mut Pace,
    ) -> Result<(), BotDbError> {
        if call.spin.is_some() {
            pace.spun = true;
            return self.settle_spin(call, sent).await;
        }
        let sent = if call.method == REFUND_METHOD {
            match self.refund_answer(call, sent).await {
                Some(sent) => sent,
                None => return Ok(()),
            }
        } else {
            sent
        };
        let last = self.is_final(call, &sent);
        match sent {
            Sent::Ok(result) => {
                let Some(then) = call.then_send.as_deref() else {
                    return self.db.mark_sent(call.id).await;
                };
                let link = result.as_ref().and_then(serde_json::Value::as_str);
                match (LinkMessage::parse(then), link) {
                    (Some(then), Some(link)) => {
                        self.db.mark_sent_then(call, &then.with_link(link)).await
                    }
                    _ => {
                        tracing::warn!(id = call.id, method = %call.method, "outbox: the answer carried no link to pass on");
                        self.db
                            .mark_dead(call.id, "the answer carried no link to pass on")
                            .await
                    }
                }
            }
            Sent::TooMany(seconds) => {
                tracing::info!(id = call.id, seconds, "outbox: 429, waiting as told");
                let until = Instant::now() + Duration::from_secs(seconds);
                if let Some(chat) = call.chat_id {
                    pace.next_by_chat.insert(chat, until);
                }
                if last {
                    return self.db.mark_dead(call.id, TOO_OLD_429).await;
                }
                self.db
                    .retry_later(
                        call.id,
                        now_micros() + micros(Duration::from_secs(seconds)),
                        false,
                        &format!("429 retry after {seconds}s"),
                    )
                    .await
            }
            Sent::Transient(error) => {
                let attempts = call.attempts + 1;
                if last {
                    tracing::warn!(id = call.id, attempts, error = %error, "outbox: dead letter");
                    return self.db.mark_dead(call.id, &error).await;
                }
                let wait = self.backoff(attempts);
                tracing::info!(id = call.id, attempts, ?wait, error = %error, "outbox: retrying later");
                self.db
                    .retry_later(call.id, now_micros() + micros(wait), true, &error)
                    .await
            }
            Sent::Permanent(error) => {
                tracing::warn!(id = call.id, method = %call.method, error = %error, "outbox: refused by Telegram, dead letter");
                self.db.mark_dead(call.id, &error).await
            }
        }
    }

    /// Whether `sent` ends `call`: sent, refused for good, or given up on (its attempts
    /// used up, or too old to be worth sending); otherwise it is tried again later.
    fn is_final(&self, call: &OutboxRow, sent: &Sent) -> bool {
        match sent {
            Sent::Ok(_) | Sent::Permanent(_) => true,
            Sent::Transient(_) => {
                call.attempts + 1 >= self.limits.attempts_max || self.too_old(call)
            }
            Sent::TooMany(_) => self.too_old(call),
        }
    }

    /// Records the answer to a staff refund in the ledger before the call is marked, and
    /// returns what is left to do with the call; `None` when the answer could not be
    /// recorded (the call stays claimed until its lease ends, then goes again). A
    /// `CHARGE_ALREADY_REFUNDED` is a refund made.
    async fn refund_answer(&self, call: &OutboxRow, sent: Sent) -> Option<Sent> {
        let sent = match sent {
            Sent::Permanent(error) if error.contains("CHARGE_ALREADY_REFUNDED") => Sent::Ok(None),
            other => other,
        };
        if !self.is_final(call, &sent) {
            // Tried again later: no answer yet.
            return Some(sent);
        }
        let answer = match &sent {
            Sent::Ok(_) => RefundAnswer::Made,
            Sent::Permanent(error) | Sent::Transient(error) => RefundAnswer::Refused(error.clone()),
            Sent::TooMany(_) => RefundAnswer::Refused(TOO_OLD_429.to_owned()),
        };
        match self.refunds.answered(&call.params, answer).await {
            Ok(()) => Some(sent),
            Err(error) => {
                tracing::warn!(id = call.id, error = %error, "outbox: cannot record a refund's answer; it is asked again later");
                None
            }
        }
    }

    /// A spin is sent at most once: only a 429 (Telegram did not roll) puts it back in
    /// the queue; any other failure may have rolled, so its value is lost for good.
    async fn settle_spin(&self, call: &OutboxRow, sent: Sent) -> Result<(), BotDbError> {
        match sent {
            Sent::Ok(message) => {
                let value = message
                    .as_ref()
                    .and_then(|m| m.pointer("/dice/value"))
                    .and_then(serde_json::Value::as_i64);
                let error = value
                    .is_none()
                    .then_some("the answer carried no dice value");
                self.db.end_spin(call.id, value, error).await?;
            }
            Sent::TooMany(seconds) if !self.too_old(call) => {
                self.db
                    .requeue_spin(
                        call.id,
                        now_micros() + micros(Duration::from_secs(seconds)),
                        &format!("429 retry after {seconds}s"),
                    )
                    .await?;
            }
            Sent::TooMany(_) => {
                self.db
                    .end_spin(call.id, None, Some("429 until too old"))
                    .await?
            }
            Sent::Transient(error) | Sent::Permanent(error) => {
                tracing::warn!(id = call.id, error = %error, "outbox: 🎰 send failed; its bet is voided");
                self.db.end_spin(call.id, None, Some(&error)).await?;
            }
        }
        Ok(())
    }

    fn too_old(&self, call: &OutboxRow) -> bool {
        now_micros() - call.created_at > micros(self.limits.age_max)
    }

    fn backoff(&self, attempts: i64) -> Duration {
        backoff(self.limits.backoff_base, self.limits.backoff_max, attempts)
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
