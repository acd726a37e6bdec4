//! The operator's page in a real browser: Debian's chromium driven by playwright-core
//! (`tests/browser/ui.mjs`) against the real binary. Screenshots are kept in
//! `target/ui-artifacts/`. `scripts/test-all.sh` installs chromium and playwright-core.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;

use clio_e2e::harness::Server;

#[test]
fn the_page_browses_plots_zooms_and_evaluates_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/browser/ui.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run `npm ci` in tests/browser (scripts/test-all.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium (scripts/test-all.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    // An alert rule over the series, firing once the points below are in.
    let cfg = dir.path().join("clio.toml");
    std::fs::write(
        &cfg,
        r##"[alerts]
interval = "200ms"
[[alerts.rules]]
name = "kiln-hot"
pattern = "kiln,* temp"
function = "avg"
args = "#10"
threshold = 100
"##,
    )
    .unwrap();
    // --demo: a collector for the status page's Collectors section.
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap(), "--demo"],
    );
    // 360 points, one every 10 s over the last hour, values 0..359.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let body: String = (0..360)
        .map(|i| {
            format!(
                "kiln,line=2 temp={i} {}\n",
                now - (360 - i) * 10_000 + 5_000
            )
        })
        .collect();
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.get_json("/api/v1/alerts", 200)["firing"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the alert never fired"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let page = s.http("GET", "/", b"", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("uPlot.iife.min.js"));
    assert_eq!(s.http("GET", "/ui/uPlot.iife.min.js", b"", &[]).status, 200);

    let artifacts = root.join("target/ui-artifacts");
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://{}", s.http))
        .arg(&artifacts)
        .arg("kiln")
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
    for shot in ["raw.png", "zoomed.png", "trends.png", "status.png"] {
        assert!(artifacts.join(shot).is_file(), "{shot}");
    }
    assert_eq!(s.terminate().code(), Some(0));
}

/// With authentication on, the page asks for a token once and sends it with every call.
#[test]
fn the_page_asks_for_a_token_when_authentication_is_on() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(clio_e2e::harness::clio_bin())
        .args(["token", "create", "--data-dir", data.to_str().unwrap()])
        .args(["--role", "read", "--name", "page"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let writer = Command::new(clio_e2e::harness::clio_bin())
        .args(["token", "create", "--data-dir", data.to_str().unwrap()])
        .args(["--role", "write", "--name", "writer"])
        .output()
        .unwrap();
    let writer = format!("Token {}", String::from_utf8_lossy(&writer.stdout).trim());
    let cfg = dir.path().join("clio.toml");
    std::fs::write(&cfg, "[auth]\nenabled = true\n").unwrap();
    let s = Server::start(&data, &["--config", cfg.to_str().unwrap()]);
    let r = s.http(
        "POST",
        "/write?db=x",
        b"kiln,line=3 temp=1 1700000000000000000\n",
        &[("Authorization", &writer)],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.http("GET", "/api/v1/series", b"", &[]).status, 401);
    let out = Command::new("node")
        .arg(root.join("tests/browser/auth.mjs"))
        .arg(format!("http://{}", s.http))
        .arg(root.join("target/ui-artifacts"))
        .arg("kiln")
        .env("CHROMIUM", &chromium)
        .env("CLIO_TOKEN", &token)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.terminate().code(), Some(0));
}

/// Numbers for BENCHMARKS.md (run by hand: `cargo test -p clio-e2e --test ui -- --ignored
/// --nocapture`): page load and time to first plot of a one-year series (one point every
/// 5 minutes, 105,120 points) in headless chromium, and the cost of one alert evaluation
/// round with a pattern rule over 10,000 series.
#[test]
#[ignore = "benchmark; prints numbers"]
fn bench_page_and_alert_evaluation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let year = 365 * 24 * 3600 * 1000_i64;
    let step = 300_000_i64;
    let n = year / step;
    for chunk in (0..n).collect::<Vec<_>>().chunks(20_000) {
        let body: String = chunk
            .iter()
            .map(|i| {
                format!(
                    "furnace,line=1 temp={} {}\n",
                    1500 + i % 200,
                    now - year + i * step
                )
            })
            .collect();
        let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let out = Command::new("node")
        .arg(root.join("tests/browser/bench.mjs"))
        .arg(format!("http://{}", s.http))
        .arg("furnace")
        .arg("5")
        .env(
            "CHROMIUM",
            std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("page ({n} points over a year): {stdout}");

    // 10,000 series with 10 points each, then a pattern rule over all of them.
    for batch in 0..10 {
        let body: String = (0..1000)
            .flat_map(|k| {
                let id = batch * 1000 + k;
                (0..10).map(move |i| format!("sensor,id=s{id} value={i} {}\n", now - 10_000 + i))
            })
            .collect();
        let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let rule = r##"{"name": "sensors", "pattern": "sensor,* value", "function": "avg", "args": "#10", "threshold": 100}"##;
    let r = s.http("POST", "/api/v1/alerts/rules", rule.as_bytes(), &[]);
    assert_eq!(r.status, 201, "{}", r.text());
    // Default interval 15 s: wait for three rounds with the rule and read their durations.
    let mut seen = Vec::new();
    let mut last = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while seen.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "no evaluation rounds");
        let a = s.get_json("/api/v1/alerts", 200);
        let at = a["last_evaluation"].as_i64().unwrap();
        if at != last && at > now + 100 {
            if last != 0 {
                seen.push(a["last_evaluation_micros"].as_u64().unwrap());
            }
            last = at;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!("alert round, pattern rule over 10,000 series (avg #10): {seen:?} µs");
    assert_eq!(s.terminate().code(), Some(0));
}
