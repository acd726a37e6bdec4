//! [`PgBackend`]: the storage traits over a pool of PostgreSQL connections.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use clio_storage::{
    Capabilities, CatalogStore, Expiry, ExpiryOutcome, NewSeries, Point, PointColumns, PointStore,
    Result, RetentionStore, SeriesFilter, SeriesId, SeriesInfo, SeriesPoints, SeriesStats,
    SeriesUpdate, StorageBackend, StorageError, Timestamp, TrendBucket, TrendInterval, TrendMode,
    TrendStore, Value, WriteSummary, trend_maint,
};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tracing::{debug, info};

use crate::partitions::{Partitions, now_ms};
use crate::points::{self, NewChunk};
use crate::rows::{ChunkRow, db, id_sql, pool as pool_err};
use crate::trends::{self, NewTrendChunk};
use crate::{PgOptions, catalog, open_pool, pg_error};

/// The PostgreSQL backend: catalog in `series`, raw points as compressed chunks in the
/// partitioned `chunks`, trends in `trend_chunks` (maintained natively, in the write's own
/// transaction), recent points also as plain rows for the `points` view.
pub struct PgBackend {
    pool: Pool,
    opts: PgOptions,
    partitions: Partitions,
    closed: AtomicBool,
    /// When recent plain rows of every series were last trimmed (ms).
    last_trim: Mutex<i64>,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// One round of a write: at most one entry per series (a batch naming a series twice is
/// written in several rounds, in order, inside one transaction).
fn rounds(batch: &[SeriesPoints]) -> Vec<Vec<&SeriesPoints>> {
    let mut out: Vec<Vec<&SeriesPoints>> = Vec::new();
    let mut seen: HashMap<SeriesId, usize> = HashMap::new();
    for sp in batch.iter().filter(|sp| !sp.points.is_empty()) {
        let n = seen.entry(sp.series).or_insert(0);
        if out.len() <= *n {
            out.push(Vec::new());
        }
        out[*n].push(sp);
        *n += 1;
    }
    out
}

/// Strings of the plain-rows table cannot hold NUL (PostgreSQL `text`); the view shows
/// U+FFFD there (the chunks keep the exact value).
fn view_text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

impl PgBackend {
    /// Connects, brings the schema up to date and creates the partitions ahead of time.
    pub async fn open(opts: PgOptions) -> Result<Self> {
        let pool = open_pool(&opts).await.map_err(pg_error)?;
        let partitions = Partitions::new(&opts.schema, opts.partition_ms(), opts.partitions_ahead);
        {
            let c = pool.get().await.map_err(pool_err)?;
            partitions.open(&c, opts.read_only).await?;
        }
        info!(backend = %format!("{}:{}/{}", opts.host, opts.port, opts.database), "postgres backend open");
        Ok(PgBackend {
            pool,
            opts,
            partitions,
            closed: AtomicBool::new(false),
            last_trim: Mutex::new(0),
        })
    }

    /// The options it was opened with.
    pub fn options(&self) -> &PgOptions {
        &self.opts
    }

    /// The connection pool (for tools and tests that look at the tables directly).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn schema(&self) -> &str {
        &self.opts.schema
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Unavailable(
                "postgres backend is closed".into(),
            ));
        }
        Ok(())
    }

    async fn conn(&self) -> Result<deadpool_postgres::Object> {
        self.check_open()?;
        self.pool.get().await.map_err(pool_err)
    }

    /// The stored chunks each entry's new points touch (overlapping chunks plus the one
    /// before when it has room), ascending, in one round trip for the whole round.
    async fn fetch_touched(
        &self,
        tx: &Transaction<'_>,
        round: &[&SeriesPoints],
    ) -> Result<Vec<Vec<ChunkRow>>> {
        let schema = self.schema();
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT q.i, c.start_ts, c.end_ts, c.count, c.data
                 FROM unnest($1::int8[], $2::int8[], $3::int8[]) WITH ORDINALITY AS q(sid, a, b, i)
                 CROSS JOIN LATERAL (
                    (SELECT start_ts, end_ts, count,
                            CASE WHEN end_ts >= q.a OR count < $4 THEN data END AS data
                     FROM {schema}.chunks
                     WHERE series_id = q.sid AND start_ts < q.a
                     ORDER BY start_ts DESC LIMIT 1)
                    UNION ALL
                    (SELECT start_ts, end_ts, count, data FROM {schema}.chunks
                     WHERE series_id = q.sid AND start_ts >= q.a AND start_ts <= q.b)
                 ) c"
            ))
            .await
            .map_err(db)?;
        let mut sids = Vec::with_capacity(round.len());
        let mut a = Vec::with_capacity(round.len());
        let mut b = Vec::with_capacity(round.len());
        for sp in round {
            sids.push(id_sql(sp.series));
            a.push(sp.points.first().map_or(0, |p| p.ts));
            b.push(sp.points.last().map_or(0, |p| p.ts));
        }
        let max = self.opts.max_chunk_points.min(i32::MAX as usize) as i32;
        let mut out: Vec<Vec<ChunkRow>> = (0..round.len()).map(|_| Vec::new()).collect();
        for r in tx.query(&stmt, &[&sids, &a, &b, &max]).await.map_err(db)? {
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

    async fn copy_chunks(&self, tx: &Transaction<'_>, chunks: &[NewChunk]) -> Result<()> {
        if chunks.len() < 8 {
            return points::insert_rows(tx, self.schema(), chunks).await;
        }
        let sink = tx
            .copy_in(&format!(
                "COPY {}.chunks (series_id, start_ts, end_ts, count, data) FROM STDIN BINARY",
                self.schema()
            ))
            .await
            .map_err(db)?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[Type::INT8, Type::INT8, Type::INT8, Type::INT4, Type::BYTEA],
        );
        let mut writer = std::pin::pin!(writer);
        for c in chunks {
            writer
                .as_mut()
                .write(&[&c.series, &c.start_ts, &c.end_ts, &c.count, &c.data])
                .await
                .map_err(db)?;
        }
        writer.finish().await.map_err(db)?;
        Ok(())
    }

    async fn copy_trend_chunks(
        &self,
        tx: &Transaction<'_>,
        chunks: &[NewTrendChunk],
    ) -> Result<()> {
        if chunks.len() < 8 {
            return trends::insert_rows(tx, self.schema(), chunks).await;
        }
        let sink = tx
            .copy_in(&format!(
                "COPY {}.trend_chunks (series_id, interval_ms, start_ts, end_ts, count, data) FROM STDIN BINARY",
                self.schema()
            ))
            .await
            .map_err(db)?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[
                Type::INT8,
                Type::INT8,
                Type::INT8,
                Type::INT8,
                Type::INT4,
                Type::BYTEA,
            ],
        );
        let mut writer = std::pin::pin!(writer);
        for c in chunks {
            writer
                .as_mut()
                .write(&[
                    &c.series,
                    &c.interval_ms,
                    &c.start_ts,
                    &c.end_ts,
                    &c.count,
                    &c.data,
                ])
                .await
                .map_err(db)?;
        }
        writer.finish().await.map_err(db)?;
        Ok(())
    }

    /// Brings the trend buckets of one round up to date (after its chunks are written).
    async fn maintain_trends(
        &self,
        tx: &Transaction<'_>,
        round: &[&SeriesPoints],
        replaced: &[Vec<Timestamp>],
    ) -> Result<u64> {
        let schema = self.schema();
        let mut requests = Vec::new();
        // (entry index, interval, rebuild set) per request.
        let mut plans = Vec::new();
        for (i, sp) in round.iter().enumerate() {
            for &interval in &self.opts.trend_intervals {
                let rebuild = trend_maint::rebuild_starts(interval, &replaced[i]);
                let Some((lo, hi)) = trend_maint::touched(interval, &sp.points, &rebuild) else {
                    continue;
                };
                requests.push((id_sql(sp.series), interval.ms(), lo, hi));
                plans.push((i, interval, rebuild));
            }
        }
        let fetched = trends::fetch_touched(tx, schema, &requests).await?;
        let mut written = 0u64;
        let mut delete = Vec::new();
        let mut insert = Vec::new();
        for ((i, interval, rebuild), rows) in plans.into_iter().zip(fetched) {
            let sp = round[i];
            // Raw points of the buckets to rebuild, read after the new points were stored.
            let mut raw: HashMap<Timestamp, Vec<Point>> = HashMap::new();
            for &start in &rebuild {
                let pts = points::read_all(
                    tx,
                    schema,
                    sp.series,
                    start,
                    start.saturating_add(interval.ms()),
                )
                .await?;
                raw.insert(start, pts);
            }
            let mut map: BTreeMap<Timestamp, TrendBucket> = trends::decode_map(sp.series, &rows)?;
            written +=
                trend_maint::update_buckets(interval, &mut map, &sp.points, &rebuild, |s| {
                    Ok(raw.remove(&s).unwrap_or_default())
                })?;
            delete.extend(
                rows.iter()
                    .map(|r| (id_sql(sp.series), interval.ms(), r.start_ts)),
            );
            let all: Vec<TrendBucket> = map.into_values().collect();
            insert.extend(trends::encode(sp.series, interval, &all)?);
        }
        trends::delete_rows(tx, schema, &delete).await?;
        self.copy_trend_chunks(tx, &insert).await?;
        Ok(written)
    }

    /// Copies the round's recent points into the plain-rows table (replaced values first
    /// deleted), and trims the rows of these series that aged out.
    async fn plain_rows(
        &self,
        tx: &Transaction<'_>,
        round: &[&SeriesPoints],
        replaced: &[Vec<Timestamp>],
    ) -> Result<()> {
        if self.opts.plain_rows_hours == 0 {
            return Ok(());
        }
        let schema = self.schema();
        let now = now_ms();
        let cutoff = now - i64::from(self.opts.plain_rows_hours) * 3_600_000;
        // Far-future stamps stay out: the view turns them into `timestamptz`.
        let horizon = now + 366 * 86_400_000;
        let window = cutoff..=horizon;
        let (mut del_ids, mut del_ts) = (Vec::new(), Vec::new());
        for (sp, rep) in round.iter().zip(replaced) {
            for &ts in rep.iter().filter(|t| window.contains(t)) {
                del_ids.push(id_sql(sp.series));
                del_ts.push(ts);
            }
        }
        if !del_ids.is_empty() {
            let stmt = tx
                .prepare_cached(&format!(
                    "DELETE FROM {schema}.recent_points r USING unnest($1::int8[], $2::int8[]) AS d(sid, ts)
                     WHERE r.series_id = d.sid AND r.ts = d.ts"
                ))
                .await
                .map_err(db)?;
            tx.execute(&stmt, &[&del_ids, &del_ts]).await.map_err(db)?;
        }
        let any = round
            .iter()
            .any(|sp| sp.points.iter().any(|p| window.contains(&p.ts)));
        if any {
            let sink = tx
                .copy_in(&format!(
                    "COPY {schema}.recent_points (series_id, ts, value, text_value) FROM STDIN BINARY"
                ))
                .await
                .map_err(db)?;
            let writer =
                BinaryCopyInWriter::new(sink, &[Type::INT8, Type::INT8, Type::FLOAT8, Type::TEXT]);
            let mut writer = std::pin::pin!(writer);
            for sp in round {
                let sid = id_sql(sp.series);
                for p in sp.points.iter().filter(|p| window.contains(&p.ts)) {
                    let (num, text): (Option<f64>, Option<String>) = match &p.value {
                        Value::Num(v) => (Some(*v), None),
                        Value::Str(s) => (None, Some(view_text(s))),
                    };
                    writer
                        .as_mut()
                        .write(&[&sid, &p.ts, &num, &text])
                        .await
                        .map_err(db)?;
                }
            }
            writer.finish().await.map_err(db)?;
        }
        // Trim what aged out: the written series now, every series once a minute.
        let trim_all = {
            let mut last = self.last_trim.lock().unwrap_or_else(|p| p.into_inner());
            if now - *last > 60_000 {
                *last = now;
                true
            } else {
                false
            }
        };
        if trim_all {
            let stmt = tx
                .prepare_cached(&format!("DELETE FROM {schema}.recent_points WHERE ts < $1"))
                .await
                .map_err(db)?;
            let n = tx.execute(&stmt, &[&cutoff]).await.map_err(db)?;
            debug!(rows = n, "postgres plain rows trimmed");
        }
        Ok(())
    }

    async fn write_inner(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        for sp in batch {
            points::check_ascending(sp.series, &sp.points)?;
        }
        let mut summary = WriteSummary::default();
        let rounds = rounds(batch);
        if rounds.is_empty() {
            return Ok(summary);
        }
        let mut conn = self.conn().await?;
        // Partitions for the spans the points fall in, before the transaction (DDL).
        self.partitions.ensure_ahead(&conn).await?;
        let ends: Vec<Timestamp> = batch
            .iter()
            .flat_map(|sp| [sp.points.first(), sp.points.last()])
            .flatten()
            .map(|p| p.ts)
            .collect();
        self.partitions.ensure_for(&conn, ends.into_iter()).await?;
        let tx = conn.transaction().await.map_err(db)?;
        let max = self.opts.max_chunk_points;
        for round in &rounds {
            let touched = self.fetch_touched(&tx, round).await?;
            let (mut del_ids, mut del_starts) = (Vec::new(), Vec::new());
            let mut insert: Vec<NewChunk> = Vec::new();
            let mut replaced: Vec<Vec<Timestamp>> = Vec::with_capacity(round.len());
            for (sp, rows) in round.iter().zip(&touched) {
                let m = points::merge(sp.series, rows, &sp.points, max)?;
                del_ids.extend(std::iter::repeat_n(id_sql(sp.series), m.delete.len()));
                del_starts.extend(m.delete);
                insert.extend(m.insert);
                summary.points += sp.points.len() as u64;
                summary.replaced += m.replaced.len() as u64;
                replaced.push(m.replaced);
            }
            points::delete_rows(&tx, self.schema(), &del_ids, &del_starts).await?;
            self.copy_chunks(&tx, &insert).await?;
            self.plain_rows(&tx, round, &replaced).await?;
            summary.trend_buckets += self.maintain_trends(&tx, round, &replaced).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(summary)
    }

    /// Retention of a batch inside one transaction, then old partitions left empty are
    /// dropped (their space returns at once instead of after a vacuum).
    async fn expire_inner(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        let schema = self.schema().to_owned();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(db)?;
        let mut out: Vec<ExpiryOutcome> = batch
            .iter()
            .map(|e| ExpiryOutcome::none(e.series))
            .collect();
        // Whole partitions first: one whose every row belongs to a series of this batch and
        // ends before that series' cut goes with DROP TABLE, without row deletes.
        let mut cut_of: HashMap<i64, (Timestamp, usize)> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            if let Some(before) = e.raw_before {
                cut_of.entry(id_sql(e.series)).or_insert((before, i));
            }
        }
        let max_cut = cut_of.values().map(|v| v.0).max();
        let mut old_parts = Vec::new();
        if let Some(max_cut) = max_cut {
            for p in self.partitions.list(&tx).await? {
                if let Some((lo, hi)) = p.range
                    && hi <= max_cut
                {
                    old_parts.push((p.name, lo));
                }
            }
        }
        let mut dropped = Vec::new();
        for (name, lo) in &old_parts {
            let rows = tx
                .query(
                    &format!(
                        "SELECT series_id, max(end_ts), COALESCE(sum(count), 0)::int8 FROM {schema}.{name} GROUP BY series_id"
                    ),
                    &[],
                )
                .await
                .map_err(db)?;
            let mut credit = Vec::new();
            let all_expired = !rows.is_empty()
                && rows.iter().all(|r| {
                    let (Ok(sid), Ok(end), Ok(n)) = (
                        r.try_get::<_, i64>(0),
                        r.try_get::<_, i64>(1),
                        r.try_get::<_, i64>(2),
                    ) else {
                        return false;
                    };
                    match cut_of.get(&sid) {
                        Some(&(before, i)) if end < before => {
                            credit.push((i, n.max(0) as u64));
                            true
                        }
                        _ => false,
                    }
                });
            if all_expired {
                tx.batch_execute(&format!("DROP TABLE {schema}.{name}"))
                    .await
                    .map_err(db)?;
                for (i, n) in credit {
                    out[i].points += n;
                }
                dropped.push((name.clone(), *lo));
            }
        }
        let max = self.opts.max_chunk_points;
        for (e, outcome) in batch.iter().zip(out.iter_mut()) {
            if let Some(before) = e.raw_before {
                outcome.points +=
                    points::delete_range(&tx, &schema, e.series, Timestamp::MIN, before, max)
                        .await?;
                self.delete_plain_rows(&tx, e.series, Timestamp::MIN, before)
                    .await?;
            }
            for &(interval, before) in &e.trends_before {
                outcome.buckets += trends::delete(
                    &tx,
                    &schema,
                    e.series,
                    Some(interval),
                    Timestamp::MIN,
                    before,
                )
                .await?;
            }
        }
        // Old partitions that the cuts left empty.
        for (name, lo) in &old_parts {
            if dropped.iter().any(|(n, _)| n == name) {
                continue;
            }
            let empty: bool = tx
                .query_one(
                    &format!("SELECT NOT EXISTS (SELECT 1 FROM {schema}.{name})"),
                    &[],
                )
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            if empty {
                tx.batch_execute(&format!("DROP TABLE {schema}.{name}"))
                    .await
                    .map_err(db)?;
                dropped.push((name.clone(), *lo));
            }
        }
        tx.commit().await.map_err(db)?;
        for (name, lo) in dropped {
            self.partitions.forget(lo);
            info!(partition = %name, "postgres partition dropped by retention");
        }
        Ok(out)
    }

    async fn delete_plain_rows(
        &self,
        c: &impl GenericClient,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<()> {
        let stmt = c
            .prepare_cached(&format!(
                "DELETE FROM {}.recent_points WHERE series_id = $1 AND ts >= $2 AND ts < $3",
                self.schema()
            ))
            .await
            .map_err(db)?;
        c.execute(&stmt, &[&id_sql(series), &from, &to])
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for PgBackend {
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        let c = self.conn().await?;
        catalog::load(&c, self.schema()).await
    }

    async fn create_series(&self, series: &[NewSeries]) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(db)?;
        catalog::create(&tx, self.schema(), series, now_ms()).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        let c = self.conn().await?;
        catalog::get(&c, self.schema(), id).await
    }

    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        Ok(self
            .load_catalog()
            .await?
            .into_iter()
            .filter(|s| filter.matches(s))
            .collect())
    }

    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(db)?;
        let info = catalog::update(&tx, self.schema(), id, update).await?;
        tx.commit().await.map_err(db)?;
        Ok(info)
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(db)?;
        let s = self.schema();
        let mut n = 0u64;
        for table in ["series", "chunks", "trend_chunks", "recent_points"] {
            let stmt = tx
                .prepare_cached(&format!("DELETE FROM {s}.{table} WHERE series_id = $1"))
                .await
                .map_err(db)?;
            n += tx.execute(&stmt, &[&id_sql(id)]).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl PointStore for PgBackend {
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        self.check_open()?;
        self.write_inner(batch).await
    }

    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        Ok(self
            .read_range_columns(series, from, to, limit)
            .await?
            .into_points())
    }

    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        Ok(self
            .read_last_columns(series, before, n, 0)
            .await?
            .into_points())
    }

    async fn read_range_columns(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<PointColumns> {
        let c = self.conn().await?;
        points::read_range_columns(&c, self.schema(), series, from, to, limit).await
    }

    async fn read_last_columns(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Result<PointColumns> {
        let c = self.conn().await?;
        points::read_last_columns(&c, self.schema(), series, before, n, skip).await
    }

    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(db)?;
        let n = points::delete_range(
            &tx,
            self.schema(),
            series,
            from,
            to,
            self.opts.max_chunk_points,
        )
        .await?;
        self.delete_plain_rows(&tx, series, from, to).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn stats(&self, series: SeriesId) -> Result<SeriesStats> {
        let c = self.conn().await?;
        points::stats(&c, self.schema(), series).await
    }

    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        let c = self.conn().await?;
        points::stats_all(&c, self.schema()).await
    }
}

#[async_trait]
impl TrendStore for PgBackend {
    fn trend_mode(&self) -> TrendMode {
        // Points and their buckets in one transaction.
        TrendMode::Native
    }

    fn trend_intervals(&self) -> &[TrendInterval] {
        &self.opts.trend_intervals
    }

    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        let c = self.conn().await?;
        trends::read(&c, self.schema(), series, interval, from, to).await
    }

    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(db)?;
        let n = trends::delete(&tx, self.schema(), series, interval, from, to).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(db)?;
        trends::put(&tx, self.schema(), series, interval, buckets).await?;
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl RetentionStore for PgBackend {
    /// The whole batch in one transaction; old partitions whose every row is expired are
    /// dropped as tables instead of deleted row by row.
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        if batch.iter().all(Expiry::is_empty) {
            return Ok(batch
                .iter()
                .map(|e| ExpiryOutcome::none(e.series))
                .collect());
        }
        self.expire_inner(batch).await
    }
}

#[async_trait]
impl StorageBackend for PgBackend {
    fn describe(&self) -> String {
        format!(
            "postgres at {}:{}/{} (schema {})",
            self.opts.host, self.opts.port, self.opts.database, self.opts.schema
        )
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn health(&self) -> Result<()> {
        let c = self.conn().await?;
        c.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        self.pool.close();
        Ok(())
    }
}
