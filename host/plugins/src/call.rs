//! One function call, start to finish, in one place: admission (at most
//! `max_concurrent_calls` at once), an instance (an idle one given the call's context and
//! limits, or a fresh one), the invocation, and the one mapping of whatever happened (a
//! value, the function's own error, a trap, a timeout, a limit hit) to the caller's result.
//! Policy calls ([`crate::policy`]) share the mapping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clio_core::now_ms;
use clio_storage::{SeriesId, Timestamp};
use tracing::warn;
use wasmtime::{Store, Trap};

use crate::error::PluginError;
use crate::host::{Body, FnValue, Loaded, PluginHost};
use crate::options::Limits;
use crate::runtime::wit;
use crate::sandbox::{
    CallContext, HostState, SeriesAccess, new_store, set_call_context, set_call_limits,
};
use crate::worlds::FnBindings;

/// A live instance with its store.
pub(crate) struct Instance {
    store: Store<HostState>,
    bindings: FnBindings,
}

/// Idle instances kept per plugin (each holds its grown linear memory).
const MAX_IDLE_PER_PLUGIN: usize = 2;

/// Counts a running call; refuses past the limit.
struct InFlight<'a>(&'a AtomicU32);

impl<'a> InFlight<'a> {
    fn enter(c: &'a AtomicU32, max: u32) -> Result<Self, PluginError> {
        let n = c.fetch_add(1, Ordering::AcqRel);
        if n >= max {
            c.fetch_sub(1, Ordering::AcqRel);
            return Err(PluginError::Busy(format!(
                "{max} function calls already running"
            )));
        }
        Ok(InFlight(c))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn convert_value(v: wit::Value, function: &str, limits: &Limits) -> Result<FnValue, PluginError> {
    match v {
        wit::Value::None => Ok(FnValue::None),
        wit::Value::Num(x) if x.is_finite() => Ok(FnValue::Num(x)),
        wit::Value::Num(x) => Err(PluginError::BadOutput {
            function: function.into(),
            message: format!("{x} is not a finite number"),
        }),
        wit::Value::Str(s) if s.len() > limits.max_output_bytes => Err(PluginError::BadOutput {
            function: function.into(),
            message: format!(
                "a string of {} bytes exceeds the {} byte limit",
                s.len(),
                limits.max_output_bytes
            ),
        }),
        wit::Value::Str(s) => Ok(FnValue::Str(s)),
    }
}

pub(crate) fn clip(s: String) -> String {
    const MAX: usize = 1024;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn convert_error(e: wit::Error, function: &str) -> PluginError {
    let function = function.to_string();
    match e {
        wit::Error::BadArgument(param) => PluginError::BadArgument {
            function,
            param: clip(param),
        },
        wit::Error::NotFound(what) => PluginError::NotFound {
            function,
            what: clip(what),
        },
        wit::Error::Failed(message) => PluginError::Failed {
            function,
            message: clip(message),
        },
    }
}

/// Turns a wasmtime error from a call into the caller's error.
pub(crate) fn classify(
    e: &wasmtime::Error,
    state: &HostState,
    function: &str,
    limits: &Limits,
) -> PluginError {
    let function = function.to_string();
    if state.limiter.hit {
        return PluginError::MemoryLimit {
            function,
            limit_bytes: limits.memory_bytes,
        };
    }
    let millis = limits.call_timeout.as_millis() as u64;
    if state.import_deadline_hit {
        return PluginError::Timeout { function, millis };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PluginError::Timeout { function, millis },
        Some(Trap::OutOfFuel) => PluginError::OutOfFuel { function },
        Some(t) => {
            let mut message = t.to_string();
            let err = state.stderr.text();
            // Rust's panic hook prints `thread '..' panicked at file:line:col:` and then
            // the message on the next line.
            let mut lines = err.lines().skip_while(|l| !l.contains("panicked"));
            if let Some(at) = lines.next() {
                let what = lines.next().unwrap_or("").trim();
                message = format!("{message}; {} {what}", at.trim());
            }
            PluginError::Trap { function, message }
        }
        None => PluginError::Trap {
            function,
            message: format!("{e:#}"),
        },
    }
}

/// Whether instantiation failed because the pooling allocator has no free slot.
fn is_pool_exhausted(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    }) || format!("{e:#}").contains("maximum concurrent limit")
}

impl PluginHost {
    fn context(
        &self,
        series: SeriesId,
        at: Option<Timestamp>,
        access: Option<SeriesAccess>,
    ) -> CallContext {
        CallContext {
            engine: self.inner.store.clone(),
            rt: self.inner.rt.clone(),
            series,
            now: at.unwrap_or_else(now_ms),
            reads_allowed: true,
            access,
        }
    }

    /// Evaluates `function` on `series` with ALEPIZ-style `params` at time `at` (default:
    /// now), in a fresh instance. Blocking: call it from a thread that is not running async
    /// tasks (see [`PluginHost::evaluate`]).
    pub fn evaluate_blocking(
        &self,
        series: SeriesId,
        function: &str,
        params: &[String],
        at: Option<Timestamp>,
    ) -> Result<FnValue, PluginError> {
        self.evaluate_blocking_as(series, function, params, at, None)
    }

    /// [`PluginHost::evaluate_blocking`] for a caller that may read only the series `access`
    /// allows: the plugin's `history` reads of other series are refused (the function sees
    /// an error, or `none` for their settings) outside it.
    pub fn evaluate_blocking_as(
        &self,
        series: SeriesId,
        function: &str,
        params: &[String],
        at: Option<Timestamp>,
        access: Option<SeriesAccess>,
    ) -> Result<FnValue, PluginError> {
        let plugin = self.lookup(function)?;
        let _slot = InFlight::enter(
            &self.inner.in_flight,
            self.inner.opts.max_concurrent_calls.max(1),
        )?;
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        let result = (|| {
            let mut inst = self.instance(&plugin, series, at, function, access)?;
            let r = invoke(
                &mut inst.store,
                &inst.bindings,
                function,
                params,
                &plugin.limits,
            );
            let Body::Function { idle, .. } = &plugin.body else {
                return r;
            };
            // An instance that returned normally (a value or the function's own error) is
            // intact and goes back for reuse; one that trapped is dropped.
            let intact = match &r {
                Ok(_) => true,
                Err(e) => matches!(
                    e,
                    PluginError::BadArgument { .. }
                        | PluginError::NotFound { .. }
                        | PluginError::Failed { .. }
                        | PluginError::BadOutput { .. }
                ),
            };
            if intact {
                let mut idle = idle.lock();
                if idle.len() < MAX_IDLE_PER_PLUGIN {
                    idle.push(inst);
                }
            }
            r
        })();
        if let Err(e) = &result
            && e.is_plugin_fault()
        {
            plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
            *plugin.stats.last_error.lock() = Some(e.to_string());
            warn!(function, error = %e, "plugin call failed");
        }
        result
    }

    /// An instance for one call: an idle one given this call's context and limits, or a
    /// fresh one.
    fn instance(
        &self,
        plugin: &Loaded,
        series: SeriesId,
        at: Option<Timestamp>,
        function: &str,
        access: Option<SeriesAccess>,
    ) -> Result<Instance, PluginError> {
        let Body::Function { pre, idle } = &plugin.body else {
            return Err(PluginError::UnknownFunction(function.to_string()));
        };
        let reused = idle.lock().pop();
        if let Some(mut inst) = reused {
            set_call_context(&mut inst.store, self.context(series, at, access));
            set_call_limits(&mut inst.store, &plugin.limits)?;
            return Ok(inst);
        }
        let mut store = self.new_call_store(plugin, series, at, access)?;
        let bindings = match pre.instantiate(&mut store) {
            Ok(b) => b,
            Err(e) if is_pool_exhausted(&e) => {
                self.free_idle();
                pre.instantiate(&mut store)
                    .map_err(|e| PluginError::Busy(format!("{e:#}")))?
            }
            Err(e) => return Err(classify(&e, store.data(), function, &plugin.limits)),
        };
        Ok(Instance { store, bindings })
    }

    /// A fresh store for calls of `plugin` on `series` at `at`, its limits armed.
    fn new_call_store(
        &self,
        plugin: &Loaded,
        series: SeriesId,
        at: Option<Timestamp>,
        access: Option<SeriesAccess>,
    ) -> Result<Store<HostState>, PluginError> {
        new_store(
            &self.inner.engine,
            &self.inner.ticks,
            self.context(series, at, access),
            &plugin.limits,
        )
    }

    /// [`PluginHost::evaluate_blocking`] from async code. On a multi-threaded runtime the
    /// call runs on the calling worker inside `block_in_place` (which hands the worker's other
    /// tasks to another thread): the request does not wait for a blocking-pool thread to wake
    /// and then wake it back, two context switches that cost more than the call itself
    /// (BENCHMARKS.md, plugins). Elsewhere it runs on tokio's blocking pool.
    pub async fn evaluate(
        &self,
        series: SeriesId,
        function: &str,
        params: Vec<String>,
        at: Option<Timestamp>,
    ) -> Result<FnValue, PluginError> {
        self.evaluate_as(series, function, params, at, None).await
    }

    /// [`PluginHost::evaluate`] bound by the caller's `access` (see
    /// [`PluginHost::evaluate_blocking_as`]).
    pub async fn evaluate_as(
        &self,
        series: SeriesId,
        function: &str,
        params: Vec<String>,
        at: Option<Timestamp>,
        access: Option<SeriesAccess>,
    ) -> Result<FnValue, PluginError> {
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            return tokio::task::block_in_place(|| {
                self.evaluate_blocking_as(series, function, &params, at, access)
            });
        }
        let host = self.clone();
        let function = function.to_string();
        tokio::task::spawn_blocking(move || {
            host.evaluate_blocking_as(series, &function, &params, at, access)
        })
        .await
        .map_err(|e| PluginError::Setup(format!("call task failed: {e}")))?
    }

    /// Opens a session: one instance of `function`, reused by every
    /// [`Session::evaluate`]. For benchmarks and tight loops over one series; a session that
    /// saw an error must be dropped. Blocking, like [`PluginHost::evaluate_blocking`].
    pub fn session(
        &self,
        series: SeriesId,
        function: &str,
        at: Option<Timestamp>,
    ) -> Result<Session, PluginError> {
        let plugin = self.lookup(function)?;
        let Body::Function { pre, .. } = &plugin.body else {
            return Err(PluginError::UnknownFunction(function.to_string()));
        };
        let mut store = self.new_call_store(&plugin, series, at, None)?;
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| classify(&e, store.data(), function, &plugin.limits))?;
        Ok(Session {
            store,
            bindings,
            plugin,
        })
    }
}

/// Runs the function once and maps what happened: its value (checked), its own error, or
/// a trap / timeout / limit hit ([`classify`]).
fn invoke(
    store: &mut Store<HostState>,
    bindings: &FnBindings,
    function: &str,
    params: &[String],
    limits: &Limits,
) -> Result<FnValue, PluginError> {
    match bindings.evaluate(&mut *store, params) {
        Ok(Ok(v)) => convert_value(v, function, limits),
        Ok(Err(e)) => Err(convert_error(e, function)),
        Err(e) => Err(classify(&e, store.data(), function, limits)),
    }
}

/// One instance reused across calls (see [`PluginHost::session`]).
pub struct Session {
    store: Store<HostState>,
    bindings: FnBindings,
    plugin: Arc<Loaded>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("function", &self.plugin.info.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Evaluates once more on the same instance, with a fresh deadline.
    pub fn evaluate(&mut self, params: &[String]) -> Result<FnValue, PluginError> {
        set_call_limits(&mut self.store, &self.plugin.limits)?;
        invoke(
            &mut self.store,
            &self.bindings,
            &self.plugin.info.name,
            params,
            &self.plugin.limits,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_checked() {
        let l = Limits {
            max_output_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            convert_value(wit::Value::Num(1.5), "f", &l).unwrap(),
            FnValue::Num(1.5)
        );
        assert_eq!(
            convert_value(wit::Value::None, "f", &l).unwrap(),
            FnValue::None
        );
        let e = convert_value(wit::Value::Num(f64::NAN), "f", &l).unwrap_err();
        assert_eq!(e.kind(), "bad_output");
        let e = convert_value(wit::Value::Str("12345".into()), "f", &l).unwrap_err();
        assert_eq!(e.kind(), "bad_output");
        assert_eq!(
            convert_value(wit::Value::Str("1234".into()), "f", &l).unwrap(),
            FnValue::Str("1234".into())
        );
        let long = "é".repeat(1000);
        let clipped = clip(long);
        assert!(clipped.len() <= 1024 + '…'.len_utf8());
        let e = convert_error(wit::Error::BadArgument("num".into()), "avg");
        assert_eq!((e.status(), e.to_string().contains("`num`")), (400, true));
    }
}
