//! The one linker of every world and contract version: WASI p2 (sandboxed per call), the
//! current `history` and `types` ([`crate::runtime`]), and the older contracts' imports
//! ([`crate::compat`]). It sits above both, so neither needs the other to build it.

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::error::PluginError;
use crate::runtime::HistoryFunction;
use crate::sandbox::HostState;

/// Builds the linker. A component only needs its own imports satisfied, so policies (which
/// import nothing but types and WASI) use it as well.
pub(crate) fn build(engine: &Engine) -> Result<Linker<HostState>, PluginError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .map_err(|e| PluginError::Setup(e.to_string()))?;
    HistoryFunction::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
        .map_err(|e| PluginError::Setup(e.to_string()))?;
    // `wasi:http`: every request passes the store's grants (`collector::grants`), which
    // refuse everything for functions and policies.
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
        .map_err(|e| PluginError::Setup(e.to_string()))?;
    crate::worlds::collector_world::clio::plugin::collector_host::add_to_linker::<
        HostState,
        HasSelf<HostState>,
    >(&mut linker, |s| s)
    .map_err(|e| PluginError::Setup(e.to_string()))?;
    crate::compat::add_to_linker(&mut linker)?;
    Ok(linker)
}
