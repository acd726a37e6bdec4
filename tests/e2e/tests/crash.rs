//! Crash test: a child process writes through the engine and reports each acknowledged batch;
//! it is killed with SIGKILL at varying moments; after reopening, every acknowledged point is
//! there with its value.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use clio_core::{Data, ReadRequest, Resolution, Window};
use clio_e2e::{CRASH_POINTS, CRASH_SERIES, crash_value};
use clio_storage::{SeriesId, Value};

fn run_and_kill(dir: &std::path::Path, acks_before_kill: u64) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_ack = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let b: u64 = line.strip_prefix("ack ").unwrap().parse().unwrap();
        last_ack = Some(b);
        if b + 1 >= acks_before_kill {
            // SIGKILL: no destructor, no flush, no close.
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    last_ack.expect("the writer acknowledged nothing")
}

async fn check(dir: &std::path::Path, last_ack: u64) -> u64 {
    let store = clio_e2e::open_store(dir).await.unwrap();
    let mut newest = 0;
    for s in 1..=CRASH_SERIES {
        let req = ReadRequest {
            series: SeriesId(s),
            window: Window::Range {
                from: 0,
                to: ((last_ack + 1) * CRASH_POINTS) as i64,
            },
            resolution: Resolution::Raw,
            cursor: None,
        };
        let got = store.read(&req).await.unwrap();
        let Data::Points(points) = got.data else {
            panic!("raw read returned trends")
        };
        assert_eq!(
            points.len() as u64,
            (last_ack + 1) * CRASH_POINTS,
            "series {s}: acknowledged points missing after SIGKILL"
        );
        for p in &points {
            let b = p.ts as u64 / CRASH_POINTS;
            let i = p.ts as u64 % CRASH_POINTS;
            assert_eq!(
                p.value,
                Value::Num(crash_value(b, s, i)),
                "series {s} ts {}",
                p.ts
            );
        }
        newest = newest.max(points.last().map_or(0, |p| p.ts));
    }
    store.close().await.unwrap();
    newest as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_points_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    // Several kills into the same directory: each restart replays the log left by the
    // previous kill, then keeps writing on top of it.
    for round in 0..4u64 {
        let last_ack = run_and_kill(dir.path(), 20 + round * 37);
        check(dir.path(), last_ack).await;
        std::thread::sleep(Duration::from_millis(10));
    }
}
