//! Per-call overhead and per-point cost of history functions as plugins, against the same
//! average computed natively in the host over the same reads.
//!
//! `cargo bench -p clio-plugins --bench plugin_call`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use clio_core::{Store, Window};
use clio_plugins::{PluginHost, PluginOptions, TEST_PLUGINS_DIR};
use clio_storage::SeriesId;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

mod support;

use support::{T0, open_store};

const N: i64 = 100_000;
const END: i64 = T0 + N * 1000;
const ID: SeriesId = SeriesId(1);

/// The native twin of `avg(#n)`: the same store read the host's `read-last` makes (one
/// `Store::read_columns_blocking`, on the calling thread), the mean computed in the host.
fn native_avg(rt: &tokio::runtime::Handle, store: &Store, n: usize) -> Option<f64> {
    let window = Window::Last {
        n,
        skip: 0,
        at: Some(END),
    };
    let (cols, _) = store
        .read_columns_blocking(rt, ID, window, usize::MAX)
        .unwrap();
    let nums = &cols.nums;
    (!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64)
}

/// Paired measurement of what the plugin adds: native and plugin runs alternate (and which
/// runs first alternates, so that neither side always finds the caches warm from the other),
/// and the median of the differences is what the plugin adds; a background load drifting
/// over time hits both alike.
///
/// `before` runs (untimed) ahead of each timed side: a SQLite read there shows what the
/// call costs when the read has just evicted its code and data from the CPU caches.
fn paired(
    label: &str,
    handle: &tokio::runtime::Handle,
    store: &Store,
    s: &mut clio_plugins::Session,
    windows: &[usize],
    before: &dyn Fn(),
) {
    eprintln!("paired overhead, {label} (median of plugin - native over alternating runs):");
    // (window, overhead) of the smallest window: the per-point cost is the slope from it,
    // which leaves the fixed cost of a call out.
    let mut base: Option<(usize, f64)> = None;
    for &n in windows {
        let args = vec![format!("#{n}")];
        let expect = native_avg(handle, store, n).map_or(clio_plugins::FnValue::None, |v| {
            clio_plugins::FnValue::Num(v)
        });
        assert_eq!(s.evaluate(&args).unwrap(), expect, "#{n}");
        let rounds = if n >= 100_000 { 60 } else { 4_000 };
        let mut diffs = Vec::with_capacity(rounds);
        let mut natives = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let time_native = || {
                before();
                let t = std::time::Instant::now();
                std::hint::black_box(native_avg(handle, store, n));
                t.elapsed().as_nanos() as f64
            };
            let (native, plugin) = if round % 2 == 0 {
                let native = time_native();
                before();
                let t = std::time::Instant::now();
                std::hint::black_box(s.evaluate(&args).unwrap());
                (native, t.elapsed().as_nanos() as f64)
            } else {
                before();
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
        let native = natives[rounds / 2];
        let slope = match base {
            Some((n0, m0)) if n > n0 => format!(
                ", slope from #{n0} {:>5.2} ns/point",
                (med - m0) / (n - n0) as f64
            ),
            _ => String::new(),
        };
        eprintln!(
            "  #{n:>6}: native median {native:>10.0} ns, plugin - native {med:>9.0} ns \
             = {:>6.2} ns/point ({:>4.1} % of native){slope}",
            med / n.max(1) as f64,
            100.0 * med / native.max(1.0)
        );
        base.get_or_insert((n, med));
    }
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
    let _g = rt.enter();
    // The seed's cache size: after the flush only the 5 newest points stay in memory, so
    // windows read SQLite.
    let store = open_store(&rt, &tmp.path().join("cold"), ID, N, 5);
    let host = {
        let opts = PluginOptions {
            user_dir: Some(dir.clone()),
            builtin: clio_plugins::BUILTIN_PLUGINS,
            cache_dir: Some(tmp.path().join("plugin-cache")),
            watch: false,
            ..PluginOptions::default()
        };
        PluginHost::new(opts, store.clone()).unwrap()
    };
    let handle = rt.handle().clone();
    eprintln!("allocator: {}", host.allocator().as_str());

    // Fixed cost: a function that reads nothing.
    let mut g = c.benchmark_group("call_overhead");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let ok = vec!["ok".to_string()];
    g.bench_function("evaluate_blocking", |b| {
        b.iter(|| {
            host.evaluate_blocking(ID, "hostile", &ok, Some(END))
                .unwrap()
        })
    });
    let mut s = host.session(ID, "hostile", Some(END)).unwrap();
    g.bench_function("reused_instance", |b| b.iter(|| s.evaluate(&ok).unwrap()));
    g.finish();

    {
        // What the fixed part of a reading call is made of: a call that only asks for the
        // series (`testavg(key)`: one import returning a record with a string).
        let mut s = host.session(ID, "testavg", Some(END)).unwrap();
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
    }
    {
        // What one import costs, guest to host and back (the slope over 100 imports in one
        // call, so the call's own cost drops out): the cheapest import, and reads whose
        // answers differ only in size.
        let mut s = host.session(ID, "testavg", Some(END)).unwrap();
        eprintln!("one import (slope over 100 in a call):");
        for import in [
            "now",
            "series-id",
            "empty-read",
            "one-read",
            "empty-columns",
            "one-columns",
        ] {
            let mut time = |n: usize| {
                let args = vec![format!("repeat={import}"), n.to_string()];
                let rounds = 4_000;
                let mut v: Vec<f64> = (0..rounds)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        std::hint::black_box(s.evaluate(&args).unwrap());
                        t.elapsed().as_nanos() as f64
                    })
                    .collect();
                v.sort_by(f64::total_cmp);
                v[rounds / 2]
            };
            let (t0, t100) = (time(0), time(100));
            eprintln!("  {import:<10}: {:>6.0} ns", (t100 - t0) / 100.0);
        }
    }
    // The shipped `avg` plugin (SDK window parsing and streaming) against its native twin.
    // `#0`: a read that the engine answers without touching storage, which isolates the
    // boundary (call, imports, lowering) from the store's I/O.
    // (`avg(#0)` is a bad argument, so the boundary row uses the test guest's `testavg`,
    // which makes the same imports.)
    let mut t = host.session(ID, "testavg", Some(END)).unwrap();
    paired("boundary only", &handle, &store, &mut t, &[0], &|| {});
    let mut s = host.session(ID, "avg", Some(END)).unwrap();
    paired(
        "windows read from SQLite",
        &handle,
        &store,
        &mut s,
        &[10, 1_000, 100_000],
        &|| {},
    );
    // The same with the newest 2,000 points in the cache, as they are for a series that is
    // being written and read (the cache keeps what readers ask for): small windows never
    // touch storage, so the difference is the plugin's alone, without the noise of a read.
    {
        let warm = open_store(&rt, &tmp.path().join("warm"), ID, N, 2_000);
        let opts = PluginOptions {
            builtin: clio_plugins::BUILTIN_PLUGINS,
            cache_dir: Some(tmp.path().join("plugin-cache")),
            watch: false,
            ..PluginOptions::default()
        };
        let warm_host = PluginHost::new(opts, warm.clone()).unwrap();
        let mut s = warm_host.session(ID, "avg", Some(END)).unwrap();
        paired(
            "windows served from the cache",
            &handle,
            &warm,
            &mut s,
            &[10, 1_000],
            &|| {},
        );
        // The same calls right after a 10-point SQLite read of another store (as in the
        // SQLite rows, where the read runs inside the call): what the boundary costs with
        // cold CPU caches.
        paired(
            "windows served from the cache, after a SQLite read",
            &handle,
            &warm,
            &mut s,
            &[10],
            &|| {
                std::hint::black_box(native_avg(&handle, &store, 10));
            },
        );
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
    let mut s = host.session(ID, "avg", Some(END)).unwrap();
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
            b.iter(|| host.evaluate_blocking(ID, "avg", &args, Some(END)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
