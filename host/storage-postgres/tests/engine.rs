//! PostgreSQL behind Clio's engine: as the replica of a SQLite primary and as the primary
//! with a SQLite replica (contents compared with the other backend), and the plain-rows view
//! read with `psql` as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clio_core::{BackendSpec, Store, Topology};
use clio_storage::{SeriesId, StorageBackend};
use clio_storage_postgres::{PgBackend, PgOptions};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

fn pg_spec(name: &str, o: PgOptions) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        kind: "postgres".into(),
        open: Arc::new(move || {
            let o = o.clone();
            Box::pin(async move {
                let b = PgBackend::open(o).await?;
                Ok(Arc::new(b) as Arc<dyn StorageBackend>)
            })
        }),
    }
}

#[path = "../../../tests/support/engine_kit.rs"]
mod engine_kit;
use engine_kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_primary_with_postgres_replica_same_contents() {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = common::new_database("replica");
    pg.pool_size = 4;
    let topology = Topology {
        primary: sqlite_spec("main", dir.path().join("main.db")),
        replicas: vec![pg_spec("pg", pg.clone())],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(engine_options(dir.path()), topology)
        .await
        .unwrap();
    caught_up(&store).await;
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
    let replica = PgBackend::open(pg).await.unwrap();
    same(&contents(&replica).await, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_primary_with_sqlite_replica_same_contents() {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = common::new_database("primary");
    pg.pool_size = 4;
    let topology = Topology {
        primary: pg_spec("pg", pg.clone()),
        replicas: vec![sqlite_spec("copy", dir.path().join("copy.db"))],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(engine_options(dir.path()), topology)
        .await
        .unwrap();
    caught_up(&store).await;
    for round in 0..3 {
        workload(&store, round).await;
    }
    store.delete_series(SeriesId(4)).await.unwrap();
    store.flush().await.unwrap();
    caught_up(&store).await;
    store.close().await.unwrap();

    let primary = PgBackend::open(pg).await.unwrap();
    let want = contents(&primary).await;
    assert!(want.contains("series 1 ") && want.contains("trend") && want.contains("pump"));
    assert!(!want.contains("series 4 "));
    let copy = SqliteBackend::open(SqliteOptions::new(dir.path().join("copy.db"))).unwrap();
    same(&contents(&copy).await, &want);
    copy.close().await.unwrap();
}

/// `psql -At -c …` against this binary's cluster; the output lines.
fn psql(o: &PgOptions, sql: &str) -> Vec<String> {
    let c = common::cluster();
    let out = Command::new(c.bin_dir().join("psql"))
        .args([
            "-h",
            &o.host,
            "-p",
            &o.port.to_string(),
            "-U",
            &o.username,
            "-d",
            &o.database,
        ])
        .args(["-X", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_recent_points_as_plain_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = common::new_database("view");
    pg.pool_size = 4;
    let topology = Topology {
        primary: pg_spec("pg", pg.clone()),
        replicas: vec![],
        read_failover: false,
        replica_max_log_bytes: 1 << 30,
        lag_warn: Duration::from_secs(600),
    };
    let (store, _) = Store::open_topology(engine_options(dir.path()), topology)
        .await
        .unwrap();
    // Recent points (the view keeps the last 24 hours by default), whole seconds.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        / 1000
        * 1000;
    let mut pts = Vec::new();
    for i in 0..10 {
        pts.push(kpt(
            "boiler,plant=north,unit=1 temp",
            now - 60_000 * (10 - i),
            80.0 + i as f64,
        ));
    }
    pts.push(kpt("pump,plant=north state", now - 1000, "run"));
    pts.push(pt(42, now - 2000, 1.25));
    // An old point: in the chunks, not in the view.
    pts.push(pt(42, now - 3 * 86_400_000, 9.0));
    store.write(pts).await.unwrap();
    store.flush().await.unwrap();
    // A replaced value shows once, with the new value.
    store
        .write(vec![kpt(
            "boiler,plant=north,unit=1 temp",
            now - 60_000,
            99.5,
        )])
        .await
        .unwrap();
    store.flush().await.unwrap();
    store.close().await.unwrap();

    let rows = psql(
        &pg,
        "SELECT series_key, measurement, tags->>'plant', field, \
                to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), value, text_value \
         FROM clio.points WHERE measurement = 'boiler' ORDER BY time",
    );
    assert_eq!(rows.len(), 10, "{rows:?}");
    assert!(
        rows[0].starts_with("boiler,plant=north,unit=1 temp|boiler|north|temp|"),
        "{}",
        rows[0]
    );
    assert!(rows[0].ends_with("|80|"), "{}", rows[0]);
    assert!(rows[9].ends_with("|99.5|"), "{}", rows[9]);
    let rows = psql(
        &pg,
        "SELECT series_id, series_key IS NULL, value, text_value FROM clio.points \
         WHERE measurement IS DISTINCT FROM 'boiler' ORDER BY series_id",
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], "42|t|1.25|");
    assert!(rows[1].ends_with("|f||run"), "{}", rows[1]);
    // time is a real timestamptz: Grafana-style bucketing works.
    let rows = psql(
        &pg,
        "SELECT count(*) FROM clio.points WHERE time > now() - interval '1 hour'",
    );
    assert_eq!(rows, vec!["12".to_owned()]);
}
