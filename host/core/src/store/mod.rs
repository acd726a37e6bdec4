//! [`Store`]: the engine that clients talk to. It validates writes, logs them, keeps them in
//! the cache, flushes them into the storage backend, and answers reads by merging cache and
//! storage without seams.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clio_storage::{
    Expiry, ExpiryOutcome, NewSeries, Point, PointColumns, SeriesFilter, SeriesId, SeriesInfo,
    SeriesKey, SeriesPoints, SeriesSettings, SeriesUpdate, StorageBackend, StorageError, Timestamp,
    TrendBucket, TrendInterval, Value,
};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use crate::cache::{Cache, CacheStats};
use crate::catalog::Catalog;
use crate::error::{Error, Result, bad_point};
use crate::lock::DirLock;
use crate::options::EngineOptions;
use crate::query::{
    Cursor, Data, ReadRequest, ReadResult, Resolution, Window, cap_points, merge_overlay,
};
use crate::wal::{Entry, ReplayReport, Wal, WalOptions};

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
}

#[derive(Debug, Default)]
struct Counters {
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
struct Inner {
    opts: EngineOptions,
    backend: Arc<dyn StorageBackend>,
    catalog: RwLock<Catalog>,
    /// Serialises series creation so that one key gets one id.
    create_lock: tokio::sync::Mutex<()>,
    cache: Arc<Cache>,
    wal: Wal,
    /// One flush at a time.
    flush_lock: tokio::sync::Mutex<()>,
    /// Odd while a flush moves points from "unflushed" to "stored" (a sequence lock that
    /// lets trend reads avoid counting a point twice or not at all).
    flush_seq: AtomicU64,
    flush_wanted: Notify,
    flushed: Notify,
    closed: AtomicBool,
    service: Mutex<Option<tokio::task::JoinHandle<()>>>,
    counters: Counters,
    /// Held for the engine's life: one process per data directory.
    lock: Mutex<Option<DirLock>>,
}

/// The engine: write-ahead log + adaptive cache + catalog in front of one storage backend.
/// Cheap to clone; all clones share one engine.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The current time in ms since the epoch.
pub fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Timestamp)
}

/// What replay saw of one series: the deletions to re-apply to storage.
#[derive(Debug, Default)]
struct Replayed {
    /// The last logged operation was `DeleteSeries`.
    deleted: bool,
    /// Ranges of `DeleteRange` records.
    ranges: Vec<(Timestamp, Timestamp)>,
    /// The latest raw cut of `Expire` records (cuts from the beginning of time nest, so the
    /// latest one covers the others).
    raw_before: Option<Timestamp>,
    /// The latest trend cut per interval of `Expire` records.
    trends_before: std::collections::BTreeMap<TrendInterval, Timestamp>,
}

/// What replay saw per series.
type ReplayLog = HashMap<SeriesId, Replayed>;

/// Series per backend call when expiries found in the log are re-applied at start-up.
const REPLAY_EXPIRE_BATCH: usize = 1000;

mod flush;
mod open;
mod read;
mod series;
mod write;

impl Store {
    /// The storage backend.
    pub fn backend(&self) -> &Arc<dyn StorageBackend> {
        &self.inner.backend
    }

    /// Leaves the engine as a crash would (nothing flushed or closed; the log and the files
    /// stay as they are) but releases the data directory's lock, so that a test can reopen
    /// the directory in the same process. For crash tests only.
    #[doc(hidden)]
    pub fn abandon(self) {
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
        let mut v: Vec<SeriesInfo> = cat.all().filter(|s| filter.matches(s)).cloned().collect();
        v.sort_by_key(|s| s.id);
        v
    }

    /// Engine counters.
    pub fn stats(&self) -> EngineStats {
        let i = &self.inner;
        let c = &i.counters;
        let cc = &i.cache.counters;
        EngineStats {
            points_written: c.points_written.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            restamped: c.restamped.load(Ordering::Relaxed),
            series: i.catalog.read().len(),
            cache: i.cache.stats(),
            cache_hits: cc.hits.load(Ordering::Relaxed),
            cache_misses: cc.misses.load(Ordering::Relaxed),
            cache_evicted: cc.evicted.load(Ordering::Relaxed),
            wal_bytes: i.wal.bytes(),
            wal_syncs: i.wal.syncs(),
            flushes: c.flushes.load(Ordering::Relaxed),
            flush_errors: c.flush_errors.load(Ordering::Relaxed),
            last_flush_millis: c.last_flush_millis.load(Ordering::Relaxed),
            last_flush_points: c.last_flush_points.load(Ordering::Relaxed),
            flushed_points: c.flushed_points.load(Ordering::Relaxed),
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
        let flushed = self.flush().await;
        if let Err(e) = &flushed {
            error!(error = %e, "final flush failed; the log keeps the points for the next start");
        }
        inner.wal.shutdown().await;
        let closed = inner.backend.close().await;
        // The log is closed: another process may take the directory now.
        inner.lock.lock().take();
        closed?;
        flushed.map(|_| ())
    }
}
