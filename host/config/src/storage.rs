//! `[storage]`: the backends (primary and replicas), trend intervals and replication
//! settings.

use std::time::Duration;

use clio_storage::{DEFAULT_TREND_INTERVALS, TrendInterval};
use serde::Deserialize;

use crate::Config;

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
    /// Encryption at rest: the file holding the current data key (64 hex digits). Without
    /// it, `CLIO_DATA_KEY` may hold the key; neither means no encryption. The key itself is
    /// never a configuration value.
    #[serde(default)]
    pub key_file: Option<std::path::PathBuf>,
    /// The key before the last rotation: still opens what it sealed (by key id) until
    /// `clio storage reseal` has re-sealed it under the current key.
    #[serde(default)]
    pub previous_key_file: Option<std::path::PathBuf>,
}

impl StorageConfig {
    /// The data keys as configured (reads the key files or `CLIO_DATA_KEY`).
    pub fn data_keys(
        &self,
    ) -> Result<clio_storage::sealing::Keyring, clio_storage::sealing::SealError> {
        clio_storage::sealing::Keyring::load(
            self.key_file.as_deref(),
            self.previous_key_file.as_deref(),
        )
    }
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
            key_file: None,
            previous_key_file: None,
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

impl Config {
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

    pub(crate) fn validate_backends(&self, errs: &mut Vec<String>) {
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
            st.replica_max_log_mb.saturating_mul(1 << 20),
            Duration::from_secs(st.replica_lag_warn),
        )
    }
}
