//! Reads on the caller's thread, for backends that have them.

use crate::{PointColumns, Result, SeriesId, Timestamp, TrendBucket, TrendInterval};

/// Reads that run on the caller's thread, for a caller that may block (a plugin's host import
/// already runs on a blocking thread). A backend whose reads run on threads of its own
/// answers here without the two thread hand-offs, which cost more than a small read itself.
/// Reached through [`super::StorageBackend::blocking_reads`].
pub trait BlockingReads: Send + Sync {
    /// [`super::PointStore::read_range_columns`] on this thread. `None`: no such path right
    /// now (every inline connection busy); the caller then uses the async method.
    fn read_range_columns_inline(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Option<Result<PointColumns>>;

    /// [`super::PointStore::read_last_columns`] on this thread; `None` as above.
    fn read_last_columns_inline(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Option<Result<PointColumns>> {
        let answer =
            self.read_range_columns_inline(series, Timestamp::MIN, before, n.saturating_add(skip))?;
        Some(answer.map(|mut cols| {
            cols.drop_newest(skip);
            cols
        }))
    }

    /// [`super::TrendStore::read_trends`] on this thread; `None` as above (also the default:
    /// a backend without such a path).
    fn read_trends_inline(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Result<Vec<TrendBucket>>> {
        let _ = (series, interval, from, to);
        None
    }
}
