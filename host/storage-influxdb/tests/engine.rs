//! InfluxDB behind Clio's engine, against a real `influxd`: as the replica of a SQLite
//! primary (the Glass AI deployment), contents compared; as the primary while `influxd` is
//! killed and restarted mid-ingest (nothing acknowledged is lost); and the data read back with
//! Debian's `influx` CLI as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clio_core::{BackendSpec, Store, Topology};
use clio_storage::prelude::*;
use clio_storage::{Point, SeriesId, SeriesKey, SeriesPoints, StorageBackend, Timestamp};
use clio_storage_influxdb::{InfluxBackend, InfluxOptions};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

fn influx_spec(name: &str, o: InfluxOptions) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        kind: "influxdb".into(),
        open: Arc::new(move || {
            let o = o.clone();
            Box::pin(async move {
                let b = InfluxBackend::open(o).await?;
                Ok(Arc::new(b) as Arc<dyn StorageBackend>)
            })
        }),
    }
}

#[path = "../../../tests/support/engine_kit.rs"]
mod engine_kit;
use engine_kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_primary_with_influxdb_replica_same_contents() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database("replica");
    let influx = common::shared().options(&db);
    let topology = Topology {
        primary: sqlite_spec("main", dir.path().join("main.db")),
        replicas: vec![influx_spec("influx", influx.clone())],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(engine_options(dir.path()), topology)
        .await
        .unwrap();
    // The workload starts while the new replica's first refill from the primary runs. The
    // refill once deleted and rewrote series one by one, and InfluxDB deletes whole tag sets:
    // the second field of a tag set deleted the first one's fresh points (9 runs of 10 lost
    // them). It now deletes everything first, then writes.
    for round in 0..3 {
        workload(&store, round).await;
    }
    store.delete_series(SeriesId(4)).await.unwrap();
    store.flush().await.unwrap();
    caught_up(&store).await;
    store.close().await.unwrap();

    let main = SqliteBackend::open(SqliteOptions::new(dir.path().join("main.db"))).unwrap();
    let want = contents(&main).await;
    main.close().await.unwrap();
    assert!(want.contains("series 1 ") && want.contains("trend") && want.contains("pump"));
    assert!(!want.contains("series 4 "));
    let replica = InfluxBackend::open(influx).await.unwrap();
    same(&contents(&replica).await, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_killed_and_restarted_mid_ingest_loses_nothing_acknowledged() {
    let mut server = common::Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let mut o = server.options("ingest");
    o.timeout = Duration::from_millis(1500);
    o.retries = 1;
    o.batch_size = 500;
    let mut eo = engine_options(dir.path());
    // The engine flushes by itself, as in production, every 100 ms.
    eo.cache_service_interval = Duration::from_millis(100);
    let topology = Topology {
        primary: influx_spec("influx", o.clone()),
        replicas: vec![],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(eo, topology).await.unwrap();
    let store = Arc::new(store);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut acked: Vec<(u64, Timestamp, f64)> = Vec::new();
            let mut round = 0i64;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<(u64, Timestamp, f64)> = (1..=20u64)
                    .flat_map(|s| {
                        (0..10).map(move |i| {
                            (
                                s,
                                1_700_000_000_000 + (round * 10 + i) * 1000,
                                (round * 10 + i) as f64,
                            )
                        })
                    })
                    .collect();
                let pts = batch.iter().map(|&(s, ts, v)| pt(s, ts, v)).collect();
                if store.write(pts).await.is_ok() {
                    acked.extend(batch);
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let acked = writer.await.unwrap();
    assert!(
        acked.len() > 1000,
        "only {} points acknowledged",
        acked.len()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match store.flush().await {
            Ok(_) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "flush never succeeded: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    store.close().await.unwrap();

    let b = InfluxBackend::open(o).await.unwrap();
    let mut missing = 0;
    for s in 1..=20u64 {
        let want: Vec<Point> = acked
            .iter()
            .filter(|a| a.0 == s)
            .map(|&(_, ts, v)| Point::new(ts, v))
            .collect();
        let got = b
            .read_range(SeriesId(s), Timestamp::MIN, Timestamp::MAX, usize::MAX)
            .await
            .unwrap();
        let got_ts: std::collections::HashSet<Timestamp> = got.iter().map(|p| p.ts).collect();
        missing += want.iter().filter(|p| !got_ts.contains(&p.ts)).count();
        assert!(
            got.len() >= want.len(),
            "series {s}: {} stored, {} acknowledged",
            got.len(),
            want.len()
        );
    }
    assert_eq!(missing, 0, "acknowledged points missing from InfluxDB");
    eprintln!(
        "influxd killed and restarted mid-ingest: {} acknowledged points all stored",
        acked.len()
    );
}

/// `influx -execute … -format json` against the shared server; the parsed answer.
fn influx_cli(db: &str, q: &str) -> serde_json::Value {
    let out = Command::new("influx")
        .args(["-host", "127.0.0.1", "-port"])
        .arg(common::shared().http_port.to_string())
        .args([
            "-database",
            db,
            "-precision",
            "ms",
            "-format",
            "json",
            "-execute",
            q,
        ])
        .output()
        .expect("the influx CLI is not installed (apt-get install influxdb-client)");
    assert!(
        out.status.success(),
        "influx -execute {q:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "influx answer to {q:?} is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_influx_cli_reads_ordinary_measurements() {
    let db = common::fresh_database("cli");
    let b = InfluxBackend::open(common::shared().options(&db))
        .await
        .unwrap();
    let k: SeriesKey = "boiler,plant=north,unit=1 temp".parse().unwrap();
    b.create_series(&[clio_storage::NewSeries {
        id: SeriesId(7),
        key: Some(k),
        settings: Default::default(),
    }])
    .await
    .unwrap();
    let t0 = 1_700_000_000_000;
    let pts: Vec<Point> = (0..120)
        .map(|i| Point::new(t0 + i * 10_000, 60.0 + i as f64 / 2.0))
        .collect();
    clio_storage::write_points(
        &b,
        &[SeriesPoints {
            series: SeriesId(7),
            points: pts.clone(),
        }],
    )
    .await
    .unwrap();

    let j = influx_cli(
        &db,
        "SELECT \"temp\" FROM \"boiler\" WHERE \"plant\" = 'north' AND \"unit\" = '1'",
    );
    let rows = j["results"][0]["series"][0]["values"]
        .as_array()
        .expect("rows")
        .clone();
    assert_eq!(rows.len(), pts.len());
    for (row, p) in rows.iter().zip(&pts) {
        assert_eq!(row[0].as_i64(), Some(p.ts));
        assert_eq!(row[1].as_f64(), p.value.as_f64());
    }
    // The 10-minute trend buckets: 20 minutes of points, two buckets of 60 each.
    let j = influx_cli(
        &db,
        "SELECT \"avg_value\", \"min_value\", \"max_value\", \"std_dev\", \"count\" FROM \"aggregated_data\" \
         WHERE \"aggregation_type\" = '10m' AND \"parameter\" = 'boiler,plant=north,unit=1 temp'",
    );
    let rows = j["results"][0]["series"][0]["values"]
        .as_array()
        .expect("trend rows")
        .clone();
    assert!(!rows.is_empty(), "{j}");
    let counted: i64 = rows.iter().map(|r| r[5].as_i64().unwrap()).sum();
    assert_eq!(counted, 120);
    let first = &rows[0];
    let (min, max) = (first[2].as_f64().unwrap(), first[3].as_f64().unwrap());
    let avg = first[1].as_f64().unwrap();
    assert!(min <= avg && avg <= max, "{first}");
}
