//! One process per data directory: two engines appending to one write-ahead log would
//! interleave records, so the engine (and offline tools that write the same files) hold an
//! exclusive advisory lock on `<data_dir>/LOCK` while they run.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive lock on a data directory, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (creating the directory), failing at once if another process
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(Error::InvalidRequest(format!(
                "{} is in use by another Clio process (lock {} is held); stop it first",
                dir.display(),
                path.display()
            ))),
            Err(TryLockError::Error(e)) => {
                Err(Error::io(format!("cannot lock {}", path.display()), e))
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirLock::acquire(dir.path()).unwrap();
        let e = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another Clio process"), "{e}");
        drop(a);
        DirLock::acquire(dir.path()).unwrap();
    }
}
