//! Trend maintenance, written once for every backend: how new points change the buckets of
//! one series and interval. New points merge into the stored buckets they fall in; a bucket in
//! which a stored value was replaced is rebuilt from its raw points, because the old value's
//! contribution cannot be subtracted exactly from min and max. (Raw points deleted by
//! retention are gone from such a rebuild, as they are from any other.)
//!
//! A `Native` backend applies [`update_buckets`] inside its own write transaction (SQLite); a
//! `Given` backend gets the result through [`write_points`], which learns the replaced values
//! from [`crate::PointStore::write_reporting`], reads the touched buckets and the raw points
//! of the rebuilt ones, and stores the buckets with [`crate::TrendStore::put_trends`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::{
    Point, Result, SeriesId, SeriesPoints, StorageBackend, StorageError, Timestamp, TrendBucket,
    TrendInterval, TrendMode, WriteSummary, WrittenPoints,
};

/// Touched buckets further apart than this many intervals are read in separate calls, so that
/// a late point far behind the others does not read every bucket in between.
const READ_GAP_BUCKETS: i64 = 64;

/// The bucket starts that must be rebuilt from raw points: those holding a replaced value.
pub fn rebuild_starts(interval: TrendInterval, replaced: &[Timestamp]) -> BTreeSet<Timestamp> {
    replaced
        .iter()
        .map(|&ts| interval.bucket_start(ts))
        .collect()
}

/// The first and last bucket start touched by `new` points and by rebuilds; `None` when
/// nothing is touched.
pub fn touched(
    interval: TrendInterval,
    new: &[Point],
    rebuild: &BTreeSet<Timestamp>,
) -> Option<(Timestamp, Timestamp)> {
    let starts = new
        .first()
        .map(|p| interval.bucket_start(p.ts))
        .into_iter()
        .chain(new.last().map(|p| interval.bucket_start(p.ts)))
        .chain(rebuild.first().copied())
        .chain(rebuild.last().copied());
    let (mut lo, mut hi) = (None::<Timestamp>, None::<Timestamp>);
    for s in starts {
        lo = Some(lo.map_or(s, |l| l.min(s)));
        hi = Some(hi.map_or(s, |h| h.max(s)));
    }
    Some((lo?, hi?))
}

/// Brings `stored` (the buckets of one series and interval, by start, covering at least the
/// touched range) up to date with `new` points (ascending), given the buckets to rebuild and
/// the raw points of each of them (`raw_of(start)`, read after the new points were stored).
/// Returns how many buckets were written.
pub fn update_buckets(
    interval: TrendInterval,
    stored: &mut BTreeMap<Timestamp, TrendBucket>,
    new: &[Point],
    rebuild: &BTreeSet<Timestamp>,
    mut raw_of: impl FnMut(Timestamp) -> Result<Vec<Point>>,
) -> Result<u64> {
    let mut written = 0u64;
    for b in TrendBucket::build(interval, new) {
        if rebuild.contains(&b.start) {
            continue;
        }
        written += 1;
        match stored.get_mut(&b.start) {
            Some(s) => s.merge(&b),
            None => {
                stored.insert(b.start, b);
            }
        }
    }
    for &start in rebuild {
        written += 1;
        match TrendBucket::build(interval, &raw_of(start)?)
            .into_iter()
            .next()
        {
            Some(b) => {
                stored.insert(start, b);
            }
            None => {
                stored.remove(&start);
            }
        }
    }
    Ok(written)
}

/// Writes points through a backend, with their trend buckets: the one entry point the engine
/// uses to write points.
///
/// - [`TrendMode::Native`]: `backend.write(batch)`, which maintains the buckets itself in the
///   same atomic step.
/// - [`TrendMode::Given`]: entries of the same series are first joined into one (later points
///   win, as if written in order; the summary then counts the joined points), the points are
///   written with [`crate::PointStore::write_reporting`], then, per series and interval, the
///   touched buckets are read, merged or rebuilt by [`update_buckets`], stored with
///   [`crate::TrendStore::put_trends`], and a rebuilt bucket left without a numeric value is
///   deleted.
///
/// A `Given` write is not atomic across points and buckets. If it fails after the points were
/// stored, the buckets may lag; writing the same batch again (the engine retries a failed
/// flush, a replica re-applies the log) repairs them: every point then replaces a stored value,
/// so every bucket it touches is rebuilt from the raw points.
pub async fn write_points(
    backend: &dyn StorageBackend,
    batch: &[SeriesPoints],
) -> Result<WriteSummary> {
    if backend.trend_mode() == TrendMode::Native {
        return backend.write(batch).await;
    }
    let joined = one_entry_per_series(batch);
    let batch = joined.as_deref().unwrap_or(batch);
    let WrittenPoints {
        mut summary,
        replaced,
    } = backend.write_reporting(batch).await?;
    if replaced.len() != batch.len() {
        return Err(StorageError::Other(format!(
            "{}: write_reporting answered {} lists of replaced points for {} entries",
            backend.describe(),
            replaced.len(),
            batch.len()
        )));
    }
    let intervals = backend.trend_intervals().to_vec();
    for (sp, replaced) in batch.iter().zip(&replaced) {
        for &interval in &intervals {
            summary.trend_buckets +=
                maintain(backend, sp.series, interval, &sp.points, replaced).await?;
        }
    }
    Ok(summary)
}

/// [`write_points`] of a batch shared with the caller: a `Native` backend gets it through
/// [`crate::PointStore::write_shared`], without a copy; a `Given` one as [`write_points`] does.
pub async fn write_points_shared(
    backend: &dyn StorageBackend,
    batch: Arc<Vec<SeriesPoints>>,
) -> Result<WriteSummary> {
    if backend.trend_mode() == TrendMode::Native {
        return backend.write_shared(batch).await;
    }
    write_points(backend, &batch).await
}

/// The buckets of one series and interval after `new` points (stored already, `replaced`
/// among them), through the backend's reads and `put_trends`. Returns buckets written.
async fn maintain(
    backend: &dyn StorageBackend,
    series: SeriesId,
    interval: TrendInterval,
    new: &[Point],
    replaced: &[Timestamp],
) -> Result<u64> {
    let rebuild = rebuild_starts(interval, replaced);
    let touched: BTreeSet<Timestamp> = TrendBucket::build(interval, new)
        .iter()
        .map(|b| b.start)
        .chain(rebuild.iter().copied())
        .collect();
    if touched.is_empty() {
        return Ok(0);
    }
    let mut stored = BTreeMap::new();
    for (lo, hi) in runs(interval, &touched) {
        let end = hi.saturating_add(1);
        for b in backend.read_trends(series, interval, lo, end).await? {
            if touched.contains(&b.start) {
                stored.insert(b.start, b);
            }
        }
    }
    let mut raw: BTreeMap<Timestamp, Vec<Point>> = BTreeMap::new();
    for (lo, hi) in runs(interval, &rebuild) {
        let end = hi.saturating_add(interval.ms());
        for p in backend.read_range(series, lo, end, usize::MAX).await? {
            raw.entry(interval.bucket_start(p.ts)).or_default().push(p);
        }
    }
    let before: Vec<Timestamp> = stored.keys().copied().collect();
    let written = update_buckets(interval, &mut stored, new, &rebuild, |start| {
        Ok(raw.remove(&start).unwrap_or_default())
    })?;
    let buckets: Vec<TrendBucket> = stored.into_values().collect();
    backend.put_trends(series, interval, &buckets).await?;
    // A rebuilt bucket left without a numeric value goes.
    for start in before {
        if buckets.binary_search_by_key(&start, |b| b.start).is_err() {
            backend
                .delete_trends(series, Some(interval), start, start.saturating_add(1))
                .await?;
        }
    }
    Ok(written)
}

/// Bucket starts (ascending) grouped into `(first, last)` runs without a gap wider than
/// [`READ_GAP_BUCKETS`] intervals.
fn runs(interval: TrendInterval, starts: &BTreeSet<Timestamp>) -> Vec<(Timestamp, Timestamp)> {
    let gap = interval.ms().saturating_mul(READ_GAP_BUCKETS);
    let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
    for &s in starts {
        match out.last_mut() {
            Some((_, hi)) if s.saturating_sub(*hi) <= gap => *hi = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// `None` when every series appears once in `batch`; otherwise the batch with each series'
/// entries joined into one (in first-appearance order; a later point wins at an equal
/// timestamp, as writing the entries in order would leave it).
fn one_entry_per_series(batch: &[SeriesPoints]) -> Option<Vec<SeriesPoints>> {
    let mut seen = HashSet::with_capacity(batch.len());
    if batch.iter().all(|sp| seen.insert(sp.series)) {
        return None;
    }
    let mut order: Vec<SeriesId> = Vec::new();
    let mut points: HashMap<SeriesId, BTreeMap<Timestamp, Point>> = HashMap::new();
    for sp in batch {
        let m = points.entry(sp.series).or_insert_with(|| {
            order.push(sp.series);
            BTreeMap::new()
        });
        for p in &sp.points {
            m.insert(p.ts, p.clone());
        }
    }
    Some(
        order
            .into_iter()
            .map(|series| SeriesPoints {
                series,
                points: points
                    .remove(&series)
                    .map(|m| m.into_values().collect())
                    .unwrap_or_default(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv() -> TrendInterval {
        TrendInterval::from_ms(10_000).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pts(v: &[(Timestamp, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, x)| Point::new(t, x)).collect()
    }

    /// Raw points after writing `new` over `old` (new values win).
    fn union(old: &[Point], new: &[Point]) -> Vec<Point> {
        let mut m: BTreeMap<Timestamp, Point> = old.iter().map(|p| (p.ts, p.clone())).collect();
        for p in new {
            m.insert(p.ts, p.clone());
        }
        m.into_values().collect()
    }

    fn apply(old: &[Point], new: &[Point]) -> (Vec<TrendBucket>, u64) {
        let i = iv();
        let mut stored: BTreeMap<Timestamp, TrendBucket> = TrendBucket::build(i, old)
            .into_iter()
            .map(|b| (b.start, b))
            .collect();
        let replaced: Vec<Timestamp> = new
            .iter()
            .map(|p| p.ts)
            .filter(|ts| old.iter().any(|o| o.ts == *ts))
            .collect();
        let rebuild = rebuild_starts(i, &replaced);
        let all = union(old, new);
        let n = update_buckets(i, &mut stored, new, &rebuild, |start| {
            Ok(all
                .iter()
                .filter(|p| i.bucket_start(p.ts) == start)
                .cloned()
                .collect())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        (stored.into_values().collect(), n)
    }

    #[test]
    fn new_points_merge_and_replaced_values_rebuild() {
        let old = pts(&[(1_000, 1.0), (5_000, 9.0), (12_000, 4.0), (25_000, 2.0)]);
        // 5_000 replaces the max of bucket 0; 15_000 is new in bucket 10_000; 31_000 opens a
        // bucket; 3_000 is late in bucket 0.
        let new = pts(&[(3_000, 3.0), (5_000, 0.5), (15_000, 8.0), (31_000, 7.0)]);
        let (got, written) = apply(&old, &new);
        assert_eq!(got, TrendBucket::build(iv(), &union(&old, &new)));
        assert_eq!(written, 3, "buckets 0 (rebuilt), 10_000 and 30_000");
    }

    #[test]
    fn a_rebuilt_bucket_without_numbers_goes() {
        let old = pts(&[(1_000, 1.0), (12_000, 4.0)]);
        let new = vec![Point::new(1_000, "text")];
        let (got, _) = apply(&old, &new);
        assert_eq!(got, TrendBucket::build(iv(), &union(&old, &new)));
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn runs_split_on_wide_gaps() {
        let i = iv();
        let ms = i.ms();
        let starts: BTreeSet<Timestamp> = [0, ms, 3 * ms, 200 * ms, 201 * ms].into();
        assert_eq!(runs(i, &starts), vec![(0, 3 * ms), (200 * ms, 201 * ms)]);
        assert!(runs(i, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn entries_of_one_series_are_joined_in_order() {
        let a = |series: u64, v: &[(Timestamp, f64)]| SeriesPoints {
            series: SeriesId(series),
            points: pts(v),
        };
        assert_eq!(
            one_entry_per_series(&[a(1, &[(1, 1.0)]), a(2, &[(1, 1.0)])]),
            None
        );
        let joined = one_entry_per_series(&[
            a(2, &[(5, 1.0), (9, 1.0)]),
            a(1, &[(1, 1.0)]),
            a(2, &[(3, 2.0), (5, 2.0)]),
        ]);
        assert_eq!(
            joined,
            Some(vec![
                a(2, &[(3, 2.0), (5, 2.0), (9, 1.0)]),
                a(1, &[(1, 1.0)])
            ])
        );
    }
}
