//! Direct file access: reading a Clio SQLite file without the server (the seed's
//! `directAccessToDBFile`), safely while a server writes to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clio_storage::sealing::Keyring;
use clio_storage::{
    Point, Result, SeriesFilter, SeriesId, SeriesInfo, SeriesKey, SeriesStats, StorageError,
    Timestamp, TrendBucket, TrendInterval,
};
use rusqlite::{Connection, OpenFlags};

use crate::error::sql;
use crate::{catalog, query, schema, sealing};

/// A read-only view of a database file. It sees what the server has flushed to the file (the
/// server's unflushed points live in its write-ahead log and cache until the next flush,
/// at most `cache_service_interval` later). Each call reads one consistent snapshot; the
/// server never waits for a direct reader.
#[derive(Debug)]
pub struct DirectReader {
    path: PathBuf,
    conn: Connection,
    intervals: Vec<TrendInterval>,
}

impl DirectReader {
    /// Opens `path` read-only. Fails if it is not a Clio file or was written by a newer
    /// Clio.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_keys(path, Arc::default())
    }

    /// Opens `path` read-only with the store's data keys (an encrypted store needs them;
    /// a missing or wrong key is an error here, before anything is read).
    pub fn open_with_keys(path: impl AsRef<Path>, keys: Arc<Keyring>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(StorageError::InvalidInput(format!(
                "{}: no such database file",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        schema::configure_reader(&conn, Duration::from_millis(5000))?;
        let version = schema::read_meta(&conn, "format_version").map_err(|e| {
            StorageError::InvalidInput(format!("{} is not a Clio database: {e}", path.display()))
        })?;
        let Some(version) = version else {
            return Err(StorageError::InvalidInput(format!(
                "{} is not a Clio database (no format version)",
                path.display()
            )));
        };
        schema::check_version(&version)?;
        sealing::register(&conn, &keys)?;
        sealing::check_store(&conn, &keys, false)?;
        let intervals = schema::stored_intervals(&conn)?.unwrap_or_default();
        Ok(DirectReader {
            path,
            conn,
            intervals,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Trend intervals the file holds.
    pub fn trend_intervals(&self) -> &[TrendInterval] {
        &self.intervals
    }

    /// One catalog entry.
    pub fn series(&mut self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        query::in_read_tx(&mut self.conn, |c| catalog::get(c, id))
    }

    /// The catalog entry of a line-protocol key.
    pub fn find_key(&mut self, key: &SeriesKey) -> Result<Option<SeriesInfo>> {
        query::in_read_tx(&mut self.conn, |c| catalog::find_key(c, key))
    }

    /// Catalog entries passing `filter`.
    pub fn list_series(&mut self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        query::in_read_tx(&mut self.conn, |c| catalog::list(c, filter))
    }

    /// The newest `n` points stamped before `before`, ascending.
    pub fn read_last(&mut self, id: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        query::in_read_tx(&mut self.conn, |c| query::read_last(c, id, n, before))
    }

    /// The newest `limit` points of `[from, to)`, ascending.
    pub fn read_range(
        &mut self,
        id: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        query::in_read_tx(&mut self.conn, |c| {
            query::read_range(c, id, from, to, limit)
        })
    }

    /// Trend buckets of one interval starting in `[from, to)`.
    pub fn read_trends(
        &mut self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        query::in_read_tx(&mut self.conn, |c| {
            crate::trends::read(c, id, interval, from, to)
        })
    }

    /// Size and span of one series' raw data.
    pub fn stats(&mut self, id: SeriesId) -> Result<SeriesStats> {
        query::in_read_tx(&mut self.conn, |c| query::stats(c, id))
    }

    /// File size in bytes (main file plus SQLite's WAL).
    pub fn file_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [&self.path, &wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Checks that the connection still works (for long-lived readers).
    pub fn ping(&self) -> Result<()> {
        self.conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql)
    }
}
