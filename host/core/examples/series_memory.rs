//! Where the memory of a series goes: heap bytes per series after each step of creating
//! many small series through the engine (the bench generator's shape: `clio_bench,host=hNNN,
//! sensor=sNNNNNN value`, 3 points each), counted by a global allocator.
//!
//! ```text
//! cargo run --release -p clio-core --example series_memory -- [--series 200000]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failures should be loud

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_storage::{SeriesKey, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

/// Live heap bytes (requested sizes; the allocator's own rounding and headers come on top).
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Live allocations, for the per-allocation overhead estimate.
static COUNT: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        COUNT.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout as asked.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        COUNT.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snap() -> (isize, isize) {
    (LIVE.load(Ordering::Relaxed), COUNT.load(Ordering::Relaxed))
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: usize) -> SeriesKey {
    SeriesKey::new(
        "clio_bench",
        [
            ("host".to_string(), format!("h{:03}", i % 100)),
            ("sensor".to_string(), format!("s{i:06}")),
        ],
        "value",
    )
    .unwrap()
}

fn text(i: usize) -> String {
    format!("clio_bench,host=h{:03},sensor=s{i:06} value", i % 100)
}

fn report(what: &str, before: (isize, isize), after: (isize, isize), n: usize) {
    let bytes = (after.0 - before.0) as f64 / n as f64;
    let allocs = (after.1 - before.1) as f64 / n as f64;
    // glibc malloc adds 8 bytes of header and rounds to 16: about 16 bytes per allocation.
    println!(
        "{what:<46} {bytes:>8.0} B/series requested, {allocs:>5.1} allocations/series (~{:.0} B with malloc overhead)",
        bytes + allocs * 16.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = arg("--series", 200_000);
    let dir = tempfile::tempdir().unwrap();

    // The key type alone, as the catalog holds it (once per copy).
    let s0 = snap();
    let keys: Vec<SeriesKey> = (0..n).map(key).collect();
    let s1 = snap();
    report("one SeriesKey (in a Vec)", s0, s1, n);
    drop(keys);

    let mut o = EngineOptions::new(dir.path());
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o.cache_service_interval = Duration::from_secs(100_000);
    o.flush_dirty_points = usize::MAX / 4;
    o.max_dirty_points = usize::MAX / 2;
    o.flush_wal_bytes = u64::MAX / 2;
    o.cache.memory_budget = 16 << 30;
    let b = Arc::new(SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap());
    let (store, _) = Store::open(o, b).await.unwrap();

    let base = snap();
    const BATCH: usize = 5_000;
    let t0 = 1_700_000_000_000i64;
    for step in 0..3i64 {
        for start in (0..n).step_by(BATCH) {
            let pts: Vec<IncomingPoint> = (start..(start + BATCH).min(n))
                .map(|i| IncomingPoint {
                    series: SeriesRef::Key(key(i)),
                    ts: Some(t0 + step * 10_000),
                    value: Value::Num(i as f64 / 100.0),
                })
                .collect();
            store.write(pts).await.unwrap();
        }
        if step == 0 {
            report(
                "engine after 1st point (catalog+cache+log)",
                base,
                snap(),
                n,
            );
        }
    }
    let written = snap();
    report("engine after 3 points each (unflushed)", base, written, n);

    let before_texts = snap();
    for start in (0..n).step_by(BATCH) {
        let texts: Vec<(String, SeriesKey)> = (start..(start + BATCH).min(n))
            .map(|i| (text(i), key(i)))
            .collect();
        store.learn_key_texts(texts);
    }
    report("key-text index (HTTP write path)", before_texts, snap(), n);

    let before_flush = snap();
    store.flush().await.unwrap();
    let flushed = snap();
    report("change by the flush", before_flush, flushed, n);
    report("engine total after flush", base, flushed, n);
    println!(
        "size_of: SeriesKey {} B, SeriesInfo {} B, Value {} B",
        std::mem::size_of::<SeriesKey>(),
        std::mem::size_of::<clio_storage::SeriesInfo>(),
        std::mem::size_of::<Value>(),
    );
    store.close().await.unwrap();
}
