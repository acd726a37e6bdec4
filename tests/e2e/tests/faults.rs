//! Faults and hostile clients against the real binary (issue 19): exhausted id space, a full
//! disk, slow and idle connections, nested errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use clio_e2e::harness::{Server, wait_until};
use serde_json::{Value, json};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
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

fn points(s: &Server, id: u64) -> Value {
    s.get_json(&format!("/api/v1/series/{id}/points?last=100"), 200)["points"].clone()
}

/// Item 1: a write to the top numeric id used to wrap the key-id counter, so the next key
/// series got id 0, 1, … and shared ALEPIZ's series, across restarts.
#[test]
fn key_ids_and_numeric_ids_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms() - 10_000;
    let r = s.http(
        "POST",
        "/api/v1/points",
        json!([{"series": 1, "ts": t, "value": 1.0}])
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for id in [u64::MAX, 1u64 << 48] {
        let r = s.http(
            "POST",
            "/api/v1/points",
            json!([{"series": id, "ts": t, "value": 9.0}])
                .to_string()
                .as_bytes(),
            &[],
        );
        assert_eq!(r.status, 400, "{id}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(&id.to_string()) && e.contains("2^48"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let r = s.http(
        "POST",
        "/write?db=x&precision=ms",
        format!("lp v=2 {t}\nlp2 v=3 {t}\n").as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let lp = series_id(&s, "measurement=lp");
    assert!(lp >= 1 << 48, "{lp}");
    assert_eq!(points(&s, 1), json!([[t, 1.0]]));
    assert_eq!(points(&s, lp), json!([[t, 2.0]]));
    assert!(s.terminate().success());

    // After a restart the allocator continues above the key series, never at 0.
    let s = Server::start(dir.path(), &[]);
    let r = s.http(
        "POST",
        "/write?db=x&precision=ms",
        format!("lp3 v=4 {t}\n").as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let lp3 = series_id(&s, "measurement=lp3");
    assert!(lp3 > lp, "{lp3} after {lp}");
    assert_eq!(points(&s, 1), json!([[t, 1.0]]));
    let all = s.get_json("/api/v1/series", 200);
    let ids: Vec<u64> = all["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.iter().filter(|&&i| i < 1 << 48).count(), 1, "{all}");
    assert!(s.terminate().success());
}

/// A graceful restart: the server opens its listeners once the series a client read before
/// the stop are in memory again, so their first reads after it are answered from memory;
/// a series nobody read is not loaded.
#[test]
fn a_graceful_restart_warms_up_the_series_read_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms() - 60_000;
    let body: String = (0..20)
        .map(|i| {
            format!(
                "warm,host=a v={i} {ts}\ncold,host=a v={i} {ts}\n",
                ts = t + i * 1000
            )
        })
        .collect();
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let (warm, cold) = (
        series_id(&s, "measurement=warm"),
        series_id(&s, "measurement=cold"),
    );
    assert_eq!(points(&s, warm).as_array().unwrap().len(), 20);
    assert!(s.terminate().success());
    assert!(dir.path().join("cache-warm.bin").exists());

    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.metric("clio_cache_warmed_series_total"), Some(1.0));
    let count = |name: &str| s.metric(name).unwrap_or(0.0);
    let (hits, misses) = (
        count("clio_cache_hits_total"),
        count("clio_cache_misses_total"),
    );
    let got = points(&s, warm);
    assert_eq!(got.as_array().unwrap().len(), 20, "{got}");
    assert_eq!(got[19][1], json!(19.0), "{got}");
    assert_eq!(count("clio_cache_hits_total"), hits + 1.0);
    assert_eq!(count("clio_cache_misses_total"), misses);
    assert_eq!(points(&s, cold).as_array().unwrap().len(), 20);
    assert_eq!(
        count("clio_cache_misses_total"),
        misses + 1.0,
        "the unread series was cold"
    );
    assert!(s.terminate().success());
}

/// A size-limited tmpfs mounted for one test and unmounted (lazily) when dropped; `None`
/// where mounting is not allowed (not root, no tmpfs), after saying so.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallFs { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a {size} tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem holding `dir` with one file until it refuses another byte.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "{e}");
                break;
            }
        }
    }
    path
}

/// Item 2 and 3: fill the disk, write, free, write again, restart: every acknowledged point
/// is there; meanwhile `/health` says degraded and why, error texts stay one line, and the
/// stop is clean.
#[test]
fn a_full_disk_degrades_then_recovers_without_a_restart() {
    let Some(fs) = SmallFs::mount("24m") else {
        return;
    };
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("clio.toml");
    std::fs::write(
        &cfg,
        "[cache]\ncache_service_interval = 1\n[wal]\nsegment_size_mb = 1\n[query]\nquery_max_result_numbers = 1000000\n",
    )
    .unwrap();
    let log = cfg_dir.path().join("server.log");
    let data = fs.path().join("data");
    let args = ["--config", cfg.to_str().unwrap()];
    let s = Server::start_logging(&data, &args, Some(&log));
    let t0 = now_ms() - 3_600_000;
    let mut acked: Vec<i64> = Vec::new();
    let mut ts = t0;
    // 200 points of 1 KiB strings per write: the disk fills within a few writes.
    let mut write = |s: &Server| -> (u16, String) {
        let pad = "x".repeat(1000);
        let mut body = String::new();
        let first = ts;
        for _ in 0..200 {
            body.push_str(&format!("disk v=1,s=\"{pad}\" {ts}\n"));
            ts += 1;
        }
        let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
        if r.status == 204 {
            acked.extend(first..ts);
        }
        (r.status, r.text())
    };
    for _ in 0..5 {
        assert_eq!(write(&s).0, 204);
    }
    let filler = fill(fs.path());
    // Writes fail once the last pages are used; each failure is one short line.
    let mut failures = Vec::new();
    for _ in 0..300 {
        let (status, text) = write(&s);
        if status != 204 {
            assert_eq!(status, 503, "{text}");
            failures.push(text);
        }
    }
    assert!(failures.len() >= 250, "{} failures", failures.len());
    let longest = failures.iter().map(String::len).max().unwrap();
    assert!(
        longest < 400,
        "error text grew to {longest} bytes: {}",
        failures.last().unwrap()
    );
    let last = failures.last().unwrap();
    assert!(last.contains("No space left on device"), "{last}");
    assert_eq!(last.matches("No space left").count(), 1, "{last}");
    assert!(
        !last.contains('\n') || last.trim_end().lines().count() == 1,
        "{last}"
    );
    let health = s.get_json("/health", 200);
    assert_eq!(health["status"], json!("degraded"), "{health}");
    let reasons = health["reasons"].to_string();
    assert!(
        reasons.contains("write-ahead log cannot be written"),
        "{health}"
    );
    assert_eq!(s.metric("clio_wal_write_failing"), Some(1.0));
    assert_eq!(s.metric("clio_degraded"), Some(1.0));
    println!(
        "disk full: {} of 300 writes refused, longest error {longest} bytes: {last}",
        failures.len()
    );

    // Space is back: the next write succeeds without a restart, and health recovers.
    std::fs::remove_file(&filler).unwrap();
    let freed = std::time::Instant::now();
    assert_eq!(write(&s).0, 204, "the first write after freeing space");
    let first_write_ms = freed.elapsed().as_millis();
    wait_until("health is ok again", 30, || {
        s.get_json("/health", 200)["status"] == json!("ok")
    });
    let healthy_ms = freed.elapsed().as_millis();
    assert_eq!(s.metric("clio_wal_write_failing"), Some(0.0));
    assert_eq!(s.metric("clio_degraded"), Some(0.0));
    println!("recovery: first write {first_write_ms} ms, health ok {healthy_ms} ms after freeing");
    for _ in 0..3 {
        assert_eq!(write(&s).0, 204);
    }
    let status = s.terminate();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {text}");
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!text.contains(bad), "{bad} in the log:\n{text}");
    }
    let log_bytes = text.len();
    assert!(log_bytes < 20_000, "{log_bytes} bytes of log:\n{text}");
    println!(
        "server log: {log_bytes} bytes, {} lines",
        text.lines().count()
    );

    // Every acknowledged point is there after a restart.
    let s = Server::start_logging(&data, &args, Some(&log));
    let id = series_id(&s, "measurement=disk&field=v");
    let got = s.get_json(
        &format!("/api/v1/series/{id}/points?from={t0}&to={ts}"),
        200,
    );
    let mut stored: Vec<i64> = got["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    stored.sort_unstable();
    let mut want = acked.clone();
    want.sort_unstable();
    assert_eq!(stored.len(), want.len(), "{}", got["truncated"]);
    assert_eq!(stored, want);
    println!(
        "{} acknowledged points intact after the restart",
        want.len()
    );
    assert!(s.terminate().success());
    drop(fs);
}

/// Reads until the server closes (or resets) the connection; what arrived and when.
fn read_until_closed(c: &mut std::net::TcpStream) -> (String, std::time::Duration) {
    use std::io::Read;
    let started = std::time::Instant::now();
    c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("still open after {:?}", started.elapsed())
            }
            Err(_) => break, // reset
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

/// Item 4: headers that never finish, a body that stops, an idle kept-alive connection are
/// each closed after their timeout; past the connection limit new connections are closed at
/// once, logged and counted, and `/health` answers again when one is free.
#[test]
fn slow_idle_and_surplus_http_connections_are_bounded() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("clio.toml");
    std::fs::write(
        &cfg,
        "[server]\nhttp_header_timeout = 1\nhttp_body_timeout = 1\nhttp_max_connections = 4\n",
    )
    .unwrap();
    let log = tmp.path().join("server.log");
    let s = Server::start_logging(
        &tmp.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
        Some(&log),
    );
    let limit = std::time::Duration::from_secs(4);

    let mut c = std::net::TcpStream::connect(s.http).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (_, took) = read_until_closed(&mut c);
    assert!(took < limit, "unfinished headers open for {took:?}");
    println!("unfinished headers closed after {took:?}");

    let mut c = std::net::TcpStream::connect(s.http).unwrap();
    c.write_all(b"POST /write?db=x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nm v=1 1000")
        .unwrap();
    let (got, took) = read_until_closed(&mut c);
    assert!(took < limit, "stalled body open for {took:?}");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("http_body_timeout"), "{got}");
    println!("stalled body answered 408 after {took:?}");

    let mut c = std::net::TcpStream::connect(s.http).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (got, took) = read_until_closed(&mut c);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(took < limit, "idle kept-alive connection open for {took:?}");
    println!("idle kept-alive connection closed after {took:?}");

    // Four connections that send nothing hold every slot (each for 1 s).
    let held: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(s.http).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut c = std::net::TcpStream::connect(s.http).unwrap();
    let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let (got, took) = read_until_closed(&mut c);
    assert!(got.is_empty(), "a surplus connection was served: {got}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    drop(held);
    wait_until("health answers again", 10, || {
        clio_e2e::harness::try_http_request(s.http, "GET", "/health", b"", &[])
            .is_ok_and(|r| r.status == 200)
    });
    let refused = s.metric("clio_http_connections_refused_total").unwrap();
    assert!(refused >= 1.0, "{refused}");
    let header = s
        .metric("clio_http_timeouts_total{kind=\"header\"}")
        .unwrap();
    let body = s.metric("clio_http_timeouts_total{kind=\"body\"}").unwrap();
    assert!(header >= 2.0 && body >= 1.0, "header {header}, body {body}");
    assert!(s.terminate().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("HTTP connection limit reached"), "{text}");
}
