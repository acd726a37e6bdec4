//! [`Store`]: the engine that clients talk to. It validates writes, logs them, keeps them in
//! the cache, flushes them into the storage backend, and answers reads by merging cache and
//! storage without seams.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clio_storage::{
    Expiry, ExpiryOutcome, Point, PointColumns, SeriesFilter, SeriesId, SeriesInfo, SeriesKey,
    SeriesSettings, SeriesUpdate, StorageBackend, StorageError, Timestamp, TrendBucket,
    TrendInterval, Value,
};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use crate::apply::Change;
use crate::cache::{Cache, CacheStats};
use crate::catalog::{Catalog, KEY_ID_BASE};
use crate::error::{Error, Result, bad_point};
use crate::lock::DirLock;
use crate::options::EngineOptions;
use crate::query::{
    Cursor, Data, ReadRequest, ReadResult, Resolution, Window, cap_points, merge_overlay,
};
use crate::replica::Follower;
use crate::topology::Slot;
use crate::wal::{Entry, ReplayReport, Wal, WalOptions};
pub use key_texts::{KeyTexts, NewText, TextHash, TextLookup};

/// Which series a written point belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SeriesRef {
    /// A numeric id (ALEPIZ OCID); written to, it creates the series if needed.
    Id(SeriesId),
    /// A line-protocol key; the catalog assigns an id on first write.
    Key(SeriesKey),
}

impl std::fmt::Display for SeriesRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeriesRef::Id(id) => write!(f, "{id}"),
            SeriesRef::Key(k) => write!(f, "`{k}`"),
        }
    }
}

/// A point as a client sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingPoint {
    /// Its series.
    pub series: SeriesRef,
    /// Its time in ms; `None` means the receive time.
    pub ts: Option<Timestamp>,
    /// Its value.
    pub value: Value,
}

/// What an acknowledged write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteReport {
    /// Points accepted (durable per the log's sync mode).
    pub points: usize,
    /// Points whose timestamp was outside `timestamp_max_time_diff` and was replaced by the
    /// receive time.
    pub restamped: usize,
    /// Series created by this write.
    pub created_series: usize,
    /// Points that landed on the same series and millisecond as a later point of this write
    /// (timestamps finer than a millisecond are stored at the millisecond); the later kept.
    pub merged: usize,
}

/// One page of a series listing.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPage {
    /// Entries by ascending id.
    pub series: Vec<SeriesInfo>,
    /// When more entries follow: the id to pass as `after` for the next page.
    pub next: Option<SeriesId>,
}

/// Limits on client timestamps: a point stamped further in the past or the future than
/// these is stored at its receive time (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeLimits {
    /// Oldest accepted age.
    pub max_past: Option<Duration>,
    /// Furthest accepted lead.
    pub max_future: Option<Duration>,
}

/// What a flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Points written to storage.
    pub points: u64,
    /// Series they belonged to.
    pub series: usize,
    /// Trend buckets written.
    pub trend_buckets: u64,
    /// Milliseconds taken.
    pub millis: u64,
    /// Log bytes freed.
    pub wal_freed: u64,
    /// Series whose new points were left unflushed because the flush ran out of time (the
    /// final flush at close); they stay in the log for the next start.
    pub left_in_log: usize,
}

/// Engine counters, for `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineStats {
    /// Points acknowledged since start.
    pub points_written: u64,
    /// Write calls acknowledged since start.
    pub writes: u64,
    /// Points restamped since start.
    pub restamped: u64,
    /// Series in the catalog.
    pub series: usize,
    /// Cache figures.
    pub cache: CacheStats,
    /// Reads answered from memory alone.
    pub cache_hits: u64,
    /// Reads that needed storage.
    pub cache_misses: u64,
    /// Flushed points evicted for the memory budget.
    pub cache_evicted: u64,
    /// Series whose newest points the warm-up after the start loaded from storage.
    pub cache_warmed_series: u64,
    /// Bytes in the write-ahead log.
    pub wal_bytes: u64,
    /// fsyncs of the write-ahead log.
    pub wal_syncs: u64,
    /// Completed flushes.
    pub flushes: u64,
    /// Failed flushes.
    pub flush_errors: u64,
    /// Duration of the last flush (ms).
    pub last_flush_millis: u64,
    /// Points of the last flush.
    pub last_flush_points: u64,
    /// Total points flushed since start.
    pub flushed_points: u64,
    /// Why the write-ahead log cannot be written, while it cannot (writes fail).
    pub wal_failing: Option<String>,
    /// Why the last flush failed, until one succeeds (points wait in the log and cache).
    pub flush_failing: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Reads a replica answered (read failover).
    pub(crate) failover_reads: AtomicU64,
    points_written: AtomicU64,
    writes: AtomicU64,
    restamped: AtomicU64,
    flushes: AtomicU64,
    flush_errors: AtomicU64,
    last_flush_millis: AtomicU64,
    last_flush_points: AtomicU64,
    flushed_points: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct EngineState {
    pub(crate) opts: EngineOptions,
    /// Written by the flush, read by every read.
    pub(crate) primary: Slot,
    /// Fed from the log in the background.
    pub(crate) replicas: Vec<Arc<Follower>>,
    /// When the primary fails a read, a caught-up replica answers.
    pub(crate) read_failover: bool,
    /// Most log bytes kept for lagging replicas.
    pub(crate) replica_max_log_bytes: u64,
    /// Changes the primary has not received yet (it was down when they were made), in log
    /// order. The flush applies them before it writes points.
    pub(crate) pending: tokio::sync::Mutex<VecDeque<changes::Queued>>,
    /// Held by whoever applies `pending` (the flush, or a change that must come after
    /// queued creations), so that a queued change is applied and popped once.
    pub(crate) applying: tokio::sync::Mutex<()>,
    /// Length of `pending`, readable without the lock.
    pub(crate) pending_len: AtomicU64,
    /// Log segments `<= flushed_upto` are in the primary.
    pub(crate) flushed_upto: AtomicU64,
    /// Log bytes of segments the primary holds already, kept for replicas.
    pub(crate) held_bytes: AtomicU64,
    /// The catalog changed since its local copy was written.
    pub(crate) catalog_changed: AtomicBool,
    pub(crate) catalog: RwLock<Catalog>,
    /// Key texts as written → ids (see `key_texts.rs`); forgotten with the catalog entry.
    pub(crate) key_texts: RwLock<KeyTexts>,
    /// Serialises series creation so that one key gets one id.
    pub(crate) create_lock: tokio::sync::Mutex<()>,
    pub(crate) cache: Arc<Cache>,
    pub(crate) wal: Wal,
    /// One flush at a time.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    /// The series a flush is moving from "unflushed" to "stored" (so that trend reads
    /// count no point twice or not at all).
    pub(crate) in_flight: in_flight::InFlight,
    pub(crate) flush_wanted: Notify,
    pub(crate) flushed: Notify,
    pub(crate) closed: AtomicBool,
    pub(crate) service: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) counters: Counters,
    /// Why the last flush failed, until one succeeds.
    pub(crate) flush_failing: Mutex<Option<String>>,
    /// Held for the engine's life: one process per data directory.
    pub(crate) lock: Mutex<Option<DirLock>>,
    /// Copies closed log segments to `archive_dir`, when set.
    pub(crate) archiver: Option<Arc<archive::Archiver>>,
    /// The flush's own thread, at `flush_priority`.
    pub(crate) background: background::Background,
    /// The cache's warm-up after a restart.
    pub(crate) warm: warm::WarmUp,
}

/// The engine: write-ahead log + adaptive cache + catalog in front of one storage backend.
/// Cheap to clone; all clones share one engine.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<EngineState>,
}

/// The current time in ms since the epoch.
pub fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Timestamp)
}

pub(crate) mod archive;
pub use archive::ArchiveStatus;
mod backup;
pub use backup::SnapshotReport;
mod background;
mod changes;
mod flush;
pub(crate) mod flush_mark;
pub(crate) mod in_flight;
mod key_texts;
mod open;
mod read;
mod series;
pub(crate) mod status;
mod warm;
mod write;

impl Store {
    pub(crate) fn inner(&self) -> &EngineState {
        &self.inner
    }

    /// The primary storage backend; an `Unavailable` error while it is not open.
    pub fn backend(&self) -> Result<Arc<dyn StorageBackend>> {
        Ok(self.inner.primary.get()?)
    }

    /// Records the outcome of a call to the primary for its health, and passes it on.
    pub(crate) fn primary_result<T>(
        &self,
        r: std::result::Result<T, StorageError>,
    ) -> std::result::Result<T, StorageError> {
        match &r {
            Ok(_) => {
                if self.inner.primary.is_down() {
                    self.inner.primary.succeeded();
                }
            }
            Err(e @ (StorageError::Unavailable(_) | StorageError::Other(_))) => {
                self.inner.primary.failed(e)
            }
            Err(_) => {}
        }
        r
    }

    /// Leaves the engine as a crash would (nothing flushed or closed; the log and the files
    /// stay as they are) but releases the data directory's lock, so that a test can reopen
    /// the directory in the same process. For crash tests only.
    #[doc(hidden)]
    pub fn abandon(self) {
        // A crash stops the background work too: a follower left running would write to its
        // replica beside the reopened engine's.
        if let Some(t) = self.inner.service.lock().take() {
            t.abort();
        }
        for f in &self.inner.replicas {
            f.abort();
        }
        self.inner.warm.abort();
        self.inner.lock.lock().take();
        std::mem::forget(self);
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.inner.opts
    }

    /// One catalog entry.
    pub fn series(&self, id: SeriesId) -> Option<SeriesInfo> {
        self.inner.catalog.read().get(id).cloned()
    }

    /// The id of a key, if the series exists.
    pub fn series_id(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.inner.catalog.read().id_of(key)
    }

    /// Catalog entries passing `filter`, by ascending id.
    pub fn list_series(&self, filter: &SeriesFilter) -> Vec<SeriesInfo> {
        let cat = self.inner.catalog.read();
        let (v, _) = cat.page(filter, None, usize::MAX);
        v.into_iter().cloned().collect()
    }

    /// One page of [`Store::list_series`]: up to `limit` entries with ids above `after`.
    /// A filter naming a measurement, tag or field walks only that index set.
    pub fn list_series_page(
        &self,
        filter: &SeriesFilter,
        after: Option<SeriesId>,
        limit: usize,
    ) -> SeriesPage {
        let cat = self.inner.catalog.read();
        let (v, more) = cat.page(filter, after, limit);
        let series: Vec<SeriesInfo> = v.into_iter().cloned().collect();
        let next = if more {
            series.last().map(|s| s.id)
        } else {
            None
        };
        SeriesPage { series, next }
    }

    /// Calls `visit` with every catalog entry passing `filter`, by ascending id, without
    /// copying them. The catalog's read lock is taken per batch of ids and released between
    /// batches, so a walk over a million series never holds off the writers that create
    /// series for long; a series created or deleted during the walk may or may not be seen.
    pub fn visit_series(&self, filter: &SeriesFilter, mut visit: impl FnMut(&SeriesInfo)) {
        const BATCH: usize = 4096;
        let mut after = None;
        loop {
            let cat = self.inner.catalog.read();
            let (v, more) = cat.page(filter, after, BATCH);
            for info in &v {
                visit(info);
            }
            match (more, v.last()) {
                (true, Some(last)) => after = Some(last.id),
                _ => return,
            }
        }
    }

    /// Distinct measurements of the keyed series, sorted.
    pub fn measurements(&self) -> Vec<String> {
        self.inner
            .catalog
            .read()
            .measurements()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The tag keys of `measurement` that `keep` keeps and (with `values`) each key's
    /// values, sorted, from the catalog's index (no series is visited).
    pub fn tags_of(
        &self,
        measurement: &str,
        keep: &dyn Fn(&str) -> bool,
        values: bool,
    ) -> std::collections::BTreeMap<String, Vec<String>> {
        self.inner.catalog.read().tags_of(measurement, keep, values)
    }

    /// Points acknowledged since start: [`Store::stats`]'s figure without its pass over the
    /// cache (for callers that poll it, such as the alert rounds).
    pub fn points_written(&self) -> u64 {
        self.inner.counters.points_written.load(Ordering::Relaxed)
    }

    /// Why the last flush failed, until one succeeds: [`Store::stats`]'s figure without its
    /// pass over the cache.
    pub fn flush_failing(&self) -> Option<String> {
        self.inner.flush_failing.lock().clone()
    }

    /// Engine counters, and the cache's figures (a pass over every cached series).
    pub fn stats(&self) -> EngineStats {
        let i = &self.inner;
        let c = &i.counters;
        let cc = &i.cache.counters;
        EngineStats {
            points_written: self.points_written(),
            writes: c.writes.load(Ordering::Relaxed),
            restamped: c.restamped.load(Ordering::Relaxed),
            series: i.catalog.read().len(),
            cache: i.cache.stats(),
            cache_hits: cc.hits.load(Ordering::Relaxed),
            cache_misses: cc.misses.load(Ordering::Relaxed),
            cache_evicted: cc.evicted.load(Ordering::Relaxed),
            cache_warmed_series: i.warm.series(),
            wal_bytes: i.wal.bytes(),
            wal_syncs: i.wal.syncs(),
            flushes: c.flushes.load(Ordering::Relaxed),
            flush_errors: c.flush_errors.load(Ordering::Relaxed),
            last_flush_millis: c.last_flush_millis.load(Ordering::Relaxed),
            last_flush_points: c.last_flush_points.load(Ordering::Relaxed),
            flushed_points: c.flushed_points.load(Ordering::Relaxed),
            wal_failing: i.wal.failing(),
            flush_failing: self.flush_failing(),
        }
    }

    /// Stops accepting writes, flushes, closes the log and the backend. A failed final
    /// flush loses nothing: the log is replayed at the next start.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(h) = inner.service.lock().take() {
            h.abort();
        }
        // Before the final flush, which may outlast a container engine's grace period.
        self.save_warm_list();
        // A budget past what an Instant can hold (a huge setting) means no limit.
        let deadline = inner
            .opts
            .close_flush_budget
            .and_then(|b| Instant::now().checked_add(b));
        let flushed = self.flush_until(deadline).await;
        match &flushed {
            Err(e) => {
                error!(error = %e, "final flush failed; the log keeps the points for the next start")
            }
            Ok(r) if r.left_in_log > 0 => info!(
                flushed_points = r.points,
                series_left = r.left_in_log,
                millis = r.millis,
                "stopping within the close flush budget: the rest stays in the log and is replayed at the next start"
            ),
            Ok(_) => {}
        }
        for f in &inner.replicas {
            f.stop().await;
        }
        inner.wal.shutdown().await;
        let closed = inner.primary.close().await;
        for f in &inner.replicas {
            if let Err(e) = f.close_backend().await {
                warn!(replica = %f.name(), error = %e, "closing a replica failed");
            }
        }
        // The log is closed: another process may take the directory now.
        inner.lock.lock().take();
        closed?;
        flushed.map(|_| ())
    }
}
