//! The engine's half of an online backup: a consistent set of files from which a data
//! directory can be rebuilt, taken without stopping writers.
//!
//! Under the flush lock (flushes wait; writes go on into the log and the cache) the primary
//! writes a snapshot of itself, then the log segments are copied as they are. The snapshot
//! holds everything flushed; the log holds everything acknowledged since (and the flush
//! marks that say where the snapshot's contents end), so a restored directory starts like
//! one after a crash at the moment the copy finished: replay brings back every point
//! acknowledged before the backup's position. Log records appended during the copy of the
//! last segment may be cut; replay treats a cut tail as the end of the log.
//!
//! A primary that is a database server (PostgreSQL, InfluxDB) has no snapshot here: its
//! history is backed up by its own tools. The files are then the log, the catalog's copy and
//! the time the copy was taken under the flush lock: the database restored to any moment
//! after that time holds every segment the copy's flush marks call flushed, and replaying the
//! copied log (idempotently) brings back the rest.

use std::path::Path;

use super::*;

/// What [`Store::snapshot_files`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotReport {
    /// The primary's snapshot file, relative to the target directory; `None` when the
    /// primary is a database server with its own backup tools (see `external_primary`).
    pub primary_file: Option<String>,
    /// The primary that keeps its history itself (no snapshot taken): its configured name
    /// and type, e.g. `("pg", "postgres")`.
    pub external_primary: Option<(String, String)>,
    /// When the copy was taken, ms since the epoch, read while flushes were held: every
    /// segment the copy calls flushed had reached the primary by then.
    pub taken_ms: i64,
    /// Log segments copied, relative to the target directory.
    pub log_files: Vec<String>,
    /// The last log segment copied and its length: every write acknowledged before the
    /// call began is before this position.
    pub position: (u64, u64),
    /// The last segment the primary holds in full (the snapshot's flush mark).
    pub flushed_upto: u64,
    /// Milliseconds the flushes waited.
    pub millis: u64,
}

impl Store {
    /// Writes `primary.db` (the primary's snapshot), `wal/<segment>.wal` and `catalog.bin`
    /// into `target`, an empty directory. Flushes wait meanwhile; writes do not.
    pub async fn snapshot_files(&self, target: &Path) -> Result<SnapshotReport> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let started = Instant::now();
        let wal_dir = inner.opts.data_dir.join("wal");
        let target_wal = target.join("wal");
        std::fs::create_dir_all(&target_wal)
            .map_err(|e| Error::io(format!("creating {}", target_wal.display()), e))?;
        let _held = inner.flush_lock.lock().await;
        let primary = inner.primary.ensure().await?;
        let flushed_upto = inner.flushed_upto.load(Ordering::Acquire);
        let (primary_file, external_primary) =
            match primary.snapshot(&target.join("primary.db")).await {
                Ok(()) => (Some("primary.db".to_owned()), None),
                // A database server: its own tools back up the history (docs/backups.md).
                Err(clio_storage::StorageError::Unsupported { .. }) => (
                    None,
                    Some((inner.primary.name.clone(), inner.primary.kind.clone())),
                ),
                Err(e) => return Err(e.into()),
            };
        let mut log_files = Vec::new();
        let mut position = (0, 0);
        for (n, path) in crate::wal::list_segments(&wal_dir)? {
            let name = format!("wal/{n:020}.wal");
            let to = target.join(&name);
            let copied = std::fs::copy(&path, &to)
                .map_err(|e| Error::io(format!("copying {}", path.display()), e))?;
            position = (n, copied);
            log_files.push(name);
        }
        let catalog = crate::catalog::snapshot::path(&inner.opts.data_dir);
        if catalog.exists() {
            std::fs::copy(&catalog, target.join(crate::catalog::snapshot::FILE_NAME))
                .map_err(|e| Error::io(format!("copying {}", catalog.display()), e))?;
        }
        // Still under the flush lock: no flush has moved the primary on since the copy's
        // flush marks were read.
        let taken_ms = crate::now_ms();
        Ok(SnapshotReport {
            primary_file,
            external_primary,
            taken_ms,
            log_files,
            position,
            flushed_upto,
            millis: started.elapsed().as_millis() as u64,
        })
    }
}
