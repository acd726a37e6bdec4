//! Encryption at rest end to end: `clio serve` with `[storage] key_file` writes no plaintext
//! value into its log segments or its store file, replays its sealed log after SIGKILL,
//! refuses to start without the key or with a wrong one (and a plain store with a key), and
//! `clio query --db` and `clio storage reseal` work with the keys.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clio_e2e::harness::{Server, clio_bin};
use clio_storage::sealing::DataKey;

const MARKER: &str = "MARKER-e2e-valve-7-opened";

fn config(key_file: Option<&Path>, previous: Option<&Path>) -> String {
    let mut c = String::from("[storage]\n");
    if let Some(k) = key_file {
        c += &format!("key_file = {:?}\n", k.display().to_string());
    }
    if let Some(k) = previous {
        c += &format!("previous_key_file = {:?}\n", k.display().to_string());
    }
    c
}

fn write_marker(s: &Server, n: usize) {
    // Recent times: points older than the series' retention are not read back.
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 600_000;
    let mut body = String::new();
    for i in 0..n {
        body += &format!(
            "valves,site=north state=\"{MARKER}-{i}\",pressure={}.25 {}\n",
            1000 + i,
            t0 + i as i64 * 1000
        );
    }
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
}

fn last_states(s: &Server) -> Vec<String> {
    let list = s.get_json("/api/v1/series?measurement=valves&limit=10", 200);
    let id = list["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"].as_str().unwrap_or("").ends_with(" state"))
        .unwrap_or_else(|| panic!("no state series: {list}"))["id"]
        .as_u64()
        .unwrap();
    s.get_json(&format!("/api/v1/series/{id}/points?last=1000"), 200)["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every byte under `dir` (store file, SQLite WAL, log segments).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.extend(std::fs::read(e).unwrap_or_default());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn log_bytes(dir: &Path) -> Vec<u8> {
    all_bytes(&dir.join("data").join("wal"))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Runs `clio serve` expecting it to refuse to start; returns its log.
fn refused_start(dir: &Path, config: &str) -> String {
    let cfg = dir.join("clio.toml");
    std::fs::write(&cfg, config).unwrap();
    let log = dir.join("refused.log");
    let mut child = Command::new(clio_bin())
        .args(["serve", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .env("CLIO_LOG", "warn")
        .env_remove("CLIO_DATA_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "clio serve started: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "clio serve exited 0");
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn an_encrypted_server_hides_values_survives_sigkill_and_needs_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = DataKey::generate();
    let key_file = tmp.path().join("data.key");
    std::fs::write(&key_file, key.to_hex()).unwrap();

    // The same write on a plain server shows the marker in its log: the check can fail.
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let s = Server::start_configured(&plain, &config(None, None), "warn");
    write_marker(&s, 5);
    s.kill();
    assert!(
        contains(&log_bytes(&plain), MARKER),
        "the plain log hides the marker"
    );

    let dir = tmp.path().join("enc");
    std::fs::create_dir_all(&dir).unwrap();
    let s = Server::start_configured(&dir, &config(Some(&key_file), None), "warn");
    write_marker(&s, 50);
    assert_eq!(last_states(&s).len(), 50);
    // SIGKILL: the points are only in the (sealed) log.
    s.kill();
    let bytes = all_bytes(&dir.join("data"));
    assert!(
        !contains(&bytes, MARKER),
        "plaintext value on disk after SIGKILL"
    );
    assert!(!contains(&bytes, &key.to_hex()), "the key is on disk");

    // Without the key: a clear refusal at start-up (the log cannot be read).
    let log = refused_start(&dir, &config(None, None));
    assert!(log.contains("CLIO_DATA_KEY"), "{log}");
    // A wrong key: refused, naming the key id the data needs.
    let wrong = tmp.path().join("wrong.key");
    std::fs::write(&wrong, DataKey::generate().to_hex()).unwrap();
    let log = refused_start(&dir, &config(Some(&wrong), None));
    assert!(log.contains(&key.id()), "{log}");

    // With the key: the log replays, everything is there; then a clean stop flushes.
    let s = Server::start_configured(&dir, &config(Some(&key_file), None), "warn");
    let states = last_states(&s);
    assert_eq!(states.len(), 50);
    assert_eq!(states[0], format!("{MARKER}-0"));
    assert!(s.terminate().success());
    let bytes = all_bytes(&dir.join("data"));
    assert!(
        !contains(&bytes, MARKER),
        "plaintext value on disk after the flush"
    );

    // Empty log, encrypted store: no key is still refused (by the store's marker).
    let log = refused_start(&dir, &config(None, None));
    assert!(log.contains("encrypted"), "{log}");
    // A plain data directory (here: its points only in the log) refuses a key, and stays
    // usable without one.
    let log = refused_start(&plain, &config(Some(&key_file), None));
    assert!(log.contains("unencrypted log record"), "{log}");
    let s = Server::start_configured(&plain, &config(None, None), "warn");
    assert_eq!(last_states(&s).len(), 5);
    assert!(s.terminate().success());
    // After a clean stop: refused by the log's plain records or the store's (whichever
    // the start meets first).
    let log = refused_start(&plain, &config(Some(&key_file), None));
    assert!(
        log.contains("not encrypted") || log.contains("unencrypted log record"),
        "{log}"
    );

    // `clio query --db` reads with the key, and fails clearly without it.
    let db = dir.join("data").join("clio.db");
    let q = |extra: &[&str]| {
        Command::new(clio_bin())
            .args(["query", "--db"])
            .arg(&db)
            .args(["--key", "valves,site=north state", "--last", "3"])
            .args(extra)
            .env_remove("CLIO_DATA_KEY")
            .output()
            .unwrap()
    };
    let out = q(&["--key-file", key_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{MARKER}-49")));
    let out = q(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted"));

    // Rotation: a new current key, the old one previous; everything stays readable, and a
    // reseal (server stopped) retires the old key.
    let new_key = DataKey::generate();
    let new_file = tmp.path().join("new.key");
    std::fs::write(&new_file, new_key.to_hex()).unwrap();
    let s = Server::start_configured(&dir, &config(Some(&new_file), Some(&key_file)), "warn");
    assert_eq!(last_states(&s).len(), 50);
    assert!(s.terminate().success());
    let keys = Command::new(clio_bin())
        .args(["storage", "keys", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let by_key: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert!(by_key.get(key.id()).is_some(), "{by_key}");
    let out = Command::new(clio_bin())
        .args(["storage", "reseal", "--db"])
        .arg(&db)
        .arg("--key-file")
        .arg(&new_file)
        .arg("--previous-key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = Command::new(clio_bin())
        .args(["storage", "keys", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let by_key: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(
        by_key.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![&new_key.id()],
        "{by_key}"
    );
    // The old key is no longer needed.
    let s = Server::start_configured(&dir, &config(Some(&new_file), None), "warn");
    assert_eq!(last_states(&s).len(), 50);
    s.kill();
}
