//! Calls one history function in a loop, for profiling a call
//! (`CLIO_PLUGIN_PERFMAP=1 perf record -g target/release/examples/call_loop avg '#1000' 5 2000`;
//! the perf map names the guest's functions).
//!
//! `cargo run --release -p clio-plugins --example call_loop -- <function> <arg> <seconds> [cached]`
//!
//! `function` is `testavg` (the test guest) or any built-in function; the series holds
//! 100,000 points a second apart, of which the newest `cached` (default 5) stay in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use clio_plugins::{PluginHost, PluginOptions, TEST_PLUGINS_DIR};
use clio_storage::SeriesId;

#[path = "../benches/support/mod.rs"]
mod support;

use support::{T0, open_store};

const N: i64 = 100_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let function = args.next().unwrap_or_else(|| "testavg".into());
    let arg = args.next().unwrap_or_else(|| "#10".into());
    let secs: u64 = args.next().map_or(5, |s| s.parse().unwrap());
    let cached: usize = args.next().map_or(5, |s| s.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        Path::new(TEST_PLUGINS_DIR).join("test_plugin_ok.wasm"),
        dir.join("test_plugin_ok.wasm"),
    )
    .unwrap();
    let _g = rt.enter();
    let store = open_store(&rt, tmp.path(), SeriesId(1), N, cached);
    let opts = PluginOptions {
        user_dir: Some(dir),
        cache_dir: Some(tmp.path().join("plugin-cache")),
        builtin: clio_plugins::BUILTIN_PLUGINS,
        watch: false,
        ..PluginOptions::default()
    };
    let host = PluginHost::new(opts, store).unwrap();
    let mut s = host
        .session(SeriesId(1), &function, Some(T0 + N * 1000))
        .unwrap();
    let params = vec![arg.clone()];
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..1000 {
            std::hint::black_box(s.evaluate(&params).unwrap());
        }
        calls += 1000;
    }
    eprintln!(
        "{function}({arg}): {calls} calls, {:.3} µs per call",
        start.elapsed().as_secs_f64() * 1e6 / calls as f64
    );
}
