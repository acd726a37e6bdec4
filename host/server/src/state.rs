//! What every request handler shares: the engine, the configuration, metrics and the query
//! admission queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clio_config::Config;

use clio_core::Store;
use clio_plugins::PluginHost;
use clio_storage::SeriesId;
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
    /// Database names InfluxDB clients created or queried (`SHOW DATABASES`); Clio has one
    /// namespace, so every name reads and writes the same series.
    databases: parking_lot::RwLock<std::collections::BTreeSet<String>>,
}

impl AppState {
    /// State over an open engine.
    pub fn new(store: Store, config: Config, shutdown: CancellationToken) -> Self {
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
                databases: parking_lot::RwLock::new(std::collections::BTreeSet::new()),
            }),
        }
    }

    /// The engine.
    pub fn store(&self) -> &Store {
        &self.inner.store
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
    pub fn plugins(&self) -> Result<&PluginHost, ApiError> {
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
    pub fn housekeeper(&self) -> Option<&Arc<clio_housekeeper::Housekeeper>> {
        self.inner.housekeeper.get()
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

    /// Deletes a series and its data (the engine forgets its key texts in the same step).
    pub async fn delete_series(&self, id: SeriesId) -> Result<bool, ApiError> {
        Ok(self.inner.store.delete_series(id).await?)
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
