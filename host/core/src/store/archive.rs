//! Continuous archiving: closed log segments copied to `[backup] archive_dir` (or handed to
//! `[backup] archive_command`) as the flush closes them, so that a backup plus the archive
//! restores to any time since the backup (`clio restore --to-time`, see `crate::pitr`).
//!
//! The flush closes the current segment (rotation), then archives every closed segment not
//! yet archived (into a directory: written as `<n>.wal.partial`, synced, renamed, the
//! directory synced; by a command: one run per segment, in order, that must exit with 0
//! within its timeout), and records the last one in `<data_dir>/archive.json`. A segment is deleted from the log only
//! once archived, so a failing archive keeps the log growing (bounded by
//! `wal.max_size_mb`, as with a primary that is down) and loses nothing; the failure is
//! logged once per cause, counted, and shown in the storage status.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::options::ArchiveCommand;

const STATE_FILE: &str = "archive.json";

/// Where a data directory's archiving stands, kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    dir: PathBuf,
    #[serde(default)]
    command: Option<String>,
    upto: u64,
}

/// Where segments go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveTarget {
    /// Copied into this directory.
    Dir(PathBuf),
    /// Handed to this command.
    Command(ArchiveCommand),
}

/// The engine's archiver (present while `archive_dir` is set).
#[derive(Debug)]
pub(crate) struct Archiver {
    target: ArchiveTarget,
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
    /// The archive directory, or the command (`command: ...`).
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
    /// The archiver of `data_dir`, archiving to `target` (a directory is created if missing).
    pub(crate) fn open(data_dir: &Path, target: ArchiveTarget) -> Result<Archiver> {
        if let ArchiveTarget::Dir(dir) = &target {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating the log archive {}", dir.display()), e))?;
        }
        let state_path = data_dir.join(STATE_FILE);
        let state: State = match fs::read(&state_path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(_) => State::default(),
        };
        // Another archive than last time starts over with what the log holds.
        let same = match &target {
            ArchiveTarget::Dir(dir) => state.command.is_none() && state.dir == *dir,
            ArchiveTarget::Command(c) => state.command.as_deref() == Some(c.command.as_str()),
        };
        let upto = if same { state.upto } else { 0 };
        Ok(Archiver {
            target,
            state_path,
            upto: AtomicU64::new(upto),
            segments: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            failing: Mutex::new(None),
        })
    }

    /// The directory or command, for logs and status.
    fn describe(&self) -> String {
        match &self.target {
            ArchiveTarget::Dir(d) => d.display().to_string(),
            ArchiveTarget::Command(c) => format!("command: {}", c.command),
        }
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
                    info!(archive = %self.describe(), "log archiving works again");
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
                    warn!(archive = %self.describe(), error = %msg,
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
            match &self.target {
                ArchiveTarget::Dir(dir) => copy_segment(&path, dir, n)?,
                ArchiveTarget::Command(c) => run_command(c, &path)?,
            }
            self.upto.store(n, Ordering::Release);
            done += 1;
        }
        if done > 0 {
            self.save()?;
        }
        Ok(done)
    }

    fn save(&self) -> Result<()> {
        let (dir, command) = match &self.target {
            ArchiveTarget::Dir(d) => (d.clone(), None),
            ArchiveTarget::Command(c) => (PathBuf::new(), Some(c.command.clone())),
        };
        let state = State {
            dir,
            command,
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
            dir: self.describe(),
            archived_upto: self.upto(),
            segments: self.segments.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            failing: self.failing.lock().clone(),
        }
    }
}

/// `command` with `%p` (the segment's path), `%f` (its file name) and `%%` replaced, each
/// path quoted for `sh`.
fn expand(command: &str, path: &Path) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = String::with_capacity(command.len() + 64);
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => out.push_str(&quote(&path.to_string_lossy())),
            Some('f') => out.push_str(&quote(&name)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Runs the archive command for one segment: archived when it exits with 0 within its
/// timeout. A run that outlives the timeout is killed, so a hung archive (a network mount
/// gone away) never holds the flush; what it printed on stderr (its first 2 KiB) goes into
/// the error.
fn run_command(c: &ArchiveCommand, path: &Path) -> Result<()> {
    let line = expand(&c.command, path);
    let fail = |what: String| Error::InvalidRequest(format!("archive_command `{line}` {what}"));
    // Its own process group, so that a timeout kills what the shell started too (a `sleep`
    // or `rsync` child would otherwise outlive it and hold the pipe open).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("could not start: {e}")))?;
    // Drained in a thread so that a chatty command never blocks on a full pipe.
    let (said_tx, said_rx) = std::sync::mpsc::channel();
    if let Some(mut err) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = 2048usize.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            let _ = said_tx.send(String::from_utf8_lossy(&kept).trim().to_string());
        });
    }
    let deadline = Instant::now() + c.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break Err(fail(format!(
                    "did not finish within {} s and was killed",
                    c.timeout.as_secs_f64()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(fail(format!("could not be waited for: {e}"))),
        }
    };
    // Something the command left running in the background may keep stderr open: its words
    // are waited for briefly, never for as long as it runs.
    let said = said_rx
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_default();
    let status = status?;
    if status.success() {
        return Ok(());
    }
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    Err(fail(format!("failed ({status}){said}")))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cmd(command: &str, timeout_ms: u64) -> ArchiveCommand {
        ArchiveCommand {
            command: command.into(),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn placeholders_are_quoted_for_the_shell() {
        let p = Path::new("/data/it's here/00000000000000000007.wal");
        assert_eq!(
            expand("cp %p /a/%f && echo 100%% %x %", p),
            "cp '/data/it'\\''s here/00000000000000000007.wal' /a/'00000000000000000007.wal' && echo 100% %x %"
        );
    }

    #[test]
    fn a_command_archives_fails_with_its_words_or_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join("odd name's.wal");
        std::fs::write(&seg, b"segment").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let copy = format!("cp %p '{}'/%f", out.display());
        run_command(&cmd(&copy, 5_000), &seg).unwrap();
        assert_eq!(
            std::fs::read(out.join("odd name's.wal")).unwrap(),
            b"segment"
        );

        let e = run_command(&cmd("echo disk gone >&2; exit 7", 5_000), &seg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exit status: 7") && e.contains("disk gone"),
            "{e}"
        );

        // A chatty command cannot block on a full pipe; only the start of what it said is kept.
        let e = run_command(
            &cmd("yes complaint | head -c 1000000 >&2; exit 1", 10_000),
            &seg,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.len() < 3_000 && e.contains("complaint"),
            "{} bytes",
            e.len()
        );

        let started = Instant::now();
        let e = run_command(&cmd("sleep 30", 300), &seg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish within 0.3 s"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));

        // Archived, though something it started in the background still holds stderr.
        let started = Instant::now();
        run_command(&cmd("(sleep 30 >&2 &); true", 5_000), &seg).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
