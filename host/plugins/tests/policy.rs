//! Retention policies as plugins, end to end: the housekeeper over a real engine (SQLite in
//! a temp dir) asks a policy component (`tests/plugins/test-plugin-policy`) for every
//! decision. A policy that fails, traps, times out or answers garbage skips the run and
//! deletes nothing; a policy dropped into the directory serves from the next run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{
    Data, EngineOptions, IncomingPoint, ReadRequest, Resolution, SeriesRef, Store, Window,
};
use clio_housekeeper::{Housekeeper, HousekeeperOptions, RunReport};
use clio_plugins::{PluginHost, PluginOptions, TEST_PLUGINS_DIR, WasmPolicy};
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400_000;
/// Points of each series: one an hour over 4 days, the newest half an hour before the run.
const HOURS: i64 = 96;

/// The stamp of point `h`: half an hour off the hour, so that a cut at whole days from the
/// run's start never falls on a point, however many ms the run starts after `now`.
fn stamp(now: i64, h: i64) -> i64 {
    now - (HOURS - h) * 3_600_000 + 1_800_000
}

fn guest(name: &str) -> Vec<u8> {
    let p = Path::new(TEST_PLUGINS_DIR).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (guests not built?)", p.display()))
}

struct Env {
    tmp: TempDir,
    store: Store,
    host: PluginHost,
    now: i64,
}

async fn env(with_policy: bool) -> Env {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    if with_policy {
        std::fs::write(dir.join("policy.wasm"), guest("test_plugin_policy.wasm")).unwrap();
    }
    let backend =
        Arc::new(SqliteBackend::open(SqliteOptions::new(tmp.path().join("clio.db"))).unwrap());
    let mut o = EngineOptions::new(tmp.path());
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    let (store, _) = Store::open(o, backend).await.unwrap();
    let now = clio_core::now_ms();
    for id in 1..=3 {
        let pts = (0..HOURS)
            .map(|h| IncomingPoint {
                series: SeriesRef::Id(SeriesId(id)),
                ts: Some(stamp(now, h)),
                value: Value::Num(h as f64),
            })
            .collect();
        store.write(pts).await.unwrap();
    }
    store.flush().await.unwrap();
    let opts = PluginOptions {
        builtin: &[],
        builtin_dir: None,
        user_dir: Some(dir),
        cache_dir: Some(tmp.path().join("plugin-cache")),
        watch: false,
        ..PluginOptions::default()
    };
    let host = PluginHost::new(opts, store.clone()).unwrap();
    Env {
        tmp,
        store,
        host,
        now,
    }
}

impl Env {
    async fn run(&self, config: &str) -> RunReport {
        self.run_policy("testpolicy", config).await
    }

    async fn run_policy(&self, name: &str, config: &str) -> RunReport {
        let policy = Arc::new(WasmPolicy::new(self.host.clone(), name, config.to_string()));
        let opts = HousekeeperOptions {
            pause: Duration::ZERO,
            ..HousekeeperOptions::default()
        };
        let hk = Housekeeper::new(
            self.store.clone(),
            policy,
            opts,
            self.tmp.path().join("housekeeper.json"),
        );
        hk.run_once(&CancellationToken::new()).await
    }

    async fn oldest(&self, id: u64) -> (i64, usize) {
        let req = ReadRequest {
            series: SeriesId(id),
            window: Window::Range {
                from: i64::MIN,
                to: i64::MAX,
            },
            resolution: Resolution::Raw,
            cursor: None,
        };
        let r = self.store.read(&req).await.unwrap();
        let Data::Points(p) = r.data else {
            panic!("points expected")
        };
        (p.first().map_or(i64::MAX, |p| p.ts), p.len())
    }

    async fn untouched(&self) {
        for id in 1..=3 {
            assert_eq!(
                self.oldest(id).await,
                (stamp(self.now, 0), HOURS as usize),
                "series {id} lost data"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_plugin_decides_and_the_cut_is_exact() {
    let e = env(true).await;
    let r = e.run(r#"{"mode": "ok", "raw_days": 2}"#).await;
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.policy, "testpolicy");
    assert_eq!(r.series, 3);
    let cut = r.started - 2 * DAY;
    for id in 1..=3 {
        let (first, n) = e.oldest(id).await;
        let expect: Vec<i64> = (0..HOURS)
            .map(|h| stamp(e.now, h))
            .filter(|&t| t >= cut)
            .collect();
        assert_eq!((first, n), (expect[0], expect.len()), "series {id}");
    }
    assert_eq!(r.deleted_points, 3 * (HOURS as u64 - 48));
    let status = e
        .host
        .plugins()
        .into_iter()
        .find(|p| p.name == "testpolicy")
        .unwrap();
    assert_eq!(status.kind, "housekeeping-policy");
    assert_eq!(status.contract, "0.2.2");
    assert_eq!(status.calls, 3);
    assert_eq!(status.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_built_against_contract_0_2_0_keeps_serving() {
    // `compat02policy` was built from the frozen wit/compat/0.2.0, before 0.2.1 added the
    // `columns` reads: it loads, is listed as 0.2.0 and decides, next to a current policy.
    let e = env(true).await;
    let dir = e.tmp.path().join("plugins");
    std::fs::write(dir.join("old.wasm"), guest("test_plugin_v0_2_policy.wasm")).unwrap();
    let report = e.host.reload();
    assert!(report.failed.is_empty(), "{report:?}");
    let st = e.host.plugins();
    let contract = |name: &str| st.iter().find(|p| p.name == name).map(|p| p.contract);
    assert_eq!(
        (contract("compat02policy"), contract("testpolicy")),
        (Some("0.2.0"), Some("0.2.2"))
    );
    let r = e.run_policy("compat02policy", r#"{"raw_days": 3}"#).await;
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.policy, "compat02policy");
    let cut = r.started - 3 * DAY;
    for id in 1..=3 {
        let kept = (0..HOURS).filter(|&h| stamp(e.now, h) >= cut).count();
        assert_eq!(e.oldest(id).await.1, kept, "series {id}");
    }
    assert_eq!(r.deleted_points, 3 * (HOURS as u64 - 72));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_policy_skips_the_run_and_deletes_nothing() {
    let e = env(true).await;
    // (config, what the skipped run's error must mention)
    let cases = [
        (r#"{"mode": "fail"}"#, "told to fail"),
        (r#"{"mode": "fail-on-id=3"}"#, "told to fail on 3"),
        (r#"{"mode": "fail-config"}"#, "configuration rejected"),
        (r#"{"mode": "trap"}"#, "trap"),
        (r#"{"mode": "bad-interval"}"#, "12345 ms"),
        (r#"{"mode": "loop"}"#, "timed out"),
    ];
    for (config, why) in cases {
        let t = Instant::now();
        let r = e.run(config).await;
        let err = r.error.clone().unwrap_or_default();
        assert!(err.contains(why), "{config}: {err}");
        assert!(err.contains("testpolicy"), "{config}: {err}");
        assert_eq!(r.deleted_points, 0, "{config}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{config}: {:?}",
            t.elapsed()
        );
        e.untouched().await;
    }
    let status = e
        .host
        .plugins()
        .into_iter()
        .find(|p| p.name == "testpolicy")
        .unwrap();
    // trap, garbage and timeout are the plugin's faults; its own errors are not.
    assert_eq!(status.errors, 3, "{status:?}");
    // The plugin still serves after all that.
    let r = e.run(r#"{"raw_days": 1}"#).await;
    assert_eq!(r.error, None);
    assert_eq!(r.deleted_points, 3 * (HOURS as u64 - 24));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_dropped_into_the_directory_serves_from_the_next_run() {
    let e = env(false).await;
    let r = e.run("{}").await;
    let err = r.error.unwrap_or_default();
    assert!(err.contains("no policy plugin `testpolicy`"), "{err}");
    e.untouched().await;
    std::fs::write(
        e.tmp.path().join("plugins/policy.wasm"),
        guest("test_plugin_policy.wasm"),
    )
    .unwrap();
    let report = e.host.reload_async().await;
    assert_eq!(report.loaded.len(), 1, "{report:?}");
    assert_eq!(e.host.policies(), ["testpolicy"]);
    let r = e.run(r#"{"raw_days": 3}"#).await;
    assert_eq!(r.error, None);
    assert_eq!(r.deleted_points, 3 * (HOURS as u64 - 72));
}

/// A host with the built-in plugins (the 24 functions and the shipped policies).
async fn builtin_env() -> Env {
    let e = env(false).await;
    let opts = PluginOptions {
        builtin: clio_plugins::BUILTIN_PLUGINS,
        user_dir: None,
        cache_dir: Some(e.tmp.path().join("plugin-cache")),
        watch: false,
        ..PluginOptions::default()
    };
    let host = PluginHost::new(opts, e.store.clone()).unwrap();
    Env { host, ..e }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_policies_decide_like_their_native_twins() {
    use clio_housekeeper::{KeepPolicy, RetentionPolicy, SeriesUsage, StoreUsage, TieredPolicy};
    use clio_storage::{SeriesInfo, SeriesSettings, TrendInterval};
    let e = builtin_env().await;
    let mut names = e.host.policies();
    names.sort();
    assert_eq!(names, ["disk-budget", "keep", "tiered"]);
    let tiers_toml = r#"
        [[tiers]]
        measurement = "sensor"
        tags = [["site", "a"]]
        raw_days = 30
        trend_days = { "1h" = 180, "1d" = 365 }
        [[tiers]]
        tags = [["site", "b"]]
        raw_days = 2
    "#;
    #[derive(serde::Deserialize)]
    struct Tiers {
        tiers: Vec<clio_housekeeper::Tier>,
    }
    let tiers: Tiers = toml::from_str(tiers_toml).unwrap();
    let tiers_json =
        serde_json::to_string(&toml::from_str::<toml::Table>(tiers_toml).unwrap()).unwrap();
    let pairs: Vec<(Box<dyn RetentionPolicy>, Box<dyn RetentionPolicy>)> = vec![
        (
            Box::new(KeepPolicy),
            Box::new(WasmPolicy::new(e.host.clone(), "keep", "{}".into())),
        ),
        (
            Box::new(TieredPolicy { tiers: tiers.tiers }),
            Box::new(WasmPolicy::new(e.host.clone(), "tiered", tiers_json)),
        ),
    ];
    let ms = |m: i64| TrendInterval::from_ms(m).unwrap();
    let interval_sets = [
        vec![],
        vec![ms(600_000), ms(1_800_000), ms(3_600_000), ms(DAY)],
        vec![ms(3_600_000)],
    ];
    let now = 20_000 * DAY + 12_345;
    let mut compared = 0;
    for (native, plugin) in &pairs {
        plugin.begin_run().unwrap();
        for key in [
            None,
            Some("sensor,site=a temp"),
            Some("sensor,site=b temp"),
            Some("sensor temp"),
            Some("other,site=b x"),
            Some("sen\\,sor,site=a temp"),
        ] {
            for (keep_h, keep_t) in [(0, 0), (1, 365), (7, 30), (90, 365)] {
                for first in [None, Some(0), Some(now - DAY), Some(now - 40 * DAY)] {
                    for intervals in &interval_sets {
                        let u = SeriesUsage {
                            info: SeriesInfo {
                                id: SeriesId(7),
                                key: key.map(|k| k.parse().unwrap()),
                                settings: SeriesSettings {
                                    keep_history_days: keep_h,
                                    keep_trends_days: keep_t,
                                    ..Default::default()
                                },
                                created: 0,
                            },
                            points: 100,
                            bytes: 1000,
                            first_ts: first,
                            last_ts: first.map(|f| f + 1000),
                        };
                        let s = StoreUsage::from_series([&u]);
                        let a = native.decide(&u, &s, now, intervals).unwrap();
                        let b = plugin.decide(&u, &s, now, intervals).unwrap();
                        assert_eq!(
                            a,
                            b,
                            "{} on {key:?} {keep_h}/{keep_t} {first:?} {intervals:?}",
                            native.name()
                        );
                        compared += 1;
                    }
                }
            }
        }
        plugin.end_run();
    }
    assert_eq!(compared, 2 * 6 * 4 * 4 * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_budget_deletes_the_oldest_days_until_the_store_fits() {
    let e = builtin_env().await;
    // Three more series with a point a minute over the same 4 days and values that do not
    // compress to nothing, so that bytes follow points.
    let minutes = HOURS * 60;
    for id in 11..=13u64 {
        let mut x: u64 = id;
        let pts = (0..minutes)
            .map(|m| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                IncomingPoint {
                    series: SeriesRef::Id(SeriesId(id)),
                    ts: Some(e.now - (minutes - m) * 60_000 + 30_000),
                    value: Value::Num((x >> 11) as f64 / 1e6),
                }
            })
            .collect();
        e.store.write(pts).await.unwrap();
    }
    e.store.flush().await.unwrap();
    let backend = e.store.backend().expect("primary open");
    let ids = [1u64, 2, 3, 11, 12, 13];
    let bytes = || async {
        let mut total = 0;
        for id in ids {
            total += backend.stats(SeriesId(id)).await.unwrap().bytes;
        }
        total
    };
    let before = bytes().await;
    assert!(before > 100_000, "{before}");
    // Room for about half the data; nothing newer than 12 hours may go.
    let budget = before / 2;
    let policy = Arc::new(WasmPolicy::new(
        e.host.clone(),
        "disk-budget",
        format!(r#"{{"max_bytes": {budget}, "min_keep_hours": 12}}"#),
    ));
    let hk = Housekeeper::new(
        e.store.clone(),
        policy,
        HousekeeperOptions {
            pause: Duration::ZERO,
            ..HousekeeperOptions::default()
        },
        e.tmp.path().join("housekeeper.json"),
    );
    let mut runs = 0;
    while bytes().await > budget && runs < 5 {
        let r = hk.run_once(&CancellationToken::new()).await;
        assert_eq!(r.error, None, "{r:?}");
        assert!(r.deleted_points > 0, "run {runs} deleted nothing: {r:?}");
        runs += 1;
    }
    let after = bytes().await;
    assert!(after <= budget, "{after} > {budget} after {runs} runs");
    // Not much more than needed went: the cut is at a day boundary, so at most a day's
    // worth (a quarter of the 4 days) beyond the budget.
    assert!(after >= before / 4, "{after} of {before}: too much deleted");
    let oldest_left = e.oldest(11).await.0;
    for id in ids {
        let (first, n) = e.oldest(id).await;
        // Every series lost its oldest data at the same cut, and kept its newest 12 hours.
        assert!(first > e.now - HOURS * 3_600_000, "series {id}");
        assert!(
            (first - oldest_left).abs() <= 3_600_000,
            "series {id}: {first} vs {oldest_left}"
        );
        let newest_12h = if id < 10 { 12 } else { 12 * 60 };
        assert!(n >= newest_12h, "series {id}: {n} points");
    }
}
