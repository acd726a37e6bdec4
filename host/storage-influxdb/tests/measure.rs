//! Numbers for docs/influxdb.md and BENCHMARKS.md, InfluxDB and SQLite side by side in one
//! run: flush throughput (points with their trend buckets through `write_points`, as the
//! engine's flush does), ingest through Clio's engine (InfluxDB primary; SQLite primary with
//! an InfluxDB replica), last-N and range read latency. Ignored by default:
//! `cargo test -p clio-storage-influxdb --test measure -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{BackendSpec, EngineOptions, IncomingPoint, SeriesRef, Store, Topology};
use clio_storage::prelude::*;
use clio_storage::{NewSeries, Point, SeriesId, SeriesPoints, SeriesSettings, Value};
use clio_storage_influxdb::InfluxBackend;
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

const SERIES: u64 = 100;
const POINTS: i64 = 1000;
const STEP: i64 = 10_000;
const T0: i64 = 1_700_000_000_000;

async fn fill(b: &dyn StorageBackend) -> Duration {
    let ns: Vec<NewSeries> = (1..=SERIES)
        .map(|id| NewSeries {
            id: SeriesId(id),
            key: None,
            settings: SeriesSettings::default(),
        })
        .collect();
    b.create_series(&ns).await.unwrap();
    let t = Instant::now();
    // Ten flushes of 100 points per series (10 000 points each).
    for chunk in 0..(POINTS / 100) {
        let batch: Vec<SeriesPoints> = (1..=SERIES)
            .map(|id| SeriesPoints {
                series: SeriesId(id),
                points: (chunk * 100..(chunk + 1) * 100)
                    .map(|i| Point::new(T0 + i * STEP, (id as f64) + (i as f64).sin()))
                    .collect(),
            })
            .collect();
        clio_storage::write_points(b, &batch).await.unwrap();
    }
    t.elapsed()
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 95 / 100])
}

async fn reads(b: &dyn StorageBackend) -> ((Duration, Duration), (Duration, Duration)) {
    let mut last = Vec::new();
    let mut range = Vec::new();
    for q in 0..200u64 {
        let id = SeriesId(q % SERIES + 1);
        let t = Instant::now();
        let p = b.read_last(id, 100, i64::MAX).await.unwrap();
        last.push(t.elapsed());
        assert_eq!(p.len(), 100);
        let from = T0 + ((q as i64 * 37) % (POINTS - 360)) * STEP;
        let t = Instant::now();
        let p = b
            .read_range(id, from, from + 3_600_000, usize::MAX)
            .await
            .unwrap();
        range.push(t.elapsed());
        assert_eq!(p.len(), 360);
    }
    (percentiles(last), percentiles(range))
}

fn engine_options(dir: &std::path::Path) -> EngineOptions {
    let mut o = EngineOptions::new(dir);
    o.cache_service_interval = Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o
}

fn spec(name: &str, kind: &str, open: clio_core::Opener) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        kind: kind.into(),
        open,
    }
}

/// Writes through the engine (100 calls of 1000 points) and flushes; points per second
/// until the primary holds them.
async fn ingest(store: &Store) -> f64 {
    let t = Instant::now();
    for call in 0..100i64 {
        let pts: Vec<IncomingPoint> = (0..1000i64)
            .map(|i| IncomingPoint {
                series: SeriesRef::Id(SeriesId((i % SERIES as i64) as u64 + 1)),
                ts: Some(T0 + (call * 10 + i / SERIES as i64) * STEP),
                value: Value::Num(i as f64),
            })
            .collect();
        store.write(pts).await.unwrap();
    }
    store.flush().await.unwrap();
    100_000.0 / t.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn measure() {
    let points = (SERIES as i64 * POINTS) as f64;
    let influx = common::fresh_backend("measure").await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteBackend::open(SqliteOptions::new(dir.path().join("m.db"))).unwrap();

    let ti = fill(&influx).await;
    let ts = fill(&sqlite).await;
    println!(
        "flush (write_points, 10 000 points per call, trends included): influxdb {:.0} points/s, sqlite {:.0} points/s",
        points / ti.as_secs_f64(),
        points / ts.as_secs_f64()
    );
    let (il, ir) = reads(&influx).await;
    let (sl, sr) = reads(&sqlite).await;
    println!(
        "read_last 100: influxdb median {:?} p95 {:?}; sqlite median {:?} p95 {:?}",
        il.0, il.1, sl.0, sl.1
    );
    println!(
        "read_range 1 h (360 points): influxdb median {:?} p95 {:?}; sqlite median {:?} p95 {:?}",
        ir.0, ir.1, sr.0, sr.1
    );

    // Through the engine: InfluxDB primary.
    let o = common::shared().options(&common::fresh_database("measure_primary"));
    let d = tempfile::tempdir().unwrap();
    let open: clio_core::Opener = {
        let o = o.clone();
        Arc::new(move || {
            let o = o.clone();
            Box::pin(async move {
                Ok(Arc::new(InfluxBackend::open(o).await?) as Arc<dyn StorageBackend>)
            })
        })
    };
    let topology = Topology {
        primary: spec("influx", "influxdb", open.clone()),
        replicas: vec![],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(engine_options(d.path()), topology)
        .await
        .unwrap();
    let primary_rate = ingest(&store).await;
    store.close().await.unwrap();

    // SQLite primary with an InfluxDB replica: the primary's rate, then the replica's catch-up.
    let o = common::shared().options(&common::fresh_database("measure_replica"));
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("main.db");
    let sqlite_open: clio_core::Opener = Arc::new(move || {
        let path = path.clone();
        Box::pin(async move {
            Ok(Arc::new(SqliteBackend::open(SqliteOptions::new(path))?) as Arc<dyn StorageBackend>)
        })
    });
    let replica_open: clio_core::Opener = Arc::new(move || {
        let o = o.clone();
        Box::pin(
            async move { Ok(Arc::new(InfluxBackend::open(o).await?) as Arc<dyn StorageBackend>) },
        )
    });
    let topology = Topology {
        primary: spec("main", "sqlite", sqlite_open),
        replicas: vec![spec("influx", "influxdb", replica_open)],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(engine_options(d.path()), topology)
        .await
        .unwrap();
    let t = Instant::now();
    let sqlite_rate = ingest(&store).await;
    loop {
        let st = store.storage_status();
        if st.backends[1]
            .replica
            .as_ref()
            .is_some_and(|r| r.lag_points == 0 && st.backends[1].state == "following")
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "replica never caught up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let replica_rate = 100_000.0 / t.elapsed().as_secs_f64();
    store.close().await.unwrap();
    println!(
        "ingest through the engine (100 000 points, write + flush): influxdb primary {primary_rate:.0} points/s; sqlite primary {sqlite_rate:.0} points/s with an influxdb replica caught up at {replica_rate:.0} points/s"
    );
}
