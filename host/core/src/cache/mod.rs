//! The adaptive in-memory cache: per series, the newest points (flushed or not) and every
//! point not yet flushed to storage.
//!
//! For each series the cache knows a *coverage start*: every point of the series stamped at or
//! after it is in memory, so reads that stay above it never touch storage. Below it the cache
//! holds only unflushed ("dirty") points, which reads overlay on what storage returns. How many
//! flushed points a series keeps is driven by read demand, as in ALEPIZ: never below
//! `init_cached_records`, grown to what readers ask for, decaying when they stop asking; a
//! global memory budget evicts flushed points beyond that.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use clio_storage::{Point, SeriesId, SeriesPoints, Timestamp, TrendBucket, TrendInterval, Value};
use parking_lot::Mutex;

use crate::id_map::{IdMap, page_of};

/// Coverage start meaning "every point of the series is in memory".
pub(crate) const COVER_ALL: Timestamp = Timestamp::MIN;
/// Coverage start meaning "nothing is known to be complete".
pub(crate) const COVER_NONE: Timestamp = Timestamp::MAX;

const SHARDS: usize = 64;
// `apply_points` numbers shards in a byte.
const _: () = assert!(SHARDS <= 256);

mod points;
pub(crate) mod warm;

use points::PointMap;

/// Unflushed points a trend read aggregates per hold of a shard's lock (~0.5 ms).
const DIRTY_TRENDS_STEP: usize = 65_536;

/// Series a pass over the whole cache (the flush's snapshot of unflushed points, its
/// upkeep) handles per hold of a shard's lock. At a million series a shard holds ~16,000:
/// a pass holding the lock over all of them held every read of those series for
/// milliseconds, where a step of this many takes ~0.1 ms.
const PASS_STEP: usize = 1024;

/// Estimated memory of one cached point besides its value's heap (B-tree slot, key, stamp).
const ENTRY_OVERHEAD: usize = 48;

#[derive(Debug, Clone)]
struct Entry {
    value: Value,
    /// Log segment the point was written in; 0 once it is in storage.
    seg: u64,
}

fn entry_mem(v: &Value) -> usize {
    ENTRY_OVERHEAD + v.mem_size()
}

#[derive(Debug)]
struct SeriesCache {
    points: PointMap,
    cover_from: Timestamp,
    dirty: usize,
    /// Flushed points to keep after a flush.
    target: u32,
    /// Largest record count a reader asked for since the last flush.
    demand: u32,
    /// When a reader last asked for the series' newest points, in seconds since the Unix
    /// epoch (0: never): the warm-up after a restart loads the most recently read first
    /// (`warm.rs`). It fills what was padding beside the two counts above.
    read_at: u32,
    /// Bumped whenever flushed points leave memory (trim, eviction, deletion), so a
    /// read-through fill that raced with it does not claim a coverage it lacks.
    epoch: u64,
    mem: usize,
}

/// A record count as the cache keeps it: counts are capped by the read caps, far below.
fn count32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// A million series keep one of these each: the read time must not make it larger.
const _: () = assert!(std::mem::size_of::<SeriesCache>() <= 80);

impl SeriesCache {
    fn new(cover_from: Timestamp, target: usize) -> Self {
        SeriesCache {
            points: PointMap::default(),
            cover_from,
            dirty: 0,
            target: count32(target),
            demand: 0,
            read_at: 0,
            epoch: 0,
            mem: 0,
        }
    }
}

/// A snapshot answering "the newest k points before `at`".
#[derive(Debug)]
pub(crate) struct LastSnapshot {
    /// Newest-first points from memory (at most k).
    pub points: Vec<Point>,
    /// True when `points` is the exact answer (memory covers it).
    pub hit: bool,
    /// The series' epoch, for [`Cache::fill`].
    pub epoch: u64,
    /// Memory holds every point stamped from here on (to `at`); [`COVER_NONE`] when it
    /// covers nothing.
    pub cover_from: Timestamp,
    /// On a miss, true when memory also holds points stamped before `cover_from` (and before
    /// `at`): written into the past and not yet flushed, or kept from an older fill. Only
    /// without them are `points` exactly the points of `[cover_from, at)` and nothing else,
    /// so that storage can answer for what lies before `cover_from` on its own. False on a
    /// hit (not looked up).
    pub uncovered: bool,
}

impl LastSnapshot {
    /// Whether storage's newest points before `at` (none skipped) may fill the cache
    /// ([`Cache::fill`]): they join the covered region without a gap when `at` is at or after
    /// where coverage starts, memory holding every point from there on. Always true for a
    /// read without `at` (`Timestamp::MAX`).
    pub fn storage_answer_fills(&self, at: Timestamp) -> bool {
        at >= self.cover_from
    }

    /// True when memory does not know where its coverage starts (a series not read since
    /// the start, or whose cached points were all evicted).
    pub fn coverage_unknown(&self) -> bool {
        self.cover_from == COVER_NONE
    }
}

/// A snapshot of the cached points of a range.
#[derive(Debug)]
pub(crate) struct RangeSnapshot {
    /// Ascending points in the range.
    pub points: Vec<Point>,
    /// Coverage start at snapshot time.
    pub cover_from: Timestamp,
}

/// Cache sizing.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Flushed points every series keeps at least (`init_cached_records`, 5).
    pub init_cached_records: usize,
    /// Memory budget for flushed points, in bytes. Unflushed points are not evictable and are
    /// bounded by the flush thresholds instead.
    pub memory_budget: usize,
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evicted: AtomicU64,
}

/// The cache.
#[derive(Debug)]
pub(crate) struct Cache {
    /// Series by id; a page of consecutive ids (see [`IdMap`]) lives in one shard, so that a
    /// batch naming series created one after another touches each shard's memory in runs.
    shards: Vec<Mutex<IdMap<SeriesCache>>>,
    opts: CacheOptions,
    mem: AtomicUsize,
    dirty: AtomicUsize,
    /// Points in memory, kept as they come and go: `/health` and `/metrics` read it, and
    /// counting them took a pass over every series (7–19 ms at a million, on a runtime
    /// thread that requests then waited behind).
    points: AtomicUsize,
    pub counters: CacheCounters,
}

/// Point-in-time figures for metrics.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CacheStats {
    /// Series with a cache entry.
    pub series: usize,
    /// Points in memory.
    pub points: usize,
    /// Points not yet flushed.
    pub dirty_points: usize,
    /// Estimated bytes.
    pub bytes: usize,
}

impl Cache {
    pub(crate) fn new(opts: CacheOptions) -> Self {
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(IdMap::default())).collect(),
            opts,
            mem: AtomicUsize::new(0),
            dirty: AtomicUsize::new(0),
            points: AtomicUsize::new(0),
            counters: CacheCounters::default(),
        }
    }

    fn shard(&self, id: SeriesId) -> &Mutex<IdMap<SeriesCache>> {
        &self.shards[self.shard_of(id)]
    }

    /// Unflushed points in memory.
    pub(crate) fn dirty_points(&self) -> usize {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Estimated bytes in memory.
    pub(crate) fn bytes(&self) -> usize {
        self.mem.load(Ordering::Relaxed)
    }

    /// Declares series that have no stored data (just created): memory covers all of them.
    /// A write's new series are mostly consecutive ids: each run of one shard takes its lock
    /// once and gets its room at once.
    pub(crate) fn mark_new(&self, ids: &[SeriesId]) {
        let init = self.opts.init_cached_records;
        for run in ids.chunk_by(|a, b| self.shard_of(*a) == self.shard_of(*b)) {
            let Some(first) = run.first() else { continue };
            let mut shard = self.shard(*first).lock();
            shard.reserve_ids(run.iter().copied());
            for id in run {
                shard.get_or_insert_with(*id, || SeriesCache::new(COVER_ALL, init));
            }
        }
    }

    /// The shard of `id`: that of its page, so that consecutive ids share a shard (and a
    /// lock) 64 at a time, and consecutive pages take the shards in turn.
    fn shard_of(&self, id: SeriesId) -> usize {
        (page_of(id) % SHARDS as u64) as usize
    }

    /// Inserts written points, unflushed, stamped with their log segment.
    ///
    /// A write usually carries one point for each of many series, so taking a shard's lock
    /// per point was most of this function's time at full ingest (issue #25). Series named
    /// one after another are mostly consecutive ids, and so runs of one shard: each run takes
    /// the lock once, in the batch's order. A batch in no such order (more than one shard
    /// change in eight points) is put in shard order first instead (stable, so that a later
    /// point of a series still replaces an earlier one at the same timestamp), then each
    /// shard's lock is taken once.
    pub(crate) fn apply_points(&self, seg: u64, points: &[(SeriesId, Point)]) {
        let mut added = (0isize, 0usize, 0usize);
        if self.in_runs(points) {
            for run in points.chunk_by(|a, b| self.shard_of(a.0) == self.shard_of(b.0)) {
                let Some((id, _)) = run.first() else { continue };
                let mut shard = self.shards[self.shard_of(*id)].lock();
                // New series of a run (mostly one page) get their room at once.
                shard.reserve_ids(run.iter().map(|(id, _)| *id));
                for series in run.chunk_by(|a, b| a.0 == b.0) {
                    self.apply_run(&mut shard, seg, series, &mut added);
                }
            }
        } else {
            let shard_of: Vec<u8> = points
                .iter()
                .map(|(id, _)| self.shard_of(*id) as u8)
                .collect();
            // Counting sort of point indexes by shard.
            let mut start = [0u32; SHARDS + 1];
            for &s in &shard_of {
                start[s as usize + 1] += 1;
            }
            for s in 0..SHARDS {
                start[s + 1] += start[s];
            }
            let mut next = start;
            let mut order = vec![0u32; points.len()];
            for (i, &s) in shard_of.iter().enumerate() {
                order[next[s as usize] as usize] = i as u32;
                next[s as usize] += 1;
            }
            for s in 0..SHARDS {
                let (lo, hi) = (start[s] as usize, start[s + 1] as usize);
                if lo == hi {
                    continue;
                }
                let mut shard = self.shards[s].lock();
                let mine = &order[lo..hi];
                shard.reserve_ids(mine.iter().map(|&i| points[i as usize].0));
                let mut k = 0;
                while k < mine.len() {
                    // Adjacent points of one series stay one run (one map lookup).
                    let first = mine[k] as usize;
                    let mut end = first + 1;
                    k += 1;
                    while k < mine.len()
                        && mine[k] as usize == end
                        && points[end].0 == points[first].0
                    {
                        end += 1;
                        k += 1;
                    }
                    self.apply_run(&mut shard, seg, &points[first..end], &mut added);
                }
            }
        }
        self.add_mem(added.0);
        self.dirty.fetch_add(added.1, Ordering::Relaxed);
        self.points.fetch_add(added.2, Ordering::Relaxed);
    }

    /// Whether [`Cache::apply_points`] applies `points` in their order, a lock per run of one
    /// shard (rather than sorting them by shard first).
    fn in_runs(&self, points: &[(SeriesId, Point)]) -> bool {
        let changes = points
            .windows(2)
            .filter(|w| self.shard_of(w[0].0) != self.shard_of(w[1].0))
            .count();
        points.len() < 2 * SHARDS || changes * 8 <= points.len()
    }

    /// Applies points of one series to its entry in a locked shard; adds the memory, the
    /// unflushed points and the points it added to `added`.
    fn apply_run(
        &self,
        shard: &mut IdMap<SeriesCache>,
        seg: u64,
        run: &[(SeriesId, Point)],
        added: &mut (isize, usize, usize),
    ) {
        let Some((id, _)) = run.first() else {
            return;
        };
        let sc = shard.get_or_insert_with(*id, || {
            SeriesCache::new(COVER_NONE, self.opts.init_cached_records)
        });
        for (_, p) in run {
            let mem = entry_mem(&p.value);
            match sc.points.insert(
                p.ts,
                Entry {
                    value: p.value.clone(),
                    seg,
                },
            ) {
                Some(old) => {
                    let old_mem = entry_mem(&old.value);
                    added.0 += mem as isize - old_mem as isize;
                    sc.mem = sc.mem + mem - old_mem;
                    if old.seg == 0 {
                        sc.dirty += 1;
                        added.1 += 1;
                    }
                }
                None => {
                    added.0 += mem as isize;
                    sc.mem += mem;
                    sc.dirty += 1;
                    added.1 += 1;
                    added.2 += 1;
                }
            }
        }
    }

    fn add_mem(&self, delta: isize) {
        if delta >= 0 {
            self.mem.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.mem.fetch_sub((-delta) as usize, Ordering::Relaxed);
        }
    }

    /// Forgets a series.
    pub(crate) fn remove_series(&self, id: SeriesId) {
        if let Some(sc) = self.shard(id).lock().remove(id) {
            self.mem.fetch_sub(sc.mem, Ordering::Relaxed);
            self.dirty.fetch_sub(sc.dirty, Ordering::Relaxed);
            self.points.fetch_sub(sc.points.len(), Ordering::Relaxed);
        }
    }

    /// Drops the points of `[from, to)`.
    pub(crate) fn remove_range(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> usize {
        if from >= to {
            return 0;
        }
        let mut shard = self.shard(id).lock();
        let Some(sc) = shard.get_mut(id) else {
            return 0;
        };
        let (mut mem, mut dirty) = (0, 0);
        let drained = sc.points.drain(from..to);
        let gone = drained.len();
        for (_, e) in drained {
            mem += entry_mem(&e.value);
            if e.seg != 0 {
                dirty += 1;
            }
        }
        sc.mem -= mem;
        sc.dirty -= dirty;
        sc.epoch += 1;
        drop(shard);
        self.mem.fetch_sub(mem, Ordering::Relaxed);
        self.dirty.fetch_sub(dirty, Ordering::Relaxed);
        self.points.fetch_sub(gone, Ordering::Relaxed);
        dirty
    }

    /// Points in memory of `[from, to)`, flushed or not: an upper bound of what
    /// [`Cache::dirty_trends`] passes over, found without visiting them.
    pub(crate) fn span_len(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> usize {
        if from >= to {
            return 0;
        }
        let shard = self.shard(id).lock();
        shard
            .get(id)
            .map_or(0, |sc| sc.points.range(from..to).len())
    }

    /// Unflushed points of `[from, to)`.
    pub(crate) fn dirty_in_range(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> usize {
        if from >= to {
            return 0;
        }
        let shard = self.shard(id).lock();
        shard.get(id).map_or(0, |sc| {
            sc.points
                .range(from..to)
                .iter()
                .filter(|(_, e)| e.seg != 0)
                .count()
        })
    }

    /// Notes that a reader wants `k` records of this series.
    pub(crate) fn note_demand(&self, id: SeriesId, k: usize) {
        let init = self.opts.init_cached_records;
        let (k, now) = (count32(k), warm::now_secs());
        let mut shard = self.shard(id).lock();
        let sc = shard.get_or_insert_with(id, || SeriesCache::new(COVER_NONE, init));
        sc.demand = sc.demand.max(k);
        sc.target = sc.target.max(k);
        sc.read_at = now;
    }

    /// The newest `k` points stamped before `at`, as far as memory knows them.
    pub(crate) fn last(&self, id: SeriesId, k: usize, at: Timestamp) -> LastSnapshot {
        let shard = self.shard(id).lock();
        let Some(sc) = shard.get(id) else {
            return LastSnapshot {
                points: Vec::new(),
                hit: false,
                epoch: 0,
                cover_from: COVER_NONE,
                uncovered: false,
            };
        };
        let mut points = Vec::with_capacity(k.min(sc.points.len()));
        let mut covered = 0;
        for (ts, e) in sc.points.range(..at).iter().rev().take(k) {
            if *ts >= sc.cover_from {
                covered += 1;
            }
            points.push(Point {
                ts: *ts,
                value: e.value.clone(),
            });
        }
        // Memory answers alone when the k newest are all in the covered part, or when the
        // whole series is in memory.
        let hit = covered == k || (sc.cover_from == COVER_ALL);
        let epoch = sc.epoch;
        let cover_from = sc.cover_from;
        // Only a miss needs it (for splitting a skip with storage): no lookup on a hit.
        let uncovered = !hit && !sc.points.range(..cover_from.min(at)).is_empty();
        drop(shard);
        let counter = if hit {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        LastSnapshot {
            points,
            hit,
            epoch,
            cover_from,
            uncovered,
        }
    }

    /// The newest `newest` cached points of `[from, to)`: a range read answers at most its
    /// result cap of the newest points, and copying all of a range's points first (millions
    /// after a bulk load, before the flush) to keep 5,000 of them took hundreds of
    /// milliseconds under the shard's lock.
    pub(crate) fn range(
        &self,
        id: SeriesId,
        from: Timestamp,
        to: Timestamp,
        newest: usize,
    ) -> RangeSnapshot {
        let shard = self.shard(id).lock();
        let Some(sc) = shard.get(id) else {
            return RangeSnapshot {
                points: Vec::new(),
                cover_from: COVER_NONE,
            };
        };
        let points = if from < to {
            let all = sc.points.range(from..to);
            all[all.len().saturating_sub(newest)..]
                .iter()
                .map(|(ts, e)| Point {
                    ts: *ts,
                    value: e.value.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let snap = RangeSnapshot {
            points,
            cover_from: sc.cover_from,
        };
        drop(shard);
        let counter = if from >= snap.cover_from {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        snap
    }

    /// The trend buckets of the unflushed points of `[from, to)`, aggregated in place: a bulk
    /// load leaves millions of a series' points unflushed until the next flush, and copying
    /// them out first (3.15 M points for a year at 10 s) made a one-year read take ~370 ms.
    pub(crate) fn dirty_trends(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<TrendBucket> {
        self.dirty_trends_in_steps(id, interval, from, to, DIRTY_TRENDS_STEP)
    }

    /// [`Cache::dirty_trends`] holding the shard's lock for at most `step` points at a time,
    /// so that the writes and reads of the shard's other series (the log thread applying
    /// acknowledged writes among them) wait for a step, not for the whole span. Resuming
    /// after the last stamp seen counts no point twice; a point written meanwhile behind the
    /// resume stamp is left out as if written after the read, and a flush of the series
    /// meanwhile is caught by the caller (`InFlight::unmoved`).
    fn dirty_trends_in_steps(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        mut from: Timestamp,
        to: Timestamp,
        step: usize,
    ) -> Vec<TrendBucket> {
        let mut out = Vec::new();
        loop {
            let shard = self.shard(id).lock();
            let Some(sc) = shard.get(id) else {
                return out;
            };
            if sc.dirty == 0 || from >= to {
                return out;
            }
            let span = sc.points.range(from..to);
            let part = &span[..span.len().min(step.max(1))];
            TrendBucket::build_into(
                &mut out,
                interval,
                part.iter()
                    .filter(|(_, e)| e.seg != 0)
                    .map(|(ts, e)| (*ts, &e.value)),
            );
            match part.last() {
                // The last stamp is below `to`, so one past it does not overflow.
                Some((ts, _)) if part.len() < span.len() => from = ts + 1,
                _ => return out,
            }
            // Fair: a thread waiting for the shard gets it before this read takes it again.
            parking_lot::MutexGuard::unlock_fair(shard);
        }
    }

    /// Unflushed points of `[from, to)`, ascending.
    #[cfg(test)]
    pub(crate) fn dirty_range(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> Vec<Point> {
        let shard = self.shard(id).lock();
        let Some(sc) = shard.get(id) else {
            return Vec::new();
        };
        if sc.dirty == 0 || from >= to {
            return Vec::new();
        }
        sc.points
            .range(from..to)
            .iter()
            .filter(|(_, e)| e.seg != 0)
            .map(|(ts, e)| Point {
                ts: *ts,
                value: e.value.clone(),
            })
            .collect()
    }

    /// Read-through: stores the newest points of the whole series that storage returned
    /// (`complete` when storage had no more), unless flushed points left memory since the
    /// snapshot of `epoch`.
    pub(crate) fn fill(&self, id: SeriesId, epoch: u64, stored: &[Point], complete: bool) {
        let mut shard = self.shard(id).lock();
        let Some(sc) = shard.get_mut(id) else { return };
        if sc.epoch != epoch {
            return;
        }
        // A point already in memory is as new as storage's or newer: only absent ones join.
        // Storage answers ascending; an answer out of order is sorted rather than trusted.
        let mut sorted: Vec<&Point> = stored.iter().collect();
        if !sorted.is_sorted_by_key(|p| p.ts) {
            sorted.sort_by_key(|p| p.ts);
        }
        let before = sc.points.len();
        let mem = sc.points.merge_absent(
            sorted.into_iter().map(|p| {
                (
                    p.ts,
                    Entry {
                        value: p.value.clone(),
                        seg: 0,
                    },
                )
            }),
            |e| entry_mem(&e.value),
        );
        let from = if complete {
            COVER_ALL
        } else {
            stored.first().map_or(sc.cover_from, |p| p.ts)
        };
        sc.cover_from = sc.cover_from.min(from);
        sc.mem += mem;
        let joined = sc.points.len() - before;
        drop(shard);
        self.mem.fetch_add(mem, Ordering::Relaxed);
        self.points.fetch_add(joined, Ordering::Relaxed);
    }

    /// Every unflushed point written in log segments `<= seg`, grouped by series.
    pub(crate) fn dirty_snapshot(&self, seg: u64) -> Vec<SeriesPoints> {
        let mut out = Vec::new();
        // A series created after its shard's ids were taken has its points in newer
        // segments (the log was rotated before this pass), so none of them is missed.
        for shard in &self.shards {
            in_steps(shard, |shard, ids| {
                for &id in ids {
                    let Some(sc) = shard.get(id) else { continue };
                    if sc.dirty == 0 {
                        continue;
                    }
                    let points: Vec<Point> = sc
                        .points
                        .iter()
                        .filter(|(_, e)| e.seg != 0 && e.seg <= seg)
                        .map(|(ts, e)| Point {
                            ts: *ts,
                            value: e.value.clone(),
                        })
                        .collect();
                    if !points.is_empty() {
                        out.push(SeriesPoints { series: id, points });
                    }
                }
            });
        }
        out.sort_by_key(|s| s.series);
        out
    }

    /// Marks the points written in segments `<= seg` as flushed, for the given series. A
    /// point rewritten since (in a newer segment) stays unflushed.
    pub(crate) fn mark_clean(&self, seg: u64, batch: &[SeriesPoints]) {
        let mut cleaned = 0;
        for sp in batch {
            let mut shard = self.shard(sp.series).lock();
            let Some(sc) = shard.get_mut(sp.series) else {
                continue;
            };
            for p in &sp.points {
                if let Some(e) = sc.points.get_mut(&p.ts)
                    && e.seg != 0
                    && e.seg <= seg
                {
                    e.seg = 0;
                    sc.dirty -= 1;
                    cleaned += 1;
                }
            }
        }
        self.dirty.fetch_sub(cleaned, Ordering::Relaxed);
    }

    /// Marks every point written in segments `<= seg` as flushed (after replay: a flush mark
    /// in the log says the primary holds them).
    pub(crate) fn mark_clean_upto(&self, seg: u64) {
        let mut cleaned = 0;
        for shard in &self.shards {
            let mut shard = shard.lock();
            for sc in shard.values_mut() {
                if sc.dirty == 0 {
                    continue;
                }
                for e in sc.points.values_mut() {
                    if e.seg != 0 && e.seg <= seg {
                        e.seg = 0;
                        sc.dirty -= 1;
                        cleaned += 1;
                    }
                }
            }
        }
        self.dirty.fetch_sub(cleaned, Ordering::Relaxed);
    }

    /// After a flush: decays each series' target toward recent demand and drops flushed
    /// points beyond it; then evicts further while memory exceeds the budget.
    pub(crate) fn maintain(&self) {
        let init = count32(self.opts.init_cached_records);
        for shard in &self.shards {
            in_steps(shard, |shard, ids| {
                let (mut freed, mut gone) = (0, 0);
                for &id in ids {
                    let Some(sc) = shard.get_mut(id) else {
                        continue;
                    };
                    if sc.demand < sc.target {
                        // Shrink by a tenth of the gap per flush, as ALEPIZ does.
                        let gap = sc.target - sc.demand.max(init);
                        sc.target -= gap.div_ceil(10);
                    }
                    sc.target = sc.target.max(init);
                    sc.demand = 0;
                    let before = sc.points.len();
                    freed += trim(sc, sc.target as usize);
                    gone += before - sc.points.len();
                    if sc.points.is_empty() && sc.cover_from != COVER_ALL {
                        shard.remove(id);
                    }
                }
                self.mem.fetch_sub(freed, Ordering::Relaxed);
                self.points.fetch_sub(gone, Ordering::Relaxed);
            });
        }
        self.evict_to_budget();
    }

    /// Drops flushed points, first down to `init_cached_records` per series, then all of them,
    /// until the estimate is within budget.
    fn evict_to_budget(&self) {
        let init = self.opts.init_cached_records;
        for keep in [init, 0] {
            for shard in &self.shards {
                if self.bytes() <= self.opts.memory_budget {
                    return;
                }
                in_steps(shard, |shard, ids| {
                    let (mut freed, mut evicted) = (0, 0);
                    for &id in ids {
                        let Some(sc) = shard.get_mut(id) else {
                            continue;
                        };
                        let before = sc.points.len();
                        freed += trim(sc, keep);
                        evicted += (before - sc.points.len()) as u64;
                    }
                    self.counters.evicted.fetch_add(evicted, Ordering::Relaxed);
                    self.mem.fetch_sub(freed, Ordering::Relaxed);
                    self.points.fetch_sub(evicted as usize, Ordering::Relaxed);
                });
            }
        }
    }

    /// Figures for metrics, without a pass over the series (`/health` and `/metrics` ask
    /// often): each shard's lock is taken once, for its entry count.
    pub(crate) fn stats(&self) -> CacheStats {
        let mut s = CacheStats {
            points: self.points.load(Ordering::Relaxed),
            ..CacheStats::default()
        };
        for shard in &self.shards {
            s.series += shard.lock().len();
        }
        s.dirty_points = self.dirty_points();
        s.bytes = self.bytes();
        s
    }

    /// The series with a cache entry (for replay clean-up).
    pub(crate) fn series_ids(&self) -> Vec<SeriesId> {
        self.shards
            .iter()
            .flat_map(|s| s.lock().keys().collect::<Vec<_>>())
            .collect()
    }
}

/// Drops flushed points older than the newest `keep` (unflushed points are never dropped) and raises the coverage start past them. Returns the bytes freed.
/// Runs `step` over the series of `shard`, [`PASS_STEP`] ids per hold of its lock, with the
/// shard locked and the ids of that step. A series added after the shard's ids were taken
/// is not among them; one removed meanwhile is absent from the map (callers skip it).
fn in_steps(
    shard: &Mutex<IdMap<SeriesCache>>,
    mut step: impl FnMut(&mut IdMap<SeriesCache>, &[SeriesId]),
) {
    let ids: Vec<SeriesId> = shard.lock().keys().collect();
    for ids in ids.chunks(PASS_STEP) {
        step(&mut shard.lock(), ids);
    }
}

fn trim(sc: &mut SeriesCache, keep: usize) -> usize {
    if sc.points.len() <= keep || sc.points.len() == sc.dirty {
        return 0;
    }
    // The newest `keep` points stay whatever their state, so that they remain a covered
    // answer to last-`keep` reads; older ones go unless they are still unflushed.
    let older = sc.points.len() - keep;
    let mut freed = 0;
    let mut highest = None;
    for (ts, e) in sc.points.iter().take(older) {
        if e.seg == 0 {
            freed += entry_mem(&e.value);
            highest = Some(*ts);
        }
    }
    if highest.is_some() {
        sc.points.retain_indexed(|i, e| i >= older || e.seg != 0);
    }
    if let Some(h) = highest {
        // Everything at or below the dropped point may now be incomplete in memory.
        sc.cover_from = sc.cover_from.max(h.saturating_add(1));
        sc.epoch += 1;
    }
    sc.mem -= freed;
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Cache {
        Cache::new(CacheOptions {
            init_cached_records: 5,
            memory_budget: 1 << 30,
        })
    }

    fn pts(id: u64, range: std::ops::Range<i64>) -> Vec<(SeriesId, Point)> {
        range
            .map(|t| (SeriesId(id), Point::new(t, t as f64)))
            .collect()
    }

    /// A batch applied shard by shard leaves the cache exactly as applying its points one by
    /// one in order does: the later of two points at one timestamp wins, counts agree. Ids
    /// in no order (applied in shard order) and mostly consecutive ids (applied in runs).
    #[test]
    fn a_large_batch_applies_like_its_points_in_order() {
        for ids in [300, 0] {
            large_batch_applies_like_its_points_in_order(ids);
        }
    }

    /// Random ids of `1..=ids`, or with `ids` 0 consecutive ids with a few random ones.
    fn large_batch_applies_like_its_points_in_order(ids: u64) {
        let mut batch = Vec::new();
        let mut x = 7u64;
        for i in 0..5_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = SeriesId(match ids {
                0 if x.is_multiple_of(50) => 1 + (x >> 33) % 300,
                0 => 1 + i / 20,
                n => 1 + (x >> 33) % n,
            });
            // Few timestamps, so that many points replace earlier ones of the same write.
            let ts = ((x >> 13) % 40) as i64;
            batch.push((id, Point::new(ts, i as f64)));
            if i % 7 == 0 {
                // A run of one series.
                batch.push((id, Point::new(ts + 1, i as f64 + 0.5)));
            }
        }
        assert!(batch.len() >= 2 * SHARDS);
        let whole = cache();
        assert_eq!(whole.in_runs(&batch), ids == 0, "the path under test");
        whole.apply_points(3, &batch);
        let one_by_one = cache();
        for p in &batch {
            one_by_one.apply_points(3, std::slice::from_ref(p));
        }
        assert_eq!(whole.dirty_points(), one_by_one.dirty_points());
        assert_eq!(whole.bytes(), one_by_one.bytes());
        for id in 1..=300 {
            let id = SeriesId(id);
            let a = whole
                .range(id, Timestamp::MIN, Timestamp::MAX, usize::MAX)
                .points;
            let b = one_by_one
                .range(id, Timestamp::MIN, Timestamp::MAX, usize::MAX)
                .points;
            assert_eq!(a, b, "series {id}");
        }
    }

    #[test]
    fn new_series_is_fully_covered() {
        let c = cache();
        c.mark_new(&[SeriesId(1)]);
        c.apply_points(1, &pts(1, 0..3));
        let s = c.last(SeriesId(1), 10, i64::MAX);
        assert!(s.hit);
        assert_eq!(s.points.len(), 3);
        assert_eq!(s.points[0].ts, 2, "newest first");
    }

    #[test]
    fn unknown_coverage_misses_until_filled() {
        let c = cache();
        c.apply_points(1, &pts(1, 10..12));
        let s = c.last(SeriesId(1), 5, i64::MAX);
        assert!(!s.hit);
        c.fill(
            SeriesId(1),
            s.epoch,
            &[Point::new(1, 1.0), Point::new(5, 5.0)],
            false,
        );
        let s = c.last(SeriesId(1), 4, i64::MAX);
        assert!(s.hit);
        assert_eq!(
            s.points.iter().map(|p| p.ts).collect::<Vec<_>>(),
            [11, 10, 5, 1]
        );
        assert!(!c.last(SeriesId(1), 5, i64::MAX).hit);
    }

    #[test]
    fn flush_cycle_cleans_and_trims() {
        let c = cache();
        c.mark_new(&[SeriesId(1)]);
        c.apply_points(1, &pts(1, 0..100));
        assert_eq!(c.dirty_points(), 100);
        let snap = c.dirty_snapshot(1);
        assert_eq!(snap[0].points.len(), 100);
        // A rewrite in a newer segment stays dirty through the flush of segment 1.
        c.apply_points(2, &[(SeriesId(1), Point::new(50, -1.0))]);
        c.mark_clean(1, &snap);
        assert_eq!(c.dirty_points(), 1);
        c.maintain();
        let s = c.last(SeriesId(1), 5, i64::MAX);
        assert!(s.hit);
        assert_eq!(s.points[0].ts, 99);
        // The dirty rewrite survives trimming, below the new coverage start.
        assert_eq!(
            c.dirty_range(SeriesId(1), 0, 100),
            vec![Point::new(50, -1.0)]
        );
        let iv = TrendInterval::from_ms(60_000).unwrap();
        assert_eq!(
            c.dirty_trends(SeriesId(1), iv, 0, 100),
            TrendBucket::build(iv, &[Point::new(50, -1.0)])
        );
        assert!(!c.last(SeriesId(1), 6, i64::MAX).hit);
    }

    #[test]
    fn whole_cache_passes_reach_every_series_of_a_crowded_shard() {
        let c = cache();
        // Ids whose pages all fall into one shard: more series there than two steps.
        let page = 64 * SHARDS as u64;
        let ids: Vec<SeriesId> = (1..=40u64)
            .flat_map(|j| (0..64).map(move |b| SeriesId(j * page + b)))
            .collect();
        assert!(ids.len() > 2 * PASS_STEP);
        let shard = c.shard_of(ids[0]);
        assert!(ids.iter().all(|&id| c.shard_of(id) == shard));
        c.mark_new(&ids);
        let points: Vec<(SeriesId, Point)> = ids.iter().flat_map(|id| pts(id.0, 0..8)).collect();
        c.apply_points(1, &points);
        // Known from a read's demand alone, with no point: the upkeep drops it.
        let idle = SeriesId(41 * page);
        c.note_demand(idle, 3);
        assert_eq!(c.stats().series, ids.len() + 1);

        let snap = c.dirty_snapshot(1);
        assert_eq!(
            snap.iter().map(|sp| sp.series).collect::<Vec<_>>(),
            ids,
            "every series, in id order"
        );
        assert!(snap.iter().all(|sp| sp.points.len() == 8));
        c.mark_clean(1, &snap);
        assert_eq!(c.dirty_points(), 0);

        let bytes = c.bytes();
        c.maintain();
        let stats = c.stats();
        assert_eq!(stats.series, ids.len(), "the idle entry is gone, no other");
        assert_eq!(
            stats.points,
            ids.len() * 5,
            "each trimmed to init_cached_records"
        );
        assert!(c.bytes() < bytes);
        for &id in [ids[0], ids[PASS_STEP], ids[ids.len() - 1]].iter() {
            let s = c.last(id, 5, i64::MAX);
            assert!(s.hit);
            assert_eq!(s.points[0].ts, 7);
        }
    }

    #[test]
    fn a_range_copies_its_newest_points_only() {
        let c = cache();
        c.mark_new(&[SeriesId(1)]);
        c.apply_points(1, &pts(1, 0..100));
        let stamps = |newest, from, to| -> Vec<Timestamp> {
            let snap = c.range(SeriesId(1), from, to, newest);
            snap.points.iter().map(|p| p.ts).collect()
        };
        assert_eq!(stamps(3, 0, 100), vec![97, 98, 99]);
        assert_eq!(stamps(3, 10, 20), vec![17, 18, 19]);
        assert_eq!(stamps(50, 10, 20), (10..20).collect::<Vec<_>>());
        assert_eq!(stamps(0, 0, 100), Vec::<Timestamp>::new());
        assert_eq!(stamps(usize::MAX, 0, 100).len(), 100);
        assert_eq!(stamps(5, 20, 10), Vec::<Timestamp>::new());
    }

    /// The in-place aggregation counts exactly the unflushed points of the span, strings
    /// that read as numbers included, as building buckets from a copy of them does.
    #[test]
    fn dirty_trends_aggregate_the_unflushed_points_only() {
        let c = cache();
        let id = SeriesId(1);
        c.mark_new(&[id]);
        let stamp = |t: i64| t * 1000;
        let flushed: Vec<_> = (0..100).map(|t| (id, Point::new(stamp(t), 1e6))).collect();
        c.apply_points(1, &flushed);
        let snap = c.dirty_snapshot(1);
        c.mark_clean(1, &snap);
        let mut dirty: Vec<_> = (100..200)
            .map(|t| (id, Point::new(stamp(t), (t % 7) as f64)))
            .collect();
        dirty.push((id, Point::new(stamp(200), "x")));
        dirty.push((id, Point::new(stamp(201), " 7 ")));
        c.apply_points(2, &dirty);
        let iv = TrendInterval::from_ms(60_000).unwrap();
        let points: Vec<Point> = dirty.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(
            c.dirty_trends(id, iv, Timestamp::MIN, Timestamp::MAX),
            TrendBucket::build(iv, &points)
        );
        let (from, to) = (stamp(120), stamp(180));
        let inside: Vec<Point> = points
            .iter()
            .filter(|p| p.ts >= from && p.ts < to)
            .cloned()
            .collect();
        assert_eq!(
            c.dirty_trends(id, iv, from, to),
            TrendBucket::build(iv, &inside)
        );
        assert!(c.dirty_trends(id, iv, to, from).is_empty());
        for step in [1, 3, 7, 64, 1000] {
            assert_eq!(
                c.dirty_trends_in_steps(id, iv, Timestamp::MIN, Timestamp::MAX, step),
                TrendBucket::build(iv, &points),
                "in steps of {step}"
            );
            assert_eq!(
                c.dirty_trends_in_steps(id, iv, from, to, step),
                TrendBucket::build(iv, &inside),
                "in steps of {step}"
            );
        }
        assert!(c.dirty_trends(SeriesId(2), iv, from, to).is_empty());
    }

    impl Cache {
        /// The points in memory, counted series by series.
        fn recount(&self) -> usize {
            self.shards
                .iter()
                .map(|s| s.lock().values().map(|sc| sc.points.len()).sum::<usize>())
                .sum()
        }
    }

    mod counted {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Apply(Vec<(u64, i64)>),
            Fill(u64, Vec<i64>, bool),
            RemoveRange(u64, i64, i64),
            RemoveSeries(u64),
            Demand(u64, usize),
            Clean,
            Maintain,
        }

        fn op() -> impl Strategy<Value = Op> {
            let id = 1u64..6;
            let ts = 0i64..60;
            prop_oneof![
                4 => proptest::collection::vec((id.clone(), ts.clone()), 1..40).prop_map(Op::Apply),
                2 => (id.clone(), proptest::collection::vec(ts.clone(), 0..20), any::<bool>())
                    .prop_map(|(i, t, c)| Op::Fill(i, t, c)),
                1 => (id.clone(), ts.clone(), ts.clone()).prop_map(|(i, a, b)| Op::RemoveRange(i, a, b)),
                1 => id.clone().prop_map(Op::RemoveSeries),
                1 => (id, 0usize..30).prop_map(|(i, k)| Op::Demand(i, k)),
                1 => Just(Op::Clean),
                2 => Just(Op::Maintain),
            ]
        }

        proptest! {
            /// The points count that `/health` reads agrees with a count of the series'
            /// points after any mix of writes, fills, deletions, trims and evictions.
            #[test]
            fn the_points_count_follows_every_change(ops in proptest::collection::vec(op(), 1..60)) {
                let c = Cache::new(CacheOptions { init_cached_records: 2, memory_budget: 3_000 });
                let mut seg = 1;
                for op in ops {
                    match op {
                        Op::Apply(p) => {
                            let p: Vec<_> = p.into_iter().map(|(i, t)| (SeriesId(i), Point::new(t, t as f64))).collect();
                            c.apply_points(seg, &p);
                        }
                        Op::Fill(i, mut t, complete) => {
                            t.sort_unstable();
                            t.dedup();
                            let stored: Vec<Point> = t.into_iter().map(|t| Point::new(t, 0.5)).collect();
                            let epoch = c.last(SeriesId(i), 1, Timestamp::MAX).epoch;
                            c.fill(SeriesId(i), epoch, &stored, complete);
                        }
                        Op::RemoveRange(i, a, b) => {
                            c.remove_range(SeriesId(i), a, b);
                        }
                        Op::RemoveSeries(i) => c.remove_series(SeriesId(i)),
                        Op::Demand(i, k) => c.note_demand(SeriesId(i), k),
                        Op::Clean => {
                            c.mark_clean_upto(seg);
                            seg += 1;
                        }
                        Op::Maintain => c.maintain(),
                    }
                    prop_assert_eq!(c.stats().points, c.recount());
                }
            }
        }
    }

    #[test]
    fn demand_grows_and_decays_target() {
        let c = cache();
        c.mark_new(&[SeriesId(1)]);
        c.apply_points(1, &pts(1, 0..100));
        c.note_demand(SeriesId(1), 40);
        let snap = c.dirty_snapshot(1);
        c.mark_clean(1, &snap);
        c.maintain();
        assert!(c.last(SeriesId(1), 40, i64::MAX).hit);
        // Without demand, the target decays by a tenth of the gap per flush.
        for _ in 0..30 {
            c.maintain();
        }
        assert!(c.last(SeriesId(1), 5, i64::MAX).hit);
        assert!(!c.last(SeriesId(1), 10, i64::MAX).hit);
    }

    #[test]
    fn fill_after_eviction_is_refused() {
        let c = cache();
        c.apply_points(1, &pts(1, 0..3));
        let s = c.last(SeriesId(1), 5, i64::MAX);
        c.remove_range(SeriesId(1), 0, 1);
        c.fill(SeriesId(1), s.epoch, &[Point::new(-5, 0.0)], true);
        assert!(!c.last(SeriesId(1), 5, i64::MAX).hit);
    }

    #[test]
    fn budget_evicts_flushed_points_only() {
        let c = Cache::new(CacheOptions {
            init_cached_records: 5,
            memory_budget: 0,
        });
        c.mark_new(&[SeriesId(1)]);
        c.apply_points(1, &pts(1, 0..10));
        c.maintain();
        assert_eq!(c.stats().points, 10, "dirty points are never evicted");
        let snap = c.dirty_snapshot(1);
        c.mark_clean(1, &snap);
        c.maintain();
        assert_eq!(c.stats().points, 0);
        assert_eq!(c.bytes(), 0);
    }
}
