//! The housekeeping loop: one run at start and every `interval`, on demand, resumable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clio_core::Store;
use clio_storage::{Expiry, SeriesFilter, SeriesId, Timestamp};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::policy::{Decision, RetentionPolicy, SeriesUsage, StoreUsage};
use crate::state::{Persisted, Progress, StateFile};

/// Housekeeper settings (seed defaults).
#[derive(Debug, Clone)]
pub struct HousekeeperOptions {
    /// Time between runs (`housekeeper_interval`, 30 min).
    pub interval: Duration,
    /// Series handled per batch (`max_number_objects_to_delete_at_time`, 100).
    pub batch_size: usize,
    /// Pause between batches (`pause_between_deleting_series_objects`, 1000 ms), so ingest
    /// and queries keep the upper hand.
    pub pause: Duration,
    /// Progress is logged this often during a run (`housekeeper_watchdog_check_interval`,
    /// 5 min).
    pub watchdog: Duration,
}

impl Default for HousekeeperOptions {
    fn default() -> Self {
        HousekeeperOptions {
            interval: Duration::from_secs(1800),
            batch_size: 100,
            pause: Duration::from_millis(1000),
            watchdog: Duration::from_secs(300),
        }
    }
}

/// Series that their owner declares dead (a deleted Glass AI sensor's series), asked at the
/// start of every run: each is a zombie, removed like a series missing from the registry.
/// An error skips the run (nothing is deleted).
pub type ZombieSource = Arc<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Vec<SeriesId>, String>> + Send>,
        > + Send
        + Sync,
>;

struct Source(ZombieSource);

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZombieSource")
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The policy used.
    pub policy: String,
    /// Start (ms); decisions are taken at this time.
    pub started: Timestamp,
    /// End (ms).
    pub finished: Timestamp,
    /// Series examined in this run (after a resume: only the rest).
    pub series: u64,
    /// Raw points deleted.
    pub deleted_points: u64,
    /// Trend buckets deleted.
    pub deleted_buckets: u64,
    /// Zombie series removed.
    pub zombies: u64,
    /// Whether the run continued an interrupted one.
    pub resumed: bool,
    /// Why the run stopped early or was skipped, if it did.
    pub error: Option<String>,
}

/// What `GET /api/v1/housekeeper` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// A run is in progress.
    pub running: bool,
    /// The policy in use.
    pub policy: String,
    /// The last finished run.
    pub last_run: Option<RunReport>,
    /// The run in progress (or interrupted and waiting to resume).
    pub progress: Option<Progress>,
    /// Totals since the process started.
    pub deleted: Totals,
    /// When the next scheduled run starts (ms).
    pub next_run: Option<Timestamp>,
    /// Whether a registry of live series was declared (zombie removal is on).
    pub registry_declared: bool,
    /// Whether a zombie source (the Glass AI sensors table) is asked at every run.
    pub zombie_source: bool,
}

/// Counters since start, also exported as metrics.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    /// Finished runs.
    pub runs: u64,
    /// Raw points deleted.
    pub points: u64,
    /// Trend buckets deleted.
    pub buckets: u64,
    /// Zombie series removed.
    pub zombies: u64,
    /// Duration of the last run (ms).
    pub last_run_millis: u64,
}

/// The housekeeper of one engine.
#[derive(Debug)]
pub struct Housekeeper {
    store: Store,
    policy: RwLock<Arc<dyn RetentionPolicy>>,
    opts: HousekeeperOptions,
    file: StateFile,
    persisted: Mutex<Persisted>,
    run_lock: tokio::sync::Mutex<()>,
    running: AtomicBool,
    run_now: Notify,
    next_run: AtomicI64,
    runs: AtomicU64,
    points: AtomicU64,
    buckets: AtomicU64,
    zombies: AtomicU64,
    last_millis: AtomicU64,
    zombie_source: RwLock<Option<Source>>,
}

impl Housekeeper {
    /// A housekeeper over `store`, keeping its state in `state_path`.
    pub fn new(
        store: Store,
        policy: Arc<dyn RetentionPolicy>,
        opts: HousekeeperOptions,
        state_path: impl Into<std::path::PathBuf>,
    ) -> Arc<Self> {
        let file = StateFile::new(state_path);
        let persisted = file.load();
        Arc::new(Housekeeper {
            store,
            policy: RwLock::new(policy),
            opts,
            file,
            persisted: Mutex::new(persisted),
            run_lock: tokio::sync::Mutex::new(()),
            running: AtomicBool::new(false),
            run_now: Notify::new(),
            next_run: AtomicI64::new(0),
            runs: AtomicU64::new(0),
            points: AtomicU64::new(0),
            buckets: AtomicU64::new(0),
            zombies: AtomicU64::new(0),
            last_millis: AtomicU64::new(0),
            zombie_source: RwLock::new(None),
        })
    }

    /// Runs at once, then every `interval` or when asked, until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let hk = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                hk.run_once(&shutdown).await;
                let wait = hk.opts.interval;
                hk.next_run.store(
                    clio_core::now_ms().saturating_add(wait.as_millis() as i64),
                    Ordering::Relaxed,
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                    _ = hk.run_now.notified() => {}
                }
            }
        })
    }

    /// Asks the loop started by [`Housekeeper::spawn`] to run now (no-op while a run is in
    /// progress).
    pub fn request_run(&self) {
        self.run_now.notify_one();
    }

    /// Replaces the policy (for hot reload); the next run uses it.
    pub fn set_policy(&self, policy: Arc<dyn RetentionPolicy>) {
        *self.policy.write() = policy;
    }

    /// Declares the live series. From the next run on, every other series is a zombie and is
    /// removed with its data. Persisted.
    pub fn declare_registry(&self, live: Vec<SeriesId>) -> std::io::Result<usize> {
        let mut ids: Vec<u64> = live.into_iter().map(|s| s.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let n = ids.len();
        let mut p = self.persisted.lock();
        p.registry = Some(ids);
        self.file.save(&p)?;
        Ok(n)
    }

    /// Asks `source` for dead series at the start of every run from now on.
    pub fn set_zombie_source(&self, source: ZombieSource) {
        *self.zombie_source.write() = Some(Source(source));
    }

    /// Current status.
    pub fn status(&self) -> Status {
        let p = self.persisted.lock();
        let next = self.next_run.load(Ordering::Relaxed);
        Status {
            running: self.running.load(Ordering::Relaxed),
            policy: self.policy.read().name(),
            last_run: p.last_run.clone(),
            progress: p.in_progress,
            deleted: self.totals(),
            next_run: (next > 0).then_some(next),
            registry_declared: p.registry.is_some(),
            zombie_source: self.zombie_source.read().is_some(),
        }
    }

    /// Counters since start.
    pub fn totals(&self) -> Totals {
        Totals {
            runs: self.runs.load(Ordering::Relaxed),
            points: self.points.load(Ordering::Relaxed),
            buckets: self.buckets.load(Ordering::Relaxed),
            zombies: self.zombies.load(Ordering::Relaxed),
            last_run_millis: self.last_millis.load(Ordering::Relaxed),
        }
    }

    fn save(&self) {
        let p = self.persisted.lock().clone();
        if let Err(e) = self.file.save(&p) {
            error!(path = %self.file.path().display(), error = %e, "cannot save housekeeper state");
        }
    }

    /// One run (or the rest of an interrupted one). Stops early, with its position saved,
    /// when `stop` is cancelled.
    pub async fn run_once(&self, stop: &CancellationToken) -> RunReport {
        let _guard = self.run_lock.lock().await;
        self.running.store(true, Ordering::Relaxed);
        let clock = Instant::now();
        let report = self.run_inner(stop).await;
        self.running.store(false, Ordering::Relaxed);
        self.last_millis
            .store(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
        report
    }

    async fn run_inner(&self, stop: &CancellationToken) -> RunReport {
        let policy = self.policy.read().clone();
        let (mut progress, resumed, registry) = {
            let p = self.persisted.lock();
            let resumed = p.in_progress.is_some();
            let progress = p.in_progress.unwrap_or(Progress {
                started: clio_core::now_ms(),
                ..Default::default()
            });
            (progress, resumed, p.registry.clone())
        };
        let now = progress.started;
        let mut report = RunReport {
            policy: policy.name(),
            started: now,
            resumed,
            ..Default::default()
        };
        let live: Option<HashSet<u64>> = registry.map(|r| r.into_iter().collect());
        let source = self.zombie_source.read().as_ref().map(|s| Arc::clone(&s.0));
        let dead: HashSet<u64> = match source {
            None => HashSet::new(),
            Some(source) => match source().await {
                Ok(ids) => ids.into_iter().map(|s| s.0).collect(),
                Err(e) => return self.skip(report, format!("cannot ask the zombie source: {e}")),
            },
        };
        let mut catalog = self.store.list_series(&SeriesFilter::default());
        catalog.sort_by_key(|s| s.id);
        if resumed {
            let left = catalog
                .iter()
                .filter(|s| progress.done_through.is_none_or(|d| s.id.0 > d))
                .count();
            info!(done_through = ?progress.done_through, left, "housekeeper resumes an interrupted run");
        }
        let todo = catalog;

        // Phase 1: every decision first, so that a failing policy deletes nothing.
        let backend = match self.store.backend() {
            Ok(b) => b,
            Err(e) => return self.skip(report, format!("the primary is not available: {e}")),
        };
        let intervals = backend.trend_intervals().to_vec();
        let mut usages = Vec::with_capacity(todo.len());
        // Every series' figures in one storage call (one query for SQLite).
        let mut all_stats: HashMap<SeriesId, clio_storage::SeriesStats> =
            match backend.stats_all().await {
                Ok(v) => v.into_iter().collect(),
                Err(e) => {
                    return self.skip(report, format!("cannot read the size of the series: {e}"));
                }
            };
        for info in todo {
            let stats = all_stats.remove(&info.id).unwrap_or_default();
            usages.push(SeriesUsage {
                info,
                points: stats.points,
                bytes: stats.bytes,
                first_ts: stats.first_ts,
                last_ts: stats.last_ts,
            });
        }
        // Decisions run on a blocking thread: a plugin policy is Wasm, whose sandboxed WASI
        // blocks, and a slow one must not hold up an async worker.
        let done_through = progress.done_through;
        let decided = tokio::task::spawn_blocking(move || {
            decide_all(
                &*policy,
                &usages,
                done_through,
                live.as_ref(),
                &dead,
                now,
                &intervals,
            )
        })
        .await;
        let plan = match decided {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => return self.skip(report, e.to_string()),
            Err(e) => return self.skip(report, format!("the policy task failed: {e}")),
        };
        {
            let mut p = self.persisted.lock();
            p.in_progress = Some(progress);
        }
        self.save();

        // Phase 2: apply in batches, saving the cursor after each.
        let mut last_log = Instant::now();
        let batch = self.opts.batch_size.max(1);
        let total = plan.len();
        for (n, chunk) in plan.chunks(batch).enumerate() {
            // Zombies go one by one; every other series of the batch is expired in one call
            // (one log record, one storage transaction).
            let mut expiries = Vec::with_capacity(chunk.len());
            for (id, decision) in chunk {
                report.series += 1;
                match decision {
                    None => match self.store.delete_series(*id).await {
                        Ok(true) => {
                            progress.zombies += 1;
                            report.zombies += 1;
                            self.zombies.fetch_add(1, Ordering::Relaxed);
                            info!(series = %id, "zombie series removed");
                        }
                        Ok(false) => {}
                        Err(e) => warn!(series = %id, error = %e, "cannot remove zombie series"),
                    },
                    Some(d) if d.is_empty() => {}
                    Some(d) => expiries.push(Expiry {
                        series: *id,
                        raw_before: d.raw_before,
                        trends_before: d.trends_before.clone(),
                    }),
                }
                progress.done_through = Some(id.0);
            }
            let (pts, bkts) = self.apply(&expiries).await;
            progress.deleted_points += pts;
            progress.deleted_buckets += bkts;
            report.deleted_points += pts;
            report.deleted_buckets += bkts;
            self.persisted.lock().in_progress = Some(progress);
            self.save();
            if last_log.elapsed() >= self.opts.watchdog {
                info!(
                    done = (n + 1) * batch,
                    total,
                    deleted_points = progress.deleted_points,
                    "housekeeper progress"
                );
                last_log = Instant::now();
            }
            if stop.is_cancelled() {
                report.error = Some("interrupted; the next run resumes here".into());
                return report;
            }
            if (n + 1) * batch < total {
                tokio::select! {
                    _ = stop.cancelled() => {
                        report.error = Some("interrupted; the next run resumes here".into());
                        return report;
                    }
                    _ = tokio::time::sleep(self.opts.pause) => {}
                }
            }
        }
        report.finished = clio_core::now_ms();
        {
            let mut p = self.persisted.lock();
            p.in_progress = None;
            p.last_run = Some(report.clone());
        }
        self.save();
        self.runs.fetch_add(1, Ordering::Relaxed);
        info!(
            series = report.series,
            points = report.deleted_points,
            buckets = report.deleted_buckets,
            zombies = report.zombies,
            "housekeeper run finished"
        );
        report
    }

    /// Expires one batch; returns the points and buckets deleted. If the batch fails as a
    /// whole, each series is retried alone, so one failing series (say, a damaged chunk)
    /// costs only its own retention, as when series were expired one by one.
    async fn apply(&self, batch: &[Expiry]) -> (u64, u64) {
        if batch.is_empty() {
            return (0, 0);
        }
        let outcomes = match self.store.expire(batch).await {
            Ok(o) => o,
            Err(e) => {
                warn!(series = batch.len(), error = %e, "batch expiry failed; retrying series one by one");
                let mut outcomes = Vec::with_capacity(batch.len());
                for one in batch {
                    match self.store.expire(std::slice::from_ref(one)).await {
                        Ok(o) => outcomes.extend(o),
                        Err(e) => {
                            warn!(series = %one.series, error = %e, "cannot delete expired data")
                        }
                    }
                }
                outcomes
            }
        };
        let points = outcomes.iter().map(|o| o.points).sum();
        let buckets = outcomes.iter().map(|o| o.buckets).sum();
        self.points.fetch_add(points, Ordering::Relaxed);
        self.buckets.fetch_add(buckets, Ordering::Relaxed);
        (points, buckets)
    }

    fn skip(&self, mut report: RunReport, why: String) -> RunReport {
        error!(error = %why, "housekeeper run skipped; nothing deleted");
        report.error = Some(why);
        report.finished = clio_core::now_ms();
        self.persisted.lock().last_run = Some(report.clone());
        self.save();
        report
    }
}

/// Phase 1 of a run: the decision for every series not done yet (`None` = a zombie to
/// remove), or the policy's first error, in which case nothing is to be deleted.
fn decide_all(
    policy: &dyn RetentionPolicy,
    usages: &[SeriesUsage],
    done_through: Option<u64>,
    live: Option<&HashSet<u64>>,
    dead: &HashSet<u64>,
    now: Timestamp,
    intervals: &[clio_storage::TrendInterval],
) -> Result<Vec<(SeriesId, Option<Decision>)>, crate::policy::PolicyError> {
    // Store-wide figures cover every series, also those a resumed run already did.
    let store_usage = StoreUsage::from_series(usages);
    policy.begin_run()?;
    let mut plan = Vec::with_capacity(usages.len());
    for u in usages {
        if done_through.is_some_and(|d| u.info.id.0 <= d) {
            continue;
        }
        if live.is_some_and(|l| !l.contains(&u.info.id.0)) || dead.contains(&u.info.id.0) {
            plan.push((u.info.id, None));
            continue;
        }
        match policy.decide(u, &store_usage, now, intervals) {
            Ok(d) => plan.push((u.info.id, Some(d))),
            Err(e) => {
                policy.end_run();
                return Err(e);
            }
        }
    }
    policy.end_run();
    Ok(plan)
}
