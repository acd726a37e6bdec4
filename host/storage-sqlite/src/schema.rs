//! The file's tables, its format version and start-up checks. `docs/file-format.md` describes
//! the same layout for other tools; change both together.

use clio_storage::{Result, StorageError, TrendInterval};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::sql;

/// Version of the file layout written into `meta.format_version`. A file with a newer
/// version is refused rather than misread.
///
/// 2: trend chunks may refer to an earlier column (`docs/chunk-format.md` 3.5). Nothing
/// else changed, so a version-1 file is raised to 2 when opened for writing: from then on it
/// may hold such chunks, and a Clio that reads only version 1 refuses it at open.
pub const FORMAT_VERSION: u32 = 2;

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
    id                INTEGER PRIMARY KEY,
    key               TEXT UNIQUE,
    keep_history_days INTEGER NOT NULL,
    keep_trends_days  INTEGER NOT NULL,
    metadata          TEXT NOT NULL DEFAULT '{}',
    created           INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (series_id, start_ts)
);
CREATE TABLE IF NOT EXISTS trend_chunks (
    series_id   INTEGER NOT NULL,
    interval_ms INTEGER NOT NULL,
    start_ts    INTEGER NOT NULL,
    end_ts      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (series_id, interval_ms, start_ts)
);
";

/// Settings every connection gets.
pub(crate) fn configure(conn: &Connection, busy_timeout: std::time::Duration) -> Result<()> {
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    // The engine deletes its write-ahead log once a flush has committed here, so a commit must
    // be on disk when it returns: FULL syncs the WAL at every commit.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql)?;
    conn.pragma_update(None, "cache_size", -32_000i64)
        .map_err(sql)?;
    Ok(())
}

/// Creates or checks the schema on the writer connection; returns the trend intervals the
/// file held before (empty for a new file).
pub(crate) fn init(conn: &Connection) -> Result<Vec<TrendInterval>> {
    // Chunk BLOBs are 1–4 KiB; 16 KiB pages hold several of them with little slack (4 KiB
    // pages waste about a third). Only takes effect on a new, empty file.
    conn.pragma_update(None, "page_size", 16_384i64)
        .map_err(sql)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Unavailable(format!(
            "sqlite: cannot switch to WAL journal mode (got {mode})"
        )));
    }
    conn.execute_batch(DDL).map_err(sql)?;
    match read_meta(conn, "format_version")? {
        None => {
            write_meta(conn, "format_version", &FORMAT_VERSION.to_string())?;
        }
        Some(v) => {
            if check_version(&v)? < FORMAT_VERSION {
                write_meta(conn, "format_version", &FORMAT_VERSION.to_string())?;
            }
        }
    }
    Ok(stored_intervals(conn)?.unwrap_or_default())
}

/// Fails for files written by a newer Clio; otherwise returns the file's version.
pub(crate) fn check_version(v: &str) -> Result<u32> {
    let n: u32 = v.trim().parse().map_err(|_| StorageError::Corrupt {
        what: "meta.format_version".into(),
        detail: format!("not a number: {v:?}"),
    })?;
    if n > FORMAT_VERSION {
        return Err(StorageError::InvalidInput(format!(
            "database file has format version {n}; this Clio reads up to {FORMAT_VERSION}"
        )));
    }
    Ok(n)
}

/// The trend intervals recorded in `meta`, if any.
pub(crate) fn stored_intervals(conn: &Connection) -> Result<Option<Vec<TrendInterval>>> {
    let Some(s) = read_meta(conn, "trend_intervals")? else {
        return Ok(None);
    };
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.parse::<TrendInterval>()
                .map_err(|e| StorageError::Corrupt {
                    what: "meta.trend_intervals".into(),
                    detail: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Records the maintained trend intervals.
pub(crate) fn store_intervals(conn: &Connection, intervals: &[TrendInterval]) -> Result<()> {
    let s: Vec<String> = intervals.iter().map(|i| i.to_string()).collect();
    write_meta(conn, "trend_intervals", &s.join(","))
}

pub(crate) fn read_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(sql)
}

pub(crate) fn write_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(sql)?;
    Ok(())
}

/// Settings of the read-only connections.
pub(crate) fn configure_reader(conn: &Connection, busy_timeout: std::time::Duration) -> Result<()> {
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    conn.pragma_update(None, "cache_size", -16_000i64)
        .map_err(sql)?;
    Ok(())
}
