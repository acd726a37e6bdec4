//! The wasmtime side: engine set-up (epoch ticker, pooling probe), the per-call store with
//! its sandboxed WASI context and limits, the `history` import, and error classification.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use clio_core::Window;
use clio_storage::{PointColumns, SeriesId, Timestamp, TrendInterval};
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use tracing::{info, warn};
use wasmtime::component::ResourceTable;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::error::PluginError;
use crate::options::{AllocatorMode, Limits, PluginOptions};

wasmtime::component::bindgen!({
    world: "history-function",
    path: "../../wit",
    imports: { default: trappable },
});

pub(crate) use clio::plugin::types as wit;

/// How often the epoch advances. The deadline is counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Most points one `read-*` import hands over, whatever the guest asks (the contract's cap).
const MAX_READ_POINTS: u64 = 10_000_000;

/// Most bytes of a guest's stderr kept (for panic messages in errors).
const STDERR_CAP: usize = 4096;

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
        .chain([opts.limits.memory_bytes])
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
    fn now(&self) -> u64 {
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

/// What one call may touch: the engine's store, the series, the evaluation time.
#[derive(Debug, Clone)]
pub(crate) struct CallContext {
    /// The engine (named so beside wasmtime's own `Store`).
    pub engine: clio_core::Store,
    pub rt: tokio::runtime::Handle,
    pub series: SeriesId,
    pub now: Timestamp,
    /// False while loading (`describe`): reads would block a thread that may be async.
    pub reads_allowed: bool,
}

/// A `ResourceLimiter` that remembers that it refused, so the trap that follows can be
/// reported as a memory-limit hit rather than as a bare `unreachable`.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Per-store data.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    ctx: CallContext,
    /// The engine's epoch, as a counter.
    ticks: Ticks,
    /// The tick at which host imports stop serving (the epoch deadline covers guest code).
    deadline: u64,
    /// Whether the engine meters fuel (else `set_call_limits` leaves fuel alone).
    metered: bool,
    /// Set when a host import refused because the deadline had passed.
    pub import_deadline_hit: bool,
    stderr: Capture,
    clock: FrozenClock,
    max_points: u64,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("series", &self.ctx.series)
            .finish_non_exhaustive()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Wall and monotonic clocks frozen at the evaluation time: a plugin sees no clock but the
/// one the contract hands over. Shared with the store's data so that a reused instance
/// sees each call's evaluation time.
#[derive(Debug, Clone, Default)]
struct FrozenClock(Arc<AtomicI64>);

impl FrozenClock {
    fn ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed).max(0) as u64
    }
}

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.ms())
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        self.ms().saturating_mul(1_000_000)
    }
}

/// A stdout/stderr sink that keeps the first `cap` bytes and silently drops the rest, so a
/// chatty plugin neither fills memory nor fails its own writes.
#[derive(Debug, Clone)]
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: usize,
}

impl Capture {
    fn new(cap: usize) -> Self {
        Capture {
            buf: Arc::default(),
            cap,
        }
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock()).into_owned()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut b = self.buf.lock();
        let room = self.cap.saturating_sub(b.len());
        b.extend_from_slice(&data[..data.len().min(room)]);
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A fresh store for one call (or one session), with its limits armed.
pub(crate) fn new_store(
    engine: &Engine,
    ticks: &Ticks,
    ctx: CallContext,
    limits: &Limits,
) -> Result<Store<HostState>, PluginError> {
    let stderr = Capture::new(STDERR_CAP);
    let clock = FrozenClock(Arc::new(AtomicI64::new(ctx.now)));
    // No preopens, no env, no args, no network, frozen clocks: no ambient authority.
    let wasi = WasiCtxBuilder::new()
        .stdout(Capture::new(0))
        .stderr(stderr.clone())
        .wall_clock(clock.clone())
        .monotonic_clock(clock.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        limiter: Limiter {
            memory_bytes: limits.memory_bytes,
            hit: false,
        },
        ctx,
        ticks: ticks.clone(),
        deadline: 0,
        metered: false,
        import_deadline_hit: false,
        stderr,
        clock,
        // Two 8-byte columns per point: more than the memory could hold only wastes reads.
        max_points: MAX_READ_POINTS
            .min((limits.memory_bytes / 16) as u64)
            .max(1),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.data_mut().metered = store.get_fuel().is_ok();
    set_call_limits(&mut store, limits)?;
    Ok(store)
}

/// Points a (reused) store at the next call's series and evaluation time, and forgets what
/// the previous call left behind.
pub(crate) fn set_call_context(store: &mut Store<HostState>, ctx: CallContext) {
    let st = store.data_mut();
    st.clock.0.store(ctx.now, Ordering::Relaxed);
    st.ctx = ctx;
    st.limiter.hit = false;
    st.stderr.buf.lock().clear();
}

/// Resets the deadline (and fuel) of a store for the next call.
pub(crate) fn set_call_limits(
    store: &mut Store<HostState>,
    limits: &Limits,
) -> Result<(), PluginError> {
    let ticks = limits
        .call_timeout
        .as_micros()
        .div_ceil(EPOCH_TICK.as_micros())
        .max(1) as u64
        + 1;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    let st = store.data_mut();
    st.deadline = st.ticks.now() + ticks;
    st.import_deadline_hit = false;
    st.limiter.hit = false;
    if !st.metered {
        // No fuel in this engine: nothing to set (asking would build an error per call).
        return Ok(());
    }
    // Fuel is engine-wide: when another plugin meters it, this one runs unmetered.
    store
        .set_fuel(limits.fuel.unwrap_or(u64::MAX))
        .map_err(|e| PluginError::Setup(e.to_string()))
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

impl HostState {
    fn check_deadline(&mut self) -> wasmtime::Result<()> {
        if !self.ctx.reads_allowed {
            return Err(wasmtime::Error::msg(
                "history reads are not allowed in `describe`",
            ));
        }
        if self.ticks.now() >= self.deadline {
            self.import_deadline_hit = true;
            return Err(wasmtime::Error::msg(
                "call deadline passed inside a host import",
            ));
        }
        Ok(())
    }

    fn info(&self, id: SeriesId) -> Option<wit::SeriesInfo> {
        let s = self.ctx.engine.series(id)?;
        Some(wit::SeriesInfo {
            id: s.id.0,
            key: s.key.map(|k| k.to_string()),
            keep_history_days: s.settings.keep_history_days,
            keep_trends_days: s.settings.keep_trends_days,
            metadata: s.settings.metadata.into_iter().collect(),
        })
    }

    /// A whole window in one store call, as columns (no `Point` per stored row), at most
    /// `limit` points (callers cap it at what the plugin's memory could hold).
    fn read_columns_limited(
        &mut self,
        series: u64,
        window: Window,
        limit: u64,
    ) -> wasmtime::Result<Result<(PointColumns, bool), wit::Error>> {
        self.check_deadline()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // Imports run on a blocking thread: the store reads on it directly where the backend
        // can, instead of handing the read to its reader threads and waiting.
        let answer =
            self.ctx
                .engine
                .read_columns_blocking(&self.ctx.rt, SeriesId(series), window, limit);
        Ok(match answer {
            Ok(read) => Ok(read),
            // Never written: an empty window, not an error (semantics.md 1).
            Err(clio_core::Error::SeriesNotFound(_)) => Ok((PointColumns::default(), false)),
            Err(clio_core::Error::InvalidRequest(m)) => Err(wit::Error::BadArgument(m)),
            Err(e) => Err(wit::Error::Failed(e.to_string())),
        })
    }

    /// The window of `read-last` / `read-last-columns`.
    fn last_window(&self, n: u64, skip: u64, before: wit::Timestamp) -> Result<Window, wit::Error> {
        // The store reads `skip + n` points to answer: an unbounded skip would make it
        // decode a whole series into host memory.
        if skip > MAX_READ_POINTS {
            return Err(wit::Error::BadArgument(format!(
                "skip {skip} exceeds the limit of {MAX_READ_POINTS} points"
            )));
        }
        Ok(Window::Last {
            n: usize::try_from(n).unwrap_or(usize::MAX),
            skip: usize::try_from(skip).unwrap_or(usize::MAX),
            at: Some(before.min(self.ctx.now)),
        })
    }

    fn read_last_raw(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<(PointColumns, bool), wit::Error>> {
        match self.last_window(n, skip, before) {
            Ok(window) => self.read_columns_limited(series, window, self.max_points),
            Err(e) => Ok(Err(e)),
        }
    }

    fn read_range_raw(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<(PointColumns, bool), wit::Error>> {
        let to = to.min(self.ctx.now);
        let limit = limit.min(self.max_points);
        self.read_columns_limited(series, Window::Range { from, to }, limit)
    }
}

/// A read as `points` (contract 0.1.0 on): four lists, whatever the values.
fn to_points(read: Result<(PointColumns, bool), wit::Error>) -> Result<wit::Points, wit::Error> {
    read.map(|(c, truncated)| wit::Points {
        ts: c.ts,
        nums: c.nums,
        strs: c.strs,
        kinds: c.kinds,
        truncated,
    })
}

/// A read as `columns` (contract 0.2.1 on): the string lists only when there are strings,
/// so a window of numbers crosses as two lists.
fn to_columns(read: Result<(PointColumns, bool), wit::Error>) -> Result<wit::Columns, wit::Error> {
    read.map(|(c, truncated)| wit::Columns {
        ts: c.ts,
        nums: c.nums,
        strings: (!c.kinds.is_empty()).then_some(wit::StringColumns {
            kinds: c.kinds,
            strs: c.strs,
        }),
        truncated,
    })
}

impl wit::Host for HostState {}

impl clio::plugin::history::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<wit::Timestamp> {
        Ok(self.ctx.now)
    }

    fn series(&mut self) -> wasmtime::Result<wit::SeriesInfo> {
        let id = self.ctx.series;
        // A series never written exists for functions as an empty one (semantics.md 1), with
        // the default settings.
        Ok(self.info(id).unwrap_or_else(|| {
            let d = clio_storage::SeriesSettings::default();
            wit::SeriesInfo {
                id: id.0,
                key: None,
                keep_history_days: d.keep_history_days,
                keep_trends_days: d.keep_trends_days,
                metadata: Vec::new(),
            }
        }))
    }

    fn series_by_id(&mut self, id: u64) -> wasmtime::Result<Option<wit::SeriesInfo>> {
        Ok(self.info(SeriesId(id)))
    }

    fn series_id(&mut self) -> wasmtime::Result<u64> {
        Ok(self.ctx.series.0)
    }

    fn series_by_key(&mut self, key: String) -> wasmtime::Result<Option<wit::SeriesInfo>> {
        // A key that does not parse names no series: `none`, like an unknown one.
        let Ok(key) = key.parse::<clio_storage::SeriesKey>() else {
            return Ok(None);
        };
        Ok(self.ctx.engine.series_id(&key).and_then(|id| self.info(id)))
    }

    fn read_last(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Points, wit::Error>> {
        Ok(to_points(self.read_last_raw(series, n, skip, before)?))
    }

    fn read_range(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<wit::Points, wit::Error>> {
        Ok(to_points(self.read_range_raw(series, from, to, limit)?))
    }

    fn read_last_columns(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Columns, wit::Error>> {
        Ok(to_columns(self.read_last_raw(series, n, skip, before)?))
    }

    fn read_range_columns(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<wit::Columns, wit::Error>> {
        Ok(to_columns(self.read_range_raw(series, from, to, limit)?))
    }

    fn read_trends(
        &mut self,
        series: u64,
        interval_ms: i64,
        from: wit::Timestamp,
        to: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Trends, wit::Error>> {
        self.check_deadline()?;
        let Ok(interval) = TrendInterval::from_ms(interval_ms) else {
            return Ok(Err(wit::Error::BadArgument(format!(
                "trend interval {interval_ms} ms"
            ))));
        };
        let to = to.min(self.ctx.now);
        let store = self.ctx.engine.clone();
        let buckets =
            match self
                .ctx
                .rt
                .block_on(store.read_trends(SeriesId(series), interval, from, to))
            {
                Ok(b) => b,
                Err(clio_core::Error::SeriesNotFound(_)) => Vec::new(),
                Err(clio_core::Error::InvalidRequest(m)) => {
                    return Ok(Err(wit::Error::BadArgument(m)));
                }
                Err(e) => return Ok(Err(wit::Error::Failed(e.to_string()))),
            };
        let mut t = wit::Trends {
            interval_ms,
            start: Vec::with_capacity(buckets.len()),
            count: Vec::with_capacity(buckets.len()),
            sum: Vec::with_capacity(buckets.len()),
            sum_sq: Vec::with_capacity(buckets.len()),
            min: Vec::with_capacity(buckets.len()),
            max: Vec::with_capacity(buckets.len()),
            first: Vec::with_capacity(buckets.len()),
            last: Vec::with_capacity(buckets.len()),
        };
        for b in buckets {
            t.start.push(b.start);
            t.count.push(b.count);
            t.sum.push(b.sum);
            t.sum_sq.push(b.sum_sq);
            t.min.push(b.min);
            t.max.push(b.max);
            t.first.push(b.first);
            t.last.push(b.last);
        }
        Ok(Ok(t))
    }
}

/// Logs which allocator is in use (once, at start).
pub(crate) fn log_engine(kind: AllocatorKind) {
    info!(allocator = kind.as_str(), "plugin engine ready");
}
