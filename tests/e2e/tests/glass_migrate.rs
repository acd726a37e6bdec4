//! `clio migrate status|up|down` on the data directory's glass.db, end to end with the
//! binary: up to a version, down to 0, up again, a version this build does not know refused,
//! and a server refusing to start on a schema newer than its build's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use clio_e2e::harness::clio_bin;
use serde_json::Value;

fn migrate(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(clio_bin())
        .arg("migrate")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run clio migrate")
}

fn status(dir: &std::path::Path) -> Value {
    let out = migrate(dir, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn migrate_up_down_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(status(d)["current"], 0);
    let latest = status(d)["latest"].as_i64().unwrap();
    assert!(migrate(d, &["up", "--to", "1"]).status.success());
    assert_eq!(status(d)["current"], 1);
    assert!(migrate(d, &["up"]).status.success());
    assert_eq!(status(d)["current"], latest);
    assert!(migrate(d, &["down"]).status.success());
    assert_eq!(status(d)["current"], latest - 1);
    assert!(migrate(d, &["down", "--to", "0"]).status.success());
    assert_eq!(status(d)["current"], 0);
    let out = migrate(d, &["up", "--to", "999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("to:"));
    assert!(migrate(d, &["up"]).status.success());
    // A newer Clio's step: the server refuses to start.
    let c = rusqlite::Connection::open(d.join("glass.db")).unwrap();
    c.execute_batch("INSERT INTO glass_schema_version VALUES (999, 'future', 0)")
        .unwrap();
    drop(c);
    let out = Command::new(clio_bin())
        .args(["serve", "--http", "127.0.0.1:0", "--tcp", "", "--data-dir"])
        .arg(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer than"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !migrate(d, &["down"]).status.success(),
        "no down step for an unknown version"
    );
}
