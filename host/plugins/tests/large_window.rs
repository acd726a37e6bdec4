//! History functions over a window far larger than plugin memory, end to end: 2,000,000
//! points in a real engine (SQLite in a temp dir), the built-in plugins under the default
//! 16 MiB memory limit. The one-pass functions stream their window one chunk at a time
//! (`Window::for_each_chunk` in the SDK) and answer exactly; a function that needs the whole
//! window in memory (`percentile`) hits the memory limit as a clean error, and the host
//! carries on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_plugins::{FnValue, Limits, PluginError, PluginHost, PluginOptions, split_args};
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;

/// The oldest point.
const T0: i64 = 1_600_000_000_000;
/// One point every 10 s, as a year of 10-second data would be written.
const STEP: i64 = 10_000;
/// Points in the series: about 16 bytes each as columns, so 32 MB as one window, twice the
/// plugin memory limit.
const N: i64 = 2_000_000;
/// Points per write.
const BATCH: i64 = 50_000;
const SERIES: SeriesId = SeriesId(1);

/// Point `i`'s value: small integers, so that every sum is exact in f64 whatever the order.
fn value(i: i64) -> f64 {
    (i % 100) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_functions_stream_two_million_points_in_16_mib() {
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let backend =
        Arc::new(SqliteBackend::open(SqliteOptions::new(tmp.path().join("clio.db"))).unwrap());
    let mut o = EngineOptions::new(tmp.path());
    // The test flushes once, by hand, after the last write.
    o.cache_service_interval = Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    let (store, _) = Store::open(o, backend).await.unwrap();
    for b in 0..N / BATCH {
        let pts = (b * BATCH..(b + 1) * BATCH)
            .map(|i| IncomingPoint {
                series: SeriesRef::Id(SERIES),
                ts: Some(T0 + i * STEP),
                value: Value::Num(value(i)),
            })
            .collect();
        store.write(pts).await.unwrap();
    }
    store.flush().await.unwrap();
    let written = started.elapsed();

    let host_started = Instant::now();
    let opts = PluginOptions {
        builtin: clio_plugins::BUILTIN_PLUGINS,
        watch: false,
        limits: Limits {
            // Debug builds read 2 M points in about a second; the default 100 ms is for
            // ordinary windows.
            call_timeout: Duration::from_secs(30),
            ..Limits::default()
        },
        ..PluginOptions::default()
    };
    assert_eq!(
        opts.limits.memory_bytes,
        16 << 20,
        "the default memory limit"
    );
    let host = PluginHost::new(opts, store.clone()).unwrap();
    let host_ready = host_started.elapsed();

    // Evaluated just after the newest point: every window below holds all 2 M points.
    let at = T0 + N * STEP;
    let eval = |function: &'static str, args: &str| {
        let host = host.clone();
        let args = split_args(args);
        async move {
            let t = Instant::now();
            let r = host
                .evaluate(SERIES, function, args.clone(), Some(at))
                .await;
            eprintln!(
                "{function}({}) = {r:?} in {:?}",
                args.join(", "),
                t.elapsed()
            );
            r
        }
    };

    let count = N as f64;
    // Σ (i mod 100) over 20,000 full cycles of 0..=99.
    let sum = (N / 100) as f64 * 4950.0;
    let all_by_count = format!("#{N}");
    let all_by_time = format!("{}s", N * STEP / 1000);
    let all_since = T0.to_string();
    let mut slowest = Duration::ZERO;
    for window in [&all_by_count, &all_by_time] {
        for (function, want) in [
            ("avg", sum / count),
            ("sum", sum),
            ("count", count),
            ("min", 0.0),
            ("max", 99.0),
            // Newest (i = N - 1: 99) minus oldest (0).
            ("change", 99.0),
            ("absChange", 99.0),
        ] {
            let t = Instant::now();
            let got = eval(function, window).await;
            slowest = slowest.max(t.elapsed());
            match got {
                Ok(FnValue::Num(v)) => assert_eq!(v, want, "{function}({window})"),
                other => panic!("{function}({window}): {other:?}"),
            }
        }
    }
    // The other forms over the same points: a timestamp, strict count and strict time (the
    // first point lies exactly at the start, the median gap is 10 s).
    for (function, args, want) in [
        ("sum", all_since.clone(), sum),
        ("count", format!("!{all_by_count}"), count),
        ("avg", format!("!{all_by_time}"), sum / count),
        ("delta", all_by_count.clone(), 99.0),
        // One record more than there are: 2 M of 2,000,001 is well over 90 %.
        ("count", format!("!#{}", N + 1), count),
    ] {
        match eval(function, &args).await {
            Ok(FnValue::Num(v)) => assert_eq!(v, want, "{function}({args})"),
            other => panic!("{function}({args}): {other:?}"),
        }
    }
    // Strict and not well covered: a period starting 1 h before the first point.
    match eval("avg", &format!("!{}s", N * STEP / 1000 + 3600)).await {
        Ok(FnValue::None) => {}
        other => panic!("strict, not covered: {other:?}"),
    }

    // `percentile` needs every value at once (it sorts them): 2 M points do not fit in
    // 16 MiB, and the answer is the memory-limit error, not a crash.
    match eval("percentile", &format!("{all_by_count}, 0, 50")).await {
        Err(PluginError::MemoryLimit {
            function,
            limit_bytes,
        }) => {
            assert_eq!(function, "percentile");
            assert_eq!(limit_bytes, 16 << 20);
        }
        other => panic!("percentile over 2 M points: {other:?}"),
    }
    // 800,000 values do fit: the window is fetched at its final size (16 bytes a point),
    // its number column taken over without a copy and sorted in place.
    match eval("percentile", "#800000, 0, 50").await {
        Ok(FnValue::Num(v)) => assert_eq!(v, 49.5),
        other => panic!("percentile over 800,000 points: {other:?}"),
    }
    // The host is unharmed: the same function over a window that fits still answers.
    match eval("percentile", "#1000, 0, 50").await {
        Ok(FnValue::Num(v)) => assert_eq!(v, 49.5),
        other => panic!("percentile over 1000 points: {other:?}"),
    }

    let total = started.elapsed();
    eprintln!(
        "wrote and flushed {N} points in {written:?}; host ready in {host_ready:?}; \
         slowest streamed call {slowest:?}; whole test {total:?}"
    );
    assert!(
        slowest < Duration::from_secs(30),
        "every call ran within its deadline"
    );
    store.close().await.unwrap();
}
