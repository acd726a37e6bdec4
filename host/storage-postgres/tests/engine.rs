//! PostgreSQL behind Clio's engine: as the replica of a SQLite primary and as the primary
//! with a SQLite replica (contents compared with the other backend), and the plain-rows view
//! read with `psql` as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clio_core::{BackendSpec, EngineOptions, IncomingPoint, SeriesRef, Store, Topology};
use clio_storage::{
    Expiry, SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, StorageBackend, Timestamp, Value,
};
use clio_storage_postgres::{PgBackend, PgOptions};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

fn engine_options(dir: &Path) -> EngineOptions {
    let mut o = EngineOptions::new(dir);
    o.cache_service_interval = Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o
}

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

fn sqlite_spec(name: &str, path: std::path::PathBuf) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        kind: "sqlite".into(),
        open: Arc::new(move || {
            let path = path.clone();
            Box::pin(async move {
                let b = SqliteBackend::open(SqliteOptions::new(path))?;
                Ok(Arc::new(b) as Arc<dyn StorageBackend>)
            })
        }),
    }
}

fn pt(id: u64, ts: Timestamp, v: f64) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Id(SeriesId(id)),
        ts: Some(ts),
        value: Value::Num(v),
    }
}

fn kpt(k: &str, ts: Timestamp, v: impl Into<Value>) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Key(k.parse::<SeriesKey>().unwrap()),
        ts: Some(ts),
        value: v.into(),
    }
}

/// Everything a backend holds, in a comparable form (trend sums to 12 significant digits:
/// SQLite adds them up in its own order).
async fn contents(b: &dyn StorageBackend) -> String {
    let mut out = String::new();
    for s in b.list_series(&SeriesFilter::default()).await.unwrap() {
        out.push_str(&format!(
            "series {} {:?} {:?}\n",
            s.id,
            s.key.as_ref().map(|k| k.to_string()),
            s.settings
        ));
        for p in b
            .read_range(s.id, Timestamp::MIN, Timestamp::MAX, usize::MAX)
            .await
            .unwrap()
        {
            out.push_str(&format!("  {} {:?}\n", p.ts, p.value));
        }
        for &i in b.trend_intervals() {
            for t in b
                .read_trends(s.id, i, Timestamp::MIN, Timestamp::MAX)
                .await
                .unwrap()
            {
                out.push_str(&format!(
                    "  trend {i} {} n={} sum={:.12e} sq={:.12e} min={} max={} first={}@{} last={}@{}\n",
                    t.start, t.count, t.sum, t.sum_sq, t.min, t.max, t.first, t.first_ts, t.last, t.last_ts
                ));
            }
        }
    }
    out
}

#[track_caller]
fn same(a: &str, b: &str) {
    if a != b {
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        let i = la
            .iter()
            .zip(&lb)
            .position(|(x, y)| x != y)
            .unwrap_or(la.len().min(lb.len()));
        let ctx = |l: &[&str]| l[i.saturating_sub(3)..(i + 3).min(l.len())].join("\n");
        panic!(
            "contents differ at line {i} ({} vs {} lines):\n--- left\n{}\n--- right\n{}",
            la.len(),
            lb.len(),
            ctx(&la),
            ctx(&lb)
        );
    }
}

async fn caught_up(store: &Store) {
    for _ in 0..1600 {
        let st = store.storage_status();
        if st.backends[1..].iter().all(|b| {
            b.state == "following"
                && b.replica
                    .as_ref()
                    .is_some_and(|r| r.lag_seconds == 0.0 && r.lag_points == 0)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("replica did not catch up: {:#?}", store.storage_status());
}

/// Numeric and keyed series (tags, several fields of one tag set), late and replaced points,
/// deletions, retention and settings changes, with flushes in between.
async fn workload(store: &Store, round: i64) {
    let minute = 60_000;
    let base = 1_700_000_000_000 + round * 100 * minute;
    for s in 1..=5u64 {
        store
            .write(
                (0..50)
                    .map(|i| pt(s, base + i * minute, (s as f64) * 1.5 + i as f64 * 0.25))
                    .collect(),
            )
            .await
            .unwrap();
    }
    let mut keyed = Vec::new();
    for i in 0..30 {
        let ts = base + i * minute;
        keyed.push(kpt("boiler,plant=north,unit=1 temp", ts, 80.0 + i as f64));
        keyed.push(kpt(
            "boiler,plant=north,unit=1 pressure",
            ts,
            2.0 + i as f64 / 10.0,
        ));
        keyed.push(kpt("boiler,plant=south,unit=2 temp", ts, 70.0 - i as f64));
        keyed.push(kpt("pump,plant=north state", ts, format!("run {i}")));
    }
    store.write(keyed).await.unwrap();
    store.flush().await.unwrap();
    store
        .write(vec![
            pt(1, base + 3 * minute, -7.0),
            pt(2, base - minute / 2, 4.5),
        ])
        .await
        .unwrap();
    store
        .write(vec![pt(3, base + 70 * minute, 1.0)])
        .await
        .unwrap();
    store
        .delete_points(SeriesId(3), base + 60 * minute, base + 80 * minute)
        .await
        .unwrap();
    store
        .delete_points(SeriesId(4), base + 10 * minute, base + 12 * minute)
        .await
        .unwrap();
    store
        .update_series(
            SeriesId(5),
            &SeriesUpdate {
                keep_history_days: Some(10 + round as u32),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .expire(&[Expiry {
            series: SeriesId(2),
            raw_before: Some(base + 5 * minute),
            trends_before: vec![],
        }])
        .await
        .unwrap();
    store.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_primary_with_postgres_replica_same_contents() {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = common::cluster().new_database("replica");
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
    let mut pg = common::cluster().new_database("primary");
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
    let mut pg = common::cluster().new_database("view");
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
