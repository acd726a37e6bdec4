//! Writing raw points: merging new points into the chunks they touch, splitting chunks that
//! grow too large, and cutting time ranges out of chunks. Runs on the writer connection inside
//! the caller's transaction.

use clio_storage::{Point, Result, SeriesId, StorageError, Timestamp};
use rusqlite::{Connection, params};

use crate::error::sql;
use crate::query::{ChunkRow, chunks_before_desc, id_sql};

/// What merging one series' new points did.
#[derive(Debug, Default)]
pub(crate) struct MergeOutcome {
    /// Points written.
    pub points: u64,
    /// Timestamps whose stored value was replaced.
    pub replaced: Vec<Timestamp>,
}

/// Stores `new` (strictly ascending) for `series`. Loads the chunks overlapping the new
/// points' span, plus the chunk just before it when that one has room, merges (new values
/// win), and writes the result back as evenly sized chunks of at most `max` points. Chunks of
/// one series never overlap in time. `stored` false says the caller knows storage holds no
/// chunk of the series (the lookup is skipped).
pub(crate) fn merge_points(
    conn: &Connection,
    series: SeriesId,
    new: &[Point],
    max: usize,
    stored: bool,
) -> Result<MergeOutcome> {
    let (Some(first), Some(last)) = (new.first(), new.last()) else {
        return Ok(MergeOutcome::default());
    };
    if new.windows(2).any(|w| w[0].ts >= w[1].ts) {
        return Err(StorageError::InvalidInput(format!(
            "points of series {series} are not strictly ascending by time"
        )));
    }
    let touched = if stored {
        touched_chunks(conn, series, first.ts, last.ts, max)?
    } else {
        Vec::new()
    };
    let mut outcome = MergeOutcome {
        points: new.len() as u64,
        replaced: Vec::new(),
    };
    if touched.is_empty() {
        insert_chunks(conn, series, new, max)?;
        return Ok(outcome);
    }
    let mut old: Vec<Point> = Vec::new();
    for row in &touched {
        old.extend(row.decode(series)?);
        delete_chunk(conn, series, row.start_ts)?;
    }
    // Pure appends (the usual case) fill chunks to the maximum and leave the remainder as
    // the open tail; merges into the past split evenly so that no sliver chunks remain.
    let appending = old.last().is_none_or(|p| p.ts < first.ts);
    let merged = clio_storage::merge_points(old, new, &mut outcome.replaced);
    if appending {
        for piece in merged.chunks(max.clamp(1, clio_codec::MAX_CHUNK_POINTS)) {
            insert_chunks(conn, series, piece, max)?;
        }
    } else {
        insert_chunks(conn, series, &merged, max)?;
    }
    Ok(outcome)
}

/// The stored chunks that points of `[a, b]` merge into, oldest first: every chunk
/// overlapping the span, plus the one just before it when that one has room to append to.
fn touched_chunks(
    conn: &Connection,
    series: SeriesId,
    a: Timestamp,
    b: Timestamp,
    max: usize,
) -> Result<Vec<ChunkRow>> {
    // Newest first: every chunk starting at or before `b` that still reaches `a`, then the
    // first one that ends before `a` (the append candidate).
    let mut touched: Vec<ChunkRow> = Vec::new();
    let limit_before = if b == Timestamp::MAX {
        b
    } else {
        b.saturating_add(1)
    };
    let mut tail: Option<ChunkRow> = None;
    chunks_before_desc(conn, series, limit_before, |row| {
        if row.end_ts >= a {
            touched.push(row);
            Ok(true)
        } else {
            if (row.count as usize) < max {
                tail = Some(row);
            }
            Ok(false)
        }
    })?;
    if b == Timestamp::MAX {
        // `start_ts < i64::MAX` missed a chunk starting exactly at the maximum.
        if let Some(row) = chunk_at(conn, series, Timestamp::MAX)? {
            touched.insert(0, row);
        }
    }
    touched.extend(tail);
    touched.reverse();
    Ok(touched)
}

fn chunk_at(conn: &Connection, series: SeriesId, start: Timestamp) -> Result<Option<ChunkRow>> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT start_ts, end_ts, count, clio_open(series_id, start_ts, data) FROM chunks
         WHERE series_id = ?1 AND start_ts = ?2",
        params![id_sql(series), start],
        ChunkRow::from_row,
    )
    .optional()
    .map_err(sql)
}

/// Writes `points` (ascending, non-empty ranges of them) as chunks of at most `max` points,
/// evenly sized so that late points do not leave slivers.
pub(crate) fn insert_chunks(
    conn: &Connection,
    series: SeriesId,
    points: &[Point],
    max: usize,
) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let max = max.clamp(1, clio_codec::MAX_CHUNK_POINTS);
    let pieces = points.len().div_ceil(max);
    let size = points.len().div_ceil(pieces);
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO chunks (series_id, start_ts, end_ts, count, data)
             VALUES (?1, ?2, ?3, ?4, clio_seal(?1, ?2, ?5))",
        )
        .map_err(sql)?;
    for piece in points.chunks(size) {
        let (Some(first), Some(last)) = (piece.first(), piece.last()) else {
            continue;
        };
        let data = clio_codec::encode_chunk(piece).map_err(|e| {
            StorageError::InvalidInput(format!(
                "cannot encode points of series {series} from {} to {}: {e}",
                first.ts, last.ts
            ))
        })?;
        stmt.execute(params![
            id_sql(series),
            first.ts,
            last.ts,
            piece.len() as i64,
            data
        ])
        .map_err(sql)?;
    }
    Ok(())
}

fn delete_chunk(conn: &Connection, series: SeriesId, start: Timestamp) -> Result<()> {
    conn.prepare_cached("DELETE FROM chunks WHERE series_id = ?1 AND start_ts = ?2")
        .map_err(sql)?
        .execute(params![id_sql(series), start])
        .map_err(sql)?;
    Ok(())
}

/// Deletes the raw points of `[from, to)`: chunks inside the range go as whole rows, and only
/// the (at most two) boundary chunks are decoded and rewritten. Returns the points removed.
pub(crate) fn delete_range(
    conn: &Connection,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
    max: usize,
) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let mut rows: Vec<ChunkRow> = Vec::new();
    chunks_before_desc(conn, series, to, |row| {
        if row.end_ts < from {
            return Ok(false);
        }
        rows.push(row);
        Ok(true)
    })?;
    let mut removed = 0u64;
    for row in rows {
        if row.start_ts >= from && row.end_ts < to {
            delete_chunk(conn, series, row.start_ts)?;
            removed += row.count.max(0) as u64;
            continue;
        }
        let pts = row.decode(series)?;
        let before = pts.len();
        let kept: Vec<Point> = pts
            .into_iter()
            .filter(|p| p.ts < from || p.ts >= to)
            .collect();
        if kept.len() == before {
            continue;
        }
        removed += (before - kept.len()) as u64;
        delete_chunk(conn, series, row.start_ts)?;
        insert_chunks(conn, series, &kept, max)?;
    }
    Ok(removed)
}

/// Deletes every chunk of a series; returns how many rows went.
pub(crate) fn delete_all(conn: &Connection, series: SeriesId) -> Result<usize> {
    conn.execute("DELETE FROM chunks WHERE series_id = ?1", [id_sql(series)])
        .map_err(sql)
}
