//! Trend buckets of a backend.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Result, SeriesId, Timestamp, TrendBucket, TrendInterval};

/// Who keeps trend buckets in step with raw points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendMode {
    /// The backend's own `write` maintains them, in the same atomic step as the points (the
    /// SQLite backend). It must give the same buckets as the shared rules in
    /// [`crate::trend_maint`]; the conformance suite checks that.
    Native,
    /// The backend stores the buckets it is given ([`TrendStore::put_trends`]);
    /// [`crate::write_points`] computes them with the shared rules. Points and buckets are then
    /// not one atomic step: between the write of the points and the `put_trends` that follows,
    /// a reader may see the new points with the previous buckets; writing a batch again
    /// repairs buckets a failure left behind.
    Given,
}

/// Trend buckets: aggregates per aligned interval, kept longer than raw points.
#[async_trait]
pub trait TrendStore: Send + Sync {
    /// The trend intervals this store maintains.
    fn trend_intervals(&self) -> &[TrendInterval];

    /// Who maintains the buckets (default: [`TrendMode::Given`]).
    fn trend_mode(&self) -> TrendMode {
        TrendMode::Given
    }

    /// Trend buckets of one interval whose start lies in `[from, to)`.
    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>>;

    /// Deletes trend buckets starting in `[from, to)`, of one interval or of all.
    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64>;

    /// Stores `buckets` (ascending by start, of one interval) as they are, replacing a stored
    /// bucket with the same start and keeping the others. Idempotent. Used by the shared
    /// trend maintenance and to refill a replica with the primary's buckets.
    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()>;
}
