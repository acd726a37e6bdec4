//! Continuous archiving: closed log segments copied to `[backup] archive_dir` as the flush
//! closes them, so that a backup plus the archive restores to any time since the backup
//! (`clio restore --to-time`, see `crate::pitr`).
//!
//! The flush closes the current segment (rotation), then copies every closed segment not
//! yet archived (written as `<n>.wal.partial`, synced, renamed, the directory synced), and
//! records the last one in `<data_dir>/archive.json`. A segment is deleted from the log only
//! once archived, so a failing archive keeps the log growing (bounded by
//! `wal.max_size_mb`, as with a primary that is down) and loses nothing; the failure is
//! logged once per cause, counted, and shown in the storage status.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Error, Result};

const STATE_FILE: &str = "archive.json";

/// Where a data directory's archiving stands, kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    dir: PathBuf,
    upto: u64,
}

/// The engine's archiver (present while `archive_dir` is set).
#[derive(Debug)]
pub(crate) struct Archiver {
    dir: PathBuf,
    state_path: PathBuf,
    /// Every segment `<= upto` is in the archive.
    upto: AtomicU64,
    /// Segments archived by this process.
    pub(crate) segments: AtomicU64,
    /// Failed attempts.
    pub(crate) failures: AtomicU64,
    /// Why the last attempt failed, until one succeeds.
    pub(crate) failing: Mutex<Option<String>>,
}

/// What [`crate::Store::storage_status`] shows of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveStatus {
    /// The archive directory.
    pub dir: String,
    /// Every log segment up to this one is archived.
    pub archived_upto: u64,
    /// Segments archived since the start.
    pub segments: u64,
    /// Failed attempts since the start.
    pub failures: u64,
    /// Why archiving fails now, if it does.
    pub failing: Option<String>,
}

impl Archiver {
    /// The archiver of `data_dir`, archiving into `dir` (created if missing).
    pub(crate) fn open(data_dir: &Path, dir: &Path) -> Result<Archiver> {
        fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating the log archive {}", dir.display()), e))?;
        let state_path = data_dir.join(STATE_FILE);
        let state: State = match fs::read(&state_path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(_) => State::default(),
        };
        // Another archive directory than last time starts over with what the log holds.
        let upto = if state.dir == dir { state.upto } else { 0 };
        Ok(Archiver {
            dir: dir.to_path_buf(),
            state_path,
            upto: AtomicU64::new(upto),
            segments: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            failing: Mutex::new(None),
        })
    }

    /// Every segment up to this one is archived.
    pub(crate) fn upto(&self) -> u64 {
        self.upto.load(Ordering::Acquire)
    }

    /// Archives the closed segments `<= closed` of `wal_dir` not archived yet. Failures are
    /// logged and counted here; the caller only limits log truncation to [`Self::upto`].
    pub(crate) fn archive(&self, wal_dir: &Path, closed: u64) {
        match self.archive_inner(wal_dir, closed) {
            Ok(n) => {
                if self.failing.lock().take().is_some() {
                    info!(dir = %self.dir.display(), "log archiving works again");
                }
                if n > 0 {
                    self.segments.fetch_add(n, Ordering::Relaxed);
                }
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let msg = e.to_string();
                let mut f = self.failing.lock();
                if f.as_deref() != Some(msg.as_str()) {
                    warn!(dir = %self.dir.display(), error = %msg,
                          "log archiving failed; the log keeps the segments until it works");
                }
                *f = Some(msg);
            }
        }
    }

    fn archive_inner(&self, wal_dir: &Path, closed: u64) -> Result<u64> {
        let mut done = 0;
        let upto = self.upto();
        for (n, path) in crate::wal::list_segments(wal_dir)? {
            if n <= upto || n > closed {
                continue;
            }
            copy_segment(&path, &self.dir, n)?;
            self.upto.store(n, Ordering::Release);
            done += 1;
        }
        if done > 0 {
            self.save()?;
        }
        Ok(done)
    }

    fn save(&self) -> Result<()> {
        let state = State {
            dir: self.dir.clone(),
            upto: self.upto(),
        };
        let tmp = self.state_path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        fs::write(&tmp, bytes)
            .and_then(|()| fs::rename(&tmp, &self.state_path))
            .map_err(|e| Error::io(format!("writing {}", self.state_path.display()), e))
    }

    pub(crate) fn status(&self) -> ArchiveStatus {
        ArchiveStatus {
            dir: self.dir.display().to_string(),
            archived_upto: self.upto(),
            segments: self.segments.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            failing: self.failing.lock().clone(),
        }
    }
}

/// Copies segment `n` into the archive `dir`. A segment already there with the same bytes
/// (a copy whose record was lost in a crash) is fine; with other bytes it belongs to another
/// history (a data directory restored to an earlier time) and is never overwritten.
fn copy_segment(from: &Path, dir: &Path, n: u64) -> Result<()> {
    let name = format!("{n:020}.wal");
    let to = dir.join(&name);
    if to.exists() {
        if same_bytes(from, &to)? {
            return Ok(());
        }
        return Err(Error::InvalidRequest(format!(
            "the archive {} already holds a different segment {name}: it belongs to another history (after a point-in-time restore, archive into a new directory)",
            dir.display()
        )));
    }
    let partial = dir.join(format!("{name}.partial"));
    let r = (|| -> std::io::Result<()> {
        fs::copy(from, &partial)?;
        fs::File::open(&partial)?.sync_all()?;
        fs::rename(&partial, &to)?;
        fs::File::open(dir)?.sync_all()
    })();
    r.map_err(|e| {
        let _ = fs::remove_file(&partial);
        Error::io(
            format!("archiving {} into {}", from.display(), dir.display()),
            e,
        )
    })
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let open =
        |p: &Path| fs::File::open(p).map_err(|e| Error::io(format!("reading {}", p.display()), e));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let len = |f: &fs::File, p: &Path| {
        f.metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(format!("reading {}", p.display()), e))
    };
    if len(&fa, a)? != len(&fb, b)? {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let na = fa
            .read(&mut ba)
            .map_err(|e| Error::io(format!("reading {}", a.display()), e))?;
        if na == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..na])
            .map_err(|e| Error::io(format!("reading {}", b.display()), e))?;
        if ba[..na] != bb[..na] {
            return Ok(false);
        }
    }
}
