//! The read path, as functions of a connection, shared by the backend's reader threads and by
//! [`crate::DirectReader`]. Multi-statement reads run inside one read transaction so that they
//! see one snapshot of the file.

use clio_storage::{Point, PointColumns, Result, SeriesId, SeriesStats, Timestamp};
use rusqlite::{Connection, params};

use crate::error::{corrupt_chunk, sql};

/// A chunk row as stored.
pub(crate) struct ChunkRow {
    pub start_ts: Timestamp,
    pub end_ts: Timestamp,
    pub count: i64,
    pub data: Vec<u8>,
}

impl ChunkRow {
    pub(crate) fn decode(&self, series: SeriesId) -> Result<Vec<Point>> {
        clio_codec::decode_chunk(&self.data).map_err(|e| corrupt_chunk(series.0, self.start_ts, e))
    }

    pub(crate) fn decode_columns(&self, series: SeriesId) -> Result<PointColumns> {
        clio_codec::decode_chunk_columns(&self.data)
            .map_err(|e| corrupt_chunk(series.0, self.start_ts, e))
    }
}

/// SQLite stores integers as i64; ids keep their bits (ids above `i64::MAX` become negative).
pub(crate) fn id_sql(id: SeriesId) -> i64 {
    id.0 as i64
}

/// Inverse of [`id_sql`].
pub(crate) fn id_from_sql(v: i64) -> SeriesId {
    SeriesId(v as u64)
}

/// Runs `f` inside a read transaction.
pub(crate) fn in_read_tx<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction().map_err(sql)?;
    let out = f(&tx)?;
    tx.finish().map_err(sql)?;
    Ok(out)
}

impl ChunkRow {
    /// Reads a `start_ts, end_ts, count, data` row (point and trend chunks alike).
    pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChunkRow> {
        Ok(ChunkRow {
            start_ts: r.get(0)?,
            end_ts: r.get(1)?,
            count: r.get(2)?,
            data: r.get(3)?,
        })
    }

    /// Decodes a trend chunk row.
    pub(crate) fn decode_trends(&self, series: SeriesId) -> Result<Vec<clio_storage::TrendBucket>> {
        clio_codec::decode_trend_chunk(&self.data)
            .map_err(|e| corrupt_chunk(series.0, self.start_ts, format!("trend chunk: {e}")))
    }
}

/// Runs a query selecting `start_ts, end_ts, count, data` and passes the rows to `visit`
/// until it returns false.
pub(crate) fn visit_rows(
    conn: &Connection,
    query: &str,
    params: impl rusqlite::Params,
    mut visit: impl FnMut(ChunkRow) -> Result<bool>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(query).map_err(sql)?;
    let mut rows = stmt.query(params).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        if !visit(ChunkRow::from_row(r).map_err(sql)?)? {
            break;
        }
    }
    Ok(())
}

/// Chunks of `series` with `start_ts < before`, newest first, passed to `visit` until it
/// returns false.
pub(crate) fn chunks_before_desc(
    conn: &Connection,
    series: SeriesId,
    before: Timestamp,
    visit: impl FnMut(ChunkRow) -> Result<bool>,
) -> Result<()> {
    visit_rows(
        conn,
        "SELECT start_ts, end_ts, count, clio_open(series_id, start_ts, data) FROM chunks
         WHERE series_id = ?1 AND start_ts < ?2 ORDER BY start_ts DESC",
        params![id_sql(series), before],
        visit,
    )
}

/// The newest `limit` points of `[from, to)`, ascending.
pub(crate) fn read_range(
    conn: &Connection,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
) -> Result<Vec<Point>> {
    let mut newest_first: Vec<Point> = Vec::new();
    if from >= to || limit == 0 {
        return Ok(newest_first);
    }
    chunks_before_desc(conn, series, to, |row| {
        if row.end_ts < from {
            return Ok(false);
        }
        let pts = row.decode(series)?;
        for p in pts.into_iter().rev() {
            if p.ts >= to {
                continue;
            }
            if p.ts < from {
                break;
            }
            newest_first.push(p);
            if newest_first.len() == limit {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    newest_first.reverse();
    Ok(newest_first)
}

/// Every point of `[from, to)`, ascending (no limit; used for trend rebuilds).
pub(crate) fn read_all(
    conn: &Connection,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Point>> {
    read_range(conn, series, from, to, usize::MAX)
}

/// The newest `n` points stamped before `before`, ascending.
/// [`read_range`] into columns: chunks are decoded as columns and the selected part of each
/// copied with slice copies, newest chunk first, then laid out ascending once.
/// Slices of decoded chunks, newest first, joined oldest first into one answer of `have`
/// points.
fn join_parts(parts: &[(PointColumns, std::ops::Range<usize>)], have: usize) -> PointColumns {
    let mut out = PointColumns {
        ts: Vec::with_capacity(have),
        nums: Vec::with_capacity(have),
        ..Default::default()
    };
    for (cols, range) in parts.iter().rev() {
        out.extend_from(cols, range.clone());
    }
    out
}

pub(crate) fn read_range_columns(
    conn: &Connection,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
) -> Result<PointColumns> {
    // (decoded chunk, index range inside it), newest chunk first.
    let mut parts: Vec<(PointColumns, std::ops::Range<usize>)> = Vec::new();
    let mut have = 0usize;
    if from < to && limit > 0 {
        chunks_before_desc(conn, series, to, |row| {
            if row.end_ts < from {
                return Ok(false);
            }
            let cols = row.decode_columns(series)?;
            let hi = cols.ts.partition_point(|&t| t < to);
            let lo = cols.ts.partition_point(|&t| t < from);
            let lo = lo.max(hi.saturating_sub(limit - have));
            have += hi - lo;
            parts.push((cols, lo..hi));
            // Older chunks are needed until the limit is reached (the next one ending
            // before `from` stops the walk).
            Ok(have < limit)
        })?;
    }
    Ok(join_parts(&parts, have))
}

/// The `n` newest points stamped before `before` after skipping the `skip` newest, as
/// columns, ascending. Chunks that lie wholly inside the skipped part are passed over by
/// their point counts, without decoding: a "where does the k-th newest point lie" probe costs
/// one chunk, not k points.
pub(crate) fn read_last_columns(
    conn: &Connection,
    series: SeriesId,
    before: Timestamp,
    n: usize,
    skip: usize,
) -> Result<PointColumns> {
    let mut parts: Vec<(PointColumns, std::ops::Range<usize>)> = Vec::new();
    let mut have = 0usize;
    let mut skip_left = skip;
    if n > 0 {
        chunks_before_desc(conn, series, before, |row| {
            let count = usize::try_from(row.count).unwrap_or(0);
            // A chunk ending before `before` has all its points visible: its count is exact.
            if row.end_ts < before && count <= skip_left {
                skip_left -= count;
                return Ok(true);
            }
            let cols = row.decode_columns(series)?;
            let visible = cols.ts.partition_point(|&t| t < before);
            let hi = visible.saturating_sub(skip_left);
            skip_left -= visible - hi;
            let lo = hi.saturating_sub(n - have);
            have += hi - lo;
            if hi > lo {
                parts.push((cols, lo..hi));
            }
            Ok(have < n)
        })?;
    }
    Ok(join_parts(&parts, have))
}

pub(crate) fn read_last(
    conn: &Connection,
    series: SeriesId,
    n: usize,
    before: Timestamp,
) -> Result<Vec<Point>> {
    read_range(conn, series, Timestamp::MIN, before, n)
}

/// Size and span of one series' raw data.
pub(crate) fn stats(conn: &Connection, series: SeriesId) -> Result<SeriesStats> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(count), 0), MIN(start_ts), MAX(end_ts),
                    COALESCE(SUM(length(data)), 0)
             FROM chunks WHERE series_id = ?1",
        )
        .map_err(sql)?;
    stmt.query_row(params![id_sql(series)], |r| {
        Ok(SeriesStats {
            points: r.get::<_, i64>(0)?.max(0) as u64,
            first_ts: r.get(1)?,
            last_ts: r.get(2)?,
            bytes: r.get::<_, i64>(3)?.max(0) as u64,
        })
    })
    .map_err(sql)
}

/// [`stats`] of every series with stored points, in one pass over the chunk index
/// (`length()` of a blob is read from the record header, not from the blob's pages).
pub(crate) fn stats_all(conn: &Connection) -> Result<Vec<(SeriesId, SeriesStats)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT series_id, COALESCE(SUM(count), 0), MIN(start_ts), MAX(end_ts),
                    COALESCE(SUM(length(data)), 0)
             FROM chunks GROUP BY series_id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                SeriesStats {
                    points: r.get::<_, i64>(1)?.max(0) as u64,
                    first_ts: r.get(2)?,
                    last_ts: r.get(3)?,
                    bytes: r.get::<_, i64>(4)?.max(0) as u64,
                },
            ))
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, st) = row.map_err(sql)?;
        out.push((id_from_sql(id), st));
    }
    Ok(out)
}

/// Totals over the whole file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// Raw points.
    pub points: u64,
    /// Chunk rows.
    pub chunks: u64,
    /// Bytes of encoded chunks.
    pub chunk_bytes: u64,
    /// Trend buckets, all intervals.
    pub trend_buckets: u64,
    /// Series in the catalog.
    pub series: u64,
}

pub(crate) fn totals(conn: &Connection) -> Result<StoreTotals> {
    let (points, chunks, chunk_bytes): (i64, i64, i64) = conn
        .query_row(
            "SELECT COALESCE(SUM(count), 0), COUNT(*), COALESCE(SUM(length(data)), 0) FROM chunks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(sql)?;
    let trend_buckets: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(count), 0) FROM trend_chunks",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let series: i64 = conn
        .query_row("SELECT COUNT(*) FROM series", [], |r| r.get(0))
        .map_err(sql)?;
    let u = |v: i64| v.max(0) as u64;
    Ok(StoreTotals {
        points: u(points),
        chunks: u(chunks),
        chunk_bytes: u(chunk_bytes),
        trend_buckets: u(trend_buckets),
        series: u(series),
    })
}
