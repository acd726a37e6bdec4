//! The housekeeper through the real binary: retention by per-series settings on demand,
//! zombie removal after a registry is declared, status over HTTP and `clio housekeeper`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use clio_e2e::harness::Server;
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

fn wait_for_run(s: &Server, runs_before: u64) -> Value {
    for _ in 0..200 {
        let st = s.get_json("/api/v1/housekeeper", 200);
        if st["deleted"]["runs"].as_u64().unwrap() > runs_before && st["running"] == json!(false) {
            return st;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the housekeeper run did not finish");
}

#[test]
fn retention_and_zombies_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("clio.toml");
    std::fs::write(
        &cfg,
        "[housekeeper]\npause_between_deleting_series_objects = 0\n",
    )
    .unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Series 1..=3: one point per hour over the last 3 days.
    let points: Vec<Value> = (1..=3)
        .flat_map(|id| {
            (0..72).map(move |h| json!({"series": id, "ts": now - h * 3_600_000, "value": h}))
        })
        .collect();
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(points).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.http(
        "PUT",
        "/api/v1/series/1",
        br#"{"keep_history_days": 1}"#,
        &[],
    );
    assert_eq!(r.status, 200);
    // The start-up run has happened (nothing to do then); ask for another.
    let before = wait_for_run(&s, 0)["deleted"]["runs"].as_u64().unwrap();
    let r = s.http("POST", "/api/v1/housekeeper/run", b"", &[]);
    assert_eq!(r.status, 202, "{}", r.text());
    let st = wait_for_run(&s, before);
    // The start-up run may already have done it (it races the writes above): count totals.
    assert_eq!(st["deleted"]["points"].as_u64().unwrap(), 48, "{st}");
    let got = s.get_json(
        &format!("/api/v1/series/1/points?from=0&to={}", now + 1),
        200,
    );
    let pts = got["points"].as_array().unwrap();
    let cut = st["last_run"]["started"].as_i64().unwrap() - DAY;
    assert!(
        pts.iter().all(|p| p[0].as_i64().unwrap() >= cut),
        "a point before the cut survived"
    );
    assert_eq!(
        pts.len() as i64,
        (0..72).filter(|h| now - h * 3_600_000 >= cut).count() as i64
    );
    let got = s.get_json(
        &format!("/api/v1/series/2/points?from=0&to={}", now + 1),
        200,
    );
    assert_eq!(
        got["points"].as_array().unwrap().len(),
        72,
        "series 2 keeps 90 days"
    );

    // Zombies: declare 1 and 2 live; 3 goes on the next run.
    let r = s.http(
        "PUT",
        "/api/v1/registry",
        br#"{"ids": [1, 2], "keys": ["nope x"]}"#,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"live": 2, "unknown_keys": 1}));
    let r = s.http("PUT", "/api/v1/registry", br#"{"idz": [1]}"#, &[]);
    assert_eq!(r.status, 400);
    let before = st["deleted"]["runs"].as_u64().unwrap();
    s.http("POST", "/api/v1/housekeeper/run", b"", &[]);
    let st = wait_for_run(&s, before);
    assert_eq!(st["last_run"]["zombies"], json!(1), "{st}");
    assert_eq!(s.http("GET", "/api/v1/series/3", b"", &[]).status, 404);
    assert_eq!(s.http("GET", "/api/v1/series/2", b"", &[]).status, 200);

    let metrics = s.http("GET", "/metrics", b"", &[]).text();
    assert!(
        metrics.contains("clio_housekeeper_deleted_points"),
        "metrics lack housekeeper figures"
    );
    let out = std::process::Command::new(clio_e2e::harness::clio_bin())
        .args(["housekeeper", "status", "--server"])
        .arg(format!("http://{}", s.http))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("policy       keep") && text.contains("declared"),
        "{text}"
    );
    // The policy that decided is the built-in plugin, listed with the functions.
    let plugins = s.get_json("/api/v1/plugins", 200);
    let keep = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "keep")
        .unwrap_or_else(|| panic!("no keep policy plugin: {plugins}"));
    assert_eq!(keep["kind"], "housekeeping-policy");
    assert_eq!(keep["contract"], "0.2.2");
    assert!(keep["calls"].as_u64().unwrap() > 0, "{keep}");
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn a_run_killed_with_sigkill_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("clio.toml");
    // One series per batch and a pause, so the run is still going when it is killed.
    std::fs::write(
        &cfg,
        "[housekeeper]\nmax_number_objects_to_delete_at_time = 1\npause_between_deleting_series_objects = 300\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &["--config", cfg.to_str().unwrap()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let points: Vec<Value> = (1..=12)
        .flat_map(|id| {
            (0..48).map(move |h| json!({"series": id, "ts": now - h * 3_600_000, "value": h}))
        })
        .collect();
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(points).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for id in 1..=12 {
        let r = s.http(
            "PUT",
            &format!("/api/v1/series/{id}"),
            br#"{"keep_history_days": 1}"#,
            &[],
        );
        assert_eq!(r.status, 200);
    }
    let before = wait_for_run(&s, 0)["deleted"]["runs"].as_u64().unwrap();
    s.http("POST", "/api/v1/housekeeper/run", b"", &[]);
    // Wait until the run is part-way, then kill the process.
    let mut done_through = 0;
    for _ in 0..200 {
        let st = s.get_json("/api/v1/housekeeper", 200);
        if st["deleted"]["runs"].as_u64().unwrap() > before {
            panic!("the run finished before it could be killed: {st}");
        }
        if let Some(d) = st["progress"]["done_through"].as_u64()
            && d >= 3
        {
            done_through = d;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(done_through >= 3, "the run made no progress");
    s.kill();
    // After the restart the start-up run continues the interrupted one.
    let s = Server::start(&data, &["--config", cfg.to_str().unwrap()]);
    let st = wait_for_run(&s, 0);
    let last = &st["last_run"];
    assert_eq!(last["resumed"], json!(true), "{st}");
    assert!(
        last["series"].as_u64().unwrap() <= 12 - done_through + 1,
        "{st}"
    );
    let cut = last["started"].as_i64().unwrap() - DAY;
    for id in 1..=12 {
        let got = s.get_json(
            &format!("/api/v1/series/{id}/points?from=0&to={}", now + 1),
            200,
        );
        let pts = got["points"].as_array().unwrap();
        assert!(
            pts.iter().all(|p| p[0].as_i64().unwrap() >= cut),
            "series {id}: expired points survived"
        );
        assert_eq!(
            pts.len(),
            (0..48).filter(|h| now - h * 3_600_000 >= cut).count(),
            "series {id}"
        );
    }
    s.kill();
}

#[test]
fn the_policy_is_switched_at_runtime_and_bad_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let put = |body: &str| s.http("PUT", "/api/v1/housekeeper/policy", body.as_bytes(), &[]);
    // Refused, naming what is wrong; the policy in use stays.
    for (body, why) in [
        (r#"{"policy": "nope"}"#, "no policy plugin `nope`"),
        (
            r#"{"policy": "disk-budget", "config": {"max_bytes": 0}}"#,
            "max_bytes",
        ),
        (
            r#"{"policy": "disk-budget", "config": {"max_bytes": 5, "max_bytez": 5}}"#,
            "max_bytez",
        ),
        (
            r#"{"policy": "keep", "config": 5}"#,
            "`config` must be an object",
        ),
        (r#"{"policy": "keep", "extra": 1}"#, "unknown field `extra`"),
    ] {
        let r = put(body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains(why), "{body}: {}", r.text());
    }
    assert_eq!(s.get_json("/api/v1/housekeeper", 200)["policy"], "keep");
    let r = put(r#"{"policy": "disk-budget", "config": {"max_bytes": 1000000000}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        s.get_json("/api/v1/housekeeper", 200)["policy"],
        "disk-budget"
    );
    // The next run uses it.
    let r = s.http("POST", "/api/v1/housekeeper/run", b"", &[]);
    assert_eq!(r.status, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = s.get_json("/api/v1/housekeeper", 200);
        if st["last_run"]["policy"] == "disk-budget" && st["running"] == false {
            assert_eq!(st["last_run"]["error"], Value::Null, "{st}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run with the new policy: {st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(s.terminate().code(), Some(0));
}
