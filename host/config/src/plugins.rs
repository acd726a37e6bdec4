//! `[plugins]`: the WebAssembly plugin host and its limits.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::default_true;

/// `[plugins]`: the WebAssembly plugin host (docs/plugins-host.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Run the plugin host at all; `false` disables every history function.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Load the built-in history functions shipped with Clio.
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// Directory of user plugins (`*.wasm`); empty = built-in functions only. Relative
    /// paths are relative to the working directory, like `data_dir`.
    #[serde(default)]
    pub dir: String,
    /// Reload user plugins when a file in `dir` changes.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Wall-time limit of one function call, ms.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// Linear-memory limit of one plugin instance, MiB.
    #[serde(default = "default_plugin_memory_mb")]
    pub memory_mb: usize,
    /// Fuel (roughly, Wasm instructions) per call; 0 = no fuel metering.
    #[serde(default)]
    pub fuel: u64,
    /// Longest string a function may return, KiB.
    #[serde(default = "default_max_output_kb")]
    pub max_output_kb: usize,
    /// Function calls running at once (and pooling-allocator slots).
    #[serde(default = "default_max_concurrent_calls")]
    pub max_concurrent_calls: u32,
    /// Instance allocator: `auto` (pooling when the address space allows, else on-demand),
    /// `pooling` or `on-demand`.
    #[serde(default = "default_allocator")]
    pub allocator: String,
    /// Per-function overrides of the limits above, by function name.
    #[serde(default)]
    pub limits: std::collections::BTreeMap<String, PluginLimitsConfig>,
}

/// `[plugins.limits.<function>]`: limits of one function; absent keys take `[plugins]`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimitsConfig {
    /// Wall-time limit of one call, ms.
    pub call_timeout_ms: Option<u64>,
    /// Memory limit, MiB.
    pub memory_mb: Option<usize>,
    /// Fuel per call; 0 = no fuel metering.
    pub fuel: Option<u64>,
    /// Longest string result, KiB.
    pub max_output_kb: Option<usize>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            enabled: true,
            builtin: true,
            dir: String::new(),
            watch: true,
            call_timeout_ms: default_call_timeout_ms(),
            memory_mb: default_plugin_memory_mb(),
            fuel: 0,
            max_output_kb: default_max_output_kb(),
            max_concurrent_calls: default_max_concurrent_calls(),
            allocator: default_allocator(),
            limits: Default::default(),
        }
    }
}

/// The longest `call_timeout_ms` accepted (one hour).
pub const MAX_CALL_TIMEOUT_MS: u64 = 3_600_000;

const fn default_call_timeout_ms() -> u64 {
    100
}
const fn default_plugin_memory_mb() -> usize {
    16
}
const fn default_max_output_kb() -> usize {
    1024
}
const fn default_max_concurrent_calls() -> u32 {
    64
}
fn default_allocator() -> String {
    "auto".into()
}

impl PluginsConfig {
    /// The plugin cache directory under a data directory.
    pub fn cache_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("plugin-cache")
    }

    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        if !["auto", "pooling", "on-demand"].contains(&self.allocator.as_str()) {
            errs.push(format!(
                "plugins.allocator `{}` must be auto, pooling or on-demand",
                self.allocator
            ));
        }
        if self.max_concurrent_calls == 0 {
            errs.push("plugins.max_concurrent_calls must be at least 1".into());
        }
        let top = PluginLimitsConfig {
            call_timeout_ms: Some(self.call_timeout_ms),
            memory_mb: Some(self.memory_mb),
            fuel: Some(self.fuel),
            max_output_kb: Some(self.max_output_kb),
        };
        for (name, l) in std::iter::once(("plugins", &top))
            .chain(self.limits.iter().map(|(k, v)| (k.as_str(), v)))
        {
            let prefix = if name == "plugins" {
                "plugins".to_string()
            } else {
                format!("plugins.limits.{name}")
            };
            // The deadline is counted in engine ticks added to the current one: a timeout of
            // many millennia would overflow that sum.
            if l.call_timeout_ms == Some(0)
                || l.call_timeout_ms.is_some_and(|t| t > MAX_CALL_TIMEOUT_MS)
            {
                errs.push(format!(
                    "{prefix}.call_timeout_ms must be between 1 and {MAX_CALL_TIMEOUT_MS} (1 hour)"
                ));
            }
            if l.memory_mb == Some(0) || l.memory_mb.is_some_and(|m| m > 4096) {
                errs.push(format!("{prefix}.memory_mb must be between 1 and 4096"));
            }
            if l.max_output_kb == Some(0) {
                errs.push(format!("{prefix}.max_output_kb must be at least 1"));
            }
        }
    }
}
