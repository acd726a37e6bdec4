//! Host settings: where plugins live, and the limits every call runs under.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Bounds of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall time of one call (epoch deadline).
    pub call_timeout: Duration,
    /// Linear memory of one instance, in bytes.
    pub memory_bytes: usize,
    /// Fuel per call; `None` leaves fuel metering off for this plugin.
    pub fuel: Option<u64>,
    /// Longest string result accepted, in bytes.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_millis(100),
            memory_bytes: 16 << 20,
            fuel: None,
            max_output_bytes: 1 << 20,
        }
    }
}

/// Which instance allocator the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocatorMode {
    /// Pooling when a startup probe can reserve the pool, else on-demand.
    #[default]
    Auto,
    /// Pooling or fail.
    Pooling,
    /// On-demand allocation.
    OnDemand,
}

/// Everything the plugin host needs to start.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// Built-in plugins held in memory (usually [`crate::BUILTIN_PLUGINS`]), as
    /// `(file name, bytes)`; they load first and never change.
    pub builtin: &'static [(&'static str, &'static [u8])],
    /// A directory of further built-in plugins (tests use it); `None` = none.
    pub builtin_dir: Option<PathBuf>,
    /// Directory of user plugins, watched for changes; `None` = built-ins only. A user
    /// plugin whose function name equals a built-in's replaces it.
    pub user_dir: Option<PathBuf>,
    /// Where precompiled components are cached (`<data_dir>/plugin-cache`); `None`
    /// compiles in memory at every load.
    pub cache_dir: Option<PathBuf>,
    /// Limits of every call.
    pub limits: Limits,
    /// Per-function overrides of [`PluginOptions::limits`], by function name.
    pub limits_by_function: HashMap<String, Limits>,
    /// Watch `user_dir` and reload on change.
    pub watch: bool,
    /// Instance allocator.
    pub allocator: AllocatorMode,
    /// Most calls running at once (and, with pooling, instance slots).
    pub max_concurrent_calls: u32,
    /// The largest memory limit of a collector instance, bytes (the pooling allocator's
    /// slots must hold it); 0 = none configured.
    pub max_collector_memory: usize,
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            builtin: &[],
            builtin_dir: None,
            user_dir: None,
            cache_dir: None,
            limits: Limits::default(),
            limits_by_function: HashMap::new(),
            watch: true,
            allocator: AllocatorMode::Auto,
            max_concurrent_calls: 64,
            max_collector_memory: 0,
        }
    }
}

impl PluginOptions {
    /// The limits of one function.
    pub fn limits_for(&self, function: &str) -> &Limits {
        self.limits_by_function
            .get(function)
            .unwrap_or(&self.limits)
    }
}
