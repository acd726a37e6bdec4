//! [`Guarded`]: a backend bundled with what must outlive it, typically its temporary
//! directory, so that the `make` closure given to [`run_all`](super::run_all) can hand over
//! both.

use std::fmt;

use async_trait::async_trait;

use crate::prelude::*;
use crate::{
    Capabilities, Expiry, ExpiryOutcome, NewSeries, Point, Result, SeriesFilter, SeriesId,
    SeriesInfo, SeriesPoints, SeriesStats, SeriesUpdate, StorageBackend, Timestamp, TrendBucket,
    TrendInterval, TrendMode, WriteSummary,
};

/// A backend bundled with something that must outlive it, typically the `tempfile::TempDir`
/// holding its files. Implements [`StorageBackend`] by delegating to the backend; on drop the
/// backend goes first, then the guard.
#[derive(Debug)]
pub struct Guarded<B, G> {
    // Field order matters: fields drop in declaration order, so the backend closes its files
    // before the guard deletes the directory holding them.
    backend: B,
    guard: G,
}

impl<B, G> Guarded<B, G> {
    /// Bundles `backend` with `guard`.
    pub fn new(backend: B, guard: G) -> Self {
        Guarded { backend, guard }
    }

    /// The wrapped backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The guard.
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

#[async_trait]
impl<B, G> CatalogStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        self.backend.load_catalog().await
    }

    async fn create_series(&self, series: &[NewSeries]) -> Result<()> {
        self.backend.create_series(series).await
    }

    async fn create_series_owned(&self, series: Vec<NewSeries>) -> Result<()> {
        self.backend.create_series_owned(series).await
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        self.backend.get_series(id).await
    }

    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        self.backend.list_series(filter).await
    }

    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        self.backend.update_series(id, update).await
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        self.backend.delete_series(id).await
    }
}

#[async_trait]
impl<B, G> PointStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        self.backend.write(batch).await
    }

    async fn write_shared(&self, batch: std::sync::Arc<Vec<SeriesPoints>>) -> Result<WriteSummary> {
        self.backend.write_shared(batch).await
    }

    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        self.backend.read_range(series, from, to, limit).await
    }

    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        self.backend.read_last(series, n, before).await
    }

    async fn read_range_columns(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<crate::PointColumns> {
        self.backend
            .read_range_columns(series, from, to, limit)
            .await
    }

    async fn read_last_columns(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Result<crate::PointColumns> {
        self.backend
            .read_last_columns(series, before, n, skip)
            .await
    }

    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        self.backend.delete_points(series, from, to).await
    }

    async fn stats(&self, series: SeriesId) -> Result<SeriesStats> {
        self.backend.stats(series).await
    }

    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        self.backend.stats_all().await
    }
}

#[async_trait]
impl<B, G> TrendStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    fn trend_intervals(&self) -> &[TrendInterval] {
        self.backend.trend_intervals()
    }

    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        self.backend.read_trends(series, interval, from, to).await
    }

    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        self.backend.delete_trends(series, interval, from, to).await
    }

    fn trend_mode(&self) -> TrendMode {
        self.backend.trend_mode()
    }

    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()> {
        self.backend.put_trends(series, interval, buckets).await
    }
}

#[async_trait]
impl<B, G> RetentionStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        self.backend.expire(batch).await
    }
}

impl<B, G> BlockingReads for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    fn read_last_columns_inline(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Option<Result<crate::PointColumns>> {
        self.backend
            .read_last_columns_inline(series, before, n, skip)
    }

    fn read_range_columns_inline(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Option<Result<crate::PointColumns>> {
        self.backend
            .read_range_columns_inline(series, from, to, limit)
    }
}

#[async_trait]
impl<B, G> StorageBackend for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    fn describe(&self) -> String {
        self.backend.describe()
    }

    fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    async fn health(&self) -> Result<()> {
        self.backend.health().await
    }

    async fn close(&self) -> Result<()> {
        self.backend.close().await
    }

    fn blocking_reads(&self) -> Option<&dyn BlockingReads> {
        self.backend.blocking_reads()
    }
}
