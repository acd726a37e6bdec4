//! Shared helpers for the engine's integration tests: a real SQLite backend in a temp dir,
//! and a wrapper that injects storage failures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use clio_core::{EngineOptions, Store};
use clio_storage::*;
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

/// Sends the engine's logs to the test's output when `RUST_LOG` is set (shown for a failing
/// test only).
pub fn trace() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn sqlite(dir: &Path) -> Arc<SqliteBackend> {
    Arc::new(SqliteBackend::open(SqliteOptions::new(dir.join("clio.db"))).unwrap())
}

pub fn options(dir: &Path) -> EngineOptions {
    let mut o = EngineOptions::new(dir);
    // Tests control flushing themselves.
    o.cache_service_interval = std::time::Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o
}

pub async fn open(dir: &Path, opts: EngineOptions) -> (Store, Arc<Flaky>) {
    let flaky = Arc::new(Flaky::new(sqlite(dir)));
    let (store, _) = Store::open(opts, flaky.clone()).await.unwrap();
    (store, flaky)
}

/// A real backend whose writes can be made to fail, to test that failed flushes lose nothing.
#[derive(Debug)]
pub struct Flaky {
    inner: Arc<SqliteBackend>,
    pub fail_writes: AtomicBool,
    /// Makes `expire` fail, as a crash between logging an expiry and storing it would leave
    /// storage.
    pub fail_expire: AtomicBool,
    /// Makes every call fail, as an unreachable backend does.
    pub down: AtomicBool,
    /// Series sent to `create_series`, counted.
    pub created: std::sync::atomic::AtomicUsize,
    /// Point writes wait while a test holds this for writing (a flush batch kept in flight).
    pub hold_writes: tokio::sync::RwLock<()>,
    /// Point writes waiting for `hold_writes`.
    pub writes_held: std::sync::atomic::AtomicUsize,
}

impl Flaky {
    pub fn new(inner: Arc<SqliteBackend>) -> Self {
        Flaky {
            inner,
            fail_writes: AtomicBool::new(false),
            fail_expire: AtomicBool::new(false),
            down: AtomicBool::new(false),
            created: Default::default(),
            hold_writes: Default::default(),
            writes_held: Default::default(),
        }
    }

    fn up(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable(
                "backend made unreachable (test)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for Flaky {
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        self.up()?;
        self.inner.load_catalog().await
    }

    async fn create_series(&self, s: &[NewSeries]) -> Result<()> {
        self.up()?;
        self.created.fetch_add(s.len(), Ordering::SeqCst);
        self.inner.create_series(s).await
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        self.up()?;
        self.inner.get_series(id).await
    }

    async fn list_series(&self, f: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        self.up()?;
        self.inner.list_series(f).await
    }

    async fn update_series(&self, id: SeriesId, u: &SeriesUpdate) -> Result<SeriesInfo> {
        self.up()?;
        self.inner.update_series(id, u).await
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        self.up()?;
        self.inner.delete_series(id).await
    }
}

#[async_trait]
impl PointStore for Flaky {
    async fn write(&self, b: &[SeriesPoints]) -> Result<WriteSummary> {
        self.writes_held.fetch_add(1, Ordering::SeqCst);
        drop(self.hold_writes.read().await);
        self.writes_held.fetch_sub(1, Ordering::SeqCst);
        self.up()?;
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("injected failure".into()));
        }
        self.inner.write(b).await
    }

    async fn read_range(
        &self,
        s: SeriesId,
        f: Timestamp,
        t: Timestamp,
        l: usize,
    ) -> Result<Vec<Point>> {
        self.up()?;
        self.inner.read_range(s, f, t, l).await
    }

    async fn read_last(&self, s: SeriesId, n: usize, b: Timestamp) -> Result<Vec<Point>> {
        self.up()?;
        self.inner.read_last(s, n, b).await
    }

    async fn read_range_columns(
        &self,
        s: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<clio_storage::PointColumns> {
        self.up()?;
        self.inner.read_range_columns(s, from, to, limit).await
    }

    async fn delete_points(&self, s: SeriesId, f: Timestamp, t: Timestamp) -> Result<u64> {
        self.up()?;
        self.inner.delete_points(s, f, t).await
    }

    async fn stats(&self, s: SeriesId) -> Result<SeriesStats> {
        self.up()?;
        self.inner.stats(s).await
    }

    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        self.up()?;
        self.inner.stats_all().await
    }
}

#[async_trait]
impl TrendStore for Flaky {
    fn trend_intervals(&self) -> &[TrendInterval] {
        self.inner.trend_intervals()
    }

    async fn read_trends(
        &self,
        s: SeriesId,
        i: TrendInterval,
        f: Timestamp,
        t: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        self.up()?;
        self.inner.read_trends(s, i, f, t).await
    }

    async fn delete_trends(
        &self,
        s: SeriesId,
        i: Option<TrendInterval>,
        f: Timestamp,
        t: Timestamp,
    ) -> Result<u64> {
        self.up()?;
        self.inner.delete_trends(s, i, f, t).await
    }

    fn trend_mode(&self) -> TrendMode {
        self.inner.trend_mode()
    }

    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()> {
        self.up()?;
        self.inner.put_trends(series, interval, buckets).await
    }
}

#[async_trait]
impl RetentionStore for Flaky {
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        self.up()?;
        if self.fail_expire.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("injected failure".into()));
        }
        self.inner.expire(batch).await
    }
}

#[async_trait]
impl StorageBackend for Flaky {
    fn describe(&self) -> String {
        format!("flaky {}", self.inner.describe())
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn health(&self) -> Result<()> {
        self.up()?;
        self.inner.health().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }

    fn blocking_reads(&self) -> Option<&dyn BlockingReads> {
        self.inner.blocking_reads()
    }
}
