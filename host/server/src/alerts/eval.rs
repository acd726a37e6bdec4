//! Evaluating one rule: a history function over its series through the plugin host (the
//! same `evaluate` path as every function call), or a figure of Clio's own health.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clio_config::{AlertRule, RuleKind};
use clio_core::Store;
use clio_plugins::{FnValue, PluginError, PluginHost, split_args};
use clio_storage::{SeriesFilter, SeriesId};

use super::glob;
use super::state::Observation;

/// Authentication-failure samples kept at most (one per evaluation round).
const MAX_AUTH_SAMPLES: usize = 10_000;
/// How often a failing rule's errors are logged at most.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(300);

/// What the evaluator remembers between rounds.
#[derive(Debug)]
pub(crate) struct Evaluator {
    store: Store,
    plugins: Option<PluginHost>,
    data_dir: PathBuf,
    /// The engine's acknowledged-point count at the last round, and when it last changed.
    ingest: (u64, Instant),
    /// (when, authentication failures counted by then), oldest first.
    auth_samples: VecDeque<(Instant, u64)>,
    /// When each rule's errors were last logged.
    error_logged: HashMap<String, Instant>,
    /// Failed evaluations of the current round.
    pub errors: u64,
}

impl Evaluator {
    pub fn new(store: Store, plugins: Option<PluginHost>, data_dir: PathBuf) -> Self {
        let written = store.points_written();
        Evaluator {
            store,
            plugins,
            data_dir,
            ingest: (written, Instant::now()),
            auth_samples: VecDeque::new(),
            error_logged: HashMap::new(),
            errors: 0,
        }
    }

    /// Takes the round's health figures (called once per round, before the rules).
    pub fn start_round(&mut self, auth_failures: u64) {
        self.errors = 0;
        let now = Instant::now();
        let written = self.store.points_written();
        if written != self.ingest.0 {
            self.ingest = (written, now);
        }
        self.auth_samples.push_back((now, auth_failures));
        let day = Duration::from_secs(86_400);
        while self.auth_samples.len() > MAX_AUTH_SAMPLES
            || self
                .auth_samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > day)
        {
            self.auth_samples.pop_front();
        }
    }

    /// Evaluates one rule; blocking (plugin calls run on this thread).
    pub fn observe(&mut self, rule: &AlertRule) -> Vec<Observation> {
        let threshold = rule.threshold.unwrap_or(0.0);
        let op = rule.comparison();
        let single = |value: Result<f64, String>, detail: Option<String>| {
            vec![Observation {
                subject: String::new(),
                series: None,
                key: None,
                value: value.as_ref().ok().copied(),
                holds: value.map(|v| op.holds(v, threshold)),
                detail,
            }]
        };
        let out = match rule.kind {
            RuleKind::Series => self.observe_series(rule),
            RuleKind::DiskFree => single(disk_free_percent(&self.data_dir), None),
            RuleKind::FlushFailing => {
                let failing = self.store.flush_failing();
                vec![Observation {
                    subject: String::new(),
                    series: None,
                    key: None,
                    value: Some(if failing.is_some() { 1.0 } else { 0.0 }),
                    holds: Ok(failing.is_some()),
                    detail: failing,
                }]
            }
            RuleKind::IngestStalled => single(Ok(self.ingest.1.elapsed().as_secs_f64()), None),
            RuleKind::AuthFailures => {
                let window = rule.window_duration();
                let now = Instant::now();
                let current = self.auth_samples.back().map_or(0, |s| s.1);
                let base = self
                    .auth_samples
                    .iter()
                    .find(|(t, _)| now.duration_since(*t) <= window)
                    .map_or(current, |s| s.1);
                single(Ok(current.saturating_sub(base) as f64), None)
            }
            RuleKind::ReplicaLag => self
                .store
                .storage_status()
                .backends
                .into_iter()
                .filter_map(|b| {
                    let r = b.replica?;
                    Some(Observation {
                        subject: b.name.clone(),
                        series: None,
                        key: Some(b.name),
                        value: Some(r.lag_seconds),
                        holds: Ok(op.holds(r.lag_seconds, threshold)),
                        detail: Some(b.state),
                    })
                })
                .collect(),
        };
        let failed: Vec<&String> = out.iter().filter_map(|o| o.holds.as_ref().err()).collect();
        if !failed.is_empty() {
            self.errors += failed.len() as u64;
            let due = self
                .error_logged
                .get(&rule.name)
                .is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY);
            if due {
                tracing::warn!(alert = %rule.name, failed = failed.len(), first_error = %failed[0], "alert rule evaluation failed (logged at most every 5 minutes)");
                self.error_logged.insert(rule.name.clone(), Instant::now());
            }
        }
        out
    }

    fn observe_series(&self, rule: &AlertRule) -> Vec<Observation> {
        let targets: Vec<(SeriesId, Option<String>)> = match (rule.series, &rule.pattern) {
            (Some(id), _) => {
                let key = self
                    .store
                    .series(SeriesId(id))
                    .and_then(|s| s.key)
                    .map(|k| k.to_string());
                vec![(SeriesId(id), key)]
            }
            (None, Some(pattern)) => {
                let filter = SeriesFilter {
                    measurement: glob::literal_measurement(pattern).map(str::to_owned),
                    ..Default::default()
                };
                self.store
                    .list_series(&filter)
                    .into_iter()
                    .filter_map(|s| {
                        let key = s.key?.to_string();
                        glob::matches(pattern, &key).then_some((s.id, Some(key)))
                    })
                    .collect()
            }
            (None, None) => Vec::new(),
        };
        let function = rule.function.as_deref().unwrap_or("");
        let args = split_args(&rule.args);
        let threshold = rule.threshold.unwrap_or(0.0);
        let op = rule.comparison();
        targets
            .into_iter()
            .filter_map(|(id, key)| {
                let (value, holds) = match &self.plugins {
                    None => (
                        None,
                        Err("history functions are disabled (plugins.enabled = false)".into()),
                    ),
                    Some(host) => match host.evaluate_blocking(id, function, &args, None) {
                        Ok(FnValue::Num(v)) => (Some(v), Ok(op.holds(v, threshold))),
                        Ok(FnValue::None) => (None, Ok(false)),
                        Ok(FnValue::Str(s)) => match s.trim().parse::<f64>() {
                            Ok(v) => (Some(v), Ok(op.holds(v, threshold))),
                            Err(_) => (None, Err(format!("{function} answered a string: {s}"))),
                        },
                        // A deleted series is not observed: its alert resolves.
                        Err(PluginError::SeriesNotFound(_)) => return None,
                        Err(e) => (None, Err(e.to_string())),
                    },
                };
                Some(Observation {
                    subject: id.0.to_string(),
                    series: Some(id.0),
                    key,
                    value,
                    holds,
                    detail: None,
                })
            })
            .collect()
    }
}

/// Free space of the file system holding `path`, percent of its size, as available to an
/// unprivileged process (`f_bavail`).
pub(crate) fn disk_free_percent(path: &Path) -> Result<f64, String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", path.display()))?;
    // SAFETY: all-zero bytes are a valid `statvfs` (plain integers).
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path that outlives the call; `s` is a valid, writable
    // `statvfs` the call fills in.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        return Err(format!(
            "statvfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    if s.f_blocks == 0 {
        return Err(format!(
            "{}: the file system reports no blocks",
            path.display()
        ));
    }
    Ok(s.f_bavail as f64 / s.f_blocks as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> AlertRule {
        toml::from_str(text).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn health_rules_read_the_engine_and_series_rules_need_plugins() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(
            clio_storage_sqlite::SqliteBackend::open(clio_storage_sqlite::SqliteOptions::new(
                dir.path().join("clio.db"),
            ))
            .unwrap(),
        );
        let (store, _) = Store::open(clio_core::EngineOptions::new(dir.path()), backend)
            .await
            .unwrap();
        let mut ev = Evaluator::new(store.clone(), None, dir.path().to_path_buf());
        ev.start_round(0);
        let flush = ev.observe(&rule("name = \"f\"\nkind = \"flush_failing\""));
        assert_eq!(flush[0].holds, Ok(false));
        assert!(
            ev.observe(&rule("name = \"r\"\nkind = \"replica_lag\"\nthreshold = 1"))
                .is_empty(),
            "no replicas, no alerts"
        );
        let disk = ev.observe(&rule("name = \"d\"\nkind = \"disk_free\"\nthreshold = 100"));
        assert_eq!(disk[0].holds, Ok(true), "{disk:?}");

        // Ingest: the time since the last acknowledged point grows, and a write resets it.
        let stalled = rule("name = \"i\"\nkind = \"ingest_stalled\"\nthreshold = 0.02");
        std::thread::sleep(Duration::from_millis(50));
        ev.start_round(0);
        let before = ev.observe(&stalled);
        assert_eq!(before[0].holds, Ok(true));
        store
            .write(vec![clio_core::IncomingPoint {
                series: clio_core::SeriesRef::Id(SeriesId(7)),
                ts: None,
                value: clio_storage::Value::Num(1.0),
            }])
            .await
            .unwrap();
        ev.start_round(0);
        let after = ev.observe(&stalled);
        assert!(after[0].value < before[0].value, "{after:?} {before:?}");

        // Authentication failures are counted within the window.
        let auth = rule("name = \"a\"\nkind = \"auth_failures\"\nthreshold = 3");
        ev.start_round(5);
        let seen = ev.observe(&auth);
        assert_eq!(seen[0].value, Some(5.0));
        assert_eq!(seen[0].holds, Ok(true));

        // Without the plugin host a series rule cannot be evaluated: an error, counted.
        let series =
            rule("name = \"s\"\nseries = 7\nfunction = \"avg\"\nargs = \"#1\"\nthreshold = 0");
        ev.errors = 0;
        let obs = ev.observe(&series);
        assert!(obs[0].holds.is_err());
        assert_eq!(ev.errors, 1);
        store.close().await.unwrap();
    }

    #[test]
    fn disk_free_is_a_percentage_and_a_missing_path_an_error() {
        let p = disk_free_percent(Path::new("/")).unwrap();
        assert!((0.0..=100.0).contains(&p), "{p}");
        assert!(disk_free_percent(Path::new("/no/such/dir")).is_err());
    }
}
