//! The Glass tables on both engines with the same checks: migrations up, down and up again
//! keeping data, validation naming the field, filters, sorting, cursors, all-or-nothing
//! batches. PostgreSQL is a throwaway cluster (tests/support/pg_cluster.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

use clio_glass::{BatchOp, Glass, GlassError, Target};
use serde_json::{Value as Json, json};

async fn sqlite() -> (Glass, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let g = Glass::open(&Target::Sqlite(dir.path().join("glass.db")))
        .await
        .unwrap();
    (g, dir)
}

fn pg_target(prefix: &str) -> Target {
    let mut o = {
        let c = pg_cluster::cluster();
        let db = c.create_database(prefix);
        clio_storage_postgres::PgOptions::new(
            c.socket_dir().to_str().unwrap(),
            c.port,
            &db,
            &c.user,
        )
    };
    o.pool_size = 4;
    o.schema = "glass".into();
    Target::Postgres(o)
}

fn params(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field_of(e: GlassError) -> String {
    match e {
        GlassError::Invalid { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn crud_and_lists(g: &Glass) {
    let line = g
        .create(
            "production_lines",
            &json!({"name": "Line 1", "location": "hall A"}),
        )
        .await
        .unwrap();
    let line_id = line["id"].as_i64().unwrap();
    assert!(line["created_at"].as_i64().unwrap() > 1_600_000_000_000);
    let s = g
        .create(
            "sensors",
            &json!({"sensor_id": "T-1", "name": "furnace top", "type": "temperature",
                    "production_line_id": line_id, "unit": "C", "min_value": 0.0,
                    "max_value": 1600.0, "precision": 1}),
        )
        .await
        .unwrap();
    assert_eq!(s["sensor_id"], "T-1");
    // Validation names the field.
    let e = g
        .create(
            "sensors",
            &json!({"sensor_id": "T-2", "name": "x", "type": "t", "production_line_id": 999}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "production_line_id");
    let e = g
        .create(
            "sensors",
            &json!({"sensor_id": "x".repeat(51), "name": "x", "type": "t"}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "sensor_id");
    let e = g
        .create("sensors", &json!({"sensor_id": "T-3", "type": "t"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "name");
    let e = g
        .create(
            "sensors",
            &json!({"sensor_id": "T-3", "name": "n", "type": "t", "colour": 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "colour");
    let e = g
        .create(
            "sensors",
            &json!({"sensor_id": "T-3", "name": 5, "type": "t"}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "name");
    assert!(matches!(
        g.create("sensors", &json!({"sensor_id": "T-1", "name": "dup", "type": "t"})).await,
        Err(GlassError::Conflict(m)) if m.starts_with("sensor_id")
    ));
    // Update and delete; a referenced line cannot go.
    let sid = s["id"].as_i64().unwrap();
    let u = g
        .update("sensors", sid, &json!({"unit": "K"}))
        .await
        .unwrap();
    assert_eq!(u["unit"], "K");
    assert_eq!(u["name"], "furnace top");
    assert!(matches!(
        g.delete("production_lines", line_id).await,
        Err(GlassError::Conflict(_))
    ));
    // Predictions: filters, JSON paths, sort, cursors.
    let model = g
        .create(
            "ai_models",
            &json!({"name": "defect-cnn", "version": "1.2"}),
        )
        .await
        .unwrap();
    for i in 0..25i64 {
        g.create(
            "predictions",
            &json!({"model_name": if i % 2 == 0 {"defect-cnn"} else {"temp-lstm"},
                    "model_id": if i % 2 == 0 { model["id"].clone() } else { Json::Null },
                    "production_line_id": line_id,
                    "timestamp": 1_700_000_000_000i64 + i * 60_000,
                    "input_data": {"temp": 1200 + i, "zone": {"id": i % 3}},
                    "prediction": {"label": if i % 5 == 0 {"crack"} else {"ok"}, "ok": i % 5 != 0},
                    "confidence": (i as f64) / 25.0}),
        )
        .await
        .unwrap();
    }
    let p = g
        .list(
            "predictions",
            &params(&[("model", "defect-cnn"), ("limit", "5")]),
        )
        .await
        .unwrap();
    assert_eq!(p.items.len(), 5);
    let mut seen = p.items.len();
    let mut cursor = p.next_cursor;
    while let Some(c) = cursor {
        let next = g
            .list(
                "predictions",
                &params(&[("model", "defect-cnn"), ("limit", "5"), ("cursor", &c)]),
            )
            .await
            .unwrap();
        seen += next.items.len();
        cursor = next.next_cursor;
    }
    assert_eq!(seen, 13);
    let crack = g
        .list(
            "predictions",
            &params(&[("json.prediction.label", "crack")]),
        )
        .await
        .unwrap();
    assert_eq!(crack.items.len(), 5);
    let flagged = g
        .list("predictions", &params(&[("json.prediction.ok", "false")]))
        .await
        .unwrap();
    assert_eq!(flagged.items.len(), 5);
    let hot = g
        .list(
            "predictions",
            &params(&[
                ("json.input_data.temp", "gte:1220"),
                ("json.input_data.zone.id", "1"),
            ]),
        )
        .await
        .unwrap();
    // temps 1220..=1224 are i = 20..=24; zone id 1 for i = 22.
    assert_eq!(hot.items.len(), 1);
    assert_eq!(hot.items[0]["input_data"]["temp"], 1222);
    let window = g
        .list(
            "predictions",
            &params(&[
                ("from", "1700000060000"),
                ("to", "2023-11-14T22:18:20Z"),
                ("sort", "-timestamp"),
            ]),
        )
        .await
        .unwrap();
    // [T0 + 1 min, T0 + 5 min): i = 1..=4, newest first.
    let ts: Vec<i64> = window
        .items
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ts,
        vec![
            1_700_000_240_000,
            1_700_000_180_000,
            1_700_000_120_000,
            1_700_000_060_000
        ]
    );
    // Sorted by confidence descending, paged by cursor: every row once, in order.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("sort", "-confidence"), ("limit", "7")];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = g.list("predictions", &params(&q)).await.unwrap();
        all.extend(page.items.iter().map(|r| r["confidence"].as_f64().unwrap()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(
        field_of(
            g.list("predictions", &params(&[("sort", "input_data")]))
                .await
                .unwrap_err()
        ),
        "sort"
    );
    assert_eq!(
        field_of(
            g.list("predictions", &params(&[("confidence", "gte:abc")]))
                .await
                .unwrap_err()
        ),
        "confidence"
    );
    assert_eq!(
        field_of(
            g.list("sensors", &params(&[("json.name.x", "1")]))
                .await
                .unwrap_err()
        ),
        "json.name.x"
    );
    let by_line = g
        .list(
            "sensors",
            &params(&[("line", &line_id.to_string()), ("type", "temperature")]),
        )
        .await
        .unwrap();
    assert_eq!(by_line.items.len(), 1);
}

async fn batches(g: &Glass) {
    let before = g.list("production_lines", &[]).await.unwrap().items.len();
    let ops: Vec<BatchOp> = serde_json::from_value(json!([
        {"op": "create", "table": "production_lines", "data": {"name": "Batch line"}},
        {"op": "create", "table": "equipment", "data": {"name": "press", "type": "press"}},
        {"op": "create", "table": "defects", "data": {"timestamp": 1, "type": "bubble", "confidence": 1.5}}
    ]))
    .unwrap();
    let e = g.batch(&ops).await.unwrap_err();
    assert_eq!(field_of(e), "ops[2].confidence");
    assert_eq!(
        g.list("production_lines", &[]).await.unwrap().items.len(),
        before
    );
    assert!(
        g.list("equipment", &params(&[("name", "press")]))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let ops: Vec<BatchOp> = serde_json::from_value(json!([
        {"op": "create", "table": "production_lines", "data": {"name": "Batch line"}},
        {"op": "create", "table": "equipment", "data": {"name": "press", "type": "press"}},
        {"op": "create", "table": "defects", "data": {"timestamp": 1, "type": "bubble", "confidence": 0.5}}
    ]))
    .unwrap();
    let r = g.batch(&ops).await.unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(
        g.list("production_lines", &[]).await.unwrap().items.len(),
        before + 1
    );
    // A constraint failure in the database itself (a unique pair) rolls back too.
    let ops: Vec<BatchOp> = serde_json::from_value(json!([
        {"op": "create", "table": "configurations", "data": {"scope": "line", "key": "k", "value": 1}},
        {"op": "create", "table": "configurations", "data": {"scope": "line", "key": "k", "value": 2}}
    ]))
    .unwrap();
    assert!(matches!(g.batch(&ops).await, Err(GlassError::Conflict(m)) if m.starts_with("ops[1]")));
    assert!(
        g.list("configurations", &[])
            .await
            .unwrap()
            .items
            .is_empty()
    );
    bulk_creates(g).await;
}

/// Runs of creates into one table go in multi-row statements: the rows come back in the
/// changes' order, and every failure still names its change and rolls everything back.
async fn bulk_creates(g: &Glass) {
    let model = g
        .create("ai_models", &json!({"name": "bulk-model", "version": "1"}))
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let prediction = |i: i64, model_id: i64| {
        json!({"op": "create", "table": "predictions", "data": {
            "model_name": "bulk-model", "model_id": model_id, "timestamp": 1_600_000_000_000i64 + i,
            "input_data": {"i": i}, "prediction": {"label": if i % 2 == 0 {"ok"} else {"crack"}},
            "confidence": 0.5}})
    };
    // 2,500 rows: more than one statement; a bad reference, a bad value and a database
    // constraint far into the run are each named.
    let ops = |bad: Option<(usize, Json)>| -> Vec<BatchOp> {
        let mut v: Vec<Json> = (0..2500).map(|i| prediction(i, model)).collect();
        if let Some((at, op)) = bad {
            v[at] = op;
        }
        serde_json::from_value(Json::Array(v)).unwrap()
    };
    let count = |g: &Glass| {
        let g = g.clone();
        async move {
            g.list(
                "predictions",
                &params(&[("model", "bulk-model"), ("limit", "1000")]),
            )
            .await
            .unwrap()
            .items
            .len()
        }
    };
    let e = g
        .batch(&ops(Some((1700, prediction(1700, 99_999)))))
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "ops[1700].model_id");
    let mut bad = prediction(2222, model);
    bad["data"]["confidence"] = json!(7);
    let e = g.batch(&ops(Some((2222, bad)))).await.unwrap_err();
    assert_eq!(field_of(e), "ops[2222].confidence");
    assert_eq!(count(g).await, 0);
    let r = g.batch(&ops(None)).await.unwrap();
    assert_eq!(r.len(), 2500);
    for (i, x) in r.iter().enumerate() {
        assert_eq!(x["op"], "create");
        assert_eq!(
            x["row"]["input_data"]["i"], i as i64,
            "result {i} out of order"
        );
        assert_eq!(x["row"]["timestamp"], 1_600_000_000_000i64 + i as i64);
    }
    let ids: Vec<i64> = r.iter().map(|x| x["row"]["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let got = g.get("predictions", ids[1234]).await.unwrap();
    assert_eq!(got, r[1234]["row"]);
    // Unique columns: twice in the run, or taken already.
    let lines = |names: &[&str]| -> Vec<BatchOp> {
        serde_json::from_value(Json::Array(
            names
                .iter()
                .map(|n| json!({"op": "create", "table": "production_lines", "data": {"name": n}}))
                .collect(),
        ))
        .unwrap()
    };
    assert!(matches!(
        g.batch(&lines(&["B1", "B2", "B1"])).await,
        Err(GlassError::Conflict(m)) if m.starts_with("ops[2]: name")
    ));
    assert!(matches!(
        g.batch(&lines(&["B1", "Batch line", "B3"])).await,
        Err(GlassError::Conflict(m)) if m.starts_with("ops[1]: name")
    ));
    assert_eq!(g.batch(&lines(&["B1", "B2", "B3"])).await.unwrap().len(), 3);
    // A unique pair only the database knows, far into a run: named by a row-by-row retry.
    let mut cfg: Vec<Json> = (0..1500)
        .map(|i| {
            json!({"op": "create", "table": "configurations",
                        "data": {"scope": "bulk", "key": format!("k{i}"), "value": i}})
        })
        .collect();
    cfg[1400]["data"]["key"] = json!("k7");
    let cfg: Vec<BatchOp> = serde_json::from_value(Json::Array(cfg)).unwrap();
    assert!(matches!(
        g.batch(&cfg).await,
        Err(GlassError::Conflict(m)) if m.starts_with("ops[1400]")
    ));
    assert!(
        g.list("configurations", &params(&[("scope", "bulk")]))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn migrations_keep_data(target: &Target) {
    let g = Glass::open(target).await.unwrap();
    let st = g.migration_status().await.unwrap();
    assert_eq!(st.current, clio_glass::latest_version());
    g.create("production_lines", &json!({"name": "kept"}))
        .await
        .unwrap();
    g.create(
        "sensors",
        &json!({"sensor_id": "P-7", "name": "pressure", "type": "pressure"}),
    )
    .await
    .unwrap();
    g.create(
        "sensors",
        &json!({"sensor_id": "odd id", "name": "x", "type": "t"}),
    )
    .await
    .unwrap();
    // Down the data step: only the derived keys are cleared.
    let s = g.sensor("P-7").await.unwrap();
    assert_eq!(
        s["series_key"],
        Json::Null,
        "made after the data step: no key"
    );
    assert_eq!(g.migrate_down(Some(2)).await.unwrap(), 2);
    assert_eq!(
        g.migrate_up(None).await.unwrap(),
        clio_glass::latest_version()
    );
    let s = g.sensor("P-7").await.unwrap();
    assert_eq!(s["series_key"], "sensor_data,sensor_id=P-7 value");
    assert_eq!(g.sensor("odd id").await.unwrap()["series_key"], Json::Null);
    // Down to 1 drops the link columns; the rows stay.
    assert_eq!(g.migrate_down(Some(1)).await.unwrap(), 1);
    assert_eq!(g.migration_status().await.unwrap().current, 1);
    assert_eq!(
        g.migrate_up(None).await.unwrap(),
        clio_glass::latest_version()
    );
    let s = g.sensor("P-7").await.unwrap();
    assert_eq!(s["name"], "pressure");
    assert_eq!(s["series_key"], "sensor_data,sensor_id=P-7 value");
    assert_eq!(
        g.list("production_lines", &[]).await.unwrap().items.len(),
        1
    );
    // Down to 0 drops everything; up again makes empty tables.
    assert_eq!(g.migrate_down(Some(0)).await.unwrap(), 0);
    assert_eq!(
        g.migrate_up(None).await.unwrap(),
        clio_glass::latest_version()
    );
    assert!(g.list("sensors", &[]).await.unwrap().items.is_empty());
    assert_eq!(field_of(g.migrate_up(Some(99)).await.unwrap_err()), "to");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crud_filters_cursors() {
    let (g, _d) = sqlite().await;
    crud_and_lists(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crud_filters_cursors() {
    let target = pg_target("glass_crud");
    let g = Glass::open(&target).await.unwrap();
    crud_and_lists(&g).await;
    // The partitioned tables got the current partition and 3 ahead besides DEFAULT, and
    // the predictions of 2023 went to DEFAULT (outside them).
    let Target::Postgres(o) = &target else {
        unreachable!()
    };
    let (client, conn) = o.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    for table in ["predictions", "performance_logs"] {
        let n: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM pg_inherits WHERE inhparent = 'glass.{table}'::regclass"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 5, "{table}");
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM glass.predictions_default", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batch_all_or_nothing() {
    let (g, _d) = sqlite().await;
    batches(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_all_or_nothing() {
    let g = Glass::open(&pg_target("glass_batch")).await.unwrap();
    batches(&g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_down_and_up_keep_data() {
    let dir = tempfile::tempdir().unwrap();
    migrations_keep_data(&Target::Sqlite(dir.path().join("glass.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_down_and_up_keep_data() {
    migrations_keep_data(&pg_target("glass_migrate")).await;
}

async fn newer_schema_is_refused(target: &Target) {
    let g = Glass::open(target).await.unwrap();
    g.create("production_lines", &json!({"name": "x"}))
        .await
        .unwrap();
    // Pretend a newer Clio migrated this database.
    let st = g.migration_status().await.unwrap();
    assert_eq!(st.current, clio_glass::latest_version());
    drop(g);
    bump_version(target).await;
    let e = Glass::open(target).await.unwrap_err();
    assert!(
        matches!(
            e,
            GlassError::SchemaTooNew { found, supported }
                if supported == clio_glass::latest_version() && found == supported + 1
        ),
        "{e:?}"
    );
}

async fn bump_version(target: &Target) {
    match target {
        Target::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            c.execute(
                "INSERT INTO glass_schema_version VALUES (?1, 'future', 0)",
                [clio_glass::latest_version() + 1],
            )
            .unwrap();
        }
        Target::Postgres(o) => {
            let (client, conn) = o.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client
                .execute(
                    "INSERT INTO glass.glass_schema_version VALUES ($1, 'future', 0)",
                    &[&(clio_glass::latest_version() + 1)],
                )
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    newer_schema_is_refused(&Target::Sqlite(dir.path().join("glass.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_newer_schema_is_refused() {
    newer_schema_is_refused(&pg_target("glass_newer")).await;
}
