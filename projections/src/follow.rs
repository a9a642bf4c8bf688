//! Keeping the read models up to the head of the log while a server runs, with one
//! projecting instance per PostgreSQL database at a time.

use std::time::Duration;

use store::EventStore;
use tokio::sync::watch;

use crate::projector::{Projector, BATCH_SIZE};

/// The advisory lock key of the projector: one `serve` per database projects at a time.
pub const PROJECTOR_LOCK: i64 = 0x0c20_0b1e_5000_0001;

/// Keeps the read models up to the head of the log. On PostgreSQL only the instance
/// holding a session advisory lock projects; when it dies its session ends, the lock is
/// released, and another instance takes over. (Two runners at once would still count
/// nothing twice: every batch claims its checkpoints first.)
pub async fn project_forever<S: EventStore>(
    store: S,
    url: String,
    mut stop: watch::Receiver<bool>,
) {
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
