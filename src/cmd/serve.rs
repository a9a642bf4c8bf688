//! `croupier serve`: the bot. Webhook, long polling or MTProto in, outbox out, until SIGINT or
//! SIGTERM; then it stops taking updates, finishes those in flight and flushes the outbox.

use std::time::Duration;

use anyhow::Context;
use bot_adapter::bot::Bot;
use bot_adapter::db::BotDb;
use bot_adapter::dispatcher::{self, Dispatcher, Limits, Outlet, Secrets};
use bot_adapter::limit::RateLimit;
#[cfg(feature = "mtproto")]
use bot_adapter::mtproto;
use bot_adapter::pipeline::{self, Pipeline};
use bot_adapter::webhook;
use frankenstein::response::MethodResponse;
use frankenstein::AsyncTelegramApi;
use ledger::{Currencies, CurrencyCode};
use projections::projector::{Projector, BATCH_SIZE};
use store::EventStore;
use tokio::sync::watch;

use store::{with_store, Database};

/// How updates arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// Telegram posts them to /telegram/webhook.
    Webhook,
    /// getUpdates, for local development.
    Polling,
    /// MTProto with grammers (the `mtproto` build feature).
    Mtproto,
}

/// What `serve` needs, from flags and environment.
pub struct Settings {
    pub database_url: String,
    pub listen: String,
    pub transport: Transport,
    /// Quiet after which a conversation session expires.
    pub session_timeout: Duration,
    /// In flight after which a 🎰 spin is taken as lost.
    pub spin_orphan_after: Duration,
    pub token: String,
    pub secret: Option<String>,
    pub api_url: String,
    /// Deposits in other currencies than Stars, through a payment provider.
    pub provider: Option<ProviderSettings>,
    #[cfg_attr(not(feature = "mtproto"), allow(dead_code))]
    pub mtproto: MtprotoSettings,
}

/// The payment provider's token and the currencies taken through it, as given.
pub struct ProviderSettings {
    pub token: String,
    pub currencies: Vec<String>,
}

/// Checks the provider settings without printing the token: a token of visible ASCII
/// (BotFather's look like `284685063:TEST:...`), and currencies the ledger knows other
/// than Stars.
fn check_provider(provider: &ProviderSettings) -> anyhow::Result<Vec<CurrencyCode>> {
    let token = &provider.token;
    anyhow::ensure!(
        (1..=256).contains(&token.len()) && token.chars().all(|c| c.is_ascii_graphic()),
        "TELEGRAM_PROVIDER_TOKEN does not look like a provider token (1-256 visible ASCII characters)"
    );
    let known = Currencies::default();
    let mut codes = Vec::new();
    for text in &provider.currencies {
        let code = CurrencyCode::new(text.trim().to_ascii_uppercase())
            .ok()
            .filter(|code| *code != CurrencyCode::xtr() && known.get(code).is_ok())
            .with_context(|| {
                let known: Vec<String> = known
                    .codes()
                    .filter(|c| **c != CurrencyCode::xtr())
                    .map(ToString::to_string)
                    .collect();
                format!(
                    "the provider currency '{text}' is not one the ledger holds ({})",
                    known.join(", ")
                )
            })?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    anyhow::ensure!(
        !codes.is_empty(),
        "name at least one provider currency (--provider-currencies USD)"
    );
    Ok(codes)
}

/// The MTProto transport's settings as given (checked by `serve`).
#[cfg_attr(not(feature = "mtproto"), allow(dead_code))]
pub struct MtprotoSettings {
    pub api_id: Option<String>,
    pub api_hash: Option<String>,
    pub session_file: Option<std::path::PathBuf>,
}

/// Checks the webhook secret Telegram accepts: 1-256 of A-Z a-z 0-9 _ -.
pub fn check_secret(secret: &str) -> anyhow::Result<()> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    anyhow::ensure!(
        ok,
        "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -"
    );
    Ok(())
}

/// Checks the token's shape (`123456:ABC...`) without ever printing it.
pub fn check_token(token: &str) -> anyhow::Result<()> {
    let ok = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    anyhow::ensure!(ok, "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, ':', then letters, digits, _ or -)");
    Ok(())
}

/// Checks the MTProto settings without printing the api_hash: api_id a positive number,
/// api_hash 32 hexadecimal digits (as my.telegram.org gives them), a session file.
#[cfg(feature = "mtproto")]
fn check_mtproto(settings: &MtprotoSettings) -> anyhow::Result<(i32, String, std::path::PathBuf)> {
    let api_id = settings
        .api_id
        .as_deref()
        .context("MTProto needs TELEGRAM_API_ID (--api-id), from my.telegram.org")?;
    let api_id = api_id
        .parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .with_context(|| format!("TELEGRAM_API_ID must be a positive number, not '{api_id}'"))?;
    let api_hash = settings
        .api_hash
        .clone()
        .context("MTProto needs TELEGRAM_API_HASH (--api-hash), from my.telegram.org")?;
    anyhow::ensure!(
        api_hash.len() == 32 && api_hash.chars().all(|c| c.is_ascii_hexdigit()),
        "TELEGRAM_API_HASH does not look like an api_hash (32 hexadecimal digits)"
    );
    let session_file = settings.session_file.clone().context(
        "MTProto needs TELEGRAM_SESSION_FILE (--session-file), where the session is kept",
    )?;
    Ok((api_id, api_hash, session_file))
}

/// A bot must not be driven by MTProto and a webhook at once: the Bot API's webhook would
/// take the updates MTProto expects (Telegram's advice is to delete it first).
#[cfg(feature = "mtproto")]
async fn refuse_if_webhook(api_url: &str, token: &str) -> anyhow::Result<()> {
    let api = dispatcher::api(api_url, token, Duration::from_secs(30));
    let info = api.get_webhook_info().await.map_err(|e| {
        anyhow::anyhow!("cannot check whether a webhook is set (getWebhookInfo at {api_url}): {e}")
    })?;
    let url = info.result.url;
    anyhow::ensure!(
        url.is_empty(),
        "a webhook is set for this bot ({url}): MTProto and a webhook must not drive one bot at once; run `croupier webhook delete` first, or serve the webhook"
    );
    Ok(())
}

pub async fn run(
    database: &Database,
    settings: Settings,
) -> anyhow::Result<std::process::ExitCode> {
    check_token(&settings.token)?;
    let provider_currencies = match &settings.provider {
        Some(provider) => check_provider(provider)?,
        None => Vec::new(),
    };
    match settings.transport {
        Transport::Webhook => {
            let secret = settings.secret.as_deref().context(
                "serve needs TELEGRAM_WEBHOOK_SECRET (the webhook's secret token), or --transport polling for local development",
            )?;
            check_secret(secret)?;
        }
        Transport::Polling => {}
        Transport::Mtproto => {
            #[cfg(not(feature = "mtproto"))]
            anyhow::bail!("this croupier was built without MTProto; build it with `cargo build --release --features mtproto`");
            #[cfg(feature = "mtproto")]
            {
                check_mtproto(&settings.mtproto)?;
                refuse_if_webhook(&settings.api_url, &settings.token).await?;
            }
        }
    }
    with_store!(database, store => serve_on(store.clone(), settings, provider_currencies).await)
}

/// Serves with the provider currencies `run` checked (none without a provider).
async fn serve_on<S: EventStore>(
    store: S,
    settings: Settings,
    provider_currencies: Vec<CurrencyCode>,
) -> anyhow::Result<std::process::ExitCode> {
    let db = BotDb::connect(&settings.database_url, 32)
        .await
        .with_context(|| {
            format!(
                "cannot connect to {}",
                store::url::redact(&settings.database_url)
            )
        })?;
    let mut config = pipeline::bot_config(&settings.token);
    config.provider_currencies = provider_currencies;
    let secrets = Secrets {
        provider_token: settings.provider.as_ref().map(|p| p.token.as_str().into()),
    };
    let pipeline = Pipeline::start(store, db, Bot::new(config), RateLimit::default());
    let api = dispatcher::api(&settings.api_url, &settings.token, Duration::from_secs(30));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut inlet = Inlet::open(&settings, &pipeline, api.clone()).await?;
    let limits = Limits {
        spin_orphan_after: settings.spin_orphan_after,
        ..Limits::default()
    };
    let dispatcher = Dispatcher {
        secrets,
        ..pipeline.dispatcher(inlet.outlet(), limits)
    };
    let dispatching = tokio::spawn(dispatcher.run(stop_rx.clone(), Duration::from_secs(10)));
    let sweeping = tokio::spawn(sweep_sessions(
        pipeline.clone(),
        settings.session_timeout,
        stop_rx.clone(),
    ));
    let projecting = tokio::spawn(project_forever(
        pipeline.port.store.clone(),
        settings.database_url.clone(),
        stop_rx.clone(),
    ));
    let (receiving, failed) = inlet.start(&pipeline, stop_rx.clone());

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let (secret, mode) = match settings.transport {
        Transport::Webhook => (settings.secret.clone(), "webhook at /telegram/webhook"),
        Transport::Polling => (None, "long polling"),
        Transport::Mtproto => (None, "MTProto"),
    };
    println!("croupier serve: listening on {address} ({mode})");
    let app = webhook::router(pipeline, secret);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            // A receiver that gives up (MTProto's connection gone) stops the server too.
            tokio::select! {
                () = shutdown_signal() => {}
                Ok(()) = failed => {}
            }
        })
        .await
        .context("the HTTP server failed")?;

    eprintln!("croupier serve: stopping; flushing the outbox");
    let _ = stop_tx.send(true);
    let received = match receiving {
        Some(receiving) => receiving.await.context("the update receiver panicked")?,
        None => Ok(()),
    };
    let _ = projecting.await;
    let _ = sweeping.await;
    dispatching.await.context("the dispatcher panicked")??;
    inlet.close().await;
    received?;
    eprintln!("croupier serve: stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where updates come from besides the webhook route, and the outbox's way out.
enum Inlet {
    /// The webhook (posted to the router) or long polling.
    BotApi { api: dispatcher::Api, polling: bool },
    #[cfg(feature = "mtproto")]
    Mtproto {
        connection: mtproto::transport::Connection,
        updates: Option<mtproto::transport::Updates>,
    },
}

/// Chats whose updates are handled at once over MTProto.
#[cfg(feature = "mtproto")]
const MTPROTO_CHATS_PARALLEL_MAX: usize = 32;

type Receiving = Option<tokio::task::JoinHandle<anyhow::Result<()>>>;

impl Inlet {
    #[cfg_attr(
        not(feature = "mtproto"),
        allow(unused_variables, clippy::unused_async)
    )]
    async fn open<S: EventStore>(
        settings: &Settings,
        pipeline: &Pipeline<S>,
        api: dispatcher::Api,
    ) -> anyhow::Result<Self> {
        match settings.transport {
            Transport::Webhook | Transport::Polling => Ok(Self::BotApi {
                api,
                polling: settings.transport == Transport::Polling,
            }),
            #[cfg(feature = "mtproto")]
            Transport::Mtproto => {
                let (api_id, api_hash, session_file) = check_mtproto(&settings.mtproto)?;
                let mtproto_settings = mtproto::transport::Settings {
                    api_id,
                    api_hash,
                    token: settings.token.clone(),
                    session_file,
                };
                let (connection, updates) =
                    mtproto::transport::connect(&mtproto_settings, pipeline.port.db.clone())
                        .await
                        .context("cannot start the MTProto transport")?;
                Ok(Self::Mtproto {
                    connection,
                    updates: Some(updates),
                })
            }
            #[cfg(not(feature = "mtproto"))]
            Transport::Mtproto => unreachable!("refused before the database is opened"),
        }
    }

    fn outlet(&self) -> Outlet {
        match self {
            Self::BotApi { api, .. } => Outlet::BotApi(api.clone()),
            #[cfg(feature = "mtproto")]
            Self::Mtproto { connection, .. } => Outlet::Mtproto(connection.outlet()),
        }
    }

    /// Starts receiving (polling or MTProto). The receiver resolves with `Ok` when the
    /// receiving gave up for good, which stops `serve`.
    fn start<S: EventStore>(
        &mut self,
        pipeline: &Pipeline<S>,
        stop: watch::Receiver<bool>,
    ) -> (Receiving, tokio::sync::oneshot::Receiver<()>) {
        let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
        let receiving = match self {
            Self::BotApi { polling: false, .. } => None,
            Self::BotApi { api, polling: true } => {
                let (pipeline, api) = (pipeline.clone(), api.clone());
                Some(tokio::spawn(async move {
                    poll(pipeline, api, stop).await;
                    drop(failed_tx);
                    Ok(())
                }))
            }
            #[cfg(feature = "mtproto")]
            Self::Mtproto {
                connection,
                updates,
            } => {
                let updates = updates.take().expect("an inlet is started once");
                let (pipeline, client) = (pipeline.clone(), connection.client.clone());
                Some(tokio::spawn(async move {
                    let result = mtproto::transport::run(
                        pipeline,
                        &client,
                        updates,
                        MTPROTO_CHATS_PARALLEL_MAX,
                        stop,
                        Duration::from_secs(10),
                    )
                    .await;
                    if result.is_err() {
                        let _ = failed_tx.send(());
                    }
                    result.context("the MTProto transport failed")
                }))
            }
        };
        (receiving, failed_rx)
    }

    async fn close(self) {
        #[cfg(feature = "mtproto")]
        if let Self::Mtproto { connection, .. } = self {
            connection.hang_up().await;
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler installs");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// The advisory lock key of the projector: one `serve` per database projects at a time.
const PROJECTOR_LOCK: i64 = 0x0c20_0b1e_5000_0001;

/// Keeps the read models up to the head of the log. On PostgreSQL only the instance
/// holding a session advisory lock projects; when it dies its session ends, the lock is
/// released, and another instance takes over. (Two runners at once would still count
/// nothing twice: every batch claims its checkpoints first.)
async fn project_forever<S: EventStore>(store: S, url: String, mut stop: watch::Receiver<bool>) {
    let projector = loop {
        match Projector::connect(&url).await {
            Ok(projector) => break projector,
            Err(error) => {
                tracing::warn!(error = %error, "projector: cannot connect; retrying");
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    // Held for as long as this instance projects; dropping it releases the lock.
    let mut _lock: Option<sqlx::PgConnection> = None;
    if url.starts_with("postgres") {
        loop {
            match try_lock(&url).await {
                Ok(Some(connection)) => {
                    tracing::info!("projector: this instance maintains the read models");
                    _lock = Some(connection);
                    break;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "projector: cannot take the lock; retrying")
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
    let mut commits = store.commits();
    loop {
        if let Err(error) = projector.catch_up(&store, BATCH_SIZE, |_| {}).await {
            tracing::warn!(error = %error, "projector: catch-up failed; retrying");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = commits.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn try_lock(url: &str) -> Result<Option<sqlx::PgConnection>, sqlx::Error> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(PROJECTOR_LOCK)
        .fetch_one(&mut connection)
        .await?;
    Ok(locked.then_some(connection))
}

/// Long polling with getUpdates: an update is confirmed (a higher offset is asked for)
/// only after it has been processed.
async fn poll<S: EventStore>(
    pipeline: Pipeline<S>,
    api: frankenstein::client_reqwest::Bot,
    mut stop: watch::Receiver<bool>,
) {
    let mut offset: i64 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let params = serde_json::json!({
            "offset": offset, "timeout": 25, "limit": 100,
            "allowed_updates": ["message", "edited_message", "callback_query", "pre_checkout_query"],
        });
        let request =
            api.request::<_, MethodResponse<Vec<serde_json::Value>>>("getUpdates", Some(params));
        let updates = tokio::select! {
            _ = stop.changed() => return,
            result = request => result,
        };
        let updates = match updates {
            Ok(response) => response.result,
            Err(error) => {
                tracing::warn!(error = %error, "getUpdates failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if updates.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for update in updates {
            let id = update
                .get("update_id")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(offset);
            let body = update.to_string();
            loop {
                match pipeline.process(body.as_bytes()).await {
                    Ok(_) => break,
                    Err(error) => {
                        if error.transient() {
                            tracing::warn!(error = %error, update_id = id, "update not processed; retrying");
                        } else {
                            tracing::error!(error = %error, update_id = id, "update cannot be processed until this is mended; retrying");
                        }
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
            offset = offset.max(id + 1);
        }
    }
}

/// Expires idle conversation sessions, checking about ten times per timeout (at most
/// every 5 s, at least every 100 ms).
async fn sweep_sessions<S: EventStore>(
    pipeline: Pipeline<S>,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let every = (timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(5));
    while !*stop.borrow() {
        match pipeline.expire_sessions(timeout).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "sessions expired"),
            Err(error) => tracing::warn!(error = %error, "cannot expire sessions"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}
