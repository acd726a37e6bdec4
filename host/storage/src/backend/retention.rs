//! Retention of a backend.

use async_trait::async_trait;

use super::{Expiry, ExpiryOutcome};
use crate::Result;

/// Batched retention, with a default built on point and trend deletion.
#[async_trait]
pub trait RetentionStore: super::PointStore + super::TrendStore {
    /// Retention for a batch of series: for each [`Expiry`], deletes the raw points stamped
    /// before its `raw_before` (trends are kept, as with
    /// [`super::PointStore::delete_points`]) and, per listed interval, the trend buckets
    /// starting before the given time. Returns one [`ExpiryOutcome`] per entry, in the order
    /// of `batch`.
    ///
    /// A series the store does not know is skipped (its outcome counts nothing), not an error
    /// for the batch. Entries apply in order, so a series listed twice is cut twice and the
    /// second outcome counts only what the first one left. An empty batch does nothing.
    ///
    /// Backends should apply the whole batch in one atomic, durable step (the SQLite backend
    /// uses one transaction): retention runs over every series, and a commit per series
    /// dominates its cost. The default is [`super::expire_each`], which calls `delete_points`
    /// and `delete_trends` per series and interval, so it is atomic per call only; that is
    /// safe because expiry is idempotent: after a failure, repeating the batch finishes it.
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        super::expire_each(self, batch).await
    }
}
