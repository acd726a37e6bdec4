use std::fmt;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The series does not exist.
    #[error("series {0} not found")]
    NotFound(crate::SeriesId),
    /// The caller passed something the backend cannot store or answer.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The backend does not implement this operation.
    #[error("{backend} does not support {op}")]
    Unsupported {
        /// The backend's type name.
        backend: &'static str,
        /// The operation asked for.
        op: &'static str,
    },
    /// The backend cannot be reached or is busy beyond its timeout; retrying later may work.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("corrupt data in {what}: {detail}")]
    Corrupt {
        /// Which object (series, chunk) is damaged.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Any other backend failure.
    #[error("{0}")]
    Other(String),
}

impl StorageError {
    /// Wraps any displayable backend error as [`StorageError::Other`].
    pub fn other(e: impl fmt::Display) -> Self {
        StorageError::Other(e.to_string())
    }
}

/// Result of a storage operation.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
