//! The task that records the expiry of idle conversation sessions.

use std::time::Duration;

use store::EventStore;
use tokio::sync::watch;

use crate::pipeline::Pipeline;

/// Expires idle conversation sessions, checking about ten times per timeout (at most
/// every 5 s, at least every 100 ms).
pub async fn sweep_sessions<S: EventStore>(
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
