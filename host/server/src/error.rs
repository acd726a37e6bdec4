//! One error type for both front ends, classifying every failure as the client's (4xx, the
//! message names what was wrong) or the server's (5xx, logged).

use clio_core::Error as EngineError;
use clio_storage::StorageError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or names something invalid (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// No or wrong credentials (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// The principal lacks the role, or the series is outside its scope (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// A rate limit was hit; retry later (HTTP 429).
    #[error("{0}")]
    TooManyRequests(String),
    /// The thing asked for does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists (HTTP 409), e.g. a name already taken.
    #[error("{0}")]
    Conflict(String),
    /// The request body or frame is larger than allowed (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// The client did not send its request in time (HTTP 408).
    #[error("{0}")]
    Timeout(String),
    /// The server is overloaded or shutting down; retry later (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// The server failed (HTTP 500); details are logged.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::TooManyRequests(_) => 429,
            ApiError::NotFound(_) => 404,
            ApiError::Timeout(_) => 408,
            ApiError::Conflict(_) => 409,
            ApiError::TooLarge(_) => 413,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// Whether the client caused it.
    pub fn is_client_error(&self) -> bool {
        self.status() < 500
    }

    /// Shorthand for a bad request.
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }
}

impl From<clio_glass::GlassError> for ApiError {
    fn from(e: clio_glass::GlassError) -> Self {
        use clio_glass::GlassError as G;
        match e {
            G::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            G::NotFound(m) => ApiError::NotFound(m),
            G::Conflict(m) => ApiError::Conflict(m),
            G::TooLarge(m) => ApiError::TooLarge(m),
            G::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            G::SchemaTooNew { .. } | G::Db(_) => {
                tracing::error!(error = %e, "glass database error");
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidWrite(_) | EngineError::InvalidRequest(_) => {
                ApiError::BadRequest(e.to_string())
            }
            EngineError::SeriesNotFound(_) => ApiError::NotFound(e.to_string()),
            // The log thread logs a failing log once; a request repeating it would flood the
            // log while the disk is full.
            EngineError::Overloaded(_) | EngineError::Closed | EngineError::Wal(_) => {
                ApiError::Unavailable(e.to_string())
            }
            EngineError::Storage(s) => s.into(),
            other => {
                tracing::error!(error = %other, "engine failure");
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<clio_plugins::PluginError> for ApiError {
    fn from(e: clio_plugins::PluginError) -> Self {
        match e.status() {
            400 => ApiError::BadRequest(e.to_string()),
            404 => ApiError::NotFound(e.to_string()),
            503 => ApiError::Unavailable(e.to_string()),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(_) => ApiError::NotFound(e.to_string()),
            StorageError::InvalidInput(_) => ApiError::BadRequest(e.to_string()),
            StorageError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::Internal(other.to_string())
            }
        }
    }
}
