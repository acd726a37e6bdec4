//! Retention policies as plugins: a [`WasmPolicy`] is the housekeeper's
//! [`RetentionPolicy`] backed by a component of the `housekeeping-policy` world.
//!
//! Each housekeeper run takes the policy plugin serving at that moment (so a reload takes
//! effect at the next run), instantiates it once, hands it the configuration, and asks it
//! for every series' decision, each call bounded like any plugin call (wall time, memory,
//! fuel). A failure, trap or timeout becomes a [`PolicyError`]: the housekeeper then skips
//! the run and deletes nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use clio_core::now_ms;
use clio_housekeeper::{Decision, PolicyError, RetentionPolicy, SeriesUsage, StoreUsage};
use clio_storage::{SeriesId, Timestamp, TrendInterval};
use parking_lot::Mutex;
use tracing::warn;
use wasmtime::Store;

use crate::call::classify;
use crate::error::PluginError;
use crate::host::{Body, Loaded, PluginHost};
use crate::runtime::wit;
use crate::sandbox::{CallContext, HostState, new_store, set_call_limits};
use crate::worlds::{HousekeepingPolicy, policy_wit};

/// A retention policy served by a plugin (see the module docs).
pub struct WasmPolicy {
    host: PluginHost,
    name: String,
    config_json: String,
    run: Mutex<Option<PolicyRun>>,
}

impl std::fmt::Debug for WasmPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPolicy")
            .field("name", &self.name)
            .field("config", &self.config_json)
            .finish_non_exhaustive()
    }
}

/// The instance of one run.
struct PolicyRun {
    plugin: Arc<Loaded>,
    store: Store<HostState>,
    bindings: HousekeepingPolicy,
}

impl WasmPolicy {
    /// The policy plugin called `name`, configured with `config_json` (a JSON object). The
    /// plugin need not be loaded yet: each run looks it up, and a run without it is skipped.
    pub fn new(host: PluginHost, name: &str, config_json: String) -> WasmPolicy {
        WasmPolicy {
            host,
            name: name.to_string(),
            config_json,
            run: Mutex::new(None),
        }
    }

    fn error(&self, message: impl Into<String>) -> PolicyError {
        PolicyError {
            policy: self.name.clone(),
            message: message.into(),
        }
    }

    /// A fresh, configured instance of the plugin serving now.
    fn open(&self) -> Result<PolicyRun, PolicyError> {
        let plugin = self.host.policy_plugin(&self.name).ok_or_else(|| {
            let loaded = self.host.policies();
            self.error(format!(
                "no policy plugin `{}` is loaded (loaded: {})",
                self.name,
                if loaded.is_empty() {
                    "none".to_string()
                } else {
                    loaded.join(", ")
                }
            ))
        })?;
        let Body::Policy { pre } = &plugin.body else {
            return Err(self.error("the plugin is not a policy"));
        };
        let inner = &self.host.inner;
        let ctx = CallContext {
            engine: inner.store.clone(),
            rt: inner.rt.clone(),
            series: SeriesId(0),
            now: now_ms(),
            reads_allowed: false,
            access: None,
        };
        let mut store = new_store(&inner.engine, &inner.ticks, ctx, &plugin.limits)
            .map_err(|e| self.fault(&plugin, e))?;
        let bindings = pre.instantiate(&mut store).map_err(|e| {
            self.fault(
                &plugin,
                classify(&e, store.data(), &self.name, &plugin.limits),
            )
        })?;
        let mut run = PolicyRun {
            plugin,
            store,
            bindings,
        };
        let configured = run
            .bindings
            .clio_plugin_policy()
            .call_configure(&mut run.store, &self.config_json);
        match configured {
            Ok(Ok(())) => Ok(run),
            Ok(Err(e)) => Err(self.error(format!("configuration rejected: {}", describe(e)))),
            Err(e) => {
                let e = classify(&e, run.store.data(), &self.name, &run.plugin.limits);
                Err(self.fault(&run.plugin, e))
            }
        }
    }

    /// Counts a plugin fault on its status and turns it into the run's error.
    fn fault(&self, plugin: &Loaded, e: PluginError) -> PolicyError {
        plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
        *plugin.stats.last_error.lock() = Some(e.to_string());
        warn!(policy = %self.name, error = %e, "policy plugin failed");
        self.error(e.to_string())
    }
}

fn describe(e: wit::Error) -> String {
    match e {
        wit::Error::BadArgument(s) => format!("bad argument: {s}"),
        wit::Error::NotFound(s) => format!("not found: {s}"),
        wit::Error::Failed(s) => s,
    }
}

fn to_wit_usage(s: &SeriesUsage) -> policy_wit::SeriesUsage {
    let st = &s.info.settings;
    policy_wit::SeriesUsage {
        info: wit::SeriesInfo {
            id: s.info.id.0,
            key: s.info.key.as_ref().map(ToString::to_string),
            keep_history_days: st.keep_history_days,
            keep_trends_days: st.keep_trends_days,
            metadata: st
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        points: s.points,
        bytes: s.bytes,
        first_ts: s.first_ts,
        last_ts: s.last_ts,
    }
}

fn to_wit_store(u: &StoreUsage, intervals: &[TrendInterval]) -> policy_wit::StoreUsage {
    policy_wit::StoreUsage {
        series: u.series,
        bytes: u.bytes,
        points: u.points,
        first_ts: u.first_ts,
        last_ts: u.last_ts,
        bytes_by_day: u.bytes_by_day.clone(),
        trend_intervals: intervals.iter().map(|i| i.ms()).collect(),
    }
}

/// Checks a plugin's decision: it may only name trend intervals the store keeps, once each.
fn from_wit_decision(
    d: policy_wit::Decision,
    intervals: &[TrendInterval],
) -> Result<Decision, String> {
    let mut trends_before: Vec<(TrendInterval, Timestamp)> = Vec::new();
    for (ms, before) in d.trends_before {
        let Some(i) = intervals.iter().copied().find(|i| i.ms() == ms) else {
            let kept: Vec<String> = intervals.iter().map(|i| i.ms().to_string()).collect();
            return Err(format!(
                "decided on trend interval {ms} ms, which the store does not keep (kept: {})",
                kept.join(", ")
            ));
        };
        if trends_before.iter().any(|(j, _)| *j == i) {
            return Err(format!("decided twice on trend interval {ms} ms"));
        }
        trends_before.push((i, before));
    }
    Ok(Decision {
        raw_before: d.raw_before,
        trends_before,
    })
}

impl RetentionPolicy for WasmPolicy {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn begin_run(&self) -> Result<(), PolicyError> {
        let run = self.open()?;
        *self.run.lock() = Some(run);
        Ok(())
    }

    fn end_run(&self) {
        // Frees the instance (and its pool slot) between runs.
        *self.run.lock() = None;
    }

    fn decide(
        &self,
        series: &SeriesUsage,
        store: &StoreUsage,
        now: Timestamp,
        intervals: &[TrendInterval],
    ) -> Result<Decision, PolicyError> {
        let mut guard = self.run.lock();
        if guard.is_none() {
            // Called outside a run (tests, tools): take an instance now.
            *guard = Some(self.open()?);
        }
        let Some(run) = guard.as_mut() else {
            return Err(self.error("no instance"));
        };
        run.plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = set_call_limits(&mut run.store, &run.plugin.limits) {
            return Err(self.error(e.to_string()));
        }
        let answer = run.bindings.clio_plugin_policy().call_decide(
            &mut run.store,
            &to_wit_usage(series),
            &to_wit_store(store, intervals),
            now,
        );
        match answer {
            Ok(Ok(d)) => from_wit_decision(d, intervals).map_err(|m| {
                let e = PluginError::BadOutput {
                    function: self.name.clone(),
                    message: m,
                };
                self.fault(&run.plugin, e)
            }),
            Ok(Err(e)) => Err(self.error(format!("series {}: {}", series.info.id, describe(e)))),
            Err(e) => {
                let e = classify(&e, run.store.data(), &self.name, &run.plugin.limits);
                let err = self.fault(&run.plugin, e);
                // A trapped instance is not reused.
                *guard = None;
                Err(err)
            }
        }
    }
}
