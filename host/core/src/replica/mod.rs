//! Replicas: backends fed from the write-ahead log, in log order, in the background.
//!
//! A [`Follower`] per replica reads the log from its durable cursor. Changes other than
//! points (series created, updated, deleted; deletions; retention) are applied as they are
//! read. Points are gathered and written when the log says a flush of the primary covered
//! their segment ([`Entry::Flushed`]), so a replica receives the same batches as the
//! primary and ends with the same contents, trends included (a point deleted before the
//! primary's flush never reached the primary's trends, and never reaches the replica's).
//! The cursor is saved after each such write; after a failure or a crash the follower starts
//! again from it, and what it applies again is harmless (every change is idempotent).
//!
//! Log segments are kept until every replica has read them, within
//! [`crate::Topology::replica_max_log_bytes`]; a replica that would need more is marked for
//! resync: refilled from the primary in the background, then following again.

mod accumulator;
mod cursor;
mod reader;
mod resync;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use clio_storage::{SeriesId, SeriesPoints, StorageBackend, StorageError};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::apply::Change;
use crate::error::{Error, Result};
use crate::store::{EngineState, Store};
use crate::topology::{BackendSpec, Slot};
use crate::wal::{Entry, list_segments};
use accumulator::Accumulator;
pub(crate) use cursor::Cursor;
use reader::{LogReader, ReadOutcome};

/// What a replica is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaState {
    /// Reading the log and applying it.
    Following,
    /// Being refilled from the primary.
    Resyncing,
    /// Failing; retried with backoff.
    Down,
}

#[derive(Debug)]
struct State {
    /// Durable position (saved after each write at a flush mark).
    cursor: Option<Cursor>,
    /// Where reading has got to (at or after the cursor).
    read_pos: (u64, u64),
    /// Points read in the segment of `read_pos`.
    read_points_in_seg: u64,
    /// Points gathered, waiting for their flush mark.
    gathered: u64,
    mode: ReplicaState,
    /// Highest flush mark written.
    applied_upto: u64,
    /// When the follower last had read everything in the log.
    caught_up_at: Instant,
    at_end: bool,
    points_written: u64,
    lag_warned: bool,
}

/// One replica and its follower task.
pub(crate) struct Follower {
    slot: Slot,
    wal_dir: PathBuf,
    /// Opens sealed log records.
    keys: Arc<clio_storage::sealing::Keyring>,
    cursor_path: PathBuf,
    state: Mutex<State>,
    wake: Notify,
    stop: AtomicBool,
    resync_requested: AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Lagging longer than this is warned about (once per spell).
    lag_warn: Duration,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("name", &self.slot.name)
            .finish_non_exhaustive()
    }
}

/// Points per replica write call.
const WRITE_BATCH_POINTS: usize = 200_000;

/// The longest wait between two attempts on a replica that fails (the wait doubles from
/// 0.5 s up to this).
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Follower {
    pub(crate) fn new(
        spec: BackendSpec,
        data_dir: &Path,
        lag_warn: Duration,
        keys: Arc<clio_storage::sealing::Keyring>,
    ) -> Result<Self> {
        let cursor_path = cursor::path(data_dir, &spec.name);
        let cursor = cursor::load(&cursor_path)?;
        let read_pos = cursor.map_or((0, 0), |c| (c.segment, c.offset));
        let applied_upto = cursor.map_or(0, |c| c.flush);
        Ok(Follower {
            slot: Slot::new(spec),
            wal_dir: data_dir.join("wal"),
            keys,
            cursor_path,
            state: Mutex::new(State {
                cursor,
                read_pos,
                read_points_in_seg: 0,
                gathered: 0,
                mode: ReplicaState::Following,
                applied_upto,
                caught_up_at: Instant::now(),
                at_end: false,
                points_written: 0,
                lag_warned: false,
            }),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            resync_requested: AtomicBool::new(false),
            task: Mutex::new(None),
            lag_warn,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.slot.name
    }

    pub(crate) fn slot(&self) -> &Slot {
        &self.slot
    }

    /// Starts the follower task.
    pub(crate) fn start(self: &Arc<Self>, inner: Weak<EngineState>) {
        let me = Arc::clone(self);
        *self.task.lock() = Some(tokio::spawn(async move { me.run(inner).await }));
    }

    /// New log to read.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the task (the cursor stays where it was saved).
    pub(crate) async fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let task = self.task.lock().take();
        if let Some(t) = task {
            // A write in progress is cut off; the cursor has not moved past it.
            t.abort();
            let _ = t.await;
        }
    }

    /// Cuts the task off where it is, as a crash would (for `Store::abandon`).
    pub(crate) fn abort(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }

    pub(crate) async fn close_backend(&self) -> std::result::Result<(), StorageError> {
        self.slot.close().await
    }

    /// The log segment this replica still needs (segments before it may go); `None` when it
    /// holds nothing (never synced, or marked for resync).
    pub(crate) fn hold(&self) -> Option<u64> {
        if self.resync_requested.load(Ordering::Relaxed) {
            return None;
        }
        let st = self.state.lock();
        // A resync in progress holds the log from where it will resume.
        st.cursor.map(|c| c.segment)
    }

    /// Marks the replica for resync (it fell too far behind).
    pub(crate) fn request_resync(&self, why: &str) {
        if !self.resync_requested.swap(true, Ordering::SeqCst) {
            warn!(replica = %self.slot.name, reason = why, "replica marked for resync: it will be refilled from the primary");
        }
        self.wake.notify_one();
    }

    /// True when the replica has written everything the primary holds.
    pub(crate) fn caught_up(&self, flushed_upto: u64) -> bool {
        let st = self.state.lock();
        st.mode == ReplicaState::Following && st.applied_upto >= flushed_upto && st.at_end
    }

    /// The backend, when open and caught up (for read failover).
    pub(crate) fn backend_if_caught_up(
        &self,
        flushed_upto: u64,
    ) -> Option<Arc<dyn StorageBackend>> {
        if self.caught_up(flushed_upto) {
            self.slot.get().ok()
        } else {
            None
        }
    }

    async fn run(self: Arc<Self>, inner: Weak<EngineState>) {
        let mut backoff = Duration::from_millis(500);
        while !self.stop.load(Ordering::SeqCst) {
            self.check_lag();
            let started = Instant::now();
            match self.follow(&inner).await {
                Ok(()) => {}
                Err(e) => {
                    if let Error::Storage(se) = &e {
                        self.slot.failed(se);
                    } else {
                        self.slot.failed(&StorageError::Other(e.to_string()));
                    }
                    self.state.lock().mode = ReplicaState::Down;
                    if started.elapsed() > Duration::from_secs(60) {
                        backoff = Duration::from_millis(500);
                    }
                    // New log does not cut the wait short (every flush brings some): a
                    // replica that is down is retried on the backoff, not on every flush.
                    let until = Instant::now() + backoff;
                    while !self.stop.load(Ordering::SeqCst) && Instant::now() < until {
                        tokio::select! {
                            _ = tokio::time::sleep_until(until.into()) => {}
                            _ = self.wake.notified() => {}
                        }
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Follows the log until stopped (Ok) or until something fails (Err: start again from
    /// the saved cursor).
    async fn follow(&self, inner: &Weak<EngineState>) -> Result<()> {
        let backend = self.slot.ensure().await?;
        let mut cursor = {
            let c = self.state.lock().cursor;
            match c {
                Some(c) if !c.resync && !self.resync_requested.load(Ordering::SeqCst) => c,
                _ => {
                    let inner = inner.upgrade().ok_or(Error::Closed)?;
                    resync::run(self, &inner, backend.as_ref()).await?
                }
            }
        };
        if self.slot.is_down() {
            // An open backend that failed: only a real round trip says it answers again.
            backend.get_series(SeriesId(0)).await?;
        }
        self.slot.succeeded();
        {
            let mut st = self.state.lock();
            st.mode = ReplicaState::Following;
            st.read_pos = (cursor.segment, cursor.offset);
            st.read_points_in_seg = 0;
            st.gathered = 0;
        }
        let reader = LogReader::new(self.wal_dir.clone(), Arc::clone(&self.keys));
        let mut acc = Accumulator::default();
        let mut pos = (cursor.segment, cursor.offset);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            if self.resync_requested.load(Ordering::SeqCst) {
                // Back to `follow`'s start, which refills from the primary.
                return Ok(());
            }
            let outcome = reader.read(pos)?;
            let entries = match outcome {
                ReadOutcome::Gone => {
                    self.request_resync("the log it needs was removed");
                    continue;
                }
                ReadOutcome::Entries(e) => e,
            };
            if entries.is_empty() {
                self.note_at_end(inner);
                self.check_lag();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = self.wake.notified() => {}
                }
                continue;
            }
            self.state.lock().at_end = false;
            for read in entries {
                if read.end.0 != pos.0 {
                    self.state.lock().read_points_in_seg = 0;
                }
                match &read.entry {
                    Entry::Points(points) => {
                        acc.add(read.end.0, points);
                        let mut st = self.state.lock();
                        st.read_points_in_seg += points.len() as u64;
                        st.gathered = acc.len() as u64;
                    }
                    Entry::Flushed { upto } => {
                        let batch = acc.take_upto(*upto);
                        let written = write_batches(backend.as_ref(), batch).await?;
                        // Points still gathered (written after the flush began) may lie
                        // before this mark in the log: a restart must read them again, so
                        // the cursor goes no further than the start of their segment.
                        let (segment, offset) = match acc.min_seg() {
                            Some(seg) if seg <= read.end.0 => (seg, 0),
                            _ => read.end,
                        };
                        cursor = Cursor {
                            segment,
                            offset,
                            resync: false,
                            flush: cursor.flush.max(*upto),
                        };
                        cursor::save(&self.cursor_path, &cursor)?;
                        let mut st = self.state.lock();
                        st.cursor = Some(cursor);
                        st.applied_upto = st.applied_upto.max(*upto);
                        st.points_written += written;
                        st.gathered = acc.len() as u64;
                    }
                    other => {
                        if let Some(change) = Change::from_entry(other) {
                            acc.apply_change(&change);
                            match change.apply(backend.as_ref()).await {
                                Ok(()) => {}
                                // The replica's contents contradict the log (a key held by
                                // another id, say, after it was used elsewhere): refill it.
                                Err(StorageError::InvalidInput(why)) => {
                                    self.request_resync(&format!(
                                        "it refused a logged change: {why}"
                                    ));
                                    return Ok(());
                                }
                                Err(e) => return Err(e.into()),
                            }
                            self.state.lock().gathered = acc.len() as u64;
                        }
                    }
                }
                pos = read.end;
                self.state.lock().read_pos = pos;
            }
        }
    }

    /// Warns once per spell when the replica has not held everything the primary holds for
    /// longer than `lag_warn`.
    fn check_lag(&self) {
        let mut st = self.state.lock();
        let behind = st.caught_up_at.elapsed();
        if behind > self.lag_warn && !st.lag_warned {
            st.lag_warned = true;
            warn!(replica = %self.slot.name, lag_seconds = behind.as_secs(), state = ?st.mode, "replica lags behind the primary");
        }
    }

    fn note_at_end(&self, inner: &Weak<EngineState>) {
        let flushed = inner
            .upgrade()
            .map_or(0, |i| i.flushed_upto.load(Ordering::Acquire));
        let mut st = self.state.lock();
        st.at_end = true;
        if st.applied_upto >= flushed {
            st.caught_up_at = Instant::now();
            st.lag_warned = false;
        }
    }

    /// Status for `/api/v1/storage`.
    pub(crate) fn status(&self, store: &Store) -> ReplicaStatus {
        let inner = store.inner();
        let flushed = inner.flushed_upto.load(Ordering::Acquire);
        let seg_points = inner.wal.segment_points();
        let sizes = segment_sizes(&self.wal_dir);
        let st = self.state.lock();
        let (seg, off) = st.read_pos;
        let lag_bytes: u64 = sizes
            .iter()
            .filter(|(n, _)| *n >= seg)
            .map(|(n, len)| {
                if *n == seg {
                    len.saturating_sub(off + 8)
                } else {
                    *len
                }
            })
            .sum();
        let unread_points: u64 = seg_points
            .iter()
            .filter(|(n, _)| **n >= seg)
            .map(|(n, p)| {
                if *n == seg {
                    p.saturating_sub(st.read_points_in_seg)
                } else {
                    *p
                }
            })
            .sum();
        let caught_up =
            st.mode == ReplicaState::Following && st.applied_upto >= flushed && st.at_end;
        let lag_seconds = if caught_up {
            0.0
        } else {
            st.caught_up_at.elapsed().as_secs_f64()
        };
        ReplicaStatus {
            state: st.mode,
            applied: st.cursor.map(|c| format!("{}:{}", c.segment, c.offset)),
            applied_flush: st.applied_upto,
            lag_points: unread_points + st.gathered,
            lag_bytes,
            lag_seconds,
            points_written: st.points_written,
        }
    }
}

/// A replica's replication figures.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    /// Following, resyncing or down.
    pub state: ReplicaState,
    /// Log position applied and saved (`segment:offset`).
    pub applied: Option<String>,
    /// Highest flush of the primary this replica has written.
    pub applied_flush: u64,
    /// Points in the log this replica has not written yet.
    pub lag_points: u64,
    /// Log bytes it has not read yet.
    pub lag_bytes: u64,
    /// Seconds since it last held everything the primary holds (0 when it does).
    pub lag_seconds: f64,
    /// Points written since start.
    pub points_written: u64,
}

async fn write_batches(
    backend: &dyn StorageBackend,
    batch: Vec<SeriesPoints>,
) -> std::result::Result<u64, StorageError> {
    let mut written = 0u64;
    let mut chunk: Vec<SeriesPoints> = Vec::new();
    let mut n = 0;
    let total = batch.len();
    for (i, sp) in batch.into_iter().enumerate() {
        n += sp.points.len();
        chunk.push(sp);
        if n >= WRITE_BATCH_POINTS || i + 1 == total {
            written += clio_storage::write_points(backend, &chunk).await?.points;
            chunk.clear();
            n = 0;
        }
    }
    Ok(written)
}

/// Sizes of the log's segment files.
pub(crate) fn segment_sizes(dir: &Path) -> Vec<(u64, u64)> {
    list_segments(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(n, p)| (n, std::fs::metadata(&p).map_or(0, |m| m.len())))
        .collect()
}

/// Bytes of the log's segments numbered `<= upto`.
pub(crate) fn bytes_up_to(dir: &Path, upto: u64) -> u64 {
    segment_sizes(dir)
        .into_iter()
        .filter(|(n, _)| *n <= upto)
        .map(|(_, l)| l)
        .sum()
}

/// The last segment the flush of `seg` may delete: `seg`, unless a replica still needs
/// older log. Replicas whose hold would keep more than the configured bytes are marked for
/// resync and hold nothing.
pub(crate) fn removable_upto(store: &Store, seg: u64) -> u64 {
    let inner = store.inner();
    if inner.replicas.is_empty() {
        return seg;
    }
    let sizes = segment_sizes(&inner.opts.data_dir.join("wal"));
    loop {
        let holds: Vec<(usize, u64)> = inner
            .replicas
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.hold().map(|h| (i, h)))
            .collect();
        let Some(&(slowest, min_hold)) = holds.iter().min_by_key(|(_, h)| *h) else {
            return seg;
        };
        if min_hold > seg {
            return seg;
        }
        let kept: u64 = sizes
            .iter()
            .filter(|(n, _)| *n >= min_hold && *n <= seg)
            .map(|(_, l)| l)
            .sum();
        if kept <= inner.replica_max_log_bytes {
            return min_hold.saturating_sub(1);
        }
        inner.replicas[slowest].request_resync(&format!(
            "it needs {kept} bytes of log, more than replica_max_log_mb allows"
        ));
        info!(replica = %inner.replicas[slowest].name(), "log kept for a lagging replica released");
    }
}
