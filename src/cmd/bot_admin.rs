//! Operators' Telegram commands: `webhook set|info|delete`, `outbox list|retry`,
//! `inbox dead`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bot_adapter::db::{BotDb, OutboxState};
use bot_adapter::dispatcher;
use frankenstein::methods::{DeleteWebhookParams, SetWebhookParams};
use frankenstein::types::AllowedUpdate;
use frankenstein::AsyncTelegramApi;

use bot_adapter::settings::{check_secret, check_token};

/// The updates the bot needs; `pre_checkout_query` must be listed or payments fail.
pub fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::EditedMessage,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::PreCheckoutQuery,
    ]
}

pub enum WebhookAction {
    Set(String),
    Info,
    Delete,
}

pub async fn webhook(
    token: &str,
    api_url: &str,
    secret: Option<&str>,
    action: WebhookAction,
) -> anyhow::Result<ExitCode> {
    check_token(token)?;
    let api = dispatcher::api(api_url, token, Duration::from_secs(30));
    match action {
        WebhookAction::Set(url) => {
            anyhow::ensure!(
                url.starts_with("https://"),
                "the webhook url must start with https:// (Telegram requires it), not '{url}'"
            );
            let secret = secret.context("webhook set needs TELEGRAM_WEBHOOK_SECRET, which Telegram then sends with every update")?;
            check_secret(secret)?;
            let params = SetWebhookParams::builder()
                .url(url.clone())
                .secret_token(secret)
                .allowed_updates(allowed_updates())
                .build();
            api.set_webhook(&params)
                .await
                .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
            outln!("webhook set to {url} (with the secret token and allowed updates incl. pre_checkout_query)")?;
        }
        WebhookAction::Info => {
            let info = api
                .get_webhook_info()
                .await
                .map_err(|e| anyhow::anyhow!("getWebhookInfo failed: {e}"))?
                .result;
            let url = if info.url.is_empty() {
                "(none)"
            } else {
                info.url.as_str()
            };
            outln!("url: {url}\npending updates: {}", info.pending_update_count)?;
            if let Some(error) = info.last_error_message {
                outln!("last error: {error}")?;
            }
        }
        WebhookAction::Delete => {
            let params = DeleteWebhookParams::builder().build();
            api.delete_webhook(&params)
                .await
                .map_err(|e| anyhow::anyhow!("deleteWebhook failed: {e}"))?;
            outln!("webhook deleted")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn outbox_list(database_url: &str, dead: bool) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(database_url, 1)
        .await
        .context("cannot open the outbox")?;
    let state = if dead {
        OutboxState::Dead
    } else {
        OutboxState::Pending
    };
    let calls = db.list_calls(state, 100).await?;
    if calls.is_empty() {
        outln!("no {state} calls")?;
    }
    for call in calls {
        outln!(
            "{:>8}  {:<22} chat {:<14} attempts {:<3} {}",
            call.id,
            call.method,
            call.chat_id
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            call.attempts,
            call.last_error.unwrap_or_default()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn outbox_retry(database_url: &str, id: Option<i64>) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(database_url, 1)
        .await
        .context("cannot open the outbox")?;
    let n = db.retry_dead(id).await?;
    match (id, n) {
        (Some(id), 0) => {
            eprintln!("error: no dead call with id {id}");
            Ok(ExitCode::from(2))
        }
        _ => {
            outln!("{n} dead call(s) queued again")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn inbox_dead(database_url: &str) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(database_url, 1)
        .await
        .context("cannot open the inbox")?;
    let (count, letters) = db.dead_letters(100).await?;
    outln!("{count} dead letter(s): updates that could not be read")?;
    for letter in letters {
        outln!(
            "{:>8}  update {:<12} {}  {}\n          {}",
            letter.id,
            letter
                .update_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            ledger::time::rfc3339(letter.received_at),
            letter.reason,
            letter.body
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
