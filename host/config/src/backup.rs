//! `[backup]`: online backups taken by the server (`clio backup create --server`,
//! `POST /api/v1/backups`).

use std::path::PathBuf;

use serde::Deserialize;

/// `[backup]`.
#[derive(Debug, Clone, Deserialize)]
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
    /// Shell command that archives one closed log segment instead of `archive_dir`
    /// (PostgreSQL's `archive_command`): `%p` its path, `%f` its file name, `%%` a `%`.
    #[serde(default)]
    pub archive_command: Option<String>,
    /// Seconds an `archive_command` run may take before it is killed and retried.
    #[serde(default = "default_archive_command_timeout")]
    pub archive_command_timeout: u64,
}

fn default_archive_command_timeout() -> u64 {
    300
}

impl BackupConfig {
    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        if self.archive_dir.is_some() && self.archive_command.is_some() {
            errs.push("backup: set archive_dir or archive_command, not both".into());
        }
        if let Some(c) = &self.archive_command {
            if c.trim().is_empty() {
                errs.push("backup.archive_command is empty".into());
            } else if !c.contains("%p") {
                errs.push(format!(
                    "backup.archive_command `{c}` does not name the segment: put %p (its path) in it"
                ));
            }
        }
        if self.archive_command_timeout == 0 {
            errs.push("backup.archive_command_timeout must be at least 1 second".into());
        }
    }
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: None,
            key_file: None,
            warn_after_hours: 0,
            archive_dir: None,
            archive_command: None,
            archive_command_timeout: default_archive_command_timeout(),
        }
    }
}
