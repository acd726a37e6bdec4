//! A replica's durable cursor, `<data_dir>/replicas/<name>.json`: the log position up to
//! which everything has been applied to it.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A log position: segment number and byte offset after the segment's magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
    /// A refill from the primary started and has not finished: start it again.
    pub(crate) resync: bool,
    /// The highest flush mark of the primary this replica has written.
    #[serde(default)]
    pub(crate) flush: u64,
}

pub(super) fn path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("replicas").join(format!("{name}.json"))
}

pub(super) fn load(path: &Path) -> Result<Option<Cursor>> {
    match fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(c) => Ok(Some(c)),
            // A damaged cursor only costs a refill.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "replica cursor unreadable; the replica will be refilled");
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Saves atomically and durably.
pub(super) fn save(path: &Path, c: &Cursor) -> Result<()> {
    let run = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = path.with_extension("json.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(c).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    run().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
