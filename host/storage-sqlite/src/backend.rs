//! [`SqliteBackend`]: the [`StorageBackend`] over one SQLite file.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use clio_storage::prelude::*;
use clio_storage::priority::Priority;
use clio_storage::{
    Capabilities, Expiry, ExpiryOutcome, NewSeries, Point, Result, SeriesFilter, SeriesId,
    SeriesInfo, SeriesPoints, SeriesStats, SeriesUpdate, StorageError, Timestamp, TrendBucket,
    TrendInterval, TrendMode, WriteSummary,
};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::caller_thread_reads::InlineReaders;
use crate::error::sql;
use crate::fresh::{self, Fresh};
use crate::options::SqliteOptions;
use crate::pool::Pool;
use crate::query::StoreTotals;
use crate::{catalog, chunks, query, schema, sealing, trends};

/// The embedded backend. Cheap to share behind an `Arc`; every method may be called
/// concurrently. Writes are serialised on one writer thread; reads run on the reader pool.
#[derive(Debug)]
pub struct SqliteBackend {
    opts: Arc<SqliteOptions>,
    writer: Pool,
    readers: Pool,
    /// Reads on the caller's thread ([`StorageBackend::read_range_columns_inline`]).
    inline: InlineReaders,
    /// Series created and not written to since (used on the writer thread only).
    fresh: Arc<Mutex<Fresh>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SqliteBackend {
    /// Opens (creating when missing) the database file, checks its format version, brings
    /// trend intervals in line with `opts` and starts the writer and reader threads.
    pub fn open(opts: SqliteOptions) -> Result<Self> {
        if opts.trend_intervals.is_empty() {
            return Err(StorageError::InvalidInput(
                "at least one trend interval is needed".into(),
            ));
        }
        if let Some(dir) = opts.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut writer = Connection::open(&opts.path).map_err(|e| {
            StorageError::Unavailable(format!("cannot open {}: {e}", opts.path.display()))
        })?;
        schema::configure(&writer, opts.busy_timeout)?;
        sealing::register(&writer, &opts.keys)?;
        let before = schema::init(&writer)?;
        sealing::check_store(&writer, &opts.keys, true)?;
        Self::sync_intervals(&mut writer, &before, &opts.trend_intervals)?;

        let mut readers = Vec::new();
        for _ in 0..opts.reader_threads() {
            let conn = Connection::open_with_flags(
                &opts.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sql)?;
            schema::configure_reader(&conn, opts.busy_timeout)?;
            sealing::register(&conn, &opts.keys)?;
            readers.push(conn);
        }
        let backend = SqliteBackend {
            writer: Pool::start("writer", vec![writer], opts.writer_priority)?,
            readers: Pool::start("reader", readers, Priority::Normal)?,
            // As many callers may read on their own threads as there are reader threads.
            inline: InlineReaders::new(
                opts.path.clone(),
                opts.busy_timeout,
                opts.reader_threads(),
                opts.keys.clone(),
            ),
            opts: Arc::new(opts),
            fresh: Arc::default(),
        };
        tracing::info!(
            path = %backend.opts.path.display(),
            readers = backend.readers.size(),
            "sqlite storage open"
        );
        Ok(backend)
    }

    /// Builds trends for intervals new to this file and drops those no longer configured.
    fn sync_intervals(
        conn: &mut Connection,
        before: &[TrendInterval],
        now: &[TrendInterval],
    ) -> Result<()> {
        if before == now {
            return Ok(());
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let fresh_file = schema::stored_intervals(&tx)?.is_none();
        for i in now.iter().filter(|i| !before.contains(i)) {
            if !fresh_file {
                let n = trends::backfill(&tx, *i)?;
                tracing::info!(interval = %i, buckets = n, "built trends for a new interval");
            }
        }
        for i in before.iter().filter(|i| !now.contains(i)) {
            let n = tx
                .execute("DELETE FROM trend_chunks WHERE interval_ms = ?1", [i.ms()])
                .map_err(sql)?;
            tracing::info!(interval = %i, buckets = n, "dropped trends of a removed interval");
        }
        schema::store_intervals(&tx, now)?;
        tx.commit().map_err(sql)
    }

    /// The options the backend was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.opts
    }

    /// Moves the SQLite WAL into the main file and truncates it.
    pub async fn checkpoint(&self) -> Result<()> {
        self.writer
            .call(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .map_err(sql)
            })
            .await
    }

    /// Chunk rows (points and trends) by the id of the key that sealed them, `plain` for
    /// unsealed rows: an old key may be dropped once no row names it.
    pub async fn chunks_by_key(&self) -> Result<Vec<(String, u64)>> {
        self.read(sealing::chunks_by_key).await
    }

    /// Re-seals every chunk not sealed under the current key (after a key rotation), in
    /// transactions of `batch` rows on the writer thread, so writes go on between them.
    /// Returns the rows re-sealed.
    pub async fn reseal(&self, batch: usize) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n = self
                .writer
                .call({
                    let keys = self.opts.keys.clone();
                    move |conn| sealing::reseal_batch(conn, &keys, batch.max(1))
                })
                .await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Totals over every series: raw points, chunk rows, encoded chunk bytes and trend
    /// buckets (for import summaries and benchmarks).
    pub async fn totals(&self) -> Result<StoreTotals> {
        self.read(query::totals).await
    }

    async fn write_tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &SqliteOptions) -> Result<T> + Send + 'static,
    {
        let opts = self.opts.clone();
        self.writer
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql)?;
                let out = f(&tx, &opts)?;
                tx.commit().map_err(sql)?;
                Ok(out)
            })
            .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers
            .call(move |conn| query::in_read_tx(conn, f))
            .await
    }
}

#[async_trait]
impl CatalogStore for SqliteBackend {
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        self.read(catalog::load).await
    }

    async fn create_series(&self, series: &[NewSeries]) -> Result<()> {
        self.create_series_owned(series.to_vec()).await
    }

    async fn create_series_owned(&self, series: Vec<NewSeries>) -> Result<()> {
        let fresh = self.fresh.clone();
        self.write_tx(move |tx, _| {
            let mut fresh = fresh.lock().unwrap_or_else(|p| p.into_inner());
            catalog::create(tx, &series, now_ms(), |id| fresh.insert(id))
        })
        .await
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        self.read(move |c| catalog::get(c, id)).await
    }

    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        let filter = filter.clone();
        self.read(move |c| catalog::list(c, &filter)).await
    }

    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        let update = update.clone();
        self.write_tx(move |tx, _| catalog::update(tx, id, &update))
            .await
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        self.write_tx(move |tx, _| {
            let existed = catalog::delete(tx, id)?;
            let chunks = chunks::delete_all(tx, id)?;
            let buckets = trends::delete_all(tx, id)?;
            Ok(existed || chunks > 0 || buckets > 0)
        })
        .await
    }
}

#[async_trait]
impl PointStore for SqliteBackend {
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        self.write_shared(Arc::new(batch.to_vec())).await
    }

    /// The batch goes to the writer thread as it is: a copy of a flush batch (200,000 series)
    /// held a runtime worker for milliseconds.
    async fn write_shared(&self, batch: Arc<Vec<SeriesPoints>>) -> Result<WriteSummary> {
        let fresh = self.fresh.clone();
        self.write_tx(move |tx, opts| {
            let mut fresh = fresh.lock().unwrap_or_else(|p| p.into_inner());
            let mut summary = WriteSummary::default();
            for sp in batch.iter() {
                // A series just created holds nothing yet: one probe instead of the lookups
                // for chunks to merge into (the set is a hint; the probe decides).
                let stored = !fresh.take(sp.series) || fresh::stores_any(tx, sp.series)?;
                let outcome =
                    chunks::merge_points(tx, sp.series, &sp.points, opts.max_chunk_points, stored)?;
                summary.points += outcome.points;
                summary.replaced += outcome.replaced.len() as u64;
                summary.trend_buckets += trends::apply(
                    tx,
                    sp.series,
                    &opts.trend_intervals,
                    &sp.points,
                    &outcome.replaced,
                    stored,
                )?;
            }
            Ok(summary)
        })
        .await
    }

    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        self.read(move |c| query::read_range(c, series, from, to, limit))
            .await
    }

    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        self.read(move |c| query::read_last(c, series, n, before))
            .await
    }

    async fn read_range_columns(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<clio_storage::PointColumns> {
        self.read(move |c| query::read_range_columns(c, series, from, to, limit))
            .await
    }

    async fn read_last_columns(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Result<clio_storage::PointColumns> {
        self.read(move |c| query::read_last_columns(c, series, before, n, skip))
            .await
    }

    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        self.write_tx(move |tx, opts| {
            chunks::delete_range(tx, series, from, to, opts.max_chunk_points)
        })
        .await
    }

    async fn stats(&self, series: SeriesId) -> Result<SeriesStats> {
        self.read(move |c| query::stats(c, series)).await
    }

    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        self.read(query::stats_all).await
    }
}

#[async_trait]
impl TrendStore for SqliteBackend {
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
        self.read(move |c| trends::read(c, series, interval, from, to))
            .await
    }

    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        self.write_tx(move |tx, _| trends::delete(tx, series, interval, from, to))
            .await
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
        let buckets = buckets.to_vec();
        self.write_tx(move |tx, _| trends::put(tx, series, interval, &buckets))
            .await
    }
}

#[async_trait]
impl RetentionStore for SqliteBackend {
    /// The whole batch in one write transaction (one commit, one fsync), with the same
    /// chunk-level cuts as [`PointStore::delete_points`] and
    /// [`TrendStore::delete_trends`]. A series without a catalog entry has no rows, so it
    /// is skipped by finding nothing to delete.
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        if batch.iter().all(Expiry::is_empty) {
            // Nothing can go: spare the writer thread a round trip.
            return Ok(batch
                .iter()
                .map(|e| ExpiryOutcome::none(e.series))
                .collect());
        }
        let batch = batch.to_vec();
        self.write_tx(move |tx, opts| {
            batch
                .iter()
                .map(|e| expire_one(tx, e, opts.max_chunk_points))
                .collect()
        })
        .await
    }
}

impl BlockingReads for SqliteBackend {
    fn read_last_columns_inline(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Option<Result<clio_storage::PointColumns>> {
        self.inline
            .try_read(|c| query::read_last_columns(c, series, before, n, skip))
    }

    fn read_range_columns_inline(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Option<Result<clio_storage::PointColumns>> {
        self.inline
            .try_read(|c| query::read_range_columns(c, series, from, to, limit))
    }

    fn read_trends_inline(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Result<Vec<TrendBucket>>> {
        self.inline
            .try_read(|c| trends::read(c, series, interval, from, to))
    }
}

#[async_trait]
impl StorageBackend for SqliteBackend {
    fn describe(&self) -> String {
        format!("sqlite at {}", self.opts.path.display())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_file_reads: true,
            ..Capabilities::default()
        }
    }

    async fn health(&self) -> Result<()> {
        if self.writer.is_closed() {
            return Err(StorageError::Unavailable("sqlite backend is closed".into()));
        }
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(sql))
            .await
    }

    async fn snapshot(&self, to: &std::path::Path) -> Result<()> {
        if to.exists() {
            return Err(StorageError::InvalidInput(format!(
                "snapshot target {} exists",
                to.display()
            )));
        }
        let target = to.to_path_buf();
        // SQLite's online backup API on a reader: one read transaction's view (the writer
        // goes on), copied page for page. Unlike `VACUUM INTO`, a page keeps its number
        // from one snapshot to the next, so an incremental backup can hold only the pages
        // that changed (clio-backup's page maps).
        self.readers
            .call(move |conn| {
                let mut dst = rusqlite::Connection::open(&target).map_err(sql)?;
                {
                    let b = rusqlite::backup::Backup::new(conn, &mut dst).map_err(sql)?;
                    // All pages in one step: one consistent read transaction.
                    let step = b.step(-1).map_err(sql)?;
                    if !matches!(step, rusqlite::backup::StepResult::Done) {
                        return Err(StorageError::Unavailable(format!(
                            "the snapshot copy did not finish ({step:?}); try again"
                        )));
                    }
                }
                dst.close().map_err(|(_, e)| sql(e))?;
                Ok(())
            })
            .await
    }

    async fn close(&self) -> Result<()> {
        if self.writer.is_closed() {
            return Ok(());
        }
        // Fold the WAL into the main file so that the file alone is complete.
        if let Err(e) = self.checkpoint().await {
            tracing::warn!(error = %e, "sqlite checkpoint at close failed");
        }
        self.writer.close();
        self.readers.close();
        self.inline.close();
        Ok(())
    }

    fn blocking_reads(&self) -> Option<&dyn BlockingReads> {
        Some(self)
    }
}

/// One entry of [`SqliteBackend::expire`], inside the caller's transaction.
fn expire_one(conn: &Connection, e: &Expiry, max_chunk_points: usize) -> Result<ExpiryOutcome> {
    let mut outcome = ExpiryOutcome::none(e.series);
    if let Some(before) = e.raw_before {
        outcome.points =
            chunks::delete_range(conn, e.series, Timestamp::MIN, before, max_chunk_points)?;
    }
    for &(interval, before) in &e.trends_before {
        outcome.buckets += trends::delete(conn, e.series, Some(interval), Timestamp::MIN, before)?;
    }
    Ok(outcome)
}
