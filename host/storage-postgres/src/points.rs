//! Raw points in `chunks`: the read walk, merging new points into the chunks they touch,
//! cutting ranges out. Chunks of one series never overlap and hold 1..=`max` points.

use std::ops::Range;

use clio_storage::{Point, PointColumns, Result, SeriesId, SeriesStats, StorageError, Timestamp};
use deadpool_postgres::GenericClient;

use crate::rows::{ChunkRow, db, id_sql};

/// First page of the newest-first walk; each further page is four times larger, so a
/// last-N read costs one round trip and a long range a few.
const FIRST_PAGE: i64 = 2;
const MAX_PAGE: i64 = 512;

/// Chunks of `series` with `start_ts < before`, newest first, passed to `visit` until it
/// returns false. Pages through the index so that a small read fetches one or two chunks.
pub(crate) async fn walk_desc(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    before: Timestamp,
    mut visit: impl FnMut(ChunkRow) -> Result<bool>,
) -> Result<()> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT start_ts, end_ts, count, data FROM {schema}.chunks
             WHERE series_id = $1 AND start_ts < $2 ORDER BY start_ts DESC LIMIT $3"
        ))
        .await
        .map_err(db)?;
    let mut before = before;
    let mut page = FIRST_PAGE;
    loop {
        let rows = c
            .query(&stmt, &[&id_sql(series), &before, &page])
            .await
            .map_err(db)?;
        let full = rows.len() as i64 == page;
        for r in &rows {
            let row = ChunkRow::from_row(r, 0)?;
            before = row.start_ts;
            if !visit(row)? {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
        page = (page * 4).min(MAX_PAGE);
    }
}

/// Slices of decoded chunks, newest first, joined oldest first into one answer.
fn join_parts(parts: &[(PointColumns, Range<usize>)], have: usize) -> PointColumns {
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

/// The newest `limit` points of `[from, to)`, ascending, as columns.
pub(crate) async fn read_range_columns(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
) -> Result<PointColumns> {
    let mut parts: Vec<(PointColumns, Range<usize>)> = Vec::new();
    let mut have = 0usize;
    if from < to && limit > 0 {
        walk_desc(c, schema, series, to, |row| {
            if row.end_ts < from {
                return Ok(false);
            }
            let cols = row.decode_columns(series)?;
            let hi = cols.ts.partition_point(|&t| t < to);
            let lo = cols.ts.partition_point(|&t| t < from);
            let lo = lo.max(hi.saturating_sub(limit - have));
            have += hi - lo;
            parts.push((cols, lo..hi));
            Ok(have < limit)
        })
        .await?;
    }
    Ok(join_parts(&parts, have))
}

/// Every point of `[from, to)`, ascending.
pub(crate) async fn read_all(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Point>> {
    Ok(read_range_columns(c, schema, series, from, to, usize::MAX)
        .await?
        .into_points())
}

/// The `n` newest points stamped before `before` after skipping the `skip` newest,
/// ascending; chunks wholly inside the skipped part are passed over by their counts.
pub(crate) async fn read_last_columns(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    before: Timestamp,
    n: usize,
    skip: usize,
) -> Result<PointColumns> {
    let mut parts: Vec<(PointColumns, Range<usize>)> = Vec::new();
    let mut have = 0usize;
    let mut skip_left = skip;
    if n > 0 {
        walk_desc(c, schema, series, before, |row| {
            let count = usize::try_from(row.count).unwrap_or(0);
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
        })
        .await?;
    }
    Ok(join_parts(&parts, have))
}

/// Size and span of one series' raw data.
pub(crate) async fn stats(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
) -> Result<SeriesStats> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT COALESCE(SUM(count), 0)::int8, MIN(start_ts), MAX(end_ts),
                    COALESCE(SUM(octet_length(data)), 0)::int8
             FROM {schema}.chunks WHERE series_id = $1"
        ))
        .await
        .map_err(db)?;
    let r = c.query_one(&stmt, &[&id_sql(series)]).await.map_err(db)?;
    Ok(SeriesStats {
        points: r.try_get::<_, i64>(0).map_err(db)?.max(0) as u64,
        first_ts: r.try_get(1).map_err(db)?,
        last_ts: r.try_get(2).map_err(db)?,
        bytes: r.try_get::<_, i64>(3).map_err(db)?.max(0) as u64,
    })
}

/// [`stats`] of every series with stored points, in one pass.
pub(crate) async fn stats_all(
    c: &impl GenericClient,
    schema: &str,
) -> Result<Vec<(SeriesId, SeriesStats)>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT series_id, COALESCE(SUM(count), 0)::int8, MIN(start_ts), MAX(end_ts),
                    COALESCE(SUM(octet_length(data)), 0)::int8
             FROM {schema}.chunks GROUP BY series_id"
        ))
        .await
        .map_err(db)?;
    let mut out = Vec::new();
    for r in c.query(&stmt, &[]).await.map_err(db)? {
        out.push((
            crate::rows::id_from_sql(r.try_get(0).map_err(db)?),
            SeriesStats {
                points: r.try_get::<_, i64>(1).map_err(db)?.max(0) as u64,
                first_ts: r.try_get(2).map_err(db)?,
                last_ts: r.try_get(3).map_err(db)?,
                bytes: r.try_get::<_, i64>(4).map_err(db)?.max(0) as u64,
            },
        ));
    }
    Ok(out)
}

/// A chunk row to insert.
#[derive(Debug)]
pub(crate) struct NewChunk {
    pub series: i64,
    pub start_ts: Timestamp,
    pub end_ts: Timestamp,
    pub count: i32,
    pub data: Vec<u8>,
}

/// What merging one series' new points into its touched chunks gives.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    /// `start_ts` of the stored chunks to delete.
    pub delete: Vec<Timestamp>,
    /// The chunks to insert instead.
    pub insert: Vec<NewChunk>,
    /// Timestamps whose stored value was replaced.
    pub replaced: Vec<Timestamp>,
}

/// Checks that the points of one entry ascend strictly.
pub(crate) fn check_ascending(series: SeriesId, new: &[Point]) -> Result<()> {
    if new.windows(2).any(|w| w[0].ts >= w[1].ts) {
        return Err(StorageError::InvalidInput(format!(
            "points of series {series} are not strictly ascending by time"
        )));
    }
    Ok(())
}

/// Merges `new` (strictly ascending) into `touched` (the stored chunks overlapping the new
/// points' span plus the chunk just before it when it has room, ascending). New values win.
/// Pure appends fill chunks to `max` and leave the remainder as the open tail; merges into
/// the past split evenly so that no sliver chunks remain (as the SQLite backend does).
pub(crate) fn merge(
    series: SeriesId,
    touched: &[ChunkRow],
    new: &[Point],
    max: usize,
) -> Result<Merged> {
    let mut out = Merged::default();
    let Some(first) = new.first() else {
        return Ok(out);
    };
    if touched.is_empty() {
        out.insert = encode_even(series, new, max)?;
        return Ok(out);
    }
    let mut old: Vec<Point> = Vec::new();
    for row in touched {
        old.extend(row.decode(series)?);
        out.delete.push(row.start_ts);
    }
    let appending = old.last().is_none_or(|p| p.ts < first.ts);
    let merged = clio_storage::merge_points(old, new, &mut out.replaced);
    if appending {
        for piece in merged.chunks(max.clamp(1, clio_codec::MAX_CHUNK_POINTS)) {
            out.insert.extend(encode_even(series, piece, max)?);
        }
    } else {
        out.insert = encode_even(series, &merged, max)?;
    }
    Ok(out)
}

/// Encodes `points` (ascending) as evenly sized chunks of at most `max` points.
pub(crate) fn encode_even(series: SeriesId, points: &[Point], max: usize) -> Result<Vec<NewChunk>> {
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let max = max.clamp(1, clio_codec::MAX_CHUNK_POINTS);
    let pieces = points.len().div_ceil(max);
    let size = points.len().div_ceil(pieces);
    let mut out = Vec::with_capacity(pieces);
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
        out.push(NewChunk {
            series: id_sql(series),
            start_ts: first.ts,
            end_ts: last.ts,
            // At most MAX_CHUNK_POINTS (2^20).
            count: piece.len() as i32,
            data,
        });
    }
    Ok(out)
}

/// Splits `rows` (stored chunks) for a cut of `[from, to)`: the chunks wholly inside go as
/// rows; a boundary chunk is rewritten with the points outside. Returns (start_ts to delete,
/// chunks to insert, points removed).
pub(crate) fn cut(
    series: SeriesId,
    rows: &[ChunkRow],
    from: Timestamp,
    to: Timestamp,
    max: usize,
) -> Result<(Vec<Timestamp>, Vec<NewChunk>, u64)> {
    let mut delete = Vec::new();
    let mut insert = Vec::new();
    let mut removed = 0u64;
    for row in rows {
        if row.start_ts >= from && row.end_ts < to {
            delete.push(row.start_ts);
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
        delete.push(row.start_ts);
        insert.extend(encode_even(series, &kept, max)?);
    }
    Ok((delete, insert, removed))
}

/// Inserts a few chunk rows with one statement (the bulk write path uses `COPY` instead).
pub(crate) async fn insert_rows(
    c: &impl GenericClient,
    schema: &str,
    chunks: &[NewChunk],
) -> Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let stmt = c
        .prepare_cached(&format!(
            "INSERT INTO {schema}.chunks (series_id, start_ts, end_ts, count, data)
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int4[], $5::bytea[])"
        ))
        .await
        .map_err(db)?;
    let ids: Vec<i64> = chunks.iter().map(|c| c.series).collect();
    let starts: Vec<i64> = chunks.iter().map(|c| c.start_ts).collect();
    let ends: Vec<i64> = chunks.iter().map(|c| c.end_ts).collect();
    let counts: Vec<i32> = chunks.iter().map(|c| c.count).collect();
    let data: Vec<&[u8]> = chunks.iter().map(|c| c.data.as_slice()).collect();
    c.execute(&stmt, &[&ids, &starts, &ends, &counts, &data])
        .await
        .map_err(db)?;
    Ok(())
}

/// Deletes chunk rows by `(series, start_ts)` pairs.
pub(crate) async fn delete_rows(
    c: &impl GenericClient,
    schema: &str,
    ids: &[i64],
    starts: &[Timestamp],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = c
        .prepare_cached(&format!(
            "DELETE FROM {schema}.chunks c USING unnest($1::int8[], $2::int8[]) AS d(sid, st)
             WHERE c.series_id = d.sid AND c.start_ts = d.st"
        ))
        .await
        .map_err(db)?;
    c.execute(&stmt, &[&ids, &starts]).await.map_err(db)?;
    Ok(())
}

/// The newest chunk of `series` starting before `before`.
async fn last_before(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    before: Timestamp,
) -> Result<Option<ChunkRow>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT start_ts, end_ts, count, data FROM {schema}.chunks
             WHERE series_id = $1 AND start_ts < $2 ORDER BY start_ts DESC LIMIT 1"
        ))
        .await
        .map_err(db)?;
    c.query_opt(&stmt, &[&id_sql(series), &before])
        .await
        .map_err(db)?
        .map(|r| ChunkRow::from_row(&r, 0))
        .transpose()
}

/// Deletes the raw points of `[from, to)` inside the caller's transaction: chunks inside the
/// range go as rows (without reading them), only the at most two boundary chunks are decoded
/// and rewritten. Returns the points removed.
pub(crate) async fn delete_range(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    from: Timestamp,
    to: Timestamp,
    max: usize,
) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let mut boundary: Vec<ChunkRow> = Vec::new();
    if let Some(row) = last_before(c, schema, series, from).await?
        && row.end_ts >= from
    {
        boundary.push(row);
    }
    if let Some(row) = last_before(c, schema, series, to).await?
        && row.end_ts >= to
        && boundary.iter().all(|b| b.start_ts != row.start_ts)
    {
        boundary.push(row);
    }
    let stmt = c
        .prepare_cached(&format!(
            "WITH d AS (DELETE FROM {schema}.chunks
                        WHERE series_id = $1 AND start_ts >= $2 AND start_ts < $3 AND end_ts < $3
                        RETURNING count)
             SELECT COALESCE(SUM(count), 0)::int8 FROM d"
        ))
        .await
        .map_err(db)?;
    let inside: i64 = c
        .query_one(&stmt, &[&id_sql(series), &from, &to])
        .await
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    let (delete, insert, removed) = cut(series, &boundary, from, to, max)?;
    let ids = vec![id_sql(series); delete.len()];
    delete_rows(c, schema, &ids, &delete).await?;
    insert_rows(c, schema, &insert).await?;
    Ok(inside.max(0) as u64 + removed)
}
