//! The Glass AI tables over HTTP, the same tests against SQLite (`glass.db` in the data
//! directory) and a throwaway PostgreSQL cluster (tests/support/pg_cluster.rs): CRUD with
//! 4xx errors naming the field, filters, JSON paths, sorting, cursors, an all-or-nothing
//! batch, the sensors' history and functions, and the door's roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/glass_db.rs"]
mod glass_db;
#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;
#[path = "support/serve.rs"]
mod serve;

use std::sync::Arc;

use clio_config::Config;
use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_glass::Glass;
use clio_server::AppState;
use clio_server::auth::{Role, Scope, TokenFile};
use clio_storage::Value;
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use glass_db::Db;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_000_000_000;

struct Srv {
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start(db: Db, config: Config) -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
    let mut eo = EngineOptions::new(dir.path());
    eo.timestamp_max_past = None;
    eo.timestamp_max_future = None;
    let (store, _) = Store::open(eo, Arc::new(backend)).await.unwrap();
    let key: clio_storage::SeriesKey = "sensor_data,sensor_id=T-1 value".parse().unwrap();
    let pts = (0..100)
        .map(|i| IncomingPoint {
            series: SeriesRef::Key(key.clone()),
            ts: Some(T0 + i * 1000),
            value: Value::Num(1000.0 + i as f64),
        })
        .collect();
    store.write(pts).await.unwrap();
    let target = glass_db::target(db, dir.path(), "glass_api");
    let mut config = config;
    config.data_dir = dir.path().to_owned();
    let state = AppState::new(store, config, CancellationToken::new());
    state.set_glass(Glass::open(&target).await.unwrap());
    let addr = serve::serve(state).await;
    Srv { addr, _dir: dir }
}

async fn http_as(
    s: &Srv,
    method: &str,
    path: &str,
    body: Option<Json>,
    token: Option<&str>,
) -> (u16, Json) {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Token {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (_, b) = text.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(b).unwrap_or(Json::Null))
}

async fn http(s: &Srv, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
    http_as(s, method, path, body, None).await
}

fn error_of(v: &Json) -> &str {
    v["error"].as_str().unwrap_or("")
}

async fn api(db: Db) {
    let s = start(db, Config::default()).await;
    let (st, line) = http(
        &s,
        "POST",
        "/api/v1/production_lines",
        Some(json!({"name": "L1"})),
    )
    .await;
    assert_eq!(st, 201, "{line}");
    let line_id = line["id"].as_i64().unwrap();
    // 4xx naming the field.
    for (body, field, status) in [
        (json!({"name": "x", "type": "t"}), "sensor_id", 400),
        (
            json!({"sensor_id": "S", "name": "x", "type": "t", "production_line_id": 404}),
            "production_line_id",
            400,
        ),
        (
            json!({"sensor_id": "S", "name": "x", "type": "t", "min_value": "cold"}),
            "min_value",
            400,
        ),
        (
            json!({"sensor_id": "S", "name": "x", "type": "t", "id": 5}),
            "id",
            400,
        ),
        (
            json!({"sensor_id": "S", "name": "x".repeat(101), "type": "t"}),
            "name",
            400,
        ),
    ] {
        let (st, v) = http(&s, "POST", "/api/v1/sensors", Some(body)).await;
        assert_eq!(st, status, "{v}");
        assert!(error_of(&v).starts_with(field), "{field}: {v}");
    }
    let (st, v) = http(&s, "POST", "/api/v1/sensors", Some(json!("not an object"))).await;
    assert_eq!(st, 400, "{v}");
    let (st, sensor) = http(
        &s,
        "POST",
        "/api/v1/sensors",
        Some(json!({"sensor_id": "T-1", "name": "furnace", "type": "temperature",
                    "production_line_id": line_id, "series_key": "sensor_data,sensor_id=T-1 value"})),
    )
    .await;
    assert_eq!(st, 201, "{sensor}");
    let sid = sensor["id"].as_i64().unwrap();
    let (st, v) = http(
        &s,
        "POST",
        "/api/v1/sensors",
        Some(json!({"sensor_id": "T-1", "name": "x", "type": "t"})),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    assert!(error_of(&v).starts_with("sensor_id"), "{v}");
    // Read, update, delete.
    let (st, v) = http(&s, "GET", &format!("/api/v1/sensors/{sid}"), None).await;
    assert_eq!((st, v["name"].clone()), (200, json!("furnace")));
    let (st, v) = http(
        &s,
        "PATCH",
        &format!("/api/v1/sensors/{sid}"),
        Some(json!({"unit": "C"})),
    )
    .await;
    assert_eq!((st, v["unit"].clone()), (200, json!("C")));
    let (st, _) = http(&s, "GET", "/api/v1/sensors/999", None).await;
    assert_eq!(st, 404);
    let (st, _) = http(&s, "GET", "/api/v1/nosuchtable", None).await;
    assert_eq!(st, 404);
    let (st, v) = http(
        &s,
        "DELETE",
        &format!("/api/v1/production_lines/{line_id}"),
        None,
    )
    .await;
    assert_eq!(st, 409, "the sensor refers to it: {v}");
    // The sensor's history and a function over it, by row id and by sensor_id.
    let (st, v) = http(
        &s,
        "GET",
        &format!(
            "/api/v1/sensors/T-1/history?from={}&to={}",
            T0 + 10_000,
            T0 + 20_000
        ),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["points"].as_array().unwrap().len(), 10);
    assert_eq!(v["points"][0], json!([T0 + 10_000, 1010.0]));
    assert_eq!(v["sensor"]["sensor_id"], "T-1");
    let (st, v) = http(
        &s,
        "GET",
        &format!("/api/v1/sensors/{sid}/history?last=3"),
        None,
    )
    .await;
    assert_eq!(
        (st, v["points"].as_array().map(Vec::len)),
        (200, Some(3)),
        "{v}"
    );
    let (st, v) = http(&s, "GET", "/api/v1/sensors/T-1/history?colour=red", None).await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = http(&s, "GET", "/api/v1/sensors/nobody/history", None).await;
    assert_eq!(st, 404);
    // Predictions: filters by model, line, time, JSON path; sort; cursor.
    for i in 0..30i64 {
        let (st, v) = http(
            &s,
            "POST",
            "/api/v1/predictions",
            Some(json!({"model_name": if i < 20 {"cnn"} else {"lstm"}, "production_line_id": line_id,
                        "timestamp": T0 + i * 1000, "prediction": {"label": if i % 3 == 0 {"crack"} else {"ok"}},
                        "input_data": {"temp": 1200 + i}, "confidence": 0.5})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, v) = http(&s, "GET", &format!("/api/v1/predictions?model=cnn&line={line_id}&json.prediction.label=crack&sort=-timestamp"), None).await;
    assert_eq!(st, 200, "{v}");
    let ts: Vec<i64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ts,
        (0..20)
            .rev()
            .filter(|i| i % 3 == 0)
            .map(|i| T0 + i * 1000)
            .collect::<Vec<_>>()
    );
    let (st, v) = http(
        &s,
        "GET",
        &format!(
            "/api/v1/predictions?from={}&to={}&json.input_data.temp=lt:1207",
            T0 + 5000,
            T0 + 25_000
        ),
        None,
    )
    .await;
    assert_eq!(
        (st, v["items"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{v}"
    );
    let mut ids = Vec::new();
    let mut path = "/api/v1/predictions?limit=8&sort=timestamp".to_string();
    loop {
        let (st, v) = http(&s, "GET", &path, None).await;
        assert_eq!(st, 200, "{v}");
        ids.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/predictions?limit=8&sort=timestamp&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 30);
    let (st, v) = http(
        &s,
        "GET",
        "/api/v1/predictions?limit=8&sort=-timestamp&cursor=bogus",
        None,
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(error_of(&v).starts_with("cursor"));
    let (st, v) = http(&s, "GET", "/api/v1/predictions?json.prediction.a-b=1", None).await;
    assert_eq!(st, 400, "{v}");
    // A failing batch changes nothing; a good one applies every change.
    let (st, v) = http(
        &s,
        "POST",
        "/api/v1/glass/batch",
        Some(json!({"ops": [
            {"op": "create", "table": "defects", "data": {"timestamp": T0, "type": "bubble", "production_line_id": line_id}},
            {"op": "update", "table": "sensors", "id": sid, "data": {"unit": "K"}},
            {"op": "delete", "table": "sensors", "id": 424242}
        ]})),
    )
    .await;
    assert_eq!(st, 404, "{v}");
    assert!(error_of(&v).starts_with("ops[2]"), "{v}");
    let (_, v) = http(&s, "GET", "/api/v1/defects", None).await;
    assert_eq!(v["items"], json!([]));
    let (_, v) = http(&s, "GET", &format!("/api/v1/sensors/{sid}"), None).await;
    assert_eq!(v["unit"], "C");
    let (st, v) = http(
        &s,
        "POST",
        "/api/v1/glass/batch",
        Some(json!({"ops": [
            {"op": "create", "table": "defects", "data": {"timestamp": T0, "type": "bubble", "production_line_id": line_id}},
            {"op": "update", "table": "sensors", "id": sid, "data": {"unit": "K"}}
        ]})),
    )
    .await;
    assert_eq!((st, v["applied"].clone()), (200, json!(2)), "{v}");
    let (_, v) = http(&s, "GET", &format!("/api/v1/sensors/{sid}"), None).await;
    assert_eq!(v["unit"], "K");
    let (st, v) = http(
        &s,
        "POST",
        "/api/v1/glass/batch",
        Some(json!({"ops": [{"op": "explode"}]})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    // Quality on demand: 20 cnn predictions, a third of them "crack", actual results on the
    // first 10 (all "ok"): accuracy = the share of "ok" predictions among them.
    for id in ids.iter().take(10) {
        let (st, v) = http(
            &s,
            "PATCH",
            &format!("/api/v1/predictions/{id}"),
            Some(json!({"actual_result": {"label": "ok"}})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = http(
        &s,
        "POST",
        "/api/v1/glass/quality",
        Some(json!({"model": "cnn", "from": T0, "to": T0 + 30_000, "positive": "crack"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["predictions"], 10, "{v}");
    let metric = |name: &str| {
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .map(|m| m["value"].as_f64().unwrap())
    };
    // i = 0..10: cracks at 0, 3, 6, 9 predicted, none actual.
    assert_eq!(metric("accuracy"), Some(0.6));
    assert_eq!(metric("precision"), Some(0.0));
    assert_eq!(metric("recall"), None, "no actual cracks");
    let (_, v) = http(
        &s,
        "GET",
        "/api/v1/quality_metrics?model=cnn&metric=accuracy",
        None,
    )
    .await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{v}");
    let (st, v) = http(
        &s,
        "POST",
        "/api/v1/glass/quality",
        Some(json!({"model": "cnn", "from": T0})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(error_of(&v).starts_with("to"), "{v}");
    let (st, v) = http(&s, "GET", "/api/v1/glass/migrations", None).await;
    assert_eq!(
        (st, v["current"].clone()),
        (200, json!(clio_glass::latest_version())),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_api_on_sqlite() {
    api(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_api_on_postgres() {
    api(Db::Postgres).await;
}

/// Reads need `read`, changes `write`, migrations `admin`; no token is a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_api_goes_through_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    let mut tokens = TokenFile::default();
    let (reader, _) = tokens
        .create_token("reader", vec![Role::Read], Scope::default())
        .unwrap();
    let (writer, _) = tokens
        .create_token("writer", vec![Role::Read, Role::Write], Scope::default())
        .unwrap();
    tokens.save(&path).unwrap();
    let mut config = Config::default();
    config.auth.enabled = true;
    config.auth.token_file = path.to_string_lossy().into_owned();
    let s = start(Db::Sqlite, config).await;
    let body = || Some(json!({"name": "L"}));
    let (st, _) = http(&s, "GET", "/api/v1/production_lines", None).await;
    assert_eq!(st, 401);
    let (st, _) = http_as(
        &s,
        "POST",
        "/api/v1/production_lines",
        body(),
        Some(&reader),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = http_as(
        &s,
        "POST",
        "/api/v1/production_lines",
        body(),
        Some(&writer),
    )
    .await;
    assert_eq!(st, 201);
    let (st, v) = http_as(&s, "GET", "/api/v1/production_lines", None, Some(&reader)).await;
    assert_eq!((st, v["items"].as_array().map(Vec::len)), (200, Some(1)));
    let (st, _) = http_as(&s, "GET", "/api/v1/glass/migrations", None, Some(&writer)).await;
    assert_eq!(st, 403);
}
