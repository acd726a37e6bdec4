//! Clio's PostgreSQL storage backend (issue #16), work in progress.
//!
//! This first step holds what the backend stands on: the connection [`PgOptions`], the mapping
//! of PostgreSQL errors onto [`clio_storage::StorageError`], and the versioned, idempotent
//! schema migrations ([`migrate`]). The `StorageBackend` implementation follows.

mod error;
mod options;
mod pool;
mod schema;

pub use error::{PgError, pg_error};
pub use options::{PgOptions, SslMode};
pub use pool::open_pool;
pub use schema::{SCHEMA_VERSION, migrate};
