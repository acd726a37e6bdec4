//! The engine's numbers for BENCHMARKS.md, measured on the real SQLite backend:
//! ingest through the log, flush throughput into SQLite, last-N latency from the cache and
//! from storage, and replay time of a large log.
//!
//! ```text
//! cargo run --release -p clio-core --example engine_bench -- [--series 1000] [--points 10000000] [--replay-gb 1]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failures should be loud

use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{
    Data, EngineOptions, IncomingPoint, ReadRequest, Resolution, SeriesRef, Store, SyncMode, Window,
};
use clio_storage::{SeriesId, StorageBackend, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options(dir: &std::path::Path) -> EngineOptions {
    let mut o = EngineOptions::new(dir);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o.cache_service_interval = Duration::from_secs(100_000);
    o.flush_dirty_points = usize::MAX / 4;
    o.max_dirty_points = usize::MAX / 2;
    o.flush_wal_bytes = u64::MAX / 2;
    o.wal_segment_bytes = 256 << 20;
    o.cache.memory_budget = 16 << 30;
    o
}

async fn open(dir: &std::path::Path, o: EngineOptions) -> (Store, clio_core::ReplayReport) {
    let b = Arc::new(SqliteBackend::open(SqliteOptions::new(dir.join("clio.db"))).unwrap());
    Store::open(o, b).await.unwrap()
}

/// A noisy 2-decimal random walk per series, 10 s apart.
fn batch(
    series: u64,
    from_step: u64,
    steps: u64,
    state: &mut [f64],
    rng: &mut u64,
) -> Vec<IncomingPoint> {
    let mut out = Vec::with_capacity((series * steps) as usize);
    for step in from_step..from_step + steps {
        for s in 0..series {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            let noise = ((*rng % 101) as f64 - 50.0) / 100.0;
            let v = &mut state[s as usize];
            *v = ((*v + noise) * 100.0).round() / 100.0;
            out.push(IncomingPoint {
                series: SeriesRef::Id(SeriesId(s + 1)),
                ts: Some(1_700_000_000_000 + step as i64 * 10_000),
                value: Value::Num(*v),
            });
        }
    }
    out
}

fn pct(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    format!(
        "p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} reads)",
        p(0.5).as_secs_f64() * 1e6,
        p(0.99).as_secs_f64() * 1e6,
        p(1.0).as_secs_f64() * 1e6,
        v.len()
    )
}

async fn last_n_latency(store: &Store, series: u64, n: usize, reads: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(reads);
    for i in 0..reads {
        let req = ReadRequest {
            series: SeriesId((i as u64 % series) + 1),
            window: Window::Last {
                n,
                skip: 0,
                at: None,
            },
            resolution: Resolution::Raw,
            cursor: None,
        };
        let t = Instant::now();
        let r = store.read(&req).await.unwrap();
        lat.push(t.elapsed());
        let Data::Points(p) = r.data else { panic!() };
        assert_eq!(p.len(), n);
    }
    lat
}

#[tokio::main]
async fn main() {
    let series = arg("--series", 1000.0) as u64;
    let points = arg("--points", 10_000_000.0) as u64;
    let replay_gb = arg("--replay-gb", 1.0);
    let steps = points / series;
    let dir = tempfile::tempdir().unwrap();
    println!(
        "engine_bench: {series} series, {points} points, 10 s interval, noisy 2-decimal floats"
    );

    // 1. Ingest (sync = always: each 10k-point write waits for its fsync).
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let mut state = vec![20.0; series as usize];
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let per_write = (10_000 / series).max(1);
    let t = Instant::now();
    let mut step = 0;
    while step < steps {
        let k = per_write.min(steps - step);
        store
            .write(batch(series, step, k, &mut state, &mut rng))
            .await
            .unwrap();
        step += k;
    }
    let ingest = t.elapsed();
    println!(
        "ingest (wal sync=always, writes of {} points): {:.0} points/s",
        per_write * series,
        points as f64 / ingest.as_secs_f64()
    );

    // 2. Last-N from the cache (the newest points were just written).
    for n in [1usize, 5] {
        let lat = last_n_latency(&store, series, n, 20_000).await;
        println!("last-{n} from cache: {}", pct(lat));
    }

    // 3. Flush throughput into SQLite (chunks + four trend intervals).
    let t = Instant::now();
    let report = store.flush().await.unwrap();
    let flush = t.elapsed();
    println!(
        "flush: {} points, {} trend buckets in {:.2} s = {:.0} points/s",
        report.points,
        report.trend_buckets,
        flush.as_secs_f64(),
        report.points as f64 / flush.as_secs_f64()
    );
    store.close().await.unwrap();
    let db = dir.path().join("clio.db");
    let bytes = std::fs::metadata(&db).unwrap().len();
    let totals = {
        let b = SqliteBackend::open(SqliteOptions::new(&db)).unwrap();
        let t = b.totals().await.unwrap();
        b.close().await.unwrap();
        t
    };
    println!(
        "size: {:.3} bytes/point in chunks, {:.3} bytes/point for the whole file ({} bytes, {} chunks)",
        totals.chunk_bytes as f64 / totals.points as f64,
        bytes as f64 / totals.points as f64,
        bytes,
        totals.chunks
    );

    // 4. Last-N from storage: a fresh engine has an empty cache; every first read of a series
    // goes to SQLite. Reads of 100 points are beyond the 5 cached records, too.
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let lat = last_n_latency(&store, series, 1, series as usize).await;
    println!("last-1 from storage (cold cache): {}", pct(lat));
    let (store2, _) = {
        store.close().await.unwrap();
        open(dir.path(), options(dir.path())).await
    };
    let lat = last_n_latency(&store2, series, 100, series as usize).await;
    println!("last-100 from storage (cold cache): {}", pct(lat));
    store2.close().await.unwrap();

    // 5. Replay of a large log: write ~replay_gb of log without flushing, crash, reopen.
    if replay_gb > 0.0 {
        let rdir = tempfile::tempdir().unwrap();
        let mut o = options(rdir.path());
        o.wal_sync = SyncMode::Off;
        let (store, _) = open(rdir.path(), o.clone()).await;
        let target = (replay_gb * (1u64 << 30) as f64) as u64;
        let mut step = 0;
        while store.stats().wal_bytes < target {
            store
                .write(batch(series, step, per_write, &mut state, &mut rng))
                .await
                .unwrap();
            step += per_write;
        }
        let wal = store.stats().wal_bytes;
        store.abandon();
        let t = Instant::now();
        let (store, report) = open(rdir.path(), o).await;
        let took = t.elapsed();
        println!(
            "replay: {:.2} GiB log, {} points in {:.2} s ({:.0} MiB/s, {:.0} points/s)",
            wal as f64 / (1u64 << 30) as f64,
            report.points,
            took.as_secs_f64(),
            wal as f64 / (1 << 20) as f64 / took.as_secs_f64(),
            report.points as f64 / took.as_secs_f64()
        );
        store.abandon();
    }
}
