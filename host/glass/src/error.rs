//! Errors of the Glass AI tables, classified so that a front end can answer 4xx or 5xx.

/// A failed operation on the Glass AI tables.
#[derive(Debug, thiserror::Error)]
pub enum GlassError {
    /// A value is missing, of the wrong type, too long or refers to nothing (HTTP 400). The
    /// message starts with the field's name.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`sensor_id`, `ops[2].data.name`, `sort`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such table or row (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with a row that exists (HTTP 409), e.g. a unique value taken.
    #[error("{0}")]
    Conflict(String),
    /// A body is larger than a configured limit, which the message names (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// The database holds a newer schema than this build knows: refuse to run.
    #[error("glass schema is at version {found}, newer than {supported}; upgrade Clio")]
    SchemaTooNew {
        /// Version found.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The database cannot be reached now (HTTP 503).
    #[error("glass database unavailable: {0}")]
    Unavailable(String),
    /// The database failed (HTTP 500).
    #[error("glass database: {0}")]
    Db(String),
}

impl GlassError {
    /// A 400 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        GlassError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Whether the caller caused it (a 4xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            GlassError::Invalid { .. }
                | GlassError::NotFound(_)
                | GlassError::Conflict(_)
                | GlassError::TooLarge(_)
        )
    }

    /// Prefixes the field of an `Invalid` error (`ops[3].` before `name`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            GlassError::Invalid { field, message } => GlassError::Invalid {
                field: format!("{prefix}{field}"),
                message,
            },
            other => other,
        }
    }
}

impl From<rusqlite::Error> for GlassError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                GlassError::Conflict(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                GlassError::Unavailable(e.to_string())
            }
            _ => GlassError::Db(e.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for GlassError {
    fn from(e: tokio_postgres::Error) -> Self {
        let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
        let text = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        };
        if code.starts_with("23") {
            GlassError::Conflict(text)
        } else if code.starts_with("08")
            || code.starts_with("57")
            || code.starts_with("53")
            || (code.is_empty() && e.is_closed())
        {
            GlassError::Unavailable(text)
        } else {
            GlassError::Db(text)
        }
    }
}

impl From<deadpool_postgres::PoolError> for GlassError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        GlassError::Unavailable(e.to_string())
    }
}

impl From<clio_storage_postgres::PgError> for GlassError {
    fn from(e: clio_storage_postgres::PgError) -> Self {
        match e {
            clio_storage_postgres::PgError::Config(m) => GlassError::invalid("glass.url", m),
            other => GlassError::Db(other.to_string()),
        }
    }
}
