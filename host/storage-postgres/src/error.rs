//! Mapping PostgreSQL and pool errors onto [`StorageError`].

use clio_storage::StorageError;

/// Errors of this crate before they reach the storage seam.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A statement or the connection failed.
    #[error("postgres: {}", chain(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No pooled connection could be had.
    #[error("postgres: no connection: {}", chain(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The options do not describe a usable connection.
    #[error("postgres config: {0}")]
    Config(String),
    /// The database holds a schema newer than this build understands.
    #[error(
        "postgres schema {schema:?} is at version {found}, newer than {supported}; upgrade Clio"
    )]
    SchemaTooNew {
        /// The schema name.
        schema: String,
        /// Version found.
        found: i32,
        /// Newest version this build knows.
        supported: i32,
    },
}

/// An error with its causes on one line: tokio-postgres says only "db error" or "error
/// connecting to server" and keeps the server's message and the OS error in its source.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        // Wrappers often repeat their source's text; say it once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// True for SQLSTATE classes that a retry (on a new connection) may cure: connection
/// exceptions (08), operator intervention such as admin shutdown or
/// `pg_terminate_backend` (57), insufficient resources (53), serialization failures and
/// deadlocks (40).
fn transient(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57") || c.starts_with("53") || c.starts_with("40")
        }
        // No SQLSTATE: the socket closed or the server went away.
        None => e.is_closed() || e.as_db_error().is_none(),
    }
}

/// Converts a [`PgError`]: connection trouble is `Unavailable` (the engine keeps its WAL and
/// retries), everything else is `Other`.
pub fn pg_error(e: PgError) -> StorageError {
    match &e {
        PgError::Db(db) if transient(db) => StorageError::Unavailable(e.to_string()),
        PgError::Pool(_) => StorageError::Unavailable(e.to_string()),
        PgError::Config(_) => StorageError::InvalidInput(e.to_string()),
        _ => StorageError::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_named_on_one_line() {
        let e = Outer(std::io::Error::other("No such file\nor directory"));
        assert_eq!(chain(&e), "outer: No such file or directory");
    }
}
