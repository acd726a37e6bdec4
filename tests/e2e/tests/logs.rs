//! `[log] format = "json"`: every line the server logs is a JSON object with its level,
//! component (target) and message; `[log] level` takes the seed's names.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use clio_e2e::harness::clio_bin;

#[test]
fn json_logs_carry_level_component_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clio.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\nlevel = \"INFO\"\n").unwrap();
    let mut child = Command::new(clio_bin())
        .args(["serve", "--config", config.to_str().unwrap(), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .env_remove("CLIO_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("clio listening"), "{line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{err}");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["target"].is_string(), "{l}");
        assert!(v["fields"]["message"].is_string(), "{l}");
    }
    assert!(lines.iter().any(|l| l.contains("clio serving")), "{err}");
}

#[test]
fn a_bad_log_format_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clio.toml");
    std::fs::write(&config, "[log]\nformat = \"xml\"\n").unwrap();
    let out = Command::new(clio_bin())
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("log.format `xml`"),
        "{err}"
    );
}
