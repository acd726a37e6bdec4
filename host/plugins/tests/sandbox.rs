//! The plugin host end to end with the test guests (`tests/plugins/*`) over a real engine
//! (SQLite in a temp dir): reads, errors, the hostile suite, malformed files, hot reload.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_plugins::{
    FnValue, Limits, PluginError, PluginHost, PluginOptions, TEST_PLUGINS_DIR, split_args,
};
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;

const T0: i64 = 1_700_000_000_000;

/// The tests measure wall time (timeouts, reload latency) on a 2-core machine: run them one
/// at a time so that one's busy loops do not skew another's clock.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const N: i64 = 12_000;
const NUM: SeriesId = SeriesId(1);
const STR: SeriesId = SeriesId(2);

fn guest(name: &str) -> Vec<u8> {
    let p = Path::new(TEST_PLUGINS_DIR).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (guests not built?)", p.display()))
}

/// Same component with a custom section appended: a different file (hash) that behaves
/// the same.
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

struct Env {
    _tmp: TempDir,
    dir: PathBuf,
    store: Store,
    host: PluginHost,
}

async fn open_store(tmp: &Path) -> Store {
    let backend = Arc::new(SqliteBackend::open(SqliteOptions::new(tmp.join("clio.db"))).unwrap());
    let mut o = EngineOptions::new(tmp);
    o.cache_service_interval = Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    let (store, _) = Store::open(o, backend).await.unwrap();
    // Half flushed to SQLite, half still in the cache: reads must merge both.
    let pts = |r: std::ops::Range<i64>| {
        r.map(|i| IncomingPoint {
            series: SeriesRef::Id(NUM),
            ts: Some(T0 + i * 1000),
            value: Value::Num(i as f64),
        })
        .collect::<Vec<_>>()
    };
    store.write(pts(0..N / 2)).await.unwrap();
    store.flush().await.unwrap();
    store.write(pts(N / 2..N)).await.unwrap();
    let strs = (0..100)
        .map(|i| IncomingPoint {
            series: SeriesRef::Id(STR),
            ts: Some(T0 + i * 1000),
            value: if i % 2 == 0 {
                Value::Str(format!("s{i}"))
            } else {
                Value::Num(i as f64)
            },
        })
        .collect();
    store.write(strs).await.unwrap();
    store
}

async fn env_with(files: &[(&str, Vec<u8>)], tweak: impl FnOnce(&mut PluginOptions)) -> Env {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let store = open_store(tmp.path()).await;
    let mut opts = PluginOptions {
        user_dir: Some(dir.clone()),
        cache_dir: Some(tmp.path().join("plugin-cache")),
        watch: false,
        ..PluginOptions::default()
    };
    tweak(&mut opts);
    let host = PluginHost::new(opts, store.clone()).unwrap();
    Env {
        _tmp: tmp,
        dir,
        store,
        host,
    }
}

async fn env() -> Env {
    env_with(
        &[
            ("ok.wasm", guest("test_plugin_ok.wasm")),
            ("hostile.wasm", guest("test_plugin_hostile.wasm")),
        ],
        |_| {},
    )
    .await
}

const END: i64 = T0 + N * 1000;

async fn eval(
    h: &PluginHost,
    s: SeriesId,
    f: &str,
    args: &str,
    at: i64,
) -> Result<FnValue, PluginError> {
    h.evaluate(s, f, split_args(args), Some(at)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_last_n_and_ranges_over_the_whole_window() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let h = &e.host;
    assert_eq!(
        eval(h, NUM, "testavg", "#10", END).await.unwrap(),
        FnValue::Num(11994.5)
    );
    // More than query_max_result_numbers (5000): the host pages, the function sees all.
    assert_eq!(
        eval(h, NUM, "testavg", "#12000", END).await.unwrap(),
        FnValue::Num(5999.5)
    );
    assert_eq!(
        eval(h, NUM, "testavg", "#20000", END).await.unwrap(),
        FnValue::Num(5999.5)
    );
    // Evaluation time hides later points.
    assert_eq!(
        eval(h, NUM, "testavg", "#10", T0 + 100_000).await.unwrap(),
        FnValue::Num(94.5)
    );
    // Ranges: [at - 10 s, at) and the whole series through range paging.
    assert_eq!(
        eval(h, NUM, "testavg", "10000", END).await.unwrap(),
        FnValue::Num(11994.5)
    );
    assert_eq!(
        eval(h, NUM, "testavg", &(N * 1000).to_string(), END)
            .await
            .unwrap(),
        FnValue::Num(5999.5)
    );
    assert_eq!(
        eval(h, NUM, "testavg", "1000", T0).await.unwrap(),
        FnValue::None
    );
    // Strings: more than query_max_result_strings (50) of them, columns with kinds.
    assert_eq!(
        eval(h, STR, "testavg", "#100", END).await.unwrap(),
        FnValue::Num(50.0)
    );
    assert_eq!(
        eval(h, STR, "testavg", "last", T0 + 99_000).await.unwrap(),
        FnValue::Str("s98".into())
    );
    assert_eq!(
        eval(h, NUM, "testavg", "key", END).await.unwrap(),
        FnValue::None
    );
    // A session reuses one instance.
    let host = h.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut s = host.session(NUM, "testavg", Some(END)).unwrap();
        (0..3)
            .map(|_| s.evaluate(&["#4".into()]).unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(r, vec![FnValue::Num(11997.5); 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_what_was_wrong() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let h = &e.host;
    match eval(h, NUM, "testavg", "#x", END).await {
        Err(err @ PluginError::BadArgument { .. }) => {
            assert_eq!(err.status(), 400);
            assert!(err.to_string().contains("num"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let err = eval(h, NUM, "nosuch", "", END).await.unwrap_err();
    assert_eq!((err.status(), err.kind()), (404, "unknown_function"));
    // A series never written is an empty window, not an error (semantics.md 1).
    let v = eval(h, SeriesId(999), "testavg", "#1", END).await.unwrap();
    assert!(matches!(v, FnValue::None), "{v:?}");
    let names: Vec<String> = h.functions().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["hostile", "testavg"]);
    let f = h.function("testavg").unwrap();
    assert_eq!(f.params[0].name, "num");
    assert!(f.params[0].required);
    // Bad arguments are the caller's fault, not counted as plugin errors.
    let st = h
        .plugins()
        .into_iter()
        .find(|p| p.name == "testavg")
        .unwrap();
    assert_eq!(st.errors, 0);
    assert_eq!(st.calls, 2); // the bad-argument call and the empty-series one
    assert_eq!(st.sha256.len(), 64);
}

/// The epoch ticker parks while no call is armed; a runaway call after an idle spell must
/// wake it and still be stopped at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_call_after_an_idle_spell_is_still_stopped() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let h = &e.host;
    assert_eq!(
        eval(h, NUM, "hostile", "ok", END).await.unwrap(),
        FnValue::Num(42.0)
    );
    // Past the last call's deadline (100 ms): the ticker has parked.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = Instant::now();
    let err = eval(h, NUM, "hostile", "loop", END).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(took >= Duration::from_millis(95), "stopped after {took:?}");
    assert!(took < Duration::from_millis(1000), "ran {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugins_fail_alone() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let h = e.host.clone();
    // A well-behaved caller runs all along: it must never fail.
    let stop = Arc::new(AtomicBool::new(false));
    let ok_calls = Arc::new(AtomicU64::new(0));
    let bg = {
        let (h, stop, ok_calls) = (h.clone(), stop.clone(), ok_calls.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let v = eval(&h, NUM, "testavg", "#10", END).await.unwrap();
                assert_eq!(v, FnValue::Num(11994.5));
                ok_calls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let cases: &[(&str, &str)] = &[
        ("loop", "timeout"),
        ("imports", "timeout"),
        ("spam", "timeout"),
        ("bomb", "memory_limit"),
        ("huge,100000000", "memory_limit"),
        ("huge,4000000", "bad_output"),
        ("recurse", "trap"),
        ("trap", "trap"),
        ("panic", "trap"),
    ];
    for (args, kind) in cases {
        let started = Instant::now();
        let err = eval(&h, NUM, "hostile", args, END).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), *kind, "{args}: {err}");
        assert_eq!(err.status(), 500, "{args}");
        if *kind == "timeout" {
            assert!(
                took >= Duration::from_millis(95),
                "{args} stopped after {took:?}"
            );
            assert!(took < Duration::from_millis(1000), "{args} ran {took:?}");
        }
        if *args == "panic" {
            assert!(err.to_string().contains("on purpose"), "{err}");
        }
        if *args == "recurse" {
            assert!(err.to_string().contains("stack"), "{err}");
        }
        // And a well-behaved plugin still answers right after.
        assert_eq!(
            eval(&h, NUM, "testavg", "#10", END).await.unwrap(),
            FnValue::Num(11994.5)
        );
        assert_eq!(
            eval(&h, NUM, "hostile", "ok", END).await.unwrap(),
            FnValue::Num(42.0)
        );
    }
    stop.store(true, Ordering::Relaxed);
    bg.await.unwrap();
    assert!(ok_calls.load(Ordering::Relaxed) > 0);
    let st = h
        .plugins()
        .into_iter()
        .find(|p| p.name == "hostile")
        .unwrap();
    assert_eq!(st.errors, cases.len() as u64);
    assert!(st.last_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_bounds_work_when_enabled() {
    let _serial = SERIAL.lock().await;
    let e = env_with(
        &[("hostile.wasm", guest("test_plugin_hostile.wasm"))],
        |o| {
            o.limits = Limits {
                fuel: Some(5_000_000),
                call_timeout: Duration::from_secs(5),
                ..Limits::default()
            };
        },
    )
    .await;
    let err = eval(&e.host, NUM, "hostile", "loop", END)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "out_of_fuel", "{err}");
    assert_eq!(
        eval(&e.host, NUM, "hostile", "ok", END).await.unwrap(),
        FnValue::Num(42.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_file_keeps_the_previous_version() {
    let _serial = SERIAL.lock().await;
    let e = env_with(&[("a.wasm", guest("test_plugin_ok.wasm"))], |_| {}).await;
    let before = e.host.plugins()[0].sha256.clone();
    std::fs::write(
        e.dir.join("a.wasm"),
        b"\0asm\x0d\0\x01\0 this is not a component",
    )
    .unwrap();
    std::fs::write(e.dir.join("b.wasm"), b"garbage").unwrap();
    let r = e.host.reload_async().await;
    assert_eq!(r.failed.len(), 2, "{r:?}");
    assert_eq!(
        eval(&e.host, NUM, "testavg", "#10", END).await.unwrap(),
        FnValue::Num(11994.5)
    );
    let st = e.host.plugins();
    let a = st.iter().find(|p| p.file.ends_with("a.wasm")).unwrap();
    assert_eq!(a.sha256, before);
    assert!(a.load_error.is_some());
    let b = st.iter().find(|p| p.file.ends_with("b.wasm")).unwrap();
    assert!(b.name.is_empty() && b.load_error.is_some());
    // The component of another world is refused too.
    std::fs::write(e.dir.join("a.wasm"), guest("test_plugin_ok.wasm")).unwrap();
    let r = e.host.reload_async().await;
    assert!(r.failed.iter().all(|(p, _)| p.ends_with("b.wasm")), "{r:?}");
    std::fs::remove_file(e.dir.join("b.wasm")).unwrap();
    let r = e.host.reload_async().await;
    assert_eq!(r.removed.len(), 1);
    assert_eq!(e.host.plugins().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_cache_is_reused() {
    let _serial = SERIAL.lock().await;
    let e = env_with(&[("a.wasm", guest("test_plugin_ok.wasm"))], |_| {}).await;
    let cache = e._tmp.path().join("plugin-cache");
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1);
    let name = entries[0].file_name().to_string_lossy().into_owned();
    assert!(name.starts_with(&e.host.plugins()[0].sha256), "{name}");
    // A second host over the same cache deserializes instead of compiling.
    let opts = PluginOptions {
        user_dir: Some(e.dir.clone()),
        cache_dir: Some(cache.clone()),
        watch: false,
        ..PluginOptions::default()
    };
    let started = Instant::now();
    let h2 = PluginHost::new(opts, e.store.clone()).unwrap();
    eprintln!("second load from cache: {:?}", started.elapsed());
    assert_eq!(
        eval(&h2, NUM, "testavg", "#2", END).await.unwrap(),
        FnValue::Num(11998.5)
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_is_live_fast_with_zero_failed_calls() {
    let _serial = SERIAL.lock().await;
    let e = env_with(&[("a.wasm", guest("test_plugin_ok.wasm"))], |o| {
        o.watch = true
    })
    .await;
    let h = e.host.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..2 {
        let (h, stop, failures, calls) = (h.clone(), stop.clone(), failures.clone(), calls.clone());
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match eval(&h, NUM, "testavg", "#10", END).await {
                    Ok(FnValue::Num(11994.5)) => {}
                    other => {
                        eprintln!("failed call: {other:?}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let base = guest("test_plugin_ok.wasm");
    let mut worst = Duration::ZERO;
    for round in 0..3 {
        let bytes = variant(&base, &format!("v{round}"));
        let sha = clio_plugins::sha256_hex(&bytes);
        let tmp = e.dir.join(".a.wasm.tmp");
        std::fs::write(&tmp, &bytes).unwrap();
        let started = Instant::now();
        std::fs::rename(&tmp, e.dir.join("a.wasm")).unwrap();
        loop {
            if h.plugins().iter().any(|p| p.sha256 == sha) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "reload never happened"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        eprintln!("round {round}: live after {:?}", started.elapsed());
        worst = worst.max(started.elapsed());
    }
    // A new plugin file dropped in (written in place, not renamed) goes live too.
    let started = Instant::now();
    std::fs::write(e.dir.join("h.wasm"), guest("test_plugin_hostile.wasm")).unwrap();
    loop {
        if eval(&h, NUM, "hostile", "ok", END).await.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "new plugin never appeared"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    worst = worst.max(started.elapsed());
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }
    eprintln!(
        "worst reload latency {worst:?}; {} calls during reloads",
        calls.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(calls.load(Ordering::Relaxed) > 0);
    assert!(worst < Duration::from_millis(500), "reload took {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_plugins_load_and_user_plugins_override() {
    let _serial = SERIAL.lock().await;
    let tmp = TempDir::new().unwrap();
    let store = open_store(tmp.path()).await;
    let b = tmp.path().join("builtin");
    let u = tmp.path().join("user");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::create_dir_all(&u).unwrap();
    std::fs::write(b.join("ok.wasm"), guest("test_plugin_ok.wasm")).unwrap();
    std::fs::write(
        u.join("ok2.wasm"),
        variant(&guest("test_plugin_ok.wasm"), "user"),
    )
    .unwrap();
    let host = PluginHost::new(
        PluginOptions {
            builtin_dir: Some(b),
            user_dir: Some(u),
            watch: false,
            ..PluginOptions::default()
        },
        store,
    )
    .unwrap();
    let st = host.plugins();
    assert_eq!(st.len(), 2);
    let builtin = st.iter().find(|p| p.builtin).unwrap();
    let user = st.iter().find(|p| !p.builtin).unwrap();
    assert!(builtin.shadowed && !user.shadowed);
    assert_eq!(
        eval(&host, NUM, "testavg", "#2", END).await.unwrap(),
        FnValue::Num(11998.5)
    );
}

/// A host serving `guest` (a function named `name`, built against an older contract) next
/// to a current plugin: the old function averages the 10 newest points, names a bad
/// argument, and is listed with its own contract and version. Also returns the id of a
/// series keyed `cpu usage` (no tags: function arguments are split at commas).
async fn serves_old_contract(
    guest_file: &str,
    name: &str,
    contract: &str,
    version: &str,
) -> (Env, SeriesId) {
    let e = env_with(
        &[
            ("old.wasm", guest(guest_file)),
            ("ok.wasm", guest("test_plugin_ok.wasm")),
        ],
        |_| {},
    )
    .await;
    // The 10 newest of 0..N: their mean is N - 5.5, read through the old imports.
    assert_eq!(
        eval(&e.host, NUM, name, "#10", END).await.unwrap(),
        FnValue::Num(N as f64 - 5.5)
    );
    assert!(matches!(
        eval(&e.host, NUM, name, "x", END).await,
        Err(PluginError::BadArgument { .. })
    ));
    let st = e.host.plugins();
    let old = st.iter().find(|p| p.name == name).unwrap();
    let new = st.iter().find(|p| p.name == "testavg").unwrap();
    assert_eq!(
        (old.kind, old.contract, old.version.as_str(), old.errors),
        ("history-function", contract, version, 0)
    );
    assert_eq!(new.contract, "0.2.2");
    let key: clio_storage::SeriesKey = "cpu usage".parse().unwrap();
    let info = e
        .store
        .create_series(SeriesRef::Key(key), Default::default())
        .await
        .unwrap();
    (e, info.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_built_against_contract_0_1_keep_serving() {
    let _serial = SERIAL.lock().await;
    // `compat01` was built from the frozen wit/compat/0.1.0, before `series-by-key` existed.
    let (e, keyed) = serves_old_contract(
        "test_plugin_v0_1.wasm",
        "compat01",
        "0.1.0",
        "0.1.0-fixture",
    )
    .await;
    // The same host serves the addition of 0.2.0 to a current plugin.
    assert_eq!(
        eval(&e.host, NUM, "testavg", "bykey=cpu usage", END)
            .await
            .unwrap(),
        FnValue::Num(keyed.0 as f64)
    );
    assert_eq!(
        eval(&e.host, NUM, "testavg", "bykey=cpu idle", END)
            .await
            .unwrap(),
        FnValue::None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_built_against_contract_0_2_0_keep_serving() {
    let _serial = SERIAL.lock().await;
    // `compat02` was built from the frozen wit/compat/0.2.0, before 0.2.1 added the
    // `columns` reads: its `history@0.2.0` imports (`series-id`, `read-last`, and
    // `series-by-key` below) resolve to the host's 0.2.1 ones.
    let (e, keyed) = serves_old_contract(
        "test_plugin_v0_2.wasm",
        "compat02",
        "0.2.0",
        "0.2.0-fixture",
    )
    .await;
    assert_eq!(
        eval(&e.host, keyed, "compat02", "key", END).await.unwrap(),
        FnValue::Str("cpu usage".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_reads_are_bound_by_the_callers_scope() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let secret = e
        .store
        .create_series(
            SeriesRef::Key("mem used".parse().unwrap()),
            Default::default(),
        )
        .await
        .unwrap()
        .id;
    // A caller that may read only series without a `mem` key (the numbered ones).
    let access = clio_plugins::SeriesAccess(Arc::new(|_, key| {
        key.is_none_or(|k| k.measurement() != "mem")
    }));
    let scoped = |args: &str| {
        e.host.evaluate_as(
            NUM,
            "testavg",
            split_args(args),
            Some(END),
            Some(access.clone()),
        )
    };
    // Another series' settings: hidden outside the scope, visible without one.
    assert_eq!(scoped("bykey=mem used").await.unwrap(), FnValue::None);
    assert_eq!(
        eval(&e.host, NUM, "testavg", "bykey=mem used", END)
            .await
            .unwrap(),
        FnValue::Num(secret.0 as f64)
    );
    // Its own series, in scope, reads as before.
    assert_eq!(scoped("#10").await.unwrap(), FnValue::Num(11994.5));
    // A call on a series outside the scope cannot read it.
    let denied = e
        .host
        .evaluate_as(
            secret,
            "testavg",
            split_args("last"),
            Some(END),
            Some(access.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        denied.to_string().contains("outside the caller's scope"),
        "{denied}"
    );
}
