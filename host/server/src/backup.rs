//! Taking a backup of a running engine (and, through the same code, of a data directory
//! opened offline): the engine's consistent snapshot files plus the housekeeper's state, the
//! Glass AI tables' `glass.db` and the camera images' files (SQLite; on PostgreSQL they are
//! the database's to back up), packed by `clio-backup` under a destination directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clio_backup::{Key, Manifest, SnapshotInfo};
use clio_core::Store;
use parking_lot::Mutex;
use serde::Serialize;

use crate::error::ApiError;

/// Files of the data directory that belong in a backup besides the engine's: the
/// housekeeper's cursor, the alerts' state and the API tokens (when `[auth] token_file` is
/// left at its default). Each is written atomically (renamed into place), so a plain copy is
/// whole.
const EXTRA_FILES: &[&str] = &["housekeeper.json", "alerts.json", "auth.json"];

/// Takes a backup of `store` (whose data directory is `data_dir`) into a new directory under
/// `dest`. `source` is `online` or `offline`. With `base` (a backup id under `dest`, or
/// `latest`), the backup is incremental: of the primary's snapshot it holds only the pages
/// changed since that backup.
pub async fn take(
    store: &Store,
    data_dir: &Path,
    dest: &Path,
    key: Option<Key>,
    source: &str,
    base: Option<&str>,
    glass: Option<&clio_glass::Glass>,
) -> Result<Manifest, ApiError> {
    let invalid = |e: clio_backup::BackupError| match e {
        clio_backup::BackupError::Invalid(m) => ApiError::bad(m),
        e => ApiError::Internal(e.to_string()),
    };
    let base = match base {
        Some("latest") => Some(clio_backup::latest_base(dest).map_err(invalid)?),
        Some(id) => Some(id.to_owned()),
        None => None,
    };
    let created_ms = clio_core::now_ms();
    std::fs::create_dir_all(dest).map_err(|e| {
        ApiError::bad(format!(
            "cannot create the backup directory {}: {e}",
            dest.display()
        ))
    })?;
    let staging = dest.join(format!(".staging-{}", clio_backup::backup_id(created_ms)));
    // Removed however this ends, also when the future is dropped half-way (runtime shutdown).
    let _staging_guard = RemoveOnDrop(staging.clone());
    async {
        std::fs::create_dir_all(&staging)
            .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", staging.display())))?;
        let snap = store
            .snapshot_files(&staging)
            .await
            .map_err(ApiError::from)?;
        for name in EXTRA_FILES {
            let from = data_dir.join(name);
            if from.is_file() {
                std::fs::copy(&from, staging.join(name)).map_err(|e| {
                    ApiError::Internal(format!("cannot copy {}: {e}", from.display()))
                })?;
            }
        }
        // The Glass tables and camera images: through the open tables when the server has
        // them (consistent with concurrent uploads), else from the directory's files.
        let glass_files = match glass {
            Some(g) => g.snapshot_files(&staging).await,
            None => clio_glass::snapshot::snapshot_offline(data_dir, &staging),
        }
        .map_err(|e| ApiError::Internal(format!("cannot copy the Glass AI tables: {e}")))?;
        tracing::debug!(files = glass_files.len(), "glass files in the backup");
        let info = SnapshotInfo {
            source: source.to_owned(),
            position: snap.position,
            flushed_upto: snap.flushed_upto,
            flush_pause_ms: snap.millis,
            created_ms,
            external_primary: snap
                .external_primary
                .as_ref()
                .map(|(name, kind)| clio_backup::ExternalPrimary::new(name, kind, snap.taken_ms)),
        };
        let staging2: PathBuf = staging.clone();
        let dest2 = dest.to_path_buf();
        // Compression and encryption are CPU work: off the async workers.
        tokio::task::spawn_blocking(move || match &base {
            Some(b) => clio_backup::pack_incremental(&staging2, &dest2, &info, key.as_ref(), 3, b),
            None => clio_backup::pack(&staging2, &dest2, &info, key.as_ref(), 3),
        })
        .await
        .map_err(|e| ApiError::Internal(format!("backup task failed: {e}")))?
        .map_err(invalid)
    }
    .await
}

/// Removes a staging directory when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Absent when nothing was staged yet; nothing else to do about an error here.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The last backups taken by this server, for `GET /api/v1/backups` and the metrics.
#[derive(Debug, Default)]
pub struct BackupStatus {
    inner: Mutex<StatusInner>,
}

#[derive(Debug, Default, Clone, Serialize)]
struct StatusInner {
    running: bool,
    last_success: Option<Outcome>,
    last_failure: Option<Failure>,
    taken: u64,
    failed: u64,
}

/// A backup that succeeded.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub path: String,
    /// When it was taken (ms).
    pub at_ms: i64,
    /// Seconds it took.
    pub seconds: f64,
    /// Bytes of the files it holds.
    pub bytes: u64,
    /// Bytes as stored.
    pub stored_bytes: u64,
    /// Milliseconds flushes waited.
    pub flush_pause_ms: u64,
    /// Encrypted or not.
    pub encrypted: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Failure {
    at_ms: i64,
    error: String,
}

impl BackupStatus {
    /// Marks a backup as running; false when one already is (one at a time).
    pub fn begin(&self) -> bool {
        let mut s = self.inner.lock();
        if s.running {
            return false;
        }
        s.running = true;
        true
    }

    /// Records how a backup ended.
    pub fn end(&self, dest: &Path, started: Instant, r: &Result<Manifest, ApiError>) {
        let mut s = self.inner.lock();
        s.running = false;
        match r {
            Ok(m) => {
                s.taken += 1;
                s.last_success = Some(Outcome {
                    id: m.id.clone(),
                    path: dest.join(&m.id).display().to_string(),
                    at_ms: m.created_ms,
                    seconds: started.elapsed().as_secs_f64(),
                    bytes: m.bytes(),
                    stored_bytes: m.stored_bytes(),
                    flush_pause_ms: m.flush_pause_ms,
                    encrypted: m.encryption.is_some(),
                });
            }
            Err(e) => {
                s.failed += 1;
                s.last_failure = Some(Failure {
                    at_ms: clio_core::now_ms(),
                    error: e.to_string(),
                });
            }
        }
    }

    /// The status as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self.inner.lock().clone()).unwrap_or_default()
    }

    /// The last success, if any.
    pub fn last_success(&self) -> Option<Outcome> {
        self.inner.lock().last_success.clone()
    }
}

/// Warns every hour while no backup has succeeded for `after` (counted from the server's
/// start when none has since).
pub async fn warn_when_stale(
    state: crate::state::AppState,
    after: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let started = clio_core::now_ms();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
        let last = state.backups().last_success().map(|o| o.at_ms);
        let since = last.unwrap_or(started);
        let age_ms = clio_core::now_ms().saturating_sub(since);
        if age_ms > after.as_millis() as i64 {
            tracing::warn!(
                hours = age_ms / 3_600_000,
                last_backup = ?last,
                "no successful backup for longer than [backup] warn_after_hours"
            );
        }
    }
}
