//! Clio's configuration file: a TOML document whose every key is documented in
//! `config/default.toml`. Unknown keys are errors. Defaults are the ALEPIZ seed's where it has
//! one. Loading parses and validates without side effects; building from it is the caller's.
//!
//! ```
//! let cfg = clio_config::Config::from_toml("data_dir = \"/tmp/clio\"").unwrap();
//! assert_eq!(cfg.cache.init_cached_records, 5);
//! ```
#![deny(missing_docs)]

mod alerts;
mod auth;
mod backup;
mod collectors;
mod engine;
mod error;
mod glass;
mod glass_images;
mod glass_jobs;
mod housekeeper;
mod log;
mod plugins;
mod schedule;
mod server;
mod storage;
#[cfg(test)]
mod tests;
mod tls;

use std::path::{Path, PathBuf};

use clio_core::SyncMode;
use serde::Deserialize;

pub use alerts::{AlertRule, AlertsConfig, Comparison, RuleKind, parse_duration};
pub use auth::{AuthConfig, JWT_ALGORITHMS, JwtConfig, cidr_contains, parse_cidr};
pub use backup::BackupConfig;
pub use collectors::{CollectorConfig, HostGrant, parse_interval};
pub use engine::{CacheConfig, IngestConfig, QueryConfig, WalConfig};
pub use error::ConfigError;
pub use glass::GlassConfig;
pub use glass_images::GlassImagesConfig;
pub use glass_jobs::{GlassQualityConfig, GlassZombiesConfig};
pub use housekeeper::HousekeeperConfig;
pub use log::LogConfig;
pub use plugins::{PluginLimitsConfig, PluginsConfig};
pub use schedule::{Cron, Schedule};
pub use server::ServerConfig;
pub use storage::{BackendConfig, ResolvedBackend, StorageConfig};
pub use tls::TlsConfig;

/// The largest `server.slow_query_sec` accepted (a year).
pub const MAX_SLOW_QUERY_SEC: f64 = 365.0 * 86_400.0;
/// The largest `backup.warn_after_hours` accepted (100 years).
pub const MAX_WARN_AFTER_HOURS: u64 = 876_000;

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
    /// Online backups.
    #[serde(default)]
    pub backup: BackupConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Alert rules and notifications.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Authentication, authorization, rate limits and the audit log.
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS on the front ends.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Collector plugin instances (`[[collectors]]`), each on its own schedule.
    #[serde(default)]
    pub collectors: Vec<CollectorConfig>,
    /// The Glass AI metadata and analytics tables.
    #[serde(default)]
    pub glass: GlassConfig,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

pub(crate) const fn default_true() -> bool {
    true
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
            backup: BackupConfig::default(),
            log: LogConfig::default(),
            alerts: AlertsConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            collectors: Vec::new(),
            glass: GlassConfig::default(),
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
        let cfg = Self::load_unvalidated(path)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a file (unknown keys are still errors) without [`Config::validate`]:
    /// for callers that apply command-line overrides first and validate the result, so that
    /// `--auth true` can make a file that listens on 0.0.0.0 with auth off valid.
    pub fn load_unvalidated(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(toml::from_str(&text)?)
    }

    /// Checks that values work together; lists every problem. Pure: no I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        self.validate_backends(&mut errs);
        self.backup.validate(&mut errs);
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
        if self.server.http_header_timeout == 0
            || self.server.http_body_timeout == 0
            || self.server.http_write_timeout == 0
        {
            errs.push(
                "server.http_header_timeout, http_body_timeout and http_write_timeout must be at \
                 least 1"
                    .into(),
            );
        }
        if self.server.tcp_max_connections == 0 {
            errs.push("server.tcp_max_connections must be at least 1".into());
        }
        if self.server.http_max_connections == 0 {
            errs.push("server.http_max_connections must be at least 1".into());
        }
        // Turned into a Duration on every request: a number past what one holds would panic.
        if !(self.server.slow_query_sec.is_finite()
            && self.server.slow_query_sec > 0.0
            && self.server.slow_query_sec <= MAX_SLOW_QUERY_SEC)
        {
            errs.push(format!(
                "server.slow_query_sec must be a positive number of seconds up to {MAX_SLOW_QUERY_SEC}"
            ));
        }
        // Hours are multiplied into seconds and milliseconds.
        if self.backup.warn_after_hours > MAX_WARN_AFTER_HOURS {
            errs.push(format!(
                "backup.warn_after_hours must be at most {MAX_WARN_AFTER_HOURS} (100 years)"
            ));
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
        collectors::validate(&self.collectors, self.plugins.enabled, &mut errs);
        self.log.validate(&mut errs);
        self.alerts.validate(&mut errs);
        self.glass.validate(&mut errs);
        self.tls.validate(&mut errs);
        self.auth.validate(
            &[
                ("server.tcp_address", &self.server.tcp_address),
                ("server.http_address", &self.server.http_address),
            ],
            &mut errs,
        );
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }
}
