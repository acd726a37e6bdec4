//! InfluxQL on `/query` against the real binary, through the clients that send it: the
//! requests Grafana's InfluxDB data source (InfluxQL mode) sends, replayed over HTTP; the
//! Debian `influx` CLI (`-execute`, `-format json|csv`); the PyPI `influxdb` client's
//! `query()` (installed by scripts/test-all.sh into target/pyenv).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;

use clio_e2e::harness::Server;
use serde_json::{Value, json};

const STEP: i64 = 10_000;
const POINTS: i64 = 720; // two hours every 10 s

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn a_value(i: i64) -> f64 {
    (i % 7) as f64
}

fn b_value(i: i64) -> f64 {
    100.0 + (i % 5) as f64
}

/// A server holding two hours of `cpu,host=a|b,dc=x value` and a `boiler` with a string
/// field; returns it and the first timestamp (an hour boundary a day ago).
fn server_with_data(dir: &Path) -> (Server, i64) {
    let s = Server::start(dir, &[]);
    let base = (now_ms() - 86_400_000).div_euclid(3_600_000) * 3_600_000;
    let mut body = String::new();
    for i in 0..POINTS {
        let t = base + i * STEP;
        body.push_str(&format!("cpu,host=a,dc=x value={} {t}\n", a_value(i)));
        body.push_str(&format!("cpu,host=b,dc=x value={} {t}\n", b_value(i)));
    }
    body.push_str(&format!(
        "boiler,site=north temp=81.5,state=\"on\" {base}\nboiler,site=north temp=82,state=\"off\" {}\n",
        base + 1000
    ));
    let r = s.http("POST", "/write?db=plant&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    (s, base)
}

fn enc(q: &str) -> String {
    let mut o = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Grafana's GET: `/query?db=&q=&epoch=ms`.
fn get(s: &Server, q: &str) -> Value {
    let r = s.http(
        "GET",
        &format!("/query?db=plant&q={}&epoch=ms", enc(q)),
        b"",
        &[],
    );
    assert_eq!(r.status, 200, "{q}: {}", r.text());
    assert!(r.header("x-influxdb-version").is_some());
    r.json()
}

/// Grafana's POST (its default HTTP method): the query in a form body.
fn post(s: &Server, q: &str) -> Value {
    let body = format!("q={}", enc(q));
    let r = s.http(
        "POST",
        "/query?db=plant&epoch=ms",
        body.as_bytes(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(r.status, 200, "{q}: {}", r.text());
    r.json()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn grafana_requests_answer_in_influxdbs_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (s, base) = server_with_data(dir.path());

    // The data source's health check and the query editor's meta queries.
    assert_eq!(
        get(&s, "SHOW MEASUREMENTS LIMIT 1"),
        json!({"results":[{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["boiler"]]}]}]})
    );
    assert_eq!(
        post(
            &s,
            "SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)CP/ LIMIT 100"
        )["results"][0]["series"][0]["values"],
        json!([["cpu"]])
    );
    assert_eq!(
        post(&s, r#"SHOW TAG KEYS FROM "cpu""#)["results"][0]["series"][0],
        json!({"name":"cpu","columns":["tagKey"],"values":[["dc"],["host"]]})
    );
    assert_eq!(
        post(&s, r#"SHOW TAG VALUES FROM "cpu" WITH KEY = "host""#)["results"][0]["series"][0],
        json!({"name":"cpu","columns":["key","value"],"values":[["host","a"],["host","b"]]})
    );
    assert_eq!(
        post(
            &s,
            r#"SHOW TAG VALUES WITH KEY IN ("host", "site") WHERE "dc" = 'x'"#
        )["results"][0]["series"],
        json!([{"name":"cpu","columns":["key","value"],"values":[["host","a"],["host","b"]]}])
    );
    assert_eq!(
        post(&s, r#"SHOW FIELD KEYS FROM "boiler""#)["results"][0]["series"][0]["values"],
        json!([["state", "string"], ["temp", "float"]])
    );
    assert_eq!(
        get(&s, r#"SHOW RETENTION POLICIES on "plant""#)["results"][0]["series"][0]["values"][0][0],
        json!("autogen")
    );
    assert_eq!(
        get(&s, "SHOW SERIES FROM cpu WHERE host = 'b'")["results"][0]["series"][0]["values"],
        json!([["cpu,dc=x,host=b"]])
    );
    assert_eq!(
        get(&s, "SHOW DATABASES")["results"][0]["series"][0]["values"],
        json!([["plant"]])
    );

    // A graph panel: mean per $__interval, one series per host, ms epoch time filter.
    let from = base;
    let to = base + 2 * 3_600_000 - 1;
    let q = format!(
        r#"SELECT mean("value") FROM "autogen"."cpu" WHERE ("dc" =~ /^x$/) AND time >= {from}ms and time <= {to}ms GROUP BY time(10m), "host" fill(null)"#
    );
    let r = post(&s, &q);
    let series = r["results"][0]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{r}");
    assert_eq!(series[0]["name"], "cpu");
    assert_eq!(series[0]["tags"], json!({"host": "a"}));
    assert_eq!(series[1]["tags"], json!({"host": "b"}));
    assert_eq!(series[0]["columns"], json!(["time", "mean"]));
    let rows = series[0]["values"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for (k, row) in rows.iter().enumerate() {
        let k = k as i64;
        assert_eq!(row[0], json!(base + k * 600_000));
        let want = mean((k * 60..(k + 1) * 60).map(a_value));
        assert!(
            (row[1].as_f64().unwrap() - want).abs() < 1e-9,
            "{row} vs {want}"
        );
    }

    // A counter panel: the rate of change of the 10-minute means, per second.
    let q = format!(
        r#"SELECT non_negative_derivative(mean("value"), 1s) FROM "cpu" WHERE ("host" = 'a') AND time >= {from}ms and time <= {to}ms GROUP BY time(10m) fill(null)"#
    );
    let r = get(&s, &q);
    let rows = r["results"][0]["series"][0]["values"].as_array().unwrap();
    assert_eq!(
        r["results"][0]["series"][0]["columns"],
        json!(["time", "non_negative_derivative"])
    );
    let means: Vec<f64> = (0..12)
        .map(|k| mean((k * 60..(k + 1) * 60).map(a_value)))
        .collect();
    let want: Vec<(i64, f64)> = (1..12)
        .map(|k| (base + k as i64 * 600_000, (means[k] - means[k - 1]) / 600.0))
        .filter(|(_, d)| *d >= 0.0)
        .collect();
    assert!(want.len() > 3 && want.len() < 11, "{want:?}");
    assert_eq!(rows.len(), want.len(), "{r}");
    for (row, (t, d)) in rows.iter().zip(&want) {
        assert_eq!(row[0], json!(t));
        assert!((row[1].as_f64().unwrap() - d).abs() < 1e-12, "{row} vs {d}");
    }

    // Relative time, several statements, one bad: per-statement results and errors.
    let r = get(
        &s,
        "SELECT last(value) FROM cpu WHERE host = 'b' AND time > now() - 2d; SELECT moving_average(value, 3) FROM cpu; SHOW DATABASES",
    );
    let res = r["results"].as_array().unwrap();
    assert_eq!(res.len(), 3);
    assert_eq!(res[0]["statement_id"], 0);
    assert_eq!(
        res[0]["series"][0]["values"],
        json!([[base + (POINTS - 1) * STEP, b_value(POINTS - 1) as i64]])
    );
    assert!(
        res[1]["error"]
            .as_str()
            .unwrap()
            .contains("moving_average() is not supported"),
        "{r}"
    );
    assert_eq!(res[2]["error"], "not executed");

    // Raw points, fields joined by time, strings kept, RFC3339 without epoch.
    let r = s.http(
        "GET",
        &format!(
            "/query?db=plant&q={}",
            enc("SELECT temp, state, site FROM boiler ORDER BY time DESC LIMIT 1")
        ),
        b"",
        &[],
    );
    let v: Value = r.json();
    let row = &v["results"][0]["series"][0]["values"][0];
    assert_eq!(row[1], json!(82));
    assert_eq!(row[2], json!("off"));
    assert_eq!(row[3], json!("north"));
    assert!(row[0].as_str().unwrap().ends_with(":01Z"), "{row}");
    assert_eq!(
        v["results"][0]["series"][0]["columns"],
        json!(["time", "temp", "state", "site"])
    );
    s.kill();
}

#[test]
fn aggregates_from_trends_and_raw_points_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (s, base) = server_with_data(dir.path());
    let all: Vec<f64> = (0..POINTS).map(a_value).collect();
    // Misaligned edges: [base + 5 s, base + 2 h - 5 s] reads the inner whole hours' middle
    // from trend buckets (30m / 1h tile 1h) and the edges raw.
    let from = base + 5_000;
    let to = base + 2 * 3_600_000 - 5_000;
    let inside: Vec<(i64, f64)> = (0..POINTS)
        .map(|i| (base + i * STEP, a_value(i)))
        .filter(|(t, _)| *t >= from && *t <= to)
        .collect();
    let q = format!(
        "SELECT count(value), sum(value), mean(value), min(value), max(value), first(value), last(value), spread(value) FROM cpu WHERE host = 'a' AND time >= {from}ms AND time <= {to}ms GROUP BY time(1h)"
    );
    let r = get(&s, &q);
    let rows = r["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 2, "{r}");
    assert_eq!(
        r["results"][0]["series"][0]["columns"],
        json!([
            "time", "count", "sum", "mean", "min", "max", "first", "last", "spread"
        ])
    );
    for (h, row) in rows.iter().enumerate() {
        let lo = base + h as i64 * 3_600_000;
        let v: Vec<f64> = inside
            .iter()
            .filter(|(t, _)| *t >= lo && *t < lo + 3_600_000)
            .map(|(_, v)| *v)
            .collect();
        let sum: f64 = v.iter().sum();
        let min = v.iter().copied().fold(f64::MAX, f64::min);
        let max = v.iter().copied().fold(f64::MIN, f64::max);
        let want = json!([
            lo,
            v.len(),
            sum,
            sum / v.len() as f64,
            min,
            max,
            v[0],
            v[v.len() - 1],
            max - min
        ]);
        for (got, want) in row.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            assert!(
                (got.as_f64().unwrap() - want.as_f64().unwrap()).abs() < 1e-9,
                "hour {h}: {row} vs {want}"
            );
        }
    }
    // Without GROUP BY time: one bucket, its whole trend buckets read as such.
    let q = format!(
        "SELECT count(value), sum(value), first(value), last(value), spread(value) FROM cpu WHERE host = 'a' AND time >= {from}ms AND time <= {to}ms"
    );
    let r = get(&s, &q);
    let v: Vec<f64> = inside.iter().map(|(_, v)| *v).collect();
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    // Integral numbers are written without a fraction, as InfluxDB writes them.
    assert_eq!(
        r["results"][0]["series"][0]["values"],
        json!([[
            from,
            v.len(),
            v.iter().sum::<f64>() as i64,
            v[0] as i64,
            v[v.len() - 1] as i64,
            (max - min) as i64
        ]]),
        "{r}"
    );
    // The same over the raw path (an interval no trend tiles) sums up the same.
    let q = format!(
        "SELECT count(value), sum(value) FROM cpu WHERE host = 'a' AND time >= {from}ms AND time <= {to}ms GROUP BY time(7m) fill(none)"
    );
    let r = get(&s, &q);
    let rows = r["results"][0]["series"][0]["values"].as_array().unwrap();
    let count: i64 = rows.iter().map(|r| r[1].as_i64().unwrap()).sum();
    let sum: f64 = rows.iter().map(|r| r[2].as_f64().unwrap()).sum();
    assert_eq!(count, inside.len() as i64);
    assert!((sum - inside.iter().map(|v| v.1).sum::<f64>()).abs() < 1e-9);

    // Functions that need every value, ungrouped: time is the range start, or the selected
    // point's for a lone selector.
    let q = format!(
        "SELECT median(value), percentile(value, 90), stddev(value) FROM cpu WHERE host = 'a' AND time >= {base}ms"
    );
    let r = get(&s, &q);
    let row = &r["results"][0]["series"][0]["values"][0];
    assert_eq!(row[0], json!(base));
    let mut sorted = all.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[359] + sorted[360]) / 2.0;
    assert_eq!(row[1].as_f64().unwrap(), median);
    let p90 = sorted[(720.0f64 * 0.9 + 0.5).floor() as usize - 1];
    assert_eq!(row[2].as_f64().unwrap(), p90);
    let m = mean(all.iter().copied());
    let sd = (all.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 719.0).sqrt();
    assert!((row[3].as_f64().unwrap() - sd).abs() < 1e-9);
    let r = get(
        &s,
        &format!("SELECT max(value) FROM cpu WHERE time >= {base}ms"),
    );
    assert_eq!(
        r["results"][0]["series"][0]["values"],
        json!([[base + 4 * STEP, 104]])
    );

    // fill() over empty buckets: a range reaching an hour past the data.
    let end = base + 3 * 3_600_000;
    for (fill, want) in [
        ("null", json!(null)),
        ("0", json!(0)),
        ("previous", json!(104)),
    ] {
        let q = format!(
            "SELECT last(value) FROM cpu WHERE host = 'b' AND time >= {base}ms AND time < {end}ms GROUP BY time(1h) fill({fill})"
        );
        let r = get(&s, &q);
        let rows = r["results"][0]["series"][0]["values"].as_array().unwrap();
        assert_eq!(rows.len(), 3, "{fill}: {r}");
        assert_eq!(rows[2][1], want, "{fill}");
    }
    // count is 0 in an empty bucket with fill(null), carried over by fill(previous).
    for (fill, want) in [("null", 0), ("previous", 360)] {
        let q = format!(
            "SELECT count(value) FROM cpu WHERE host = 'b' AND time >= {base}ms AND time < {end}ms GROUP BY time(1h) fill({fill})"
        );
        let r = get(&s, &q);
        assert_eq!(
            r["results"][0]["series"][0]["values"][2][1],
            json!(want),
            "{fill}: {r}"
        );
    }
    let q = format!(
        "SELECT count(value) FROM cpu WHERE time >= {base}ms AND time < {end}ms GROUP BY time(1h), * fill(none) ORDER BY time DESC SLIMIT 1"
    );
    let r = get(&s, &q);
    let series = r["results"][0]["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["tags"], json!({"dc": "x", "host": "a"}));
    assert_eq!(
        series[0]["values"],
        json!([[base + 3_600_000, 360], [base, 360]])
    );
    s.kill();
}

#[test]
fn errors_chunks_epochs_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, base) = server_with_data(dir.path());
    // A query that does not parse: 400 with InfluxDB's text.
    let r = s.http("GET", &format!("/query?q={}", enc("SELEC 1")), b"", &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("error parsing query: found SELEC, expected SELECT"),
        "{}",
        r.text()
    );
    let r = s.http("GET", "/query", b"", &[]);
    assert_eq!(r.status, 400);
    // An unsupported statement or clause is named.
    let v = get(&s, "SHOW USERS");
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("SHOW USERS is not supported by Clio"),
        "{v}"
    );
    let v = get(&s, "SELECT value FROM cpu WHERE value > 3");
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("conditions on fields"),
        "{v}"
    );
    // Chunked: one JSON document per statement.
    let r = s.http(
        "GET",
        &format!(
            "/query?chunked=true&epoch=s&q={}",
            enc(&format!(
                "SELECT first(value) FROM cpu WHERE time >= {base}ms GROUP BY host; SHOW MEASUREMENTS"
            ))
        ),
        b"",
        &[],
    );
    let docs: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{}", r.text());
    assert_eq!(
        docs[0]["results"][0]["series"][0]["values"][0][0],
        json!(base / 1000)
    );
    assert_eq!(docs[1]["results"][0]["statement_id"], 1);
    // Epochs.
    for (e, t) in [
        ("ns", json!(base as i128 * 1_000_000)),
        ("u", json!(base * 1000)),
        ("h", json!(base / 3_600_000)),
    ] {
        let v = s
            .http(
                "GET",
                &format!(
                    "/query?epoch={e}&q={}",
                    enc(&format!(
                        "SELECT first(value) FROM cpu WHERE time >= {base}ms"
                    ))
                ),
                b"",
                &[],
            )
            .json();
        assert_eq!(v["results"][0]["series"][0]["values"][0][0], t, "{e}");
    }
    // DELETE a time range of one tag set, then DROP SERIES.
    let t_cut = base + 3_600_000;
    let v = post(
        &s,
        &format!("DELETE FROM cpu WHERE host = 'a' AND time < {t_cut}ms"),
    );
    assert_eq!(v["results"][0], json!({"statement_id": 0}));
    let v = get(&s, "SELECT count(value) FROM cpu GROUP BY host");
    let series = v["results"][0]["series"].as_array().unwrap();
    assert_eq!(series[0]["values"][0][1], json!(360), "{v}");
    assert_eq!(series[1]["values"][0][1], json!(720), "{v}");
    post(&s, "DROP SERIES FROM cpu WHERE host = 'b'");
    let v = get(&s, "SHOW SERIES");
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        json!([["boiler,site=north"], ["cpu,dc=x,host=a"]])
    );
    s.kill();
}

fn influx_cli(s: &Server, format: &str, q: &str) -> String {
    let out = Command::new("influx")
        .args([
            "-host",
            &s.http.ip().to_string(),
            "-port",
            &s.http.port().to_string(),
            "-database",
            "plant",
            "-precision",
            "ms",
            "-format",
            format,
            "-execute",
            q,
        ])
        .output()
        .expect("the influx CLI (Debian package influxdb-client; scripts/test-all.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "influx {q}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_influx_cli_reads_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (s, base) = server_with_data(dir.path());
    let out = influx_cli(
        &s,
        "json",
        &format!(
            "SELECT mean(value) FROM cpu WHERE time >= {base}ms AND time < {}ms GROUP BY time(1h), host",
            base + 7_200_000
        ),
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let series = v["results"][0]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{out}");
    assert_eq!(series[1]["tags"]["host"], "b");
    let want = mean((0..360).map(b_value));
    assert_eq!(series[1]["values"][0][0], json!(base));
    assert!(
        (series[1]["values"][0][1].as_f64().unwrap() - want).abs() < 1e-9,
        "{out}"
    );

    let out = influx_cli(&s, "csv", "SHOW TAG VALUES FROM cpu WITH KEY = host");
    assert_eq!(
        out.trim(),
        "name,key,value\ncpu,host,a\ncpu,host,b",
        "{out}"
    );
    let out = influx_cli(
        &s,
        "csv",
        "SELECT temp, state FROM boiler; SHOW MEASUREMENTS",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "name,time,temp,state", "{out}");
    assert_eq!(lines[1], format!("boiler,{base},81.5,on"));
    assert_eq!(lines[2], format!("boiler,{},82,off", base + 1000));
    assert!(out.contains("measurements,boiler"), "{out}");
    s.kill();
}

#[test]
fn the_python_influxdb_client_queries() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test-all.sh installs the influxdb package there",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (s, base) = server_with_data(dir.path());
    let script = format!(
        r#"
from influxdb import InfluxDBClient
c = InfluxDBClient(host="{host}", port={port}, username="u", password="p", database="plant")
rs = c.query("SELECT mean(value) AS m FROM cpu WHERE time >= {base}ms AND time < {end}ms GROUP BY time(1h), host", epoch="ms")
a = list(rs.get_points(tags={{"host": "a"}}))
assert len(a) == 2, a
assert a[0]["time"] == {base}, a
print("a0", a[0]["m"])
rs = c.query("SELECT temp, state FROM boiler")
pts = list(rs.get_points(measurement="boiler"))
assert pts[0]["state"] == "on" and pts[1]["temp"] == 82, pts
assert pts[0]["time"].endswith("Z"), pts
print("dbs", [d["name"] for d in c.get_list_database()])
print("measurements", [m["name"] for m in c.get_list_measurements()])
try:
    c.query("SELECT nonsense(value) FROM cpu")
    raise SystemExit("an unsupported function was accepted")
except Exception as e:
    print("rejected:", e)
"#,
        host = s.http.ip(),
        port = s.http.port(),
        end = base + 7_200_000,
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = mean((0..360).map(a_value));
    assert!(stdout.contains(&format!("a0 {want}")), "{stdout}");
    assert!(stdout.contains("dbs ['plant']"), "{stdout}");
    assert!(
        stdout.contains("measurements ['boiler', 'cpu']"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rejected:") && stdout.contains("nonsense"),
        "{stdout}"
    );
    s.kill();
}
