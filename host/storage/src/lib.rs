//! Clio's storage domain: what a series, a point and a trend bucket are, and the
//! [`StorageBackend`] trait that every backend (embedded SQLite now, PostgreSQL and InfluxDB
//! later) implements. Nothing here depends on a database, wasmtime or HTTP: this crate is the
//! API boundary between the engine (write-ahead log, cache) and the backends.
//!
//! ```
//! use clio_storage::{SeriesKey, Value};
//! let key: SeriesKey = "cpu,region=eu,host=a usage".parse().unwrap();
//! assert_eq!(key.to_string(), "cpu,host=a,region=eu usage");
//! assert_eq!(Value::from(1.5).as_f64(), Some(1.5));
//! ```
#![deny(missing_docs)]

mod backend;
mod columns;
mod error;
mod key;
pub mod priority;
pub mod sealing;
mod series;
mod trend;
pub mod trend_maint;
mod value;

#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{
    BlockingReads, Capabilities, CatalogStore, Expiry, ExpiryOutcome, Limits, PointStore,
    RetentionStore, SeriesPoints, SeriesStats, StorageBackend, TrendMode, TrendStore, WriteSummary,
    WrittenPoints, expire_each, stats_each, write_reporting_by_reading,
};
pub use trend_maint::{write_points, write_points_shared};

/// The storage traits, for callers of a backend: `use clio_storage::prelude::*;`.
pub mod prelude {
    pub use crate::backend::{
        BlockingReads, CatalogStore, PointStore, RetentionStore, StorageBackend, TrendStore,
    };
}
pub use columns::{KIND_NUM, KIND_STR, PointColumns};
pub use error::{Result, StorageError};
pub use key::{KeyError, SeriesKey};
pub use series::{
    DEFAULT_KEEP_HISTORY_DAYS, DEFAULT_KEEP_TRENDS_DAYS, NewSeries, SeriesFilter, SeriesId,
    SeriesInfo, SeriesSettings, SeriesUpdate,
};
pub use trend::{DEFAULT_TREND_INTERVALS, TrendBucket, TrendInterval, TrendIntervalError};
pub use value::{Point, Value, ValueError, format_number, merge_points, parse_numeric_like};

/// Milliseconds since the Unix epoch (UTC). Every timestamp inside Clio has this unit.
pub type Timestamp = i64;
