//! The housekeeper's durable state: the cursor of the run in progress (a series id, not a
//! list position, so catalog changes never make it skip or redo series), the last run's
//! report, and the declared registry of live series. Written atomically (temp file, fsync,
//! rename) after every batch.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RunReport;

/// What survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    /// The run in progress: when it started and the last series id it finished.
    #[serde(default)]
    pub in_progress: Option<Progress>,
    /// The last finished run.
    #[serde(default)]
    pub last_run: Option<RunReport>,
    /// Ids of the live series; `None` until a registry is declared (then nothing is a
    /// zombie).
    #[serde(default)]
    pub registry: Option<Vec<u64>>,
}

/// A run's position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// When the run started (ms); decisions use this time, so a resumed run cuts where the
    /// interrupted one would have.
    pub started: i64,
    /// Every series with an id ≤ this is done.
    pub done_through: Option<u64>,
    /// Points deleted so far in this run.
    pub deleted_points: u64,
    /// Trend buckets deleted so far in this run.
    pub deleted_buckets: u64,
    /// Series removed as zombies so far in this run.
    pub zombies: u64,
}

/// Reads and writes the state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the state; a missing file is an empty state, a damaged one is logged and
    /// treated as empty (the worst outcome is one run redone from the start).
    pub fn load(&self) -> Persisted {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "housekeeper state unreadable; starting afresh");
                Persisted::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Persisted::default(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read housekeeper state");
                Persisted::default()
            }
        }
    }

    /// Saves the state durably.
    pub fn save(&self, state: &Persisted) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
