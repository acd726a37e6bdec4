//! Mapping SQLite and codec errors onto [`StorageError`].

use clio_storage::StorageError;
use rusqlite::ErrorCode;

/// Converts a SQLite error: lock timeouts and I/O trouble are `Unavailable` (a retry may
/// work), everything else is `Other`.
pub(crate) fn sql(e: rusqlite::Error) -> StorageError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
            ) =>
        {
            StorageError::Unavailable(format!("sqlite: {e}"))
        }
        _ => StorageError::Other(format!("sqlite: {e}")),
    }
}

/// A chunk that does not decode.
pub(crate) fn corrupt_chunk(series: u64, start_ts: i64, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        what: format!("chunk of series {series} starting at {start_ts}"),
        detail: e.to_string(),
    }
}
