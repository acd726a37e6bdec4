//! Where reads go (the primary, or a caught-up replica when it fails and failover is on) and
//! what `/api/v1/storage` reports of every backend.

use serde::Serialize;

use super::*;
use crate::replica::ReplicaStatus;
use crate::topology::SlotHealth;

/// One backend's status.
#[derive(Debug, Clone, Serialize)]
pub struct BackendStatus {
    /// Its configured name.
    pub name: String,
    /// Its type (`sqlite`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `primary` or `replica`.
    pub role: &'static str,
    /// `up` / `down` for the primary; `following` / `resyncing` / `down` for a replica.
    pub state: String,
    /// Whether it answers, and its last error.
    #[serde(flatten)]
    pub health: SlotHealth,
    /// Replication figures (replicas only).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaStatus>,
    /// Changes waiting for it (primary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_changes: Option<u64>,
    /// Points acknowledged but not in it yet (primary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unflushed_points: Option<u64>,
    /// The last log segment it holds (primary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flushed_segment: Option<u64>,
}

/// Every backend's status.
#[derive(Debug, Clone, Serialize)]
pub struct StorageStatus {
    /// `ok`, or `degraded` while a backend fails, the log cannot be written or flushes fail.
    pub status: &'static str,
    /// Why the write-ahead log cannot be written, while it cannot (writes fail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_failing: Option<String>,
    /// Why the last flush failed, until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_failing: Option<String>,
    /// Whether reads fail over to a caught-up replica.
    pub read_failover: bool,
    /// Reads a replica answered since start.
    pub failover_reads: u64,
    /// The primary first, then the replicas in configured order.
    pub backends: Vec<BackendStatus>,
    /// Log archiving, while `[backup] archive_dir` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<super::archive::ArchiveStatus>,
}

tokio::task_local! {
    /// The replica that answered a read's storage part, set while [`Store::read`] runs.
    pub(super) static SERVED_BY: std::cell::RefCell<Option<String>>;
}

impl Store {
    /// The backend a read's storage part goes to: the primary; when it is failing and
    /// `read_failover` is on, a replica that has written everything the primary holds.
    pub(crate) fn read_backend(&self) -> Result<Arc<dyn StorageBackend>> {
        let inner = &self.inner;
        let primary = inner.primary.get();
        if inner.read_failover && (primary.is_err() || inner.primary.is_down()) {
            let flushed = inner.flushed_upto.load(Ordering::Acquire);
            for f in &inner.replicas {
                if let Some(b) = f.backend_if_caught_up(flushed) {
                    inner
                        .counters
                        .failover_reads
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(replica = %f.name(), "read served by a replica (primary failing)");
                    let _ = SERVED_BY.try_with(|c| *c.borrow_mut() = Some(f.name().to_string()));
                    return Ok(b);
                }
            }
        }
        Ok(primary?)
    }

    /// Every backend's status, for `/api/v1/storage`, `/health` and metrics.
    pub fn storage_status(&self) -> StorageStatus {
        let inner = &self.inner;
        let ph = inner.primary.health();
        let mut backends = vec![BackendStatus {
            name: inner.primary.name.clone(),
            kind: inner.primary.kind.clone(),
            role: "primary",
            state: if ph.up { "up" } else { "down" }.into(),
            health: ph,
            replica: None,
            pending_changes: Some(inner.pending_len.load(Ordering::Relaxed)),
            unflushed_points: Some(inner.cache.dirty_points() as u64),
            flushed_segment: Some(inner.flushed_upto.load(Ordering::Relaxed)),
        }];
        for f in &inner.replicas {
            let r = f.status(self);
            let h = f.slot().health();
            backends.push(BackendStatus {
                name: f.name().to_string(),
                kind: f.slot().kind.clone(),
                role: "replica",
                state: serde_json::to_value(r.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                health: h,
                replica: Some(r),
                pending_changes: None,
                unflushed_points: None,
                flushed_segment: None,
            });
        }
        let wal_failing = inner.wal.failing();
        let flush_failing = inner.flush_failing.lock().clone();
        let archive = inner.archiver.as_ref().map(|a| a.status());
        let degraded = backends.iter().any(|b| !b.health.up || b.state == "down")
            || wal_failing.is_some()
            || flush_failing.is_some()
            || archive.as_ref().is_some_and(|a| a.failing.is_some());
        StorageStatus {
            status: if degraded { "degraded" } else { "ok" },
            wal_failing,
            flush_failing,
            read_failover: inner.read_failover,
            failover_reads: inner.counters.failover_reads.load(Ordering::Relaxed),
            backends,
            archive,
        }
    }
}
