//! Choosing the backend from the database URL.

use anyhow::Context;
use store::{EventStore, PgStore, SqliteStore};

/// The configured store. `EventStore` is generic, so callers dispatch with
/// [`with_store!`].
pub enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// Runs `$body` with `$store` bound to the concrete store.
macro_rules! with_store {
    ($database:expr, $store:ident => $body:expr) => {
        match $database {
            $crate::database::Database::Postgres($store) => $body,
            $crate::database::Database::Sqlite($store) => $body,
        }
    };
}
pub(crate) use with_store;

impl Database {
    /// Connects and applies migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let database = Self::connect(url).await?;
        with_store!(&database, s => s.migrate().await)
            .with_context(|| format!("cannot migrate {}", store::url::redact(url)))?;
        Ok(database)
    }

    /// Connects without touching the schema (for tools that work in scratch databases).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let shown = store::url::redact(url);
        let database = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(
                PgStore::connect(url)
                    .await
                    .with_context(|| format!("cannot connect to {shown}"))?,
            )
        } else if url.starts_with("sqlite:") {
            Self::Sqlite(
                SqliteStore::connect(url)
                    .await
                    .with_context(|| format!("cannot open {shown}"))?,
            )
        } else {
            anyhow::bail!(
                "unsupported database url '{shown}': use sqlite://PATH or postgres://USER@HOST/DB"
            );
        };
        Ok(database)
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "PostgreSQL",
            Self::Sqlite(_) => "SQLite",
        }
    }
}
