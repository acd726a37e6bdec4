//! The Glass AI tables' background jobs against a real engine (SQLite) and the tables on
//! SQLite and on a throwaway PostgreSQL cluster (tests/support/pg_cluster.rs): the zombie
//! registry following the sensors table through a real housekeeper run, and the quality
//! schedule writing one row per (model, period, metric) however often it runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/glass_db.rs"]
mod glass_db;
#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

use std::sync::Arc;
use std::time::Duration;

use clio_config::GlassQualityConfig;
use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_glass::Glass;
use clio_housekeeper::{Housekeeper, HousekeeperOptions, KeepPolicy};
use clio_server::glass_jobs::quality::{QualityMetrics, QualitySchedule};
use clio_server::glass_jobs::zombies::{SENSOR_META, SensorZombies};
use clio_storage::{SeriesId, SeriesKey, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use glass_db::Db;
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

async fn open(db: Db, dir: &std::path::Path, name: &str) -> (Store, Glass) {
    let backend = SqliteBackend::open(SqliteOptions::new(dir.join("clio.db"))).unwrap();
    let mut eo = EngineOptions::new(dir);
    eo.timestamp_max_past = None;
    eo.timestamp_max_future = None;
    let (store, _) = Store::open(eo, Arc::new(backend)).await.unwrap();
    let target = glass_db::target(db, dir, name);
    (store, Glass::open(&target).await.unwrap())
}

async fn series(store: &Store, key: &str) -> SeriesId {
    let k: SeriesKey = key.parse().unwrap();
    let now = clio_core::now_ms();
    store
        .write(
            (0..10)
                .map(|i| IncomingPoint {
                    series: SeriesRef::Key(k.clone()),
                    ts: Some(now - i * 1000),
                    value: Value::Num(i as f64),
                })
                .collect(),
        )
        .await
        .unwrap();
    store.series_id(&k).unwrap()
}

async fn sensor(glass: &Glass, id: &str, link: Json) -> i64 {
    let mut row = json!({"sensor_id": id, "name": id, "type": "temperature"});
    for (k, v) in link.as_object().unwrap() {
        row[k] = v.clone();
    }
    glass.create("sensors", &row).await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn zombies_follow_the_sensors(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (store, glass) = open(db, dir.path(), "glass_zombies").await;
    let a = series(&store, "sensor_data,sensor_id=A value").await;
    let b = series(&store, "sensor_data,sensor_id=B value").await;
    let c = series(&store, "sensor_data,sensor_id=C value").await;
    let free = series(&store, "cpu,host=x usage").await;
    let row_a = sensor(
        &glass,
        "A",
        json!({"series_key": "sensor_data,sensor_id=A value"}),
    )
    .await;
    sensor(&glass, "B", json!({"series_id": b.0})).await;
    let row_c = sensor(
        &glass,
        "C",
        json!({"series_key": "sensor_data,sensor_id=C value"}),
    )
    .await;
    let zombies = SensorZombies::new(store.clone(), glass.clone());
    let hk = Housekeeper::new(
        store.clone(),
        Arc::new(KeepPolicy),
        HousekeeperOptions {
            pause: Duration::from_millis(1),
            ..Default::default()
        },
        dir.path().join("hk.json"),
    );
    hk.set_zombie_source(zombies.clone().source());
    assert!(hk.status().zombie_source);
    // The links are learnt: each linked series is marked with its sensor, nothing is a zombie.
    assert_eq!(zombies.sync().await.unwrap(), Vec::<SeriesId>::new());
    for (id, s) in [(a, "A"), (b, "B"), (c, "C")] {
        let info = store.series(id).unwrap();
        assert_eq!(
            info.settings.metadata.get(SENSOR_META).map(String::as_str),
            Some(s)
        );
    }
    assert!(store.series(free).unwrap().settings.metadata.is_empty());
    // A deleted: its series is a zombie. C deleted and created again: revived.
    glass.delete("sensors", row_a).await.unwrap();
    glass.delete("sensors", row_c).await.unwrap();
    assert_eq!(zombies.sync().await.unwrap().len(), 2);
    sensor(
        &glass,
        "C",
        json!({"series_key": "sensor_data,sensor_id=C value"}),
    )
    .await;
    let r = hk.run_once(&CancellationToken::new()).await;
    assert_eq!((r.zombies, r.error.as_deref()), (1, None), "{r:?}");
    assert!(store.series(a).is_none(), "A's series is removed");
    for id in [b, c, free] {
        assert!(store.series(id).is_some(), "series {id} is kept");
    }
    // The next run removes nothing more.
    let r = hk.run_once(&CancellationToken::new()).await;
    assert_eq!(r.zombies, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombies_follow_the_sensors_on_sqlite() {
    zombies_follow_the_sensors(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombies_follow_the_sensors_on_postgres() {
    zombies_follow_the_sensors(Db::Postgres).await;
}

const HOUR: i64 = 3_600_000;

async fn prediction(glass: &Glass, model: &str, ts: i64, p: Json, actual: Json) -> i64 {
    let mut row = json!({"model_name": model, "timestamp": ts, "prediction": p});
    // No actual result yet: the column is left out (NULL).
    if !actual.is_null() {
        row["actual_result"] = actual;
    }
    glass.create("predictions", &row).await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// `quality_metrics` rows as (model, period_start, metric) → (value, samples), failing on a
/// duplicate.
async fn metric_rows(
    glass: &Glass,
) -> std::collections::BTreeMap<(String, i64, String), (f64, i64)> {
    let page = glass
        .list("quality_metrics", &[("limit".into(), "1000".into())])
        .await
        .unwrap();
    let mut out = std::collections::BTreeMap::new();
    for r in page.items {
        let k = (
            r["model_name"].as_str().unwrap().to_string(),
            r["period_start"].as_i64().unwrap(),
            r["metric"].as_str().unwrap().to_string(),
        );
        let v = (r["value"].as_f64().unwrap(), r["samples"].as_i64().unwrap());
        assert!(out.insert(k.clone(), v).is_none(), "two rows for {k:?}");
    }
    out
}

async fn quality_on_a_schedule(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (_store, glass) = open(db, dir.path(), "glass_quality").await;
    let now = clio_core::now_ms();
    let this_hour = now / HOUR * HOUR;
    let last_hour = this_hour - HOUR;
    // A classifier (3 of 4 right this hour, 1 of 2 last hour) and a regressor.
    for (p, a) in [
        ("ok", "ok"),
        ("crack", "crack"),
        ("ok", "ok"),
        ("ok", "crack"),
    ] {
        prediction(
            &glass,
            "cls",
            this_hour + 1,
            json!({"label": p}),
            json!({"label": a}),
        )
        .await;
    }
    let late = prediction(
        &glass,
        "cls",
        last_hour + 5,
        json!({"label": "ok"}),
        json!(null),
    )
    .await;
    prediction(
        &glass,
        "cls",
        last_hour + 6,
        json!({"label": "ok"}),
        json!({"label": "ok"}),
    )
    .await;
    prediction(&glass, "reg", this_hour + 2, json!(10.0), json!(12.0)).await;
    // Two hours ago: outside the lookback, never computed.
    prediction(&glass, "cls", last_hour - HOUR, json!("x"), json!("x")).await;
    let config = GlassQualityConfig {
        enabled: true,
        every: "100ms".into(),
        periods: vec!["1h".into()],
        lookback: 1,
        models: Vec::new(),
    };
    let metrics = QualityMetrics::default();
    let schedule = QualitySchedule::new(glass.clone(), &config, metrics.clone());
    // The schedule runs on its own, again and again.
    let stop = CancellationToken::new();
    let task = tokio::spawn(schedule.clone().run(stop.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while metrics.runs.get() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the schedule did not run 3 times"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap();
    assert_eq!(metrics.failures.get(), 0);
    assert!(metrics.last_run.get() > 0.0);
    // The hour may have turned during the runs: then the rows of the new hour are extra; the
    // checks below are on the two hours the data is in.
    let rows = metric_rows(&glass).await;
    let get = |m: &str, start: i64, metric: &str| {
        rows.get(&(m.to_string(), start, metric.to_string()))
            .copied()
    };
    assert_eq!(get("cls", this_hour, "accuracy"), Some((0.75, 4)));
    assert_eq!(get("cls", last_hour, "accuracy"), Some((1.0, 1)));
    assert_eq!(get("reg", this_hour, "mae"), Some((2.0, 1)));
    assert_eq!(get("reg", this_hour, "rmse"), Some((2.0, 1)));
    assert_eq!(get("cls", last_hour - HOUR, "accuracy"), None);
    // Each run wrote the same 4 rows again, replacing the last run's.
    assert!(metrics.rows.get() >= 3 * 4, "{}", metrics.rows.get());
    // A late actual result: the next run recomputes last hour in place.
    glass
        .update(
            "predictions",
            late,
            &json!({"actual_result": {"label": "crack"}}),
        )
        .await
        .unwrap();
    let out = schedule.run_once(now).await;
    assert_eq!(
        (out.computed, out.rows, out.replaced, out.failures),
        (3, 4, 4, 0)
    );
    let rows = metric_rows(&glass).await;
    assert_eq!(
        rows.get(&("cls".to_string(), last_hour, "accuracy".to_string())),
        Some(&(0.5, 2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_on_a_schedule_on_sqlite() {
    quality_on_a_schedule(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_on_a_schedule_on_postgres() {
    quality_on_a_schedule(Db::Postgres).await;
}
