use clio_storage::{SeriesId, StorageError, Timestamp};

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more points of a write were invalid; nothing of that write was stored.
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    /// A request parameter was invalid.
    #[error("{0}")]
    InvalidRequest(String),
    /// The series does not exist.
    #[error("series {0} not found")]
    SeriesNotFound(SeriesId),
    /// The write-ahead log could not be written; the write was not acknowledged.
    #[error("write not acknowledged: {0}")]
    Wal(String),
    /// Unflushed data exceeds the memory limit and the flush did not catch up in time.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// The engine is shutting down.
    #[error("engine is closed")]
    Closed,
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// I/O error on the data directory.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// One invalid point of a write.
pub(crate) fn bad_point(series: &str, ts: Timestamp, what: &str) -> String {
    format!("series {series}, ts {ts}: {what}")
}

/// Result of an engine operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
