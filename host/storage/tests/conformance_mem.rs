//! Proves the conformance suite against an in-memory reference backend: the correct backend
//! passes every check, and backends with one deliberate bug each are caught by the check meant
//! for that bug.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use clio_storage::prelude::*;
use clio_storage::testing::{self, Guarded};
use clio_storage::{
    Capabilities, DEFAULT_TREND_INTERVALS, Expiry, ExpiryOutcome, NewSeries, Point, Result,
    SeriesFilter, SeriesId, SeriesInfo, SeriesPoints, SeriesStats, SeriesUpdate, StorageError,
    Timestamp, TrendBucket, TrendInterval, TrendMode, Value, WriteSummary, WrittenPoints,
};

// ---------------------------------------------------------------------------------------------
// The reference backend
// ---------------------------------------------------------------------------------------------

/// Deliberate bugs, each of which some check must catch.
#[derive(Debug, Default, Clone, Copy)]
struct Bugs {
    /// An overwrite adds the new value to the trend bucket instead of replacing the old one.
    overwrite_adds: bool,
    /// `read_range` with a limit keeps the oldest points instead of the newest.
    limit_keeps_oldest: bool,
    /// `read_last` includes a point stamped exactly at `before`.
    before_inclusive: bool,
    /// `write` stores each series' points in two halves, letting readers in between.
    torn_writes: bool,
    /// `-0.0` is stored as `0.0`.
    loses_negative_zero: bool,
    /// `close` does nothing.
    close_is_noop: bool,
    /// `delete_points` recomputes the trend buckets it touches from the remaining points.
    delete_points_recomputes_trends: bool,
    /// `delete_series` keeps the points, so a re-created id sees old data.
    delete_series_keeps_points: bool,
    /// The native `expire` also deletes the point stamped exactly at `raw_before`.
    expire_cut_inclusive: bool,
    /// The native `expire` fails the whole batch on a series it does not know.
    expire_unknown_fails: bool,
    /// The native `expire` applies each trend cut to every interval, not only the listed one.
    expire_cuts_every_interval: bool,
    /// `put_trends` merges a given bucket into the stored one instead of replacing it.
    put_trends_merges: bool,
    /// `write_reporting` reports no replaced timestamp (so the shared maintenance merges a
    /// replacing value into its bucket instead of rebuilding it).
    reports_no_replaced: bool,
}

/// Records drops, to prove `Guarded` drops the backend before its guard.
#[derive(Debug)]
struct DropProbe(Arc<Mutex<Vec<&'static str>>>, &'static str);

impl Drop for DropProbe {
    fn drop(&mut self) {
        if let Ok(mut log) = self.0.lock() {
            log.push(self.1);
        }
    }
}

#[derive(Debug)]
struct Series {
    info: SeriesInfo,
    points: BTreeMap<Timestamp, Value>,
    trends: BTreeMap<TrendInterval, BTreeMap<Timestamp, TrendBucket>>,
}

#[derive(Debug, Default)]
struct State {
    series: BTreeMap<SeriesId, Series>,
    /// Points of deleted series, kept only by the `delete_series_keeps_points` bug.
    leftovers: BTreeMap<SeriesId, BTreeMap<Timestamp, Value>>,
}

/// A straightforward BTreeMap store. One lock around everything makes every call atomic.
/// By default its trends are `Given`: `clio_storage::write_points` computes them with the shared
/// rules and stores them with `put_trends`, so the suite exercises the shared maintenance. With
/// `native_trends`, `write` maintains them itself (its own code, not the shared module): a
/// bucket that only gains new points merges their aggregates in; a bucket where a value was
/// replaced is recomputed from its raw points.
#[derive(Debug)]
struct MemBackend {
    state: RwLock<State>,
    intervals: Vec<TrendInterval>,
    closed: AtomicBool,
    bugs: Bugs,
    /// `expire` in one step under the lock (with the `expire_*` bugs) instead of the trait's
    /// default, which loops over `delete_points` and `delete_trends`.
    native_expire: bool,
    /// Trend buckets are not maintained by `write` but stored as given (`TrendMode::Given`):
    /// `clio_storage::write_points` computes them with the shared rules. False: `Native`.
    given_trends: bool,
    /// In `Given` mode, `write_reporting` is the trait's default (reads before the write)
    /// instead of this backend's own (which knows from its insert).
    reports_by_reading: bool,
    _probe: Option<DropProbe>,
}

impl MemBackend {
    fn new() -> Self {
        Self::with_bugs(Bugs::default())
    }

    /// `Given` trends, the trait's default `expire`, and `bugs`.
    fn with_bugs(bugs: Bugs) -> Self {
        MemBackend {
            state: RwLock::new(State::default()),
            intervals: DEFAULT_TREND_INTERVALS.to_vec(),
            closed: AtomicBool::new(false),
            bugs,
            native_expire: false,
            given_trends: true,
            reports_by_reading: false,
            _probe: None,
        }
    }

    /// A backend with its own `expire` (and `bugs`).
    fn native(bugs: Bugs) -> Self {
        MemBackend {
            native_expire: true,
            ..Self::with_bugs(bugs)
        }
    }

    /// A backend whose `write` maintains the trend buckets itself (`TrendMode::Native`).
    fn native_trends(bugs: Bugs) -> Self {
        MemBackend {
            given_trends: false,
            ..Self::with_bugs(bugs)
        }
    }

    /// `expire` as one atomic step: the whole batch under one write lock.
    fn expire_native(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        let mut st = self.write_lock()?;
        let mut out = Vec::with_capacity(batch.len());
        for e in batch {
            let mut outcome = ExpiryOutcome::none(e.series);
            let Some(s) = st.series.get_mut(&e.series) else {
                if self.bugs.expire_unknown_fails {
                    return Err(StorageError::NotFound(e.series));
                }
                out.push(outcome);
                continue;
            };
            if let Some(before) = e.raw_before {
                let n = s.points.len();
                if self.bugs.expire_cut_inclusive {
                    s.points.retain(|&ts, _| ts > before);
                } else {
                    s.points.retain(|&ts, _| ts >= before);
                }
                outcome.points = (n - s.points.len()) as u64;
            }
            for &(interval, before) in &e.trends_before {
                for (iv, t) in s.trends.iter_mut() {
                    if *iv != interval && !self.bugs.expire_cuts_every_interval {
                        continue;
                    }
                    let n = t.len();
                    t.retain(|&start, _| start >= before);
                    outcome.buckets += (n - t.len()) as u64;
                }
            }
            out.push(outcome);
        }
        Ok(out)
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(StorageError::Unavailable("memory store is closed".into()))
        } else {
            Ok(())
        }
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, State>> {
        self.check_open()?;
        self.state
            .read()
            .map_err(|_| StorageError::other("lock poisoned"))
    }

    fn write_lock(&self) -> Result<std::sync::RwLockWriteGuard<'_, State>> {
        self.check_open()?;
        self.state
            .write()
            .map_err(|_| StorageError::other("lock poisoned"))
    }

    fn validate(st: &State, batch: &[SeriesPoints]) -> Result<()> {
        for sp in batch {
            if !st.series.contains_key(&sp.series) {
                return Err(StorageError::NotFound(sp.series));
            }
            for p in &sp.points {
                p.value.validate().map_err(|e| {
                    StorageError::InvalidInput(format!("series {} ts {}: {e}", sp.series, p.ts))
                })?;
            }
            if sp.points.windows(2).any(|w| w[0].ts >= w[1].ts) {
                return Err(StorageError::InvalidInput(format!(
                    "points of series {} are not strictly ascending",
                    sp.series
                )));
            }
        }
        Ok(())
    }

    /// Stores `points` (sorted) of one series and, in `Native` mode, updates the trend
    /// buckets they touch. Also returns the timestamps that replaced a stored value.
    fn apply(&self, s: &mut Series, points: &[Point]) -> (WriteSummary, Vec<Timestamp>) {
        let mut summary = WriteSummary::default();
        let mut replaced = BTreeSet::new();
        for p in points {
            let mut value = p.value.clone();
            if self.bugs.loses_negative_zero
                && let Value::Num(v) = &mut value
            {
                *v += 0.0;
            }
            if s.points.insert(p.ts, value).is_some() {
                replaced.insert(p.ts);
            }
        }
        summary.points = points.len() as u64;
        summary.replaced = replaced.len() as u64;
        if self.given_trends {
            return (summary, replaced.into_iter().collect());
        }

        for &iv in &self.intervals {
            let trends = s.trends.entry(iv).or_default();
            let mut touched: BTreeMap<Timestamp, (Vec<Point>, bool)> = BTreeMap::new();
            for p in points {
                let e = touched.entry(iv.bucket_start(p.ts)).or_default();
                e.0.push(p.clone());
                e.1 |= replaced.contains(&p.ts);
            }
            for (start, (new, any_replaced)) in touched {
                if any_replaced && !self.bugs.overwrite_adds {
                    // A replaced value's contribution cannot be subtracted (min, max, first
                    // and last are not invertible), so the bucket is rebuilt from raw points.
                    let end = start.saturating_add(iv.ms());
                    let raw: Vec<Point> = s
                        .points
                        .range(start..end)
                        .map(|(&ts, v)| Point::new(ts, v.clone()))
                        .collect();
                    match TrendBucket::build(iv, &raw).pop() {
                        Some(b) => trends.insert(start, b),
                        None => trends.remove(&start),
                    };
                    summary.trend_buckets += 1;
                } else if let Some(b) = TrendBucket::build(iv, &new).pop() {
                    match trends.get_mut(&start) {
                        Some(old) => old.merge(&b),
                        None => {
                            trends.insert(start, b);
                        }
                    }
                    summary.trend_buckets += 1;
                }
            }
        }
        (summary, replaced.into_iter().collect())
    }
}

impl MemBackend {
    /// The whole batch under one write lock, with the replaced timestamps of each entry.
    fn write_locked(&self, batch: &[SeriesPoints]) -> Result<WrittenPoints> {
        let mut st = self.write_lock()?;
        Self::validate(&st, batch)?;
        let mut report = WrittenPoints::default();
        for sp in batch {
            let s = st
                .series
                .get_mut(&sp.series)
                .ok_or(StorageError::NotFound(sp.series))?;
            let (summary, replaced) = self.apply(s, &sp.points);
            report.summary.add(&summary);
            report.replaced.push(replaced);
        }
        Ok(report)
    }
}

fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

fn to_points<'a>(it: impl Iterator<Item = (&'a Timestamp, &'a Value)>) -> Vec<Point> {
    it.map(|(&ts, v)| Point::new(ts, v.clone())).collect()
}

#[async_trait]
impl CatalogStore for MemBackend {
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        let st = self.read()?;
        Ok(st.series.values().map(|s| s.info.clone()).collect())
    }

    async fn create_series(&self, series: &[NewSeries]) -> Result<()> {
        let mut st = self.write_lock()?;
        let mut keys: BTreeMap<_, SeriesId> = st
            .series
            .values()
            .filter_map(|s| s.info.key.clone().map(|k| (k, s.info.id)))
            .collect();
        let mut fresh = Vec::new();
        for ns in series {
            if st.series.contains_key(&ns.id) || fresh.iter().any(|f: &&NewSeries| f.id == ns.id) {
                continue;
            }
            if let Some(k) = &ns.key {
                if let Some(owner) = keys.get(k) {
                    return Err(StorageError::InvalidInput(format!(
                        "key `{k}` already belongs to series {owner}"
                    )));
                }
                keys.insert(k.clone(), ns.id);
            }
            fresh.push(ns);
        }
        let created = now_ms();
        for ns in fresh {
            let points = st.leftovers.remove(&ns.id).unwrap_or_default();
            st.series.insert(
                ns.id,
                Series {
                    info: SeriesInfo {
                        id: ns.id,
                        key: ns.key.clone(),
                        settings: ns.settings.clone(),
                        created,
                    },
                    points,
                    trends: BTreeMap::new(),
                },
            );
        }
        Ok(())
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        Ok(self.read()?.series.get(&id).map(|s| s.info.clone()))
    }

    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        let st = self.read()?;
        Ok(st
            .series
            .values()
            .filter(|s| filter.matches(&s.info))
            .map(|s| s.info.clone())
            .collect())
    }

    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        let mut st = self.write_lock()?;
        let s = st.series.get_mut(&id).ok_or(StorageError::NotFound(id))?;
        update.apply(&mut s.info.settings);
        Ok(s.info.clone())
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        let mut st = self.write_lock()?;
        match st.series.remove(&id) {
            Some(s) => {
                if self.bugs.delete_series_keeps_points {
                    st.leftovers.insert(id, s.points);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl PointStore for MemBackend {
    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        clio_storage::stats_each(self).await
    }

    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        if self.bugs.torn_writes {
            Self::validate(&*self.read()?, batch)?;
            let mut total = WriteSummary::default();
            for sp in batch {
                let (a, z) = sp.points.split_at(sp.points.len() / 2);
                for half in [a, z] {
                    {
                        let mut st = self.write_lock()?;
                        let s = st
                            .series
                            .get_mut(&sp.series)
                            .ok_or(StorageError::NotFound(sp.series))?;
                        total.add(&self.apply(s, half).0);
                    }
                    // Sleep rather than yield: tokio wakes yielded tasks newest first, which
                    // would let this writer finish before any reader ran.
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            return Ok(total);
        }
        Ok(self.write_locked(batch)?.summary)
    }

    async fn write_reporting(&self, batch: &[SeriesPoints]) -> Result<WrittenPoints> {
        if self.reports_by_reading || self.bugs.torn_writes {
            return clio_storage::write_reporting_by_reading(self, batch).await;
        }
        let mut report = self.write_locked(batch)?;
        if self.bugs.reports_no_replaced {
            report.summary.replaced = 0;
            report.replaced.iter_mut().for_each(Vec::clear);
        }
        Ok(report)
    }

    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        let st = self.read()?;
        let s = st
            .series
            .get(&series)
            .ok_or(StorageError::NotFound(series))?;
        if from >= to {
            return Ok(Vec::new());
        }
        if self.bugs.limit_keeps_oldest {
            return Ok(to_points(s.points.range(from..to).take(limit)));
        }
        let mut v = to_points(s.points.range(from..to).rev().take(limit));
        v.reverse();
        Ok(v)
    }

    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        let st = self.read()?;
        let s = st
            .series
            .get(&series)
            .ok_or(StorageError::NotFound(series))?;
        let mut v = if self.bugs.before_inclusive {
            to_points(s.points.range(..=before).rev().take(n))
        } else {
            to_points(s.points.range(..before).rev().take(n))
        };
        v.reverse();
        Ok(v)
    }

    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        let mut st = self.write_lock()?;
        let s = st
            .series
            .get_mut(&series)
            .ok_or(StorageError::NotFound(series))?;
        if from >= to {
            return Ok(0);
        }
        let doomed: Vec<Timestamp> = s.points.range(from..to).map(|(&ts, _)| ts).collect();
        for ts in &doomed {
            s.points.remove(ts);
        }
        if self.bugs.delete_points_recomputes_trends {
            for (iv, t) in s.trends.iter_mut() {
                let starts: BTreeSet<Timestamp> =
                    doomed.iter().map(|&ts| iv.bucket_start(ts)).collect();
                for start in starts {
                    let end = start.saturating_add(iv.ms());
                    let raw = to_points(s.points.range(start..end));
                    match TrendBucket::build(*iv, &raw).pop() {
                        Some(b) => t.insert(start, b),
                        None => t.remove(&start),
                    };
                }
            }
        }
        Ok(doomed.len() as u64)
    }

    async fn stats(&self, series: SeriesId) -> Result<SeriesStats> {
        let st = self.read()?;
        let s = st
            .series
            .get(&series)
            .ok_or(StorageError::NotFound(series))?;
        let bytes = s
            .points
            .values()
            .map(|v| match v {
                Value::Num(_) => 16,
                Value::Str(s) => 8 + s.len() as u64 + 1,
            })
            .sum();
        Ok(SeriesStats {
            points: s.points.len() as u64,
            first_ts: s.points.keys().next().copied(),
            last_ts: s.points.keys().next_back().copied(),
            bytes,
        })
    }
}

#[async_trait]
impl TrendStore for MemBackend {
    fn trend_intervals(&self) -> &[TrendInterval] {
        &self.intervals
    }

    fn trend_mode(&self) -> TrendMode {
        if self.given_trends {
            TrendMode::Given
        } else {
            TrendMode::Native
        }
    }

    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        let st = self.read()?;
        let s = st
            .series
            .get(&series)
            .ok_or(StorageError::NotFound(series))?;
        if !self.intervals.contains(&interval) {
            return Err(StorageError::InvalidInput(format!(
                "interval {interval} is not maintained"
            )));
        }
        if from >= to {
            return Ok(Vec::new());
        }
        Ok(s.trends
            .get(&interval)
            .map(|t| t.range(from..to).map(|(_, b)| b.clone()).collect())
            .unwrap_or_default())
    }

    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        let mut st = self.write_lock()?;
        let s = st
            .series
            .get_mut(&series)
            .ok_or(StorageError::NotFound(series))?;
        let mut n = 0;
        for (iv, t) in s.trends.iter_mut() {
            if interval.is_some_and(|i| i != *iv) {
                continue;
            }
            let before = t.len();
            t.retain(|&start, _| start < from || start >= to);
            n += (before - t.len()) as u64;
        }
        Ok(n)
    }

    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()> {
        let mut st = self.write_lock()?;
        let s = st
            .series
            .get_mut(&series)
            .ok_or(StorageError::NotFound(series))?;
        let trends = s.trends.entry(interval).or_default();
        for b in buckets {
            match trends.get_mut(&b.start) {
                Some(old) if self.bugs.put_trends_merges => old.merge(b),
                _ => {
                    trends.insert(b.start, b.clone());
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RetentionStore for MemBackend {
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        if self.native_expire {
            self.expire_native(batch)
        } else {
            clio_storage::expire_each(self, batch).await
        }
    }
}

#[async_trait]
impl StorageBackend for MemBackend {
    fn describe(&self) -> String {
        "memory (conformance reference)".into()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn health(&self) -> Result<()> {
        self.check_open()
    }

    async fn close(&self) -> Result<()> {
        if !self.bugs.close_is_noop {
            self.closed.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The suite passes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reference_backend_passes_the_whole_suite() {
    // `Given` trends: buckets computed by the shared maintenance (`write_points`), stored with
    // `put_trends`.
    let b = MemBackend::new();
    assert_eq!(b.trend_mode(), TrendMode::Given);
    let t = Instant::now();
    testing::run_all(|| async { MemBackend::new() }).await;
    eprintln!("run_all (multi-thread) took {:?}", t.elapsed());
}

#[tokio::test]
async fn reference_backend_passes_on_a_current_thread_runtime_behind_guarded() {
    // The pattern backend crates use with a TempDir, here with a plain value as the guard.
    testing::run_all(|| async { Guarded::new(MemBackend::new(), String::from("guard")) }).await;
}

#[tokio::test]
async fn reference_backend_with_native_trends_passes_the_whole_suite() {
    // Buckets maintained by the backend's own `write`.
    let b = MemBackend::native_trends(Bugs::default());
    assert_eq!(b.trend_mode(), TrendMode::Native);
    testing::run_all(|| async { MemBackend::native_trends(Bugs::default()) }).await;
}

#[tokio::test]
async fn reference_backend_reporting_replaced_points_by_reading_passes_the_whole_suite() {
    // `Given` trends with the trait's default `write_reporting` (reads, then writes).
    testing::run_all(|| async {
        MemBackend {
            reports_by_reading: true,
            ..MemBackend::new()
        }
    })
    .await;
}

#[tokio::test]
async fn reference_backend_with_a_native_expire_passes_the_whole_suite() {
    // `MemBackend::new()` uses the trait's default `expire`; this one does it in one step.
    testing::run_all(|| async { MemBackend::native(Bugs::default()) }).await;
}

#[test]
fn guarded_drops_the_backend_before_its_guard() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut backend = MemBackend::new();
    backend._probe = Some(DropProbe(Arc::clone(&log), "backend"));
    let g = Guarded::new(backend, DropProbe(Arc::clone(&log), "guard"));
    assert_eq!(g.guard().1, "guard");
    assert!(g.backend().describe().contains("memory"));
    drop(g);
    assert_eq!(*log.lock().unwrap(), ["backend", "guard"]);
}

#[test]
fn every_check_is_listed_once() {
    let names = testing::check_names();
    let distinct: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(distinct.len(), names.len(), "{names:?}");
    assert!(names.len() >= 20, "{names:?}");
    assert_eq!(names.last(), Some(&"check_close"));
    assert!(names.contains(&"check_concurrent_readers"));
}

// ---------------------------------------------------------------------------------------------
// The suite catches bugs
// ---------------------------------------------------------------------------------------------

/// Runs `check` on a backend with `bugs` in its own task and returns its panic message;
/// fails if the check passes.
async fn caught<F, Fut>(bugs: Bugs, check: F) -> String
where
    F: FnOnce(Arc<MemBackend>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    caught_in(MemBackend::with_bugs(bugs), check).await
}

/// [`caught`] against a given backend.
async fn caught_in<F, Fut>(backend: MemBackend, check: F) -> String
where
    F: FnOnce(Arc<MemBackend>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let what = format!(
        "{:?} (trends given: {})",
        backend.bugs, backend.given_trends
    );
    let res = tokio::spawn(check(Arc::new(backend))).await;
    match res {
        Ok(()) => panic!("the suite did not catch {what}"),
        Err(e) => {
            let p = e.into_panic();
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        }
    }
}

fn bugs(f: impl FnOnce(&mut Bugs)) -> Bugs {
    let mut b = Bugs::default();
    f(&mut b);
    b
}

#[tokio::test]
async fn catches_an_overwrite_that_adds_to_trends() {
    let msg = caught_in(
        MemBackend::native_trends(bugs(|b| b.overwrite_adds = true)),
        |b| async move { testing::check_overwrite(&*b).await },
    )
    .await;
    assert!(
        msg.contains("trend bucket differs") || msg.contains("not 30"),
        "{msg}"
    );
}

#[tokio::test]
async fn catches_overwrite_bug_in_late_write_and_random_checks() {
    let msg = caught_in(
        MemBackend::native_trends(bugs(|b| b.overwrite_adds = true)),
        |b| async move { testing::check_trends_late_and_overwrite(&*b).await },
    )
    .await;
    assert!(msg.contains("replaces its contribution"), "{msg}");
    let msg = caught_in(
        MemBackend::native_trends(bugs(|b| b.overwrite_adds = true)),
        |b| async move { testing::check_random_model(&*b).await },
    )
    .await;
    assert!(msg.contains("trend bucket differs"), "{msg}");
}

#[tokio::test]
async fn catches_a_limit_that_keeps_the_oldest_points() {
    let msg = caught(bugs(|b| b.limit_keeps_oldest = true), |b| async move {
        testing::check_read_range(&*b).await
    })
    .await;
    assert!(msg.contains("limit keeps the newest"), "{msg}");
    let msg = caught(bugs(|b| b.limit_keeps_oldest = true), |b| async move {
        testing::check_paging(&*b).await
    })
    .await;
    assert!(msg.contains("read_range pages"), "{msg}");
}

#[tokio::test]
async fn catches_an_inclusive_before() {
    let msg = caught(bugs(|b| b.before_inclusive = true), |b| async move {
        testing::check_read_last(&*b).await
    })
    .await;
    assert!(msg.contains("exclusive"), "{msg}");
}

#[tokio::test]
async fn catches_torn_writes() {
    let msg = caught(bugs(|b| b.torn_writes = true), |b| async move {
        testing::check_concurrent_readers(b).await
    })
    .await;
    assert!(msg.contains("a read saw part of a write"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catches_torn_writes_on_a_multi_thread_runtime() {
    let msg = caught(bugs(|b| b.torn_writes = true), |b| async move {
        testing::check_concurrent_readers(b).await
    })
    .await;
    assert!(msg.contains("a read saw part of a write"), "{msg}");
}

#[tokio::test]
async fn catches_a_lost_negative_zero() {
    let msg = caught(bugs(|b| b.loses_negative_zero = true), |b| async move {
        testing::check_edge_values(&*b).await
    })
    .await;
    assert!(msg.contains("bits"), "{msg}");
}

#[tokio::test]
async fn catches_calls_that_work_after_close() {
    let msg = caught(bugs(|b| b.close_is_noop = true), |b| async move {
        testing::check_close(&*b).await
    })
    .await;
    assert!(msg.contains("after close must fail"), "{msg}");
}

#[tokio::test]
async fn catches_delete_points_recomputing_trends() {
    let msg = caught(
        bugs(|b| b.delete_points_recomputes_trends = true),
        |b| async move { testing::check_delete_points(&*b).await },
    )
    .await;
    assert!(msg.contains("delete_points must keep trends"), "{msg}");
}

#[tokio::test]
async fn catches_delete_series_leaving_points_behind() {
    let msg = caught(
        bugs(|b| b.delete_series_keeps_points = true),
        |b| async move { testing::check_delete_series(&*b).await },
    )
    .await;
    assert!(msg.contains("re-created series"), "{msg}");
}

#[tokio::test]
async fn catches_an_expiry_cut_that_takes_the_point_on_the_cut() {
    let msg = caught(bugs(|b| b.expire_cut_inclusive = true), |b| async move {
        testing::check_expire(&MemBackend::native(b.bugs)).await
    })
    .await;
    assert!(msg.contains("expire outcomes"), "{msg}");
}

#[tokio::test]
async fn catches_an_expiry_that_fails_on_an_unknown_series() {
    let msg = caught(bugs(|b| b.expire_unknown_fails = true), |b| async move {
        testing::check_expire(&MemBackend::native(b.bugs)).await
    })
    .await;
    assert!(msg.contains("unknown series 999"), "{msg}");
}

#[tokio::test]
async fn catches_an_expiry_that_cuts_unlisted_intervals() {
    let msg = caught(
        bugs(|b| b.expire_cuts_every_interval = true),
        |b| async move { testing::check_expire(&MemBackend::native(b.bugs)).await },
    )
    .await;
    assert!(msg.contains("expire outcomes"), "{msg}");
}

#[tokio::test]
async fn run_all_names_the_failing_check() {
    let msg = caught(Bugs::default(), |_| async move {
        testing::run_all(|| async { MemBackend::with_bugs(bugs(|b| b.before_inclusive = true)) })
            .await
    })
    .await;
    assert!(
        msg.contains("storage conformance check `check_read_last` failed"),
        "{msg}"
    );
}

#[tokio::test]
async fn catches_put_trends_that_merges_instead_of_replacing() {
    let msg = caught(bugs(|b| b.put_trends_merges = true), |b| async move {
        testing::check_put_trends(&*b).await
    })
    .await;
    assert!(msg.contains("equal starts replaced"), "{msg}");
}

#[tokio::test]
async fn catches_native_trends_that_stray_from_the_raw_points() {
    let msg = caught_in(
        MemBackend::native_trends(bugs(|b| b.overwrite_adds = true)),
        |b| async move { testing::check_trends_follow_points(&*b).await },
    )
    .await;
    assert!(msg.contains("trends follow points"), "{msg}");
}

#[tokio::test]
async fn catches_given_trends_when_replaced_values_go_unreported() {
    // The shared maintenance merges a replacing value instead of rebuilding its bucket.
    let msg = caught(bugs(|b| b.reports_no_replaced = true), |b| async move {
        testing::check_trends_follow_points(&*b).await
    })
    .await;
    assert!(msg.contains("trends follow points"), "{msg}");
}

#[tokio::test]
async fn catches_given_trends_stored_by_a_merging_put_trends() {
    // Every maintained bucket is put back whole: merging it into the stored one counts the
    // stored points twice.
    let msg = caught(bugs(|b| b.put_trends_merges = true), |b| async move {
        testing::check_trends_follow_points(&*b).await
    })
    .await;
    assert!(msg.contains("trends follow points"), "{msg}");
}
