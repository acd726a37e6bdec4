//! The client's one error type.

/// Why a request to a Clio server failed.
///
/// Server-side refusals keep the server's own message (`{"error": "..."}` over HTTP, the `err`
/// field of a TCP reply), so a command-line tool can show the user exactly what the server
/// said.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status; `message` is its `{"error"}` text (or the
    /// body itself when it was not JSON).
    #[error("server answered {status}: {message}")]
    Server {
        /// HTTP status code (a TCP error reply carries an HTTP-like `code` too).
        status: u16,
        /// The server's message.
        message: String,
    },
    /// A TCP reply carried an `err` without a status code.
    #[error("server error: {0}")]
    Remote(String),
    /// The server URL or address is unusable.
    #[error("invalid server address `{address}`: {reason}")]
    InvalidAddress {
        /// What was given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be sent or its answer not received (connection refused, reset,
    /// HTTP protocol error).
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The answer is not what the API promises (not JSON, wrong shape).
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// The byte stream broke the ALEPIZ framing (bad magic, version, length).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection closed before the reply came (or was already closed).
    #[error("connection closed: {0}")]
    Closed(String),
    /// No reply within the configured request timeout.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// A request argument is invalid before anything was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// The HTTP(-like) status of a server-side refusal, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the server said the thing asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
