//! Every built-in history function through the real server, with a fixed evaluation time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use clio_e2e::harness::Server;
use serde_json::{Value, json};

const T0: i64 = 1_760_000_000_000;
const MIN: i64 = 60_000;

fn enc(s: &str) -> String {
    s.replace('#', "%23")
        .replace('^', "%5E")
        .replace('$', "%24")
        .replace(' ', "%20")
}

#[test]
fn every_builtin_function_answers_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("clio.toml");
    // Old fixed timestamps: no restamping for this test.
    std::fs::write(
        &cfg,
        "[ingest]\ntimestamp_max_time_diff = 0\ntimestamp_max_future = 0\n",
    )
    .unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    // Series 1: values 1..=10, one per minute; series 2: strings.
    let mut pts: Vec<Value> = (1..=10)
        .map(|i| json!({"series": 1, "ts": T0 + i * MIN, "value": i}))
        .collect();
    pts.extend(
        ["on", "off", "on"]
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"series": 2, "ts": T0 + (i as i64 + 1) * MIN, "value": v})),
    );
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(pts).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let at = T0 + 11 * MIN;
    let list = s.get_json("/api/v1/functions", 200);
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    // Every function lists all its parameters (forecast and timeLeft once listed only the
    // last of three), none of them blank.
    for f in list.as_array().unwrap() {
        let params = f["params"].as_array().unwrap();
        assert!(
            params.iter().all(|p| {
                p["name"].as_str().is_some_and(|n| !n.is_empty())
                    && p["description"].as_str().is_some_and(|d| !d.is_empty())
            }),
            "{f}"
        );
        if ["forecast", "timeLeft"].contains(&f["name"].as_str().unwrap()) {
            assert_eq!(params.len(), 3, "{f}");
        }
    }
    let call = |series: u64, name: &str, args: &str| -> (u16, Value) {
        let r = s.http(
            "GET",
            &format!(
                "/api/v1/series/{series}/fn/{name}?args={}&at={at}",
                enc(args)
            ),
            b"",
            &[],
        );
        (r.status, r.json())
    };
    let expect_num = |name: &str, args: &str, want: f64| {
        let (st, v) = call(1, name, args);
        assert_eq!(st, 200, "{name}({args}): {v}");
        let got = v["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}({args}): {v}"));
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{name}({args}) = {got}, want {want}"
        );
    };
    expect_num("avg", "#10", 5.5);
    expect_num("avg", "5m", 8.0); // [at-5m, at): values 6..10
    expect_num("sum", "#10", 55.0);
    expect_num("min", "#10", 1.0);
    expect_num("max", "#10", 10.0);
    expect_num("delta", "#10", 9.0);
    expect_num("count", "#10", 10.0);
    expect_num("count", "#10,,5,gt", 5.0);
    expect_num("change", "#2", 1.0);
    expect_num("absChange", "#2", 1.0);
    expect_num("last", "", 10.0);
    expect_num("last", "#1", 9.0);
    expect_num("getTimestamp", "", (T0 + 10 * MIN) as f64);
    expect_num("nodata", "5m", 0.0);
    expect_num("nodata", "", MIN as f64);
    expect_num("regexp", "^10$,#10", 1.0);
    expect_num("first", "#10", 1.0);
    expect_num("stddev", "#10", 8.25f64.sqrt());
    expect_num("percentile", "#10,,50", 5.5);
    expect_num("rate", "#10", 9.0 / 540.0);
    expect_num("forecast", "#10,,1m", 12.0);
    expect_num("timeLeft", "#10,,15", (4 * MIN) as f64);
    expect_num("outliersBrd", "#10,,max", 15.5);
    expect_num("outliersBrd", "#10,,min", -4.5);
    expect_num("lastRob", "#10", 10.0);
    expect_num("avgTF", "#10", 5.5);
    expect_num("avgMed", "#10,0,20", 5.5);
    let (st, v) = call(1, "avgNear", "#10,0,5,1");
    assert_eq!(st, 200, "avgNear: {v}");
    let (st, v) = call(2, "concat", "#3");
    assert_eq!((st, v["value"].clone()), (200, json!("on,off,on")));
    // Strict mode: 20 records asked, 10 there.
    let (_, v) = call(1, "avg", "!#20");
    assert_eq!(v["value"], Value::Null);
    // An empty window is no data; count is 0.
    let (_, v) = call(99, "avg", "#5");
    assert_eq!(v["value"], Value::Null);
    let (_, v) = call(99, "count", "#5");
    assert_eq!(v["value"], json!(0.0));
    // A bad parameter is a 400 naming it; an unknown function is a 404.
    let (st, v) = call(1, "forecast", "#10");
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("third parameter"), "{v}");
    let (st, _) = call(1, "nosuchfn", "#1");
    assert_eq!(st, 404);
    for n in [
        "avg",
        "sum",
        "min",
        "max",
        "delta",
        "count",
        "change",
        "absChange",
        "last",
        "getTimestamp",
        "nodata",
        "regexp",
        "concat",
        "outliersBrd",
        "lastRob",
        "avgTF",
        "avgMed",
        "avgNear",
        "forecast",
        "timeLeft",
        "percentile",
        "stddev",
        "rate",
        "first",
    ] {
        assert!(
            names.iter().any(|x| x == n),
            "function {n} is not loaded: {names:?}"
        );
    }
    assert_eq!(names.len(), 24, "{names:?}");
    s.kill();
}
