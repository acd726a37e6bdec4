//! EXPERIMENT (temporary): timings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{
    Data, EngineOptions, IncomingPoint, ReadRequest, Resolution, SeriesRef, Store, Window,
};
use clio_plugins::{Limits, PluginHost, PluginOptions};
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;

const T0: i64 = 1_700_000_000_000;
const N: i64 = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment() {
    let tmp = TempDir::new().unwrap();
    let backend =
        Arc::new(SqliteBackend::open(SqliteOptions::new(tmp.path().join("clio.db"))).unwrap());
    let mut o = EngineOptions::new(tmp.path());
    o.cache_service_interval = Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o.wal_sync = clio_core::SyncMode::Off;
    let (store, _) = Store::open(o, backend).await.unwrap();
    let t = Instant::now();
    for b in 0..(N / 50_000) {
        let pts = (b * 50_000..(b + 1) * 50_000)
            .map(|i| IncomingPoint {
                series: SeriesRef::Id(SeriesId(1)),
                ts: Some(T0 + i * 10_000),
                value: Value::Num((i % 100) as f64),
            })
            .collect();
        store.write(pts).await.unwrap();
    }
    eprintln!("write {:?}", t.elapsed());
    let t = Instant::now();
    store.flush().await.unwrap();
    eprintln!("flush {:?}", t.elapsed());
    let now = T0 + N * 10_000;
    // direct reads
    let t = Instant::now();
    let mut at = now;
    let mut total = 0;
    loop {
        let r = store
            .read(&ReadRequest {
                series: SeriesId(1),
                window: Window::Last {
                    n: 5000,
                    skip: 0,
                    at: Some(at),
                },
                resolution: Resolution::Raw,
                cursor: None,
            })
            .await
            .unwrap();
        let Data::Points(p) = r.data else { panic!() };
        if p.is_empty() {
            break;
        }
        total += p.len();
        at = p[0].ts;
    }
    eprintln!("paged read_last {total} {:?}", t.elapsed());
    let t = Instant::now();
    let mut at = now;
    let mut probes = 0;
    loop {
        let r = store
            .read(&ReadRequest {
                series: SeriesId(1),
                window: Window::Last {
                    n: 1,
                    skip: 65535,
                    at: Some(at),
                },
                resolution: Resolution::Raw,
                cursor: None,
            })
            .await
            .unwrap();
        let Data::Points(p) = r.data else { panic!() };
        if p.is_empty() {
            break;
        }
        probes += 1;
        at = p[0].ts;
    }
    eprintln!("probes {probes} {:?}", t.elapsed());
    let t = Instant::now();
    let mut to = now;
    let mut total = 0;
    loop {
        let r = store
            .read(&ReadRequest {
                series: SeriesId(1),
                window: Window::Range { from: T0, to },
                resolution: Resolution::Raw,
                cursor: None,
            })
            .await
            .unwrap();
        let Data::Points(p) = r.data else { panic!() };
        total += p.len();
        if !r.truncated {
            break;
        }
        to = p[0].ts;
    }
    eprintln!("paged range {total} {:?}", t.elapsed());

    for mem in [16usize << 20, 256 << 20] {
        let opts = PluginOptions {
            builtin: clio_plugins::BUILTIN_PLUGINS,
            watch: false,
            limits: Limits {
                call_timeout: Duration::from_secs(60),
                memory_bytes: mem,
                ..Limits::default()
            },
            ..PluginOptions::default()
        };
        let host = PluginHost::new(opts, store.clone()).unwrap();
        for (f, args) in [
            ("avg", "#2000000"),
            ("avg", "#2000000"),
            ("avg", &format!("{T0}") as &str),
            ("percentile", "#2000000, 0, 50"),
        ] {
            let t = Instant::now();
            let r = host
                .evaluate(SeriesId(1), f, clio_plugins::split_args(args), Some(now))
                .await;
            eprintln!("mem {mem} {f}({args}) = {r:?} in {:?}", t.elapsed());
        }
    }
}
