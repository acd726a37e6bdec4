//! What can go wrong with a backup.

use std::path::PathBuf;

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A stored file or the manifest does not hold what it should.
    #[error("{file}: {detail}")]
    Corrupt {
        /// The file.
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// The key is missing, malformed or not the one the backup was made with.
    #[error("{0}")]
    Key(String),
    /// The request cannot be carried out (a restore target that is not empty, say).
    #[error("{0}")]
    Invalid(String),
    /// The backup directory has no manifest.
    #[error("{0} is not a Clio backup (no manifest.json)")]
    NotABackup(PathBuf),
}

impl BackupError {
    pub(crate) fn corrupt(file: &str, detail: &str) -> Self {
        BackupError::Corrupt {
            file: file.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, BackupError>;
