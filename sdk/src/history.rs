//! The `History` trait: what a function may read. In a Wasm plugin it is backed by the host's
//! `history` import; in native tests by [`MemHistory`](crate::testing::MemHistory).

use crate::error::Result;
use crate::points::{Points, Timestamp};

/// A series' identity and settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesInfo {
    /// The series id.
    pub id: u64,
    /// Canonical line-protocol key, if the series has one.
    pub key: Option<String>,
    /// Raw-data retention in days.
    pub keep_history_days: u32,
    /// Trend retention in days.
    pub keep_trends_days: u32,
    /// Free-form metadata (unit, description, ...).
    pub metadata: Vec<(String, String)>,
}

/// Trend buckets of one interval as columns, oldest first (one entry per bucket in every
/// column).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trends {
    /// Bucket length in ms.
    pub interval_ms: i64,
    /// Bucket start times.
    pub start: Vec<Timestamp>,
    /// Numeric values per bucket.
    pub count: Vec<u64>,
    /// Sum of the values.
    pub sum: Vec<f64>,
    /// Sum of the squared values.
    pub sum_sq: Vec<f64>,
    /// Smallest value.
    pub min: Vec<f64>,
    /// Largest value.
    pub max: Vec<f64>,
    /// Oldest value.
    pub first: Vec<f64>,
    /// Newest value.
    pub last: Vec<f64>,
}

/// Read access to history at the evaluation time. Points stamped at or after [`now`] are
/// invisible to every read.
///
/// [`now`]: History::now
pub trait History {
    /// The evaluation time (the request's `at`, or the server's clock).
    fn now(&self) -> Timestamp;

    /// The series the function is evaluated on.
    fn series(&self) -> SeriesInfo;

    /// The id of the series the function is evaluated on (cheaper than
    /// [`History::series`] when the id is all that is needed).
    fn series_id(&self) -> u64 {
        self.series().id
    }

    /// Another series' info.
    fn series_by_id(&self, id: u64) -> Option<SeriesInfo>;

    /// A series' info by its canonical line-protocol key (`measurement,tag=v field`; the host
    /// accepts the tags in any order). `None` when no series has that key.
    fn series_by_key(&self, key: &str) -> Option<SeriesInfo>;

    /// The `n` newest points stamped before `before` (capped at `now`), after skipping the
    /// `skip` newest; ascending.
    fn read_last(&self, series: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points>;

    /// Every point of `[from, to)` (`to` capped at `now`), ascending, at most `limit`: the
    /// newest are kept and the answer is marked truncated.
    fn read_range(&self, series: u64, from: Timestamp, to: Timestamp, limit: u64)
    -> Result<Points>;

    /// Trend buckets of one interval whose start lies in `[from, to)`.
    fn read_trends(
        &self,
        series: u64,
        interval_ms: i64,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Trends>;
}
