//! The ALEPIZ `db` list end to end: the release binary with a SQLite primary and a SQLite
//! replica, killed with SIGKILL while the replica lags, restarted: no acknowledged point lost
//! on either file, none duplicated, both files identical (raw points and trends).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clio_e2e::harness::{Server, clio_bin, try_http_request};
use serde_json::Value;

const CONFIG: &str = r#"
[cache]
cache_service_interval = 1

[[storage.backends]]
name = "main"
type = "sqlite"
file = "clio.db"

[[storage.backends]]
name = "backup"
type = "sqlite"
path = "replica"
file = "history.db"
"#;

fn start(dir: &Path) -> Server {
    let cfg = dir.join("clio.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    Server::start(&dir.join("data"), &["--config", cfg.to_str().unwrap()])
}

/// Every point and trend bucket of a series in a database file, read directly.
fn file_dump(db: &Path, key: &str) -> (Vec<Value>, Vec<Value>) {
    let read = |resolution: &str| -> Vec<Value> {
        let out = std::process::Command::new(clio_bin())
            .args(["query", "--db"])
            .arg(db)
            .args(["--key", key, "--from", "0", "--to", "9999999999999"])
            .args(["--resolution", resolution, "--limit", "100000000", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let field = if resolution == "raw" {
            "points"
        } else {
            "trends"
        };
        v[field].as_array().cloned().unwrap_or_default()
    };
    (read("raw"), read("10m"))
}

fn replica_lag(s: &Server) -> (String, u64) {
    let v = s.get_json("/api/v1/storage", 200);
    let r = &v["backends"][1];
    (
        r["state"].as_str().unwrap_or("?").to_string(),
        r["lag_points"].as_u64().unwrap_or(u64::MAX),
    )
}

#[test]
fn sigkill_while_a_replica_lags_loses_nothing_on_either() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let addr = s.http;
    let stop = Arc::new(AtomicBool::new(false));
    // A day ago, 100 ms apart: inside the accepted window (nothing restamped).
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 86_400_000;
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (0..200)
                        .map(|i| {
                            let n = acked * 200 + i;
                            format!("repl,writer={w} v={}.25 {}\n", n % 1000, t0 + n * 100)
                        })
                        .collect();
                    match try_http_request(
                        addr,
                        "POST",
                        "/write?db=x&precision=ms",
                        body.as_bytes(),
                        &[],
                    ) {
                        Ok(r) if r.status == 204 => acked += 1,
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    // Flushes (every second) and the replica run while the writers write.
    std::thread::sleep(Duration::from_millis(2500));
    let (state, lag) = replica_lag(&s);
    assert_eq!(state, "following");
    assert!(lag > 0, "the replica should be behind while writes go on");
    s.kill();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<i64> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(acked.iter().all(|&a| a > 0), "no progress: {acked:?}");

    let s = start(dir.path());
    let mut caught_up = false;
    for _ in 0..200 {
        let (state, lag) = replica_lag(&s);
        let v = s.get_json("/api/v1/storage", 200);
        if state == "following" && lag == 0 && v["backends"][1]["lag_seconds"] == 0.0 {
            caught_up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(caught_up, "{}", s.get_json("/api/v1/storage", 200));
    assert_eq!(s.terminate().code(), Some(0));

    let main = dir.path().join("data/clio.db");
    let replica = dir.path().join("data/replica/history.db");
    for (w, &batches) in acked.iter().enumerate() {
        let key = format!("repl,writer={w} v");
        let (points, trends) = file_dump(&main, &key);
        // Every acknowledged point; a batch in flight at the kill may be there too.
        let n = points.len() as i64;
        assert!(
            n == batches * 200 || n == (batches + 1) * 200,
            "writer {w}: {n} points for {batches} acknowledged batches"
        );
        for (i, p) in points.iter().enumerate() {
            assert_eq!(p[0].as_i64(), Some(t0 + i as i64 * 100), "writer {w}");
        }
        // No duplicate reached the trends either.
        let counted: u64 = trends.iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(counted, n as u64, "writer {w}: trend counts");
        let (rp, rt) = file_dump(&replica, &key);
        let first_diff = |a: &[Value], b: &[Value]| {
            a.iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .map(|i| (i, a[i].clone(), b[i].clone()))
        };
        assert!(
            rp == points,
            "writer {w}: replica raw points differ: {} vs {} points, first difference {:?}",
            rp.len(),
            points.len(),
            first_diff(&rp, &points)
        );
        assert!(
            rt == trends,
            "writer {w}: replica trends differ: {} vs {} buckets, first difference {:?}",
            rt.len(),
            trends.len(),
            first_diff(&rt, &trends)
        );
    }
}
