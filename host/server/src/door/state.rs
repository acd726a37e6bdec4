//! What every request handler shares: the configuration, metrics, the query admission queue
//! and authentication. The engine is private to the door ([`super::Gate`]): handler modules
//! cannot reach it but through a `Gate`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clio_config::Config;

use clio_core::Store;
use clio_plugins::PluginHost;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::metrics::{Metrics, OpLabels, OutcomeLabels};

/// Shared server state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

#[derive(Debug)]
struct StateInner {
    store: Store,
    config: Config,
    metrics: Metrics,
    queries: Arc<Semaphore>,
    waiting: AtomicUsize,
    shutdown: CancellationToken,
    /// The WebAssembly plugin host, once started (absent when `[plugins] enabled = false`).
    plugins: std::sync::OnceLock<PluginHost>,
    /// The housekeeper, when enabled.
    housekeeper: std::sync::OnceLock<Arc<clio_housekeeper::Housekeeper>>,
    /// The collector instances (`[[collectors]]`), once started.
    collectors: std::sync::OnceLock<clio_plugins::Collectors>,
    /// Online backups taken by this server.
    backups: crate::backup::BackupStatus,
    /// The alert engine, when `[alerts] enabled`.
    alerts: std::sync::OnceLock<crate::alerts::AlertEngine>,
    /// Database names InfluxDB clients created or queried (`SHOW DATABASES`); Clio has one
    /// namespace, so every name reads and writes the same series.
    databases: parking_lot::RwLock<std::collections::BTreeSet<String>>,
    /// Tokens, users, rate limits and the audit log.
    auth: Arc<crate::auth::Authenticator>,
    /// The Glass AI tables, when `[glass] enabled`.
    glass: std::sync::OnceLock<clio_glass::Glass>,
}

impl AppState {
    /// State over an open engine, reading the token store named by `[auth]`. When that
    /// store cannot be read, every authenticated request is refused (logged); use
    /// [`AppState::with_auth`] to handle the error instead.
    pub fn new(store: Store, config: Config, shutdown: CancellationToken) -> Self {
        let auth = crate::auth::Authenticator::new(&config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the token store; every token is refused");
            crate::auth::Authenticator::refusing(&config)
        });
        Self::with_auth(store, config, shutdown, auth)
    }

    /// State over an open engine with its authenticator.
    pub fn with_auth(
        store: Store,
        config: Config,
        shutdown: CancellationToken,
        auth: Arc<crate::auth::Authenticator>,
    ) -> Self {
        let slots = config.server.max_concurrent_queries.max(1);
        AppState {
            inner: Arc::new(StateInner {
                store,
                config,
                metrics: Metrics::new(),
                queries: Arc::new(Semaphore::new(slots)),
                waiting: AtomicUsize::new(0),
                shutdown,
                plugins: std::sync::OnceLock::new(),
                housekeeper: std::sync::OnceLock::new(),
                collectors: std::sync::OnceLock::new(),
                backups: Default::default(),
                alerts: std::sync::OnceLock::new(),
                databases: parking_lot::RwLock::new(std::collections::BTreeSet::new()),
                auth,
                glass: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The engine: only the door reaches it.
    pub(in crate::door) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Authentication: tokens, users, rate limits, the audit log.
    pub fn auth(&self) -> &crate::auth::Authenticator {
        &self.inner.auth
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Online backups taken by this server.
    pub fn backups(&self) -> &crate::backup::BackupStatus {
        &self.inner.backups
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Cancelled when the server starts shutting down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Installs the plugin host (once; later calls are ignored).
    pub fn set_plugins(&self, host: PluginHost) {
        let _ = self.inner.plugins.set(host);
    }

    /// The plugin host, or 503 when plugins are disabled.
    pub(in crate::door) fn plugins(&self) -> Result<&PluginHost, ApiError> {
        self.inner.plugins.get().ok_or_else(|| {
            ApiError::Unavailable(
                "history functions are disabled (`[plugins] enabled = false`)".into(),
            )
        })
    }

    /// Attaches the housekeeper (once, at start).
    pub fn set_housekeeper(&self, housekeeper: Arc<clio_housekeeper::Housekeeper>) {
        let _ = self.inner.housekeeper.set(housekeeper);
    }

    /// The housekeeper, if enabled.
    pub(in crate::door) fn housekeeper(&self) -> Option<&Arc<clio_housekeeper::Housekeeper>> {
        self.inner.housekeeper.get()
    }

    /// Counts an authentication or authorization failure: the metric, and the alert engine's
    /// `auth_failures` rules.
    pub fn note_auth_failure(&self, proto: &'static str, reason: &'static str) {
        self.metrics()
            .auth_failures
            .get_or_create(&crate::metrics::AuthLabels { proto, reason })
            .inc();
        if let Some(a) = self.inner.alerts.get() {
            a.note_auth_failure();
        }
    }

    /// Attaches the alert engine (once, at start).
    pub fn set_alerts(&self, alerts: crate::alerts::AlertEngine) {
        let _ = self.inner.alerts.set(alerts);
    }

    /// The alert engine, or 503 when alerts are disabled.
    pub fn alerts(&self) -> Result<&crate::alerts::AlertEngine, ApiError> {
        self.inner.alerts.get().ok_or_else(|| {
            ApiError::Unavailable("alerts are disabled (`[alerts] enabled = false`)".into())
        })
    }

    /// Attaches the Glass AI tables (once, at start).
    pub fn set_glass(&self, glass: clio_glass::Glass) {
        let _ = self.inner.glass.set(glass);
    }

    /// The Glass AI tables, or 503 when `[glass] enabled = false`.
    pub(in crate::door) fn glass(&self) -> Result<&clio_glass::Glass, ApiError> {
        self.inner.glass.get().ok_or_else(|| {
            ApiError::Unavailable(
                "the Glass AI tables are disabled (`[glass] enabled = false`)".into(),
            )
        })
    }

    /// Installs the collectors (once, at start).
    pub fn set_collectors(&self, collectors: clio_plugins::Collectors) {
        let _ = self.inner.collectors.set(collectors);
    }

    /// The collectors, or 503 when the plugin host is disabled.
    pub fn collectors(&self) -> Result<&clio_plugins::Collectors, ApiError> {
        self.inner.collectors.get().ok_or_else(|| {
            ApiError::Unavailable("collectors need the plugin host (`[plugins] enabled`)".into())
        })
    }

    /// Remembers a database name an InfluxDB client created or used (bounded: names past
    /// the first 1,000 are not listed).
    pub fn note_database(&self, name: &str) {
        // Known names (every write but the first) only take the read lock.
        if self.inner.databases.read().contains(name) {
            return;
        }
        let mut d = self.inner.databases.write();
        if d.len() < 1000 {
            d.insert(name.to_string());
        }
    }

    /// The database names clients created or used, sorted.
    pub fn databases(&self) -> Vec<String> {
        self.inner.databases.read().iter().cloned().collect()
    }

    /// Largest request body or frame, bytes.
    pub fn max_request_bytes(&self) -> usize {
        self.inner
            .config
            .server
            .max_request_mb
            .saturating_mul(1 << 20)
    }

    /// Waits for a query slot (at most `max_concurrent_queries` run at once); logs when more
    /// than `queries_max_queue_length` requests are waiting.
    pub async fn query_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(p) = self.inner.queries.clone().try_acquire_owned() {
            return Ok(p);
        }
        let waiting = self.inner.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics().queries_waiting.inc();
        let limit = self.inner.config.server.queries_max_queue_length;
        if waiting > limit {
            tracing::warn!(
                waiting,
                limit,
                "query queue is longer than queries_max_queue_length"
            );
        }
        let permit = self.inner.queries.clone().acquire_owned().await;
        self.inner.waiting.fetch_sub(1, Ordering::Relaxed);
        self.metrics().queries_waiting.dec();
        permit.map_err(|_| ApiError::Unavailable("server is shutting down".into()))
    }

    /// Records a finished request: latency histogram, outcome counter, slow-request log.
    pub fn observe(
        &self,
        proto: &'static str,
        op: &'static str,
        started: Instant,
        outcome: Result<(), &ApiError>,
        detail: &dyn std::fmt::Display,
    ) {
        let took = started.elapsed();
        let m = self.metrics();
        m.request_seconds
            .get_or_create(&OpLabels { proto, op })
            .observe(took.as_secs_f64());
        let outcome_label = match outcome {
            Ok(()) => "ok",
            Err(e) if e.is_client_error() => "client_error",
            Err(_) => "server_error",
        };
        m.requests
            .get_or_create(&OutcomeLabels {
                proto,
                outcome: outcome_label,
            })
            .inc();
        let slow = Duration::from_secs_f64(self.inner.config.server.slow_query_sec);
        if took >= slow {
            m.slow_requests.inc();
            tracing::warn!(proto, op, millis = took.as_millis() as u64, request = %detail, "slow request");
        }
    }
}
