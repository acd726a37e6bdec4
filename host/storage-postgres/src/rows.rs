//! Chunk rows as stored, and the conversions every query shares.

use clio_storage::{Point, PointColumns, Result, SeriesId, StorageError, Timestamp, TrendBucket};
use tokio_postgres::Row;

/// A point or trend chunk row: `start_ts, end_ts, count, data`.
#[derive(Debug, Clone)]
pub(crate) struct ChunkRow {
    pub start_ts: Timestamp,
    pub end_ts: Timestamp,
    pub count: i32,
    pub data: Vec<u8>,
}

impl ChunkRow {
    /// Reads columns `at..at + 4` of `row`.
    pub(crate) fn from_row(row: &Row, at: usize) -> Result<ChunkRow> {
        Ok(ChunkRow {
            start_ts: row.try_get(at).map_err(db)?,
            end_ts: row.try_get(at + 1).map_err(db)?,
            count: row.try_get(at + 2).map_err(db)?,
            data: row
                .try_get::<_, Option<Vec<u8>>>(at + 3)
                .map_err(db)?
                .unwrap_or_default(),
        })
    }

    pub(crate) fn decode(&self, series: SeriesId) -> Result<Vec<Point>> {
        clio_codec::decode_chunk(&self.data).map_err(|e| corrupt(series, self.start_ts, e))
    }

    pub(crate) fn decode_columns(&self, series: SeriesId) -> Result<PointColumns> {
        clio_codec::decode_chunk_columns(&self.data).map_err(|e| corrupt(series, self.start_ts, e))
    }

    pub(crate) fn decode_trends(&self, series: SeriesId) -> Result<Vec<TrendBucket>> {
        clio_codec::decode_trend_chunk(&self.data)
            .map_err(|e| corrupt(series, self.start_ts, format!("trend chunk: {e}")))
    }
}

/// PostgreSQL has no unsigned integers; ids keep their bits (ids above `i64::MAX` are stored
/// negative).
pub(crate) fn id_sql(id: SeriesId) -> i64 {
    id.0 as i64
}

/// Inverse of [`id_sql`].
pub(crate) fn id_from_sql(v: i64) -> SeriesId {
    SeriesId(v as u64)
}

/// A statement failed: mapped through [`crate::pg_error`] (connection trouble is
/// `Unavailable`).
pub(crate) fn db(e: tokio_postgres::Error) -> StorageError {
    crate::pg_error(crate::PgError::Db(e))
}

/// No connection could be had from the pool.
pub(crate) fn pool(e: deadpool_postgres::PoolError) -> StorageError {
    crate::pg_error(crate::PgError::Pool(e))
}

/// A chunk that does not decode.
pub(crate) fn corrupt(series: SeriesId, start_ts: i64, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        what: format!("chunk of series {series} starting at {start_ts}"),
        detail: e.to_string(),
    }
}
