use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clio_storage::priority::Priority;
use clio_storage::sealing::Keyring;
use clio_storage::{DEFAULT_TREND_INTERVALS, TrendInterval};

/// Most points in one chunk row. Appends fill the newest chunk up to this size; late points
/// that land in a full chunk split it into evenly sized halves.
pub const DEFAULT_MAX_CHUNK_POINTS: usize = 2048;

/// How to open a [`crate::SqliteBackend`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; created with its directory when missing.
    pub path: PathBuf,
    /// SQLite busy timeout (`db_lock_timeout`, default 5000 ms).
    pub busy_timeout: Duration,
    /// Reader threads (`storage_querying_processes_num`); 0 means one per CPU core.
    pub readers: usize,
    /// Trend intervals to maintain. Intervals added since the file was last opened are built
    /// from the stored points at open; removed ones are dropped.
    pub trend_intervals: Vec<TrendInterval>,
    /// Most points in one chunk row.
    pub max_chunk_points: usize,
    /// The data keys: with a current key, chunk bodies are sealed (encryption at rest,
    /// `docs/security.md`). None by default.
    pub keys: Arc<Keyring>,
    /// CPU priority of the writer thread, which does a flush's writes. `Normal` (the default
    /// here) keeps the caller's; the server sets `[cache] flush_priority`, so that reads on a
    /// busy machine do not wait behind a flush ([`clio_storage::priority`]).
    pub writer_priority: Priority,
}

impl SqliteOptions {
    /// Defaults from the seed for the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            busy_timeout: Duration::from_millis(5000),
            readers: 0,
            trend_intervals: DEFAULT_TREND_INTERVALS.to_vec(),
            max_chunk_points: DEFAULT_MAX_CHUNK_POINTS,
            keys: Arc::default(),
            writer_priority: Priority::Normal,
        }
    }

    /// The number of reader threads to start.
    pub(crate) fn reader_threads(&self) -> usize {
        if self.readers > 0 {
            self.readers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}
