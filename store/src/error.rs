//! Infrastructure errors of the store. Business rejections are not here: they are values
//! in [`ledger::Outcome`].

/// A failure of the database or of the data in it. Never recorded against an
/// idempotency key: the caller may retry and the retry runs for real.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A unique constraint refused a row: another writer got there first.
    #[error("conflicting write")]
    Conflict(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored event at position {position} is unreadable: {problem}")]
    Corrupt { position: u64, problem: String },
    #[error("idempotency record '{key}' is unreadable")]
    CorruptRecord { key: String },
    #[error("invalid database url '{url}': {problem}")]
    Url { url: String, problem: String },
    #[error("unsupported database url '{url}': use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl { url: String },
    /// An error several commands share (their batch failed, or their player's stream
    /// could not be read).
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
    /// The writer task died (a bug): no command of this process can commit any more.
    /// Not transient: waiting does not bring the writer back, restarting the process does.
    #[error("the ledger writer has stopped; restart the process")]
    WriterStopped,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(e),
            _ => Self::Database(e),
        }
    }
}

impl StoreError {
    /// The message with every cause after it, as `a: b: c`.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            text.push_str(": ");
            text.push_str(&error.to_string());
            cause = error.source();
        }
        text
    }

    /// The head moved although this writer held the write lock: only a writer that
    /// ignores the lock could do that.
    pub(crate) fn head_moved(expected: Option<u64>) -> Self {
        Self::Corrupt {
            position: expected.unwrap_or(0),
            problem: "the head moved while the write lock was held".to_owned(),
        }
    }

    /// Whether trying again later, in this process, could succeed (the database was down,
    /// a race was lost).
    pub fn transient(&self) -> bool {
        match self {
            Self::Database(_) | Self::Conflict(_) => true,
            Self::Shared(inner) => inner.transient(),
            _ => false,
        }
    }
}

/// Why a low-level append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("stream '{stream}' is at version {actual}, expected {expected}")]
    WrongExpectedVersion {
        stream: String,
        expected: crate::ExpectedVersion,
        actual: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}
