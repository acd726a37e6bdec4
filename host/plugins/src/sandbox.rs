//! What one call runs in: a store with a sandboxed WASI context (no files, environment,
//! arguments or network; clocks frozen at the evaluation time; output captured), its memory
//! limiter, and the call's context and limits, set afresh for every call on a reused store.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use clio_storage::{SeriesId, Timestamp};
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::collector::grants::{CollectorCtx, NetGrants};
use crate::error::PluginError;
use crate::imports::MAX_READ_POINTS;
use crate::options::Limits;
use crate::runtime::{EPOCH_TICK, Ticks};

/// Most bytes of a guest's stderr kept (for panic messages in errors).
const STDERR_CAP: usize = 4096;

/// What one call may touch: the engine's store, the series, the evaluation time.
#[derive(Debug, Clone)]
pub(crate) struct CallContext {
    /// The engine (named so beside wasmtime's own `Store`).
    pub(crate) engine: clio_core::Store,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) series: SeriesId,
    pub(crate) now: Timestamp,
    /// False while loading (`describe`): reads would block a thread that may be async.
    pub(crate) reads_allowed: bool,
    /// Which other series the caller may see (`None`: every series).
    pub(crate) access: Option<SeriesAccess>,
}

/// The check behind [`SeriesAccess`].
pub type AccessCheck = dyn Fn(SeriesId, Option<&clio_storage::SeriesKey>) -> bool + Send + Sync;

/// Which series a call may read: the caller's scope, so that a function reading another
/// series cannot see what its caller could not. Given the series id and its key (`None`
/// for a series without a key, or one not written yet).
#[derive(Clone)]
pub struct SeriesAccess(pub std::sync::Arc<AccessCheck>);

impl std::fmt::Debug for SeriesAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeriesAccess")
    }
}

/// A `ResourceLimiter` that remembers that it refused, so the trap that follows can be
/// reported as a memory-limit hit rather than as a bare `unreachable`.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) hit: bool,
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
    /// `wasi:http` state; requests go through `net`, which refuses every host not granted.
    http: wasmtime_wasi_http::WasiHttpCtx,
    /// The network a collector instance was granted (none for functions and policies).
    pub(crate) net: NetGrants,
    /// Set for a collector instance: its name and log budget.
    pub(crate) collector: Option<CollectorCtx>,
    pub(crate) limiter: Limiter,
    pub(crate) ctx: CallContext,
    /// The engine's epoch, as a counter.
    pub(crate) ticks: Ticks,
    /// The tick at which host imports stop serving (the epoch deadline covers guest code).
    pub(crate) deadline: u64,
    /// Whether the engine meters fuel (else `set_call_limits` leaves fuel alone).
    pub(crate) metered: bool,
    /// Set when a host import refused because the deadline had passed.
    pub(crate) import_deadline_hit: bool,
    pub(crate) stderr: Capture,
    pub(crate) clock: FrozenClock,
    pub(crate) max_points: u64,
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

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.net,
        }
    }
}

/// Wall and monotonic clocks frozen at the evaluation time: a plugin sees no clock but the
/// one the contract hands over. Shared with the store's data so that a reused instance
/// sees each call's evaluation time.
#[derive(Debug, Clone, Default)]
pub(crate) struct FrozenClock(Arc<AtomicI64>);

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
pub(crate) struct Capture {
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
    pub(crate) fn text(&self) -> String {
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
    new_store_with(engine, ticks, ctx, limits, wasi, stderr, clock, None)
}

/// A store for one collector instance: the WASI context carries its grants (TCP addresses,
/// real clocks) and `net` its HTTP hosts.
pub(crate) fn new_collector_store(
    engine: &Engine,
    ticks: &Ticks,
    ctx: CallContext,
    limits: &Limits,
    net: NetGrants,
    collector: CollectorCtx,
) -> Result<Store<HostState>, PluginError> {
    let stderr = Capture::new(STDERR_CAP);
    // Its clock is not used: collectors see the real one (granted with the schedule).
    let clock = FrozenClock(Arc::new(AtomicI64::new(ctx.now)));
    let mut b = WasiCtxBuilder::new();
    b.stdout(Capture::new(0))
        .stderr(stderr.clone())
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .allow_tcp(net.has_tcp());
    let allowed = net.tcp_check();
    b.socket_addr_check(move |addr, usage| {
        let ok = allowed(addr, usage);
        Box::pin(async move { ok })
    });
    let wasi = b.build();
    let mut store = new_store_with(
        engine,
        ticks,
        ctx,
        limits,
        wasi,
        stderr,
        clock,
        Some(collector),
    )?;
    store.data_mut().net = net;
    Ok(store)
}

#[allow(clippy::too_many_arguments)]
fn new_store_with(
    engine: &Engine,
    ticks: &Ticks,
    ctx: CallContext,
    limits: &Limits,
    wasi: WasiCtx,
    stderr: Capture,
    clock: FrozenClock,
    collector: Option<CollectorCtx>,
) -> Result<Store<HostState>, PluginError> {
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        http: wasmtime_wasi_http::WasiHttpCtx::new(),
        net: NetGrants::default(),
        collector,
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
    st.deadline = st.ticks.arm(ticks);
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
