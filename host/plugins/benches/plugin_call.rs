//! Per-call overhead and per-point cost of history functions as plugins, against the same
//! average computed natively in the host over the same reads.
//!
//! `cargo bench -p clio-plugins --bench plugin_call`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store, Window};
use clio_plugins::{PluginHost, PluginOptions, TEST_PLUGINS_DIR};
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const T0: i64 = 1_700_000_000_000;
const N: i64 = 100_000;
const END: i64 = T0 + N * 1000;
const ID: SeriesId = SeriesId(1);

/// The native twin of `testavg(#n)`: the same store read the host's `read-last` makes (one
/// `Store::read_columns`), the mean computed in the host.
fn native_avg(rt: &tokio::runtime::Handle, store: &Store, n: usize) -> Option<f64> {
    let window = Window::Last {
        n,
        skip: 0,
        at: Some(END),
    };
    let (cols, _) = rt
        .block_on(store.read_columns(ID, window, usize::MAX))
        .unwrap();
    let nums = &cols.nums;
    (!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["test_plugin_ok.wasm", "test_plugin_hostile.wasm"] {
        std::fs::copy(Path::new(TEST_PLUGINS_DIR).join(f), dir.join(f)).unwrap();
    }
    let (store, host) = {
        let _g = rt.enter();
        let store = rt.block_on(async {
            let backend = Arc::new(
                SqliteBackend::open(SqliteOptions::new(tmp.path().join("clio.db"))).unwrap(),
            );
            let mut o = EngineOptions::new(tmp.path());
            o.timestamp_max_past = None;
            o.timestamp_max_future = None;
            o.cache_service_interval = Duration::from_secs(3600);
            let (store, _) = Store::open(o, backend).await.unwrap();
            for chunk in (0..N).collect::<Vec<_>>().chunks(20_000) {
                let pts = chunk
                    .iter()
                    .map(|&i| IncomingPoint {
                        series: SeriesRef::Id(ID),
                        ts: Some(T0 + i * 1000),
                        value: Value::Num(i as f64),
                    })
                    .collect();
                store.write(pts).await.unwrap();
            }
            store.flush().await.unwrap();
            store
        });
        let opts = PluginOptions {
            user_dir: Some(dir.clone()),
            cache_dir: Some(tmp.path().join("plugin-cache")),
            watch: false,
            ..PluginOptions::default()
        };
        let host = PluginHost::new(opts, store.clone()).unwrap();
        (store, host)
    };
    let handle = rt.handle().clone();
    eprintln!("allocator: {}", host.allocator().as_str());

    // Fixed cost: a function that reads nothing.
    let mut g = c.benchmark_group("call_overhead");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let ok = vec!["ok".to_string()];
    g.bench_function("fresh_instance", |b| {
        b.iter(|| {
            host.evaluate_blocking(ID, "hostile", &ok, Some(END))
                .unwrap()
        })
    });
    let mut s = host.session(ID, "hostile", Some(END)).unwrap();
    g.bench_function("reused_instance", |b| b.iter(|| s.evaluate(&ok).unwrap()));
    g.finish();

    // Paired measurement of the per-point overhead: native and plugin runs alternate, so a
    // background load drifting over time hits both alike; the median of the differences
    // is what the plugin adds.
    {
        let mut s = host.session(ID, "testavg", Some(END)).unwrap();
        // What the fixed part of a reading call is made of: a call that only asks for the
        // series (`testavg(key)`: one import returning a record with a string).
        let key = vec!["key".to_string()];
        let rounds = 20_000;
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(s.evaluate(&key).unwrap());
        }
        eprintln!(
            "call with one `series` import: {:.2} µs",
            t.elapsed().as_secs_f64() * 1e6 / rounds as f64
        );
        eprintln!("paired overhead (median of plugin - native over alternating runs):");
        // `#0`: a read that the engine answers without touching storage, which isolates the
        // boundary (call, imports, lowering) from the store's I/O.
        for n in [0usize, 10, 1_000, 100_000] {
            let args = vec![format!("#{n}")];
            let rounds = if n >= 100_000 { 60 } else { 2_000 };
            let mut diffs = Vec::with_capacity(rounds);
            let mut natives = Vec::with_capacity(rounds);
            for round in 0..rounds {
                // Which runs first alternates too, so that neither side always finds the
                // store's reader thread awake (or asleep) from the other's call.
                let time_native = || {
                    let t = std::time::Instant::now();
                    std::hint::black_box(native_avg(&handle, &store, n));
                    t.elapsed().as_nanos() as f64
                };
                let (native, plugin) = if round % 2 == 0 {
                    let native = time_native();
                    let t = std::time::Instant::now();
                    std::hint::black_box(s.evaluate(&args).unwrap());
                    (native, t.elapsed().as_nanos() as f64)
                } else {
                    let t = std::time::Instant::now();
                    std::hint::black_box(s.evaluate(&args).unwrap());
                    let plugin = t.elapsed().as_nanos() as f64;
                    (time_native(), plugin)
                };
                diffs.push(plugin - native);
                natives.push(native);
            }
            diffs.sort_by(f64::total_cmp);
            natives.sort_by(f64::total_cmp);
            let med = diffs[rounds / 2];
            eprintln!(
                "  #{n:>6}: native median {:>10.0} ns, plugin - native {:>9.0} ns = {:>6.2} ns/point",
                natives[rounds / 2],
                med,
                med / n.max(1) as f64
            );
        }
    }

    // A retention decision through the built-in `keep` policy plugin (the housekeeper makes
    // one per series per run).
    {
        use clio_housekeeper::{RetentionPolicy, SeriesUsage, StoreUsage};
        let opts = PluginOptions {
            builtin: clio_plugins::BUILTIN_PLUGINS,
            cache_dir: Some(tmp.path().join("plugin-cache")),
            watch: false,
            ..PluginOptions::default()
        };
        let builtin = {
            let _g = rt.enter();
            PluginHost::new(opts, store.clone()).unwrap()
        };
        let policy = clio_plugins::WasmPolicy::new(builtin, "keep", "{}".into());
        let info = store.series(ID).unwrap();
        let usage = SeriesUsage {
            info,
            points: N as u64,
            bytes: 1 << 20,
            first_ts: Some(T0),
            last_ts: Some(END),
        };
        let su = StoreUsage::from_series([&usage]);
        let intervals: Vec<clio_storage::TrendInterval> =
            [600_000, 1_800_000, 3_600_000, 86_400_000]
                .into_iter()
                .map(|ms| clio_storage::TrendInterval::from_ms(ms).unwrap())
                .collect();
        policy.begin_run().unwrap();
        let rounds = 10_000;
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(policy.decide(&usage, &su, END, &intervals).unwrap());
        }
        eprintln!(
            "policy keep (plugin): {:.2} µs per decision over {rounds}",
            t.elapsed().as_secs_f64() * 1e6 / rounds as f64
        );
        policy.end_run();
    }

    let mut g = c.benchmark_group("avg_last_n");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    let mut s = host.session(ID, "testavg", Some(END)).unwrap();
    for n in [10usize, 1_000, 100_000] {
        let args = vec![format!("#{n}")];
        let expect = native_avg(&handle, &store, n);
        assert_eq!(
            s.evaluate(&args).unwrap(),
            clio_plugins::FnValue::Num(expect.unwrap())
        );
        g.bench_with_input(BenchmarkId::new("native", n), &n, |b, &n| {
            b.iter(|| native_avg(&handle, &store, n))
        });
        g.bench_with_input(BenchmarkId::new("plugin_reused", n), &n, |b, _| {
            b.iter(|| s.evaluate(&args).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("plugin_fresh", n), &n, |b, _| {
            b.iter(|| {
                host.evaluate_blocking(ID, "testavg", &args, Some(END))
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
