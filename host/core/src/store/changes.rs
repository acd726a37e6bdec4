//! Changes other than points on their way to the primary: applied when they are made, or
//! queued in log order while the primary is down (or while older ones wait) and applied by
//! the next flush before it writes points.

use super::*;

/// How a change reached the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Applied now.
    Now,
    /// Queued; the flush applies it once the primary answers.
    Queued,
}

impl Store {
    /// Hands a logged change to the primary: at once when nothing older waits and the
    /// primary answers, otherwise queued behind the older ones.
    pub(crate) async fn submit_change(&self, change: Change) -> Applied {
        let inner = &self.inner;
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
        queue.push_back(change);
        inner
            .pending_len
            .store(queue.len() as u64, Ordering::Relaxed);
        inner.flush_wanted.notify_one();
        Applied::Queued
    }

    /// [`Store::submit_change`] for a change whose direct application answers something
    /// (a deletion's count): `direct` runs it when it may run now; `None` when it was queued.
    pub(crate) async fn submit_counted<T, F, Fut>(&self, change: Change, direct: F) -> Option<T>
    where
        F: FnOnce(Arc<dyn StorageBackend>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, StorageError>>,
    {
        let inner = &self.inner;
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
        queue.push_back(change);
        inner
            .pending_len
            .store(queue.len() as u64, Ordering::Relaxed);
        inner.flush_wanted.notify_one();
        None
    }

    /// Applies the queued changes in order; stops at the first failure (the rest wait).
    pub(crate) async fn apply_pending(&self) -> Result<()> {
        let inner = &self.inner;
        let mut queue = inner.pending.lock().await;
        if queue.is_empty() {
            return Ok(());
        }
        let backend = inner.primary.ensure().await?;
        while let Some(change) = queue.front() {
            let r = change.apply(backend.as_ref()).await;
            if let Err(e) = self.primary_result(r) {
                inner
                    .pending_len
                    .store(queue.len() as u64, Ordering::Relaxed);
                return Err(e.into());
            }
            queue.pop_front();
        }
        inner.pending_len.store(0, Ordering::Relaxed);
        Ok(())
    }
}
