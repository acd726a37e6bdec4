//! Clio's embedded storage backend: one SQLite file (WAL mode) holding the series catalog,
//! raw points in compressed per-series chunks (see `docs/file-format.md` and
//! `docs/chunk-format.md`) and trend buckets.
//!
//! [`SqliteBackend`] implements [`clio_storage::StorageBackend`]: one writer thread owns the
//! only read-write connection, and a pool of reader threads (`storage_querying_processes_num`)
//! each own a read-only connection, so reads never wait for the writer (SQLite's WAL gives each
//! read transaction a consistent snapshot). Callers that may block can read on their own thread
//! through a few more read-only connections (`read_range_columns_inline`), skipping the
//! hand-off. [`DirectReader`] is the same read path without a server: it opens the file
//! read-only, safely while a server writes to it.
#![deny(missing_docs)]

mod backend;
mod caller_thread_reads;
mod catalog;
mod chunks;
mod direct;
mod error;
mod fresh;
mod options;
mod pool;
mod query;
mod schema;
mod sealing;
mod trends;

pub use backend::SqliteBackend;
pub use direct::DirectReader;
pub use options::{DEFAULT_MAX_CHUNK_POINTS, SqliteOptions};
pub use query::StoreTotals;
pub use schema::FORMAT_VERSION;
pub use sealing::chunks_by_key_in;
pub use trends::MAX_TREND_CHUNK;
