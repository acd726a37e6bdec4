use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    NewSeries, Point, PointColumns, Result, SeriesFilter, SeriesId, SeriesInfo, SeriesUpdate,
    StorageError, Timestamp, TrendBucket, TrendInterval,
};

/// New points of one series, sorted by strictly ascending timestamp (no duplicates).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    /// The series.
    pub series: SeriesId,
    /// Its points, strictly ascending by `ts`.
    pub points: Vec<Point>,
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSummary {
    /// Points stored (new or replacing).
    pub points: u64,
    /// Of those, points that replaced a stored value at the same timestamp.
    pub replaced: u64,
    /// Trend buckets written (all intervals).
    pub trend_buckets: u64,
}

impl WriteSummary {
    /// Adds another summary to this one.
    pub fn add(&mut self, o: &WriteSummary) {
        self.points += o.points;
        self.replaced += o.replaced;
        self.trend_buckets += o.trend_buckets;
    }
}

/// Size and span of one series' stored raw data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Stored raw points.
    pub points: u64,
    /// Timestamp of the oldest stored point.
    pub first_ts: Option<Timestamp>,
    /// Timestamp of the newest stored point.
    pub last_ts: Option<Timestamp>,
    /// Bytes of stored raw data (encoded chunk sizes, without the database's own overhead).
    pub bytes: u64,
}

/// Retention for one series: what [`StorageBackend::expire`] cuts away. Every cut is
/// "older than": raw points stamped before `raw_before`, and per trend interval the buckets
/// starting before the given time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiry {
    /// The series.
    pub series: SeriesId,
    /// Raw points with `ts < raw_before` go (`[Timestamp::MIN, raw_before)`); `None` keeps
    /// every raw point.
    pub raw_before: Option<Timestamp>,
    /// Per interval, trend buckets with `start < before` go. Intervals the store does not keep
    /// delete nothing; intervals not listed are kept whole.
    pub trends_before: Vec<(TrendInterval, Timestamp)>,
}

impl Expiry {
    /// True when the expiry deletes nothing whatever is stored.
    pub fn is_empty(&self) -> bool {
        self.raw_before.is_none_or(|t| t == Timestamp::MIN)
            && self
                .trends_before
                .iter()
                .all(|&(_, before)| before == Timestamp::MIN)
    }
}

/// What [`StorageBackend::expire`] removed from one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryOutcome {
    /// The series (the same as in the [`Expiry`] at the same position).
    pub series: SeriesId,
    /// Raw points deleted.
    pub points: u64,
    /// Trend buckets deleted, over all intervals.
    pub buckets: u64,
}

impl ExpiryOutcome {
    /// Nothing deleted from `series`.
    pub fn none(series: SeriesId) -> Self {
        ExpiryOutcome {
            series,
            points: 0,
            buckets: 0,
        }
    }
}

/// Optional abilities of a backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Other processes may read the store's files directly (`clio query --db`).
    pub direct_file_reads: bool,
}

/// A storage backend: a durable home for the catalog, raw points and trend buckets.
///
/// Implemented once per backend crate; the engine (write-ahead log and cache) sits in front of
/// it and is the only writer. Every time range is half-open, `[from, to)`, and every returned
/// list of points or buckets is sorted by ascending time.
///
/// Backends must be safe to call concurrently: reads may run in parallel with one another and
/// with writes, and a read never sees a half-applied write of one series.
#[async_trait]
pub trait StorageBackend: fmt::Debug + Send + Sync + 'static {
    /// One-line summary for logs and `/health`, e.g. `sqlite at data/clio.db`.
    fn describe(&self) -> String;

    /// Optional abilities.
    fn capabilities(&self) -> Capabilities;

    /// The trend intervals this store maintains.
    fn trend_intervals(&self) -> &[TrendInterval];

    /// Every catalog entry, for the engine's in-memory index at start-up.
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>>;

    /// Adds series to the catalog. Ids that exist already are left unchanged, so the call is
    /// idempotent; a key that already belongs to another id is an `InvalidInput` error.
    async fn create_series(&self, series: &[NewSeries]) -> Result<()>;

    /// One catalog entry.
    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>>;

    /// Catalog entries passing `filter`, by ascending id.
    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>>;

    /// Changes a series' settings; `NotFound` if it does not exist.
    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo>;

    /// Removes a series with all its points and trends. False if it did not exist.
    async fn delete_series(&self, id: SeriesId) -> Result<bool>;

    /// Stores points, replacing values at existing timestamps, and brings the trend buckets
    /// they touch up to date, in one atomic step per call.
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

    /// [`StorageBackend::read_range`] as columns (the newest `limit` points of `[from, to)`,
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

    /// [`StorageBackend::read_range_columns`] on the caller's thread, for a caller that may
    /// block (a plugin's host import already runs on a blocking thread). A backend whose
    /// reads run on threads of its own answers here without the two thread hand-offs, which
    /// cost more than a small read itself. `None`: no such path right now (the default, or
    /// every inline connection busy); the caller then uses the async method.
    fn read_range_columns_inline(
        &self,
        _series: SeriesId,
        _from: Timestamp,
        _to: Timestamp,
        _limit: usize,
    ) -> Option<Result<PointColumns>> {
        None
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

    /// [`StorageBackend::read_last_columns`] on the caller's thread; `None` as for
    /// [`StorageBackend::read_range_columns_inline`].
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

    /// Trend buckets of one interval whose start lies in `[from, to)`.
    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>>;

    /// Deletes the raw points in `[from, to)` (trends are kept). Returns how many went.
    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64>;

    /// Deletes trend buckets starting in `[from, to)`, of one interval or of all.
    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64>;

    /// Retention for a batch of series: for each [`Expiry`], deletes the raw points stamped
    /// before its `raw_before` (trends are kept, as with [`StorageBackend::delete_points`]) and,
    /// per listed interval, the trend buckets starting before the given time. Returns one
    /// [`ExpiryOutcome`] per entry, in the order of `batch`.
    ///
    /// A series the store does not know is skipped (its outcome counts nothing), not an error
    /// for the batch. Entries apply in order, so a series listed twice is cut twice and the
    /// second outcome counts only what the first one left. An empty batch does nothing.
    ///
    /// Backends should apply the whole batch in one atomic, durable step (the SQLite backend
    /// uses one transaction): retention runs over every series, and a commit per series
    /// dominates its cost. The default implementation calls [`StorageBackend::delete_points`]
    /// and [`StorageBackend::delete_trends`] per series and interval, so it is atomic per call
    /// only; that is safe because expiry is idempotent: after a failure, repeating the batch
    /// finishes it.
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        expire_each(self, batch).await
    }

    /// Size and span of one series' raw data.
    async fn stats(&self, series: SeriesId) -> Result<SeriesStats>;

    /// [`StorageBackend::stats`] of every series in one call (the housekeeper reads them all
    /// before each run). A series without stored points may be missing from the answer or
    /// reported empty. The default asks series by series; backends override it with one
    /// query.
    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        let mut out = Vec::new();
        for s in self.list_series(&SeriesFilter::default()).await? {
            match self.stats(s.id).await {
                Ok(st) => out.push((s.id, st)),
                // Deleted meanwhile.
                Err(StorageError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Ok when the backend can serve requests.
    async fn health(&self) -> Result<()>;

    /// Finishes pending work and releases the store. Later calls fail.
    async fn close(&self) -> Result<()>;
}

/// The default [`StorageBackend::expire`]: one [`StorageBackend::delete_points`] per series
/// and one [`StorageBackend::delete_trends`] per listed interval, skipping series that answer
/// `NotFound`. Public so that a backend overriding `expire` can still fall back on it.
pub async fn expire_each<B: StorageBackend + ?Sized>(
    backend: &B,
    batch: &[Expiry],
) -> Result<Vec<ExpiryOutcome>> {
    let mut out = Vec::with_capacity(batch.len());
    for e in batch {
        let mut outcome = ExpiryOutcome::none(e.series);
        if let Some(before) = e.raw_before {
            match backend
                .delete_points(e.series, Timestamp::MIN, before)
                .await
            {
                Ok(n) => outcome.points = n,
                Err(StorageError::NotFound(_)) => {
                    out.push(outcome);
                    continue;
                }
                Err(err) => return Err(err),
            }
        }
        for &(interval, before) in &e.trends_before {
            match backend
                .delete_trends(e.series, Some(interval), Timestamp::MIN, before)
                .await
            {
                Ok(n) => outcome.buckets += n,
                Err(StorageError::NotFound(_)) => break,
                Err(err) => return Err(err),
            }
        }
        out.push(outcome);
    }
    Ok(out)
}
