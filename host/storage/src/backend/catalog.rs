//! The series catalog of a backend.

use async_trait::async_trait;

use crate::{NewSeries, Result, SeriesFilter, SeriesId, SeriesInfo, SeriesUpdate};

/// Series: ids, keys and settings. The engine assigns ids and keys; a backend stores them.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Every catalog entry, for the engine's in-memory index at start-up.
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>>;

    /// Adds series to the catalog. Ids that exist already are left unchanged, so the call is
    /// idempotent; a key that already belongs to another id is an `InvalidInput` error.
    async fn create_series(&self, series: &[NewSeries]) -> Result<()>;

    /// [`CatalogStore::create_series`] of series handed over instead of lent: a backend that
    /// gives them to a thread of its own (SQLite's writer) keeps them without a copy. The
    /// engine creates up to 50,000 series at a time this way. The default lends them.
    async fn create_series_owned(&self, series: Vec<NewSeries>) -> Result<()> {
        self.create_series(&series).await
    }

    /// One catalog entry.
    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>>;

    /// Catalog entries passing `filter`, by ascending id.
    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>>;

    /// Changes a series' settings; `NotFound` if it does not exist.
    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo>;

    /// Removes a series with all its points and trends. False if it did not exist.
    async fn delete_series(&self, id: SeriesId) -> Result<bool>;
}
