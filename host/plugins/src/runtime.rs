//! The wasmtime engine: the bindings generated from `wit/`, the one engine (pooling when a
//! probe can reserve it, else on-demand) and the epoch ticker that bounds calls in time.
//! What one call runs in is [`crate::sandbox`]; the call itself is [`crate::call`].

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::Duration;

use tracing::{info, warn};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::PluginError;
use crate::options::{AllocatorMode, PluginOptions};

wasmtime::component::bindgen!({
    world: "history-function",
    path: "../../wit",
    imports: { default: trappable },
});

pub(crate) use clio::plugin::types as wit;

/// How often the epoch advances. The deadline is counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Which allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// The pooling allocator (slots reserved up front).
    Pooling,
    /// On-demand allocation.
    OnDemand,
}

impl AllocatorKind {
    /// `pooling` or `on-demand`.
    pub fn as_str(self) -> &'static str {
        match self {
            AllocatorKind::Pooling => "pooling",
            AllocatorKind::OnDemand => "on-demand",
        }
    }
}

fn base_config(opts: &PluginOptions) -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true);
    let fuel =
        opts.limits.fuel.is_some() || opts.limits_by_function.values().any(|l| l.fuel.is_some());
    cfg.consume_fuel(fuel);
    // A small guest stack turns runaway recursion into a prompt stack-overflow trap.
    cfg.max_wasm_stack(1 << 20);
    // For profiling guest code with `perf`: wasmtime writes /tmp/perf-<pid>.map so that
    // samples in compiled plugin code carry function names. Off unless asked for.
    if std::env::var_os("CLIO_PLUGIN_PERFMAP").is_some_and(|v| v == "1") {
        cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    cfg
}

fn max_memory(opts: &PluginOptions) -> usize {
    opts.limits_by_function
        .values()
        .map(|l| l.memory_bytes)
        .chain([opts.limits.memory_bytes, opts.max_collector_memory])
        .max()
        .unwrap_or(16 << 20)
}

/// Builds the one engine: pooling when asked or when the probe succeeds, else on-demand.
pub(crate) fn build_engine(opts: &PluginOptions) -> Result<(Engine, AllocatorKind), PluginError> {
    // Running calls plus idle instances kept for reuse (when the pool runs out, the host
    // frees idle instances and retries).
    let slots = opts.max_concurrent_calls.max(1).saturating_mul(4);
    if opts.allocator != AllocatorMode::OnDemand {
        let mut pool = PoolingAllocationConfig::default();
        // A Rust wasip2 component holds a handful of core instances (main module plus
        // shims); size the pool for `slots` concurrent instances of such components.
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size(max_memory(opts));
        let mut cfg = base_config(opts);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&cfg) {
            Ok(e) => return Ok((e, AllocatorKind::Pooling)),
            Err(e) if opts.allocator == AllocatorMode::Auto => {
                warn!(error = %e, "pooling allocator unavailable; falling back to on-demand allocation");
            }
            Err(e) => return Err(PluginError::Setup(format!("pooling allocator: {e}"))),
        }
    }
    let cfg = base_config(opts);
    let engine = Engine::new(&cfg).map_err(|e| PluginError::Setup(e.to_string()))?;
    Ok((engine, AllocatorKind::OnDemand))
}

/// How long the idle ticker sleeps between checks that the engine still exists (a call
/// that arms a deadline wakes it at once).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The engine's epoch as a counter the host can read: host imports check their deadline
/// against it with one atomic load instead of a clock call (it advances with the epoch, so
/// guest code and imports share one deadline of the same precision).
///
/// The ticker only runs while some call's deadline lies ahead: every call arms its deadline
/// through [`Ticks::arm`] before it enters the guest, and the ticker parks once the latest
/// armed deadline has passed. An idle server does not wake 500 times a second for nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticks(Arc<TickState>);

#[derive(Debug, Default)]
struct TickState {
    /// Ticks so far (follows the engine's epoch).
    count: AtomicU64,
    /// The latest deadline (in ticks) any call has armed.
    armed_until: AtomicU64,
    /// Whether the ticker is parked, or about to park, for want of an armed deadline.
    parked: AtomicBool,
    /// The ticker thread, to wake it.
    ticker: OnceLock<Thread>,
}

impl Ticks {
    /// The current tick.
    pub(crate) fn now(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// Arms a deadline `ticks` ticks from now and returns it: the ticker keeps the epoch
    /// moving until it has passed.
    pub(crate) fn arm(&self, ticks: u64) -> u64 {
        let st = &self.0;
        let deadline = self.now() + ticks;
        // The engine's epoch may be one tick ahead of `count` (it is bumped first), so the
        // guest's own deadline can be one tick later than this one: keep a margin of two.
        st.armed_until.fetch_max(deadline + 2, Ordering::SeqCst);
        // SeqCst on both sides: either the ticker sees this deadline before it parks, or
        // this call sees it parked and wakes it (an unpark before the park is not lost).
        if st.parked.load(Ordering::SeqCst)
            && let Some(t) = st.ticker.get()
        {
            t.unpark();
        }
        deadline
    }

    /// Whether no armed deadline lies ahead (the ticker may park).
    fn idle(&self) -> bool {
        self.now() >= self.0.armed_until.load(Ordering::SeqCst)
    }

    /// Whether the ticker is parked (for tests).
    #[cfg(test)]
    pub(crate) fn parked(&self) -> bool {
        self.0.parked.load(Ordering::SeqCst)
    }
}

/// Starts the thread that advances the engine's epoch (and [`Ticks`] with it) while a call's
/// deadline lies ahead; it ends when the engine is dropped.
pub(crate) fn start_epoch_ticker(engine: &Engine) -> Result<Ticks, PluginError> {
    let weak = engine.weak();
    let ticks = Ticks::default();
    let state = ticks.clone();
    let handle = std::thread::Builder::new()
        .name("clio-plugin-epoch".into())
        .spawn(move || {
            loop {
                if state.idle() {
                    state.0.parked.store(true, Ordering::SeqCst);
                    if state.idle() {
                        std::thread::park_timeout(IDLE_CHECK);
                    }
                    state.0.parked.store(false, Ordering::SeqCst);
                    if weak.upgrade().is_none() {
                        break;
                    }
                    continue;
                }
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(e) => {
                        e.increment_epoch();
                        state.0.count.fetch_add(1, Ordering::Relaxed);
                    }
                    None => break,
                }
            }
        })
        .map_err(|e| PluginError::Setup(format!("epoch thread: {e}")))?;
    // Set before any store exists, so no arm can miss the handle.
    let _ = ticks.0.ticker.set(handle.thread().clone());
    Ok(ticks)
}

/// Logs which allocator is in use (once, at start).
pub(crate) fn log_engine(kind: AllocatorKind) {
    info!(allocator = kind.as_str(), "plugin engine ready");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use std::time::Instant;

    use super::*;

    /// Polls `f` every millisecond until it holds or `limit` passes.
    fn within(limit: Duration, f: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        f()
    }

    #[test]
    fn the_ticker_runs_only_while_a_deadline_lies_ahead() {
        let engine = Engine::new(Config::new().epoch_interruption(true)).unwrap();
        let ticks = start_epoch_ticker(&engine).unwrap();
        assert!(within(Duration::from_secs(2), || ticks.parked()));
        let idle_at = ticks.now();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ticks.now(), idle_at, "the ticker ticked with nothing armed");

        // Arming wakes it at once (well before its idle check), and it stops again after
        // the deadline and its margin.
        let deadline = ticks.arm(10);
        assert_eq!(deadline, idle_at + 10);
        assert!(
            within(Duration::from_millis(300), || ticks.now() > idle_at),
            "an armed deadline did not wake the ticker"
        );
        assert!(within(Duration::from_secs(2), || ticks.now()
            >= deadline + 2
            && ticks.parked()));
        let stopped_at = ticks.now();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ticks.now(), stopped_at);
        assert!(stopped_at <= deadline + 3, "ticked on to {stopped_at}");
    }
}
