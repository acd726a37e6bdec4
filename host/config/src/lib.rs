//! Clio's configuration file: a TOML document whose every key is documented in
//! `config/default.toml`. Unknown keys are errors. Defaults are the ALEPIZ seed's where it has
//! one. Loading parses and validates without side effects; building from it is the caller's.
//!
//! ```
//! let cfg = clio_config::Config::from_toml("data_dir = \"/tmp/clio\"").unwrap();
//! assert_eq!(cfg.cache.init_cached_records, 5);
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use clio_core::{EngineOptions, SyncMode};
use clio_storage::{DEFAULT_TREND_INTERVALS, TrendInterval};
use serde::Deserialize;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys or wrong types.
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    /// Values that parse but cannot work together; every problem is listed.
    #[error("invalid config: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The root of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the database file(s) and the write-ahead log. Relative paths are relative
    /// to the working directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Storage backend.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Write-ahead log.
    #[serde(default)]
    pub wal: WalConfig,
    /// In-memory cache and its flush service.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Limits of point-returning queries.
    #[serde(default)]
    pub query: QueryConfig,
    /// Write validation.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Network front ends.
    #[serde(default)]
    pub server: ServerConfig,
    /// WebAssembly plugins (history functions).
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// Retention and zombie removal.
    #[serde(default)]
    pub housekeeper: HousekeeperConfig,
}

/// `[housekeeper]`: retention runs (ALEPIZ's housekeeper settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeeperConfig {
    /// Run the housekeeper at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// ms between runs (ALEPIZ housekeeperInterval).
    #[serde(default = "default_hk_interval")]
    pub housekeeper_interval: u64,
    /// Series handled per batch (ALEPIZ maxNumberObjectsToDeleteAtTime).
    #[serde(default = "default_hk_batch")]
    pub max_number_objects_to_delete_at_time: usize,
    /// ms of pause between batches (ALEPIZ pauseBetweenDeletingSeriesObjects).
    #[serde(default = "default_hk_pause")]
    pub pause_between_deleting_series_objects: u64,
    /// ms between progress log lines during a run (ALEPIZ housekeeperWatchdogCheckInterval).
    #[serde(default = "default_hk_watchdog")]
    pub housekeeper_watchdog_check_interval: u64,
    /// The retention policy: the name of a policy plugin. Built in: `keep` (per-series
    /// keep_history_days / keep_trends_days), `tiered` (by measurement or tag) and
    /// `disk-budget` (oldest data first until the store is under a size). With
    /// `plugins.enabled = false`, `keep` and `tiered` run natively.
    #[serde(default = "default_hk_policy")]
    pub policy: String,
    /// Tiers of the `tiered` policy, first match wins (passed to it as `"tiers"`).
    #[serde(default)]
    pub tiers: Vec<clio_housekeeper::Tier>,
    /// The policy's own settings, handed to the plugin as a JSON object (e.g.
    /// `max_bytes` for `disk-budget`).
    #[serde(default)]
    pub policy_config: toml::Table,
}

impl Default for HousekeeperConfig {
    fn default() -> Self {
        HousekeeperConfig {
            enabled: true,
            housekeeper_interval: default_hk_interval(),
            max_number_objects_to_delete_at_time: default_hk_batch(),
            pause_between_deleting_series_objects: default_hk_pause(),
            housekeeper_watchdog_check_interval: default_hk_watchdog(),
            policy: default_hk_policy(),
            tiers: Vec::new(),
            policy_config: toml::Table::new(),
        }
    }
}

const fn default_hk_interval() -> u64 {
    1_800_000
}
const fn default_hk_batch() -> usize {
    100
}
const fn default_hk_pause() -> u64 {
    1000
}
const fn default_hk_watchdog() -> u64 {
    300_000
}
fn default_hk_policy() -> String {
    "keep".into()
}

impl HousekeeperConfig {
    /// The runner's options.
    pub fn options(&self) -> clio_housekeeper::HousekeeperOptions {
        clio_housekeeper::HousekeeperOptions {
            interval: Duration::from_millis(self.housekeeper_interval),
            batch_size: self.max_number_objects_to_delete_at_time,
            pause: Duration::from_millis(self.pause_between_deleting_series_objects),
            watchdog: Duration::from_millis(self.housekeeper_watchdog_check_interval),
        }
    }

    /// The configuration handed to a policy plugin: `policy_config` as a JSON object, with
    /// `tiers` added as `"tiers"` when given and `policy_config` has none.
    pub fn policy_config_json(&self) -> String {
        let mut table = self.policy_config.clone();
        if !self.tiers.is_empty() && !table.contains_key("tiers") {
            let tiers: Vec<toml::Value> = self
                .tiers
                .iter()
                .map(|t| {
                    let mut m = toml::Table::new();
                    if let Some(meas) = &t.measurement {
                        m.insert("measurement".into(), meas.clone().into());
                    }
                    let tags: Vec<toml::Value> = t
                        .tags
                        .iter()
                        .map(|(k, v)| toml::Value::Array(vec![k.clone().into(), v.clone().into()]))
                        .collect();
                    m.insert("tags".into(), toml::Value::Array(tags));
                    m.insert("raw_days".into(), i64::from(t.raw_days).into());
                    let days: toml::Table = t
                        .trend_days
                        .iter()
                        .map(|(i, d)| (i.to_string(), toml::Value::from(i64::from(*d))))
                        .collect();
                    m.insert("trend_days".into(), toml::Value::Table(days));
                    toml::Value::Table(m)
                })
                .collect();
            table.insert("tiers".into(), toml::Value::Array(tiers));
        }
        // TOML values are a subset of JSON's (datetimes become strings).
        serde_json::to_string(&table).unwrap_or_else(|_| "{}".into())
    }

    /// The native policy of this name, used when the plugin host is disabled (`keep` and
    /// `tiered` only; `None` for any other name).
    pub fn native_policy(&self) -> Option<std::sync::Arc<dyn clio_housekeeper::RetentionPolicy>> {
        match self.policy.as_str() {
            "keep" => Some(std::sync::Arc::new(clio_housekeeper::KeepPolicy)),
            "tiered" => Some(std::sync::Arc::new(clio_housekeeper::TieredPolicy {
                tiers: self.tiers.clone(),
            })),
            _ => None,
        }
    }

    /// The configured policy, natively (see [`HousekeeperConfig::native_policy`]; an unknown
    /// name falls back to `keep`).
    pub fn policy(&self) -> std::sync::Arc<dyn clio_housekeeper::RetentionPolicy> {
        self.native_policy()
            .unwrap_or_else(|| std::sync::Arc::new(clio_housekeeper::KeepPolicy))
    }
}

/// `[plugins]`: the WebAssembly plugin host (docs/plugins-host.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Run the plugin host at all; `false` disables every history function.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Load the built-in history functions shipped with Clio.
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// Directory of user plugins (`*.wasm`); empty = built-in functions only. Relative
    /// paths are relative to the working directory, like `data_dir`.
    #[serde(default)]
    pub dir: String,
    /// Reload user plugins when a file in `dir` changes.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Wall-time limit of one function call, ms.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// Linear-memory limit of one plugin instance, MiB.
    #[serde(default = "default_plugin_memory_mb")]
    pub memory_mb: usize,
    /// Fuel (roughly, Wasm instructions) per call; 0 = no fuel metering.
    #[serde(default)]
    pub fuel: u64,
    /// Longest string a function may return, KiB.
    #[serde(default = "default_max_output_kb")]
    pub max_output_kb: usize,
    /// Function calls running at once (and pooling-allocator slots).
    #[serde(default = "default_max_concurrent_calls")]
    pub max_concurrent_calls: u32,
    /// Instance allocator: `auto` (pooling when the address space allows, else on-demand),
    /// `pooling` or `on-demand`.
    #[serde(default = "default_allocator")]
    pub allocator: String,
    /// Per-function overrides of the limits above, by function name.
    #[serde(default)]
    pub limits: std::collections::BTreeMap<String, PluginLimitsConfig>,
}

/// `[plugins.limits.<function>]`: limits of one function; absent keys take `[plugins]`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimitsConfig {
    /// Wall-time limit of one call, ms.
    pub call_timeout_ms: Option<u64>,
    /// Memory limit, MiB.
    pub memory_mb: Option<usize>,
    /// Fuel per call; 0 = no fuel metering.
    pub fuel: Option<u64>,
    /// Longest string result, KiB.
    pub max_output_kb: Option<usize>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            enabled: true,
            builtin: true,
            dir: String::new(),
            watch: true,
            call_timeout_ms: default_call_timeout_ms(),
            memory_mb: default_plugin_memory_mb(),
            fuel: 0,
            max_output_kb: default_max_output_kb(),
            max_concurrent_calls: default_max_concurrent_calls(),
            allocator: default_allocator(),
            limits: Default::default(),
        }
    }
}

const fn default_true() -> bool {
    true
}
const fn default_call_timeout_ms() -> u64 {
    100
}
const fn default_plugin_memory_mb() -> usize {
    16
}
const fn default_max_output_kb() -> usize {
    1024
}
const fn default_max_concurrent_calls() -> u32 {
    64
}
fn default_allocator() -> String {
    "auto".into()
}

impl PluginsConfig {
    /// The plugin cache directory under a data directory.
    pub fn cache_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("plugin-cache")
    }

    fn validate(&self, errs: &mut Vec<String>) {
        if !["auto", "pooling", "on-demand"].contains(&self.allocator.as_str()) {
            errs.push(format!(
                "plugins.allocator `{}` must be auto, pooling or on-demand",
                self.allocator
            ));
        }
        if self.max_concurrent_calls == 0 {
            errs.push("plugins.max_concurrent_calls must be at least 1".into());
        }
        let top = PluginLimitsConfig {
            call_timeout_ms: Some(self.call_timeout_ms),
            memory_mb: Some(self.memory_mb),
            fuel: Some(self.fuel),
            max_output_kb: Some(self.max_output_kb),
        };
        for (name, l) in std::iter::once(("plugins", &top))
            .chain(self.limits.iter().map(|(k, v)| (k.as_str(), v)))
        {
            let prefix = if name == "plugins" {
                "plugins".to_string()
            } else {
                format!("plugins.limits.{name}")
            };
            if l.call_timeout_ms == Some(0) {
                errs.push(format!("{prefix}.call_timeout_ms must be at least 1"));
            }
            if l.memory_mb == Some(0) || l.memory_mb.is_some_and(|m| m > 4096) {
                errs.push(format!("{prefix}.memory_mb must be between 1 and 4096"));
            }
            if l.max_output_kb == Some(0) {
                errs.push(format!("{prefix}.max_output_kb must be at least 1"));
            }
        }
    }
}

/// `[server]`: the TCP (ALEPIZ framing) and HTTP front ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// TCP listen address (ALEPIZ localAddress + serverPort); empty disables TCP.
    #[serde(default = "default_tcp")]
    pub tcp_address: String,
    /// HTTP listen address; empty disables HTTP.
    #[serde(default = "default_http")]
    pub http_address: String,
    /// Socket errors tolerated within five minutes before they are logged as an incident
    /// (ALEPIZ maxSocketErrorsCnt). Clio keeps running; the count is in /metrics.
    #[serde(default = "default_max_socket_errors")]
    pub max_socket_errors_cnt: u64,
    /// Requests waiting for a query slot above which a warning is logged (ALEPIZ
    /// queriesMaxQueueLength).
    #[serde(default = "default_queue_len")]
    pub queries_max_queue_length: usize,
    /// Requests slower than this many seconds are logged (ALEPIZ slowQueueSec).
    #[serde(default = "default_slow_query")]
    pub slow_query_sec: f64,
    /// Queries served at the same time; more wait in line.
    #[serde(default = "default_max_concurrent_queries")]
    pub max_concurrent_queries: usize,
    /// Largest TCP frame or HTTP request body accepted, MiB (after gzip decompression).
    #[serde(default = "default_max_request_mb")]
    pub max_request_mb: usize,
    /// Seconds an HTTP connection may take to send a request's headers in full, counted
    /// from when the server waits for them: this is also how long an idle kept-alive
    /// connection stays open.
    #[serde(default = "default_http_header_timeout")]
    pub http_header_timeout: u64,
    /// Seconds an HTTP request may take to send its whole body.
    #[serde(default = "default_http_body_timeout")]
    pub http_body_timeout: u64,
    /// Open HTTP connections at most; further ones are closed at once (logged, counted in
    /// clio_http_connections_refused).
    #[serde(default = "default_http_max_connections")]
    pub http_max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tcp_address: default_tcp(),
            http_address: default_http(),
            max_socket_errors_cnt: default_max_socket_errors(),
            queries_max_queue_length: default_queue_len(),
            slow_query_sec: default_slow_query(),
            max_concurrent_queries: default_max_concurrent_queries(),
            max_request_mb: default_max_request_mb(),
            http_header_timeout: default_http_header_timeout(),
            http_body_timeout: default_http_body_timeout(),
            http_max_connections: default_http_max_connections(),
        }
    }
}

const fn default_http_header_timeout() -> u64 {
    30
}
const fn default_http_body_timeout() -> u64 {
    60
}
const fn default_http_max_connections() -> usize {
    1024
}

fn default_tcp() -> String {
    "127.0.0.1:10163".into()
}
fn default_http() -> String {
    "127.0.0.1:10164".into()
}
const fn default_max_socket_errors() -> u64 {
    500
}
const fn default_queue_len() -> usize {
    200
}
const fn default_slow_query() -> f64 {
    15.0
}
const fn default_max_concurrent_queries() -> usize {
    256
}
const fn default_max_request_mb() -> usize {
    64
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

/// `[storage]`: where the data lives. Either a list of named backends
/// (`[[storage.backends]]`) or, as before that list existed, one backend given by `backend`
/// and its table (`[storage.sqlite]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The single backend's type when `backends` is not used (`sqlite`, the default).
    #[serde(default)]
    pub backend: Option<String>,
    /// Trend intervals maintained by the backends (default 10m, 30m, 60m, 1d).
    #[serde(default = "default_trend_intervals")]
    pub trend_intervals: Vec<TrendInterval>,
    /// `[storage.sqlite]`: the single SQLite backend's keys when `backends` is not used.
    #[serde(default)]
    pub sqlite: Option<toml::Table>,
    /// `[[storage.backends]]`: the primary (the first, unless one says `role = "primary"`)
    /// and its replicas.
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    /// When the primary fails a read, a replica that has everything the read needs answers.
    #[serde(default)]
    pub read_failover: bool,
    /// Most log kept for lagging replicas, MiB; a replica needing more is refilled from the
    /// primary instead.
    #[serde(default = "default_replica_max_log_mb")]
    pub replica_max_log_mb: u64,
    /// A replica lagging longer than this many seconds is warned about in the log.
    #[serde(default = "default_replica_lag_warn")]
    pub replica_lag_warn: u64,
}

impl Default for StorageConfig {
    /// One embedded SQLite backend named `main`, as `config/default.toml` spells it out.
    fn default() -> Self {
        let mut settings = toml::Table::new();
        settings.insert("file".into(), toml::Value::String("clio.db".into()));
        settings.insert("db_lock_timeout".into(), toml::Value::Integer(5000));
        settings.insert(
            "storage_querying_processes_num".into(),
            toml::Value::Integer(0),
        );
        StorageConfig {
            backend: None,
            trend_intervals: default_trend_intervals(),
            sqlite: None,
            backends: vec![BackendConfig {
                name: "main".into(),
                kind: "sqlite".into(),
                role: None,
                settings,
            }],
            read_failover: false,
            replica_max_log_mb: default_replica_max_log_mb(),
            replica_lag_warn: default_replica_lag_warn(),
        }
    }
}

fn default_trend_intervals() -> Vec<TrendInterval> {
    DEFAULT_TREND_INTERVALS.to_vec()
}

const fn default_replica_max_log_mb() -> u64 {
    4096
}

const fn default_replica_lag_warn() -> u64 {
    600
}

/// One `[[storage.backends]]` entry. The keys other than `name`, `type` and `role` belong to
/// the backend type; the backend registry checks them (unknown keys are errors there).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BackendConfig {
    /// Unique name, used in status and for the replica's cursor.
    pub name: String,
    /// The backend type (`sqlite`; more with their crates).
    #[serde(rename = "type")]
    pub kind: String,
    /// `primary` or `replica`; by default the first entry is the primary.
    #[serde(default)]
    pub role: Option<String>,
    /// The type's own keys.
    #[serde(flatten)]
    pub settings: toml::Table,
}

/// A backend with its resolved role.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedBackend {
    /// The entry.
    pub config: BackendConfig,
    /// True for the primary.
    pub primary: bool,
}

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
        }
    }
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
    /// A timestamp later than now plus this many ms is replaced by the receive time (60000);
    /// 0 accepts any future time.
    #[serde(default = "default_max_future")]
    pub timestamp_max_future: u64,
    /// Longest accepted string value, bytes.
    #[serde(default = "default_max_string_bytes")]
    pub max_string_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            timestamp_max_time_diff: default_max_past(),
            timestamp_max_future: default_max_future(),
            max_string_bytes: default_max_string_bytes(),
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

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            storage: StorageConfig::default(),
            wal: WalConfig::default(),
            cache: CacheConfig::default(),
            query: QueryConfig::default(),
            ingest: IngestConfig::default(),
            server: ServerConfig::default(),
            plugins: PluginsConfig::default(),
            housekeeper: HousekeeperConfig::default(),
        }
    }
}

impl Config {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Checks that values work together; lists every problem. Pure: no I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        self.validate_backends(&mut errs);
        if self.storage.trend_intervals.is_empty() {
            errs.push("storage.trend_intervals must name at least one interval".into());
        }
        let mut sorted = self.storage.trend_intervals.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.storage.trend_intervals.len() {
            errs.push("storage.trend_intervals has duplicates".into());
        }
        if self.cache.init_cached_records == 0 {
            errs.push("cache.init_cached_records must be at least 1".into());
        }
        if self.cache.cache_service_interval == 0 {
            errs.push("cache.cache_service_interval must be at least 1 second".into());
        }
        if self.cache.max_unflushed_points < self.cache.flush_unflushed_points {
            errs.push(
                "cache.max_unflushed_points must be at least cache.flush_unflushed_points".into(),
            );
        }
        if self.wal.segment_size_mb == 0 {
            errs.push("wal.segment_size_mb must be at least 1".into());
        }
        if self.wal.max_size_mb < self.wal.segment_size_mb {
            errs.push("wal.max_size_mb must be at least wal.segment_size_mb".into());
        }
        if self.wal.sync == SyncMode::Interval && self.wal.sync_interval == 0 {
            errs.push("wal.sync_interval must be at least 1 ms with sync = \"interval\"".into());
        }
        if self.query.query_max_result_numbers == 0 || self.query.query_max_result_strings == 0 {
            errs.push("query result caps must be at least 1".into());
        }
        if self.housekeeper.policy.is_empty() {
            errs.push(
                "housekeeper.policy must name a policy (built in: keep, tiered, disk-budget)"
                    .into(),
            );
        } else if !self.plugins.enabled
            && !matches!(self.housekeeper.policy.as_str(), "keep" | "tiered")
        {
            errs.push(format!(
                "housekeeper.policy `{}` needs the plugin host (plugins.enabled = true); \
                 without it only keep and tiered are available",
                self.housekeeper.policy
            ));
        }
        if self.housekeeper.policy == "tiered"
            && self.housekeeper.tiers.is_empty()
            && !self.housekeeper.policy_config.contains_key("tiers")
        {
            errs.push(
                "housekeeper.policy = \"tiered\" needs at least one [[housekeeper.tiers]]".into(),
            );
        }
        if self.housekeeper.housekeeper_interval < 1000 {
            errs.push("housekeeper.housekeeper_interval must be at least 1000 ms".into());
        }
        if self.housekeeper.max_number_objects_to_delete_at_time == 0 {
            errs.push("housekeeper.max_number_objects_to_delete_at_time must be at least 1".into());
        }
        if self.server.max_request_mb == 0 {
            errs.push("server.max_request_mb must be at least 1".into());
        }
        if self.server.max_concurrent_queries == 0 {
            errs.push("server.max_concurrent_queries must be at least 1".into());
        }
        if self.server.http_header_timeout == 0 || self.server.http_body_timeout == 0 {
            errs.push("server.http_header_timeout and http_body_timeout must be at least 1".into());
        }
        if self.server.http_max_connections == 0 {
            errs.push("server.http_max_connections must be at least 1".into());
        }
        if !(self.server.slow_query_sec.is_finite() && self.server.slow_query_sec > 0.0) {
            errs.push("server.slow_query_sec must be a positive number".into());
        }
        for (name, addr) in [
            ("server.tcp_address", &self.server.tcp_address),
            ("server.http_address", &self.server.http_address),
        ] {
            if !addr.is_empty() && addr.parse::<std::net::SocketAddr>().is_err() {
                errs.push(format!(
                    "{name} `{addr}` is not an address such as 127.0.0.1:10163"
                ));
            }
        }
        self.plugins.validate(&mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }

    /// The configured backends, the primary first. A configuration without
    /// `[[storage.backends]]` describes one backend named `main` of type `storage.backend`
    /// (default `sqlite`) whose keys are the `[storage.<type>]` table.
    pub fn storage_backends(&self) -> Vec<ResolvedBackend> {
        let st = &self.storage;
        if st.backends.is_empty() {
            return vec![ResolvedBackend {
                config: BackendConfig {
                    name: "main".into(),
                    kind: st.backend.clone().unwrap_or_else(|| "sqlite".into()),
                    role: None,
                    settings: st.sqlite.clone().unwrap_or_default(),
                },
                primary: true,
            }];
        }
        let primary = st
            .backends
            .iter()
            .position(|b| b.role.as_deref() == Some("primary"))
            .unwrap_or(0);
        let mut out: Vec<ResolvedBackend> = Vec::with_capacity(st.backends.len());
        out.push(ResolvedBackend {
            config: st.backends[primary].clone(),
            primary: true,
        });
        for (i, b) in st.backends.iter().enumerate() {
            if i != primary {
                out.push(ResolvedBackend {
                    config: b.clone(),
                    primary: false,
                });
            }
        }
        out
    }

    fn validate_backends(&self, errs: &mut Vec<String>) {
        let st = &self.storage;
        if !st.backends.is_empty() && (st.backend.is_some() || st.sqlite.is_some()) {
            errs.push(
                "storage.backend / [storage.sqlite] and [[storage.backends]] are two ways to say the same; use one".into(),
            );
        }
        if st.sqlite.is_some() && st.backend.as_deref().is_some_and(|b| b != "sqlite") {
            errs.push("[storage.sqlite] is given but storage.backend is not `sqlite`".into());
        }
        let mut names = std::collections::HashSet::new();
        let mut primaries = 0;
        for (i, b) in st.backends.iter().enumerate() {
            let at = format!("storage.backends[{i}]");
            if b.name.is_empty()
                || !b
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errs.push(format!(
                    "{at}.name `{}` must be non-empty letters, digits, `-` or `_`",
                    b.name
                ));
            }
            if !names.insert(b.name.as_str()) {
                errs.push(format!("{at}.name `{}` is used twice", b.name));
            }
            if b.kind.is_empty() {
                errs.push(format!("{at}.type must name a backend type"));
            }
            match b.role.as_deref() {
                None | Some("replica") => {}
                Some("primary") => primaries += 1,
                Some(other) => errs.push(format!(
                    "{at}.role `{other}` is neither `primary` nor `replica`"
                )),
            }
        }
        if primaries > 1 {
            errs.push("more than one of [[storage.backends]] says role = \"primary\"".into());
        }
        if st.replica_max_log_mb == 0 {
            errs.push("storage.replica_max_log_mb must be at least 1".into());
        }
    }

    /// The storage topology's settings other than the backends themselves.
    pub fn replication(&self) -> (bool, u64, Duration) {
        let st = &self.storage;
        (
            st.read_failover,
            st.replica_max_log_mb << 20,
            Duration::from_secs(st.replica_lag_warn),
        )
    }

    /// The engine settings this configuration describes.
    pub fn engine_options(&self) -> EngineOptions {
        let mut o = EngineOptions::new(&self.data_dir);
        o.trend_intervals = self.storage.trend_intervals.clone();
        o.wal_sync = self.wal.sync;
        o.wal_sync_interval = Duration::from_millis(self.wal.sync_interval);
        o.wal_segment_bytes = self.wal.segment_size_mb << 20;
        o.max_wal_bytes = self.wal.max_size_mb << 20;
        o.cache.init_cached_records = self.cache.init_cached_records;
        o.cache.memory_budget = self.cache.memory_budget_mb << 20;
        o.cache_service_interval = Duration::from_secs(self.cache.cache_service_interval);
        o.flush_wal_bytes = self.cache.flush_wal_mb << 20;
        o.flush_dirty_points = self.cache.flush_unflushed_points;
        o.max_dirty_points = self.cache.max_unflushed_points;
        o.query_max_result_numbers = self.query.query_max_result_numbers;
        o.query_max_result_strings = self.query.query_max_result_strings;
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        o.timestamp_max_past = ms(self.ingest.timestamp_max_time_diff);
        o.timestamp_max_future = ms(self.ingest.timestamp_max_future);
        o.max_string_bytes = self.ingest.max_string_bytes;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_config_file_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                Config::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 1, "no config files found in {}", dir.display());
    }

    #[test]
    fn default_toml_matches_built_in_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let file = Config::load(&dir).unwrap();
        let builtin = Config::default();
        assert_eq!(format!("{file:?}"), format!("{builtin:?}"));
    }

    #[test]
    fn plugin_limits_parse_and_validate() {
        let c = Config::from_toml(
            "[plugins]\ndir = \"p\"\nfuel = 7\n[plugins.limits.forecast]\ncall_timeout_ms = 500",
        )
        .unwrap();
        assert_eq!(c.plugins.dir, "p");
        assert_eq!(c.plugins.fuel, 7);
        assert_eq!(c.plugins.limits["forecast"].call_timeout_ms, Some(500));
        assert_eq!(c.plugins.limits["forecast"].memory_mb, None);
        let e = Config::from_toml(
            "[plugins]\nallocator = \"magic\"\n[plugins.limits.avg]\nmemory_mb = 0",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("magic") && e.contains("plugins.limits.avg.memory_mb"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = Config::from_toml("[cache]\ninit_cached_record = 5").unwrap_err();
        assert!(e.to_string().contains("init_cached_record"), "{e}");
        let e = Config::from_toml("colour = 1").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn invalid_combinations_are_all_listed() {
        let e =
            Config::from_toml("[[storage.backends]]\nname = \"a\"\ntype = \"sqlite\"\nrole = \"boss\"\n[cache]\ninit_cached_records = 0")
                .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("boss") && s.contains("init_cached_records"),
            "{s}"
        );
    }

    #[test]
    fn glass_ai_tiers_are_expressible() {
        let c = Config::from_toml(
            r#"
[housekeeper]
policy = "tiered"
[[housekeeper.tiers]]
measurement = "sensor"
raw_days = 30
trend_days = { "1h" = 180, "1d" = 365 }
"#,
        )
        .unwrap();
        assert_eq!(c.housekeeper.tiers[0].raw_days, 30);
        assert_eq!(c.housekeeper.policy().name(), "tiered");
        let json: serde_json::Value =
            serde_json::from_str(&c.housekeeper.policy_config_json()).unwrap();
        assert_eq!(json["tiers"][0]["raw_days"], 30);
        assert_eq!(json["tiers"][0]["trend_days"]["1h"], 180);
        let e = Config::from_toml("[housekeeper]\npolicy = \"tiered\"").unwrap_err();
        assert!(e.to_string().contains("tiers"), "{e}");
    }

    #[test]
    fn engine_options_follow_the_file() {
        let c = Config::from_toml(
            "[wal]\nsync = \"off\"\n[ingest]\ntimestamp_max_time_diff = 0\n[cache]\ncache_service_interval = 7",
        )
        .unwrap();
        let o = c.engine_options();
        assert_eq!(o.wal_sync, SyncMode::Off);
        assert_eq!(o.timestamp_max_past, None);
        assert_eq!(o.cache_service_interval, Duration::from_secs(7));
        assert_eq!(o.timestamp_max_future, Some(Duration::from_secs(60)));
    }
}
