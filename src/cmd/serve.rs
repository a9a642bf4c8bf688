//! `croupier serve`: the bot. Webhook, long polling or MTProto in, outbox out, until SIGINT or
//! SIGTERM; then it stops taking updates, finishes those in flight and flushes the outbox,
//! each within the shutdown deadline. A supervised task that dies stops it the same way,
//! with a failure.

use std::time::Duration;

use anyhow::Context;
use bot_adapter::bot::Bot;
use bot_adapter::db::BotDb;
use bot_adapter::dispatcher::{self, Dispatcher, Limits, Outlet, Secrets};
use bot_adapter::limit::{self, RateLimit};
#[cfg(feature = "mtproto")]
use bot_adapter::mtproto;
use bot_adapter::pipeline::{self, Pipeline};
#[cfg(feature = "mtproto")]
use bot_adapter::settings::{check_mtproto, MtprotoKeys, SettingsError};
use bot_adapter::settings::{check_provider, check_secret, check_token};
use bot_adapter::supervise::Supervisor;
use bot_adapter::{listen, webhook};
use bot_adapter::{polling, sweeper};
#[cfg(feature = "mtproto")]
use frankenstein::AsyncTelegramApi;
use ledger::CurrencyCode;
use projections::follow;
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
    /// How long a claimed outbox call is this instance's.
    pub outbox_lease: Duration,
    /// How long a player who used up the inbound burst waits for one more input.
    pub inbound_refill: Duration,
    /// The HTTP listener's timeouts, connection bound and shutdown deadline.
    pub bounds: listen::Bounds,
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

/// The MTProto transport's settings as given (checked by `serve`).
#[cfg_attr(not(feature = "mtproto"), allow(dead_code))]
pub struct MtprotoSettings {
    pub api_id: Option<String>,
    pub api_hash: Option<String>,
    pub session_file: Option<std::path::PathBuf>,
}

#[cfg(feature = "mtproto")]
impl MtprotoSettings {
    fn check(&self) -> Result<MtprotoKeys, SettingsError> {
        check_mtproto(
            self.api_id.as_deref(),
            self.api_hash.as_deref(),
            self.session_file.as_deref(),
        )
    }
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
        Some(provider) => check_provider(&provider.token, &provider.currencies)?,
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
                settings.mtproto.check()?;
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
    let pipeline = Pipeline::start(
        store,
        db,
        Bot::new(config),
        RateLimit::refilling(limit::BURST_DEFAULT, settings.inbound_refill),
    );
    let api = dispatcher::api(&settings.api_url, &settings.token, Duration::from_secs(30));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every long-running task is supervised: one dying stops the server with a failure.
    let mut tasks = Supervisor::new(stop_rx.clone());
    let health = tasks.health();
    let writer = pipeline.port.writer.clone();
    tasks.watch("the ledger writer", async move {
        writer.stopped().await;
        "it stopped".to_owned()
    });
    let mut inlet = Inlet::open(&settings, &pipeline, api.clone()).await?;
    let limits = Limits {
        spin_orphan_after: settings.spin_orphan_after,
        lease: settings.outbox_lease,
        ..Limits::default()
    };
    let dispatcher = Dispatcher {
        secrets,
        ..pipeline.dispatcher(inlet.outlet(), limits)
    };
    tasks.spawn(
        "the outbox dispatcher",
        dispatcher.run(stop_rx.clone(), settings.bounds.shutdown_timeout),
    );
    tasks.spawn(
        "the session sweeper",
        endless(sweeper::sweep_sessions(
            pipeline.clone(),
            settings.session_timeout,
            stop_rx.clone(),
        )),
    );
    tasks.spawn(
        "the projector",
        endless(follow::project_forever(
            pipeline.port.store.clone(),
            settings.database_url.clone(),
            stop_rx.clone(),
        )),
    );
    inlet.start(
        &pipeline,
        stop_rx.clone(),
        settings.bounds.shutdown_timeout,
        &mut tasks,
    );

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let (secret, mode) = match settings.transport {
        Transport::Webhook => (settings.secret.clone(), "webhook at /telegram/webhook"),
        Transport::Polling => (None, "long polling"),
        Transport::Mtproto => (None, "MTProto"),
    };
    // A server is not stopped by a closed stdout (started with `>&-`, say): the banner is
    // a courtesy, and exiting 0 here would look like a clean stop to a supervisor.
    let _ = outln!("croupier serve: listening on {address} ({mode})");
    let app = webhook::router_with(pipeline, secret, health.clone());
    let failed = health.clone().failed();
    let shutdown = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            _ = failed => {}
        }
    };
    listen::serve(listener, app, &settings.bounds, shutdown).await;

    eprintln!("croupier serve: stopping; flushing the outbox");
    let _ = stop_tx.send(true);
    // The tasks flush within the shutdown deadline; a little more for their last writes.
    let late = tasks
        .join(
            tokio::time::Instant::now() + settings.bounds.shutdown_timeout + Duration::from_secs(5),
        )
        .await;
    inlet.close().await;
    if let Some(failure) = health.failure() {
        anyhow::bail!("{failure}; stopped so that a supervisor restarts this server");
    }
    anyhow::ensure!(late.is_empty(), "{} did not stop in time", late.join(", "));
    eprintln!("croupier serve: stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// A task that returns only when asked to stop, as a supervised task.
async fn endless(
    task: impl std::future::Future<Output = ()>,
) -> Result<(), std::convert::Infallible> {
    task.await;
    Ok(())
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
                let MtprotoKeys {
                    api_id,
                    api_hash,
                    session_file,
                } = settings.mtproto.check()?;
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

    /// Starts receiving (polling or MTProto) under `tasks`: a receiver that gives up
    /// (MTProto's connection gone) or dies stops `serve`.
    #[cfg_attr(not(feature = "mtproto"), allow(unused_variables))]
    fn start<S: EventStore>(
        &mut self,
        pipeline: &Pipeline<S>,
        stop: watch::Receiver<bool>,
        drain: Duration,
        tasks: &mut Supervisor,
    ) {
        match self {
            Self::BotApi { polling: false, .. } => {}
            Self::BotApi { api, polling: true } => {
                let (pipeline, api) = (pipeline.clone(), api.clone());
                tasks.spawn("long polling", endless(polling::poll(pipeline, api, stop)));
            }
            #[cfg(feature = "mtproto")]
            Self::Mtproto {
                connection,
                updates,
            } => {
                let updates = updates.take().expect("an inlet is started once");
                let (pipeline, client) = (pipeline.clone(), connection.client.clone());
                tasks.spawn("the MTProto transport", async move {
                    mtproto::transport::run(
                        pipeline,
                        &client,
                        updates,
                        MTPROTO_CHATS_PARALLEL_MAX,
                        stop,
                        drain,
                    )
                    .await
                });
            }
        }
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
