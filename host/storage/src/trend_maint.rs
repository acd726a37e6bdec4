//! Trend maintenance, written once for every backend: how new points change the buckets of
//! one series and interval. New points merge into the stored buckets they fall in; a bucket in
//! which a stored value was replaced is rebuilt from its raw points, because the old value's
//! contribution cannot be subtracted exactly from min and max. (Raw points deleted by
//! retention are gone from such a rebuild, as they are from any other.)
//!
//! A `Native` backend applies [`update_buckets`] inside its own write transaction (SQLite); a
//! `Given` backend gets the result through [`write_points`], which reads what it needs and
//! stores the buckets with [`crate::TrendStore::put_trends`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::{
    Point, Result, SeriesPoints, StorageBackend, Timestamp, TrendBucket, TrendInterval, TrendMode,
    WriteSummary,
};

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
/// uses. A [`TrendMode::Native`] backend does both in its own `write`; for a
/// [`TrendMode::Given`] one, the points are written, then each touched bucket is merged or
/// rebuilt by the rules above and stored with `put_trends`. Replaced values are found by
/// reading the batch's time span before the write.
pub async fn write_points(
    backend: &dyn StorageBackend,
    batch: &[SeriesPoints],
) -> Result<WriteSummary> {
    if backend.trend_mode() == TrendMode::Native {
        return backend.write(batch).await;
    }
    let mut replaced: Vec<Vec<Timestamp>> = Vec::with_capacity(batch.len());
    for sp in batch {
        let (Some(first), Some(last)) = (sp.points.first(), sp.points.last()) else {
            replaced.push(Vec::new());
            continue;
        };
        let existing: HashSet<Timestamp> = backend
            .read_range(sp.series, first.ts, last.ts.saturating_add(1), usize::MAX)
            .await?
            .into_iter()
            .map(|p| p.ts)
            .collect();
        replaced.push(
            sp.points
                .iter()
                .map(|p| p.ts)
                .filter(|ts| existing.contains(ts))
                .collect(),
        );
    }
    let mut summary = backend.write(batch).await?;
    summary.replaced = replaced.iter().map(|r| r.len() as u64).sum();
    let intervals = backend.trend_intervals().to_vec();
    for (sp, replaced) in batch.iter().zip(&replaced) {
        for &interval in &intervals {
            let rebuild = rebuild_starts(interval, replaced);
            let Some((lo, hi)) = touched(interval, &sp.points, &rebuild) else {
                continue;
            };
            let mut stored: BTreeMap<Timestamp, TrendBucket> = backend
                .read_trends(sp.series, interval, lo, hi.saturating_add(1))
                .await?
                .into_iter()
                .map(|b| (b.start, b))
                .collect();
            let mut raw = BTreeMap::new();
            for &start in &rebuild {
                let end = start.saturating_add(interval.ms());
                raw.insert(
                    start,
                    backend
                        .read_range(sp.series, start, end, usize::MAX)
                        .await?,
                );
            }
            let before: BTreeSet<Timestamp> = stored.keys().copied().collect();
            summary.trend_buckets +=
                update_buckets(interval, &mut stored, &sp.points, &rebuild, |start| {
                    Ok(raw.remove(&start).unwrap_or_default())
                })?;
            // A rebuilt bucket whose raw points are all gone disappears.
            for start in before.iter().filter(|s| !stored.contains_key(s)) {
                backend
                    .delete_trends(sp.series, Some(interval), *start, start.saturating_add(1))
                    .await?;
            }
            let buckets: Vec<TrendBucket> = stored.into_values().collect();
            backend.put_trends(sp.series, interval, &buckets).await?;
        }
    }
    Ok(summary)
}
