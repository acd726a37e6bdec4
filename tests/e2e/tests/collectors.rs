//! Collectors through the real binary: `clio serve --demo` runs the furnace simulator, its
//! points are readable over HTTP, its status and metrics are listed, and `clio collector`
//! stops, starts and runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use clio_e2e::harness::Server;
use serde_json::Value;

fn cli(s: &Server, args: &[&str]) -> String {
    let out = std::process::Command::new(clio_e2e::harness::clio_bin())
        .args(["collector"])
        .args(args)
        .arg("--server")
        .arg(format!("http://{}", s.http))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn demo_mode_shows_live_furnace_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &["--demo"]);
    // Run now rather than wait for the 5 s grid.
    let r = s.http("POST", "/api/v1/collectors/demo/run", b"", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let run = r.json();
    assert_eq!(run["outcome"], "ok", "{run}");
    assert_eq!(run["points"], 26, "{run}");
    // The points through the read paths: the series listing and the last value.
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let list = s.get_json("/api/v1/series?measurement=furnace&limit=1000", 200);
        let found = list["series"].as_array().and_then(|a| {
            a.iter()
                .find(|x| x["key"] == "furnace,line=L1,sensor=T1 temperature")
                .and_then(|x| x["id"].as_u64())
        });
        if let Some(id) = found {
            break id;
        }
        assert!(Instant::now() < deadline, "no furnace series: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let last = s.get_json(&format!("/api/v1/last?series={id}"), 200);
    let text = last.to_string();
    assert!(text.contains("15"), "a temperature near 1550: {text}");
    let st: Value = s.get_json("/api/v1/collectors/demo", 200);
    assert_eq!(st["plugin"], "simulator");
    assert!(st["runs"].as_u64().unwrap() >= 1, "{st}");
    let metrics = s.http("GET", "/metrics", b"", &[]).text();
    assert!(
        metrics.contains("clio_collector_runs_total{collector=\"demo\",outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(cli(&s, &["list"]).contains("demo"));
    assert!(cli(&s, &["stop", "demo"]).contains("stopped"));
    assert!(cli(&s, &["start", "demo"]).contains("running"));
    assert!(cli(&s, &["run", "demo"]).contains("demo: ok (26 points"));
    let missing = s.http("POST", "/api/v1/collectors/nope/run", b"", &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn the_prometheus_collector_scrapes_clios_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // The config must name the server's own address, so choose the port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("clio.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[collectors]]
name = "self"
plugin = "prometheus"
every = "1h"
enabled = false
http_hosts = ["127.0.0.1:{port}"]
[collectors.config]
url = "http://127.0.0.1:{port}/metrics"
include = ["clio_"]
tags = {{ scraped_by = "self" }}

[[collectors]]
name = "denied"
plugin = "prometheus"
every = "1h"
enabled = false
[collectors.config]
url = "http://127.0.0.1:{port}/metrics"
"#
        ),
    )
    .unwrap();
    let s = Server::start_at(
        &dir.path().join("data"),
        &format!("127.0.0.1:{port}"),
        &["--config", cfg.to_str().unwrap()],
    );
    // Twice: the second scrape sees the first run's clio_collector_* metrics.
    for _ in 0..2 {
        let r = s.http("POST", "/api/v1/collectors/self/run", b"", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        let run = r.json();
        assert_eq!(run["outcome"], "ok", "{run}");
        assert!(run["points"].as_u64().unwrap() > 10, "{run}");
    }
    let key_exists = |measurement: &str, key: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = s.get_json(
                &format!("/api/v1/series?measurement={measurement}&limit=1000"),
                200,
            );
            let keys: Vec<&str> = list["series"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|x| x["key"].as_str())
                .collect();
            if keys.contains(&key) {
                return;
            }
            assert!(Instant::now() < deadline, "no {key} in {list}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // A counter with its labels as tags, and a histogram's buckets, sum and count.
    key_exists(
        "clio_collector_runs_total",
        "clio_collector_runs_total,collector=self,outcome=ok,scraped_by=self value",
    );
    key_exists(
        "clio_collector_run_duration_seconds_bucket",
        "clio_collector_run_duration_seconds_bucket,collector=self,le=+Inf,scraped_by=self value",
    );
    key_exists(
        "clio_collector_run_duration_seconds_count",
        "clio_collector_run_duration_seconds_count,collector=self,scraped_by=self value",
    );
    // Not granted: refused, nothing written.
    let run = s
        .http("POST", "/api/v1/collectors/denied/run", b"", &[])
        .json();
    assert_eq!(run["outcome"], "error", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("HttpRequestDenied"),
        "{run}"
    );
    assert_eq!(s.get_json("/api/v1/collectors/denied", 200)["points"], 0);
    assert_eq!(s.terminate().code(), Some(0));
}
