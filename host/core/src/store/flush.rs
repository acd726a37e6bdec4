//! Flushing unflushed points into the primary backend, and the cache service.

use super::*;
use crate::store::flush_mark;

impl Store {
    /// Runs `f` on the flush's own thread ([`background`](super::background)), off the
    /// runtime and at the flush's lower CPU priority.
    pub(super) async fn off_runtime<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EngineState) -> T + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        self.inner.background.run(move || f(&inner)).await
    }

    /// Flushes every unflushed point to storage, builds their trends and truncates the log.
    /// A failure loses nothing: the points stay in the cache and the log, and the next flush
    /// retries them.
    pub async fn flush(&self) -> Result<FlushReport> {
        self.flush_until(None).await
    }

    /// [`Store::flush`] that stops between batches once `deadline` passes: the series not
    /// reached stay unflushed (in the cache and the log) and no flush mark is written, so
    /// the next start replays the log from the previous mark (rewriting a point already
    /// flushed is idempotent).
    pub(crate) async fn flush_until(&self, deadline: Option<Instant>) -> Result<FlushReport> {
        let r = self.flush_once(deadline).await;
        let mut failing = self.inner.flush_failing.lock();
        match &r {
            Ok(_) => {
                if failing.take().is_some() {
                    info!("cache flush succeeded again");
                }
            }
            Err(e) => *failing = Some(e.to_string()),
        }
        r
    }

    async fn flush_once(&self, deadline: Option<Instant>) -> Result<FlushReport> {
        let inner = &self.inner;
        let _guard = inner.flush_lock.lock().await;
        let started = Instant::now();
        let seg = inner.wal.rotate().await?;
        // Closed segments go to the archive whether or not the primary answers.
        if let Some(a) = &inner.archiver {
            let (a, wal_dir) = (Arc::clone(a), inner.opts.data_dir.join("wal"));
            let _ = tokio::task::spawn_blocking(move || a.archive(&wal_dir, seg)).await;
        }
        // Changes the primary missed come first: series must exist before their points, and
        // a queued deletion must not remove points written after it.
        if let Err(e) = self.apply_pending().await {
            inner.counters.flush_errors.fetch_add(1, Ordering::Relaxed);
            inner.flushed.notify_waiters();
            return Err(e);
        }
        let backend = match inner.primary.ensure().await {
            Ok(b) => b,
            Err(e) => {
                inner.counters.flush_errors.fetch_add(1, Ordering::Relaxed);
                inner.flushed.notify_waiters();
                return Err(e.into());
            }
        };
        let snapshot = self
            .off_runtime(move |inner| inner.cache.dirty_snapshot(seg))
            .await?;
        let mut report = FlushReport {
            series: snapshot.len(),
            ..Default::default()
        };
        let mut failure = None;
        // Under a deadline (the final flush at a stop) batches start small and then hold what
        // the rate so far writes in half the time left: at a million new series one batch of
        // `flush_batch_points` took ~9 s, past a stop's whole budget on its own.
        let full = inner.opts.flush_batch_points.max(1);
        let smallest = (full / 64).max(1);
        let mut limit = if deadline.is_some() { full / 16 } else { full }.max(1);
        let mut iter = snapshot.into_iter().peekable();
        while iter.peek().is_some() {
            // At least one point per series: `limit` bounds the series count too.
            let mut batch = Vec::with_capacity(limit.min(iter.len()));
            let mut written = 0;
            while let Some(sp) = iter.next_if(|_| written < limit) {
                written += sp.points.len();
                batch.push(sp);
            }
            // A batch holds up to `flush_batch_points` series (200,000 by default): its set
            // of ids is built, and the batch itself marked clean and freed, off the runtime.
            // It goes to the backend shared, not copied.
            let batch = Arc::new(batch);
            let ids = {
                let batch = Arc::clone(&batch);
                self.off_runtime(move |_| batch.iter().map(|sp| sp.series).collect())
                    .await?
            };
            let in_flight = inner.in_flight.begin(ids);
            let batch_started = Instant::now();
            let result = self.primary_result(
                clio_storage::write_points_shared(backend.as_ref(), Arc::clone(&batch)).await,
            );
            let cleaned = result.is_ok();
            self.off_runtime(move |inner| {
                if cleaned {
                    inner.cache.mark_clean(seg, &batch);
                }
                drop(batch);
            })
            .await?;
            drop(in_flight);
            match result {
                Ok(summary) => {
                    report.points += summary.points;
                    report.trend_buckets += summary.trend_buckets;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            if let Some(d) = deadline
                && iter.peek().is_some()
            {
                // The budget is a bound, not a point to start one more batch at: stop when
                // what fits in half the time left is less than a small batch.
                let left = d.saturating_duration_since(Instant::now()).as_secs_f64();
                let took = batch_started.elapsed().as_secs_f64().max(1e-6);
                let fits = (written as f64 * left / took / 2.0) as usize;
                if fits < smallest {
                    report.left_in_log = iter.count();
                    break;
                }
                limit = fits.min(full);
            }
        }
        let c = &inner.counters;
        if let Some(e) = failure {
            c.flush_errors.fetch_add(1, Ordering::Relaxed);
            inner.flushed.notify_waiters();
            return Err(e.into());
        }
        if report.left_in_log > 0 {
            // Not everything up to `seg` is stored: no mark, the log keeps it all.
            report.millis = started.elapsed().as_millis() as u64;
            c.flushed_points.fetch_add(report.points, Ordering::Relaxed);
            inner.flushed.notify_waiters();
            return Ok(report);
        }
        // Replicas write what they gathered from the log at this mark.
        inner.wal.append(Entry::Flushed { upto: seg }).await?;
        inner.flushed_upto.store(seg, Ordering::Release);
        self.off_runtime(move |inner| {
            flush_mark::save(&inner.opts.data_dir, seg);
            if inner.catalog_changed.swap(false, Ordering::AcqRel) {
                // The log about to be truncated may hold catalog changes: keep them in the
                // copy.
                let path = crate::catalog::snapshot::path(&inner.opts.data_dir);
                // Encoded into a temporary file a part at a time, each under a short hold
                // of the catalog's lock, fsynced and put in place after it, so that writers
                // creating series wait neither for the encoding nor for the disk.
                let staged = crate::catalog::snapshot::stage_locked(&path, &inner.catalog);
                let saved = staged.and_then(|s| s.commit());
                if let Err(e) = saved {
                    inner.catalog_changed.store(true, Ordering::Release);
                    return Err(e);
                }
            }
            Ok(())
        })
        .await??;
        let mut upto = crate::replica::removable_upto(self, seg);
        if let Some(a) = &inner.archiver {
            // Deleted only once archived.
            upto = upto.min(a.upto());
        }
        report.wal_freed = inner.wal.remove_up_to(upto).await?;
        self.off_runtime(move |inner| {
            inner.held_bytes.store(
                crate::replica::bytes_up_to(&inner.opts.data_dir.join("wal"), seg),
                Ordering::Relaxed,
            );
            for f in &inner.replicas {
                f.wake();
            }
            inner.cache.maintain();
            super::warm::save_list_now_and_then(inner);
        })
        .await?;
        report.millis = started.elapsed().as_millis() as u64;
        c.flushes.fetch_add(1, Ordering::Relaxed);
        c.last_flush_millis.store(report.millis, Ordering::Relaxed);
        c.last_flush_points.store(report.points, Ordering::Relaxed);
        c.flushed_points.fetch_add(report.points, Ordering::Relaxed);
        inner.flushed.notify_waiters();
        if report.points > 0 {
            debug!(
                points = report.points,
                series = report.series,
                millis = report.millis,
                "cache flushed"
            );
        }
        Ok(report)
    }
}

/// The cache service: flushes every `cache_service_interval`, and sooner when the log or
/// the unflushed points pass their thresholds. After a failure it retries after a backoff
/// (1 s doubling to 60 s, never longer than `cache_service_interval`); writers asking for a
/// flush meanwhile do not shorten it, so a full disk is not retried on every write.
pub(super) async fn cache_service(inner: std::sync::Weak<EngineState>) {
    let mut backoff = Duration::from_secs(1);
    let mut wait = match inner.upgrade() {
        Some(i) => i.opts.cache_service_interval,
        None => return,
    };
    let mut failing = false;
    let mut logged: Option<String> = None;
    loop {
        let notified = match inner.upgrade() {
            Some(i) => {
                let i2 = Arc::clone(&i);
                drop(i);
                if failing {
                    tokio::time::sleep(wait).await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = i2.flush_wanted.notified() => {}
                    }
                }
                i2
            }
            None => return,
        };
        if notified.closed.load(Ordering::Relaxed) {
            return;
        }
        let store = Store { inner: notified };
        let interval = store.inner.opts.cache_service_interval;
        match store.flush().await {
            Ok(_) => {
                logged = None;
                failing = false;
                backoff = Duration::from_secs(1);
                wait = interval;
            }
            Err(e) => {
                failing = true;
                wait = backoff.min(interval);
                let msg = e.to_string();
                // A failure repeating the last one is logged at debug: one line per cause.
                if logged.as_deref() == Some(msg.as_str()) {
                    debug!(error = %msg, retry_in_ms = wait.as_millis() as u64, "cache flush failed again");
                } else {
                    error!(error = %msg, retry_in_ms = wait.as_millis() as u64, "cache flush failed; unflushed points are kept and retried");
                    logged = Some(msg);
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}
