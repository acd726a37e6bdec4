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

impl Store {
    /// Opens the engine: loads the catalog, replays the log into the cache, re-applies
    /// logged deletions to storage, and starts the cache service. Must run inside a tokio
    /// runtime.
    pub async fn open(
        opts: EngineOptions,
        backend: Arc<dyn StorageBackend>,
    ) -> Result<(Store, ReplayReport)> {
        let lock = DirLock::acquire(&opts.data_dir)?;
        let catalog = Catalog::new(backend.load_catalog().await?);
        let cache = Arc::new(Cache::new(opts.cache.clone()));
        let replaying = Arc::new(AtomicBool::new(true));
        let replayed: Arc<Mutex<ReplayLog>> = Arc::default();
        let apply = {
            let cache = Arc::clone(&cache);
            let replaying = Arc::clone(&replaying);
            let replayed = Arc::clone(&replayed);
            Arc::new(move |seg: u64, entry: &Entry| {
                let during_replay = replaying.load(Ordering::Relaxed);
                match entry {
                    Entry::Points(points) => {
                        cache.apply_points(seg, points);
                        if during_replay {
                            let mut r = replayed.lock();
                            for (id, _) in points {
                                r.entry(*id).or_default().deleted = false;
                            }
                        }
                    }
                    Entry::DeleteSeries(id) => {
                        cache.remove_series(*id);
                        if during_replay {
                            replayed.lock().insert(
                                *id,
                                Replayed {
                                    deleted: true,
                                    ..Default::default()
                                },
                            );
                        }
                    }
                    Entry::DeleteRange { series, from, to } => {
                        cache.remove_range(*series, *from, *to);
                        if during_replay {
                            replayed
                                .lock()
                                .entry(*series)
                                .or_default()
                                .ranges
                                .push((*from, *to));
                        }
                    }
                    Entry::Expire(batch) => {
                        for e in batch {
                            if let Some(before) = e.raw_before {
                                cache.remove_range(e.series, Timestamp::MIN, before);
                            }
                        }
                        if during_replay {
                            let mut r = replayed.lock();
                            for e in batch {
                                let s = r.entry(e.series).or_default();
                                if let Some(before) = e.raw_before {
                                    s.raw_before = s.raw_before.max(Some(before));
                                }
                                for &(interval, before) in &e.trends_before {
                                    let cut = s.trends_before.entry(interval).or_insert(before);
                                    *cut = (*cut).max(before);
                                }
                            }
                        }
                    }
                }
            })
        };
        let wal_opts = WalOptions {
            dir: opts.data_dir.join("wal"),
            sync: opts.wal_sync,
            sync_interval: opts.wal_sync_interval,
            segment_bytes: opts.wal_segment_bytes,
        };
        let (wal, report) = Wal::open(wal_opts, apply)?;
        replaying.store(false, Ordering::Relaxed);
        let mut catalog = catalog;
        // A deletion that was logged may not have reached storage before a crash.
        let replayed = std::mem::take(&mut *replayed.lock());
        let mut expiries = Vec::new();
        for (id, r) in replayed {
            if r.deleted {
                backend.delete_series(id).await?;
                catalog.remove(id);
                continue;
            }
            for (from, to) in r.ranges {
                backend.delete_points(id, from, to).await?;
            }
            if r.raw_before.is_some() || !r.trends_before.is_empty() {
                expiries.push(Expiry {
                    series: id,
                    raw_before: r.raw_before,
                    trends_before: r.trends_before.into_iter().collect(),
                });
            }
        }
        // Retention is idempotent: re-applying a cut that did reach storage finds nothing.
        // A failure here is logged rather than fatal: the data it would remove is old data
        // the next housekeeper run cuts again, and refusing to start over it (say, one damaged
        // chunk) would be worse.
        expiries.sort_by_key(|e| e.series);
        for batch in expiries.chunks(REPLAY_EXPIRE_BATCH) {
            if let Err(e) = backend.expire(batch).await {
                warn!(series = batch.len(), error = %e, "re-applying logged retention failed; the next housekeeper run repeats it");
            }
        }
        // Points of series missing from the catalog cannot be flushed anywhere meaningful.
        for id in cache.series_ids() {
            if !catalog.contains(id) {
                warn!(series = %id, "log held points of a series missing from the catalog; dropped");
                cache.remove_series(id);
            }
        }
        if report.segments > 0 {
            info!(
                segments = report.segments,
                points = report.points,
                bytes = report.bytes,
                millis = report.elapsed.as_millis() as u64,
                "write-ahead log replayed"
            );
        }
        let store = Store {
            inner: Arc::new(Inner {
                opts,
                backend,
                catalog: RwLock::new(catalog),
                create_lock: tokio::sync::Mutex::new(()),
                cache,
                wal,
                flush_lock: tokio::sync::Mutex::new(()),
                flush_seq: AtomicU64::new(0),
                flush_wanted: Notify::new(),
                flushed: Notify::new(),
                closed: AtomicBool::new(false),
                service: Mutex::new(None),
                counters: Counters::default(),
                lock: Mutex::new(Some(lock)),
            }),
        };
        let handle = tokio::spawn(cache_service(Arc::downgrade(&store.inner)));
        *store.inner.service.lock() = Some(handle);
        if store.flush_due() {
            store.inner.flush_wanted.notify_one();
        }
        Ok((store, report))
    }

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

    /// Validates, logs and caches points; returns once they are durable per the log's sync
    /// mode. Either every point of the call is accepted or none is.
    pub async fn write(&self, points: Vec<IncomingPoint>) -> Result<WriteReport> {
        self.write_at(points, now_ms()).await
    }

    /// [`Store::write`] with an explicit receive time (for restamping and missing timestamps).
    pub async fn write_at(
        &self,
        points: Vec<IncomingPoint>,
        now: Timestamp,
    ) -> Result<WriteReport> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let opts = &inner.opts;
        let lo = opts
            .timestamp_max_past
            .map_or(Timestamp::MIN, |d| now.saturating_sub(d.as_millis() as i64));
        let hi = opts
            .timestamp_max_future
            .map_or(Timestamp::MAX, |d| now.saturating_add(d.as_millis() as i64));
        let mut report = WriteReport::default();
        let mut errors = Vec::new();
        let mut bad = 0;
        for p in &points {
            let what = match &p.value {
                Value::Num(v) if !v.is_finite() => Some(format!("{v} is not a finite number")),
                Value::Str(s) if s.len() > opts.max_string_bytes => Some(format!(
                    "string of {} bytes exceeds the limit of {} bytes",
                    s.len(),
                    opts.max_string_bytes
                )),
                _ => None,
            };
            if let Some(what) = what {
                bad += 1;
                if errors.len() < 10 {
                    errors.push(bad_point(&p.series.to_string(), p.ts.unwrap_or(now), &what));
                }
            }
        }
        if bad > 0 {
            let more = if bad > errors.len() {
                format!(" (and {} more)", bad - errors.len())
            } else {
                String::new()
            };
            return Err(Error::InvalidWrite(format!(
                "{bad} invalid point(s), nothing written: {}{more}",
                errors.join("; ")
            )));
        }
        let ids = self.resolve(&points, &mut report).await?;
        let mut entry = Vec::with_capacity(points.len());
        for (p, id) in points.into_iter().zip(ids) {
            let ts = match p.ts {
                Some(ts) if ts >= lo && ts <= hi => ts,
                Some(_) => {
                    report.restamped += 1;
                    now
                }
                None => now,
            };
            entry.push((id, Point { ts, value: p.value }));
        }
        report.points = entry.len();
        if entry.is_empty() {
            return Ok(report);
        }
        self.wait_for_room().await?;
        inner.wal.append(Entry::Points(entry)).await?;
        let c = &inner.counters;
        c.points_written
            .fetch_add(report.points as u64, Ordering::Relaxed);
        c.writes.fetch_add(1, Ordering::Relaxed);
        c.restamped
            .fetch_add(report.restamped as u64, Ordering::Relaxed);
        if self.flush_due() {
            inner.flush_wanted.notify_one();
        }
        Ok(report)
    }

    fn flush_due(&self) -> bool {
        let i = &self.inner;
        i.wal.bytes() >= i.opts.flush_wal_bytes
            || i.cache.dirty_points() >= i.opts.flush_dirty_points
    }

    /// Backpressure: while too many points are unflushed, writers wait for the flush.
    async fn wait_for_room(&self) -> Result<()> {
        let i = &self.inner;
        if i.cache.dirty_points() < i.opts.max_dirty_points {
            return Ok(());
        }
        let started = Instant::now();
        while i.cache.dirty_points() >= i.opts.max_dirty_points {
            i.flush_wanted.notify_one();
            let left = i.opts.overload_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Error::Overloaded(format!(
                    "{} points wait for the flush to storage",
                    i.cache.dirty_points()
                )));
            }
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(100)), i.flushed.notified())
                    .await;
        }
        Ok(())
    }

    /// Maps every point's series to an id, creating missing series in one backend call.
    async fn resolve(
        &self,
        points: &[IncomingPoint],
        report: &mut WriteReport,
    ) -> Result<Vec<SeriesId>> {
        let inner = &self.inner;
        let mut missing = false;
        let mut ids = Vec::with_capacity(points.len());
        {
            let cat = inner.catalog.read();
            for p in points {
                let id = match &p.series {
                    SeriesRef::Id(id) => cat.contains(*id).then_some(*id),
                    SeriesRef::Key(k) => cat.id_of(k),
                };
                missing |= id.is_none();
                ids.push(id.unwrap_or(SeriesId(0)));
            }
        }
        if !missing {
            return Ok(ids);
        }
        let _guard = inner.create_lock.lock().await;
        let mut new = Vec::new();
        let mut new_keys: HashMap<SeriesKey, SeriesId> = HashMap::new();
        {
            let mut cat = inner.catalog.write();
            for (p, id) in points.iter().zip(ids.iter_mut()) {
                match &p.series {
                    SeriesRef::Id(sid) => {
                        *id = *sid;
                        if !cat.contains(*sid) && !new.iter().any(|n: &NewSeries| n.id == *sid) {
                            new.push(NewSeries {
                                id: *sid,
                                key: None,
                                settings: SeriesSettings::default(),
                            });
                        }
                    }
                    SeriesRef::Key(k) => {
                        if let Some(existing) = cat.id_of(k).or_else(|| new_keys.get(k).copied()) {
                            *id = existing;
                        } else {
                            let sid = cat.allocate_key_id();
                            new_keys.insert(k.clone(), sid);
                            new.push(NewSeries {
                                id: sid,
                                key: Some(k.clone()),
                                settings: SeriesSettings::default(),
                            });
                            *id = sid;
                        }
                    }
                }
            }
        }
        if new.is_empty() {
            return Ok(ids);
        }
        inner.backend.create_series(&new).await?;
        let created = now_ms();
        let mut cat = inner.catalog.write();
        for n in new {
            inner.cache.mark_new(n.id);
            cat.insert(SeriesInfo {
                id: n.id,
                key: n.key,
                settings: n.settings,
                created,
            });
            report.created_series += 1;
        }
        Ok(ids)
    }

    /// Answers a read (semantics.md section 2): merges cache and storage, applies the
    /// result caps, and hands out a cursor for the older part when it truncates.
    pub async fn read(&self, req: &ReadRequest) -> Result<ReadResult> {
        if !self.inner.catalog.read().contains(req.series) {
            return Err(Error::SeriesNotFound(req.series));
        }
        match req.window {
            Window::Last { n, skip, at } => {
                if req.resolution != Resolution::Raw {
                    return Err(Error::InvalidRequest(
                        "a resolution other than raw applies to time ranges only".into(),
                    ));
                }
                let skip = match req.cursor {
                    None => skip,
                    Some(Cursor::Skip(s)) => s,
                    Some(c) => {
                        return Err(Error::InvalidRequest(format!(
                            "cursor `{c}` belongs to a range read"
                        )));
                    }
                };
                self.read_last(req.series, n, skip, at).await
            }
            Window::Range { from, to } => {
                let to = match req.cursor {
                    None => to,
                    Some(Cursor::Before(t)) => to.min(t),
                    Some(c) => {
                        return Err(Error::InvalidRequest(format!(
                            "cursor `{c}` belongs to a last-N read"
                        )));
                    }
                };
                match req.resolution {
                    Resolution::Raw => self.read_range(req.series, from, to).await,
                    Resolution::Trend(i) => self.read_trend_page(req.series, i, from, to).await,
                    Resolution::Auto => {
                        let raw = self.read_range(req.series, from, to).await?;
                        if !raw.truncated {
                            return Ok(raw);
                        }
                        let interval = self.auto_interval(from, to);
                        match interval {
                            Some(i) => self.read_trend_page(req.series, i, from, to).await,
                            None => Ok(raw),
                        }
                    }
                }
            }
        }
    }

    /// The finest configured trend interval whose bucket count over the range fits the cap.
    fn auto_interval(&self, from: Timestamp, to: Timestamp) -> Option<TrendInterval> {
        let intervals = self.inner.backend.trend_intervals();
        let span = to.saturating_sub(from).max(0) as u128;
        let cap = self.inner.opts.query_max_result_numbers as u128;
        intervals
            .iter()
            .copied()
            .find(|i| span / (i.ms() as u128) < cap)
            .or_else(|| intervals.iter().copied().max())
    }

    /// A whole window as columns, for plugins: no answer caps and no paging (the caller
    /// bounds `limit`), cache and storage merged as in [`Store::read`], and storage read as
    /// columns so that no `Point` is built per stored row. Returns the points (ascending) and
    /// whether more existed than `limit` (then the newest `limit` are kept).
    ///
    /// `Last { n, skip, at }` gives the `n` newest points before `at` after skipping the
    /// `skip` newest; `Range { from, to }` every point of `[from, to)`.
    pub async fn read_columns(
        &self,
        id: SeriesId,
        window: Window,
        limit: usize,
    ) -> Result<(PointColumns, bool)> {
        let plan = self.plan_columns(id, window, limit)?;
        let backend = &*self.inner.backend;
        let stored = match plan.storage {
            Some(r) => Some(r.read(backend, id).await?),
            None => None,
        };
        self.fill_from(id, plan.fill, stored.as_ref());
        let stored = match cut_past_at(plan.past_at, stored) {
            Ok(stored) => stored,
            Err(exact) => Some(exact.read(backend, id).await?),
        };
        Ok(plan.finish(stored))
    }

    /// [`Store::read_columns`] for a caller that may block (a plugin's host import): the
    /// storage part runs on this thread when the backend can
    /// ([`StorageBackend::read_range_columns_inline`]), else through `rt`. Same answer.
    pub fn read_columns_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        id: SeriesId,
        window: Window,
        limit: usize,
    ) -> Result<(PointColumns, bool)> {
        let plan = self.plan_columns(id, window, limit)?;
        let backend = &*self.inner.backend;
        let read = |r: StorageRead| match r.read_inline(backend, id) {
            Some(answer) => answer,
            None => rt.block_on(r.read(backend, id)),
        };
        let stored = match plan.storage {
            Some(r) => Some(read(r)?),
            None => None,
        };
        self.fill_from(id, plan.fill, stored.as_ref());
        let stored = match cut_past_at(plan.past_at, stored) {
            Ok(stored) => stored,
            Err(exact) => Some(read(exact)?),
        };
        Ok(plan.finish(stored))
    }

    /// Read-through for columnar reads: a function that keeps asking for the newest N
    /// finds them in memory from its second call on, as last-N readers do, instead of only
    /// once N newer points have been written.
    fn fill_from(&self, id: SeriesId, fill: Option<Fill>, stored: Option<&PointColumns>) {
        if let (Some(f), Some(stored)) = (fill, stored) {
            let points = stored.clone().into_points();
            let complete = points.len() < f.want;
            self.inner.cache.fill(id, f.epoch, &points, complete);
        }
    }

    /// The memory part of a columnar read, and what it still needs from storage.
    fn plan_columns(&self, id: SeriesId, window: Window, limit: usize) -> Result<ColumnsPlan> {
        let inner = &self.inner;
        if !inner.catalog.read().contains(id) {
            return Err(Error::SeriesNotFound(id));
        }
        Ok(match window {
            Window::Last { n, skip, at } => {
                let capped = n > limit;
                let n = n.min(limit);
                let k = skip.saturating_add(n);
                let at_ts = at.unwrap_or(Timestamp::MAX);
                // Functions that keep asking for the newest N teach the cache to keep them,
                // as readers of last-N points do (bounded like them).
                inner
                    .cache
                    .note_demand(id, k.min(inner.opts.query_max_result_numbers));
                let snap = inner.cache.last(id, k, at_ts);
                // Only windows the cache would keep anyway fill it.
                let cacheable = k <= inner.opts.query_max_result_numbers;
                let fills = cacheable && snap.storage_answer_fills(at_ts);
                let epoch = snap.epoch;
                let fill = |want: usize| fills.then_some(Fill { epoch, want });
                // The cache does not know where its coverage starts (after a restart, until
                // a read fills it) and the window ends before it: only a read past `at` can
                // fill it (see `PastAt`).
                let learn = !snap.hit
                    && cacheable
                    && snap.coverage_unknown()
                    && !snap.storage_answer_fills(at_ts);
                let mut memory = snap.points;
                memory.reverse();
                if snap.hit {
                    ColumnsPlan {
                        storage: None,
                        memory,
                        finish: Finish::Last { k, skip, n, capped },
                        fill: None,
                        past_at: None,
                    }
                } else if learn && (skip == 0 || !memory.is_empty()) {
                    // Coverage unknown: ask storage for its newest k points whatever their
                    // stamps, fill the cache with them, and cut at `at` afterwards.
                    ColumnsPlan {
                        storage: Some(StorageRead::Range {
                            from: Timestamp::MIN,
                            to: Timestamp::MAX,
                            limit: k,
                        }),
                        memory,
                        finish: Finish::Last { k, skip, n, capped },
                        fill: Some(Fill { epoch, want: k }),
                        past_at: Some(PastAt {
                            at: at_ts,
                            want: k,
                            exact: StorageRead::Range {
                                from: Timestamp::MIN,
                                to: at_ts,
                                limit: k,
                            },
                        }),
                    }
                } else if memory.is_empty() {
                    // Memory holds nothing before `at`: storage alone answers, skip included
                    // (it can pass over skipped chunks without decoding them).
                    ColumnsPlan {
                        storage: Some(StorageRead::Last {
                            before: at_ts,
                            n,
                            skip,
                        }),
                        memory,
                        finish: Finish::Last {
                            k: n,
                            skip: 0,
                            n,
                            capped,
                        },
                        // Skipped points are not in the answer: it would leave a hole.
                        fill: if skip == 0 { fill(n) } else { None },
                        past_at: None,
                    }
                } else if !snap.uncovered && snap.cover_from < at_ts {
                    // Memory holds exactly the points of `[cover_from, at)` (fewer than k) and
                    // nothing older: the skip splits between them and storage's points before
                    // `cover_from`, so storage gets its share of the skip and can pass over
                    // whole chunks instead of reading `skip + n` points.
                    let c = memory.len();
                    let from_memory = c.saturating_sub(skip).min(n);
                    memory.truncate(c - skip.min(c));
                    memory.drain(..memory.len() - from_memory);
                    let storage_skip = skip.saturating_sub(c);
                    ColumnsPlan {
                        storage: Some(StorageRead::Last {
                            before: snap.cover_from,
                            n: n - from_memory,
                            skip: storage_skip,
                        }),
                        memory,
                        finish: Finish::Last {
                            k: n,
                            skip: 0,
                            n,
                            capped,
                        },
                        // Storage's points end right before `cover_from` unless it skipped.
                        fill: if storage_skip == 0 {
                            fill(n - from_memory)
                        } else {
                            None
                        },
                        past_at: None,
                    }
                } else {
                    ColumnsPlan {
                        storage: Some(StorageRead::Range {
                            from: Timestamp::MIN,
                            to: at_ts,
                            limit: k,
                        }),
                        memory,
                        finish: Finish::Last { k, skip, n, capped },
                        fill: fill(k),
                        past_at: None,
                    }
                }
            }
            Window::Range { from, to } => {
                let snap = inner.cache.range(id, from, to);
                let from_memory = from >= snap.cover_from || from >= to;
                ColumnsPlan {
                    storage: (!from_memory).then(|| StorageRead::Range {
                        from,
                        to: to.min(snap.cover_from),
                        limit: limit.saturating_add(1),
                    }),
                    memory: snap.points,
                    finish: Finish::Range { limit },
                    fill: None,
                    past_at: None,
                }
            }
        })
    }

    async fn read_last(
        &self,
        id: SeriesId,
        n: usize,
        skip: usize,
        at: Option<Timestamp>,
    ) -> Result<ReadResult> {
        let inner = &self.inner;
        let opts = &inner.opts;
        let wanted = n.min(opts.query_max_result_numbers);
        let k = skip.saturating_add(wanted);
        let at_ts = at.unwrap_or(Timestamp::MAX);
        // Demand drives the cache size, within reason: one huge request should not pin
        // millions of points in memory.
        inner
            .cache
            .note_demand(id, k.min(opts.query_max_result_numbers));
        let snap = inner.cache.last(id, k, at_ts);
        let newest_first: Vec<Point> = if snap.hit {
            snap.points
        } else {
            let stored = inner.backend.read_last(id, k, at_ts).await?;
            if snap.storage_answer_fills(at_ts) {
                inner.cache.fill(id, snap.epoch, &stored, stored.len() < k);
            }
            let mut memory = snap.points;
            memory.reverse();
            let mut merged = merge_overlay(stored, memory);
            let drop = merged.len().saturating_sub(k);
            merged.drain(..drop);
            merged.reverse();
            merged
        };
        let after_skip: Vec<Point> = newest_first.into_iter().skip(skip).collect();
        let got = after_skip.len();
        let (points, capped) = cap_points(
            after_skip,
            opts.query_max_result_numbers,
            opts.query_max_result_strings,
        );
        let truncated = capped || (n > wanted && got == wanted);
        Ok(ReadResult {
            series: id,
            next: truncated.then(|| Cursor::Skip(skip + points.len())),
            data: Data::Points(points),
            truncated,
        })
    }

    async fn read_range(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> Result<ReadResult> {
        let inner = &self.inner;
        let opts = &inner.opts;
        let snap = inner.cache.range(id, from, to);
        let merged = if from >= snap.cover_from || from >= to {
            snap.points
        } else {
            let stored = inner
                .backend
                .read_range(
                    id,
                    from,
                    to.min(snap.cover_from),
                    opts.query_max_result_numbers + 1,
                )
                .await?;
            merge_overlay(stored, snap.points)
        };
        let mut newest_first = merged;
        newest_first.reverse();
        let (points, truncated) = cap_points(
            newest_first,
            opts.query_max_result_numbers,
            opts.query_max_result_strings,
        );
        Ok(ReadResult {
            series: id,
            next: if truncated {
                points.first().map(|p| Cursor::Before(p.ts))
            } else {
                None
            },
            data: Data::Points(points),
            truncated,
        })
    }

    async fn read_trend_page(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<ReadResult> {
        let mut buckets = self.read_trends(id, interval, from, to).await?;
        let cap = self.inner.opts.query_max_result_numbers;
        let truncated = buckets.len() > cap;
        if truncated {
            buckets.drain(..buckets.len() - cap);
        }
        Ok(ReadResult {
            series: id,
            next: if truncated {
                buckets.first().map(|b| Cursor::Before(b.start))
            } else {
                None
            },
            data: Data::Trends { interval, buckets },
            truncated,
        })
    }

    /// Trend buckets starting in `[from, to)`: stored buckets merged with the aggregates of
    /// points not flushed yet.
    pub async fn read_trends(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        let inner = &self.inner;
        if !inner.backend.trend_intervals().contains(&interval) {
            let known: Vec<String> = inner
                .backend
                .trend_intervals()
                .iter()
                .map(|i| i.to_string())
                .collect();
            return Err(Error::InvalidRequest(format!(
                "trend interval {interval} is not kept (kept: {})",
                known.join(", ")
            )));
        }
        // Points of buckets starting in [from, to) lie in [from', to') aligned outward.
        let pfrom = interval.bucket_start(from);
        let pto = interval
            .bucket_start(to.saturating_sub(1))
            .saturating_add(interval.ms());
        for _ in 0..5 {
            let seq = inner.flush_seq.load(Ordering::Acquire);
            if seq % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            let dirty = inner.cache.dirty_range(id, pfrom, pto);
            let stored = inner.backend.read_trends(id, interval, from, to).await?;
            if inner.flush_seq.load(Ordering::Acquire) != seq {
                continue;
            }
            return Ok(merge_trends(
                stored,
                TrendBucket::build(interval, &dirty),
                from,
                to,
            ));
        }
        // A flush kept moving points underneath; storage alone is still a consistent view
        // of everything flushed so far.
        Ok(inner.backend.read_trends(id, interval, from, to).await?)
    }

    /// Flushes every unflushed point to storage, builds their trends and truncates the log.
    /// A failure loses nothing: the points stay in the cache and the log, and the next flush
    /// retries them.
    pub async fn flush(&self) -> Result<FlushReport> {
        let inner = &self.inner;
        let _guard = inner.flush_lock.lock().await;
        let started = Instant::now();
        let seg = inner.wal.rotate().await?;
        let snapshot = inner.cache.dirty_snapshot(seg);
        let mut report = FlushReport {
            series: snapshot.len(),
            ..Default::default()
        };
        let mut failure = None;
        let mut batch: Vec<SeriesPoints> = Vec::new();
        let mut batch_points = 0;
        let mut iter = snapshot.into_iter().peekable();
        while let Some(sp) = iter.next() {
            batch_points += sp.points.len();
            batch.push(sp);
            if batch_points < inner.opts.flush_batch_points && iter.peek().is_some() {
                continue;
            }
            inner.flush_seq.fetch_add(1, Ordering::AcqRel);
            let result = inner.backend.write(&batch).await;
            if let Ok(summary) = &result {
                inner.cache.mark_clean(seg, &batch);
                report.points += summary.points;
                report.trend_buckets += summary.trend_buckets;
            }
            inner.flush_seq.fetch_add(1, Ordering::AcqRel);
            if let Err(e) = result {
                failure = Some(e);
                break;
            }
            batch.clear();
            batch_points = 0;
        }
        let c = &inner.counters;
        if let Some(e) = failure {
            c.flush_errors.fetch_add(1, Ordering::Relaxed);
            inner.flushed.notify_waiters();
            return Err(e.into());
        }
        report.wal_freed = inner.wal.remove_up_to(seg).await?;
        inner.cache.maintain();
        report.millis = started.elapsed().as_millis() as u64;
        c.flushes.fetch_add(1, Ordering::Relaxed);
        c.last_flush_millis.store(report.millis, Ordering::Relaxed);
        c.last_flush_points.store(report.points, Ordering::Relaxed);
        c.flushed_points.fetch_add(report.points, Ordering::Relaxed);
        inner.flushed.notify_waiters();
        if report.points > 0 {
            debug!(
                points = report.points,
                series = report.series,
                millis = report.millis,
                "cache flushed"
            );
        }
        Ok(report)
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

    /// Creates a series explicitly (with settings) if it does not exist; returns its entry.
    pub async fn create_series(
        &self,
        series: SeriesRef,
        settings: SeriesSettings,
    ) -> Result<SeriesInfo> {
        let mut report = WriteReport::default();
        let probe = IncomingPoint {
            series,
            ts: None,
            value: Value::Num(0.0),
        };
        let id = self
            .resolve(std::slice::from_ref(&probe), &mut report)
            .await?[0];
        if report.created_series > 0 && settings != SeriesSettings::default() {
            let update = SeriesUpdate {
                keep_history_days: Some(settings.keep_history_days),
                keep_trends_days: Some(settings.keep_trends_days),
                metadata: Some(settings.metadata),
            };
            return self.update_series(id, &update).await;
        }
        self.series(id).ok_or(Error::SeriesNotFound(id))
    }

    /// Changes a series' settings.
    pub async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        if !self.inner.catalog.read().contains(id) {
            return Err(Error::SeriesNotFound(id));
        }
        let info = self.inner.backend.update_series(id, update).await?;
        self.inner.catalog.write().insert(info.clone());
        Ok(info)
    }

    /// Deletes a series with all its data. False if it did not exist.
    pub async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        let inner = &self.inner;
        if !inner.catalog.read().contains(id) {
            return Ok(false);
        }
        // Logged first, so a crash before storage finished is completed at start-up and
        // replay never resurrects the series' unflushed points.
        inner.wal.append(Entry::DeleteSeries(id)).await?;
        inner.catalog.write().remove(id);
        inner.backend.delete_series(id).await?;
        inner.cache.remove_series(id);
        Ok(true)
    }

    /// Deletes the points of `[from, to)` of a series (trends are kept). Returns how many
    /// stored points went (unflushed ones are not counted).
    pub async fn delete_points(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        let inner = &self.inner;
        if !inner.catalog.read().contains(id) {
            return Err(Error::SeriesNotFound(id));
        }
        if from >= to {
            return Ok(0);
        }
        // Unflushed points were never in storage (or replaced a stored value there: then the
        // point is counted twice, the only inexactness of this count).
        let unflushed = inner.cache.dirty_in_range(id, from, to);
        // Logging the deletion also applies it to the cache.
        inner
            .wal
            .append(Entry::DeleteRange {
                series: id,
                from,
                to,
            })
            .await?;
        let n = inner.backend.delete_points(id, from, to).await?;
        // A read-through fill may have copied doomed points back in meanwhile.
        inner.cache.remove_range(id, from, to);
        Ok(n + unflushed as u64)
    }

    /// Retention for a batch of series (see [`StorageBackend::expire`]): raw points stamped
    /// before each `raw_before` and trend buckets starting before each interval's cut. The
    /// whole batch is one log record and one backend call (one storage transaction with the
    /// SQLite backend), which is what makes retention over many series cheap.
    ///
    /// Returns one outcome per entry, in order. Series not in the catalog are skipped (their
    /// outcome counts nothing). As with [`Store::delete_points`], `points` counts stored
    /// points plus the unflushed ones that were cut from the cache.
    pub async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        let inner = &self.inner;
        // Positions in `batch` of the entries that can delete something.
        let keep: Vec<usize> = {
            let catalog = inner.catalog.read();
            (0..batch.len())
                .filter(|&i| !batch[i].is_empty() && catalog.contains(batch[i].series))
                .collect()
        };
        let mut out: Vec<ExpiryOutcome> = batch
            .iter()
            .map(|e| ExpiryOutcome::none(e.series))
            .collect();
        if keep.is_empty() {
            return Ok(out);
        }
        let todo: Vec<Expiry> = keep.iter().map(|&i| batch[i].clone()).collect();
        // Counted before logging, which cuts them from the cache (see `delete_points`).
        let unflushed: Vec<u64> = todo
            .iter()
            .map(|e| {
                e.raw_before.map_or(0, |before| {
                    inner.cache.dirty_in_range(e.series, Timestamp::MIN, before) as u64
                })
            })
            .collect();
        inner.wal.append(Entry::Expire(todo.clone())).await?;
        let stored = inner.backend.expire(&todo).await;
        // A read-through fill may have copied doomed points back in meanwhile; the cache
        // follows the cut whether storage succeeded or not (the log re-applies it at start).
        for e in &todo {
            if let Some(before) = e.raw_before {
                inner.cache.remove_range(e.series, Timestamp::MIN, before);
            }
        }
        let stored = stored?;
        if stored.len() != todo.len() {
            return Err(Error::Storage(StorageError::Other(format!(
                "{} answered {} expiry outcomes for {} series",
                inner.backend.describe(),
                stored.len(),
                todo.len()
            ))));
        }
        for ((i, s), dirty) in keep.into_iter().zip(stored).zip(unflushed) {
            if let Some(o) = out.get_mut(i) {
                o.points = s.points + dirty;
                o.buckets = s.buckets;
            }
        }
        Ok(out)
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

/// Adds the aggregates of unflushed points to the stored buckets of `[from, to)`.
fn merge_trends(
    stored: Vec<TrendBucket>,
    dirty: Vec<TrendBucket>,
    from: Timestamp,
    to: Timestamp,
) -> Vec<TrendBucket> {
    if dirty.is_empty() {
        return stored;
    }
    let mut by_start: std::collections::BTreeMap<Timestamp, TrendBucket> =
        stored.into_iter().map(|b| (b.start, b)).collect();
    for d in dirty {
        if d.start < from || d.start >= to {
            continue;
        }
        by_start
            .entry(d.start)
            .and_modify(|b| b.merge(&d))
            .or_insert(d);
    }
    by_start.into_values().collect()
}

/// The cache service: flushes every `cache_service_interval`, and sooner when the log or
/// the unflushed points pass their thresholds. After a failure it retries with backoff.
async fn cache_service(inner: std::sync::Weak<Inner>) {
    let mut backoff = Duration::from_secs(1);
    let mut wait = match inner.upgrade() {
        Some(i) => i.opts.cache_service_interval,
        None => return,
    };
    loop {
        let notified = match inner.upgrade() {
            Some(i) => {
                let i2 = Arc::clone(&i);
                drop(i);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = i2.flush_wanted.notified() => {}
                }
                i2
            }
            None => return,
        };
        if notified.closed.load(Ordering::Relaxed) {
            return;
        }
        let store = Store { inner: notified };
        match store.flush().await {
            Ok(_) => {
                backoff = Duration::from_secs(1);
                wait = store.inner.opts.cache_service_interval;
            }
            Err(e) => {
                error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cache flush failed; unflushed points are kept and retried");
                wait = backoff.min(store.inner.opts.cache_service_interval);
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// A columnar read split at its storage part ([`Store::read_columns`] and its blocking twin).
struct ColumnsPlan {
    /// What storage must still answer; `None` when memory covers the window.
    storage: Option<StorageRead>,
    /// The cache's points of the window, ascending.
    memory: Vec<Point>,
    finish: Finish,
    /// Whether storage's answer may fill the cache (read-through), see [`Fill`].
    fill: Option<Fill>,
    /// Storage was asked past the window's end, see [`PastAt`].
    past_at: Option<PastAt>,
}

/// A last-N read asked of storage past its `at`, because the cache does not know where its
/// coverage starts (after a restart, until a read fills it): storage's newest `want` points
/// fill the cache as a read without `at` does, and are then cut at `at`. When that leaves
/// fewer than `want` while storage had more (points stamped at or after `at` exist in
/// storage), `exact` is read as well.
#[derive(Clone, Copy)]
struct PastAt {
    at: Timestamp,
    want: usize,
    exact: StorageRead,
}

/// Cuts an answer read past `at` back to the window ([`PastAt`]); `Err` with the exact read
/// when the cut left too few points while storage had more.
fn cut_past_at(
    past_at: Option<PastAt>,
    stored: Option<PointColumns>,
) -> std::result::Result<Option<PointColumns>, StorageRead> {
    match (past_at, stored) {
        (Some(p), Some(mut s)) => {
            let full = s.len() >= p.want;
            s.drop_from(p.at);
            if full && s.len() < p.want {
                return Err(p.exact);
            }
            Ok(Some(s))
        }
        (_, stored) => Ok(stored),
    }
}

/// A read-through fill after a columnar last-N read: storage answered the newest `want`
/// points before a time at or after the cache's coverage start, with no skip, so its answer
/// joins the covered region without a gap ([`Cache::fill`] checks `epoch`). Fewer than
/// `want` points means storage holds nothing older: the cache then covers everything.
#[derive(Clone, Copy)]
struct Fill {
    epoch: u64,
    want: usize,
}

/// What a columnar read asks of storage.
#[derive(Clone, Copy)]
enum StorageRead {
    /// The newest `limit` points of `[from, to)`.
    Range {
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    },
    /// The `n` newest points before `before` after skipping the `skip` newest.
    Last {
        before: Timestamp,
        n: usize,
        skip: usize,
    },
}

impl StorageRead {
    /// Asks `backend` (async: through its own threads).
    async fn read(
        self,
        backend: &dyn StorageBackend,
        id: SeriesId,
    ) -> std::result::Result<PointColumns, StorageError> {
        match self {
            StorageRead::Range { from, to, limit } => {
                backend.read_range_columns(id, from, to, limit).await
            }
            StorageRead::Last { before, n, skip } => {
                backend.read_last_columns(id, before, n, skip).await
            }
        }
    }

    /// Asks `backend` on this thread; `None` when it cannot right now.
    fn read_inline(
        self,
        backend: &dyn StorageBackend,
        id: SeriesId,
    ) -> Option<std::result::Result<PointColumns, StorageError>> {
        match self {
            StorageRead::Range { from, to, limit } => {
                backend.read_range_columns_inline(id, from, to, limit)
            }
            StorageRead::Last { before, n, skip } => {
                backend.read_last_columns_inline(id, before, n, skip)
            }
        }
    }
}

enum Finish {
    Last {
        k: usize,
        skip: usize,
        n: usize,
        capped: bool,
    },
    Range {
        limit: usize,
    },
}

impl ColumnsPlan {
    /// Merges memory over what storage answered and applies the window's cuts.
    fn finish(self, stored: Option<PointColumns>) -> (PointColumns, bool) {
        let cols = match stored {
            Some(stored) => stored.merge_overlay(self.memory),
            None => PointColumns::from_points(self.memory),
        };
        match self.finish {
            Finish::Last { k, skip, n, capped } => {
                let mut cols = cols;
                cols.keep_newest(k);
                cols.drop_newest(skip);
                // `n` was capped at `limit`: when that many came back, more may exist.
                let truncated = capped && cols.len() == n;
                (cols, truncated)
            }
            Finish::Range { limit } => {
                let mut cols = cols;
                let truncated = cols.len() > limit;
                cols.keep_newest(limit);
                (cols, truncated)
            }
        }
    }
}
