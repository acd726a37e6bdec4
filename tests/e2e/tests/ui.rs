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
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
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
        assert!(std::time::Instant::now() < deadline, "the alert never fired");
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
