//! The warm-up after a restart: the newest points of the series readers used before the
//! last graceful stop are loaded from storage, most recently read first, so that their first
//! reads are answered from memory (issue #25: last-N p99 was 2.5 ms for the first seconds
//! after a restart, and 0.25 ms once each series had been read once).
//!
//! The list comes from `cache/warm.rs`, written at [`Store::close`] and, at most once a
//! minute, after a flush (so that a start after a crash is warm too). The start-up waits for
//! the warm-up up to `[cache] warm_up_wait_seconds` before the listeners open
//! ([`Store::warmed`]); what is left then loads in the background. The warm-up reads as a
//! reader's first read would (`Cache::fill`, the same epoch rule), so a read or a flush
//! racing with it changes nothing it would not change otherwise.

use std::sync::Weak;

use tokio::sync::watch;

use super::*;
use crate::cache::warm::{self as list, WarmEntry};

/// Storage reads the warm-up keeps in flight: enough to use a second core and a second
/// reader connection, few enough to leave requests room.
const WARM_TASKS: usize = 2;

/// The warm-up's state, shared by its tasks and [`Store::close`].
#[derive(Debug)]
pub(crate) struct WarmUp {
    /// Entries still to load, the next at the end.
    left: Mutex<Vec<WarmEntry>>,
    /// Tasks still running.
    running: AtomicU64,
    /// True once no task runs.
    done: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// When a flush last wrote the list.
    saved: Mutex<Option<Instant>>,
    started: Instant,
    series: AtomicU64,
    points: AtomicU64,
}

impl Default for WarmUp {
    fn default() -> Self {
        WarmUp {
            left: Mutex::default(),
            running: AtomicU64::new(0),
            done: watch::Sender::new(true),
            tasks: Mutex::default(),
            saved: Mutex::default(),
            started: Instant::now(),
            series: AtomicU64::new(0),
            points: AtomicU64::new(0),
        }
    }
}

impl WarmUp {
    /// Series warmed so far.
    pub(crate) fn series(&self) -> u64 {
        self.series.load(Ordering::Relaxed)
    }

    /// Stops the tasks (the entries they had not reached stay in `left`).
    pub(crate) fn abort(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

impl Store {
    /// Starts the warm-up from the list the last graceful stop wrote (`warm_up` on): series
    /// the catalog no longer holds are skipped. A list that cannot be read is reported and
    /// ignored: the start is only colder.
    pub(super) fn start_warm_up(&self) {
        let inner = &self.inner;
        if !inner.opts.warm_up {
            return;
        }
        let path = list::path(&inner.opts.data_dir);
        let mut entries = match list::load(&path) {
            Ok(entries) => entries,
            Err(e) => {
                warn!(error = %e, "the warm-up list cannot be read; the cache starts cold");
                return;
            }
        };
        {
            let catalog = inner.catalog.read();
            entries.retain(|e| catalog.contains(e.id));
        }
        if entries.is_empty() {
            return;
        }
        info!(
            series = entries.len(),
            "warming the cache up: loading the newest points of the series read before the stop"
        );
        entries.reverse();
        let warm = &inner.warm;
        *warm.left.lock() = entries;
        warm.running.store(WARM_TASKS as u64, Ordering::SeqCst);
        warm.done.send_replace(false);
        let mut tasks = warm.tasks.lock();
        for _ in 0..WARM_TASKS {
            tasks.push(tokio::spawn(warm_task(Arc::downgrade(inner))));
        }
    }

    /// Waits up to `wait` for the warm-up to end; true when it has (or there was none).
    pub async fn warmed(&self, wait: Duration) -> bool {
        let mut done = self.inner.warm.done.subscribe();
        matches!(
            tokio::time::timeout(wait, done.wait_for(|d| *d)).await,
            Ok(Ok(_))
        )
    }

    /// At close: stops the warm-up and writes the list for the next start.
    pub(super) fn save_warm_list(&self) {
        self.inner.warm.abort();
        save_list(&self.inner);
    }
}

/// How often a flush writes the list too (so that a start after a crash is warm as well):
/// at most once a minute, since at a million read series it takes a pass over the cache.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// After a flush, on its thread: writes the list when the last was written more than
/// [`SAVE_EVERY`] ago.
pub(super) fn save_list_now_and_then(inner: &EngineState) {
    // The final flush at close: the close wrote the list already, before the flush's upkeep
    // dropped what it dropped.
    if inner.closed.load(Ordering::Relaxed) {
        return;
    }
    let due = {
        let mut last = inner.warm.saved.lock();
        let due = last.is_none_or(|t| t.elapsed() >= SAVE_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    };
    if due {
        save_list(inner);
    }
}

/// Writes the list for the next start (`warm_up` on): the series read in this run (or
/// warmed for it), then those the warm-up has not reached yet.
fn save_list(inner: &EngineState) {
    if !inner.opts.warm_up {
        return;
    }
    let mut entries = inner.cache.warm_list();
    let left: Vec<WarmEntry> = inner.warm.left.lock().clone();
    if !left.is_empty() {
        let listed: crate::hashing::FastSet<SeriesId> = entries.iter().map(|e| e.id).collect();
        entries.extend(left.into_iter().rev().filter(|e| !listed.contains(&e.id)));
    }
    let path = list::path(&inner.opts.data_dir);
    match list::save(&path, &entries) {
        Ok(()) => debug!(series = entries.len(), "warm-up list written"),
        Err(e) => warn!(error = %e, "the warm-up list was not written; the next start is cold"),
    }
}

/// One of the warm-up's tasks: takes the next entry until none is left, the memory budget
/// is nearly used, storage fails or the engine closes.
async fn warm_task(engine: Weak<EngineState>) {
    loop {
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let next = if inner.closed.load(Ordering::Relaxed) {
            None
        } else if inner.cache.bytes() >= inner.opts.cache.memory_budget / 10 * 9 {
            let left = std::mem::take(&mut *inner.warm.left.lock());
            if !left.is_empty() {
                warn!(
                    left = left.len(),
                    "warm-up stopped: the cache is near its memory budget"
                );
            }
            None
        } else {
            inner.warm.left.lock().pop()
        };
        let Some(entry) = next else {
            finish(&inner.warm);
            return;
        };
        if let Err(e) = warm_one(&inner, &entry).await {
            // What is left stays listed for the next start (the primary may be down now),
            // this entry too: without points, its cache entry goes at the next upkeep.
            let left = {
                let mut left = inner.warm.left.lock();
                left.push(entry);
                left.len()
            };
            warn!(error = %e, left, "warm-up stopped: storage did not answer");
            finish(&inner.warm);
            return;
        }
    }
}

/// Loads one series' newest points, as its first read would.
async fn warm_one(inner: &EngineState, e: &WarmEntry) -> Result<()> {
    if !inner.catalog.read().contains(e.id) {
        return Ok(());
    }
    let k = e.target as usize;
    let Some(epoch) = inner.cache.restore_reader(e) else {
        return Ok(());
    };
    let backend = inner.primary.get()?;
    let stored = backend.read_last(e.id, k, Timestamp::MAX).await?;
    inner.cache.fill(e.id, epoch, &stored, stored.len() < k);
    inner.warm.series.fetch_add(1, Ordering::Relaxed);
    inner
        .warm
        .points
        .fetch_add(stored.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Counts a task out; the last one reports and wakes [`Store::warmed`].
fn finish(warm: &WarmUp) {
    if warm.running.fetch_sub(1, Ordering::SeqCst) == 1 {
        info!(
            series = warm.series.load(Ordering::Relaxed),
            points = warm.points.load(Ordering::Relaxed),
            millis = warm.started.elapsed().as_millis() as u64,
            "cache warmed up"
        );
        warm.done.send_replace(true);
    }
}
