//! Trend buckets in `trend_chunks`: compressed trend chunks of at most [`MAX_TREND_CHUNK`]
//! buckets per series and interval, never overlapping, as in the SQLite backend. The rules of
//! [`clio_storage::trend_maint`] decide the buckets; this module loads and stores chunks.

use std::collections::BTreeMap;

use clio_storage::{Result, SeriesId, StorageError, Timestamp, TrendBucket, TrendInterval};
use deadpool_postgres::GenericClient;

use crate::rows::{ChunkRow, db, id_sql};

/// Most buckets in one trend chunk (about 42 hours of 10-minute buckets).
pub const MAX_TREND_CHUNK: usize = 256;

/// A trend chunk row to insert.
#[derive(Debug)]
pub(crate) struct NewTrendChunk {
    pub series: i64,
    pub interval_ms: i64,
    pub start_ts: Timestamp,
    pub end_ts: Timestamp,
    pub count: i32,
    pub data: Vec<u8>,
}

/// Buckets starting in `[from, to)`, ascending.
pub(crate) async fn read(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    interval: TrendInterval,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<TrendBucket>> {
    let mut newest_first = Vec::new();
    if from >= to {
        return Ok(newest_first);
    }
    // The chunk holding `from` starts at or before it: every chunk from there up to `to`.
    let stmt = c
        .prepare_cached(&format!(
            "SELECT start_ts, end_ts, count, data FROM {schema}.trend_chunks
             WHERE series_id = $1 AND interval_ms = $2 AND start_ts < $4
               AND start_ts >= COALESCE((SELECT max(start_ts) FROM {schema}.trend_chunks
                                         WHERE series_id = $1 AND interval_ms = $2
                                           AND start_ts <= $3), $3)
             ORDER BY start_ts DESC"
        ))
        .await
        .map_err(db)?;
    let rows = c
        .query(&stmt, &[&id_sql(series), &interval.ms(), &from, &to])
        .await
        .map_err(db)?;
    for r in &rows {
        let row = ChunkRow::from_row(r, 0)?;
        if row.end_ts < from {
            break;
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
    }
    newest_first.reverse();
    Ok(newest_first)
}

/// Fetches, for each `(series, interval, lo, hi)`, the trend chunks overlapping `[lo, hi]`
/// plus the chunk just before `lo` when it has room, in one round trip. Answers, per request
/// index, the rows ascending.
pub(crate) async fn fetch_touched(
    c: &impl GenericClient,
    schema: &str,
    requests: &[(i64, i64, Timestamp, Timestamp)],
) -> Result<Vec<Vec<ChunkRow>>> {
    let mut out: Vec<Vec<ChunkRow>> = (0..requests.len()).map(|_| Vec::new()).collect();
    if requests.is_empty() {
        return Ok(out);
    }
    let stmt = c
        .prepare_cached(&format!(
            "SELECT q.i, t.start_ts, t.end_ts, t.count, t.data
             FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[]) WITH ORDINALITY
                  AS q(sid, iv, lo, hi, i)
             CROSS JOIN LATERAL (
                (SELECT start_ts, end_ts, count,
                        CASE WHEN end_ts >= q.lo OR count < $5 THEN data END AS data
                 FROM {schema}.trend_chunks
                 WHERE series_id = q.sid AND interval_ms = q.iv AND start_ts < q.lo
                 ORDER BY start_ts DESC LIMIT 1)
                UNION ALL
                (SELECT start_ts, end_ts, count, data FROM {schema}.trend_chunks
                 WHERE series_id = q.sid AND interval_ms = q.iv
                   AND start_ts >= q.lo AND start_ts <= q.hi)
             ) t"
        ))
        .await
        .map_err(db)?;
    let sids: Vec<i64> = requests.iter().map(|r| r.0).collect();
    let ivs: Vec<i64> = requests.iter().map(|r| r.1).collect();
    let los: Vec<i64> = requests.iter().map(|r| r.2).collect();
    let his: Vec<i64> = requests.iter().map(|r| r.3).collect();
    let max = MAX_TREND_CHUNK as i32;
    for r in c
        .query(&stmt, &[&sids, &ivs, &los, &his, &max])
        .await
        .map_err(db)?
    {
        let i: i64 = r.try_get(0).map_err(db)?;
        let row = ChunkRow::from_row(&r, 1)?;
        if row.data.is_empty() {
            continue;
        }
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
            slot.push(row);
        }
    }
    for rows in &mut out {
        rows.sort_by_key(|r| r.start_ts);
    }
    Ok(out)
}

/// Decodes fetched trend chunks into a map by bucket start.
pub(crate) fn decode_map(
    series: SeriesId,
    rows: &[ChunkRow],
) -> Result<BTreeMap<Timestamp, TrendBucket>> {
    let mut map = BTreeMap::new();
    for row in rows {
        for b in row.decode_trends(series)? {
            map.insert(b.start, b);
        }
    }
    Ok(map)
}

/// Encodes buckets (ascending) as trend chunks filled to the maximum: buckets mostly arrive
/// at the end, so the remainder is the open tail that the next flush extends.
pub(crate) fn encode(
    series: SeriesId,
    interval: TrendInterval,
    buckets: &[TrendBucket],
) -> Result<Vec<NewTrendChunk>> {
    let mut out = Vec::new();
    for piece in buckets.chunks(MAX_TREND_CHUNK) {
        let (Some(first), Some(last)) = (piece.first(), piece.last()) else {
            continue;
        };
        let data = clio_codec::encode_trend_chunk(piece).map_err(|e| {
            StorageError::Other(format!("cannot encode trends of series {series}: {e}"))
        })?;
        out.push(NewTrendChunk {
            series: id_sql(series),
            interval_ms: interval.ms(),
            start_ts: first.start,
            end_ts: last.start,
            count: piece.len() as i32,
            data,
        });
    }
    Ok(out)
}

/// Deletes trend chunk rows by `(series, interval, start_ts)`.
pub(crate) async fn delete_rows(
    c: &impl GenericClient,
    schema: &str,
    keys: &[(i64, i64, Timestamp)],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let stmt = c
        .prepare_cached(&format!(
            "DELETE FROM {schema}.trend_chunks t
             USING unnest($1::int8[], $2::int8[], $3::int8[]) AS d(sid, iv, st)
             WHERE t.series_id = d.sid AND t.interval_ms = d.iv AND t.start_ts = d.st"
        ))
        .await
        .map_err(db)?;
    let a: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let b: Vec<i64> = keys.iter().map(|k| k.1).collect();
    let s: Vec<i64> = keys.iter().map(|k| k.2).collect();
    c.execute(&stmt, &[&a, &b, &s]).await.map_err(db)?;
    Ok(())
}

/// Inserts trend chunk rows with one statement.
pub(crate) async fn insert_rows(
    c: &impl GenericClient,
    schema: &str,
    chunks: &[NewTrendChunk],
) -> Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let stmt = c
        .prepare_cached(&format!(
            "INSERT INTO {schema}.trend_chunks (series_id, interval_ms, start_ts, end_ts, count, data)
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int4[], $6::bytea[])"
        ))
        .await
        .map_err(db)?;
    let a: Vec<i64> = chunks.iter().map(|c| c.series).collect();
    let b: Vec<i64> = chunks.iter().map(|c| c.interval_ms).collect();
    let s: Vec<i64> = chunks.iter().map(|c| c.start_ts).collect();
    let e: Vec<i64> = chunks.iter().map(|c| c.end_ts).collect();
    let n: Vec<i32> = chunks.iter().map(|c| c.count).collect();
    let d: Vec<&[u8]> = chunks.iter().map(|c| c.data.as_slice()).collect();
    c.execute(&stmt, &[&a, &b, &s, &e, &n, &d])
        .await
        .map_err(db)?;
    Ok(())
}

/// Stores `buckets` as given (one interval, ascending): replaces buckets with equal starts,
/// keeps the others.
pub(crate) async fn put(
    c: &impl GenericClient,
    schema: &str,
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
    let sid = id_sql(series);
    let rows = fetch_touched(c, schema, &[(sid, interval.ms(), lo, hi)])
        .await?
        .pop()
        .unwrap_or_default();
    let mut map = decode_map(series, &rows)?;
    for b in buckets {
        map.insert(b.start, b.clone());
    }
    let keys: Vec<_> = rows
        .iter()
        .map(|r| (sid, interval.ms(), r.start_ts))
        .collect();
    delete_rows(c, schema, &keys).await?;
    let all: Vec<TrendBucket> = map.into_values().collect();
    insert_rows(c, schema, &encode(series, interval, &all)?).await
}

/// Intervals for which a series has trend chunks.
async fn stored_intervals_of(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
) -> Result<Vec<TrendInterval>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT DISTINCT interval_ms FROM {schema}.trend_chunks WHERE series_id = $1"
        ))
        .await
        .map_err(db)?;
    let mut out = Vec::new();
    for r in c.query(&stmt, &[&id_sql(series)]).await.map_err(db)? {
        let ms: i64 = r.try_get(0).map_err(db)?;
        out.push(
            TrendInterval::from_ms(ms).map_err(|e| StorageError::Corrupt {
                what: format!("trend chunks of series {series}"),
                detail: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// Deletes buckets starting in `[from, to)` of one interval or of every stored interval;
/// whole chunks go as rows, boundary chunks are rewritten. Returns buckets removed.
pub(crate) async fn delete(
    c: &impl GenericClient,
    schema: &str,
    series: SeriesId,
    interval: Option<TrendInterval>,
    from: Timestamp,
    to: Timestamp,
) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let intervals = match interval {
        Some(i) => vec![i],
        None => stored_intervals_of(c, schema, series).await?,
    };
    let sid = id_sql(series);
    let stmt = c
        .prepare_cached(&format!(
            "SELECT start_ts, end_ts, count, data FROM {schema}.trend_chunks
             WHERE series_id = $1 AND interval_ms = $2 AND start_ts < $4
               AND start_ts >= COALESCE((SELECT max(start_ts) FROM {schema}.trend_chunks
                                         WHERE series_id = $1 AND interval_ms = $2
                                           AND start_ts <= $3), $3)"
        ))
        .await
        .map_err(db)?;
    let mut removed = 0u64;
    for interval in intervals {
        let rows = c
            .query(&stmt, &[&sid, &interval.ms(), &from, &to])
            .await
            .map_err(db)?;
        let mut delete = Vec::new();
        let mut insert = Vec::new();
        for r in &rows {
            let row = ChunkRow::from_row(r, 0)?;
            if row.end_ts < from {
                continue;
            }
            if row.start_ts >= from && row.end_ts < to {
                delete.push((sid, interval.ms(), row.start_ts));
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
                continue;
            }
            removed += (before - kept.len()) as u64;
            delete.push((sid, interval.ms(), row.start_ts));
            insert.extend(encode(series, interval, &kept)?);
        }
        delete_rows(c, schema, &delete).await?;
        insert_rows(c, schema, &insert).await?;
    }
    Ok(removed)
}
