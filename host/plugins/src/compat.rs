//! Older contract versions the host keeps serving without recompiling their plugins.
//!
//! Every released version of `clio:plugin` is frozen under `wit/compat/<version>/`. Versions
//! semver-compatible with the current one (0.2.0 next to 0.2.1) need nothing here: wasmtime
//! resolves their imports to the current definitions and finds their exports through the
//! current bindings. For each older minor version (0.1.0), this module generates host
//! bindings and serves its imports by delegating to the current implementation. A version
//! may only differ from the current one by additions (new functions, new types, new
//! worlds), so delegation is exact: an old plugin sees the behaviour it was built against.
//! The shared `types` interface has only grown since 0.1.0, so its Rust types are reused
//! (`with`), which keeps the adapters to a line per function.

use wasmtime::component::{HasSelf, Linker};

use crate::error::PluginError;
use crate::runtime::wit;
use crate::sandbox::HostState;

/// `clio:plugin@0.1.0`: the first contract (history functions only).
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "history-function",
        path: "../../wit/compat/0.1.0",
        imports: { default: trappable },
        with: { "clio:plugin/types": crate::runtime::clio::plugin::types },
    });
}

/// Contract versions this host serves, newest first (as `GET /api/v1/plugins` shows them):
/// history functions of all of them, policies and collectors of the 0.2.x ones.
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.2.2", "0.2.1", "0.2.0", "0.1.0"];

/// Adds the imports of the older contracts to the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<(), PluginError> {
    let setup = |e: wasmtime::Error| PluginError::Setup(format!("contract 0.1.0: {e:#}"));
    v0_1::clio::plugin::history::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
        .map_err(setup)?;
    // The type-only interface is still an instance import of old components.
    linker.instance("clio:plugin/types@0.1.0").map_err(setup)?;
    Ok(())
}

use crate::runtime::clio::plugin::history::Host as Current;

impl v0_1::clio::plugin::history::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<wit::Timestamp> {
        Current::now(self)
    }

    fn series(&mut self) -> wasmtime::Result<wit::SeriesInfo> {
        Current::series(self)
    }

    fn series_by_id(&mut self, id: u64) -> wasmtime::Result<Option<wit::SeriesInfo>> {
        Current::series_by_id(self, id)
    }

    fn read_last(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Points, wit::Error>> {
        Current::read_last(self, series, n, skip, before)
    }

    fn read_range(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<wit::Points, wit::Error>> {
        Current::read_range(self, series, from, to, limit)
    }

    fn read_trends(
        &mut self,
        series: u64,
        interval_ms: i64,
        from: wit::Timestamp,
        to: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Trends, wit::Error>> {
        Current::read_trends(self, series, interval_ms, from, to)
    }
}
