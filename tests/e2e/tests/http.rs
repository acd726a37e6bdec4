//! The HTTP front end of the real binary: InfluxDB-compatible writes, the JSON API, errors
//! for bad input, limits, graceful shutdown and SIGKILL recovery.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clio_e2e::harness::{Server, try_http_request};
use serde_json::{Value, json};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn series_id(s: &Server, query: &str) -> u64 {
    let list = s.get_json(&format!("/api/v1/series?{query}"), 200);
    assert_eq!(
        list["series"].as_array().unwrap().len(),
        1,
        "{query}: {list}"
    );
    list["series"][0]["id"].as_u64().unwrap()
}

#[test]
fn influx_writes_read_back_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms() - 60_000;
    let body = format!(
        "cpu,host=a,region=eu usage=1.5,idle=90i {t}\n# comment\n\ncpu,region=eu,host=a usage=2.5 {}\nstatus,host=a state=\"up\" {t}\n",
        t + 1000
    );
    let r = s.http("POST", "/write?db=plant&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.header("x-influxdb-version").is_some());
    assert_eq!(r.header("x-clio-restamped"), None);

    let usage = series_id(&s, "measurement=cpu&field=usage&host=a");
    let got = s.get_json(&format!("/api/v1/series/{usage}/points?last=10"), 200);
    assert_eq!(got["points"], json!([[t, 1.5], [t + 1000, 2.5]]));
    assert_eq!(got["truncated"], json!(false));
    let idle = series_id(&s, "measurement=cpu&field=idle");
    let got = s.get_json(
        &format!("/api/v1/series/{idle}/points?from={t}&to={}", t + 1),
        200,
    );
    assert_eq!(got["points"], json!([[t, 90.0]]));
    let state = series_id(&s, "measurement=status");
    let got = s.get_json(&format!("/api/v1/series/{state}/points?last=1"), 200);
    assert_eq!(got["points"], json!([[t, "up"]]));
    let info = s.get_json(&format!("/api/v1/series/{usage}"), 200);
    assert_eq!(info["key"], json!("cpu,host=a,region=eu usage"));
    assert_eq!(info["keep_history_days"], json!(90));

    // InfluxDB 2.x endpoint, seconds precision, gzip body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("mem used=42 {}\n", t / 1000).as_bytes())
        .unwrap();
    let r = s.http(
        "POST",
        "/api/v2/write?org=o&bucket=b&precision=s",
        &gz.finish().unwrap(),
        &[("Content-Encoding", "gzip"), ("Authorization", "Token abc")],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let mem = series_id(&s, "measurement=mem");
    let got = s.get_json(&format!("/api/v1/series/{mem}/points?last=1"), 200);
    assert_eq!(got["points"], json!([[t / 1000 * 1000, 42.0]]));

    // InfluxDB clients backfill: a line-protocol timestamp a year old is kept as sent
    // (line_protocol_timestamp_max_time_diff = 0); one far in the future is stored at the
    // receive time (timestamp_max_future), and the answer says how many were restamped.
    let old = t - 365 * 86_400_000;
    let r = s.http(
        "POST",
        "/write?db=plant&precision=ms",
        format!("aged v=1 {old}\naged v=2 {}\n", t + 86_400_000).as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-clio-restamped"), Some("1"));
    let aged = series_id(&s, "measurement=aged");
    let got = s.get_json(&format!("/api/v1/series/{aged}/points?last=5"), 200);
    let pts = got["points"].as_array().unwrap();
    assert_eq!(pts.len(), 2, "{got}");
    assert_eq!(pts[0], json!([old, 1.0]), "{got}");
    assert!(
        pts[1][0].as_i64().unwrap() >= t && pts[1][0].as_i64().unwrap() < t + 3_600_000,
        "{got}"
    );

    // Nanoseconds are stored at the millisecond: two points of one series in one write on
    // the same millisecond are one point (the later), and the answer counts the other.
    let r = s.http(
        "POST",
        "/write?db=plant",
        format!(
            "fine v=1 {t}000001\nfine v=2 {t}000900\nfine v=3 {}000000\n",
            t + 1
        )
        .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-clio-merged"), Some("1"));
    let fine = series_id(&s, "measurement=fine");
    let got = s.get_json(&format!("/api/v1/series/{fine}/points?last=5"), 200);
    assert_eq!(got["points"], json!([[t, 2.0], [t + 1, 3.0]]), "{got}");

    // Last values, ALEPIZ getLastValues style.
    let last = s.get_json(&format!("/api/v1/last?series={usage},{state},999"), 200);
    assert_eq!(
        last[usage.to_string()],
        json!({"ts": t + 1000, "value": 2.5})
    );
    assert_eq!(last["999"], Value::Null);
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn bad_line_protocol_is_named_and_good_lines_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms();
    let body = format!("good v=1 {t}\nthis is not lp\ngood v=2 {}\n", t + 1);
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 400);
    let err = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        err.starts_with("partial write: unable to parse 'this is not lp'"),
        "{err}"
    );
    assert!(err.ends_with("dropped=1"), "{err}");
    let id = series_id(&s, "measurement=good");
    let got = s.get_json(&format!("/api/v1/series/{id}/points?last=5"), 200);
    assert_eq!(got["points"].as_array().unwrap().len(), 2);

    for (body, needle) in [
        ("m v=NaN", "unable to parse"),
        ("m v=1e999", "unable to parse"),
        ("m v=\"unterminated", "unable to parse"),
        ("m,t= v=1", "unable to parse"),
    ] {
        let r = s.http("POST", "/write?db=x", body.as_bytes(), &[]);
        assert_eq!(r.status, 400, "{body}");
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(needle), "{body}: {e}");
        assert!(!e.starts_with("partial write"), "{body}: {e}");
    }
    let r = s.http("POST", "/write?db=x", b"m v=1 \xff\xfe", &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.http("POST", "/write", b"m v=1", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], json!("database is required"));
    let r = s.http("POST", "/write?db=x&precision=fortnights", b"m v=1", &[]);
    assert_eq!(r.status, 400);
    let r = s.http("POST", "/api/v2/write?org=o", b"m v=1", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], json!("invalid"));
    let r = s.http(
        "POST",
        "/write?db=x",
        b"m v=1",
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("gzip"));
    assert_eq!(s.get_json("/health", 200)["status"], json!("ok"));
    s.kill();
}

#[test]
fn json_api_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms();
    let ok = json!([
        {"series": 5, "ts": t - 2000, "value": 1.25},
        {"series": 5, "ts": t - 1000, "value": "on"},
        {"key": "pump,site=n flow", "ts": t, "value": 3}
    ]);
    let r = s.http("POST", "/api/v1/points", ok.to_string().as_bytes(), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["points"], json!(3));
    assert_eq!(r.json()["created_series"], json!(2));

    for (body, status, needle) in [
        ("not json", 400, "not valid JSON"),
        ("{}", 400, "JSON array"),
        (
            r#"[{"series": 5, "ts": 1}]"#,
            400,
            "point 0: value is missing",
        ),
        (r#"[{"series": 5, "value": null}]"#, 400, "point 0"),
        (r#"[{"series": -1, "value": 1}]"#, 400, "series id"),
        (
            r#"[{"series": 5, "value": 1, "colour": 2}]"#,
            400,
            "unknown field `colour`",
        ),
        (
            r#"[{"series": 5, "ts": "soon", "value": 1}]"#,
            400,
            "timestamp",
        ),
        (
            r#"[{"key": "no field here", "value": 1}]"#,
            400,
            "invalid key",
        ),
        (r#"[{"series": 5, "value": 1e999}]"#, 400, "not valid JSON"),
    ] {
        let r = s.http("POST", "/api/v1/points", body.as_bytes(), &[]);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(needle), "{body}: {e}");
    }
    // Far-future and very old timestamps are stored at the receive time, and counted.
    let r = s.http(
        "POST",
        "/api/v1/points",
        json!([{"series": 6, "ts": t + 86_400_000, "value": 1}, {"series": 6, "ts": -5, "value": 2}])
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.json()["restamped"], json!(2), "{}", r.text());

    for (path, status, needle) in [
        ("/api/v1/series/abc/points?last=1", 400, "series id"),
        ("/api/v1/series/5/points", 400, "last=N"),
        ("/api/v1/series/5/points?last=0", 400, "last"),
        ("/api/v1/series/5/points?last=x", 400, "`last`"),
        (
            "/api/v1/series/5/points?last=1&from=1&to=2",
            400,
            "not both",
        ),
        ("/api/v1/series/5/points?from=5&to=1", 400, "before"),
        (
            "/api/v1/series/5/points?from=1&to=5&resolution=7x",
            400,
            "resolution",
        ),
        ("/api/v1/series/5/points?last=1&cursor=zz", 400, "cursor"),
        (
            "/api/v1/series/5/points?last=1&bogus=1",
            400,
            "unknown parameter",
        ),
        ("/api/v1/last", 400, "series"),
        ("/api/v1/last?series=1,x", 400, "series id"),
        ("/api/v1/series/424242", 404, "not found"),
        ("/no/such/endpoint", 404, "no such endpoint"),
    ] {
        let r = s.http("GET", path, b"", &[]);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(needle), "{path}: {e}");
    }
    let r = s.http("DELETE", "/api/v1/points", b"", &[]);
    assert_eq!(r.status, 405);

    // Series settings and deletion.
    let r = s.http(
        "PUT",
        "/api/v1/series/5",
        br#"{"keep_history_days": 7, "metadata": {"unit": "bar"}}"#,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let info = s.get_json("/api/v1/series/5", 200);
    assert_eq!(info["keep_history_days"], json!(7));
    assert_eq!(info["metadata"]["unit"], json!("bar"));
    let r = s.http("PUT", "/api/v1/series/5", br#"{"keep_forever": true}"#, &[]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("keep_forever"), "{}", r.text());
    let r = s.http(
        "PUT",
        "/api/v1/series/777",
        br#"{"keep_history_days": 1}"#,
        &[],
    );
    assert_eq!(r.status, 404);
    let r = s.http("DELETE", "/api/v1/series/5", b"", &[]);
    assert_eq!(r.status, 204);
    assert_eq!(s.http("GET", "/api/v1/series/5", b"", &[]).status, 404);
    assert_eq!(s.http("DELETE", "/api/v1/series/5", b"", &[]).status, 404);
    let got = s.get_json("/api/v1/series/5/points?last=5", 404);
    assert!(got["error"].as_str().unwrap().contains("not found"));

    let metrics = s.http("GET", "/metrics", b"", &[]).text();
    for name in [
        "clio_points_received_total",
        "clio_request_duration_seconds_bucket",
        "clio_cache_hits",
        "clio_wal_bytes",
        "clio_queries_waiting",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // What only grows is a counter (issue #19): rate() and increase() work on it, and it is
    // named with `_total`.
    for name in [
        "clio_flushes",
        "clio_flush_errors",
        "clio_points_written",
        "clio_cache_hits",
        "clio_cache_misses",
        "clio_wal_syncs",
        "clio_housekeeper_runs",
        "clio_storage_failover_reads",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} counter\n"))
                && metrics.contains(&format!("\n{name}_total ")),
            "{name} is not a counter:\n{metrics}"
        );
    }
    assert!(!metrics.contains("# TYPE clio_flushes gauge"));
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn caps_truncate_to_the_newest_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t0 = now_ms() - 10_000_000;
    let points: Vec<Value> = (0..6000)
        .map(|i| json!({"series": 9, "ts": t0 + i * 1000, "value": i}))
        .collect();
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(points).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let to = t0 + 6_000_000;
    let page = s.get_json(&format!("/api/v1/series/9/points?from={t0}&to={to}"), 200);
    let pts = page["points"].as_array().unwrap();
    assert_eq!(pts.len(), 5000);
    assert_eq!(pts[0][0], json!(t0 + 1000 * 1000));
    assert_eq!(page["truncated"], json!(true));
    let cursor = page["next"].as_str().unwrap().to_string();
    let rest = s.get_json(
        &format!("/api/v1/series/9/points?from={t0}&to={to}&cursor={cursor}"),
        200,
    );
    assert_eq!(rest["points"].as_array().unwrap().len(), 1000);
    assert_eq!(rest["truncated"], json!(false));
    let auto = s.get_json(
        &format!("/api/v1/series/9/points?from={t0}&to={to}&resolution=auto"),
        200,
    );
    assert!(auto["trends"].is_array(), "{auto}");
    s.kill();
}

#[test]
fn oversized_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("clio.toml");
    std::fs::write(&cfg, "[server]\nmax_request_mb = 1\n").unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let big = "m v=1\n".repeat(400_000);
    let r = s.http("POST", "/write?db=x", big.as_bytes(), &[]);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("max_request_mb")
    );
    // A gzip bomb is caught after decompression too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'a'; 8 << 20]).unwrap();
    let r = s.http(
        "POST",
        "/write?db=x",
        &gz.finish().unwrap(),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(s.get_json("/health", 200)["status"], json!("ok"));
    s.kill();
}

#[test]
fn acknowledged_http_writes_survive_sigkill_and_shutdown_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let addr = s.http;
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = now_ms() - 1_000_000;
    // Two writers post batches concurrently and remember what was acknowledged.
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (0..200)
                        .map(|i| {
                            format!(
                                "crash,writer={w} v={} {}\n",
                                acked * 200 + i,
                                t0 + acked * 200 + i
                            )
                        })
                        .collect();
                    match try_http_request(
                        addr,
                        "POST",
                        "/write?db=x&precision=ms",
                        body.as_bytes(),
                        &[],
                    ) {
                        Ok(r) if r.status == 204 => {}
                        _ => break,
                    }
                    acked += 1;
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.kill();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<i64> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        acked.iter().all(|&a| a > 0),
        "writers made no progress: {acked:?}"
    );

    let s = Server::start(dir.path(), &[]);
    for (w, &batches) in acked.iter().enumerate() {
        let id = series_id(&s, &format!("measurement=crash&writer={w}"));
        let n = batches * 200;
        let mut seen = 0;
        let mut cursor = String::new();
        loop {
            let page = s.get_json(
                &format!(
                    "/api/v1/series/{id}/points?from={t0}&to={}&cursor={cursor}",
                    t0 + n
                ),
                200,
            );
            seen += page["points"].as_array().unwrap().len() as i64;
            match page["next"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        assert_eq!(
            seen, n,
            "writer {w}: acknowledged points lost after SIGKILL"
        );
    }
    // Graceful stop flushes: the points are in the SQLite file afterwards.
    assert_eq!(s.terminate().code(), Some(0));
    let out = std::process::Command::new(clio_e2e::harness::clio_bin())
        .args(["query", "--db"])
        .arg(dir.path().join("clio.db"))
        .args(["--key", "crash,writer=0 v", "--last", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Everything acknowledged is there; a batch in flight at the kill may be there too.
    let newest = v["points"][0][0].as_i64().unwrap();
    assert!(
        newest >= t0 + acked[0] * 200 - 1,
        "{newest} < {}",
        t0 + acked[0] * 200 - 1
    );
}

#[test]
fn a_deleted_series_written_again_gets_its_key_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms();
    let write = |v: i64| {
        let r = s.http(
            "POST",
            "/write?db=x&precision=ms",
            format!("valve,unit=3 open={v} {}", t + v).as_bytes(),
            &[],
        );
        assert_eq!(r.status, 204, "{}", r.text());
    };
    write(1);
    write(2);
    let id = series_id(&s, "measurement=valve");
    assert_eq!(
        s.http("DELETE", &format!("/api/v1/series/{id}"), b"", &[])
            .status,
        204
    );
    write(3);
    let list = s.get_json("/api/v1/series", 200);
    let list = list["series"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["key"], json!("valve,unit=3 open"));
    let again = list[0]["id"].as_u64().unwrap();
    let got = s.get_json(&format!("/api/v1/series/{again}/points?last=10"), 200);
    assert_eq!(got["points"], json!([[t + 3, 3.0]]));
    s.kill();
}

#[test]
fn slow_half_closed_and_garbage_clients_do_not_hurt_others() {
    use std::io::Read;
    use std::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    // A slow client that sends half a request and stalls.
    let mut slow = TcpStream::connect(s.http).unwrap();
    slow.write_all(b"POST /write?db=x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nm v=")
        .unwrap();
    // A client that sends garbage.
    let mut garbage = TcpStream::connect(s.http).unwrap();
    garbage
        .write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    garbage
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = garbage.read_to_end(&mut answer);
    assert!(
        answer.is_empty() || String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A half-closed client: request sent, write side shut. hyper may answer or close (it
    // treats the read EOF as the end of the connection); either way nothing else is hurt.
    let mut half = TcpStream::connect(s.http).unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut resp = String::new();
    let _ = half.read_to_string(&mut resp);
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 200"),
        "{resp}"
    );
    // Meanwhile everyone else is served.
    let t = now_ms();
    for i in 0..20 {
        let r = s.http(
            "POST",
            "/write?db=x&precision=ms",
            format!("fast v={i} {}", t + i).as_bytes(),
            &[],
        );
        assert_eq!(r.status, 204);
    }
    let id = series_id(&s, "measurement=fast");
    let got = s.get_json(&format!("/api/v1/series/{id}/points?last=100"), 200);
    assert_eq!(got["points"].as_array().unwrap().len(), 20);
    drop(slow);
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn series_listings_come_in_pages_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms();
    let body: String = (0..25)
        .map(|i| format!("pump,unit={i},site={} flow={i} {t}\n", i % 2))
        .collect();
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/series?measurement=pump&limit=10&cursor={c}"),
            None => "/api/v1/series?measurement=pump&limit=10".to_owned(),
        };
        let page = s.get_json(&path, 200);
        pages += 1;
        for e in page["series"].as_array().unwrap() {
            seen.push(e["id"].as_u64().unwrap());
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "ascending, no repeats");
    assert_eq!(seen.len(), 25);

    // A tag filter walks only that tag's series.
    let odd = s.get_json("/api/v1/series?site=1&limit=100", 200);
    assert_eq!(odd["series"].as_array().unwrap().len(), 12);
    assert_eq!(odd["next"], Value::Null);
    let none = s.get_json("/api/v1/series?measurement=nothing", 200);
    assert_eq!(none["series"], json!([]));

    for (q, needle) in [
        ("limit=0", "limit 0 is out of range"),
        ("limit=100001", "out of range"),
        ("limit=x", "limit `x`"),
        ("cursor=abc", "invalid cursor `abc`"),
    ] {
        let r = s.http("GET", &format!("/api/v1/series?{q}"), b"", &[]);
        assert_eq!(r.status, 400, "{q}");
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(needle), "{q}: {e}");
    }
    assert_eq!(s.terminate().code(), Some(0));
}

/// Small faults of issue #19: an id past 2^64 - 1 is out of range (not "not a number"), a
/// bad cursor is named once, a NUL in a measurement is refused.
#[test]
fn bad_ids_cursors_and_names_get_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let r = s.http(
        "GET",
        "/api/v1/series/18446744073709551616/points?last=1",
        b"",
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("out of range"), "{}", r.text());
    let r = s.http("GET", "/api/v1/series/-1/points?last=1", b"", &[]);
    assert!(
        r.text().contains("not a non-negative integer"),
        "{}",
        r.text()
    );
    let r = s.http(
        "GET",
        "/api/v1/series/18446744073709551616/fn/last",
        b"",
        &[],
    );
    assert!(r.text().contains("out of range"), "{}", r.text());
    let ok = s.http("POST", "/write?db=x", b"m v=1 1700000000000000000\n", &[]);
    assert_eq!(ok.status, 204, "{}", ok.text());
    let r = s.http(
        "GET",
        "/api/v1/series/1/points?from=0&to=9999999999999&cursor=x",
        b"",
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text().matches("invalid cursor").count(),
        1,
        "{}",
        r.text()
    );
    let r = s.http(
        "POST",
        "/write?db=x",
        b"c\0pu v=1 1700000000000000000\n",
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("NUL"), "{}", r.text());
    assert_eq!(s.terminate().code(), Some(0));
}
