//! Changes other than points on their way to the primary: applied when they are made, or
//! queued in log order while the primary is down (or while older ones wait) and applied by
//! the next flush before it writes points.

use super::*;
use clio_storage::NewSeries;

/// How a change reached the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Applied now.
    Now,
    /// Queued; the flush applies it once the primary answers.
    Queued,
}

/// Series creations merged into one queued change (one storage transaction) at most.
const MAX_MERGED: usize = 50_000;

/// A change waiting for the primary, in log order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Queued {
    /// Series created: only their ids wait. What the primary gets is read from the catalog
    /// when the creation is applied, so a million new series do not keep a second copy of
    /// their keys and settings until the flush (issue #25's memory per series). A series
    /// deleted meanwhile is skipped (its deletion is queued behind), one changed meanwhile
    /// is created as it is now (its update, queued behind, is idempotent).
    Created(Vec<SeriesId>),
    /// Any other change, as logged.
    Change(Change),
}

impl Queued {
    /// Appends `change` to `queue`, joining consecutive creations (up to [`MAX_MERGED`]
    /// series, one storage transaction). A live queue never merges into its front entry,
    /// which `apply_pending` may be applying right now (unlocked); the queue rebuilt from
    /// the log at start-up may (`front_too`): nothing applies it yet.
    pub(crate) fn push(queue: &mut VecDeque<Queued>, change: Queued, front_too: bool) {
        let mergeable = front_too || queue.len() >= 2;
        if let (Some(Queued::Created(queued)), Queued::Created(ids)) = (queue.back_mut(), &change)
            && mergeable
            && queued.len() + ids.len() <= MAX_MERGED
        {
            queued.extend_from_slice(ids);
            return;
        }
        queue.push_back(change);
    }
}

impl Store {
    /// When only creations of series wait (they wait for the flush by design, see
    /// [`Store::queue_create`]), applies them now, so that a change made after them can be
    /// applied when it is made instead of queueing behind them and forcing a flush.
    async fn creations_first(&self) {
        let only_creations = {
            let queue = self.inner.pending.lock().await;
            !queue.is_empty() && queue.iter().all(|c| matches!(c, Queued::Created(_)))
        };
        if only_creations && let Err(e) = self.apply_pending().await {
            warn!(error = %e, "queued series creations could not reach the primary");
        }
    }

    /// Hands a logged change to the primary: at once when nothing older waits and the
    /// primary answers, otherwise queued behind the older ones.
    pub(crate) async fn submit_change(&self, change: Change) -> Applied {
        let inner = &self.inner;
        self.creations_first().await;
        let mut queue = inner.pending.lock().await;
        if queue.is_empty()
            && let Ok(backend) = inner.primary.get()
        {
            let r = change.apply(backend.as_ref()).await;
            match self.primary_result(r) {
                Ok(()) => return Applied::Now,
                Err(e) => {
                    warn!(error = %e, "a change could not reach the primary; queued for the next flush");
                }
            }
        }
        queue.push_back(Queued::Change(change));
        inner
            .pending_len
            .store(queue.len() as u64, Ordering::Relaxed);
        inner.flush_wanted.notify_one();
        Applied::Queued
    }

    /// Queues the creation of series for the next flush, which applies it before it writes
    /// any point of theirs. The write that creates them is acknowledged once they are in the
    /// log (invariant 1), so the primary's catalog insert need not sit on the ack path: with
    /// it there, a write creating 5,000 series waited for a storage transaction of 5,000
    /// rows (issue #25's new-series ingest). Consecutive creations join one change, applied
    /// in one transaction.
    pub(crate) async fn queue_create(&self, ids: Vec<SeriesId>) {
        let inner = &self.inner;
        let mut queue = inner.pending.lock().await;
        Queued::push(&mut queue, Queued::Created(ids), false);
        inner
            .pending_len
            .store(queue.len() as u64, Ordering::Relaxed);
    }

    /// [`Store::submit_change`] for a change whose direct application answers something
    /// (a deletion's count): `direct` runs it when it may run now; `None` when it was queued.
    pub(crate) async fn submit_counted<T, F, Fut>(&self, change: Change, direct: F) -> Option<T>
    where
        F: FnOnce(Arc<dyn StorageBackend>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, StorageError>>,
    {
        let inner = &self.inner;
        self.creations_first().await;
        let mut queue = inner.pending.lock().await;
        if queue.is_empty()
            && let Ok(backend) = inner.primary.get()
        {
            match self.primary_result(direct(backend).await) {
                Ok(v) => return Some(v),
                Err(e) => {
                    warn!(error = %e, "a deletion could not reach the primary; queued for the next flush");
                }
            }
        }
        queue.push_back(Queued::Change(change));
        inner
            .pending_len
            .store(queue.len() as u64, Ordering::Relaxed);
        inner.flush_wanted.notify_one();
        None
    }

    /// Applies the queued changes in order; stops at the first failure (the rest wait).
    ///
    /// Each change is applied without the queue's lock (it stays at the front until it has
    /// been applied, so anything submitted meanwhile queues behind it): writers creating
    /// series do not wait for the storage transaction of an earlier batch of creations.
    /// One caller at a time (`applying`): the flush, the start, or a change that follows
    /// queued creations.
    pub(crate) async fn apply_pending(&self) -> Result<()> {
        let inner = &self.inner;
        let _applying = inner.applying.lock().await;
        if inner.pending.lock().await.is_empty() {
            return Ok(());
        }
        let backend = inner.primary.ensure().await?;
        loop {
            let Some(queued) = inner.pending.lock().await.front().cloned() else {
                break;
            };
            let r = match queued {
                Queued::Change(c) => c.apply(backend.as_ref()).await,
                Queued::Created(ids) => {
                    // Up to 50,000 series copied out of the catalog: off the runtime, and
                    // handed to the backend without another copy.
                    let new = self
                        .off_runtime(move |inner| created_series(&inner.catalog, &ids))
                        .await?;
                    backend.create_series_owned(new).await
                }
            };
            let mut queue = inner.pending.lock().await;
            if let Err(e) = self.primary_result(r) {
                inner
                    .pending_len
                    .store(queue.len() as u64, Ordering::Relaxed);
                return Err(e.into());
            }
            queue.pop_front();
            inner
                .pending_len
                .store(queue.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What the catalog holds now for series created earlier (see [`Queued::Created`]), as the
/// primary gets them. The lock is taken for 4,096 series at a time: this runs at the flush's
/// lower priority, and a writer creating series waits for the lock (and, the lock being
/// fair, every reader behind that writer).
fn created_series(catalog: &RwLock<Catalog>, ids: &[SeriesId]) -> Vec<NewSeries> {
    let mut out = Vec::with_capacity(ids.len());
    for step in ids.chunks(4096) {
        let cat = catalog.read();
        out.extend(
            step.iter()
                .filter_map(|id| cat.get(*id))
                .map(NewSeries::from),
        );
    }
    out
}
