//! Choosing the backend from the database URL: [`Database`] holds the configured store,
//! and [`with_store!`](crate::with_store) runs generic code on the concrete one.

use crate::{EventStore, PgStore, SqliteStore, StoreError};

/// The configured store. `EventStore` is generic, so callers dispatch with
/// [`with_store!`](crate::with_store).
pub enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// Runs `$body` with `$store` bound to the concrete store of a [`Database`].
#[macro_export]
macro_rules! with_store {
    ($database:expr, $store:ident => $body:expr) => {
        match $database {
            $crate::database::Database::Postgres($store) => $body,
            $crate::database::Database::Sqlite($store) => $body,
        }
    };
}

impl Database {
    /// Connects and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let database = Self::connect(url).await?;
        with_store!(&database, s => s.migrate().await)?;
        Ok(database)
    }

    /// Connects without touching the schema (for tools that work in scratch databases).
    /// `postgres://` or `postgresql://` selects PostgreSQL, `sqlite:` SQLite.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::connect(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl {
                url: crate::url::redact(url),
            })
        }
    }

    /// The backend's name, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "PostgreSQL",
            Self::Sqlite(_) => "SQLite",
        }
    }
}
