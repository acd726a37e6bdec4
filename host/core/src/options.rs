use std::path::PathBuf;
use std::time::Duration;

use clio_storage::{DEFAULT_TREND_INTERVALS, TrendInterval};

use crate::cache::CacheOptions;
use crate::wal::SyncMode;

/// Engine settings. [`EngineOptions::new`] gives the documented defaults (the seed's where it
/// has one); `clio-config` maps the TOML file onto this.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Directory of the write-ahead log (`<data_dir>/wal`).
    pub data_dir: PathBuf,
    /// When the log is fsynced.
    pub wal_sync: SyncMode,
    /// fsync period for [`SyncMode::Interval`].
    pub wal_sync_interval: Duration,
    /// Size at which a log segment is closed and a new one started.
    pub wal_segment_bytes: u64,
    /// Writers wait while the log not yet flushed to the primary exceeds this (the disk
    /// bound while the primary is down).
    pub max_wal_bytes: u64,
    /// Cache sizing.
    pub cache: CacheOptions,
    /// Whether a graceful stop lists the series readers used and the next start loads their
    /// newest points from storage (`[cache] warm_up`).
    pub warm_up: bool,
    /// Time between cache flushes (`cache_service_interval`, 300 s).
    pub cache_service_interval: Duration,
    /// Flush sooner once the log holds this many bytes.
    pub flush_wal_bytes: u64,
    /// Flush sooner once this many points are unflushed.
    pub flush_dirty_points: usize,
    /// Writers wait (backpressure) while more points than this are unflushed.
    pub max_dirty_points: usize,
    /// How long a writer waits for the flush to catch up before its write fails as overloaded.
    pub overload_timeout: Duration,
    /// Points per backend write call during a flush.
    pub flush_batch_points: usize,
    /// CPU priority of the flush's own thread (`[cache] flush_priority`): on a busy machine
    /// requests come first.
    pub flush_priority: clio_storage::priority::Priority,
    /// Timestamps older than now minus this are replaced by the receive time
    /// (`timestamp_max_time_diff`, 30 days); `None` accepts any past time.
    pub timestamp_max_past: Option<Duration>,
    /// Timestamps later than now plus this are replaced by the receive time (60 s); `None`
    /// accepts any future time.
    pub timestamp_max_future: Option<Duration>,
    /// Most numeric points one read returns (`query_max_result_numbers`, 5000).
    pub query_max_result_numbers: usize,
    /// Most string points one read returns (`query_max_result_strings`, 50).
    pub query_max_result_strings: usize,
    /// Longest accepted string value, in bytes.
    pub max_string_bytes: usize,
    /// Most series one write may create (one line with 100,000 fields would otherwise make
    /// 100,000 series); `None`: no limit.
    pub max_new_series_per_write: Option<usize>,
    /// Most bytes of one series' metadata (names and values together).
    pub max_metadata_bytes: usize,
    /// Trend intervals the backends keep (reads ask for these; known without the primary).
    pub trend_intervals: Vec<TrendInterval>,
    /// Where closed log segments are archived for point-in-time restores (`[backup]
    /// archive_dir`); `None`: no archiving. While set, a segment is deleted only once
    /// archived, and the log carries clock records.
    pub archive_dir: Option<PathBuf>,
    /// A shell command that archives one closed log segment (`[backup] archive_command`,
    /// as PostgreSQL's): `%p` is the segment's path, `%f` its file name, `%%` a `%`. Exit
    /// status 0 means archived. Used instead of `archive_dir`, never with it.
    pub archive_command: Option<ArchiveCommand>,
    /// How long the final flush at [`crate::Store::close`] may run; what it has not
    /// flushed by then stays in the log and is replayed at the next start, so that a stop
    /// ends within a container engine's grace period at any series count. `None`: flush
    /// everything.
    pub close_flush_budget: Option<Duration>,
    /// Data keys (encryption at rest): with a current key every log record is sealed;
    /// the SQLite backend gets the same keys through its own options.
    pub keys: std::sync::Arc<clio_storage::sealing::Keyring>,
    /// Faults injected into the log's file operations (tests only; `None` in production).
    #[doc(hidden)]
    pub wal_faults: Option<std::sync::Arc<crate::wal::WalFaults>>,
}

impl EngineOptions {
    /// Defaults with the log under `data_dir/wal`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineOptions {
            data_dir: data_dir.into(),
            wal_sync: SyncMode::Always,
            wal_sync_interval: Duration::from_millis(100),
            wal_segment_bytes: 64 << 20,
            max_wal_bytes: 8 << 30,
            cache: CacheOptions {
                init_cached_records: 5,
                memory_budget: 1 << 30,
            },
            warm_up: true,
            cache_service_interval: Duration::from_secs(300),
            flush_wal_bytes: 512 << 20,
            flush_dirty_points: 5_000_000,
            max_dirty_points: 20_000_000,
            overload_timeout: Duration::from_secs(30),
            flush_batch_points: 200_000,
            flush_priority: Default::default(),
            timestamp_max_past: Some(Duration::from_millis(2_592_000_000)),
            timestamp_max_future: Some(Duration::from_secs(60)),
            query_max_result_numbers: 5000,
            query_max_result_strings: 50,
            max_string_bytes: 1 << 20,
            max_new_series_per_write: Some(100_000),
            max_metadata_bytes: 64 << 10,
            trend_intervals: DEFAULT_TREND_INTERVALS.to_vec(),
            archive_dir: None,
            archive_command: None,
            close_flush_budget: Some(Duration::from_secs(8)),
            keys: std::sync::Arc::default(),
            wal_faults: None,
        }
    }
}

/// A command that archives closed log segments ([`EngineOptions::archive_command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCommand {
    /// Run with `sh -c` after `%p`, `%f` and `%%` are replaced.
    pub command: String,
    /// A run that takes longer is killed and counts as failed (the segment is tried again).
    pub timeout: Duration,
}
