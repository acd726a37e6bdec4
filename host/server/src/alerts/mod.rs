//! Alerts: rules from `[[alerts.rules]]` and `POST /api/v1/alerts/rules`, evaluated every
//! `alerts.interval` (history functions through the plugin host, and Clio's own health),
//! alerts moving pending → firing → resolved, kept in `<data_dir>/alerts.json` across
//! restarts, notified in the log and to a webhook.
//!
//! `state` holds the transitions and the state file, `eval` the evaluation of one rule,
//! `notify` the log lines and the webhook queue, `glob` the key patterns.

mod eval;
mod glob;
pub mod metrics;
mod notify;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use clio_config::{AlertRule, AlertsConfig, RuleKind};
use clio_core::Store;
use clio_plugins::PluginHost;
use parking_lot::Mutex;
use serde_json::{Value as JsonValue, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
pub use metrics::AlertMetrics;
pub use state::{Alert, AlertState};

/// Rules added through the API at most (they live in the state file).
pub const MAX_API_RULES: usize = 1000;

/// The alert engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config_rules: Vec<AlertRule>,
    api_rules: Mutex<Vec<AlertRule>>,
    alerts: Mutex<state::Alerts>,
    evaluator: Mutex<eval::Evaluator>,
    notifier: notify::Notifier,
    metrics: AlertMetrics,
    path: PathBuf,
    /// Held while the state file is written: an API change and an evaluation round may
    /// save at the same time, and both write the same temporary file.
    save_lock: Mutex<()>,
    keep_resolved: usize,
    interval: std::time::Duration,
    plugins: Option<PluginHost>,
    /// Authentication failures counted since start (see [`AlertEngine::note_auth_failure`]).
    auth_failures: AtomicU64,
    /// When the last round ended (Unix ms; 0: none yet) and how long it took (µs).
    last_round_at: AtomicI64,
    last_round_micros: AtomicU64,
}

impl AlertEngine {
    /// Loads the state file, starts the webhook worker (when configured) and returns the
    /// engine with its background tasks (the evaluation loop and the worker), which stop
    /// when `shutdown` is cancelled.
    pub fn start(
        config: &AlertsConfig,
        data_dir: PathBuf,
        store: Store,
        plugins: Option<PluginHost>,
        metrics: AlertMetrics,
        shutdown: CancellationToken,
    ) -> Result<(AlertEngine, Vec<JoinHandle<()>>), ApiError> {
        let path = state::state_path(&data_dir);
        let file = state::load(&path);
        let config_rules = config.rules.clone();
        let mut api_rules = Vec::new();
        for r in file.rules {
            if config_rules.iter().any(|c| c.name == r.name) {
                tracing::warn!(alert = %r.name, "a rule added through the API has the name of a configured rule; the configured one applies");
            } else if let Err(e) = r.check() {
                tracing::warn!(alert = %r.name, errors = ?e, "dropping an invalid rule from the alert state file");
            } else {
                api_rules.push(r);
            }
        }
        let mut alerts = state::Alerts::default();
        let known = |name: &str| {
            config_rules.iter().any(|r| r.name == name) || api_rules.iter().any(|r| r.name == name)
        };
        for a in file.active {
            if known(&a.rule) && a.state != AlertState::Resolved {
                alerts.active.insert((a.rule.clone(), a.subject.clone()), a);
            }
        }
        alerts.resolved = file
            .resolved
            .into_iter()
            .take(config.keep_resolved)
            .collect();
        let mut tasks = Vec::new();
        let notifier = if config.webhook_url.is_empty() {
            notify::Notifier::log_only(metrics.clone())
        } else {
            let url: hyper::Uri = config.webhook_url.parse().map_err(|e| {
                ApiError::bad(format!("alerts.webhook_url `{}`: {e}", config.webhook_url))
            })?;
            let (n, task) = notify::Notifier::start(
                notify::WebhookOptions {
                    url,
                    timeout: std::time::Duration::from_millis(config.webhook_timeout_ms),
                    retries: config.webhook_retries,
                    backoff: std::time::Duration::from_millis(config.webhook_backoff_ms),
                },
                config.webhook_queue,
                metrics.clone(),
                shutdown.clone(),
            );
            tasks.push(task);
            n
        };
        let (firing, pending) = alerts.counts();
        metrics.firing.set(firing as i64);
        metrics.pending.set(pending as i64);
        tracing::info!(
            rules = config_rules.len() + api_rules.len(),
            firing,
            pending,
            "alerts ready"
        );
        let engine = AlertEngine {
            inner: Arc::new(Inner {
                evaluator: Mutex::new(eval::Evaluator::new(store, plugins.clone(), data_dir)),
                config_rules,
                api_rules: Mutex::new(api_rules),
                alerts: Mutex::new(alerts),
                notifier,
                metrics,
                path,
                save_lock: Mutex::new(()),
                keep_resolved: config.keep_resolved,
                interval: config.interval_duration(),
                plugins,
                auth_failures: AtomicU64::new(0),
                last_round_at: AtomicI64::new(0),
                last_round_micros: AtomicU64::new(0),
            }),
        };
        let e = engine.clone();
        tasks.push(tokio::spawn(async move { e.run(shutdown).await }));
        Ok((engine, tasks))
    }

    async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.inner.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            // Plugin calls block: the whole round runs on one blocking thread.
            let e = self.clone();
            if let Err(err) = tokio::task::spawn_blocking(move || e.round()).await {
                tracing::error!(error = %err, "alert evaluation round failed");
            }
        }
    }

    /// Evaluates every rule once, applies the transitions, saves the state when anything
    /// changed and sends the notifications. Blocking.
    pub fn round(&self) {
        let i = &self.inner;
        let started = Instant::now();
        let rules = self.rules();
        let now = clio_core::now_ms();
        let mut notes = Vec::new();
        {
            let mut ev = i.evaluator.lock();
            ev.start_round(i.auth_failures.load(Ordering::Relaxed));
            for r in &rules {
                let obs = ev.observe(r);
                notes.extend(i.alerts.lock().apply(r, obs, now, i.keep_resolved));
            }
            i.metrics.evaluation_errors.inc_by(ev.errors);
        }
        let (firing, pending) = i.alerts.lock().counts();
        i.metrics.firing.set(firing as i64);
        i.metrics.pending.set(pending as i64);
        if !notes.is_empty() {
            self.persist();
        }
        for n in &notes {
            i.notifier.send(n, now);
        }
        let took = started.elapsed();
        i.metrics.evaluation_seconds.observe(took.as_secs_f64());
        i.last_round_at
            .store(clio_core::now_ms(), Ordering::Relaxed);
        i.last_round_micros
            .store(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts one failed authentication, for `kind = "auth_failures"` rules. The
    /// authentication layer (the security issue) calls this on every refused credential.
    pub fn note_auth_failure(&self) {
        self.inner.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Every rule: the configured ones, then those added through the API.
    pub fn rules(&self) -> Vec<AlertRule> {
        let mut v = self.inner.config_rules.clone();
        v.extend(self.inner.api_rules.lock().iter().cloned());
        v
    }

    /// `GET /api/v1/alerts/rules`: every rule with where it comes from.
    pub fn rules_json(&self) -> JsonValue {
        let tag = |r: &AlertRule, source: &str| {
            let mut v = json!(r);
            v["source"] = json!(source);
            v
        };
        let mut out: Vec<JsonValue> = self
            .inner
            .config_rules
            .iter()
            .map(|r| tag(r, "config"))
            .collect();
        out.extend(self.inner.api_rules.lock().iter().map(|r| tag(r, "api")));
        json!({ "rules": out })
    }

    /// `GET /api/v1/alerts`: active alerts (firing first, then pending) and the newest
    /// resolved ones.
    pub fn list_json(&self) -> JsonValue {
        let a = self.inner.alerts.lock();
        let mut active: Vec<&Alert> = a.active.values().collect();
        active.sort_by_key(|x| (x.state != AlertState::Firing, x.since));
        let (firing, pending) = a.counts();
        json!({
            "firing": firing,
            "pending": pending,
            "alerts": active,
            "resolved": a.resolved,
            "rules": self.inner.config_rules.len() + self.inner.api_rules.lock().len(),
            "interval_ms": self.inner.interval.as_millis() as u64,
            "last_evaluation": self.inner.last_round_at.load(Ordering::Relaxed),
            "last_evaluation_micros": self.inner.last_round_micros.load(Ordering::Relaxed),
        })
    }

    /// Adds a rule (`POST /api/v1/alerts/rules`); it is saved in the state file.
    pub fn add_rule(&self, rule: AlertRule) -> Result<(), ApiError> {
        rule.check().map_err(|e| ApiError::bad(e.join("; ")))?;
        if rule.kind == RuleKind::Series
            && let (Some(host), Some(f)) = (&self.inner.plugins, &rule.function)
            && host.function(f).is_none()
        {
            return Err(ApiError::bad(format!(
                "alert rule `{}`: no history function `{f}` is loaded",
                rule.name
            )));
        }
        {
            let mut api = self.inner.api_rules.lock();
            if self.inner.config_rules.iter().any(|r| r.name == rule.name)
                || api.iter().any(|r| r.name == rule.name)
            {
                return Err(ApiError::Conflict(format!(
                    "an alert rule named `{}` exists",
                    rule.name
                )));
            }
            if api.len() >= MAX_API_RULES {
                return Err(ApiError::Conflict(format!(
                    "{MAX_API_RULES} rules were added through the API already; delete some first"
                )));
            }
            api.push(rule);
        }
        self.persist();
        Ok(())
    }

    /// Deletes a rule added through the API; its firing alerts resolve.
    pub fn delete_rule(&self, name: &str) -> Result<(), ApiError> {
        if self.inner.config_rules.iter().any(|r| r.name == name) {
            return Err(ApiError::Conflict(format!(
                "alert rule `{name}` is defined in the config file; remove it there"
            )));
        }
        {
            let mut api = self.inner.api_rules.lock();
            let before = api.len();
            api.retain(|r| r.name != name);
            if api.len() == before {
                return Err(ApiError::NotFound(format!("no alert rule named `{name}`")));
            }
        }
        let now = clio_core::now_ms();
        let notes = self
            .inner
            .alerts
            .lock()
            .clear_rule(name, now, self.inner.keep_resolved);
        self.persist();
        for n in &notes {
            self.inner.notifier.send(n, now);
        }
        Ok(())
    }

    /// Saves rules and alerts; a failure is logged (the state is re-derived from the data
    /// after a restart, at the cost of notifying again).
    fn persist(&self) {
        let i = &self.inner;
        // Taken before the snapshot, so the newest snapshot is also the last one written.
        let _saving = i.save_lock.lock();
        let file = {
            let a = i.alerts.lock();
            state::StateFile {
                version: 1,
                rules: i.api_rules.lock().clone(),
                active: a.active.values().cloned().collect(),
                resolved: a.resolved.iter().cloned().collect(),
            }
        };
        if let Err(e) = state::save(&i.path, &file) {
            tracing::error!(path = %i.path.display(), error = %e, "cannot save the alert state");
        }
    }
}
