//! Long polling (`getUpdates`), for local development: an update is confirmed (a higher
//! offset is asked for) only after the pipeline has recorded it.

use std::time::Duration;

use frankenstein::response::MethodResponse;
use frankenstein::AsyncTelegramApi;
use store::EventStore;
use tokio::sync::watch;

use crate::pipeline::Pipeline;

/// Long polling with getUpdates: an update is confirmed (a higher offset is asked for)
/// only after it has been processed.
pub async fn poll<S: EventStore>(
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
