//! Raw points of a backend.

use std::sync::Arc;

use async_trait::async_trait;

use super::{SeriesPoints, SeriesStats, WriteSummary};
use crate::{Point, PointColumns, Result, SeriesId, Timestamp};

/// What [`PointStore::write_reporting`] did: the [`WriteSummary`] and, for trend maintenance,
/// which timestamps replaced a stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenPoints {
    /// Counts, as [`PointStore::write`] answers them (`trend_buckets` is 0 for a `Given`
    /// backend, whose buckets are written afterwards).
    pub summary: WriteSummary,
    /// One list per entry of the batch, in batch order: the timestamps of that entry's points
    /// that replaced a value already stored, ascending. `summary.replaced` is their total.
    pub replaced: Vec<Vec<Timestamp>>,
}

/// Raw points: stored, read back by range or by count, deleted, measured.
#[async_trait]
pub trait PointStore: Send + Sync {
    /// Stores points, replacing values at existing timestamps, in one atomic step per call.
    /// A backend whose [`super::TrendStore::trend_mode`] is `Native` also brings the trend
    /// buckets the points touch up to date in the same step; a `Given` backend stores points
    /// only (the engine writes through [`crate::write_points`], which maintains the buckets).
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary>;

    /// [`PointStore::write`] of a batch shared with the caller instead of lent: a backend that
    /// hands the batch to a thread of its own (SQLite's writer) keeps it without copying it.
    /// The engine's flush writes batches of up to 200,000 series this way; copying one took a
    /// runtime worker for milliseconds. The default lends it to [`PointStore::write`].
    async fn write_shared(&self, batch: Arc<Vec<SeriesPoints>>) -> Result<WriteSummary> {
        self.write(&batch).await
    }

    /// [`PointStore::write`], also answering which timestamps replaced a stored value (the
    /// shared trend maintenance rebuilds the buckets holding them). [`crate::write_points`]
    /// calls it for a `Given` backend.
    ///
    /// The default is [`write_reporting_by_reading`]: it reads the stored timestamps in each
    /// entry's span, then writes. That is exact because the engine is a backend's only writer;
    /// a backend that learns it from the write itself (an upsert that says whether the row
    /// existed) overrides this to spare the reads.
    async fn write_reporting(&self, batch: &[SeriesPoints]) -> Result<WrittenPoints> {
        write_reporting_by_reading(self, batch).await
    }

    /// The newest `limit` points of `[from, to)`, in ascending order.
    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>>;

    /// The newest `n` points stamped before `before`, in ascending order.
    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>>;

    /// [`PointStore::read_range`] as columns (the newest `limit` points of `[from, to)`,
    /// ascending). The default converts; a backend that stores columns overrides it so that
    /// a large read (a plugin's window) builds no `Point` per row.
    async fn read_range_columns(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<PointColumns> {
        Ok(PointColumns::from_points(
            self.read_range(series, from, to, limit).await?,
        ))
    }

    /// The `n` newest points stamped before `before` after skipping the `skip` newest, as
    /// columns, ascending. The default reads `n + skip` and drops the newest `skip`; a backend
    /// that knows its chunks' point counts passes over skipped chunks without decoding them
    /// (the plugin SDK's window planning asks for "the point `k` back" often).
    async fn read_last_columns(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Result<PointColumns> {
        let mut cols = self
            .read_range_columns(series, Timestamp::MIN, before, n.saturating_add(skip))
            .await?;
        cols.drop_newest(skip);
        Ok(cols)
    }

    /// Deletes the raw points in `[from, to)` (trends are kept). Returns how many went.
    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64>;

    /// Size and span of one series' raw data.
    async fn stats(&self, series: SeriesId) -> Result<SeriesStats>;

    /// [`PointStore::stats`] of every series in one call (the housekeeper reads them all
    /// before each run). A series without stored points may be missing from the answer or
    /// reported empty. A backend without one query for it uses [`super::stats_each`].
    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>>;
}

/// The default [`PointStore::write_reporting`]: per entry, one [`PointStore::read_range`] over
/// the span of its points finds the timestamps already stored, then one
/// [`PointStore::write`] stores the batch. Exact when nothing else writes the series
/// meanwhile (the engine is a backend's only writer). Public so that a backend overriding
/// `write_reporting` can still fall back on it. Entries of the same series are seen as they
/// were before the batch, so a batch should hold one entry per series
/// ([`crate::write_points`] makes sure of that).
pub async fn write_reporting_by_reading<B: PointStore + ?Sized>(
    backend: &B,
    batch: &[SeriesPoints],
) -> Result<WrittenPoints> {
    let mut replaced: Vec<Vec<Timestamp>> = Vec::with_capacity(batch.len());
    for sp in batch {
        let (Some(first), Some(last)) = (sp.points.first(), sp.points.last()) else {
            replaced.push(Vec::new());
            continue;
        };
        let stored = backend
            .read_range(sp.series, first.ts, last.ts.saturating_add(1), usize::MAX)
            .await?;
        // Both lists ascend: one merge pass.
        let mut hits = Vec::new();
        let mut stored = stored.iter().map(|p| p.ts).peekable();
        for p in &sp.points {
            while stored.next_if(|&ts| ts < p.ts).is_some() {}
            if stored.next_if_eq(&p.ts).is_some() {
                hits.push(p.ts);
            }
        }
        replaced.push(hits);
    }
    let mut summary = backend.write(batch).await?;
    summary.replaced = replaced.iter().map(|r| r.len() as u64).sum();
    Ok(WrittenPoints { summary, replaced })
}
