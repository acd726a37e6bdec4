//! Collectors: plugins of the `collector-plugin` world that the host runs on a schedule and
//! whose samples it writes through [`clio_core::Store::write`] (validated, logged,
//! acknowledged), like any client's points.
//!
//! Each configured instance ([`CollectorSpec`], from `[[collectors]]`) runs on its own tokio
//! task: it sleeps until the next time of its [`Schedule`], then runs once on a blocking
//! thread, and only then computes the next time, so runs of one instance never overlap (a
//! run that takes longer than the interval skips the times it missed). A run takes the
//! plugin serving at that moment: after a hot reload the instance is re-created and
//! configured again. Its instance is otherwise kept between runs (a collector may keep
//! connections or state); a trap, timeout or memory-limit hit discards it.
//!
//! Bounds: guest code runs under the epoch deadline (`timeout`), memory under the limiter;
//! HTTP timeouts are clipped to what is left of the deadline. A host call blocked in socket
//! I/O cannot be interrupted by the epoch; the task then reports the instance `hung` after
//! `timeout` plus a grace period and starts no new run until that call returns. Other
//! instances run on their own tasks and threads and are not affected.
//!
//! A run's failure is logged once per change of state (ok → failing, one failure → another,
//! failing → ok), not every run; every run is counted through [`CollectorObserver`].

pub(crate) mod grants;
mod run;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::now_ms;
use clio_storage::Timestamp;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::host::PluginHost;
pub use clio_config::{Cron, HostGrant, Schedule};
use run::Live;

/// One configured collector instance (`[[collectors]]`).
#[derive(Debug, Clone)]
pub struct CollectorSpec {
    /// The instance name (unique; used in the API, metrics and logs).
    pub name: String,
    /// The collector plugin's name (what its `name` export answers).
    pub plugin: String,
    /// When it runs.
    pub schedule: Schedule,
    /// Hosts it may send HTTP requests to.
    pub http_hosts: Vec<HostGrant>,
    /// Addresses it may open TCP connections to.
    pub tcp: Vec<SocketAddr>,
    /// Its configuration, a JSON object handed to `configure`.
    pub config_json: String,
    /// Wall time of one run (the `collect` call, or instantiation plus `configure`).
    pub timeout: Duration,
    /// Linear memory of its instance, bytes.
    pub memory_bytes: usize,
    /// Most samples one run may return.
    pub max_points: usize,
    /// Whether it runs from start-up (else it waits for `start`).
    pub enabled: bool,
}

/// How a run ended, as the `outcome` label of `clio_collector_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Samples collected and written (possibly none).
    Ok,
    /// The collector reported an error of its own (or rejected its configuration).
    Error,
    /// It trapped, ran out of memory, returned bad output, or is not loaded.
    Fault,
    /// It ran past its deadline.
    Timeout,
    /// The engine refused the samples.
    WriteError,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Fault => "fault",
            Outcome::Timeout => "timeout",
            Outcome::WriteError => "write_error",
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Points written.
    pub points: u64,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// When it started (ms since the epoch).
    pub started_at: Timestamp,
    /// Why it failed.
    pub error: Option<String>,
}

/// Receives every finished run (the server turns them into metrics).
pub trait CollectorObserver: Send + Sync + 'static {
    /// One run of `collector` ended.
    fn run_finished(&self, collector: &str, report: &RunReport);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl CollectorObserver for NoObserver {
    fn run_finished(&self, _: &str, _: &RunReport) {}
}

/// One instance, as `GET /api/v1/collectors` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectorStatus {
    /// Instance name.
    pub name: String,
    /// Plugin name.
    pub plugin: String,
    /// The schedule, as text (`every 10000ms`, `cron */5 * * * *`).
    pub schedule: String,
    /// `running` (scheduled, last run fine or none yet), `failing` (scheduled, last run
    /// failed), `stopped`, or `hung` (a run is stuck in a host call past its deadline).
    pub state: &'static str,
    /// A run is in progress.
    pub busy: bool,
    /// The next scheduled run (ms), when running.
    pub next_run: Option<Timestamp>,
    /// The last run.
    pub last_run: Option<RunReport>,
    /// Runs since start.
    pub runs: u64,
    /// Runs that did not end `ok`.
    pub errors: u64,
    /// Points written since start.
    pub points: u64,
    /// The last failure's message (kept after recovery).
    pub last_error: Option<String>,
}

/// Why an API request about a collector failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// No instance of this name is configured (HTTP 404).
    #[error("no collector named `{0}`")]
    NotFound(String),
    /// The instance's task is gone (shutting down) (HTTP 503).
    #[error("collector `{0}` is shutting down")]
    Gone(String),
}

#[derive(Debug, Default)]
struct Shared {
    enabled: bool,
    busy: bool,
    hung: bool,
    next_run: Option<Timestamp>,
    last_run: Option<RunReport>,
    runs: u64,
    errors: u64,
    points: u64,
    last_error: Option<String>,
}

enum Command {
    Start,
    Stop,
    Run(oneshot::Sender<RunReport>),
}

struct Handle {
    spec: CollectorSpec,
    shared: Arc<Mutex<Shared>>,
    tx: mpsc::Sender<Command>,
}

/// Every configured collector instance, each on its own task. Cheap to clone.
#[derive(Clone)]
pub struct Collectors {
    handles: Arc<BTreeMap<String, Handle>>,
}

impl std::fmt::Debug for Collectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collectors")
            .field("instances", &self.handles.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Extra wall time a run gets before the task declares it hung (it is blocked in a host
/// call the epoch cannot interrupt).
const HUNG_GRACE: Duration = Duration::from_secs(2);

impl Collectors {
    /// Starts a task per instance (inside a tokio runtime). Instances whose plugin is not
    /// loaded still start: each run looks the plugin up and fails (`fault`) until it is.
    pub fn start(
        host: PluginHost,
        specs: Vec<CollectorSpec>,
        observer: Arc<dyn CollectorObserver>,
        shutdown: CancellationToken,
    ) -> Collectors {
        let mut handles = BTreeMap::new();
        for spec in specs {
            let shared = Arc::new(Mutex::new(Shared {
                enabled: spec.enabled,
                ..Shared::default()
            }));
            let (tx, rx) = mpsc::channel(16);
            let task = Task {
                host: host.clone(),
                spec: spec.clone(),
                shared: Arc::clone(&shared),
                observer: Arc::clone(&observer),
                live: None,
                failing: None,
            };
            tokio::spawn(task.run(rx, shutdown.clone()));
            handles.insert(spec.name.clone(), Handle { spec, shared, tx });
        }
        if !handles.is_empty() {
            info!(collectors = handles.len(), "collectors started");
        }
        Collectors {
            handles: Arc::new(handles),
        }
    }

    /// Every instance, by name.
    pub fn list(&self) -> Vec<CollectorStatus> {
        self.handles.values().map(status_of).collect()
    }

    /// One instance.
    pub fn get(&self, name: &str) -> Result<CollectorStatus, CollectorError> {
        self.handles
            .get(name)
            .map(status_of)
            .ok_or_else(|| CollectorError::NotFound(name.to_string()))
    }

    async fn send(&self, name: &str, cmd: Command) -> Result<&Handle, CollectorError> {
        let h = self
            .handles
            .get(name)
            .ok_or_else(|| CollectorError::NotFound(name.to_string()))?;
        h.tx.send(cmd)
            .await
            .map_err(|_| CollectorError::Gone(name.to_string()))?;
        Ok(h)
    }

    /// Schedules the instance again (from its next time).
    pub async fn start_one(&self, name: &str) -> Result<CollectorStatus, CollectorError> {
        let h = self.send(name, Command::Start).await?;
        h.shared.lock().enabled = true;
        Ok(status_of(h))
    }

    /// Stops scheduling the instance (a run in progress finishes).
    pub async fn stop_one(&self, name: &str) -> Result<CollectorStatus, CollectorError> {
        let h = self.send(name, Command::Stop).await?;
        let mut s = h.shared.lock();
        s.enabled = false;
        s.next_run = None;
        drop(s);
        Ok(status_of(h))
    }

    /// Runs the instance now (after a run in progress), whether or not it is scheduled, and
    /// waits for the report.
    pub async fn run_now(&self, name: &str) -> Result<RunReport, CollectorError> {
        let (tx, rx) = oneshot::channel();
        self.send(name, Command::Run(tx)).await?;
        rx.await.map_err(|_| CollectorError::Gone(name.to_string()))
    }
}

fn status_of(h: &Handle) -> CollectorStatus {
    let s = h.shared.lock();
    let failing = s
        .last_run
        .as_ref()
        .is_some_and(|r| r.outcome != Outcome::Ok);
    CollectorStatus {
        name: h.spec.name.clone(),
        plugin: h.spec.plugin.clone(),
        schedule: h.spec.schedule.to_string(),
        state: if s.hung {
            "hung"
        } else if !s.enabled {
            "stopped"
        } else if failing {
            "failing"
        } else {
            "running"
        },
        busy: s.busy,
        next_run: s.next_run.filter(|_| s.enabled),
        last_run: s.last_run.clone(),
        runs: s.runs,
        errors: s.errors,
        points: s.points,
        last_error: s.last_error.clone(),
    }
}

/// One instance's task.
struct Task {
    host: PluginHost,
    spec: CollectorSpec,
    shared: Arc<Mutex<Shared>>,
    observer: Arc<dyn CollectorObserver>,
    /// The instance kept between runs.
    live: Option<Live>,
    /// The failure state last logged (`None` = fine).
    failing: Option<(Outcome, String)>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut enabled = self.spec.enabled;
        loop {
            let next = self.spec.schedule.next_after(now_ms());
            self.shared.lock().next_run = enabled.then_some(next);
            let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Command::Start) => enabled = true,
                    Some(Command::Stop) => enabled = false,
                    Some(Command::Run(reply)) => {
                        let report = self.run_once().await;
                        let _ = reply.send(report);
                    }
                },
                _ = tokio::time::sleep(wait), if enabled => {
                    self.run_once().await;
                }
            }
        }
    }

    /// One run: collect on a blocking thread, then write.
    async fn run_once(&mut self) -> RunReport {
        let started = Instant::now();
        let started_at = now_ms();
        self.shared.lock().busy = true;
        let live = self.live.take();
        let host = self.host.clone();
        let spec = self.spec.clone();
        let mut job =
            tokio::task::spawn_blocking(move || run::collect(&host, &spec, live, started_at));
        let joined = match tokio::time::timeout(self.spec.timeout + HUNG_GRACE, &mut job).await {
            Ok(j) => j,
            Err(_) => {
                self.shared.lock().hung = true;
                warn!(collector = %self.spec.name, timeout_ms = self.spec.timeout.as_millis() as u64,
                    "collector run is stuck in a host call past its deadline; no new run starts until it returns");
                let j = job.await;
                self.shared.lock().hung = false;
                j
            }
        };
        let (outcome, points, error) = match joined {
            Err(e) => (Outcome::Fault, 0, Some(format!("run task failed: {e}"))),
            Ok((live, collected)) => {
                self.live = live;
                match collected {
                    Err((outcome, msg)) => (outcome, 0, Some(msg)),
                    Ok(points) if points.is_empty() => (Outcome::Ok, 0, None),
                    Ok(points) => match self.host.inner.store.write(points).await {
                        Ok(r) => (Outcome::Ok, r.points as u64, None),
                        Err(e) => (Outcome::WriteError, 0, Some(e.to_string())),
                    },
                }
            }
        };
        let report = RunReport {
            outcome,
            points,
            duration_ms: started.elapsed().as_millis() as u64,
            started_at,
            error,
        };
        self.record(&report);
        report
    }

    fn record(&mut self, report: &RunReport) {
        {
            let mut s = self.shared.lock();
            s.busy = false;
            s.runs += 1;
            s.points += report.points;
            if report.outcome != Outcome::Ok {
                s.errors += 1;
                s.last_error = report.error.clone();
            }
            s.last_run = Some(report.clone());
        }
        self.observer.run_finished(&self.spec.name, report);
        // Logged once per change of state, not every run.
        let now = match (&report.outcome, &report.error) {
            (Outcome::Ok, _) => None,
            (o, e) => Some((*o, e.clone().unwrap_or_default())),
        };
        if now != self.failing {
            match &now {
                Some((o, e)) => warn!(collector = %self.spec.name, plugin = %self.spec.plugin,
                    outcome = o.as_str(), error = %e, "collector failing"),
                None => {
                    info!(collector = %self.spec.name, points = report.points, "collector running")
                }
            }
            self.failing = now;
        }
    }
}
