//! Clio's WebAssembly plugin host (issue #5).
//!
//! History functions (`avg`, `forecast`, ...) are WebAssembly components of the
//! `clio:plugin/history-function` world (`wit/`). This crate runs them sandboxed:
//!
//! - one [`wasmtime::Engine`] (epoch interruption, optional fuel, pooling allocator when a
//!   startup probe can reserve it, else on-demand), one linker, an `InstancePre` per plugin;
//! - a fresh store and instance per call, bounded in wall time (epoch deadline, default
//!   100 ms), memory (default 16 MiB) and optionally fuel; WASI p2 is linked because Rust's
//!   std needs it, but with no files, environment, arguments or network, and with clocks
//!   frozen at the evaluation time;
//! - the `history` import served from [`clio_core::Store`], paging past the store's result
//!   caps so that a function sees its whole window, points moved as columns;
//! - precompiled components cached on disk by file hash and engine compatibility hash;
//! - a registry swapped atomically on reload (file watch or [`PluginHost::reload`]), where a
//!   file that fails to load leaves its previous version serving.
//!
//! A trap, timeout, memory-limit hit or bad output becomes a [`PluginError`] for that one
//! caller; the host and other calls carry on.
//!
//! Modules, in the order a call meets them: `host` (the registry snapshot swapped on
//! reload, the file watch, plugin status), `call` (one call start to finish: admission, an
//! instance, the invocation, the one mapping of its outcome to a [`PluginError`]), `sandbox`
//! (the store a call runs in: WASI without ambient authority, frozen clocks, memory limiter,
//! deadline and fuel), `imports` (the `history` import: windows and trend buckets read on the
//! calling thread), `runtime` (the generated bindings, the engine, the epoch ticker),
//! `linker` (one linker for every world and contract version), `worlds` (what a component
//! is, from its exports), `compat` (older contracts from `wit/compat/<version>`, served by
//! delegation), `policy` (`WasmPolicy`, the housekeeper's policy backed by a plugin),
//! `cache` (precompiled components keyed by sha256 and compatibility hash), `collector`
//! (collector instances on their schedules, their network grants and the `collector-host`
//! import). `build.rs`
//! builds the built-in plugins for `wasm32-wasip2` (adding the target through rustup when
//! missing) and embeds them.

#![deny(missing_docs)]

mod cache;
mod call;
pub mod collector;
mod compat;
mod error;
mod host;
mod imports;
mod linker;
mod options;
mod policy;
mod runtime;
mod sandbox;
mod worlds;

pub use cache::sha256_hex;
pub use call::Session;
pub use collector::{
    CollectorError, CollectorObserver, CollectorSpec, CollectorStatus, Collectors, HostGrant,
    NoObserver, Outcome, RunReport, Schedule,
};
pub use compat::SUPPORTED_CONTRACTS;
pub use error::PluginError;
pub use host::{
    FnValue, FunctionInfo, ParamInfo, PluginHost, PluginStatus, ReloadReport, split_args,
};
pub use options::{AllocatorMode, Limits, PluginOptions};
pub use policy::WasmPolicy;
pub use runtime::AllocatorKind;
pub use sandbox::SeriesAccess;

/// Directory of the built-in plugins (`plugins/*`), as built by this crate's build script.
pub const BUILTIN_PLUGINS_DIR: &str = env!("CLIO_BUILTIN_PLUGINS_DIR");

/// The built-in plugins embedded in this binary, as `(file name, component bytes)`; empty
/// when the crate was built with `CLIO_SKIP_PLUGIN_BUILD`.
pub static BUILTIN_PLUGINS: &[(&str, &[u8])] =
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Directory of the test guests (`tests/plugins/*`), for this crate's tests and benches.
#[doc(hidden)]
pub const TEST_PLUGINS_DIR: &str = env!("CLIO_TEST_PLUGINS_DIR");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_alepiz() {
        assert_eq!(split_args("#10, 0 ,15,gt"), ["#10", "0", "15", "gt"]);
        assert_eq!(split_args("\"#10\", '1m'"), ["#10", "1m"]);
        assert_eq!(split_args("#10,0,,gt"), ["#10", "0", "", "gt"]);
        assert!(split_args("  ").is_empty());
        assert_eq!(split_args("5m"), ["5m"]);
    }

    #[test]
    fn statuses_match_the_api_contract() {
        let bad = PluginError::BadArgument {
            function: "avg".into(),
            param: "num".into(),
        };
        assert_eq!(bad.status(), 400);
        assert!(bad.to_string().contains("num"));
        assert_eq!(PluginError::UnknownFunction("x".into()).status(), 404);
        let t = PluginError::Timeout {
            function: "f".into(),
            millis: 100,
        };
        assert_eq!(t.status(), 500);
        assert!(t.is_plugin_fault());
        assert!(!bad.is_plugin_fault());
    }
}
