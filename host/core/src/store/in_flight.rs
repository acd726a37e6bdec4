//! The series a flush is moving from memory to storage right now, so that a trend read
//! (stored buckets plus the aggregates of unflushed points) counts each point exactly once.
//!
//! A flush writes a batch of series to the primary and then marks their points clean in the
//! cache. A trend read that took the cache's unflushed points before that write and the
//! stored buckets after it would count the batch's points twice; one that took them the other
//! way round, not at all. Only the batch's own series are at risk: a read of any other series
//! goes ahead while the batch is written, and a read of one of its series waits for the batch
//! to end. (A single sequence number for all series made every trend read during a batch,
//! which at a million series lasts seconds, give up and answer from storage alone, without
//! the unflushed points: a one-year read at `resolution=auto` came back empty while its
//! points were still in memory.)

use std::time::{Duration, Instant};

use clio_storage::SeriesId;
use parking_lot::{Condvar, Mutex};

use crate::hashing::FastSet;

/// Batches begun and ended, and the series of the one being written.
#[derive(Default)]
struct State {
    /// Odd while a batch is written: begun and ended batches, counted together.
    seq: u64,
    /// The batch being written (empty between batches).
    ids: FastSet<SeriesId>,
}

impl State {
    /// Whether a batch is being written.
    fn writing(&self) -> bool {
        !self.seq.is_multiple_of(2)
    }

    /// Whether the batch being written holds `id`.
    fn holds(&self, id: SeriesId) -> bool {
        self.writing() && self.ids.contains(&id)
    }
}

/// A point in the flush's progress, taken before a read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(u64);

/// What a trend read learns when it asks before reading.
pub(crate) enum Before {
    /// No batch is moving the series: read, then ask [`InFlight::unmoved`].
    Clear(Mark),
    /// The batch being written holds the series: wait for it to end.
    Busy,
}

/// The flush's batch in flight (see the module's comment).
#[derive(Default)]
pub(crate) struct InFlight {
    state: Mutex<State>,
    /// Woken when a batch ends, for readers on blocking threads.
    ended_blocking: Condvar,
    /// Woken when a batch ends, for async readers.
    ended: tokio::sync::Notify,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("InFlight")
            .field("seq", &s.seq)
            .field("series", &s.ids.len())
            .finish()
    }
}

impl InFlight {
    /// A flush begins writing the points of `ids`; the batch ends when the guard is
    /// dropped (after its points are marked clean; also if the flush is cancelled). The set
    /// comes built (the flush builds it off the runtime): a batch holds up to 200,000
    /// series, and reads of every series wait on this lock.
    pub(crate) fn begin(&self, ids: FastSet<SeriesId>) -> Batch<'_> {
        let old = {
            let mut s = self.state.lock();
            debug_assert!(!s.writing(), "one batch at a time");
            s.seq += 1;
            std::mem::replace(&mut s.ids, ids)
        };
        drop(old);
        Batch(self)
    }

    /// The batch begun last is stored and marked clean (or failed, and stays unflushed).
    fn end(&self) {
        let ids = {
            let mut s = self.state.lock();
            s.seq += 1;
            std::mem::take(&mut s.ids)
        };
        // Freed outside the lock.
        drop(ids);
        self.ended_blocking.notify_all();
        self.ended.notify_waiters();
    }

    /// Whether a read of `id` may start now.
    pub(crate) fn before(&self, id: SeriesId) -> Before {
        let s = self.state.lock();
        if s.holds(id) {
            Before::Busy
        } else {
            Before::Clear(Mark(s.seq))
        }
    }

    /// Whether no batch moved `id`'s points during a read that began at `mark`: every batch
    /// in flight at some time since then is known not to hold `id`. A read that cannot tell
    /// (a whole batch began and ended while it ran) is told no, and reads again.
    pub(crate) fn unmoved(&self, id: SeriesId, mark: Mark) -> bool {
        let s = self.state.lock();
        let began_writing = !mark.0.is_multiple_of(2);
        match (s.seq.wrapping_sub(mark.0), began_writing) {
            // Nothing began or ended; a batch in flight at the mark did not hold `id`.
            (0, _) => true,
            // The batch in flight at the mark (not `id`'s) ended.
            (1, true) => true,
            // A batch began and is still in flight (its ids are the current ones); or the
            // one at the mark ended and the next began.
            (1, false) | (2, true) => !s.ids.contains(&id),
            _ => false,
        }
    }

    /// Waits (async) until the batch in flight, if it holds `id`, has ended; false when
    /// `deadline` passed first.
    pub(crate) async fn wait_for(&self, id: SeriesId, deadline: Instant) -> bool {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before looking, so that an end between the look and the wait wakes it.
            ended.as_mut().enable();
            if matches!(self.before(id), Before::Clear(_)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, ended).await.is_err() {
                return matches!(self.before(id), Before::Clear(_));
            }
        }
    }

    /// [`InFlight::wait_for`] on a thread that may block.
    pub(crate) fn wait_for_blocking(&self, id: SeriesId, deadline: Instant) -> bool {
        let mut s = self.state.lock();
        while s.holds(id) {
            if self.ended_blocking.wait_until(&mut s, deadline).timed_out() {
                return !s.holds(id);
            }
        }
        true
    }
}

/// A batch in flight; dropping it ends the batch.
pub(crate) struct Batch<'a>(&'a InFlight);

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// How long a trend read waits for the flush batch holding its series, at most, before it
/// says the store is overloaded (a batch of `flush_batch_points` new series took ~9 s in
/// SQLite at a million series).
pub(crate) const BATCH_WAIT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ids<const N: usize>(ids: [SeriesId; N]) -> FastSet<SeriesId> {
        ids.into_iter().collect()
    }

    fn clear(f: &InFlight, id: u64) -> Mark {
        match f.before(SeriesId(id)) {
            Before::Clear(m) => m,
            Before::Busy => panic!("series {id} is busy"),
        }
    }

    #[test]
    fn a_read_is_unmoved_unless_a_batch_holding_its_series_ran_meanwhile() {
        let f = InFlight::default();
        // No batch at all.
        let m = clear(&f, 1);
        assert!(f.unmoved(SeriesId(1), m));
        // A batch of other series begins and ends during the read.
        let m = clear(&f, 1);
        let b = f.begin(ids([SeriesId(2), SeriesId(3)]));
        assert!(
            f.unmoved(SeriesId(1), m),
            "begun, still in flight, not ours"
        );
        assert!(!f.unmoved(SeriesId(2), m), "begun, ours");
        drop(b);
        assert!(!f.unmoved(SeriesId(1), m), "a whole batch ran: cannot tell");
        // The batch in flight at the mark holds series 2, not 1.
        let b = f.begin(ids([SeriesId(2)]));
        assert!(matches!(f.before(SeriesId(2)), Before::Busy));
        let m = clear(&f, 1);
        assert!(f.unmoved(SeriesId(1), m));
        drop(b);
        assert!(f.unmoved(SeriesId(1), m), "the other batch ended");
        let b = f.begin(ids([SeriesId(1)]));
        assert!(!f.unmoved(SeriesId(1), m), "ended, and the next holds ours");
        drop(b);
        let b = f.begin(ids([SeriesId(5)]));
        let m = clear(&f, 1);
        drop(b);
        let b = f.begin(ids([SeriesId(6)]));
        assert!(f.unmoved(SeriesId(1), m), "ended, and the next is not ours");
        drop(b);
    }

    #[test]
    fn readers_wait_for_their_series_batch_to_end() {
        let f = InFlight::default();
        let b = f.begin(ids([SeriesId(7)]));
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(
            !f.wait_for_blocking(SeriesId(7), soon),
            "times out while in flight"
        );
        assert!(
            f.wait_for_blocking(SeriesId(8), soon),
            "another series never waits"
        );
        std::thread::scope(|scope| {
            scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                drop(b);
            });
            assert!(f.wait_for_blocking(SeriesId(7), Instant::now() + Duration::from_secs(30)));
        });
        let f = Arc::new(f);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let b = f.begin(ids([SeriesId(7)]));
            let soon = Instant::now() + Duration::from_millis(30);
            assert!(!f.wait_for(SeriesId(7), soon).await);
            let waiter = tokio::spawn({
                let f = Arc::clone(&f);
                async move {
                    f.wait_for(SeriesId(7), Instant::now() + Duration::from_secs(30))
                        .await
                }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiter.is_finished(), "waits while the batch is in flight");
            drop(b);
            assert!(waiter.await.expect("waiter"));
        });
    }
}
