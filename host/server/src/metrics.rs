//! What an operator watches: request rates and latencies per front end and operation, ingest
//! counts, socket errors, queue lengths, plus the engine's own figures (cache size and hit
//! ratio, log size, flushes), in Prometheus text format at `GET /metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use clio_core::EngineStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// `http` or `tcp`.
    pub proto: &'static str,
    /// The operation, e.g. `write`, `points`, `getByIdx`.
    pub op: &'static str,
}

/// Labels of the request outcome counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `http` or `tcp`.
    pub proto: &'static str,
    /// `ok`, `client_error` or `server_error`.
    pub outcome: &'static str,
}

/// Labels of the HTTP timeout counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TimeoutLabels {
    /// `header` (headers incomplete, or an idle kept-alive connection), `body`, or `write`
    /// (a client that stopped reading its response).
    pub kind: &'static str,
}

/// Labels of the authentication counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// `http` or `tcp`.
    pub proto: &'static str,
    /// `invalid` (wrong, unknown or revoked credentials), `throttled` (too many failures),
    /// `missing` (no credentials where they are needed) or `forbidden` (a role or scope
    /// refused the request).
    pub reason: &'static str,
}

/// Labels of the collector run counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectorRunLabels {
    /// The instance name.
    pub collector: String,
    /// `ok`, `error`, `fault`, `timeout` or `write_error`.
    pub outcome: &'static str,
}

/// Labels of per-collector metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectorLabels {
    /// The instance name.
    pub collector: String,
}

/// Labels of per-backend storage metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// The backend's configured name.
    pub backend: String,
    /// `primary` or `replica`.
    pub role: String,
}

/// Per-backend storage figures.
#[derive(Debug, Default)]
struct StorageGauges {
    up: Family<BackendLabels, Gauge>,
    lag_points: Family<BackendLabels, Gauge<u64, AtomicU64>>,
    lag_bytes: Family<BackendLabels, Gauge<u64, AtomicU64>>,
    lag_seconds: Family<BackendLabels, Gauge<f64, AtomicU64>>,
    pending_changes: Family<BackendLabels, Gauge<u64, AtomicU64>>,
    failover_reads: Counter<u64, AtomicU64>,
    archive_segments: Counter<u64, AtomicU64>,
    archive_failures: Counter<u64, AtomicU64>,
    archive_failing: Gauge,
    archive_upto: Gauge<u64, AtomicU64>,
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Request latency by front end and operation.
    pub request_seconds: Family<OpLabels, Histogram>,
    /// Requests by outcome.
    pub requests: Family<OutcomeLabels, Counter>,
    /// Points accepted over the network.
    pub points_received: Counter,
    /// Lines of line protocol rejected.
    pub lines_rejected: Counter,
    /// TCP socket and framing errors.
    pub socket_errors: Counter,
    /// Open TCP connections.
    pub tcp_connections: Gauge,
    /// Requests waiting for a query slot.
    pub queries_waiting: Gauge,
    /// Requests slower than `slow_query_sec`.
    pub slow_requests: Counter,
    /// Open HTTP connections.
    pub http_connections: Gauge,
    /// HTTP connections closed at once because `http_max_connections` were open.
    pub http_connections_refused: Counter,
    /// TCP connections closed at once because `tcp_max_connections` were open.
    pub tcp_connections_refused: Counter,
    /// HTTP connections and requests ended by a timeout, by kind.
    pub http_timeouts: Family<TimeoutLabels, Counter>,
    /// Alert figures (`clio_alerts_firing`, evaluation duration, webhook failures).
    pub alerts: crate::alerts::AlertMetrics,
    /// The Glass AI quality schedule's figures.
    pub glass_quality: crate::glass_jobs::quality::QualityMetrics,
    /// Authentication and authorization failures, by front end and reason.
    pub auth_failures: Family<AuthLabels, Counter>,
    /// Requests refused with 429 by a rate limit, by front end.
    pub rate_limited: Family<AuthLabels, Counter>,
    /// Collector runs by instance and outcome.
    pub collector_runs: Family<CollectorRunLabels, Counter>,
    /// Points written by each collector instance.
    pub collector_points: Family<CollectorLabels, Counter>,
    /// Wall time of collector runs.
    pub collector_seconds: Family<CollectorLabels, Histogram>,
    engine: EngineGauges,
    storage: StorageGauges,
}

#[derive(Debug, Default)]
struct EngineGauges {
    series: Gauge,
    cache_points: Gauge,
    cache_bytes: Gauge,
    cache_unflushed: Gauge,
    cache_hits: Counter<u64, AtomicU64>,
    cache_misses: Counter<u64, AtomicU64>,
    cache_evicted: Counter<u64, AtomicU64>,
    cache_warmed: Counter<u64, AtomicU64>,
    wal_bytes: Gauge<u64, AtomicU64>,
    wal_syncs: Counter<u64, AtomicU64>,
    flushes: Counter<u64, AtomicU64>,
    flush_errors: Counter<u64, AtomicU64>,
    last_flush_ms: Gauge<u64, AtomicU64>,
    last_flush_points: Gauge<u64, AtomicU64>,
    flushed_points: Counter<u64, AtomicU64>,
    points_written: Counter<u64, AtomicU64>,
    restamped: Counter<u64, AtomicU64>,
    hk_runs: Counter<u64, AtomicU64>,
    hk_points: Counter<u64, AtomicU64>,
    hk_buckets: Counter<u64, AtomicU64>,
    hk_zombies: Counter<u64, AtomicU64>,
    hk_last_ms: Gauge<u64, AtomicU64>,
    hk_running: Gauge,
    backup_last_success: Gauge<f64, AtomicU64>,
    backup_last_seconds: Gauge<f64, AtomicU64>,
    backup_last_bytes: Gauge<u64, AtomicU64>,
    backup_failures: prometheus_client::metrics::counter::Counter,
    wal_failing: Gauge,
    flush_failing: Gauge,
    degraded: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("clio");
        let request_seconds = Family::<OpLabels, Histogram>::new_with_constructor(|| {
            // 10 µs .. ~40 s.
            Histogram::new(exponential_buckets(0.000_01, 2.5, 17))
        });
        registry.register(
            "request_duration_seconds",
            "Request latency by front end and operation",
            request_seconds.clone(),
        );
        let requests = Family::<OutcomeLabels, Counter>::default();
        registry.register("requests", "Requests by outcome", requests.clone());
        let points_received = Counter::default();
        registry.register(
            "points_received",
            "Points accepted over HTTP and TCP",
            points_received.clone(),
        );
        let lines_rejected = Counter::default();
        registry.register(
            "lines_rejected",
            "Line-protocol lines rejected as malformed",
            lines_rejected.clone(),
        );
        let socket_errors = Counter::default();
        registry.register(
            "socket_errors",
            "TCP socket and framing errors",
            socket_errors.clone(),
        );
        let tcp_connections = Gauge::default();
        registry.register(
            "tcp_connections",
            "Open TCP connections",
            tcp_connections.clone(),
        );
        let queries_waiting = Gauge::default();
        registry.register(
            "queries_waiting",
            "Requests waiting for a query slot",
            queries_waiting.clone(),
        );
        let slow_requests = Counter::default();
        registry.register(
            "slow_requests",
            "Requests slower than slow_query_sec",
            slow_requests.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "http_connections",
            "Open HTTP connections",
            http_connections.clone(),
        );
        let http_connections_refused = Counter::default();
        registry.register(
            "http_connections_refused",
            "HTTP connections closed at once because server.http_max_connections were open",
            http_connections_refused.clone(),
        );
        let tcp_connections_refused = Counter::default();
        registry.register(
            "tcp_connections_refused",
            "TCP connections closed at once because server.tcp_max_connections were open",
            tcp_connections_refused.clone(),
        );
        let http_timeouts = Family::<TimeoutLabels, Counter>::default();
        registry.register(
            "http_timeouts",
            "HTTP connections (headers, idle, a client not reading) and requests (body) ended by a timeout",
            http_timeouts.clone(),
        );
        let alerts = crate::alerts::AlertMetrics::default();
        alerts.register(&mut registry);
        let glass_quality = crate::glass_jobs::quality::QualityMetrics::default();
        glass_quality.register(&mut registry);
        let auth_failures = Family::<AuthLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Authentication and authorization failures (401 and 403), by front end and reason",
            auth_failures.clone(),
        );
        let rate_limited = Family::<AuthLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit (429), by front end and limit",
            rate_limited.clone(),
        );
        let collector_runs = Family::<CollectorRunLabels, Counter>::default();
        registry.register(
            "collector_runs",
            "Collector runs by instance and outcome",
            collector_runs.clone(),
        );
        let collector_points = Family::<CollectorLabels, Counter>::default();
        registry.register(
            "collector_points",
            "Points written by collector instances",
            collector_points.clone(),
        );
        let collector_seconds = Family::<CollectorLabels, Histogram>::new_with_constructor(|| {
            // 100 µs .. ~400 s.
            Histogram::new(exponential_buckets(0.000_1, 2.5, 17))
        });
        registry.register(
            "collector_run_duration_seconds",
            "Wall time of collector runs",
            collector_seconds.clone(),
        );
        let engine = EngineGauges::default();
        let e = &engine;
        registry.register("series", "Series in the catalog", e.series.clone());
        registry.register(
            "cache_points",
            "Points held in the cache",
            e.cache_points.clone(),
        );
        registry.register(
            "cache_bytes",
            "Estimated cache memory",
            e.cache_bytes.clone(),
        );
        registry.register(
            "cache_unflushed_points",
            "Acknowledged points not yet in storage",
            e.cache_unflushed.clone(),
        );
        registry.register(
            "cache_hits",
            "Reads answered from memory alone (total)",
            e.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Reads that needed storage (total)",
            e.cache_misses.clone(),
        );
        registry.register(
            "cache_evicted_points",
            "Flushed points evicted for the memory budget (total)",
            e.cache_evicted.clone(),
        );
        registry.register(
            "cache_warmed_series",
            "Series whose newest points the warm-up after the start loaded from storage (total)",
            e.cache_warmed.clone(),
        );
        registry.register(
            "wal_bytes",
            "Bytes in the write-ahead log",
            e.wal_bytes.clone(),
        );
        registry.register(
            "wal_syncs",
            "fsyncs of the write-ahead log (total)",
            e.wal_syncs.clone(),
        );
        registry.register(
            "flushes",
            "Completed cache flushes (total)",
            e.flushes.clone(),
        );
        registry.register(
            "flush_errors",
            "Failed cache flushes (total)",
            e.flush_errors.clone(),
        );
        registry.register(
            "last_flush_milliseconds",
            "Duration of the last flush",
            e.last_flush_ms.clone(),
        );
        registry.register(
            "last_flush_points",
            "Points of the last flush",
            e.last_flush_points.clone(),
        );
        registry.register(
            "flushed_points",
            "Points flushed to storage (total)",
            e.flushed_points.clone(),
        );
        registry.register(
            "points_written",
            "Points acknowledged by the engine (total)",
            e.points_written.clone(),
        );
        registry.register(
            "points_restamped",
            "Points stored at their receive time (total)",
            e.restamped.clone(),
        );
        registry.register(
            "housekeeper_runs",
            "Finished housekeeper runs (total)",
            e.hk_runs.clone(),
        );
        registry.register(
            "housekeeper_deleted_points",
            "Raw points deleted by retention (total)",
            e.hk_points.clone(),
        );
        registry.register(
            "housekeeper_deleted_buckets",
            "Trend buckets deleted by retention (total)",
            e.hk_buckets.clone(),
        );
        registry.register(
            "housekeeper_zombies_removed",
            "Zombie series removed (total)",
            e.hk_zombies.clone(),
        );
        registry.register(
            "housekeeper_last_run_milliseconds",
            "Duration of the last housekeeper run",
            e.hk_last_ms.clone(),
        );
        registry.register(
            "housekeeper_running",
            "1 while a housekeeper run is in progress",
            e.hk_running.clone(),
        );
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the last successful backup was taken (Unix seconds; 0: none since start)",
            e.backup_last_success.clone(),
        );
        registry.register(
            "backup_last_duration_seconds",
            "How long the last successful backup took",
            e.backup_last_seconds.clone(),
        );
        registry.register(
            "backup_last_size_bytes",
            "Bytes stored by the last successful backup",
            e.backup_last_bytes.clone(),
        );
        registry.register(
            "backup_failures",
            "Backups that failed since start",
            e.backup_failures.clone(),
        );
        registry.register(
            "wal_write_failing",
            "1 while the write-ahead log cannot be written (writes fail; /health says why)",
            e.wal_failing.clone(),
        );
        registry.register(
            "flush_failing",
            "1 while flushes to storage fail (points wait in the log; /health says why)",
            e.flush_failing.clone(),
        );
        registry.register(
            "degraded",
            "1 while /health says degraded",
            e.degraded.clone(),
        );
        let storage = StorageGauges::default();
        registry.register(
            "storage_backend_up",
            "1 while a storage backend answers",
            storage.up.clone(),
        );
        registry.register(
            "storage_replica_lag_points",
            "Points in the log a replica has not written yet",
            storage.lag_points.clone(),
        );
        registry.register(
            "storage_replica_lag_bytes",
            "Log bytes a replica has not read yet",
            storage.lag_bytes.clone(),
        );
        registry.register(
            "storage_replica_lag_seconds",
            "Seconds since a replica last held everything the primary holds",
            storage.lag_seconds.clone(),
        );
        registry.register(
            "storage_pending_changes",
            "Changes waiting for the primary (it was down when they were made)",
            storage.pending_changes.clone(),
        );
        registry.register(
            "storage_failover_reads",
            "Reads a replica answered because the primary failed",
            storage.failover_reads.clone(),
        );
        registry.register(
            "archive_segments",
            "Log segments archived (`[backup] archive_dir` or archive_command) since the start",
            storage.archive_segments.clone(),
        );
        registry.register(
            "archive_failures",
            "Failed log-archiving attempts since the start (each is retried at the next flush)",
            storage.archive_failures.clone(),
        );
        registry.register(
            "archive_failing",
            "1 while log archiving fails (segments stay in the log; /api/v1/storage says why)",
            storage.archive_failing.clone(),
        );
        registry.register(
            "archive_archived_upto_segment",
            "Every log segment up to this number is archived",
            storage.archive_upto.clone(),
        );
        Metrics {
            registry,
            storage,
            request_seconds,
            requests,
            points_received,
            lines_rejected,
            socket_errors,
            tcp_connections,
            queries_waiting,
            slow_requests,
            http_connections,
            http_connections_refused,
            tcp_connections_refused,
            http_timeouts,
            alerts,
            glass_quality,
            auth_failures,
            rate_limited,
            collector_runs,
            collector_points,
            collector_seconds,
            engine,
        }
    }

    /// Updates the housekeeper figures before a render.
    pub fn set_housekeeper(&self, status: &clio_housekeeper::Status) {
        let e = &self.engine;
        e.hk_runs
            .inner()
            .store(status.deleted.runs, Ordering::Relaxed);
        e.hk_points
            .inner()
            .store(status.deleted.points, Ordering::Relaxed);
        e.hk_buckets
            .inner()
            .store(status.deleted.buckets, Ordering::Relaxed);
        e.hk_zombies
            .inner()
            .store(status.deleted.zombies, Ordering::Relaxed);
        e.hk_last_ms.set(status.deleted.last_run_millis);
        e.hk_running.set(i64::from(status.running));
    }

    /// Records a backup's outcome.
    pub fn set_backup(&self, last: Option<&crate::backup::Outcome>, failed: bool) {
        let e = &self.engine;
        if let Some(o) = last {
            e.backup_last_success.set(o.at_ms as f64 / 1000.0);
            e.backup_last_seconds.set(o.seconds);
            e.backup_last_bytes.set(o.stored_bytes);
        }
        if failed {
            e.backup_failures.inc();
        }
    }

    /// Renders every metric, taking the engine figures from `stats`.
    pub fn render(&self, stats: &EngineStats, storage: &clio_core::StorageStatus) -> String {
        let st = &self.storage;
        st.failover_reads
            .inner()
            .store(storage.failover_reads, Ordering::Relaxed);
        if let Some(a) = &storage.archive {
            st.archive_segments
                .inner()
                .store(a.segments, Ordering::Relaxed);
            st.archive_failures
                .inner()
                .store(a.failures, Ordering::Relaxed);
            st.archive_failing.set(i64::from(a.failing.is_some()));
            st.archive_upto.set(a.archived_upto);
        }
        for b in &storage.backends {
            let l = BackendLabels {
                backend: b.name.clone(),
                role: b.role.to_string(),
            };
            st.up
                .get_or_create(&l)
                .set(i64::from(b.health.up && b.state != "down"));
            if let Some(p) = b.pending_changes {
                st.pending_changes.get_or_create(&l).set(p);
            }
            if let Some(r) = &b.replica {
                st.lag_points.get_or_create(&l).set(r.lag_points);
                st.lag_bytes.get_or_create(&l).set(r.lag_bytes);
                st.lag_seconds.get_or_create(&l).set(r.lag_seconds);
            }
        }
        let e = &self.engine;
        let i = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        e.series.set(i(stats.series));
        e.cache_points.set(i(stats.cache.points));
        e.cache_bytes.set(i(stats.cache.bytes));
        e.cache_unflushed.set(i(stats.cache.dirty_points));
        e.cache_hits
            .inner()
            .store(stats.cache_hits, Ordering::Relaxed);
        e.cache_misses
            .inner()
            .store(stats.cache_misses, Ordering::Relaxed);
        e.cache_evicted
            .inner()
            .store(stats.cache_evicted, Ordering::Relaxed);
        e.cache_warmed
            .inner()
            .store(stats.cache_warmed_series, Ordering::Relaxed);
        e.wal_bytes.set(stats.wal_bytes);
        e.wal_syncs
            .inner()
            .store(stats.wal_syncs, Ordering::Relaxed);
        e.flushes.inner().store(stats.flushes, Ordering::Relaxed);
        e.flush_errors
            .inner()
            .store(stats.flush_errors, Ordering::Relaxed);
        e.last_flush_ms.set(stats.last_flush_millis);
        e.last_flush_points.set(stats.last_flush_points);
        e.flushed_points
            .inner()
            .store(stats.flushed_points, Ordering::Relaxed);
        e.points_written
            .inner()
            .store(stats.points_written, Ordering::Relaxed);
        e.restamped
            .inner()
            .store(stats.restamped, Ordering::Relaxed);
        e.wal_failing.set(i64::from(stats.wal_failing.is_some()));
        e.flush_failing
            .set(i64::from(stats.flush_failing.is_some()));
        e.degraded.set(i64::from(storage.status != "ok"));
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        out
    }
}

/// Turns collector runs into metrics (`clio_collector_runs_total{collector,outcome}`,
/// `clio_collector_points_total`, `clio_collector_run_duration_seconds`).
#[derive(Debug)]
pub struct CollectorMetrics(pub crate::state::AppState);

impl clio_plugins::CollectorObserver for CollectorMetrics {
    fn run_finished(&self, collector: &str, report: &clio_plugins::RunReport) {
        let m = self.0.metrics();
        m.collector_runs
            .get_or_create(&CollectorRunLabels {
                collector: collector.to_string(),
                outcome: report.outcome.as_str(),
            })
            .inc();
        let labels = CollectorLabels {
            collector: collector.to_string(),
        };
        m.collector_points
            .get_or_create(&labels)
            .inc_by(report.points);
        m.collector_seconds
            .get_or_create(&labels)
            .observe(report.duration_ms as f64 / 1000.0);
    }
}
