//! The storage topology the engine writes to: one primary (written by the flush, the only one
//! read) and any number of replicas (fed asynchronously from the write-ahead log).
//!
//! Backends are handed to the engine as [`BackendSpec`]s: a name, a type and an opener. The
//! engine opens them itself and keeps retrying while one is unavailable, so that a backend
//! that is down at start-up (a database server not yet up, a directory not mounted) does not
//! keep the engine from starting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_storage::{StorageBackend, StorageError};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

/// A future that opens a backend.
pub type OpenFuture =
    Pin<Box<dyn Future<Output = Result<Arc<dyn StorageBackend>, StorageError>> + Send>>;

/// Opens a backend; called again after a failure.
pub type Opener = Arc<dyn Fn() -> OpenFuture + Send + Sync>;

/// One configured backend, not yet opened.
#[derive(Clone)]
pub struct BackendSpec {
    /// Its name in the configuration (unique), e.g. `main`.
    pub name: String,
    /// Its type, e.g. `sqlite`.
    pub kind: String,
    /// Opens it.
    pub open: Opener,
}

impl std::fmt::Debug for BackendSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl BackendSpec {
    /// A spec for a backend that is already open.
    pub fn ready(name: impl Into<String>, backend: Arc<dyn StorageBackend>) -> Self {
        let kind = backend
            .describe()
            .split_whitespace()
            .next()
            .unwrap_or("backend")
            .to_string();
        BackendSpec {
            name: name.into(),
            kind,
            open: Arc::new(move || {
                let b = Arc::clone(&backend);
                Box::pin(async move { Ok(b) })
            }),
        }
    }
}

/// Where the engine keeps its data: the primary and the replicas, with replication settings.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Written by the flush, read by every read.
    pub primary: BackendSpec,
    /// Fed from the log in the background; never block the primary or its clients.
    pub replicas: Vec<BackendSpec>,
    /// When the primary fails a read, a replica that has applied everything the read needs
    /// answers it.
    pub read_failover: bool,
    /// Most log bytes kept for replicas that lag; a replica that needs older log is marked
    /// for resync (refilled from the primary) instead.
    pub replica_max_log_bytes: u64,
    /// A replica lagging longer than this is reported with a warning in the log.
    pub lag_warn: Duration,
}

impl Topology {
    /// One backend, no replicas (the embedded default).
    pub fn single(backend: Arc<dyn StorageBackend>) -> Self {
        Topology {
            primary: BackendSpec::ready("main", backend),
            replicas: Vec::new(),
            read_failover: false,
            replica_max_log_bytes: 4 << 30,
            lag_warn: Duration::from_secs(600),
        }
    }
}

/// A backend as the engine holds it: opened on demand, with its health.
pub(crate) struct Slot {
    pub(crate) name: String,
    pub(crate) kind: String,
    open: Opener,
    current: RwLock<Option<Arc<dyn StorageBackend>>>,
    health: Mutex<Health>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Health {
    /// The last failure, while the backend is failing.
    last_error: Option<String>,
    /// When it started failing.
    down_since: Option<Instant>,
}

/// A backend's health as [`crate::Store::storage_status`] reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlotHealth {
    /// True while the backend answers.
    pub up: bool,
    /// The last failure, while it fails.
    pub last_error: Option<String>,
    /// Seconds since it started failing.
    pub down_seconds: Option<f64>,
}

impl Slot {
    pub(crate) fn new(spec: BackendSpec) -> Self {
        Slot {
            name: spec.name,
            kind: spec.kind,
            open: spec.open,
            current: RwLock::new(None),
            health: Mutex::new(Health::default()),
        }
    }

    /// The backend if it is open.
    pub(crate) fn get(&self) -> Result<Arc<dyn StorageBackend>, StorageError> {
        if let Some(b) = self.current.read().as_ref() {
            return Ok(Arc::clone(b));
        }
        let h = self.health.lock();
        Err(StorageError::Unavailable(format!(
            "backend `{}` is not open{}",
            self.name,
            h.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )))
    }

    /// The backend, opening it first when it is not open. Callers pace their retries
    /// themselves (the cache service and the followers back off).
    pub(crate) async fn ensure(&self) -> Result<Arc<dyn StorageBackend>, StorageError> {
        if let Ok(b) = self.get() {
            return Ok(b);
        }
        match (self.open)().await {
            Ok(b) => {
                *self.current.write() = Some(Arc::clone(&b));
                self.succeeded();
                Ok(b)
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    /// Notes a successful call.
    pub(crate) fn succeeded(&self) {
        let mut h = self.health.lock();
        if h.last_error.is_some() {
            tracing::info!(backend = %self.name, "storage backend answers again");
        }
        *h = Health::default();
    }

    /// Notes a failed call. Logs once per change of state, not on every retry.
    pub(crate) fn failed(&self, e: &StorageError) {
        let mut h = self.health.lock();
        let msg = e.to_string();
        if h.last_error.is_none() {
            tracing::warn!(backend = %self.name, error = %msg, "storage backend failing");
            h.down_since = Some(Instant::now());
        }
        h.last_error = Some(msg);
    }

    /// Whether the last call failed.
    pub(crate) fn is_down(&self) -> bool {
        self.health.lock().last_error.is_some()
    }

    pub(crate) fn health(&self) -> SlotHealth {
        let h = self.health.lock();
        SlotHealth {
            up: h.last_error.is_none() && self.current.read().is_some(),
            last_error: h.last_error.clone(),
            down_seconds: h.down_since.map(|d| d.elapsed().as_secs_f64()),
        }
    }

    /// Closes the backend if it is open.
    pub(crate) async fn close(&self) -> Result<(), StorageError> {
        let b = self.current.write().take();
        match b {
            Some(b) => b.close().await,
            None => Ok(()),
        }
    }
}
