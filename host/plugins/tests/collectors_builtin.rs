//! The built-in collectors against real counterparts the tests start: `http-json` against a
//! small HTTP server, `modbus-tcp` against a pymodbus Modbus TCP device
//! (tests/tools/modbus_server.py; scripts/test-all.sh installs pymodbus into target/pyenv),
//! and each refused when it reaches an address it was not granted; a Modbus device that never
//! answers ends the run at the socket timeout instead of hanging the instance. (`prometheus`
//! scraping Clio's own /metrics runs through the real binary: tests/e2e/tests/collectors.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clio_core::{Data, EngineOptions, ReadRequest, Resolution, Store, Window};
use clio_plugins::{
    BUILTIN_PLUGINS_DIR, CollectorSpec, Collectors, HostGrant, NoObserver, Outcome, PluginHost,
    PluginOptions, Schedule,
};
use clio_storage::{SeriesKey, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

struct Env {
    tmp: TempDir,
    store: Store,
    host: PluginHost,
}

/// An engine and a plugin host whose plugins directory holds the given built-in collectors.
async fn env(collectors: &[&str]) -> Env {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for c in collectors {
        let file = format!("collector_{}.wasm", c.replace('-', "_"));
        let src = Path::new(BUILTIN_PLUGINS_DIR).join(&file);
        std::fs::copy(&src, dir.join(&file))
            .unwrap_or_else(|e| panic!("{}: {e} (guests not built?)", src.display()));
    }
    let backend =
        Arc::new(SqliteBackend::open(SqliteOptions::new(tmp.path().join("clio.db"))).unwrap());
    let (store, _) = Store::open(EngineOptions::new(tmp.path()), backend)
        .await
        .unwrap();
    let opts = PluginOptions {
        user_dir: Some(dir),
        cache_dir: Some(tmp.path().join("plugin-cache")),
        watch: false,
        ..PluginOptions::default()
    };
    let host = PluginHost::new(opts, store.clone()).unwrap();
    Env { tmp, store, host }
}

fn spec(name: &str, plugin: &str, config_json: &str) -> CollectorSpec {
    CollectorSpec {
        name: name.into(),
        plugin: plugin.into(),
        // Long: the tests run each instance by hand.
        schedule: Schedule::Every(Duration::from_secs(3600)),
        http_hosts: Vec::new(),
        tcp: Vec::new(),
        config_json: config_json.into(),
        timeout: Duration::from_secs(10),
        memory_bytes: 16 << 20,
        max_points: 10_000,
        enabled: false,
    }
}

/// The newest value of a series, polled until it is there.
async fn last_value(store: &Store, key: &str) -> Value {
    let k: SeriesKey = key.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(id) = store.series_id(&k) {
            let r = store
                .read(&ReadRequest {
                    series: id,
                    window: Window::Last {
                        n: 1,
                        skip: 0,
                        at: None,
                    },
                    resolution: Resolution::Raw,
                    cursor: None,
                })
                .await
                .unwrap();
            if let Data::Points(p) = r.data
                && let Some(p) = p.last()
            {
                return p.value.clone();
            }
        }
        assert!(Instant::now() < deadline, "no point in {key}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A one-path HTTP/1.1 server on a free port answering `body` as JSON; counts its requests.
fn json_server(body: &'static str) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request_line.starts_with("GET /status.json ") {
                ("200 OK", body)
            } else {
                ("404 Not Found", "{}")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_maps_pointers_and_is_refused_where_not_granted() {
    let e = env(&["http-json"]).await;
    let (addr, hits) =
        json_server(r#"{"plant": {"temp": 21.5, "state": "running", "on": true, "n": "42"}}"#);
    let config = format!(
        r#"{{"urls": [{{"url": "http://{addr}/status.json", "series": {{
            "room,site=a temperature": "/plant/temp", "room,site=a state": "/plant/state",
            "room,site=a on": "/plant/on", "room,site=a n": "/plant/n", "room,site=a gone": "/nope"}}}}]}}"#
    );
    let granted = CollectorSpec {
        http_hosts: vec![HostGrant::parse(&addr).unwrap()],
        ..spec("json", "http-json", &config)
    };
    let missing = format!(
        r#"{{"urls": [{{"url": "http://{addr}/missing.json", "series": {{"m f": "/a"}}}}]}}"#
    );
    let c = Collectors::start(
        e.host.clone(),
        vec![
            granted.clone(),
            spec("json-denied", "http-json", &config),
            // Granted another port of the same host: still refused.
            CollectorSpec {
                http_hosts: vec![HostGrant::parse("127.0.0.1:1").unwrap()],
                ..spec("json-other-port", "http-json", &config)
            },
            CollectorSpec {
                http_hosts: vec![HostGrant::parse("127.0.0.1").unwrap()],
                ..spec("json-404", "http-json", &missing)
            },
        ],
        Arc::new(NoObserver),
        CancellationToken::new(),
    );
    let r = c.run_now("json").await.unwrap();
    assert_eq!((r.outcome, r.points), (Outcome::Ok, 4), "{r:?}");
    assert_eq!(
        last_value(&e.store, "room,site=a temperature").await,
        Value::Num(21.5)
    );
    assert_eq!(
        last_value(&e.store, "room,site=a state").await,
        Value::Str("running".into())
    );
    assert_eq!(
        last_value(&e.store, "room,site=a on").await,
        Value::Num(1.0)
    );
    assert_eq!(
        last_value(&e.store, "room,site=a n").await,
        Value::Num(42.0)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    for name in ["json-denied", "json-other-port"] {
        let r = c.run_now(name).await.unwrap();
        assert_eq!((r.outcome, r.points), (Outcome::Error, 0), "{r:?}");
        let err = r.error.unwrap();
        assert!(err.contains("HttpRequestDenied"), "{err}");
    }
    // The refused requests never reached the server.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let r = c.run_now("json-404").await.unwrap();
    assert_eq!(r.outcome, Outcome::Error, "{r:?}");
    assert!(r.error.unwrap().contains("status 404"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // The granted instance is unaffected by its failing neighbours.
    let r = c.run_now("json").await.unwrap();
    assert_eq!((r.outcome, r.points), (Outcome::Ok, 4), "{r:?}");
    assert_eq!(c.get("json-denied").unwrap().state, "stopped");
}

/// The pymodbus device: a child process serving on a free port, killed on drop.
struct ModbusDevice {
    child: Child,
    addr: String,
}

impl Drop for ModbusDevice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("pyenv/bin/python")
}

fn modbus_device() -> ModbusDevice {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let py = python();
    let mut child = Command::new(&py)
        .arg(root.join("tests/tools/modbus_server.py"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/test-all.sh once)", py.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "the pymodbus device did not start (is pymodbus installed in target/pyenv?)"
    );
    let addr = format!("127.0.0.1:{port}");
    // Listening is announced after the bind; confirm before the collector connects.
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "pymodbus never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ModbusDevice { child, addr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_tcp_reads_a_pymodbus_device_and_is_refused_where_not_granted() {
    let dev = modbus_device();
    let e = env(&["modbus-tcp"]).await;
    let config = format!(
        r#"{{"address": "{}", "registers": [
            {{"key": "boiler temperature", "address": 0, "scale": 0.1, "offset": -40}},
            {{"key": "boiler delta", "address": 1, "type": "i16"}},
            {{"key": "boiler pressure", "address": 2, "type": "f32"}},
            {{"key": "meter energy", "address": 0, "table": "input", "type": "u32", "word_order": "low_first"}},
            {{"key": "meter skew", "address": 2, "table": "input", "type": "i16", "byte_order": "little"}},
            {{"key": "meter flow", "address": 3, "table": "input", "type": "f32", "byte_order": "little", "word_order": "low_first"}}
        ]}}"#,
        dev.addr
    );
    let bad_address = format!(
        r#"{{"address": "{}", "registers": [{{"key": "x y", "address": 100}}]}}"#,
        dev.addr
    );
    let grant = vec![dev.addr.parse().unwrap()];
    let c = Collectors::start(
        e.host.clone(),
        vec![
            CollectorSpec {
                tcp: grant.clone(),
                ..spec("plc", "modbus-tcp", &config)
            },
            spec("plc-denied", "modbus-tcp", &config),
            CollectorSpec {
                tcp: grant,
                ..spec("plc-bad", "modbus-tcp", &bad_address)
            },
        ],
        Arc::new(NoObserver),
        CancellationToken::new(),
    );
    // Twice: the second run reuses the kept connection.
    for _ in 0..2 {
        let r = c.run_now("plc").await.unwrap();
        assert_eq!((r.outcome, r.points), (Outcome::Ok, 6), "{r:?}");
    }
    for (key, want) in [
        ("boiler temperature", 25.0),
        ("boiler delta", -2.0),
        ("boiler pressure", 12.5),
        ("meter energy", 65538.0),
        ("meter skew", -2.0),
        ("meter flow", -1.5),
    ] {
        match last_value(&e.store, key).await {
            Value::Num(v) => assert!((v - want).abs() < 1e-9, "{key}: {v} != {want}"),
            v => panic!("{key}: {v:?}"),
        }
    }
    let r = c.run_now("plc-denied").await.unwrap();
    assert_eq!((r.outcome, r.points), (Outcome::Error, 0), "{r:?}");
    let err = r.error.unwrap();
    assert!(err.contains("connect to"), "{err}");
    let r = c.run_now("plc-bad").await.unwrap();
    assert_eq!(r.outcome, Outcome::Error, "{r:?}");
    let err = r.error.unwrap();
    assert!(err.contains("illegal data address"), "{err}");
    let r = c.run_now("plc").await.unwrap();
    assert_eq!((r.outcome, r.points), (Outcome::Ok, 6), "{r:?}");
    drop(dev);
    // The device went away: the run fails instead of hanging, and says why.
    let r = c.run_now("plc").await.unwrap();
    assert_eq!(r.outcome, Outcome::Error, "{r:?}");
    let _ = e.tmp.path();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_tcp_gives_up_on_a_device_that_never_answers() {
    let e = env(&["modbus-tcp"]).await;
    // Accepts connections and reads requests, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let config = format!(
        r#"{{"address": "{addr}", "timeout_ms": 300, "registers": [{{"key": "x y", "address": 0}}]}}"#
    );
    let c = Collectors::start(
        e.host.clone(),
        vec![CollectorSpec {
            tcp: vec![addr.parse().unwrap()],
            ..spec("silent", "modbus-tcp", &config)
        }],
        Arc::new(NoObserver),
        CancellationToken::new(),
    );
    for _ in 0..2 {
        let t = Instant::now();
        let r = c.run_now("silent").await.unwrap();
        assert_eq!(r.outcome, Outcome::Error, "{r:?}");
        // The socket's read timeout (300 ms), not the run's 10 s deadline, ended it.
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(
            r.error.as_deref().unwrap_or("").contains("modbus:"),
            "{r:?}"
        );
        let st = c.get("silent").unwrap();
        assert_ne!(st.state, "hung", "{st:?}");
    }
}
