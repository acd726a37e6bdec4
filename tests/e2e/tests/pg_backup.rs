//! The PostgreSQL backup procedure of docs/backups.md, end to end: a throwaway cluster with
//! WAL archiving (`archive_mode = on`, `archive_command` copying into a directory), `clio
//! serve` (debug binary) on it as its only backend with a writer acknowledging points
//! throughout, a `pg_basebackup` taken mid-ingest, then `clio backup create` (which holds
//! Clio's log and state, no history) while the writer goes on. Everything stops; PostgreSQL
//! is recovered into a NEW cluster directory from the base backup and the archive up to the
//! time the Clio backup names (`pair_after_ms`), Clio's backup is restored into a NEW data
//! directory, and Clio started on both: every point acknowledged before the backup was
//! asked for is there, once. The recovered database alone lacks some of them (they were in
//! Clio's log, not yet flushed): the log replay brings them back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../support/pg_cluster.rs"]
mod pg_cluster;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clio_e2e::harness::{Server, clio_bin, try_http_request, wait_until};
use pg_cluster::Cluster;
use serde_json::{Value, json};

/// Points are 100 ms apart from two hours ago: inside PostgreSQL's plain-row window (24 h),
/// so the recovered database's own rows can be counted with SQL.
const STEP_MS: i64 = 100;

fn t0() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now - 2 * 3_600_000) / 1000 * 1000
}

fn clio(args: &[&str]) -> std::process::Output {
    let out = Command::new(clio_bin())
        .args(args)
        .env_remove("CLIO_BACKUP_KEY")
        .output()
        .expect("run clio");
    assert!(
        out.status.success(),
        "clio {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn config(dir: &Path, c: &Cluster, database: &str) -> std::path::PathBuf {
    let cfg = dir.join("clio.toml");
    // Flushes every 2 s: the backup below is taken right after one, so Clio's log holds
    // acknowledged points PostgreSQL has not received yet.
    std::fs::write(
        &cfg,
        format!(
            "[cache]\ncache_service_interval = 2\n\
             [[storage.backends]]\nname = \"pg\"\ntype = \"postgres\"\npool_size = 4\n{}",
            c.backend_toml(database)
        ),
    )
    .unwrap();
    cfg
}

fn flushed_segment(s: &Server) -> u64 {
    s.get_json("/api/v1/storage", 200)["backends"][0]["flushed_segment"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits for the next flush to reach PostgreSQL.
fn next_flush(s: &Server, what: &str) {
    let before = flushed_segment(s);
    wait_until(what, 60, || flushed_segment(s) > before);
}

/// Every timestamp of series 7 from `t0` on, following the answers' `next` cursor.
fn stamps(s: &Server, t0: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/series/7/points?from={t0}&to={}", t0 + 100_000_000);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let got = s.get_json(&path, 200);
        for p in got["points"].as_array().unwrap() {
            out.push(p[0].as_i64().unwrap());
        }
        match got["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out.sort_unstable();
    out
}

#[test]
fn postgres_pitr_plus_clio_backup_restores_every_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    let archive = pg_cluster::server_dir("clio-pg-archive-", pg_cluster::is_root());
    let pg = Cluster::start_configured(&pg_cluster::archiving_conf(archive.path()));
    let db = pg.create_database("pgbk");
    let cfg = config(dir.path(), &pg, &db);
    let s = Server::start_logging(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
        Some(&dir.path().join("server.log")),
    );
    let t0 = t0();

    // A writer: batches of 50 points of series 7, each acknowledged before the next.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let addr = s.http;
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) && n < 60_000 {
                let batch: Vec<Value> = (n..n + 50)
                    .map(|i| json!({"series": 7, "ts": t0 + i as i64 * STEP_MS, "value": i as f64}))
                    .collect();
                let r = try_http_request(
                    addr,
                    "POST",
                    "/api/v1/points",
                    Value::Array(batch).to_string().as_bytes(),
                    &[],
                )
                .unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                n += 50;
                acked.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    wait_until("2,000 points acknowledged", 60, || {
        acked.load(Ordering::SeqCst) >= 2_000
    });
    next_flush(&s, "a first flush");

    // 1. The database's base backup, mid-ingest (the nightly one; older than Clio's).
    let base = pg.base_backup();
    wait_until("more points after the base backup", 60, || {
        acked.load(Ordering::SeqCst) >= 4_000
    });

    // 2. Clio's backup, right after a flush: its log holds acknowledged points the
    //    database has not received yet.
    next_flush(&s, "a flush before Clio's backup");
    // Half of the 2 s between flushes: several acknowledged batches wait in the log.
    std::thread::sleep(Duration::from_millis(1000));
    let acked_before = acked.load(Ordering::SeqCst);
    let backups = dir.path().join("backups");
    let url = format!("http://{}", s.http);
    let out = clio(&[
        "backup",
        "create",
        backups.to_str().unwrap(),
        "--server",
        &url,
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("the history lives in the postgres backend `pg`"),
        "{said}"
    );
    let list: Value = serde_json::from_slice(
        &clio(&["backup", "list", backups.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    let manifest = list[0].clone();
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        !files.contains(&"primary.db") && files.contains(&"catalog.bin"),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.starts_with("wal/")), "{files:?}");
    let x = &manifest["external_primary"];
    assert_eq!(
        (x["name"].as_str(), x["kind"].as_str()),
        (Some("pg"), Some("postgres"))
    );
    let pair_after = x["pair_after_ms"].as_i64().unwrap();
    assert!(pair_after >= manifest["created_ms"].as_i64().unwrap());
    // Incremental backups need the embedded store's pages: refused, clearly.
    let inc = Command::new(clio_bin())
        .args([
            "backup",
            "create",
            backups.to_str().unwrap(),
            "--server",
            &url,
        ])
        .args(["--incremental", manifest["id"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(!inc.status.success());
    assert!(
        String::from_utf8_lossy(&inc.stderr).contains("take full backups"),
        "{}",
        String::from_utf8_lossy(&inc.stderr)
    );

    // Writes and flushes go on after the backup (the database commits past its time).
    next_flush(&s, "a flush after Clio's backup");
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let acked_total = acked.load(Ordering::SeqCst);
    assert!(acked_total > acked_before, "the writer never paused");

    // 3. The disaster: Clio and the database go; the archive and the backups stay.
    let target = pg.psql(
        "postgres",
        &format!(
            "SELECT to_char(to_timestamp({pair_after} / 1000.0) AT TIME ZONE 'UTC', \
             'YYYY-MM-DD HH24:MI:SS.MS') || '+00'"
        ),
    );
    s.kill();
    pg.archive_current_wal(archive.path());
    drop(pg);

    // 4. The database, recovered into a new cluster directory to the backup's time.
    let pg2 = Cluster::recover(base, archive.path(), Some(&target));
    assert!(
        pg2.log().contains("recovery stopping before commit"),
        "recovery did not stop at {target}: {}",
        pg2.log()
    );
    let in_db: BTreeSet<i64> = pg2
        .psql(&db, "SELECT ts FROM clio.recent_points WHERE series_id = 7")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let wanted: Vec<i64> = (0..acked_before as i64).map(|i| t0 + i * STEP_MS).collect();
    let missing_in_db = wanted.iter().filter(|t| !in_db.contains(t)).count();
    println!(
        "{acked_before} points acknowledged before the backup, {acked_total} in all; \
         the database recovered to {target} holds {} of them ({missing_in_db} only in Clio's log)",
        wanted.len() - missing_in_db
    );
    assert!(
        missing_in_db > 0,
        "the recovered database held every point: the test would not see a lost log"
    );

    // 5. Clio's backup, restored into a new data directory, started on the new cluster.
    let restored = dir.path().join("restored");
    clio(&[
        "restore",
        "--from",
        backups
            .join(manifest["id"].as_str().unwrap())
            .to_str()
            .unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    std::fs::create_dir_all(dir.path().join("two")).unwrap();
    let cfg2 = config(&dir.path().join("two"), &pg2, &db);
    let s = Server::start_logging(
        &restored,
        &["--config", cfg2.to_str().unwrap()],
        Some(&dir.path().join("server2.log")),
    );
    let got = stamps(&s, t0);
    let unique: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "a point twice");
    for (i, t) in wanted.iter().enumerate() {
        assert!(
            unique.contains(t),
            "point {i} (acknowledged before the backup) lost"
        );
    }
    assert!(
        got.len() as u64 <= acked_total,
        "{} points, more than were written ({acked_total})",
        got.len()
    );
    // And the replay reached the database itself: once flushed, its rows hold them all.
    wait_until("the replayed points flushed to the database", 60, || {
        let n: usize = pg2
            .psql(
                &db,
                &format!(
                    "SELECT count(*) FROM clio.recent_points WHERE series_id = 7 AND ts < {}",
                    t0 + acked_before as i64 * STEP_MS
                ),
            )
            .parse()
            .unwrap();
        n as u64 == acked_before
    });
    assert!(s.terminate().success());
}
