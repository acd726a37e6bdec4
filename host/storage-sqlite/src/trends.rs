//! Trend buckets in SQLite. Buckets of one series and interval are stored in compressed trend
//! chunks (`trend_chunks`, at most [`MAX_TREND_CHUNK`] buckets each, never overlapping). The
//! backend is `TrendMode::Native`: [`apply`] brings the buckets up to date inside the write's
//! own transaction, by the shared rules of [`clio_storage::trend_maint`] (merge new points,
//! rebuild buckets holding a replaced value); this module only loads and stores the chunks.

use std::collections::BTreeMap;

use clio_storage::{
    Point, Result, SeriesId, StorageError, Timestamp, TrendBucket, TrendInterval, trend_maint,
};
use rusqlite::{Connection, Statement, params};

use crate::error::sql;
use crate::query::{ChunkRow, id_sql, read_all, visit_rows};

/// Most buckets in one trend chunk (about 42 hours of 10-minute buckets).
pub const MAX_TREND_CHUNK: usize = 256;

/// Trend chunks of one series and interval starting before `before`, newest first, passed to
/// `visit` until it returns false.
pub(crate) fn chunks_before_desc(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    before: Timestamp,
    visit: impl FnMut(ChunkRow) -> Result<bool>,
) -> Result<()> {
    visit_rows(
        conn,
        "SELECT start_ts, end_ts, count, clio_open(series_id, interval_ms, start_ts, data)
         FROM trend_chunks
         WHERE series_id = ?1 AND interval_ms = ?2 AND start_ts < ?3
         ORDER BY start_ts DESC",
        params![id_sql(series), interval.ms(), before],
        visit,
    )
}

/// Buckets starting in `[from, to)`, ascending.
pub(crate) fn read(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<TrendBucket>> {
    let mut newest_first = Vec::new();
    if from >= to {
        return Ok(newest_first);
    }
    chunks_before_desc(conn, series, interval, to, |row| {
        if row.end_ts < from {
            return Ok(false);
        }
        for b in row.decode_trends(series)?.into_iter().rev() {
            if b.start >= to {
                continue;
            }
            if b.start < from {
                break;
            }
            newest_first.push(b);
        }
        Ok(true)
    })?;
    newest_first.reverse();
    Ok(newest_first)
}

/// Brings the buckets touched by `new` up to date; `replaced` are timestamps of `new` that
/// overwrote stored values. Call after the raw points are written. Returns buckets written.
/// `stored` false says the caller knows storage held no trend chunk of the series (the
/// lookups of the chunks to merge into are skipped).
/// The rules are the shared ones ([`clio_storage::trend_maint`]); this applies them inside the
/// caller's transaction.
pub(crate) fn apply(
    conn: &Connection,
    series: SeriesId,
    intervals: &[TrendInterval],
    new: &[Point],
    replaced: &[Timestamp],
    stored: bool,
) -> Result<u64> {
    let mut written = 0u64;
    // One statement for every interval: the cache's lookup by SQL text cost about as much as
    // the insert itself for a new series' one-bucket chunks (issue #25).
    let mut stmt = conn.prepare_cached(INSERT_SQL).map_err(sql)?;
    for &interval in intervals {
        let rebuild = trend_maint::rebuild_starts(interval, replaced);
        let Some((lo, hi)) = trend_maint::touched(interval, new, &rebuild) else {
            continue;
        };
        let mut map = if stored {
            take_range(conn, series, interval, lo, hi)?
        } else {
            BTreeMap::new()
        };
        written += trend_maint::update_buckets(interval, &mut map, new, &rebuild, |start| {
            read_all(conn, series, start, start.saturating_add(interval.ms()))
        })?;
        insert_with(
            &mut stmt,
            series,
            interval,
            &map.into_values().collect::<Vec<_>>(),
        )?;
    }
    Ok(written)
}

/// Stores `buckets` as given (one interval, ascending): replaces buckets with equal starts,
/// keeps the others; chunks stay non-overlapping and at most [`MAX_TREND_CHUNK`] buckets.
pub(crate) fn put(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    buckets: &[TrendBucket],
) -> Result<()> {
    let (Some(lo), Some(hi)) = (
        buckets.iter().map(|b| b.start).min(),
        buckets.iter().map(|b| b.start).max(),
    ) else {
        return Ok(());
    };
    let mut map = take_range(conn, series, interval, lo, hi)?;
    for b in buckets {
        map.insert(b.start, b.clone());
    }
    insert(
        conn,
        series,
        interval,
        &map.into_values().collect::<Vec<_>>(),
    )
}

/// Removes and returns (decoded) the trend chunks overlapping `[lo, hi]`, plus the chunk
/// just before `lo` when it has room, so the caller can rewrite them merged.
fn take_range(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    lo: Timestamp,
    hi: Timestamp,
) -> Result<BTreeMap<Timestamp, TrendBucket>> {
    let mut rows = Vec::new();
    let mut tail = None;
    chunks_before_desc(conn, series, interval, hi.saturating_add(1), |row| {
        if row.end_ts >= lo {
            rows.push(row);
            Ok(true)
        } else {
            if (row.count as usize) < MAX_TREND_CHUNK {
                tail = Some(row);
            }
            Ok(false)
        }
    })?;
    rows.extend(tail);
    let mut map = BTreeMap::new();
    for row in rows {
        for b in row.decode_trends(series)? {
            map.insert(b.start, b);
        }
        delete_chunk(conn, series, interval, row.start_ts)?;
    }
    Ok(map)
}

/// The statement [`insert_with`] runs.
const INSERT_SQL: &str =
    "INSERT INTO trend_chunks (series_id, interval_ms, start_ts, end_ts, count, data)
     VALUES (?1, ?2, ?3, ?4, ?5, clio_seal(?1, ?2, ?3, ?6))";

/// Writes buckets (ascending) as evenly sized trend chunks.
fn insert(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    buckets: &[TrendBucket],
) -> Result<()> {
    if buckets.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(INSERT_SQL).map_err(sql)?;
    insert_with(&mut stmt, series, interval, buckets)
}

/// [`insert`] with the statement already prepared.
fn insert_with(
    stmt: &mut Statement<'_>,
    series: SeriesId,
    interval: TrendInterval,
    buckets: &[TrendBucket],
) -> Result<()> {
    // Fill chunks to the maximum: buckets mostly arrive at the end, so the remainder is the
    // open tail that the next flush extends.
    for piece in buckets.chunks(MAX_TREND_CHUNK) {
        let (Some(first), Some(last)) = (piece.first(), piece.last()) else {
            continue;
        };
        let data = clio_codec::encode_trend_chunk(piece).map_err(|e| {
            StorageError::Other(format!("cannot encode trends of series {series}: {e}"))
        })?;
        stmt.execute(params![
            id_sql(series),
            interval.ms(),
            first.start,
            last.start,
            piece.len() as i64,
            data
        ])
        .map_err(sql)?;
    }
    Ok(())
}

fn delete_chunk(
    conn: &Connection,
    series: SeriesId,
    interval: TrendInterval,
    start: Timestamp,
) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM trend_chunks WHERE series_id = ?1 AND interval_ms = ?2 AND start_ts = ?3",
    )
    .map_err(sql)?
    .execute(params![id_sql(series), interval.ms(), start])
    .map_err(sql)?;
    Ok(())
}

/// Deletes buckets starting in `[from, to)` of one interval or of every interval the file
/// holds; whole chunks go as rows, boundary chunks are rewritten. Returns buckets removed.
pub(crate) fn delete(
    conn: &Connection,
    series: SeriesId,
    interval: Option<TrendInterval>,
    from: Timestamp,
    to: Timestamp,
) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let intervals: Vec<TrendInterval> = match interval {
        Some(i) => vec![i],
        None => stored_intervals_of(conn, series)?,
    };
    let mut removed = 0u64;
    for interval in intervals {
        let mut rows = Vec::new();
        chunks_before_desc(conn, series, interval, to, |row| {
            if row.end_ts < from {
                return Ok(false);
            }
            rows.push(row);
            Ok(true)
        })?;
        for row in rows {
            if row.start_ts >= from && row.end_ts < to {
                delete_chunk(conn, series, interval, row.start_ts)?;
                removed += row.count.max(0) as u64;
                continue;
            }
            let all = row.decode_trends(series)?;
            let before = all.len();
            let kept: Vec<TrendBucket> = all
                .into_iter()
                .filter(|b| b.start < from || b.start >= to)
                .collect();
            if kept.len() == before {
                // A boundary chunk with no bucket in the range (retention re-running over the
                // chunk its last cut left) stays as it is instead of being rewritten.
                continue;
            }
            removed += (before - kept.len()) as u64;
            delete_chunk(conn, series, interval, row.start_ts)?;
            insert(conn, series, interval, &kept)?;
        }
    }
    Ok(removed)
}

/// Intervals for which a series has trend chunks.
fn stored_intervals_of(conn: &Connection, series: SeriesId) -> Result<Vec<TrendInterval>> {
    let ms: Vec<i64> = conn
        .prepare_cached("SELECT DISTINCT interval_ms FROM trend_chunks WHERE series_id = ?1")
        .map_err(sql)?
        .query_map([id_sql(series)], |r| r.get(0))
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    ms.into_iter()
        .map(|m| {
            TrendInterval::from_ms(m).map_err(|e| StorageError::Corrupt {
                what: format!("trend chunks of series {series}"),
                detail: e.to_string(),
            })
        })
        .collect()
}

/// Deletes every trend chunk of a series; returns how many rows went.
pub(crate) fn delete_all(conn: &Connection, series: SeriesId) -> Result<usize> {
    conn.execute(
        "DELETE FROM trend_chunks WHERE series_id = ?1",
        [id_sql(series)],
    )
    .map_err(sql)
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
        let mut done: Vec<TrendBucket> = Vec::new();
        visit_rows(
            conn,
            "SELECT start_ts, end_ts, count, clio_open(series_id, start_ts, data) FROM chunks
             WHERE series_id = ?1 ORDER BY start_ts",
            [id],
            |row| {
                for b in TrendBucket::build(interval, &row.decode(series)?) {
                    match done.last_mut() {
                        Some(p) if p.start == b.start => p.merge(&b),
                        _ => done.push(b),
                    }
                }
                if done.len() > 4 * MAX_TREND_CHUNK {
                    // Keep the last (possibly still growing) bucket in memory.
                    let keep = done.split_off(done.len() - 1);
                    written += done.len() as u64;
                    insert(conn, series, interval, &done)?;
                    done = keep;
                }
                Ok(true)
            },
        )?;
        written += done.len() as u64;
        insert(conn, series, interval, &done)?;
    }
    Ok(written)
}
