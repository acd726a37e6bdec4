//! A client library someone else wrote (the `influxdb` package from PyPI, installed by
//! scripts/test-all.sh into target/pyenv) writes to `/write`; the data reads back through
//! Clio's API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;

use clio_e2e::harness::Server;
use serde_json::json;

#[test]
fn python_influxdb_client_writes_and_clio_reads_back() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test-all.sh installs the influxdb package there",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 5000;
    let script = format!(
        r#"
from influxdb import InfluxDBClient
c = InfluxDBClient(host="{host}", port={port}, database="plant")
c.create_database("plant")
ok = c.write_points([
    {{"measurement": "boiler", "tags": {{"site": "north"}}, "time": {t}, "fields": {{"temp": 81.5, "state": "on"}}}},
    {{"measurement": "boiler", "tags": {{"site": "north"}}, "time": {t1}, "fields": {{"temp": 82, "state": "off"}}}},
], time_precision="ms", batch_size=1)
assert ok
c.write(["pump,site=north flow=3i {t}"], params={{"db": "plant", "precision": "ms"}}, protocol="line")
try:
    c.write_points([{{"measurement": "x", "fields": {{}}}}])
    raise SystemExit("an empty field set was accepted")
except Exception as e:
    print("rejected:", e)
"#,
        host = s.http.ip(),
        port = s.http.port(),
        t1 = t + 1000,
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rejected:"), "{stdout}");

    let id = |q: &str| {
        let list = s.get_json(&format!("/api/v1/series?{q}"), 200);
        assert_eq!(list["series"].as_array().unwrap().len(), 1, "{q}: {list}");
        list["series"][0]["id"].as_u64().unwrap()
    };
    let temp = id("measurement=boiler&field=temp&site=north");
    let got = s.get_json(&format!("/api/v1/series/{temp}/points?last=10"), 200);
    assert_eq!(got["points"], json!([[t, 81.5], [t + 1000, 82.0]]));
    let state = id("measurement=boiler&field=state");
    let got = s.get_json(&format!("/api/v1/series/{state}/points?last=10"), 200);
    assert_eq!(got["points"], json!([[t, "on"], [t + 1000, "off"]]));
    let flow = id("measurement=pump");
    let got = s.get_json(&format!("/api/v1/series/{flow}/points?last=1"), 200);
    assert_eq!(got["points"], json!([[t, 3.0]]));
    s.kill();
}
