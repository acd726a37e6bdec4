//! History functions through the server: HTTP (`/api/v1/series/{id}/fn/{name}`,
//! `/api/v1/fn`, `/api/v1/functions`, `/api/v1/plugins`, `/api/v1/plugins/reload`) and the
//! TCP `fn` message, with the test guests of `tests/plugins` over a real engine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_config::Config;
use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_plugins::{PluginHost, PluginOptions, TEST_PLUGINS_DIR};
use clio_server::AppState;
use clio_server::tcp::Message;
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_000_000_000;
const END: i64 = T0 + 100_000;

struct Srv {
    addr: std::net::SocketAddr,
    state: AppState,
    plugin_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start() -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
    let mut eo = EngineOptions::new(dir.path());
    eo.timestamp_max_past = None;
    eo.timestamp_max_future = None;
    let (store, _) = Store::open(eo, Arc::new(backend)).await.unwrap();
    let pts = (0..100)
        .map(|i| IncomingPoint {
            series: SeriesRef::Id(SeriesId(7)),
            ts: Some(T0 + i * 1000),
            value: Value::Num(i as f64),
        })
        .collect();
    store.write(pts).await.unwrap();
    let plugin_dir = dir.path().join("plugins");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    for f in ["test_plugin_ok.wasm", "test_plugin_hostile.wasm"] {
        std::fs::copy(Path::new(TEST_PLUGINS_DIR).join(f), plugin_dir.join(f)).unwrap();
    }
    let state = AppState::new(store.clone(), Config::default(), CancellationToken::new());
    let opts = PluginOptions {
        user_dir: Some(plugin_dir.clone()),
        cache_dir: Some(dir.path().join("plugin-cache")),
        watch: false,
        ..PluginOptions::default()
    };
    state.set_plugins(PluginHost::new(opts, store).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = clio_server::http::router(state.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Srv {
        addr,
        state,
        plugin_dir,
        _dir: dir,
    }
}

/// A minimal HTTP/1.1 exchange: (status, JSON body).
async fn http(s: &Srv, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_over_http() {
    let s = start().await;
    let (st, v) = http(
        &s,
        "GET",
        &format!("/api/v1/series/7/fn/testavg?args=%2310&at={END}"),
        None,
    )
    .await;
    assert_eq!((st, v), (200, json!({"value": 94.5})));
    let (st, v) = http(
        &s,
        "GET",
        &format!("/api/v1/series/7/fn/testavg?args=%23x&at={END}"),
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("num"), "{v}");
    let (st, _) = http(&s, "GET", "/api/v1/series/7/fn/nosuch", None).await;
    assert_eq!(st, 404);
    // A series never written is an empty window: no data, not an error.
    let (st, v) = http(&s, "GET", "/api/v1/series/8/fn/testavg?args=%231", None).await;
    assert_eq!((st, v["value"].clone()), (200, Json::Null));
    let (st, v) = http(
        &s,
        "GET",
        "/api/v1/series/7/fn/testavg?args=%231&colour=1",
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("colour"));
    let started = Instant::now();
    let (st, v) = http(&s, "GET", "/api/v1/series/7/fn/hostile?args=loop", None).await;
    assert_eq!(st, 500);
    assert!(v["error"].as_str().unwrap().contains("timed out"), "{v}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let batch = json!([
        {"series": 7, "function": "testavg", "args": "#2", "at": END},
        {"series": 7, "function": "hostile", "args": "trap"},
        {"series": 7, "function": "nosuch"},
        {"series": "7", "function": "testavg", "args": ["#4"], "at": END},
    ]);
    let (st, v) = http(&s, "POST", "/api/v1/fn", Some(batch)).await;
    assert_eq!(st, 200);
    assert_eq!(v[0], json!({"value": 98.5}));
    assert_eq!(v[1]["kind"], "trap");
    assert_eq!(v[1]["status"], 500);
    assert_eq!(v[2]["status"], 404);
    assert_eq!(v[3], json!({"value": 97.5}));
    let (st, v) = http(&s, "POST", "/api/v1/fn", Some(json!([{"series": 7}]))).await;
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("function"), "{v}");

    let (st, v) = http(&s, "GET", "/api/v1/functions", None).await;
    assert_eq!(st, 200);
    assert_eq!(v[1]["name"], "testavg");
    assert_eq!(v[1]["params"][0]["name"], "num");
    let (st, v) = http(&s, "GET", "/api/v1/plugins", None).await;
    assert_eq!(st, 200);
    let hostile = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hostile")
        .unwrap();
    assert_eq!(hostile["errors"], 2);
    assert_eq!(hostile["sha256"].as_str().unwrap().len(), 64);

    std::fs::remove_file(s.plugin_dir.join("test_plugin_hostile.wasm")).unwrap();
    let (st, v) = http(&s, "POST", "/api/v1/plugins/reload", None).await;
    assert_eq!(st, 200);
    assert_eq!(v["removed"].as_array().unwrap().len(), 1);
    let (st, _) = http(&s, "GET", "/api/v1/series/7/fn/hostile?args=ok", None).await;
    assert_eq!(st, 404);

    // End-to-end latency of one evaluation over HTTP (connection per request).
    let mut lat = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let (st, _) = http(
            &s,
            "GET",
            &format!("/api/v1/series/7/fn/testavg?args=%2310&at={END}"),
            None,
        )
        .await;
        assert_eq!(st, 200);
        lat.push(t.elapsed());
    }
    lat.sort();
    eprintln!(
        "fn over HTTP: p50 {:?} p99 {:?}",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_over_tcp_messages() {
    let s = start().await;
    let m = Message::parse(
        &json!({"msg": "fn", "series": 7, "function": "testavg", "args": "#10", "at": END}),
    )
    .unwrap();
    assert_eq!(m.op(), "fn");
    assert!(!m.is_write());
    assert_eq!(
        m.execute(&clio_server::Gate::new(
            s.state.clone(),
            clio_server::RequestContext::trusted("tcp")
        ))
        .await
        .unwrap(),
        json!({"value": 94.5})
    );
    let m = Message::parse(&json!({"msg": "fn", "series": 7, "function": "testavg", "args": "#x"}))
        .unwrap();
    assert_eq!(
        m.execute(&clio_server::Gate::new(
            s.state.clone(),
            clio_server::RequestContext::trusted("tcp")
        ))
        .await
        .unwrap_err()
        .status(),
        400
    );
    let e = Message::parse(&json!({"msg": "fn", "series": 7})).unwrap_err();
    assert!(e.to_string().contains("function"), "{e}");
    let e = Message::parse(&json!({"msg": "fn", "series": 7, "function": "f", "argz": ""}))
        .unwrap_err();
    assert!(e.to_string().contains("argz"), "{e}");
}
