//! Errors of the plugin host. Each carries enough to answer the one caller it concerns.

use std::path::PathBuf;

use clio_storage::SeriesId;

/// Why an evaluation or a load failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A parameter was rejected by the function (HTTP 400; names the parameter).
    #[error("{function}: bad argument `{param}`")]
    BadArgument {
        /// The function.
        function: String,
        /// The parameter, as the function named it.
        param: String,
    },
    /// No loaded plugin provides this function (HTTP 404).
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// The series does not exist (HTTP 404).
    #[error("series {0} not found")]
    SeriesNotFound(SeriesId),
    /// The function reported something it needs as missing (HTTP 404).
    #[error("{function}: not found: {what}")]
    NotFound {
        /// The function.
        function: String,
        /// What was missing.
        what: String,
    },
    /// The function reported a failure of its own (HTTP 500).
    #[error("{function}: failed: {message}")]
    Failed {
        /// The function.
        function: String,
        /// Its message.
        message: String,
    },
    /// The call ran past its wall-time deadline and was interrupted (HTTP 500).
    #[error("{function}: timed out after {millis} ms")]
    Timeout {
        /// The function.
        function: String,
        /// The deadline.
        millis: u64,
    },
    /// The call used up its fuel (HTTP 500).
    #[error("{function}: ran out of fuel")]
    OutOfFuel {
        /// The function.
        function: String,
    },
    /// The plugin tried to grow its memory past the limit (HTTP 500).
    #[error("{function}: memory limit of {limit_bytes} bytes exceeded")]
    MemoryLimit {
        /// The function.
        function: String,
        /// The limit.
        limit_bytes: usize,
    },
    /// The plugin trapped (stack overflow, `unreachable`, panic, ...) (HTTP 500).
    #[error("{function}: trapped: {message}")]
    Trap {
        /// The function.
        function: String,
        /// What wasmtime said, plus the plugin's panic message when it printed one.
        message: String,
    },
    /// The plugin answered something the host refuses (a too long string, a non-finite
    /// number) (HTTP 500).
    #[error("{function}: bad output: {message}")]
    BadOutput {
        /// The function.
        function: String,
        /// Why.
        message: String,
    },
    /// Too many calls run at once (HTTP 503).
    #[error("plugin host busy: {0}")]
    Busy(String),
    /// A plugin file could not be loaded.
    #[error("cannot load plugin {path}: {reason}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The host could not be set up (engine, linker, cache directory, watcher).
    #[error("plugin host setup failed: {0}")]
    Setup(String),
    /// The engine's read path failed while serving a plugin (HTTP 500).
    #[error("read failed: {0}")]
    Store(String),
}

impl PluginError {
    /// The HTTP status that fits: 400 for bad arguments, 404 for unknown functions and
    /// series, 503 when busy, 500 for everything the plugin or the host did wrong.
    pub fn status(&self) -> u16 {
        match self {
            PluginError::BadArgument { .. } => 400,
            PluginError::UnknownFunction(_)
            | PluginError::SeriesNotFound(_)
            | PluginError::NotFound { .. } => 404,
            PluginError::Busy(_) => 503,
            _ => 500,
        }
    }

    /// A short machine-readable kind (`bad_argument`, `timeout`, `memory_limit`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::BadArgument { .. } => "bad_argument",
            PluginError::UnknownFunction(_) => "unknown_function",
            PluginError::SeriesNotFound(_) => "series_not_found",
            PluginError::NotFound { .. } => "not_found",
            PluginError::Failed { .. } => "failed",
            PluginError::Timeout { .. } => "timeout",
            PluginError::OutOfFuel { .. } => "out_of_fuel",
            PluginError::MemoryLimit { .. } => "memory_limit",
            PluginError::Trap { .. } => "trap",
            PluginError::BadOutput { .. } => "bad_output",
            PluginError::Busy(_) => "busy",
            PluginError::Load { .. } => "load",
            PluginError::Setup(_) => "setup",
            PluginError::Store(_) => "store",
        }
    }

    /// Whether this failure is the plugin's fault (counted as a plugin error).
    pub fn is_plugin_fault(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout { .. }
                | PluginError::OutOfFuel { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::Trap { .. }
                | PluginError::BadOutput { .. }
        )
    }
}
