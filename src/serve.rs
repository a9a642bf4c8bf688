//! `croupier serve`: the bot. Webhook (or long polling) in, outbox out, until SIGINT or
//! SIGTERM; then it stops taking updates, finishes those in flight and flushes the outbox.

use std::time::Duration;

use anyhow::Context;
use bot_adapter::limit::RateLimit;
use croupier::telegram::db::BotDb;
use croupier::telegram::dispatcher::{self, Limits};
use croupier::telegram::pipeline::{self, Pipeline};
use croupier::telegram::webhook;
use frankenstein::response::MethodResponse;
use frankenstein::AsyncTelegramApi;
use projections::projector::{Projector, BATCH_SIZE};
use store::EventStore;
use tokio::sync::watch;

use crate::database::{with_store, Database};

/// What `serve` needs, from flags and environment.
pub struct Settings {
    pub database_url: String,
    pub listen: String,
    pub polling: bool,
    /// Quiet after which a conversation session expires.
    pub session_timeout: Duration,
    /// In flight after which a 🎰 spin is taken as lost.
    pub spin_orphan_after: Duration,
    pub token: String,
    pub secret: Option<String>,
    pub api_url: String,
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

pub async fn run(
    database: &Database,
    settings: Settings,
) -> anyhow::Result<std::process::ExitCode> {
    check_token(&settings.token)?;
    if !settings.polling {
        let secret = settings.secret.as_deref().context(
            "serve needs TELEGRAM_WEBHOOK_SECRET (the webhook's secret token), or --polling for local development",
        )?;
        check_secret(secret)?;
    }
    with_store!(database, store => serve_on(store.clone(), settings).await)
}

async fn serve_on<S: EventStore>(
    store: S,
    settings: Settings,
) -> anyhow::Result<std::process::ExitCode> {
    let db = BotDb::connect(&settings.database_url, 32)
        .await
        .with_context(|| {
            format!(
                "cannot connect to {}",
                store::url::redact(&settings.database_url)
            )
        })?;
    let pipeline = Pipeline::start(
        store,
        db,
        pipeline::bot(&settings.token),
        RateLimit::default(),
    );
    let api = dispatcher::api(&settings.api_url, &settings.token, Duration::from_secs(30));
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = Limits {
        spin_orphan_after: settings.spin_orphan_after,
        ..Limits::default()
    };
    let dispatcher = pipeline.dispatcher(api.clone(), limits);
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
    let polling = settings
        .polling
        .then(|| tokio::spawn(poll(pipeline.clone(), api.clone(), stop_rx.clone())));

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let secret = if settings.polling {
        None
    } else {
        settings.secret.clone()
    };
    let mode = if settings.polling {
        "long polling"
    } else {
        "webhook at /telegram/webhook"
    };
    println!("croupier serve: listening on {address} ({mode})");
    let app = webhook::router(pipeline, secret);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;

    eprintln!("croupier serve: stopping; flushing the outbox");
    let _ = stop_tx.send(true);
    if let Some(polling) = polling {
        let _ = polling.await;
    }
    let _ = projecting.await;
    let _ = sweeping.await;
    dispatching.await.context("the dispatcher panicked")??;
    eprintln!("croupier serve: stopped");
    Ok(std::process::ExitCode::SUCCESS)
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
                        tracing::warn!(error = %error, update_id = id, "update not processed; retrying");
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
