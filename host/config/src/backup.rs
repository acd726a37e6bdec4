//! `[backup]`: online backups taken by the server (`clio backup create --server`,
//! `POST /api/v1/backups`).

use std::path::PathBuf;

use serde::Deserialize;

/// `[backup]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups go when a request names no destination; relative paths are relative
    /// to the working directory. Unset: every request must name one.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// File holding the key of encrypted backups (64 hex digits). Unset: the
    /// `CLIO_BACKUP_KEY` environment variable, else backups are not encrypted.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Hours after which a missing successful backup is warned about in the log (every
    /// hour); 0 turns the warning off.
    #[serde(default)]
    pub warn_after_hours: u64,
    /// Where closed log segments are archived for point-in-time restores; unset: none.
    #[serde(default)]
    pub archive_dir: Option<PathBuf>,
}
