//! Raw points of a backend.

use async_trait::async_trait;

use super::{SeriesPoints, SeriesStats, WriteSummary};
use crate::{Point, PointColumns, Result, SeriesId, Timestamp};

/// Raw points: stored, read back by range or by count, deleted, measured.
#[async_trait]
pub trait PointStore: Send + Sync {
    /// Stores points, replacing values at existing timestamps, in one atomic step per call.
    /// A backend whose [`super::TrendStore::trend_mode`] is `Native` also brings the trend
    /// buckets the points touch up to date in the same step; a `Given` backend stores points
    /// only (the engine writes through [`crate::write_points`], which maintains the buckets).
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary>;

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
