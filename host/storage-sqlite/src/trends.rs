//! Keeping trend buckets in step with raw points. New points merge into the stored buckets
//! they fall in; a bucket in which a stored value was replaced is rebuilt from its raw points,
//! because the old value's contribution cannot be subtracted exactly from min and max.

use std::collections::BTreeSet;

use clio_storage::{Point, Result, SeriesId, Timestamp, TrendBucket, TrendInterval};
use rusqlite::{Connection, params};

use crate::error::sql;
use crate::query::{id_sql, read_all, read_bucket};

/// Brings the buckets touched by `new` up to date; `replaced` are timestamps of `new` that
/// overwrote stored values. Call after the raw points are written. Returns buckets written.
pub(crate) fn apply(
    conn: &Connection,
    series: SeriesId,
    intervals: &[TrendInterval],
    new: &[Point],
    replaced: &[Timestamp],
) -> Result<u64> {
    let mut written = 0u64;
    for &interval in intervals {
        let rebuild: BTreeSet<Timestamp> = replaced
            .iter()
            .map(|&ts| interval.bucket_start(ts))
            .collect();
        for bucket in TrendBucket::build(interval, new) {
            if rebuild.contains(&bucket.start) {
                continue;
            }
            let merged = match read_bucket(conn, series, interval, bucket.start)? {
                Some(mut stored) => {
                    stored.merge(&bucket);
                    stored
                }
                None => bucket,
            };
            upsert(conn, series, interval, &merged)?;
            written += 1;
        }
        for start in rebuild {
            rebuild_bucket(conn, series, interval, start)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Recomputes one bucket from the stored raw points (removing it if none is numeric).
pub(crate) fn rebuild_bucket(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    start: Timestamp,
) -> Result<()> {
    let end = start.saturating_add(interval.ms());
    let points = read_all(conn, series, start, end)?;
    match TrendBucket::build(interval, &points).into_iter().next() {
        Some(b) => upsert(conn, series, interval, &b),
        None => {
            conn.execute(
                "DELETE FROM trends WHERE series_id = ?1 AND interval_ms = ?2 AND start_ts = ?3",
                params![id_sql(series), interval.ms(), start],
            )
            .map_err(sql)?;
            Ok(())
        }
    }
}

fn upsert(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    b: &TrendBucket,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO trends
         (series_id, interval_ms, start_ts, count, sum, sum_sq, min, max, first, last, first_ts, last_ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .map_err(sql)?
    .execute(params![
        id_sql(series),
        interval.ms(),
        b.start,
        i64::try_from(b.count).unwrap_or(i64::MAX),
        b.sum,
        b.sum_sq,
        b.min,
        b.max,
        b.first,
        b.last,
        b.first_ts,
        b.last_ts
    ])
    .map_err(sql)?;
    Ok(())
}

/// Deletes buckets starting in `[from, to)` of one interval or all; returns how many.
pub(crate) fn delete(
    conn: &Connection,
    series: SeriesId,
    interval: Option<TrendInterval>,
    from: Timestamp,
    to: Timestamp,
) -> Result<u64> {
    let n = match interval {
        Some(i) => conn.execute(
            "DELETE FROM trends WHERE series_id = ?1 AND interval_ms = ?2
             AND start_ts >= ?3 AND start_ts < ?4",
            params![id_sql(series), i.ms(), from, to],
        ),
        None => conn.execute(
            "DELETE FROM trends WHERE series_id = ?1 AND start_ts >= ?2 AND start_ts < ?3",
            params![id_sql(series), from, to],
        ),
    }
    .map_err(sql)?;
    Ok(n as u64)
}

/// Builds one interval's buckets for every stored point (used when an interval is added to an
/// existing file). Works series by series, chunk by chunk, so memory stays bounded.
pub(crate) fn backfill(conn: &Connection, interval: TrendInterval) -> Result<u64> {
    let ids: Vec<i64> = conn
        .prepare("SELECT DISTINCT series_id FROM chunks")
        .map_err(sql)?
        .query_map([], |r| r.get(0))
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    let mut written = 0;
    for id in ids {
        let series = crate::query::id_from_sql(id);
        let mut pending: Option<TrendBucket> = None;
        let mut stmt = conn
            .prepare_cached(
                "SELECT start_ts, end_ts, count, data FROM chunks WHERE series_id = ?1 ORDER BY start_ts",
            )
            .map_err(sql)?;
        let mut rows = stmt.query([id]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let row = crate::query::ChunkRow {
                start_ts: r.get(0).map_err(sql)?,
                end_ts: r.get(1).map_err(sql)?,
                count: r.get(2).map_err(sql)?,
                data: r.get(3).map_err(sql)?,
            };
            for b in TrendBucket::build(interval, &row.decode(series)?) {
                match &mut pending {
                    Some(p) if p.start == b.start => p.merge(&b),
                    _ => {
                        if let Some(done) = pending.replace(b) {
                            upsert(conn, series, interval, &done)?;
                            written += 1;
                        }
                    }
                }
            }
        }
        if let Some(done) = pending {
            upsert(conn, series, interval, &done)?;
            written += 1;
        }
    }
    Ok(written)
}
