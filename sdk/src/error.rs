//! The error a function returns to the host.

/// Why a function call failed. The host turns [`Error::BadArgument`] into a client error
/// (HTTP 400) that names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A parameter has the wrong kind or value, or a required one is missing.
    #[error("bad argument `{name}`: {why}")]
    BadArgument {
        /// The parameter's name (`num`, `shift`, `pattern`, ...).
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// Something the function needs does not exist (another series, ...).
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else: a failed read, malformed data from the host.
    #[error("{0}")]
    Failed(String),
}

/// Shorthand for results of SDK calls and history functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds [`Error::BadArgument`]: `bad_argument("num", "expected #N or a duration")`.
pub fn bad_argument(name: impl Into<String>, why: impl Into<String>) -> Error {
    Error::BadArgument {
        name: name.into(),
        why: why.into(),
    }
}
