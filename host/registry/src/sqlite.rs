//! `type = "sqlite"`: the embedded backend. Keys: `file` (default `clio.db`), `path` (the
//! directory, default `data_dir`), `relative` (`path` is relative to `data_dir`, default
//! true; ALEPIZ's `db` entries), `db_lock_timeout`, `storage_querying_processes_num`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clio_config::{Config, ResolvedBackend};
use clio_core::BackendSpec;
use clio_storage::StorageBackend;
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use serde::Deserialize;

use crate::{RegistryError, settings};

/// An SQLite entry's keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteSettings {
    #[serde(default = "default_file")]
    file: PathBuf,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default = "yes")]
    relative: bool,
    #[serde(default = "default_lock_timeout")]
    db_lock_timeout: u64,
    #[serde(default)]
    storage_querying_processes_num: usize,
}

fn default_file() -> PathBuf {
    PathBuf::from("clio.db")
}
fn yes() -> bool {
    true
}
fn default_lock_timeout() -> u64 {
    5000
}

pub(crate) fn factory(b: &ResolvedBackend, config: &Config) -> Result<BackendSpec, RegistryError> {
    let s: SqliteSettings = settings(b)?;
    let invalid = |detail: String| crate::invalid(b, detail);
    let dir = match (&s.path, s.relative) {
        (None, _) => config.data_dir.clone(),
        (Some(p), true) => config.data_dir.join(p),
        (Some(p), false) if p.is_absolute() => p.clone(),
        (Some(p), false) => {
            return Err(invalid(format!(
                "path `{}` must be absolute when relative = false",
                p.display()
            )));
        }
    };
    if s.file.as_os_str().is_empty() {
        return Err(invalid("file must not be empty".into()));
    }
    let mut o = SqliteOptions::new(dir.join(&s.file));
    o.busy_timeout = Duration::from_millis(s.db_lock_timeout);
    o.readers = s.storage_querying_processes_num;
    o.trend_intervals = config.storage.trend_intervals.clone();
    o.writer_priority = config.cache.flush_priority;
    o.keys = Arc::new(
        config
            .storage
            .data_keys()
            .map_err(|e| invalid(e.to_string()))?,
    );
    let inside_data_dir = s.path.is_none() || s.relative;
    Ok(BackendSpec {
        name: b.config.name.clone(),
        kind: "sqlite".into(),
        open: Arc::new(move || {
            let o = o.clone();
            Box::pin(async move {
                if inside_data_dir && let Some(parent) = o.path.parent() {
                    // Directories under data_dir are Clio's to make; others (a mount
                    // point) must exist, or the backend counts as down.
                    let _ = std::fs::create_dir_all(parent);
                }
                let b = SqliteBackend::open(o)?;
                Ok(Arc::new(b) as Arc<dyn StorageBackend>)
            })
        }),
    })
}
