//! The Glass AI tables' background jobs in `clio serve`, configured by the TOML file: a
//! deleted sensor's series removed by the housekeeper (`[glass.zombies] follow_sensors`) while
//! a kept sensor's and an unrelated series stay, and quality metrics written on a schedule
//! (`[glass.quality]`) with its figures in `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clio_e2e::harness::{Server, wait_until};
use serde_json::json;

const CONFIG: &str = r#"
[housekeeper]
housekeeper_interval = 1000
pause_between_deleting_series_objects = 1

[glass.zombies]
follow_sensors = true
sync_every = "100ms"

[glass.quality]
enabled = true
every = "200ms"
periods = ["1h"]
lookback = 0
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn post(s: &Server, path: &str, body: serde_json::Value) -> serde_json::Value {
    let r = s.http(
        "POST",
        path,
        body.to_string().as_bytes(),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(r.status, 201, "POST {path}: {}", r.text());
    r.json()
}

fn series_id(s: &Server, sensor: &str) -> u64 {
    let v = s.get_json(
        &format!("/api/v1/series?measurement=sensor_data&sensor_id={sensor}"),
        200,
    );
    v["series"][0]["id"].as_u64().unwrap()
}

#[test]
fn zombies_and_quality_run_in_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_configured(dir.path(), CONFIG, "info");
    let now = now_ms();
    let lines = format!(
        "sensor_data,sensor_id=A value=1 {now}\nsensor_data,sensor_id=B value=2 {now}\ncpu,host=x usage=3 {now}\n"
    );
    let r = s.http("POST", "/write?db=clio&precision=ms", lines.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let (a, b) = (series_id(&s, "A"), series_id(&s, "B"));
    let row_a = post(
        &s,
        "/api/v1/sensors",
        json!({"sensor_id": "A", "name": "a", "type": "t", "series_key": "sensor_data,sensor_id=A value"}),
    )["id"]
        .as_i64()
        .unwrap();
    post(
        &s,
        "/api/v1/sensors",
        json!({"sensor_id": "B", "name": "b", "type": "t", "series_id": b}),
    );
    // The links are learnt: the series carry their sensor.
    wait_until("the sensors' series are marked", 30, || {
        s.get_json(&format!("/api/v1/series/{a}"), 200)["metadata"]["glass_sensor"] == "A"
            && s.get_json(&format!("/api/v1/series/{b}"), 200)["metadata"]["glass_sensor"] == "B"
    });
    let hk = s.get_json("/api/v1/housekeeper", 200);
    assert_eq!(hk["zombie_source"], true, "{hk}");
    // Deleting sensor A makes its series a zombie; a housekeeper run removes it.
    let r = s.http("DELETE", &format!("/api/v1/sensors/{row_a}"), b"", &[]);
    assert_eq!(r.status, 204);
    wait_until("sensor A's series is removed", 30, || {
        s.http("GET", &format!("/api/v1/series/{a}"), b"", &[])
            .status
            == 404
    });
    s.get_json(&format!("/api/v1/series/{b}"), 200);
    let cpu = s.get_json("/api/v1/series?measurement=cpu", 200);
    assert_eq!(cpu["series"].as_array().unwrap().len(), 1);

    // Quality on the schedule: two predictions of this hour, one right.
    for (p, a) in [(true, true), (true, false)] {
        post(
            &s,
            "/api/v1/predictions",
            json!({"model_name": "m", "timestamp": now, "prediction": p, "actual_result": a}),
        );
    }
    let hour = now / 3_600_000 * 3_600_000;
    wait_until("the schedule writes m's accuracy", 30, || {
        let v = s.get_json("/api/v1/quality_metrics?model=m&metric=accuracy", 200);
        v["items"].as_array().is_some_and(|i| {
            i.iter()
                .any(|r| r["period_start"] == hour && r["value"] == 0.5 && r["samples"] == 2)
        })
    });
    wait_until("the schedule's figures", 30, || {
        s.metric("clio_glass_quality_runs_total").unwrap_or(0.0) >= 2.0
            && s.metric("clio_glass_quality_rows_written_total")
                .unwrap_or(0.0)
                >= 3.0
    });
    assert_eq!(s.metric("clio_glass_quality_failures_total"), Some(0.0));
    // However often it ran, one row per metric of the period.
    let v = s.get_json(
        &format!("/api/v1/quality_metrics?model=m&period_start={hour}"),
        200,
    );
    let metrics: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    let mut sorted = metrics.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["accuracy", "precision", "recall"], "{v}");
    s.terminate();
}
