use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    Point, PointColumns, Result, SeriesFilter, SeriesId, StorageError, Timestamp, TrendInterval,
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

/// Retention for one series: what [`RetentionStore::expire`] cuts away. Every cut is
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

/// What [`RetentionStore::expire`] removed from one series.
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

/// Optional abilities of a backend, and the documented limits it declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Other processes may read the store's files directly (`clio query --db`).
    pub direct_file_reads: bool,
    /// What the backend cannot store, declared so that the conformance suite checks that each
    /// limit is enforced with a clear error and never loses data silently (the default:
    /// no limits).
    #[serde(default)]
    pub limits: Limits,
}

/// Documented limits of a backend (the declared-capabilities profile of the conformance
/// suite). Each declared limit must be enforced with an `InvalidInput` error that says what
/// was refused and why, and the refused call must change nothing; everything not declared
/// here must work as the traits say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The raw-point timestamps the store can hold, both ends included; `None`: every
    /// [`Timestamp`]. A write with a point outside stores nothing of that call.
    pub timestamps: Option<(Timestamp, Timestamp)>,
    /// A series with a key keeps one value type: a write giving it numbers and strings, or a
    /// type other than the one stored at the same timestamp, is refused. (InfluxDB: a field's
    /// type is fixed per measurement and shard.) Series without a key are not limited.
    pub keyed_single_type: bool,
    /// Deletes act on whole tag sets: deleting points of a keyed series (or the series) while
    /// other fields of the same measurement and tags hold points in that range may be refused
    /// (the InfluxDB backend writes the other fields back, up to a bound, and refuses above
    /// it). Either way the other series keep every point.
    pub deletes_per_tag_set: bool,
}

impl Limits {
    /// True when the store can hold a raw point stamped `ts`.
    pub fn holds_timestamp(&self, ts: Timestamp) -> bool {
        self.timestamps
            .is_none_or(|(lo, hi)| (lo..=hi).contains(&ts))
    }
}

mod blocking;
mod catalog;
mod points;
mod retention;
mod trends;

pub use blocking::BlockingReads;
pub use catalog::CatalogStore;
pub use points::{PointStore, WrittenPoints, write_reporting_by_reading};
pub use retention::RetentionStore;
pub use trends::{TrendMode, TrendStore};

/// A storage backend: a durable home for the catalog, raw points and trend buckets.
///
/// Split by role, so that a backend implements what it has and says what it lacks:
/// [`CatalogStore`] (series), [`PointStore`] (raw points), [`TrendStore`] (trend buckets,
/// maintained natively or stored as given by [`crate::write_points`]), [`RetentionStore`]
/// (batched expiry, with a default built on the others) and, optionally, [`BlockingReads`]
/// (reads on the caller's thread).
///
/// Implemented once per backend crate; the engine (write-ahead log and cache) sits in front of
/// it and is the only writer. Every time range is half-open, `[from, to)`, and every returned
/// list of points or buckets is sorted by ascending time.
///
/// Backends must be safe to call concurrently: reads may run in parallel with one another and
/// with writes, and a read never sees a half-applied write of one series.
///
/// Callers bring the role traits into scope with `use clio_storage::prelude::*`.
#[async_trait]
pub trait StorageBackend:
    CatalogStore + PointStore + TrendStore + RetentionStore + fmt::Debug + Send + Sync + 'static
{
    /// One-line summary for logs and `/health`, e.g. `sqlite at data/clio.db`.
    fn describe(&self) -> String;

    /// Optional abilities.
    fn capabilities(&self) -> Capabilities;

    /// Reads on the caller's thread, when the backend has them (the default: none).
    fn blocking_reads(&self) -> Option<&dyn BlockingReads> {
        None
    }

    /// [`BlockingReads::read_range_columns_inline`] when the backend has blocking reads.
    fn read_range_columns_inline(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Option<Result<PointColumns>> {
        self.blocking_reads()?
            .read_range_columns_inline(series, from, to, limit)
    }

    /// [`BlockingReads::read_last_columns_inline`] when the backend has blocking reads.
    fn read_last_columns_inline(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Option<Result<PointColumns>> {
        self.blocking_reads()?
            .read_last_columns_inline(series, before, n, skip)
    }

    /// Ok when the backend can serve requests.
    async fn health(&self) -> Result<()>;

    /// Writes a consistent copy of everything the backend holds to the file `to` (which must
    /// not exist), without stopping its writers or readers: the copy is the backend as of
    /// one moment during the call. Backends with their own backup tools (a database server)
    /// answer [`StorageError::Unsupported`], the default.
    async fn snapshot(&self, to: &std::path::Path) -> Result<()> {
        let _ = to;
        Err(crate::StorageError::Unsupported {
            backend: "this backend",
            op: "snapshots (use the database server's own backup tools)",
        })
    }

    /// Finishes pending work and releases the store. Later calls fail.
    async fn close(&self) -> Result<()>;
}

/// The default [`RetentionStore::expire`]: one [`PointStore::delete_points`] per series
/// and one [`TrendStore::delete_trends`] per listed interval, skipping series that answer
/// `NotFound`. Public so that a backend overriding `expire` can still fall back on it.
pub async fn expire_each<B: PointStore + TrendStore + ?Sized>(
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

/// [`PointStore::stats_all`] series by series, through the catalog: for backends without one
/// query for it.
pub async fn stats_each<B: StorageBackend + ?Sized>(
    backend: &B,
) -> Result<Vec<(SeriesId, SeriesStats)>> {
    let mut out = Vec::new();
    for s in backend.list_series(&SeriesFilter::default()).await? {
        match backend.stats(s.id).await {
            Ok(st) => out.push((s.id, st)),
            // Deleted meanwhile.
            Err(StorageError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
