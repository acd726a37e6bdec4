//! End-to-end tests of Clio: real processes, real files, real kills. The tests live in
//! `tests/`; `src/bin/` holds the helper programs they drive.

use std::path::Path;
use std::sync::Arc;

use clio_core::{EngineOptions, Store};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

/// Opens an engine over `<dir>/clio.db` with default options (sync = always) and no
/// restamping, as the crash tests use it.
pub async fn open_store(dir: &Path) -> anyhow::Result<Store> {
    let backend = Arc::new(SqliteBackend::open(SqliteOptions::new(
        dir.join("clio.db"),
    ))?);
    let mut opts = EngineOptions::new(dir);
    opts.timestamp_max_past = None;
    opts.timestamp_max_future = None;
    opts.query_max_result_numbers = 100_000_000;
    let (store, _) = Store::open(opts, backend).await?;
    Ok(store)
}

/// The value the crash writer gives point `i` of batch `b` of series `s`, so the checker can
/// recompute it.
pub fn crash_value(batch: u64, series: u64, i: u64) -> f64 {
    (batch * 1_000_003 + series * 101 + i) as f64 / 100.0
}

/// Series the crash writer writes to.
pub const CRASH_SERIES: u64 = 20;
/// Points per series per batch.
pub const CRASH_POINTS: u64 = 50;

pub mod harness;
