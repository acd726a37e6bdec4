//! Clio's PostgreSQL storage backend (issue #16): [`PgBackend`] implements the storage traits
//! over a `deadpool-postgres` pool. The catalog lives in `series`; raw points are compressed
//! chunks (clio-codec, as in SQLite) in `chunks`, range-partitioned over `start_ts` (BIGINT
//! ms) with a default partition for everything outside; trends are trend chunks in
//! `trend_chunks`, maintained in the write's own transaction; recent points are also kept as
//! plain rows behind the `points` view for psql, Grafana or BI tools. Every table is keyed
//! by `series_id` first (Citus can distribute it unchanged). See docs/postgres.md.
//!
//! Writes of a flush take a fixed number of round trips whatever the number of series: the
//! touched chunks of every series are fetched with one query, deleted with one statement
//! and the merged chunks written with one binary `COPY`.

mod backend;
mod catalog;
mod error;
mod options;
mod partitions;
mod points;
mod pool;
mod rows;
mod schema;
mod tls;
mod trends;

pub use backend::PgBackend;
pub use error::{PgError, pg_error};
pub use options::{PgOptions, SslMode};
pub use pool::{build_pool, open_pool};
pub use schema::{SCHEMA_VERSION, migrate};
pub use trends::MAX_TREND_CHUNK;
