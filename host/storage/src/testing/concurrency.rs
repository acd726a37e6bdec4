//! Concurrency check: readers in several tasks, racing one writer, never see part of a write
//! call and never go back in time, and trends read before the points never count more than
//! them.
//!
//! It is the only check that takes an `Arc` (its readers and writer are `'static` tasks), so
//! `run_all` runs it apart from the list of plain checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Point, StorageBackend, TrendMode};

use super::join_error_message;
use super::support::{
    MAX, MIN, new_series, ok, read_all, read_trends, smallest_interval, sp, write,
};

/// Readers in several tokio tasks run while one task writes. Every call writes, for two
/// series, points that all carry the call's number: one series is overwritten in place, the
/// other grows. No read may see part of a call for one series, reads never go back in time,
/// and trends read before points never count more points than those. A `Native` backend's
/// trends are never older than its points; a `Given` backend's (stored by
/// [`crate::write_points`] after the points) may be one call behind them.
///
/// Takes an `Arc` because the readers and the writer are spawned as `'static` tasks.
pub async fn check_concurrent_readers(b: Arc<dyn StorageBackend>) {
    const BATCHES: u64 = 40;
    const M: i64 = 250;
    const READERS: usize = 4;
    const STEP: i64 = 10_000;
    ok(
        b.create_series(&[new_series(1), new_series(2)]).await,
        "create_series",
    );
    let over = 1u64;
    let grow = 2u64;
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let midway = Arc::new(AtomicU64::new(0));
    let alive = Arc::new(AtomicU64::new(0));

    let mut readers = Vec::new();
    for r in 0..READERS {
        let b = Arc::clone(&b);
        let done = Arc::clone(&done);
        let reads = Arc::clone(&reads);
        let midway = Arc::clone(&midway);
        let alive = AliveGuard::new(Arc::clone(&alive));
        readers.push(tokio::spawn(async move {
            // Dropped when the reader ends, also by a panic, so the writer stops waiting for it.
            let _alive = alive;
            let iv = smallest_interval(&*b);
            let native = b.trend_mode() == TrendMode::Native;
            let mut seen_over = 0u64;
            let mut seen_grow = 0u64;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let ctx = format!("reader {r}");

                // Trends first, then points: the points can only be newer.
                let trends = read_trends(&*b, grow, iv, MIN, MAX, &ctx).await;
                let trend_count: u64 = trends.iter().map(|x| x.count).sum();
                let pts = read_all(&*b, grow, &ctx).await;
                assert!(
                    trend_count <= pts.len() as u64,
                    "{ctx}: trends count {trend_count} points but a later read found only {}",
                    pts.len()
                );
                assert_eq!(
                    pts.len() as i64 % M,
                    0,
                    "{ctx}: a read saw part of a write: the growing series has {} points, not \
                     whole calls of {M}",
                    pts.len()
                );
                let calls = pts.len() as u64 / M as u64;
                for (i, p) in pts.iter().enumerate() {
                    let want = (i as i64 / M + 1) as f64;
                    assert!(
                        p.value.as_f64() == Some(want) && p.ts == (i as i64 + M) * STEP,
                        "{ctx}: growing series point #{i} is {p:?}, expected value {want}"
                    );
                }
                assert!(calls >= seen_grow, "{ctx}: growing series went back in time");
                seen_grow = calls;

                let pts = read_all(&*b, over, &ctx).await;
                let v = pts.first().and_then(|p| p.value.as_f64()).unwrap_or(0.0);
                if !pts.is_empty() {
                    assert_eq!(
                        pts.len() as i64,
                        M,
                        "{ctx}: a read saw part of a write: overwritten series point count"
                    );
                    assert!(
                        pts.iter().all(|p| p.value.as_f64() == Some(v)),
                        "{ctx}: a read saw part of a write: the overwritten series mixes calls: {:?}",
                        pts.iter().filter_map(|p| p.value.as_f64()).collect::<Vec<_>>()
                    );
                }
                assert!(v as u64 >= seen_over, "{ctx}: overwritten series went back in time");
                seen_over = v as u64;
                let trends = read_trends(&*b, over, iv, MIN, MAX, &ctx).await;
                let tc: u64 = trends.iter().map(|x| x.count).sum();
                if native {
                    let tv = trends.first().map(|x| x.min);
                    assert!(
                        trends.iter().all(|x| x.min == x.max && Some(x.min) == tv)
                            && tv.is_none_or(|tv| tv as u64 >= seen_over),
                        "{ctx}: a read saw part of a write: the overwritten series' trends mix \
                         calls or are older than its points"
                    );
                    assert!(
                        tc == 0 || tc == M as u64,
                        "{ctx}: overwritten series' trends count {tc} points, not {M}"
                    );
                } else {
                    // `Given`: the buckets follow the points in a later call, so they may be
                    // one call behind the points just read, but each bucket is one call's and
                    // the call before the one whose points were seen has finished.
                    let lag = seen_over.saturating_sub(1);
                    assert!(
                        trends
                            .iter()
                            .all(|x| x.min == x.max && x.min as u64 >= lag),
                        "{ctx}: the overwritten series' trends mix calls within a bucket or are \
                         more than one call older than its points"
                    );
                    assert!(
                        tc <= M as u64,
                        "{ctx}: overwritten series' trends count {tc} points, more than {M}"
                    );
                }

                if seen_grow > 0 && seen_grow < BATCHES {
                    midway.fetch_add(1, Ordering::SeqCst);
                }
                reads.fetch_add(1, Ordering::SeqCst);
                if finished {
                    assert_eq!(
                        (seen_grow, seen_over),
                        (BATCHES, BATCHES),
                        "{ctx}: the last read after the writer finished must see every call"
                    );
                    break;
                }
                tokio::task::yield_now().await;
            }
        }));
    }

    let writer = {
        let b = Arc::clone(&b);
        let done = Arc::clone(&done);
        let reads = Arc::clone(&reads);
        let alive = Arc::clone(&alive);
        tokio::spawn(async move {
            for k in 1..=BATCHES {
                let v = k as f64;
                let k = k as i64;
                let overwrite: Vec<Point> = (0..M).map(|i| Point::new(i * STEP, v)).collect();
                let append: Vec<Point> =
                    (0..M).map(|i| Point::new((k * M + i) * STEP, v)).collect();
                write(
                    &*b,
                    &[sp(over, overwrite), sp(grow, append)],
                    &format!("writer call {k}"),
                )
                .await;
                // Let the readers make progress between calls, so that they see the store in
                // many intermediate states even on a single-threaded runtime.
                let target = reads.load(Ordering::SeqCst) + 1;
                let deadline = Instant::now() + Duration::from_secs(5);
                while reads.load(Ordering::SeqCst) < target
                    && alive.load(Ordering::SeqCst) > 0
                    && Instant::now() < deadline
                {
                    tokio::task::yield_now().await;
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    if let Err(e) = writer.await {
        done.store(true, Ordering::SeqCst);
        panic!("writer task failed: {}", join_error_message(e));
    }
    for (i, h) in readers.into_iter().enumerate() {
        if let Err(e) = h.await {
            panic!("reader task {i} failed: {}", join_error_message(e));
        }
    }
    let midway = midway.load(Ordering::SeqCst);
    assert!(
        midway > 0,
        "no read happened while the writer was between its first and last call"
    );
    eprintln!(
        "storage conformance: concurrent readers made {} reads, {midway} of them mid-way",
        reads.load(Ordering::SeqCst)
    );
}

/// Counts live reader tasks; decrements when dropped, including during a panic's unwinding.
#[derive(Debug)]
struct AliveGuard(Arc<AtomicU64>);

impl AliveGuard {
    fn new(count: Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        AliveGuard(count)
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
