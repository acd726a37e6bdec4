//! The fault-injection harness for the write-ahead log and the primary backend (issue 19):
//! ENOSPC, EIO, short (torn) writes and failing fsyncs in the log, failing writes in the
//! backend. Under each: refused writes are refused with one line naming the cause, the
//! engine says it is degraded, it recovers by itself once the fault clears, and after a crash
//! every acknowledged point is there and no refused one is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use clio_core::*;
use clio_storage::{SeriesId, Value};
use common::{open, options};

fn pt(series: u64, ts: i64, v: f64) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Id(SeriesId(series)),
        ts: Some(ts),
        value: Value::Num(v),
    }
}

async fn stored(store: &Store, series: u64) -> Vec<i64> {
    let r = store
        .read(&ReadRequest {
            series: SeriesId(series),
            window: Window::Range {
                from: 0,
                to: i64::MAX,
            },
            resolution: Resolution::Raw,
            cursor: None,
        })
        .await
        .unwrap();
    match r.data {
        Data::Points(p) => p.iter().map(|p| p.ts).collect(),
        Data::Trends { .. } => panic!("expected points"),
    }
}

async fn log_fault(fault: WalFault, cause: &str) {
    common::trace();
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(WalFaults::default());
    let mut opts = options(dir.path());
    opts.wal_faults = Some(Arc::clone(&faults));
    let (store, _) = open(dir.path(), opts.clone()).await;
    let mut acked = Vec::new();
    let mut ts = 1_000;
    for _ in 0..3 {
        store.write(vec![pt(1, ts, 1.0)]).await.unwrap();
        acked.push(ts);
        ts += 1;
    }
    faults.set(fault);
    let mut first = None;
    for _ in 0..200 {
        let e = store
            .write(vec![pt(1, ts, 2.0)])
            .await
            .expect_err("refused while the log fails");
        ts += 1;
        let text = e.to_string();
        assert!(matches!(e, Error::Wal(_)), "{fault:?}: {e:?}");
        assert!(text.contains(cause), "{fault:?}: {text}");
        assert_eq!(text.matches(cause).count(), 1, "{fault:?}: nested: {text}");
        assert!(!text.contains('\n'), "{text}");
        // Later failures do not grow: the same one line.
        let limit = *first.get_or_insert(text.len());
        assert!(text.len() <= limit.max(200), "{text}");
    }
    assert!(faults.injected() >= 200, "{fault:?}: {}", faults.injected());
    assert!(store.stats().wal_failing.is_some(), "{fault:?}");
    assert_eq!(store.storage_status().status, "degraded", "{fault:?}");
    faults.clear();
    store.write(vec![pt(1, ts, 3.0)]).await.unwrap();
    acked.push(ts);
    assert_eq!(store.stats().wal_failing, None, "{fault:?}");
    assert_eq!(store.storage_status().status, "ok", "{fault:?}");
    assert_eq!(
        stored(&store, 1).await,
        acked,
        "{fault:?}: before the crash"
    );
    // A crash: the log is all there is.
    store.abandon();
    opts.wal_faults = None;
    let (store, _) = open(dir.path(), opts).await;
    assert_eq!(
        stored(&store, 1).await,
        acked,
        "{fault:?}: after the crash, acknowledged points and only those"
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_full_disk() {
    log_fault(WalFault::NoSpace, "No space left on device").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_io_error() {
    log_fault(WalFault::Eio, "Input/output error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_short_write() {
    log_fault(WalFault::ShortWrite, "No space left on device").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_fsync_failure() {
    log_fault(WalFault::SyncFails, "fsync of the write-ahead log").await;
}

/// The backend side: while the primary's writes fail, writes are still acknowledged into
/// the log, flushes fail and say why in the status, and the next flush after the fault
/// catches up with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_write_failure() {
    common::trace();
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let (store, flaky) = open(dir.path(), opts.clone()).await;
    store.write(vec![pt(1, 1, 1.0)]).await.unwrap();
    flaky.fail_writes.store(true, Ordering::SeqCst);
    store.write(vec![pt(1, 2, 2.0)]).await.unwrap();
    let e = store.flush().await.expect_err("the primary refuses");
    assert!(e.to_string().contains("injected failure"), "{e}");
    let why = store.stats().flush_failing.expect("flush failing");
    assert_eq!(why.matches("injected failure").count(), 1, "{why}");
    assert_eq!(store.storage_status().status, "degraded");
    flaky.fail_writes.store(false, Ordering::SeqCst);
    store.flush().await.unwrap();
    assert_eq!(store.stats().flush_failing, None);
    assert_eq!(store.storage_status().status, "ok");
    store.abandon();
    let (store, _) = open(dir.path(), opts).await;
    assert_eq!(stored(&store, 1).await, vec![1, 2]);
    store.close().await.unwrap();
}

/// While flushes fail they are retried on their backoff (capped by `cache_service_interval`),
/// not on every write that asks for a flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_flushes_are_retried_on_the_interval_not_per_write() {
    common::trace();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.cache_service_interval = std::time::Duration::from_secs(1);
    opts.flush_dirty_points = 1;
    let (store, flaky) = open(dir.path(), opts.clone()).await;
    flaky.fail_writes.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let mut ts = 1;
    while started.elapsed() < std::time::Duration::from_millis(3500) {
        store.write(vec![pt(1, ts, 1.0)]).await.unwrap();
        ts += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let errors = store.stats().flush_errors;
    println!(
        "{} writes asked for a flush; {errors} flush attempts failed in 3.5 s",
        ts - 1
    );
    assert!(
        (1..=5).contains(&errors),
        "{errors} failed flushes in 3.5 s"
    );
    flaky.fail_writes.store(false, Ordering::SeqCst);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.stats().flush_failing.is_some() || store.stats().cache.dirty_points > 0 {
        assert!(std::time::Instant::now() < end, "the flush did not recover");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await.unwrap();
}
