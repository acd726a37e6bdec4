//! `clio serve` with PostgreSQL as its only backend (issue 16), against a throwaway cluster
//! the tests start themselves (tests/support/pg_cluster.rs): PostgreSQL restarted
//! mid-ingest, its connections killed with `pg_terminate_backend` and stopped for half a
//! minute lose no acknowledged point and duplicate none; writes over HTTP and ALEPIZ TCP are
//! read back raw, as trends and through a history function, also after Clio restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../support/pg_cluster.rs"]
mod pg_cluster;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clio_e2e::harness::{Server, try_http_request};
use pg_cluster::Cluster;
use serde_json::{Value, json};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A config whose only backend is `database` on `c`.
fn config(dir: &Path, c: &Cluster, database: &str) -> std::path::PathBuf {
    let cfg = dir.join("clio.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cache]\ncache_service_interval = 1\n\
             [query]\nquery_max_result_numbers = 1000000\n\
             [[storage.backends]]\nname = \"pg\"\ntype = \"postgres\"\npool_size = 4\n{}",
            c.backend_toml(database)
        ),
    )
    .unwrap();
    cfg
}

fn start(dir: &Path, cfg: &Path) -> Server {
    Server::start_logging(
        &dir.join("data"),
        &["--config", cfg.to_str().unwrap()],
        Some(&dir.join("server.log")),
    )
}

fn storage(s: &Server) -> Value {
    s.get_json("/api/v1/storage", 200)
}

/// Waits until `/api/v1/storage` satisfies `f`; the last answer.
fn wait_storage(s: &Server, what: &str, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = storage(s);
        if f(&v) {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting until {what}: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Healthy: no failing flush, the primary up.
fn healthy(v: &Value) -> bool {
    v["status"] == json!("ok") && v["backends"][0]["state"] == json!("up")
}

fn flushed_segment(v: &Value) -> u64 {
    v["backends"][0]["flushed_segment"].as_u64().unwrap()
}

/// Healthy again and a flush went through since the fault (`before` the fault's flushed
/// segment): the time it took.
fn recovered(s: &Server, what: &str, before: u64) -> Duration {
    let since = Instant::now();
    let v = wait_storage(s, what, 90, |v| healthy(v) && flushed_segment(v) > before);
    println!(
        "{what}: healthy and flushing after {:?}: {}",
        since.elapsed(),
        v["backends"][0]
    );
    since.elapsed()
}

/// Healthy and everything acknowledged is in PostgreSQL.
fn healthy_and_flushed(v: &Value) -> bool {
    v["status"] == json!("ok")
        && v["backends"][0]["state"] == json!("up")
        && v["backends"][0]["unflushed_points"] == json!(0)
        && v["backends"][0]["pending_changes"] == json!(0)
}

fn series_id(s: &Server, query: &str) -> u64 {
    let list = s.get_json(&format!("/api/v1/series?{query}"), 200);
    assert_eq!(
        list["series"].as_array().unwrap().len(),
        1,
        "{query}: {list}"
    );
    list["series"][0]["id"].as_u64().unwrap()
}

/// Every stored timestamp of series `id` in `[from, to)`, and the points counted by its
/// 10-minute trends.
fn stored(s: &Server, id: u64, from: i64, to: i64) -> (Vec<i64>, u64, Value) {
    let raw = s.get_json(
        &format!("/api/v1/series/{id}/points?from={from}&to={to}"),
        200,
    );
    assert_eq!(raw["truncated"], json!(false), "series {id}");
    let ts = raw["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    let trends = s.get_json(
        &format!(
            "/api/v1/series/{id}/points?from={}&to={to}&resolution=10m",
            from - from.rem_euclid(600_000)
        ),
        200,
    );
    let counted = trends["trends"]
        .as_array()
        .unwrap_or_else(|| panic!("{trends}"))
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    (ts, counted, trends)
}

const BATCH: i64 = 50;
const STEP_MS: i64 = 10;

/// Two writers posting line protocol until stopped; each returns how many of its batches
/// were acknowledged and how many refused.
fn writers(
    addr: std::net::SocketAddr,
    t0: i64,
    stop: &Arc<AtomicBool>,
    progress: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<(i64, u64)>> {
    (0..2u64)
        .map(|w| {
            let stop = stop.clone();
            let progress = progress.clone();
            std::thread::spawn(move || {
                let (mut acked, mut refused) = (0i64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (0..BATCH)
                        .map(|i| {
                            let n = acked * BATCH + i;
                            format!("pgfault,writer={w} v={}.5 {}\n", n % 997, t0 + n * STEP_MS)
                        })
                        .collect();
                    match try_http_request(
                        addr,
                        "POST",
                        "/write?db=x&precision=ms",
                        body.as_bytes(),
                        &[],
                    ) {
                        Ok(r) if r.status == 204 => {
                            acked += 1;
                            progress.fetch_add(1, Ordering::Relaxed);
                        }
                        // A refused batch is written again with the same points.
                        _ => refused += 1,
                    }
                    std::thread::sleep(Duration::from_millis(40));
                }
                (acked, refused)
            })
        })
        .collect()
}

#[test]
fn postgres_restarted_killed_and_stopped_mid_ingest_loses_nothing() {
    let c = Cluster::start();
    let db = c.create_database("faults");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &c, &db);
    let s = start(dir.path(), &cfg);
    let t0 = now_ms() - 86_400_000;
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let handles = writers(s.http, t0, &stop, &progress);
    let wait_progress = |what: &str| {
        let before = progress.load(Ordering::Relaxed);
        let end = Instant::now() + Duration::from_secs(20);
        while progress.load(Ordering::Relaxed) < before + 10 {
            assert!(Instant::now() < end, "no writes acknowledged {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_progress("at the start");
    std::thread::sleep(Duration::from_millis(1500));

    // 1. Restarted mid-ingest.
    let before = flushed_segment(&storage(&s));
    c.restart();
    wait_progress("after the restart");
    recovered(&s, "after pg_ctl stop -m fast + start", before);

    // 2. Every connection killed.
    std::thread::sleep(Duration::from_millis(1500));
    let before = flushed_segment(&storage(&s));
    let killed = c.terminate_connections(&db);
    assert!(killed >= 1, "no connection of Clio's to kill");
    wait_progress("after pg_terminate_backend");
    recovered(
        &s,
        &format!("after {killed} connections terminated"),
        before,
    );

    // 3. Stopped for two minutes: writes go on (the log keeps them), the state says why.
    std::thread::sleep(Duration::from_millis(1500));
    let before = flushed_segment(&storage(&s));
    c.stop();
    let stopped = Instant::now();
    let down = wait_storage(&s, "the outage shows", 20, |v| {
        v["status"] == json!("degraded") && v["flush_failing"].is_string()
    });
    println!("while stopped: {down}");
    let failing = down["flush_failing"].as_str().unwrap();
    assert!(failing.contains("postgres"), "{failing}");
    // The cause is named, not only tokio-postgres's "error connecting to server".
    assert!(failing.contains("No such file or directory"), "{failing}");
    assert!(!failing.contains('\n'), "{failing}");
    wait_progress("while PostgreSQL is down");
    let during = storage(&s);
    assert!(
        during["backends"][0]["unflushed_points"].as_u64().unwrap() > 0,
        "{during}"
    );
    std::thread::sleep(Duration::from_secs(120).saturating_sub(stopped.elapsed()));
    wait_progress("after two minutes without PostgreSQL");
    c.start_server();
    let took = recovered(&s, "after two minutes stopped", before);
    assert!(took < Duration::from_secs(20), "{took:?} to recover");

    stop.store(true, Ordering::Relaxed);
    let results: Vec<(i64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    wait_storage(&s, "the last batches flushed", 60, healthy_and_flushed);
    println!("writers (acknowledged batches, refused): {results:?}");

    let check = |s: &Server| {
        for (w, &(acked, _)) in results.iter().enumerate() {
            let id = series_id(s, &format!("measurement=pgfault&writer={w}"));
            let (ts, counted, trends) = stored(s, id, t0, t0 + 86_400_000);
            let want: Vec<i64> = (0..acked * BATCH).map(|n| t0 + n * STEP_MS).collect();
            assert_eq!(
                ts.len(),
                want.len(),
                "writer {w}: points stored vs acknowledged"
            );
            assert_eq!(ts, want, "writer {w}");
            assert_eq!(
                counted,
                want.len() as u64,
                "writer {w}: trend counts: {trends}"
            );
        }
    };
    check(&s);
    assert!(s.terminate().success());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("cache flush failed"), "{log}");
    for bad in ["panicked", "stack backtrace"] {
        assert!(!log.contains(bad), "{bad} in the log:\n{log}");
    }
    println!(
        "server log: {} lines, e.g. {}",
        log.lines().count(),
        log.lines()
            .find(|l| l.contains("cache flush failed"))
            .unwrap_or("")
    );

    // Everything is in PostgreSQL: a new Clio over the same database reads it all.
    let s = start(dir.path(), &cfg);
    check(&s);
    assert!(s.terminate().success());
}

/// `clio serve` with PostgreSQL alone: line protocol over HTTP and points by numeric id over
/// ALEPIZ TCP, read back raw (HTTP and TCP), as trends and through a history function; after
/// Clio restarts everything is still there, and psql sees it in Clio's tables and view.
#[test]
fn serve_on_postgres_alone_end_to_end() {
    use clio_client::{PointsQuery, ReadData, TcpClient, WritePoint};
    let c = Cluster::start();
    let db = c.create_database("serve");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &c, &db);
    let s = start(dir.path(), &cfg);
    // 1,000 points 1 s apart, starting on a 10-minute boundary two hours ago.
    let t0 = {
        let t = now_ms() - 7_200_000;
        t - t.rem_euclid(600_000)
    };
    let body: String = (0..1000i64)
        .map(|i| format!("e2e,host=a v={i} {}\n", t0 + i * 1000))
        .collect();
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tcp = s.tcp;
    let tcp_points: Vec<WritePoint> = (0..100i64)
        .map(|i| WritePoint::id(7, Some(t0 + i * 60_000), i as f64 * 2.0))
        .collect();
    let report = rt.block_on(async {
        let client = TcpClient::connect(tcp).await.unwrap();
        client.write_points(&tcp_points).await.unwrap()
    });
    assert_eq!(report.points, 100);
    wait_storage(&s, "everything flushed", 30, healthy_and_flushed);
    assert!(
        !dir.path().join("data/clio.db").exists(),
        "a SQLite file appeared"
    );

    let check = |s: &Server| {
        let id = series_id(s, "measurement=e2e&host=a");
        let last = s.get_json(&format!("/api/v1/series/{id}/points?last=3"), 200);
        assert_eq!(
            last["points"],
            json!([
                [t0 + 997_000, 997.0],
                [t0 + 998_000, 998.0],
                [t0 + 999_000, 999.0]
            ]),
            "{last}"
        );
        let (ts, counted, trends) = stored(s, id, t0, t0 + 1_000_000);
        assert_eq!(ts, (0..1000).map(|i| t0 + i * 1000).collect::<Vec<_>>());
        assert_eq!(counted, 1000, "{trends}");
        // The first 10-minute bucket holds 0..599.
        let b = &trends["trends"][0];
        assert_eq!(
            (
                b["start"].as_i64(),
                b["count"].as_u64(),
                b["min"].as_f64(),
                b["max"].as_f64()
            ),
            (Some(t0), Some(600), Some(0.0), Some(599.0)),
            "{trends}"
        );
        let at = t0 + 1_000_000;
        let avg = s.get_json(
            &format!("/api/v1/series/{id}/fn/avg?args=%2310&at={at}"),
            200,
        );
        assert_eq!(avg["value"].as_f64(), Some(994.5), "{avg}");
        let max = s.get_json(
            &format!("/api/v1/series/7/fn/max?args=1h&at={}", t0 + 6_000_000),
            200,
        );
        assert_eq!(max["value"].as_f64(), Some(198.0), "{max}");
        let answer = rt.block_on(async {
            let client = TcpClient::connect(s.tcp).await.unwrap();
            client
                .read(clio_storage::SeriesId(7), &PointsQuery::last(2))
                .await
                .unwrap()
        });
        match answer.data {
            ReadData::Points(p) => {
                assert_eq!(p.len(), 2);
                assert_eq!(p[1].ts, t0 + 99 * 60_000);
            }
            other => panic!("{other:?}"),
        }
    };
    check(&s);
    assert!(s.terminate().success());
    let s = start(dir.path(), &cfg);
    check(&s);
    assert!(s.terminate().success());
    // The data is PostgreSQL's: its tables and view answer psql.
    let n = c.psql(&db, "SELECT count(*) FROM clio.series");
    assert_eq!(n, "2");
    let n = c.psql(
        &db,
        "SELECT count(*), min(value), max(value) FROM clio.points WHERE measurement = 'e2e'",
    );
    assert_eq!(n, "1000|0|999");
}
