//! Backups end to end with the real binary: an online backup taken while a writer keeps
//! writing (flushes running), restored into a new directory and served again: every point
//! acknowledged before the backup was asked for is there. Then an encrypted offline backup:
//! wrong key and damaged file named, nothing half-restored, the right key restores the lot
//! (the Glass AI rows and a camera image included).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clio_e2e::harness::{Server, clio_bin, try_http_request, wait_until};
use serde_json::{Value, json};

const CONFIG: &str = "[cache]\ncache_service_interval = 1\n";
/// A day ago, whole seconds: inside the accepted window for JSON writes (30 days back), and
/// the writers below (one point a second, under 80,000) stay in the past.
fn t0() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now - 86_400_000) / 1000 * 1000
}

/// `clio restore --from FROM --data-dir TO` with `extra` arguments.
fn restore(from: &Path, to: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "restore",
        "--from",
        from.to_str().unwrap(),
        "--data-dir",
        to.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    clio(&args)
}

fn clio(args: &[&str]) -> std::process::Output {
    Command::new(clio_bin())
        .args(args)
        .env_remove("CLIO_BACKUP_KEY")
        .output()
        .expect("run clio")
}

/// Every point of series 7, oldest first, following the answers' `next` cursor (each
/// page is the newest part of what is left).
fn all_points(s: &Server, t0: i64) -> Vec<(i64, f64)> {
    points_of(s, 7, t0)
}

/// Every point of `series` from `t0` on, oldest first.
fn points_of(s: &Server, series: u64, t0: i64) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/api/v1/series/{series}/points?from={t0}&to={}",
            t0 + 100_000_000
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let got = s.get_json(&path, 200);
        for p in got["points"].as_array().unwrap() {
            out.push((p[0].as_i64().unwrap(), p[1].as_f64().unwrap()));
        }
        match got["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out.sort_by_key(|p| p.0);
    out
}

#[test]
fn an_online_backup_under_ingest_restores_every_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("clio.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);

    // A writer: batches of 50 points of series 7, each acknowledged before the next.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let addr = s.http;
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) && n < 80_000 {
                let batch: Vec<Value> = (n..n + 50)
                    .map(|i| json!({"series": 7, "ts": t0 + i as i64 * 1000, "value": i as f64}))
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
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 5_000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let backups = dir.path().join("backups");
    let acked_before = acked.load(Ordering::SeqCst);
    let r = s.http(
        "POST",
        "/api/v1/backups",
        json!({"dest": backups.to_str().unwrap()})
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let manifest = r.json();
    // Writes went on during the backup.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let acked_total = acked.load(Ordering::SeqCst);
    assert!(acked_total > acked_before, "the writer never paused");

    let status = s.get_json("/api/v1/backups", 200);
    assert_eq!(status["taken"], json!(1));
    assert_eq!(status["last_success"]["id"], manifest["id"]);
    let metrics = s.http("GET", "/metrics", b"", &[]).text();
    assert!(
        metrics.contains("clio_backup_last_size_bytes "),
        "{metrics}"
    );
    assert_eq!(s.terminate().code(), Some(0));

    let id = manifest["id"].as_str().unwrap();
    let backup = backups.join(id);
    let out = clio(&["backup", "verify", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = dir.path().join("restored");
    let out = restore(&backup, &restored, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = Server::start(&restored, &["--config", config.to_str().unwrap()]);
    let pts = all_points(&s, t0);
    // Every point acknowledged before the backup was asked for, each once and intact;
    // nothing that was never written.
    assert!(
        pts.len() as u64 >= acked_before && pts.len() as u64 <= acked_total,
        "{} points restored; {acked_before} acknowledged before the backup, {acked_total} in all",
        pts.len()
    );
    for (i, (ts, v)) in pts.iter().enumerate() {
        assert_eq!((*ts, *v), (t0 + i as i64 * 1000, i as f64), "point {i}");
    }
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn an_encrypted_offline_backup_names_a_wrong_key_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let s = Server::start(&data, &[]);
    let batch: Vec<Value> = (0..2000)
        .map(|i| json!({"series": 7, "ts": t0 + i * 1000, "value": i as f64}))
        .collect();
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(batch).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Glass AI rows and a camera image go in the backup too (glass.db, images/).
    let r = s.http(
        "POST",
        "/api/v1/production_lines",
        br#"{"name": "Float line 1"}"#,
        &[("Content-Type", "application/json")],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let image: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = s.http(
        "POST",
        "/api/v1/images?camera=MIK-1-A&line=1",
        &image,
        &[("Content-Type", "image/jpeg")],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let lines = s.get_json("/api/v1/production_lines", 200);
    let images = s.get_json("/api/v1/images", 200);
    assert_eq!(s.terminate().code(), Some(0));

    let key = dir.path().join("key");
    let out = clio(&["backup", "key"]);
    std::fs::write(&key, &out.stdout).unwrap();
    let other = dir.path().join("other-key");
    std::fs::write(&other, clio(&["backup", "key"]).stdout).unwrap();
    let dest = dir.path().join("backups");
    let out = clio(&[
        "backup",
        "create",
        dest.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["source"], json!("offline"));
    assert!(m["encryption"]["key_id"].is_string());
    let backup = dest.join(m["id"].as_str().unwrap());
    let listed = String::from_utf8_lossy(&clio(&["backup", "list", dest.to_str().unwrap()]).stdout)
        .to_string();
    assert!(listed.contains(m["id"].as_str().unwrap()), "{listed}");

    let restore = |target: &Path, key: Option<&Path>| match key {
        Some(k) => restore(&backup, target, &["--key-file", k.to_str().unwrap()]),
        None => restore(&backup, target, &[]),
    };
    let target = dir.path().join("restored");
    for (k, needle) in [
        (None, "is encrypted"),
        (Some(other.as_path()), "not with the key given"),
    ] {
        let out = restore(&target, k);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{err}");
        assert!(!target.exists(), "nothing half-restored");
    }
    // A damaged stored file: verify names it, restore refuses and leaves nothing.
    let stored = backup.join("primary.db.zst.enc");
    let good = std::fs::read(&stored).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&stored, &bad).unwrap();
    let out = clio(&[
        "backup",
        "verify",
        backup.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("primary.db.zst.enc"),
        "{err}"
    );
    assert!(!restore(&target, Some(&key)).status.success());
    assert!(!target.exists());
    std::fs::write(&stored, &good).unwrap();

    let out = restore(&target, Some(&key));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start(&target, &[]);
    let pts = all_points(&s, t0);
    assert_eq!(pts.len(), 2000);
    assert_eq!(pts[1999], (t0 + 1_999_000, 1999.0));
    assert_eq!(s.get_json("/api/v1/production_lines", 200), lines);
    assert_eq!(s.get_json("/api/v1/images", 200), images);
    let r = s.http("GET", "/api/v1/images/1", b"", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body == image,
        "the image's bytes differ after the restore"
    );
    assert_eq!(s.terminate().code(), Some(0));
}

/// Points of `series` 1..=n, `per` each, from `start`: one JSON write.
fn write_series(s: &Server, t0: i64, n: u64, start: i64, per: i64) {
    let batch: Vec<Value> = (1..=n)
        .flat_map(|id| {
            (start..start + per)
                // Noisy two-decimal values, as sensors give (a linear ramp would compress to
                // almost nothing and hide what an incremental backup saves).
                .map(move |i| {
                    let mut x = (id << 32) ^ i as u64 ^ 0x9e37_79b9_7f4a_7c15;
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let v = 1500.0 + (x % 10_000) as f64 / 100.0;
                    json!({"series": id, "ts": t0 + i * 1000, "value": v})
                })
        })
        .collect();
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(batch).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The number of points and their sum over series 1..=n (a checksum of contents).
fn contents(s: &Server, t0: i64, n: u64) -> Vec<(usize, f64)> {
    (1..=n)
        .map(|id| {
            let pts = points_of(s, id, t0);
            (pts.len(), pts.iter().map(|p| p.1).sum())
        })
        .collect()
}

/// Waits until the server has flushed every point it holds (the log is then mostly empty
/// and the primary's file holds the data).
fn flushed(s: &Server) {
    for _ in 0..300 {
        if s.get_json("/health", 200)["unflushed_points"] == json!(0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never flushed: {}", s.get_json("/health", 200));
}

#[test]
fn an_incremental_chain_holds_only_changed_pages_and_restores_like_a_full_backup() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("clio.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let dest = dir.path().join("backups");
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let url = format!("http://{}", s.http);
    // 20 series × 20,000 points (ten chunks each), then 1 % more, twice.
    for part in 0..10 {
        write_series(&s, t0, 20, part * 2000, 2000);
    }
    flushed(&s);
    let create = |extra: &[&str]| {
        let mut args = vec!["backup", "create", dest.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = clio(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let full = create(&["--server", &url]);
    write_series(&s, t0, 20, 20_000, 200);
    flushed(&s);
    let inc1 = create(&["--server", &url, "--incremental", "latest"]);
    assert_eq!(inc1["kind"], json!("incremental"));
    assert_eq!(inc1["base"], full["id"]);
    write_series(&s, t0, 20, 20_200, 200);
    let want = contents(&s, t0, 20);
    assert_eq!(s.terminate().code(), Some(0));
    // Offline, the server stopped: incremental on the incremental, and a full one to compare.
    let inc2 = create(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--incremental",
        "latest",
    ]);
    assert_eq!(inc2["base"], inc1["id"]);
    let full2 = create(&["--data-dir", data.to_str().unwrap()]);

    let stored = |m: &Value| -> u64 {
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["name"].as_str().unwrap().starts_with("primary."))
            .map(|f| f["stored_bytes"].as_u64().unwrap())
            .sum()
    };
    let pages = |m: &Value| m["image"]["pages_stored"].as_u64().unwrap();
    let total = |m: &Value| m["image"]["pages"].as_u64().unwrap();
    eprintln!(
        "full: {} pages, {} B stored; +1 %: {} of {} pages, {} B; +1 %: {} of {} pages, {} B",
        total(&full),
        stored(&full),
        pages(&inc1),
        total(&inc1),
        stored(&inc1),
        pages(&inc2),
        total(&inc2),
        stored(&inc2)
    );
    assert!(pages(&inc1) < total(&inc1) / 2, "{inc1}");
    assert!(stored(&inc1) < stored(&full) / 2, "{inc1}");

    let listed = String::from_utf8_lossy(&clio(&["backup", "list", dest.to_str().unwrap()]).stdout)
        .to_string();
    assert!(listed.contains("incremental"), "{listed}");
    let inc2_dir = dest.join(inc2["id"].as_str().unwrap());
    let out = clio(&["backup", "verify", inc2_dir.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("chain of 2"),
        "{said}"
    );

    let restore = |from: &Path, to: &Path| {
        let out = restore(from, to, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let from_chain = dir.path().join("from-chain");
    restore(&inc2_dir, &from_chain);
    let from_full = dir.path().join("from-full");
    restore(&dest.join(full2["id"].as_str().unwrap()), &from_full);
    for d in [&from_chain, &from_full] {
        let s = Server::start(d, &["--config", config.to_str().unwrap()]);
        assert_eq!(contents(&s, t0, 20), want, "restored from {}", d.display());
        assert_eq!(s.terminate().code(), Some(0));
    }

    // Retention keeps what a kept incremental needs.
    let left = |keep: &str| {
        let out = clio(&["backup", "prune", dest.to_str().unwrap(), "--keep", keep]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut left: Vec<String> = std::fs::read_dir(&dest)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        left
    };
    assert_eq!(left("2").len(), 4, "inc2 keeps inc1 and full");
    assert_eq!(left("1"), vec![full2["id"].as_str().unwrap().to_owned()]);
}

/// Points `from..to` of series 7, one per second from `t0`, in one write.
fn write_range(s: &Server, t0: i64, from: i64, to: i64) {
    let batch: Vec<Value> = (from..to)
        .map(|i| json!({"series": 7, "ts": t0 + i * 1000, "value": i as f64}))
        .collect();
    let r = s.http(
        "POST",
        "/api/v1/points",
        Value::Array(batch).to_string().as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Waits until the archive holds every segment the flush closed so far.
fn archived(s: &Server) -> u64 {
    flushed(s);
    let flushed_segment = s.get_json("/api/v1/storage", 200)["backends"][0]["flushed_segment"]
        .as_u64()
        .unwrap();
    for _ in 0..300 {
        let st = s.get_json("/api/v1/storage", 200);
        let upto = st["archive"]["archived_upto"].as_u64().unwrap_or(0);
        if upto >= flushed_segment {
            return upto;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never archived: {}", s.get_json("/api/v1/storage", 200));
}

#[test]
fn a_backup_and_the_archived_log_restore_to_a_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let archive = dir.path().join("archive");
    let config = dir.path().join("clio.toml");
    std::fs::write(
        &config,
        format!(
            "{CONFIG}[backup]\narchive_dir = \"{}\"\n",
            archive.display()
        ),
    )
    .unwrap();
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    write_range(&s, t0, 0, 1000);
    archived(&s);
    let dest = dir.path().join("backups");
    let r = s.http(
        "POST",
        "/api/v1/backups",
        json!({"dest": dest.to_str().unwrap()})
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let backup = dest.join(r.json()["id"].as_str().unwrap());
    // After the backup: B, then the target time, then C.
    write_range(&s, t0, 1000, 2000);
    archived(&s);
    std::thread::sleep(Duration::from_millis(20));
    let target = clio_core::now_ms();
    std::thread::sleep(Duration::from_millis(20));
    write_range(&s, t0, 2000, 3000);
    archived(&s);
    assert_eq!(s.terminate().code(), Some(0));
    let segments = std::fs::read_dir(&archive).unwrap().count();
    assert!(segments >= 3, "{segments} archived segments");

    let restore = |to: &Path, extra: &[&str]| restore(&backup, to, extra);
    let count = |d: &Path| {
        let s = Server::start(d, &[]);
        let pts = all_points(&s, t0);
        assert_eq!(s.terminate().code(), Some(0));
        for (i, (ts, v)) in pts.iter().enumerate() {
            assert_eq!((*ts, *v), (t0 + i as i64 * 1000, i as f64), "point {i}");
        }
        pts.len()
    };
    // To the target time: A and B, not C.
    let at = dir.path().join("at-target");
    let target_arg = target.to_string();
    let out = restore(
        &at,
        &[
            "--archive",
            archive.to_str().unwrap(),
            "--to-time",
            &target_arg,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("log cut at segment"));
    assert_eq!(count(&at), 2000);
    // The whole archive: A, B and C.
    let all = dir.path().join("everything");
    let out = restore(&all, &["--archive", archive.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&all), 3000);
    // The backup alone: A (and what the log copied with it held).
    let alone = dir.path().join("alone");
    assert!(restore(&alone, &[]).status.success());
    assert_eq!(count(&alone), 1000);
    // Before the backup: refused, nothing written.
    let early = dir.path().join("early");
    let out = restore(
        &early,
        &["--archive", archive.to_str().unwrap(), "--to-time", "1000"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot restore to the earlier"),
        "{err}"
    );
    assert!(!early.exists());
    // A damaged archived segment: named, nothing half-restored.
    let mut names: Vec<_> = std::fs::read_dir(&archive)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    let last = names.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(last, &bytes).unwrap();
    let broken = dir.path().join("broken");
    let out = restore(&broken, &["--archive", archive.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is damaged"), "{err}");
    assert!(!broken.exists());
}

/// `[backup] archive_command` instead of a directory: while the command fails, segments stay
/// in the log and the failure shows in the status and the metrics; once it works, the archive
/// catches up. `clio backup log` lists the records with positions, and a restore to the
/// position of a `DROP`-like deletion keeps everything before it.
#[test]
fn an_archive_command_feeds_a_restore_to_a_log_position() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let archive = dir.path().join("archive dir");
    std::fs::create_dir_all(&archive).unwrap();
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"").unwrap();
    let config = dir.path().join("clio.toml");
    let command = format!(
        "if [ -e '{}' ]; then echo archive host unreachable >&2; exit 3; fi; cp %p '{}'/%f",
        blocked.display(),
        archive.display()
    );
    std::fs::write(
        &config,
        format!(
            "{CONFIG}[backup]\narchive_command = {}\narchive_command_timeout = 10\n",
            toml::Value::String(command)
        ),
    )
    .unwrap();
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    write_range(&s, t0, 0, 1000);
    flushed(&s);
    // Failing: said once in the status, counted, and nothing archived.
    wait_until("archiving shows as failing", 10, || {
        s.metric("clio_archive_failing") == Some(1.0)
    });
    assert!(
        s.metric("clio_archive_failures_total")
            .is_some_and(|v| v >= 1.0)
    );
    let st = s.get_json("/api/v1/storage", 200);
    let failing = st["archive"]["failing"].as_str().unwrap_or_default();
    assert!(
        failing.contains("exit status: 3") && failing.contains("archive host unreachable"),
        "{st}"
    );
    assert_eq!(std::fs::read_dir(&archive).unwrap().count(), 0);
    // Working again: the archive catches up.
    std::fs::remove_file(&blocked).unwrap();
    archived(&s);
    // The flag drops when the attempt that caught up ends, just after the last copy.
    wait_until("archiving no longer fails", 10, || {
        s.metric("clio_archive_failing") == Some(0.0)
    });
    assert!(
        s.metric("clio_archive_segments_total")
            .is_some_and(|v| v >= 1.0)
    );

    let dest = dir.path().join("backups");
    let r = s.http(
        "POST",
        "/api/v1/backups",
        json!({"dest": dest.to_str().unwrap()})
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let backup = dest.join(r.json()["id"].as_str().unwrap());
    // After the backup: B on series 7 and points on series 8, then series 8 deleted by
    // mistake, then C.
    write_range(&s, t0, 1000, 2000);
    let r = s.http(
        "POST",
        "/api/v1/points",
        json!([{"series": 8, "ts": t0, "value": 8.0}, {"series": 8, "ts": t0 + 1000, "value": 8.5}])
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.http("DELETE", "/api/v1/series/8", b"", &[]).status, 204);
    write_range(&s, t0, 2000, 3000);
    archived(&s);
    assert_eq!(s.terminate().code(), Some(0));

    // The log's records, with positions; the deletion is one of them.
    let out = clio(&["backup", "log", archive.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    let del = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "delete_series" && r["series"] == 8)
        .unwrap_or_else(|| panic!("no deletion of series 8 in {records}"))
        .clone();
    assert!(del["time"].as_i64().is_some(), "{del}");
    let position = format!("{}:{}", del["segment"], del["offset"]);
    let text = clio(&["backup", "log", archive.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&position));

    // Not a record's start: named with the nearest ones, nothing restored.
    let off = dir.path().join("off");
    let bad = format!("{}:{}", del["segment"], del["offset"].as_u64().unwrap() + 1);
    let out = restore(
        &backup,
        &off,
        &[
            "--archive",
            archive.to_str().unwrap(),
            "--to-position",
            &bad,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("not where a log record starts")
            && err.contains(&position),
        "{err}"
    );
    assert!(!off.exists());

    // Just before the deletion: A and B on series 7, series 8 with its points, no C.
    let at = dir.path().join("before-delete");
    let out = restore(
        &backup,
        &at,
        &[
            "--archive",
            archive.to_str().unwrap(),
            "--to-position",
            &position,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Server::start(&at, &[]);
    let pts = all_points(&s, t0);
    assert_eq!(pts.len(), 2000);
    assert_eq!(pts.last().copied(), Some((t0 + 1_999_000, 1999.0)));
    assert_eq!(points_of(&s, 8, t0), vec![(t0, 8.0), (t0 + 1000, 8.5)]);
    assert_eq!(s.terminate().code(), Some(0));
}
