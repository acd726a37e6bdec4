//! `GET /api/v1/export` against a real server on port 0 over a SQLite store: CSV and line
//! protocol byte for byte, steps served from the trend tiers (compared with the trend
//! buckets the points API returns) and from raw points, the scope, parameter errors, and the
//! error trailer of an export that fails after its first byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/serve.rs"]
mod serve;

use std::collections::BTreeMap;
use std::sync::Arc;

use clio_config::Config;
use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_server::AppState;
use clio_server::auth::{Role, Scope, TokenFile};
use clio_storage::{SeriesKey, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A multiple of one day, so that every trend interval's buckets start here.
const T0: i64 = 1_699_920_000_000;

struct Srv {
    addr: std::net::SocketAddr,
    store: Store,
    _dir: tempfile::TempDir,
}

fn key(k: &str) -> SeriesKey {
    k.parse().unwrap()
}

async fn start(config: Config) -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
    let mut eo = EngineOptions::new(dir.path());
    eo.timestamp_max_past = None;
    eo.timestamp_max_future = None;
    let (store, _) = Store::open(eo, Arc::new(backend)).await.unwrap();
    let mut config = config;
    config.data_dir = dir.path().to_owned();
    let state = AppState::new(store.clone(), config, CancellationToken::new());
    let target = clio_glass::Target::Sqlite(dir.path().join("glass.db"));
    state.set_glass(clio_glass::Glass::open(&target).await.unwrap());
    let addr = serve::serve(state).await;
    Srv {
        addr,
        store,
        _dir: dir,
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
    fn error(&self) -> String {
        serde_json::from_str::<Json>(&self.body).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// HTTP/1.0, so that the body ends with the connection and needs no de-chunking.
async fn request(s: &Srv, method: &str, path: &str, body: &str, token: Option<&str>) -> Reply {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Token {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

async fn get(s: &Srv, path: &str) -> Reply {
    request(s, "GET", path, "", None).await
}

async fn write(s: &Srv, k: &str, points: &[(i64, Value)]) -> u64 {
    write_key(s, key(k), points).await
}

async fn write_key(s: &Srv, k: SeriesKey, points: &[(i64, Value)]) -> u64 {
    let pts = points
        .iter()
        .map(|(ts, v)| IncomingPoint {
            series: SeriesRef::Key(k.clone()),
            ts: Some(*ts),
            value: v.clone(),
        })
        .collect();
    s.store.write(pts).await.unwrap();
    s.store.series_id(&k).unwrap().0
}

fn num(v: f64) -> Value {
    Value::Num(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_line_protocol_are_exact() {
    let s = start(Config::default()).await;
    let a = write(&s, "m,host=a v", &[(T0, num(1.0)), (T0 + 1000, num(2.5))]).await;
    let b = write(&s, "m,host=b v", &[(T0 + 500, num(-3.0))]).await;
    let c = write(
        &s,
        "note text",
        &[(T0, Value::Str("a, \"b\"".into())), (T0 + 2000, num(7.0))],
    )
    .await;
    // Named series in the order given, then the pattern's by id, each once.
    let to = T0 + 10_000;
    let r = get(
        &s,
        &format!("/api/v1/export?series={c}&measurement=m&key=m,host%3Db%20v&from={T0}&to={to}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(r.header("x-clio-export-source"), Some("raw"));
    assert_eq!(
        r.body,
        format!(
            "series,key,ts,value\n\
             {c},note text,{T0},\"a, \"\"b\"\"\"\n\
             {c},note text,{},7\n\
             {b},\"m,host=b v\",{},-3\n\
             {a},\"m,host=a v\",{T0},1\n\
             {a},\"m,host=a v\",{},2.5\n",
            T0 + 2000,
            T0 + 500,
            T0 + 1000
        )
    );
    // The range is half-open.
    let r = get(
        &s,
        &format!("/api/v1/export?series={a}&from={}&to={}", T0 + 1, T0 + 1000),
    )
    .await;
    assert_eq!(r.body, "series,key,ts,value\n");
    // Line protocol, ns: writes back through /write unchanged.
    let r = get(
        &s,
        &format!("/api/v1/export?series={a},{c}&from={T0}&to={to}&format=lp&precision=ns"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let ns = |t: i64| t * 1_000_000;
    assert_eq!(
        r.body,
        format!(
            "m,host=a v=1 {}\nm,host=a v=2.5 {}\nnote text=\"a, \\\"b\\\"\" {}\nnote text=7 {}\n",
            ns(T0),
            ns(T0 + 1000),
            ns(T0),
            ns(T0 + 2000)
        )
    );
    // Default precision: ms.
    let r = get(
        &s,
        &format!("/api/v1/export?series={b}&from={T0}&to={to}&format=lp"),
    )
    .await;
    assert_eq!(r.body, format!("m,host=b v=-3 {}\n", T0 + 500));
    // RFC 3339 times are accepted too.
    let r = get(
        &s,
        &format!(
            "/api/v1/export?series={b}&from=2023-11-14T00:00:00Z&to=2023-11-15T00:00:00Z&format=lp"
        ),
    )
    .await;
    assert_eq!(r.body, format!("m,host=b v=-3 {}\n", T0 + 500));
}

/// Trend buckets of one series as the points API returns them: start → (count, sum, min,
/// max, first, last).
async fn trends(s: &Srv, id: u64, res: &str, from: i64, to: i64) -> Vec<Json> {
    let r = get(
        s,
        &format!("/api/v1/series/{id}/points?from={from}&to={to}&resolution={res}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Json = serde_json::from_str(&r.body).unwrap();
    v["trends"].as_array().unwrap().clone()
}

fn csv_rows(body: &str) -> Vec<(i64, f64)> {
    body.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.rsplitn(3, ',').collect();
            (cols[1].parse().unwrap(), cols[0].parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_are_aligned_and_served_from_the_trends() {
    let s = start(Config::default()).await;
    // One point a minute for three hours, values that make every aggregate differ.
    let pts: Vec<(i64, Value)> = (0..180)
        .map(|i| (T0 + i * 60_000, num(((i * 37) % 101) as f64 - 20.0)))
        .collect();
    let id = write(&s, "plant,line=1 temp", &pts).await;
    s.store.flush().await.unwrap();
    let (from, to) = (T0, T0 + 3 * 3_600_000);
    // The 10m tier's buckets, merged by the test into 20 min steps.
    let tier = trends(&s, id, "10m", from, to).await;
    assert_eq!(tier.len(), 18);
    for (agg, pick) in [
        ("avg", None),
        ("min", Some("min")),
        ("max", Some("max")),
        ("first", Some("first")),
        ("last", Some("last")),
        ("sum", Some("sum")),
        ("count", Some("count")),
    ] {
        let r = get(
            &s,
            &format!("/api/v1/export?series={id}&from={from}&to={to}&step=20m&agg={agg}"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-clio-export-source"), Some("trend 10m"));
        assert!(r.body.starts_with(&format!("series,key,ts,{agg}\n")));
        let got = csv_rows(&r.body);
        assert_eq!(got.len(), 9, "{agg}");
        for (n, (ts, v)) in got.iter().enumerate() {
            let (x, y) = (&tier[2 * n], &tier[2 * n + 1]);
            assert_eq!(*ts, x["start"].as_i64().unwrap());
            assert_eq!(*ts, T0 + n as i64 * 1_200_000, "aligned to the step");
            let f = |b: &Json, k: &str| b[k].as_f64().unwrap();
            let want = match pick {
                None => (f(x, "sum") + f(y, "sum")) / (f(x, "count") + f(y, "count")),
                Some("min") => f(x, "min").min(f(y, "min")),
                Some("max") => f(x, "max").max(f(y, "max")),
                Some("first") => f(x, "first"),
                Some("last") => f(y, "last"),
                Some(k) => f(x, k) + f(y, k),
            };
            assert!((v - want).abs() < 1e-9, "{agg} at {ts}: {v} != {want}");
        }
    }
    // A step that is a whole number of 60m buckets comes from that tier; avg by default.
    let r = get(
        &s,
        &format!("/api/v1/export?series={id}&from={from}&to={to}&step=1h"),
    )
    .await;
    assert_eq!(r.header("x-clio-export-source"), Some("trend 1h"));
    let hourly = trends(&s, id, "60m", from, to).await;
    let got = csv_rows(&r.body);
    assert_eq!(got.len(), 3);
    for ((ts, v), b) in got.iter().zip(&hourly) {
        assert_eq!(*ts, b["start"].as_i64().unwrap());
        assert!((v - b["avg"].as_f64().unwrap()).abs() < 1e-9);
    }
    // A step no tier divides is computed from raw points, aligned the same way; a range
    // that starts inside a step gets that whole step.
    let r = get(
        &s,
        &format!(
            "/api/v1/export?series={id}&from={}&to={}&step=5m&agg=max",
            from + 7 * 60_000,
            from + 20 * 60_000
        ),
    )
    .await;
    assert_eq!(r.header("x-clio-export-source"), Some("raw"));
    let got = csv_rows(&r.body);
    let mut want: BTreeMap<i64, f64> = BTreeMap::new();
    for (ts, v) in &pts {
        let Value::Num(v) = v else { unreachable!() };
        if *ts >= from + 5 * 60_000 && *ts < from + 20 * 60_000 {
            let e = want.entry(ts - ts.rem_euclid(300_000)).or_insert(f64::MIN);
            *e = e.max(*v);
        }
    }
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    // The trends outlive raw points: after the raw points of the first hour are deleted, a
    // step from the tiers still covers it and a raw step no longer does.
    s.store
        .delete_points(clio_storage::SeriesId(id), from, from + 3_600_000)
        .await
        .unwrap();
    s.store.flush().await.unwrap();
    let r = get(
        &s,
        &format!("/api/v1/export?series={id}&from={from}&to={to}&step=1h"),
    )
    .await;
    assert_eq!(csv_rows(&r.body).len(), 3);
    let r = get(
        &s,
        &format!("/api/v1/export?series={id}&from={from}&to={to}&step=15m"),
    )
    .await;
    assert_eq!(r.header("x-clio-export-source"), Some("raw"));
    assert_eq!(csv_rows(&r.body).len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_exports_only_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    let mut tokens = TokenFile::default();
    let scope = Scope {
        measurements: vec!["m".into()],
        ..Default::default()
    };
    let (scoped, _) = tokens
        .create_token("scoped", vec![Role::Read], scope)
        .unwrap();
    let (writer, _) = tokens
        .create_token("writer", vec![Role::Read, Role::Write], Scope::default())
        .unwrap();
    tokens.save(&path).unwrap();
    let mut config = Config::default();
    config.auth.enabled = true;
    config.auth.token_file = path.to_string_lossy().into_owned();
    let s = start(config).await;
    let a = write(&s, "m,host=a v", &[(T0, num(1.0))]).await;
    let hidden = write(&s, "secret,host=a v", &[(T0, num(2.0))]).await;
    let q = |sel: &str| format!("/api/v1/export?{sel}&from={T0}&to={}", T0 + 1);
    // No token: 401; an unrestricted token sees both.
    assert_eq!(
        request(&s, "GET", &q("series=1"), "", None).await.status,
        401
    );
    let r = request(&s, "GET", &q("field=v"), "", Some(&writer)).await;
    assert_eq!((r.status, r.body.lines().count()), (200, 3));
    // A pattern silently leaves out what the scope hides.
    let r = request(&s, "GET", &q("field=v"), "", Some(&scoped)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        format!("series,key,ts,value\n{a},\"m,host=a v\",{T0},1\n")
    );
    // Naming a hidden series is a 403 before any byte, by id, by key, or among others.
    for sel in [
        format!("series={hidden}"),
        format!("series={a},{hidden}"),
        "key=secret,host%3Da%20v".to_string(),
    ] {
        let r = request(&s, "GET", &q(&sel), "", Some(&scoped)).await;
        assert_eq!(r.status, 403, "{sel}: {}", r.body);
        assert!(r.error().contains("outside the scope"), "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_4xx_naming_the_parameter() {
    let s = start(Config::default()).await;
    let a = write(&s, "m,host=a v", &[(T0, num(1.0))]).await;
    let cases = [
        (format!("from={T0}&to={}", T0 + 1), 400, "series:"),
        (format!("series={a}&to={}", T0 + 1), 400, "from:"),
        (format!("series={a}&from={T0}"), 400, "to:"),
        (format!("series={a}&from={T0}&to={T0}"), 400, "from:"),
        (
            format!("series=abc&from={T0}&to={}", T0 + 1),
            400,
            "series:",
        ),
        (format!("series={a}&from=soon&to={}", T0 + 1), 400, "from:"),
        (
            format!("series={a}&from={T0}&to={}&format=xml", T0 + 1),
            400,
            "format:",
        ),
        (
            format!("series={a}&from={T0}&to={}&step=0", T0 + 1),
            400,
            "step:",
        ),
        (
            format!("series={a}&from={T0}&to={}&step=1m&agg=p99", T0 + 1),
            400,
            "agg:",
        ),
        (
            format!("series={a}&from={T0}&to={}&agg=max", T0 + 1),
            400,
            "agg:",
        ),
        (
            format!("series={a}&from={T0}&to={}&precision=ns", T0 + 1),
            400,
            "precision:",
        ),
        (
            format!("series={a}&from={T0}&to={}&host=a", T0 + 1),
            400,
            "host:",
        ),
        (
            format!("series=999&from={T0}&to={}", T0 + 1),
            404,
            "series:",
        ),
        (format!("key=nope%20v&from={T0}&to={}", T0 + 1), 404, "key:"),
        (
            format!("sensor=T-9&from={T0}&to={}", T0 + 1),
            404,
            "sensor:",
        ),
    ];
    for (q, status, prefix) in cases {
        let r = get(&s, &format!("/api/v1/export?{q}")).await;
        assert_eq!(r.status, status, "{q}: {}", r.body);
        assert!(r.error().starts_with(prefix), "{q}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_choose_their_series() {
    let s = start(Config::default()).await;
    let a = write(&s, "sensor_data,sensor_id=T-1 value", &[(T0, num(4.0))]).await;
    let r = request(
        &s,
        "POST",
        "/api/v1/sensors",
        r#"{"sensor_id": "T-1", "name": "t", "type": "temperature", "series_key": "sensor_data,sensor_id=T-1 value"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = get(
        &s,
        &format!("/api/v1/export?sensor=T-1&from={T0}&to={}", T0 + 1),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        format!("series,key,ts,value\n{a},\"sensor_data,sensor_id=T-1 value\",{T0},4\n")
    );
}

/// A series that line protocol cannot spell fails the export after the first lines: the
/// body ends with the trailer line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_the_first_byte_ends_with_the_trailer() {
    let s = start(Config::default()).await;
    let a = write(&s, "m,host=a v", &[(T0, num(1.0))]).await;
    // A tag value with a line break: no escape of line protocol carries it.
    let newline = SeriesKey::new("m", [("host".to_string(), "a\nb".to_string())], "v").unwrap();
    let bad = write_key(&s, newline, &[(T0, num(2.0))]).await;
    let r = get(
        &s,
        &format!(
            "/api/v1/export?series={a},{bad}&from={T0}&to={}&format=lp",
            T0 + 1
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], format!("m,host=a v=1 {T0}"));
    assert_eq!(lines.len(), 2, "{}", r.body);
    assert!(
        lines[1].starts_with(&format!("# error: series {bad}: ")),
        "{}",
        r.body
    );
}

/// A client that leaves half way does not leave the producer blocked on the full channel for
/// ever: the body is dropped, the channel closes, the producer ends and its query slot comes
/// back (with one slot, the next export would otherwise wait for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_stops_the_export() {
    let mut config = Config::default();
    config.server.max_concurrent_queries = 1;
    let s = start(config).await;
    // 200 series × 1,000 points: ~10 MB of CSV, far more than the channel and the sockets'
    // buffers hold.
    for n in 0..200 {
        let pts: Vec<(i64, Value)> = (0..1000).map(|i| (T0 + i * 1000, num(i as f64))).collect();
        write(&s, &format!("big,n={n:03} v"), &pts).await;
    }
    let path = format!(
        "/api/v1/export?measurement=big&from={T0}&to={}",
        T0 + 1_000_000
    );
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = vec![0u8; 4096];
    let n = c.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.0 200"));
    // The producer now waits on a full channel; the client goes.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(c);
    let second = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        get(
            &s,
            &format!(
                "/api/v1/export?key=big,n%3D000%20v&from={T0}&to={}",
                T0 + 2000
            ),
        ),
    )
    .await
    .expect("the first export still holds the only query slot");
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body.lines().count(), 3);
}

/// A series longer than a page (16,384 points) is read forward window by window: dense and
/// sparse stretches, every point once, in order, also through the cache's unflushed part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_series_is_paged_forward_in_order() {
    let s = start(Config::default()).await;
    // 30,000 points a millisecond apart, then 10,000 a minute apart, then 5,000 more dense
    // ones written after a flush (still only in memory).
    let mut pts: Vec<(i64, Value)> = (0..30_000).map(|i| (T0 + i, num(i as f64))).collect();
    pts.extend((0..10_000).map(|i| (T0 + 60_000 + i * 60_000, num(-(i as f64)))));
    let id = write(&s, "long v", &pts).await;
    s.store.flush().await.unwrap();
    let tail_start = T0 + 60_000 + 10_000 * 60_000;
    let tail: Vec<(i64, Value)> = (0..5_000).map(|i| (tail_start + i, num(0.5))).collect();
    write(&s, "long v", &tail).await;
    pts.extend(tail);
    let r = get(
        &s,
        &format!(
            "/api/v1/export?series={id}&from={T0}&to={}&format=lp",
            tail_start + 5_000
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let got: Vec<&str> = r.body.lines().collect();
    assert_eq!(got.len(), pts.len());
    for (line, (ts, v)) in got.iter().zip(&pts) {
        let Value::Num(v) = v else { unreachable!() };
        assert_eq!(
            *line,
            format!("long v={} {ts}", clio_storage::format_number(*v))
        );
    }
}
