//! The engine's own sections: `[wal]`, `[cache]`, `[query]`, `[ingest]`, and the
//! [`EngineOptions`] they make.

use std::time::Duration;

use clio_core::{EngineOptions, SyncMode};
use serde::Deserialize;

use crate::Config;

/// `[wal]`: the write-ahead log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalConfig {
    /// `always` (fsync before every acknowledgement, with group commit), `interval`, `off`.
    #[serde(default)]
    pub sync: SyncMode,
    /// fsync period for `sync = "interval"`, ms.
    #[serde(default = "default_sync_interval")]
    pub sync_interval: u64,
    /// Size at which a log segment is closed and a new one started, MiB.
    #[serde(default = "default_segment_mb")]
    pub segment_size_mb: u64,
    /// Most log not yet flushed to the primary, MiB: while the primary is down, writers are
    /// acknowledged into the log up to this size, then wait (and fail as overloaded after
    /// 30 s). Log kept only for lagging replicas is bounded by `storage.replica_max_log_mb`.
    #[serde(default = "default_wal_max_mb")]
    pub max_size_mb: u64,
}

const fn default_wal_max_mb() -> u64 {
    8192
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            sync: SyncMode::Always,
            sync_interval: default_sync_interval(),
            segment_size_mb: default_segment_mb(),
            max_size_mb: default_wal_max_mb(),
        }
    }
}

const fn default_sync_interval() -> u64 {
    100
}
const fn default_segment_mb() -> u64 {
    64
}

/// `[cache]`: the adaptive cache and its flush service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Records each series keeps in memory at least (`initCachedRecords`, 5).
    #[serde(default = "default_init_cached_records")]
    pub init_cached_records: usize,
    /// Memory budget for flushed points in the cache, MiB.
    #[serde(default = "default_memory_budget_mb")]
    pub memory_budget_mb: usize,
    /// Seconds between flushes to storage (`cacheServiceInterval`, 300).
    #[serde(default = "default_cache_service_interval")]
    pub cache_service_interval: u64,
    /// Flush sooner once the write-ahead log holds this many MiB.
    #[serde(default = "default_flush_wal_mb")]
    pub flush_wal_mb: u64,
    /// Flush sooner once this many points are unflushed.
    #[serde(default = "default_flush_unflushed_points")]
    pub flush_unflushed_points: usize,
    /// Writers wait while more points than this are unflushed (backpressure).
    #[serde(default = "default_max_unflushed_points")]
    pub max_unflushed_points: usize,
    /// Seconds the final flush at a graceful stop may take; the rest stays in the log for
    /// the next start. 0: flush everything, however long it takes.
    #[serde(default = "default_close_flush_seconds")]
    pub close_flush_seconds: u64,
    /// CPU priority of the flush's own threads: its passes over the cache and the SQLite
    /// writer (`normal`, `low`, `idle`).
    #[serde(default)]
    pub flush_priority: clio_storage::priority::Priority,
    /// A graceful stop (and a flush, at most once a minute) lists the series readers used;
    /// the next start loads their newest points from storage before they are asked for (ALEPIZ's cache dump, `unsavedData.json`).
    #[serde(default = "default_warm_up")]
    pub warm_up: bool,
    /// Seconds the start waits for that warm-up before it opens the listeners; what is left
    /// then loads while the server serves. 0: serve at once.
    #[serde(default = "default_warm_up_wait_seconds")]
    pub warm_up_wait_seconds: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            init_cached_records: default_init_cached_records(),
            memory_budget_mb: default_memory_budget_mb(),
            cache_service_interval: default_cache_service_interval(),
            flush_wal_mb: default_flush_wal_mb(),
            flush_unflushed_points: default_flush_unflushed_points(),
            max_unflushed_points: default_max_unflushed_points(),
            close_flush_seconds: default_close_flush_seconds(),
            flush_priority: Default::default(),
            warm_up: default_warm_up(),
            warm_up_wait_seconds: default_warm_up_wait_seconds(),
        }
    }
}

const fn default_warm_up() -> bool {
    true
}
const fn default_warm_up_wait_seconds() -> u64 {
    5
}

const fn default_close_flush_seconds() -> u64 {
    8
}
const fn default_init_cached_records() -> usize {
    5
}
const fn default_memory_budget_mb() -> usize {
    1024
}
const fn default_cache_service_interval() -> u64 {
    300
}
const fn default_flush_wal_mb() -> u64 {
    512
}
const fn default_flush_unflushed_points() -> usize {
    5_000_000
}
const fn default_max_unflushed_points() -> usize {
    20_000_000
}

/// `[query]`: result caps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// Most numeric points one read returns (`queryMaxResultNumbers`, 5000).
    #[serde(default = "default_max_numbers")]
    pub query_max_result_numbers: usize,
    /// Most string points one read returns (`queryMaxResultStrings`, 50).
    #[serde(default = "default_max_strings")]
    pub query_max_result_strings: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            query_max_result_numbers: default_max_numbers(),
            query_max_result_strings: default_max_strings(),
        }
    }
}

const fn default_max_numbers() -> usize {
    5000
}
const fn default_max_strings() -> usize {
    50
}

/// `[ingest]`: write validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// A timestamp older than now minus this many ms is replaced by the receive time
    /// (`timestampMaxTimeDiff`, 2592000000 = 30 days); 0 accepts any past time.
    #[serde(default = "default_max_past")]
    pub timestamp_max_time_diff: u64,
    /// The same for line-protocol writes (`/write`, `/api/v2/write`, TCP `write_lp`); 0, the
    /// default, keeps any past time as InfluxDB does.
    #[serde(default)]
    pub line_protocol_timestamp_max_time_diff: u64,
    /// A timestamp later than now plus this many ms is replaced by the receive time (60000);
    /// 0 accepts any future time.
    #[serde(default = "default_max_future")]
    pub timestamp_max_future: u64,
    /// Longest accepted string value, bytes.
    #[serde(default = "default_max_string_bytes")]
    pub max_string_bytes: usize,
    /// Most series one write may create; a write that would create more is refused whole.
    /// 0: no limit.
    #[serde(default = "default_max_new_series")]
    pub max_new_series_per_write: usize,
    /// Most bytes of one series' metadata (names and values together).
    #[serde(default = "default_max_metadata_bytes")]
    pub max_metadata_bytes: usize,
}

const fn default_max_new_series() -> usize {
    100_000
}
const fn default_max_metadata_bytes() -> usize {
    64 << 10
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            timestamp_max_time_diff: default_max_past(),
            line_protocol_timestamp_max_time_diff: 0,
            timestamp_max_future: default_max_future(),
            max_string_bytes: default_max_string_bytes(),
            max_new_series_per_write: default_max_new_series(),
            max_metadata_bytes: default_max_metadata_bytes(),
        }
    }
}

const fn default_max_past() -> u64 {
    2_592_000_000
}
const fn default_max_future() -> u64 {
    60_000
}
const fn default_max_string_bytes() -> usize {
    1 << 20
}

impl Config {
    /// Limits on client timestamps of line-protocol writes.
    pub fn line_protocol_time_limits(&self) -> clio_core::TimeLimits {
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        clio_core::TimeLimits {
            max_past: ms(self.ingest.line_protocol_timestamp_max_time_diff),
            max_future: ms(self.ingest.timestamp_max_future),
        }
    }

    /// The engine settings this configuration describes.
    pub fn engine_options(&self) -> EngineOptions {
        let mut o = EngineOptions::new(&self.data_dir);
        o.trend_intervals = self.storage.trend_intervals.clone();
        o.wal_sync = self.wal.sync;
        o.wal_sync_interval = Duration::from_millis(self.wal.sync_interval);
        // Sizes in MiB to bytes saturate: a shift would drop the high bits, and a huge limit
        // (meant as "unlimited") would wrap to 0 and refuse every write.
        o.wal_segment_bytes = self.wal.segment_size_mb.saturating_mul(1 << 20);
        o.max_wal_bytes = self.wal.max_size_mb.saturating_mul(1 << 20);
        o.cache.init_cached_records = self.cache.init_cached_records;
        o.cache.memory_budget = self.cache.memory_budget_mb.saturating_mul(1 << 20);
        o.cache_service_interval = Duration::from_secs(self.cache.cache_service_interval);
        o.close_flush_budget = (self.cache.close_flush_seconds > 0)
            .then(|| Duration::from_secs(self.cache.close_flush_seconds));
        o.flush_wal_bytes = self.cache.flush_wal_mb.saturating_mul(1 << 20);
        o.flush_dirty_points = self.cache.flush_unflushed_points;
        o.flush_priority = self.cache.flush_priority;
        o.warm_up = self.cache.warm_up;
        o.max_dirty_points = self.cache.max_unflushed_points;
        o.query_max_result_numbers = self.query.query_max_result_numbers;
        o.query_max_result_strings = self.query.query_max_result_strings;
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        o.timestamp_max_past = ms(self.ingest.timestamp_max_time_diff);
        o.timestamp_max_future = ms(self.ingest.timestamp_max_future);
        o.max_string_bytes = self.ingest.max_string_bytes;
        o.max_new_series_per_write = (self.ingest.max_new_series_per_write > 0)
            .then_some(self.ingest.max_new_series_per_write);
        o.max_metadata_bytes = self.ingest.max_metadata_bytes;
        o.archive_dir = self.backup.archive_dir.clone();
        o.archive_command =
            self.backup
                .archive_command
                .clone()
                .map(|command| clio_core::ArchiveCommand {
                    command,
                    timeout: Duration::from_secs(self.backup.archive_command_timeout),
                });
        o
    }
}
