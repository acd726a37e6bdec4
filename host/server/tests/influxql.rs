//! InfluxQL statements built from random pieces (odd intervals, extreme times, every fill,
//! regexes, limits, functions, nonsense) against a real engine: every answer is a 200 with a
//! result per statement or a 400 naming a parse error; nothing panics or drops the connection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Read, Write};
use std::sync::Arc;

use clio_config::Config;
use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_server::AppState;
use clio_storage::Value;
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_000_000_000;

fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn server() -> (
    std::net::SocketAddr,
    tokio::runtime::Runtime,
    tempfile::TempDir,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = rt.block_on(async {
        let backend = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
        let mut eo = EngineOptions::new(dir.path());
        eo.timestamp_max_past = None;
        eo.timestamp_max_future = None;
        let (store, _) = Store::open(eo, Arc::new(backend)).await.unwrap();
        let mut pts = Vec::new();
        for i in 0..2000i64 {
            for (key, v) in [
                ("cpu,host=a,dc=x value", Value::Num((i % 13) as f64)),
                ("cpu,host=b value", Value::Num(-(i as f64))),
                ("cpu,host=a,dc=x state", Value::Str(format!("s{}", i % 3))),
                ("mem,host=a used", Value::Num(1e300)),
            ] {
                pts.push(IncomingPoint {
                    series: SeriesRef::Key(key.parse().unwrap()),
                    ts: Some(T0 + i * 7_000),
                    value: v,
                });
            }
        }
        store.write(pts).await.unwrap();
        let state = AppState::new(store, Config::default(), CancellationToken::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = clio_server::http::router(state);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        addr
    });
    (addr, rt, dir)
}

fn piece() -> impl Strategy<Value = String> {
    let func = prop_oneof![
        Just("mean"),
        Just("median"),
        Just("min"),
        Just("max"),
        Just("sum"),
        Just("count"),
        Just("first"),
        Just("last"),
        Just("spread"),
        Just("stddev"),
        Just("bogus"),
    ];
    let field = prop_oneof![
        Just("value"),
        Just("state"),
        Just("used"),
        Just("host"),
        Just("*"),
        Just("nope")
    ];
    let time = prop_oneof![
        Just("now()".to_string()),
        Just("now() - 100w".to_string()),
        Just("'1677-09-22T00:00:00Z'".to_string()),
        Just("'2262-04-11T00:00:00Z'".to_string()),
        Just("-9223372036854775807".to_string()),
        Just("9223372036854775807".to_string()),
        Just("0".to_string()),
        (0i64..4000).prop_map(|k| format!("{}ms", T0 + k * 3_500)),
    ];
    let interval = prop_oneof![
        Just("1ns"),
        Just("500us"),
        Just("1ms"),
        Just("7s"),
        Just("1m"),
        Just("10m"),
        Just("1h"),
        Just("1d"),
        Just("1w"),
        Just("100000w"),
        Just("0s"),
    ];
    let fill = prop_oneof![
        Just(""),
        Just("fill(none)"),
        Just("fill(null)"),
        Just("fill(previous)"),
        Just("fill(linear)"),
        Just("fill(-3.5)")
    ];
    let cond = prop_oneof![
        Just("host = 'a'"),
        Just("host != 'b'"),
        Just("host =~ /^(a|b)$/"),
        Just("dc !~ /./"),
        Just("(host = 'a' OR dc = 'x')"),
        Just("value > 3"),
        Just("host = 8080"),
    ];
    let wrap = prop_oneof![
        Just("{}"),
        Just("derivative({}, 1s)"),
        Just("non_negative_difference({})"),
        Just("{} * 2 / 0"),
        Just("percentile({}, 99.9)"),
    ];
    (func, field, time.clone(), time, interval, fill, cond, wrap, 0u64..5, any::<bool>(), any::<bool>())
        .prop_map(|(f, fld, t1, t2, iv, fill, cond, wrap, lim, grouped, desc)| {
            let call = if f == "percentile" { format!("{f}({fld}, 50)") } else { format!("{f}({fld})") };
            let sel = if grouped { wrap.replace("{}", &call) } else { fld.to_string() };
            let group = if grouped { format!("GROUP BY time({iv}), * {fill}") } else { String::new() };
            let order = if desc { "ORDER BY time DESC" } else { "" };
            format!(
                "SELECT {sel} FROM cpu, /m.*/ WHERE {cond} AND time >= {t1} AND time < {t2} {group} {order} LIMIT {lim} SLIMIT 2"
            )
        })
}

#[test]
fn random_statements_never_break_the_server() {
    let (addr, _rt, _dir) = server();
    // A fixed seed: the count of answered statements below is then the same every run.
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        ProptestConfig::with_cases(300),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let answered = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&piece(), |q| {
            let (status, body) = get(addr, &format!("/query?epoch=ms&q={}", enc(&q)));
            prop_assert!(status == 200 || status == 400, "{q}: {status} {body}");
            let v: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| TestCaseError::fail(format!("{q}: {e}: {body}")))?;
            prop_assert!(
                v.get("results").is_some() || v.get("error").is_some(),
                "{q}: {body}"
            );
            if body.contains("\"values\"") {
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    // The pieces reach the executor, not only its error paths.
    let answered = answered.into_inner();
    eprintln!("{answered} of 300 statements answered with values");
    assert!(
        answered >= 10,
        "only {answered} statements answered with values"
    );
    // Fixed shapes around the edges.
    for q in [
        "SELECT mean(value) FROM cpu WHERE time >= '1677-09-22T00:00:00Z' GROUP BY time(1ms)",
        "SELECT count(value) FROM cpu WHERE time >= 0 AND time < 9223372036854775807 GROUP BY time(1w, -3d)",
        "SELECT * FROM cpu ORDER BY time DESC LIMIT 3; SHOW TAG VALUES WITH KEY =~ /.*/; SHOW SERIES; SHOW FIELD KEYS",
        "DELETE FROM nothing WHERE time < 0; DROP SERIES FROM nothing",
        "SELECT max(used) * used FROM mem",
    ] {
        let (status, body) = get(addr, &format!("/query?q={}", enc(q)));
        assert!(status == 200 || status == 400, "{q}: {status} {body}");
    }
}

/// The `values` of statement 0, series `i`.
fn values(addr: std::net::SocketAddr, q: &str) -> Vec<serde_json::Value> {
    let (status, body) = get(addr, &format!("/query?epoch=ms&q={}", enc(q)));
    assert_eq!(status, 200, "{q}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["results"][0].get("error").is_none(), "{q}: {body}");
    v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Tag equalities are pushed down into the catalog's tag index; what a statement selects must
/// not change: a name that is a field (`state`) stays a field condition, `OR` and `!=` are not
/// pushed, a tag value no series has selects nothing.
#[test]
fn tag_conditions_select_the_same_series_through_the_index() {
    let (addr, _rt, _dir) = server();
    let count = |q: &str| -> Vec<(serde_json::Value, i64)> {
        values(addr, q)
            .iter()
            .map(|s| (s["tags"].clone(), s["values"][0][1].as_i64().unwrap()))
            .collect()
    };
    assert_eq!(
        count("SELECT count(value) FROM cpu WHERE host = 'a'"),
        vec![(serde_json::Value::Null, 2000)]
    );
    assert_eq!(
        count("SELECT count(value) FROM cpu WHERE host = 'a' AND dc = 'x'"),
        vec![(serde_json::Value::Null, 2000)]
    );
    assert!(count("SELECT count(value) FROM cpu WHERE host = 'b' AND dc = 'x'").is_empty());
    // `state` is a string field of cpu, not a tag: it is not taken for a tag equality (which
    // would select nothing) but refused as a field condition, by name.
    let (status, body) = get(
        addr,
        &format!(
            "/query?q={}",
            enc("SELECT count(state) FROM cpu WHERE host = 'a' AND state = 's1'")
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("state = 's1'") && body.contains("not supported"),
        "{body}"
    );
    assert_eq!(
        count("SELECT count(value) FROM cpu WHERE host = 'a' OR host = 'b' GROUP BY host"),
        vec![
            (serde_json::json!({"host": "a"}), 2000),
            (serde_json::json!({"host": "b"}), 2000)
        ]
    );
    assert_eq!(
        count("SELECT count(value) FROM cpu WHERE host != 'a' GROUP BY host"),
        vec![(serde_json::json!({"host": "b"}), 2000)]
    );
    assert!(count("SELECT count(value) FROM cpu WHERE host = 'zzz'").is_empty());
    assert!(count("SELECT count(value) FROM cpu WHERE nosuchtag = 'a'").is_empty());
}

/// `SHOW SERIES` pages in key order across measurements, with and without a condition.
#[test]
fn show_series_pages_in_key_order() {
    let (addr, _rt, _dir) = server();
    let keys = |q: &str| -> Vec<String> {
        values(addr, q)
            .first()
            .map(|s| {
                s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r[0].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        keys("SHOW SERIES"),
        ["cpu,dc=x,host=a", "cpu,host=b", "mem,host=a"]
    );
    assert_eq!(
        keys("SHOW SERIES LIMIT 2 OFFSET 1"),
        ["cpu,host=b", "mem,host=a"]
    );
    assert_eq!(keys("SHOW SERIES LIMIT 1"), ["cpu,dc=x,host=a"]);
    assert_eq!(
        keys("SHOW SERIES WHERE host = 'a'"),
        ["cpu,dc=x,host=a", "mem,host=a"]
    );
    assert_eq!(
        keys("SHOW SERIES FROM cpu WHERE host =~ /b/"),
        ["cpu,host=b"]
    );
    assert!(keys("SHOW SERIES LIMIT 5 OFFSET 3").is_empty());
}
