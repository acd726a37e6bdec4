//! The wasmtime engine: the bindings generated from `wit/`, the one engine (pooling when a
//! probe can reserve it, else on-demand) and the epoch ticker that bounds calls in time.
//! What one call runs in is [`crate::sandbox`]; the call itself is [`crate::call`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The engine's epoch as a counter the host can read: host imports check their deadline
/// against it with one atomic load instead of a clock call (it advances with the epoch, so
/// guest code and imports share one deadline of the same precision).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticks(Arc<AtomicU64>);

impl Ticks {
    /// The current tick.
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Starts the thread that advances the engine's epoch (and [`Ticks`] with it); it ends when
/// the engine is dropped.
pub(crate) fn start_epoch_ticker(engine: &Engine) -> Result<Ticks, PluginError> {
    let weak = engine.weak();
    let ticks = Ticks::default();
    let counter = ticks.clone();
    std::thread::Builder::new()
        .name("clio-plugin-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(e) => {
                        e.increment_epoch();
                        counter.0.fetch_add(1, Ordering::Relaxed);
                    }
                    None => break,
                }
            }
        })
        .map(|_| ticks)
        .map_err(|e| PluginError::Setup(format!("epoch thread: {e}")))
}

/// Logs which allocator is in use (once, at start).
pub(crate) fn log_engine(kind: AllocatorKind) {
    info!(allocator = kind.as_str(), "plugin engine ready");
}
