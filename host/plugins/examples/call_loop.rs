//! Calls one function of the `testavg` test plugin in a loop, for profiling the fixed cost of
//! a call (`perf record -g target/release/examples/call_loop -- '#10' 5`).
//!
//! `cargo run --release -p clio-plugins --example call_loop -- <arg> <seconds>`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use clio_plugins::{PluginHost, PluginOptions, TEST_PLUGINS_DIR};
use clio_storage::SeriesId;

#[path = "../benches/support/mod.rs"]
mod support;

use support::{T0, open_store};

const N: i64 = 10_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let arg = args.next().unwrap_or_else(|| "#10".into());
    let secs: u64 = args.next().map_or(5, |s| s.parse().unwrap());
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
    let store = open_store(&rt, tmp.path(), SeriesId(1), N, 5);
    let opts = PluginOptions {
        user_dir: Some(dir),
        cache_dir: Some(tmp.path().join("plugin-cache")),
        watch: false,
        ..PluginOptions::default()
    };
    let host = PluginHost::new(opts, store).unwrap();
    let mut s = host
        .session(SeriesId(1), "testavg", Some(T0 + N * 1000))
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
        "testavg({arg}): {calls} calls, {:.3} µs per call",
        start.elapsed().as_secs_f64() * 1e6 / calls as f64
    );
}
