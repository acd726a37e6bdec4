//! Collector instances end to end over a real engine: the built-in simulator on its
//! schedule, run-now, stop/start, and a failing instance next to a healthy one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{EngineOptions, Store};
use clio_plugins::{
    BUILTIN_PLUGINS_DIR, CollectorSpec, Collectors, NoObserver, Outcome, PluginHost, PluginOptions,
    Schedule,
};
use clio_storage::SeriesKey;
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

struct Env {
    _tmp: TempDir,
    store: Store,
    host: PluginHost,
}

async fn env() -> Env {
    env_watching(false).await
}

/// [`env`] with the plugins directory watched (hot reload) or not.
async fn env_watching(watch: bool) -> Env {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let sim = Path::new(BUILTIN_PLUGINS_DIR).join("collector_simulator.wasm");
    std::fs::copy(&sim, dir.join("sim.wasm"))
        .unwrap_or_else(|e| panic!("{}: {e} (guests not built?)", sim.display()));
    let backend =
        Arc::new(SqliteBackend::open(SqliteOptions::new(tmp.path().join("clio.db"))).unwrap());
    let (store, _) = Store::open(EngineOptions::new(tmp.path()), backend)
        .await
        .unwrap();
    let opts = PluginOptions {
        user_dir: Some(dir),
        cache_dir: Some(tmp.path().join("plugin-cache")),
        watch,
        ..PluginOptions::default()
    };
    let host = PluginHost::new(opts, store.clone()).unwrap();
    Env {
        _tmp: tmp,
        store,
        host,
    }
}

fn spec(name: &str, plugin: &str, config_json: &str) -> CollectorSpec {
    CollectorSpec {
        name: name.into(),
        plugin: plugin.into(),
        schedule: Schedule::Every(Duration::from_millis(200)),
        http_hosts: Vec::new(),
        tcp: Vec::new(),
        config_json: config_json.into(),
        timeout: Duration::from_secs(5),
        memory_bytes: 16 << 20,
        max_points: 10_000,
        enabled: true,
    }
}

/// Polls `f` until it holds (generous deadline: the machine is loaded).
async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_runs_on_schedule_and_its_points_are_written() {
    let e = env().await;
    assert_eq!(e.host.collector_plugins(), ["simulator"]);
    let shutdown = CancellationToken::new();
    let c = Collectors::start(
        e.host.clone(),
        vec![spec(
            "furnace",
            "simulator",
            r#"{"lines": 2, "sensors": 4}"#,
        )],
        Arc::new(NoObserver),
        shutdown.clone(),
    );
    wait_for("two scheduled runs", || c.get("furnace").unwrap().runs >= 2).await;
    let st = c.get("furnace").unwrap();
    assert_eq!(st.state, "running", "{st:?}");
    assert_eq!(st.errors, 0, "{st:?}");
    // 2 lines × (4 sensors × 3 kinds + status).
    assert_eq!(st.last_run.as_ref().unwrap().points, 26, "{st:?}");
    for key in [
        "furnace,line=L1,sensor=T1 temperature",
        "furnace,line=L2,sensor=F4 flow",
        "furnace,line=L2 status",
    ] {
        let k: SeriesKey = key.parse().unwrap();
        assert!(e.store.series_id(&k).is_some(), "{key} not written");
    }
    // Stopped: no more scheduled runs; run-now still works.
    let stopped = c.stop_one("furnace").await.unwrap();
    assert_eq!(stopped.state, "stopped");
    let runs = c.get("furnace").unwrap().runs;
    let r = c.run_now("furnace").await.unwrap();
    assert_eq!((r.outcome, r.points), (Outcome::Ok, 26), "{r:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(c.get("furnace").unwrap().runs, runs + 1);
    assert_eq!(c.start_one("furnace").await.unwrap().state, "running");
    wait_for("runs after start", || {
        c.get("furnace").unwrap().runs >= runs + 2
    })
    .await;
    assert!(c.get("nope").is_err());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_instance_affects_only_itself() {
    let e = env().await;
    let shutdown = CancellationToken::new();
    let c = Collectors::start(
        e.host.clone(),
        vec![
            spec("ok", "simulator", "{}"),
            spec("missing", "no-such-plugin", "{}"),
            spec("badconf", "simulator", r#"{"lines": 0}"#),
        ],
        Arc::new(NoObserver),
        shutdown.clone(),
    );
    wait_for("runs of every instance", || {
        c.list().iter().all(|s| s.runs >= 3)
    })
    .await;
    let by = |n: &str| c.get(n).unwrap();
    assert_eq!(by("ok").state, "running");
    assert_eq!(by("ok").errors, 0);
    let missing = by("missing");
    assert_eq!(missing.state, "failing");
    assert_eq!(missing.last_run.unwrap().outcome, Outcome::Fault);
    assert!(
        missing
            .last_error
            .unwrap()
            .contains("no collector plugin `no-such-plugin`")
    );
    let bad = by("badconf");
    assert_eq!(bad.last_run.unwrap().outcome, Outcome::Error);
    assert!(
        bad.last_error.unwrap().contains("lines"),
        "configuration error names the key"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapping_hanging_and_ungranted_collectors_leave_the_others_on_schedule() {
    let e = env().await;
    let hostile = Path::new(clio_plugins::TEST_PLUGINS_DIR).join("test_collector_hostile.wasm");
    let dir = e._tmp.path().join("plugins");
    std::fs::copy(&hostile, dir.join("hostile.wasm")).unwrap();
    assert!(e.host.reload().failed.is_empty());
    // A port nobody granted: the connect is refused by the address check.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut hang = spec("hang", "hostile", r#"{"mode": "hang"}"#);
    hang.timeout = Duration::from_millis(300);
    let shutdown = CancellationToken::new();
    let c = Collectors::start(
        e.host.clone(),
        vec![
            spec("ok", "simulator", "{}"),
            spec("trap", "hostile", r#"{"mode": "trap"}"#),
            hang,
            spec(
                "tcp",
                "hostile",
                &format!(r#"{{"mode": "tcp", "addr": "{addr}"}}"#),
            ),
            CollectorSpec {
                tcp: vec![addr.parse().unwrap()],
                ..spec(
                    "granted",
                    "hostile",
                    &format!(r#"{{"mode": "tcp", "addr": "{addr}"}}"#),
                )
            },
        ],
        Arc::new(NoObserver),
        shutdown.clone(),
    );
    wait_for("runs of every instance", || {
        c.list().iter().all(|s| s.runs >= 2)
    })
    .await;
    let by = |n: &str| c.get(n).unwrap();
    let runs_ok = by("ok").runs;
    wait_for("the healthy one keeps running", || {
        by("ok").runs >= runs_ok + 3
    })
    .await;
    assert_eq!(by("ok").errors, 0);
    let trap = by("trap");
    assert_eq!(trap.last_run.unwrap().outcome, Outcome::Fault);
    assert!(trap.last_error.unwrap().contains("trapped"));
    assert_eq!(by("hang").last_run.unwrap().outcome, Outcome::Timeout);
    let tcp = by("tcp");
    assert_eq!(
        tcp.last_run.as_ref().unwrap().outcome,
        Outcome::Error,
        "{tcp:?}"
    );
    assert_eq!(tcp.points, 0);
    let k: SeriesKey = "hostile tcp".parse().unwrap();
    // The same connect with the address granted succeeds (and writes its point).
    let granted = by("granted");
    assert_eq!(
        granted.last_run.as_ref().unwrap().outcome,
        Outcome::Ok,
        "{granted:?}"
    );
    assert!(granted.points >= 2);
    assert!(e.store.series_id(&k).is_some());
    drop(listener);
    shutdown.cancel();
}

/// The plugin file with a custom section appended: the same code, another file hash.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = b"clio-test";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    assert!(payload.len() < 128);
    out.push(payload.len() as u8);
    out.extend(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_follows_hot_reloads_of_its_plugin() {
    let e = env_watching(true).await;
    let dir = e._tmp.path().join("plugins");
    let sim = std::fs::read(dir.join("sim.wasm")).unwrap();
    let shutdown = CancellationToken::new();
    let c = Collectors::start(
        e.host.clone(),
        vec![spec(
            "furnace",
            "simulator",
            r#"{"lines": 1, "sensors": 1}"#,
        )],
        Arc::new(NoObserver),
        shutdown.clone(),
    );
    wait_for("a first run", || c.get("furnace").unwrap().runs >= 1).await;
    let sha_of = |name: &str| {
        e.host
            .plugins()
            .iter()
            .find(|p| p.file.ends_with(name))
            .map(|p| p.sha256.clone())
    };
    // 1. A new build of the plugin (renamed into place): picked up, no run fails.
    let v1 = variant(&sim, "v1");
    let sha = clio_plugins::sha256_hex(&v1);
    std::fs::write(dir.join(".sim.tmp"), &v1).unwrap();
    std::fs::rename(dir.join(".sim.tmp"), dir.join("sim.wasm")).unwrap();
    wait_for("the reload", || sha_of("sim.wasm").as_deref() == Some(&sha)).await;
    let runs = c.get("furnace").unwrap().runs;
    wait_for("runs of the new version", || {
        c.get("furnace").unwrap().runs >= runs + 3
    })
    .await;
    let st = c.get("furnace").unwrap();
    assert_eq!((st.state, st.errors), ("running", 0), "{st:?}");
    // 2. The plugin removed: the instance fails on its own, and says why.
    std::fs::remove_file(dir.join("sim.wasm")).unwrap();
    wait_for("the instance failing", || {
        c.get("furnace").unwrap().state == "failing"
    })
    .await;
    let st = c.get("furnace").unwrap();
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .contains("no collector plugin"),
        "{st:?}"
    );
    // 3. Back again: the instance recovers without a restart of the collectors.
    std::fs::write(dir.join("sim.wasm"), &sim).unwrap();
    wait_for("the instance running again", || {
        let st = c.get("furnace").unwrap();
        st.state == "running" && st.last_run.is_some_and(|r| r.outcome == Outcome::Ok)
    })
    .await;
    shutdown.cancel();
}

/// Numbers for BENCHMARKS.md ("Collectors"): a collector run against the native write of the
/// same points, and points/s through a collector. `cargo test -p clio-plugins --test
/// collectors bench -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; prints numbers"]
async fn bench_collector_run_against_native_write() {
    use clio_core::{IncomingPoint, SeriesRef};
    use clio_storage::Value;
    let e = env().await;
    let big = |name: &str, lines: u32, sensors: u32| CollectorSpec {
        schedule: Schedule::Every(Duration::from_secs(3600)),
        enabled: false,
        max_points: 1_000_000,
        memory_bytes: 64 << 20,
        ..spec(
            name,
            "simulator",
            &format!(r#"{{"lines": {lines}, "sensors": {sensors}}}"#),
        )
    };
    let c = Collectors::start(
        e.host.clone(),
        vec![big("small", 1, 1), big("large", 100, 100)],
        Arc::new(NoObserver),
        CancellationToken::new(),
    );
    // The simulator's points for one line and one sensor, written natively.
    let small_points = |ts: i64| -> Vec<IncomingPoint> {
        let mut v: Vec<IncomingPoint> = [
            "furnace,line=L1,sensor=T1 temperature",
            "furnace,line=L1,sensor=P1 pressure",
            "furnace,line=L1,sensor=F1 flow",
        ]
        .iter()
        .map(|k| IncomingPoint {
            series: SeriesRef::Key(k.parse().unwrap()),
            ts: Some(ts),
            value: Value::Num(1550.25),
        })
        .collect();
        v.push(IncomingPoint {
            series: SeriesRef::Key("furnace,line=L1 status".parse().unwrap()),
            ts: Some(ts),
            value: Value::Str("running".into()),
        });
        v
    };
    for _ in 0..20 {
        c.run_now("small").await.unwrap();
        e.store.write(small_points(1)).await.unwrap();
    }
    let n = 300;
    let mut wasm = Vec::with_capacity(n);
    let mut native = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let r = c.run_now("small").await.unwrap();
        wasm.push(t.elapsed());
        assert_eq!((r.outcome, r.points), (Outcome::Ok, 4));
        let pts = small_points(1_700_000_000_000 + i as i64);
        let t = Instant::now();
        e.store.write(pts).await.unwrap();
        native.push(t.elapsed());
    }
    wasm.sort();
    native.sort();
    let med = |v: &[Duration]| v[v.len() / 2];
    let p90 = |v: &[Duration]| v[v.len() * 9 / 10];
    eprintln!(
        "4-point run: collector median {:?} p90 {:?}; native write median {:?} p90 {:?}; overhead median {:?}",
        med(&wasm),
        p90(&wasm),
        med(&native),
        p90(&native),
        med(&wasm).saturating_sub(med(&native))
    );
    // Points/s: 100 lines × 100 sensors = 30,100 points per run.
    c.run_now("large").await.unwrap();
    let runs = 10;
    let t = Instant::now();
    let mut points = 0;
    for _ in 0..runs {
        let r = c.run_now("large").await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        points += r.points;
    }
    let wasm_s = t.elapsed().as_secs_f64();
    let large_points = |ts: i64| -> Vec<IncomingPoint> {
        let mut v = Vec::with_capacity(30_100);
        for line in 1..=100 {
            for s in 1..=100 {
                for (kind, field) in [("T", "temperature"), ("P", "pressure"), ("F", "flow")] {
                    v.push(IncomingPoint {
                        series: SeriesRef::Key(
                            format!("furnace,line=L{line},sensor={kind}{s} {field}")
                                .parse()
                                .unwrap(),
                        ),
                        ts: Some(ts),
                        value: Value::Num(1550.25),
                    });
                }
            }
            v.push(IncomingPoint {
                series: SeriesRef::Key(format!("furnace,line=L{line} status").parse().unwrap()),
                ts: Some(ts),
                value: Value::Str("running".into()),
            });
        }
        v
    };
    let t = Instant::now();
    let mut native_points = 0;
    for i in 0..runs {
        // Building the keys is part of a native collector's work too, as the guest's is.
        let pts = large_points(1_700_000_000_000 + i as i64);
        native_points += pts.len() as u64;
        e.store.write(pts).await.unwrap();
    }
    let native_s = t.elapsed().as_secs_f64();
    eprintln!(
        "30,100-point runs: collector {:.0} points/s ({:.1} ms/run); native {:.0} points/s ({:.1} ms/run)",
        points as f64 / wasm_s,
        wasm_s * 1000.0 / runs as f64,
        native_points as f64 / native_s,
        native_s * 1000.0 / runs as f64
    );
}
