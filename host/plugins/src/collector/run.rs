//! One run of a collector instance, on a blocking thread: the instance (kept, or created and
//! configured), the `collect` call under its limits, and the samples checked and turned into
//! the engine's points. Also the `collector-host` import.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use clio_core::{IncomingPoint, SeriesRef};
use clio_storage::{SeriesId, SeriesKey, Timestamp, Value};
use wasmtime::Store;

use super::grants::{CollectorCtx, LOG_LINES_PER_RUN, NetGrants};
use super::{CollectorSpec, Outcome};
use crate::call::{classify, clip};
use crate::error::PluginError;
use crate::host::{Body, Loaded, PluginHost};
use crate::options::Limits;
use crate::runtime::wit;
use crate::sandbox::{CallContext, HostState, new_collector_store, set_call_limits};
use crate::worlds::collector_world::clio::plugin::collector_host;
use crate::worlds::{CollectorPlugin, collector_wit};

/// An instance kept between runs, with the plugin version it was made from.
pub(crate) struct Live {
    plugin: Arc<Loaded>,
    store: Store<HostState>,
    bindings: CollectorPlugin,
}

type Failure = (Outcome, String);

fn limits_of(host: &PluginHost, spec: &CollectorSpec) -> Limits {
    Limits {
        call_timeout: spec.timeout,
        memory_bytes: spec.memory_bytes,
        fuel: None,
        max_output_bytes: host.inner.opts.limits.max_output_bytes,
    }
}

fn describe(e: wit::Error) -> String {
    match e {
        wit::Error::BadArgument(s) => format!("bad argument: {s}"),
        wit::Error::NotFound(s) => format!("not found: {s}"),
        wit::Error::Failed(s) => s,
    }
}

/// Maps a trap, timeout or limit hit, and counts it on the plugin's status.
fn fault(
    plugin: &Loaded,
    e: &wasmtime::Error,
    state: &HostState,
    spec: &CollectorSpec,
    limits: &Limits,
) -> Failure {
    let pe = classify(e, state, &spec.name, limits);
    plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
    *plugin.stats.last_error.lock() = Some(pe.to_string());
    let outcome = match pe {
        PluginError::Timeout { .. } => Outcome::Timeout,
        _ => Outcome::Fault,
    };
    (outcome, pe.to_string())
}

/// Arms the deadline (guest code, HTTP timeouts) and the log budget of the next call.
fn arm(store: &mut Store<HostState>, limits: &Limits) -> Result<(), Failure> {
    set_call_limits(store, limits).map_err(|e| (Outcome::Fault, e.to_string()))?;
    let st = store.data_mut();
    st.net.deadline = Some(Instant::now() + limits.call_timeout);
    if let Some(c) = st.collector.as_mut() {
        c.log_budget = LOG_LINES_PER_RUN;
    }
    Ok(())
}

/// A new instance of the plugin serving now, configured.
fn open(
    host: &PluginHost,
    spec: &CollectorSpec,
    plugin: Arc<Loaded>,
    now: Timestamp,
) -> Result<Live, Failure> {
    let Body::Collector { pre } = &plugin.body else {
        return Err((
            Outcome::Fault,
            format!("plugin `{}` is not a collector", spec.plugin),
        ));
    };
    let inner = &host.inner;
    let limits = limits_of(host, spec);
    let ctx = CallContext {
        engine: inner.store.clone(),
        rt: inner.rt.clone(),
        series: SeriesId(0),
        now,
        reads_allowed: false,
        // A collector reads no history (reads_allowed is false); nothing to scope.
        access: None,
    };
    let net = NetGrants {
        http_hosts: spec.http_hosts.clone().into(),
        tcp: spec.tcp.clone().into(),
        deadline: None,
    };
    let collector = CollectorCtx {
        name: spec.name.clone(),
        log_budget: LOG_LINES_PER_RUN,
    };
    let mut store = new_collector_store(&inner.engine, &inner.ticks, ctx, &limits, net, collector)
        .map_err(|e| (Outcome::Fault, e.to_string()))?;
    arm(&mut store, &limits)?;
    let bindings = match pre.instantiate(&mut store) {
        Ok(b) => b,
        Err(e) => return Err(fault(&plugin, &e, store.data(), spec, &limits)),
    };
    match bindings
        .clio_plugin_collector()
        .call_configure(&mut store, &spec.config_json)
    {
        Ok(Ok(())) => Ok(Live {
            plugin,
            store,
            bindings,
        }),
        Ok(Err(e)) => Err((
            Outcome::Error,
            format!("configuration rejected: {}", describe(e)),
        )),
        Err(e) => Err(fault(&plugin, &e, store.data(), spec, &limits)),
    }
}

/// One run: returns the instance to keep (none after a fault) and the points to write.
pub(crate) fn collect(
    host: &PluginHost,
    spec: &CollectorSpec,
    live: Option<Live>,
    now: Timestamp,
) -> (Option<Live>, Result<Vec<IncomingPoint>, Failure>) {
    let Some(plugin) = host.collector_plugin(&spec.plugin) else {
        let loaded = host.collector_plugins();
        let msg = format!(
            "no collector plugin `{}` is loaded (loaded: {})",
            spec.plugin,
            if loaded.is_empty() {
                "none".into()
            } else {
                loaded.join(", ")
            }
        );
        return (None, Err((Outcome::Fault, msg)));
    };
    // A reload replaced the plugin: a fresh instance of the new version.
    let live = live.filter(|l| Arc::ptr_eq(&l.plugin, &plugin));
    let mut live = match live {
        Some(l) => l,
        None => match open(host, spec, plugin, now) {
            Ok(l) => l,
            Err(e) => return (None, Err(e)),
        },
    };
    let limits = limits_of(host, spec);
    if let Err(e) = arm(&mut live.store, &limits) {
        return (None, Err(e));
    }
    live.plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
    let answer = live
        .bindings
        .clio_plugin_collector()
        .call_collect(&mut live.store, now);
    match answer {
        Ok(Ok(samples)) => match to_points(samples, spec, now) {
            Ok(points) => (Some(live), Ok(points)),
            Err(msg) => {
                live.plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
                *live.plugin.stats.last_error.lock() = Some(msg.clone());
                (Some(live), Err((Outcome::Fault, msg)))
            }
        },
        Ok(Err(e)) => (Some(live), Err((Outcome::Error, describe(e)))),
        Err(e) => {
            let f = fault(&live.plugin, &e, live.store.data(), spec, &limits);
            // A trapped instance is not reused.
            (None, Err(f))
        }
    }
}

/// Checks the samples (count, keys, one value each) and makes the engine's points; a
/// sample without a time takes the run's.
fn to_points(
    samples: Vec<collector_wit::Sample>,
    spec: &CollectorSpec,
    now: Timestamp,
) -> Result<Vec<IncomingPoint>, String> {
    if samples.len() > spec.max_points {
        return Err(format!(
            "bad output: {} samples exceed max_points = {}",
            samples.len(),
            spec.max_points
        ));
    }
    samples
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let key: SeriesKey = s.key.parse().map_err(|e| {
                format!("bad output: sample {i}: key `{}`: {e}", clip(s.key.clone()))
            })?;
            let value = match (s.num, s.str) {
                (Some(x), None) => {
                    Value::number(x).map_err(|e| format!("bad output: sample {i} ({key}): {e}"))?
                }
                (None, Some(t)) => Value::Str(t),
                _ => {
                    return Err(format!(
                        "bad output: sample {i} ({key}) must have exactly one of num and str"
                    ));
                }
            };
            Ok(IncomingPoint {
                series: SeriesRef::Key(key),
                ts: Some(s.ts.unwrap_or(now)),
                value,
            })
        })
        .collect()
}

impl collector_host::Host for HostState {
    fn instance_name(&mut self) -> String {
        self.collector
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    fn log(&mut self, level: collector_host::LogLevel, message: String) {
        let Some(c) = self.collector.as_mut() else {
            return;
        };
        if c.log_budget == 0 {
            return;
        }
        c.log_budget -= 1;
        let message = clip(message);
        let name = &c.name;
        match level {
            collector_host::LogLevel::Debug => tracing::debug!(collector = %name, "{message}"),
            collector_host::LogLevel::Info => tracing::info!(collector = %name, "{message}"),
            collector_host::LogLevel::Warn => tracing::warn!(collector = %name, "{message}"),
            collector_host::LogLevel::Error => tracing::error!(collector = %name, "{message}"),
        }
    }
}
