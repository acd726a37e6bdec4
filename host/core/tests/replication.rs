//! Storage topology: a SQLite primary with SQLite replicas fed from the log (ALEPIZ's `db`
//! list), backends that are down at start-up or while writes arrive, replicas added later.
//! Contents are compared whole: catalog, every raw point, every trend bucket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clio_core::{BackendSpec, IncomingPoint, SeriesRef, Store, Topology};
use clio_storage::{
    Expiry, SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, StorageBackend, StorageError,
    Timestamp, Value,
};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use common::options;

/// A SQLite backend at `path` whose opener fails while `down` is set.
fn sqlite_spec(name: &str, path: PathBuf, down: Arc<AtomicBool>) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        kind: "sqlite".into(),
        open: Arc::new(move || {
            let path = path.clone();
            let down = Arc::clone(&down);
            Box::pin(async move {
                if down.load(Ordering::SeqCst) {
                    return Err(StorageError::Unavailable(format!(
                        "{} is unreachable (test)",
                        path.display()
                    )));
                }
                let b = SqliteBackend::open(SqliteOptions::new(path))?;
                Ok(Arc::new(b) as Arc<dyn StorageBackend>)
            })
        }),
    }
}

struct Setup {
    dir: tempfile::TempDir,
    primary_down: Arc<AtomicBool>,
    replica_down: Vec<Arc<AtomicBool>>,
}

impl Setup {
    fn new(replicas: usize) -> Self {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            primary_down: Arc::default(),
            replica_down: (0..replicas).map(|_| Arc::default()).collect(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    fn topology(&self, replicas: usize) -> Topology {
        Topology {
            primary: sqlite_spec("main", self.path("main"), Arc::clone(&self.primary_down)),
            replicas: (0..replicas)
                .map(|i| {
                    let name = format!("r{i}");
                    sqlite_spec(&name, self.path(&name), Arc::clone(&self.replica_down[i]))
                })
                .collect(),
            read_failover: false,
            replica_max_log_bytes: 1 << 30,
            lag_warn: Duration::from_secs(600),
        }
    }

    async fn open(&self, replicas: usize) -> Store {
        Store::open_topology(options(self.dir.path()), self.topology(replicas))
            .await
            .unwrap()
            .0
    }
}

fn key(s: &str) -> SeriesKey {
    let (m, f) = s.split_once(' ').unwrap();
    SeriesKey::new(m, Vec::new(), f).unwrap()
}

fn pt(id: u64, ts: Timestamp, v: f64) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Id(SeriesId(id)),
        ts: Some(ts),
        value: Value::Num(v),
    }
}

fn kpt(k: &str, ts: Timestamp, v: f64) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Key(key(k)),
        ts: Some(ts),
        value: Value::Num(v),
    }
}

/// Everything a backend holds, in a comparable form.
async fn contents(b: &dyn StorageBackend) -> String {
    let mut out = String::new();
    for s in b.list_series(&SeriesFilter::default()).await.unwrap() {
        out.push_str(&format!(
            "series {} {:?} {:?}\n",
            s.id,
            s.key.as_ref().map(|k| k.to_string()),
            s.settings
        ));
        let pts = b
            .read_range(s.id, Timestamp::MIN, Timestamp::MAX, usize::MAX)
            .await
            .unwrap();
        for p in pts {
            out.push_str(&format!("  {} {:?}\n", p.ts, p.value));
        }
        for &i in b.trend_intervals() {
            for t in b
                .read_trends(s.id, i, Timestamp::MIN, Timestamp::MAX)
                .await
                .unwrap()
            {
                out.push_str(&format!("  trend {i} {t:?}\n"));
            }
        }
    }
    out
}

/// Asserts two contents are equal, showing the first difference (not megabytes of both).
#[track_caller]
fn same(a: &str, b: &str) {
    if a != b {
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        let i = la
            .iter()
            .zip(&lb)
            .position(|(x, y)| x != y)
            .unwrap_or(la.len().min(lb.len()));
        let ctx = |l: &[&str]| l[i.saturating_sub(3)..(i + 3).min(l.len())].join("\n");
        panic!(
            "contents differ at line {i} ({} vs {} lines):\n--- left\n{}\n--- right\n{}",
            la.len(),
            lb.len(),
            ctx(&la),
            ctx(&lb)
        );
    }
}

async fn file_contents(path: &Path) -> String {
    let b = SqliteBackend::open(SqliteOptions::new(path)).unwrap();
    let c = contents(&b).await;
    b.close().await.unwrap();
    c
}

/// Waits until every replica has written everything the primary holds.
async fn caught_up(store: &Store) {
    // Up to 40 s: a follower that failed backs off (doubling, up to 10 s) before it retries.
    for _ in 0..1600 {
        let st = store.storage_status();
        if st.backends[1..].iter().all(|b| {
            b.state == "following"
                && b.replica
                    .as_ref()
                    .is_some_and(|r| r.lag_seconds == 0.0 && r.lag_points == 0)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("replicas did not catch up: {:#?}", store.storage_status());
}

/// A mixed workload: numeric and keyed series, late and replaced points, deletions,
/// retention and settings changes, with flushes in between.
async fn workload(store: &Store, round: i64) {
    let minute = 60_000;
    let base = round * 100 * minute;
    for s in 1..=5u64 {
        store
            .write(
                (0..50)
                    .map(|i| pt(s, base + i * minute, (s as f64) * 1.5 + i as f64 * 0.25))
                    .collect(),
            )
            .await
            .unwrap();
    }
    store
        .write(
            (0..30)
                .map(|i| {
                    kpt(
                        &format!("boiler{} temp", round % 3),
                        base + i * minute,
                        80.0 + i as f64,
                    )
                })
                .collect(),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    // A replaced value (its bucket is rebuilt), a late point, then a deletion of unflushed
    // and flushed points.
    store
        .write(vec![
            pt(1, base + 3 * minute, -7.0),
            pt(2, base - minute / 2, 4.5),
        ])
        .await
        .unwrap();
    store
        .write(vec![pt(3, base + 70 * minute, 1.0)])
        .await
        .unwrap();
    store
        .delete_points(SeriesId(3), base + 60 * minute, base + 80 * minute)
        .await
        .unwrap();
    store
        .delete_points(SeriesId(4), base + 10 * minute, base + 12 * minute)
        .await
        .unwrap();
    store
        .update_series(
            SeriesId(5),
            &SeriesUpdate {
                keep_history_days: Some(10 + round as u32),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .expire(&[Expiry {
            series: SeriesId(2),
            raw_before: Some(base + 5 * minute),
            trends_before: vec![],
        }])
        .await
        .unwrap();
    store.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_end_with_the_primarys_contents() {
    common::trace();
    let s = Setup::new(2);
    let store = s.open(2).await;
    for round in 0..4 {
        workload(&store, round).await;
    }
    store.delete_series(SeriesId(4)).await.unwrap();
    store.flush().await.unwrap();
    caught_up(&store).await;
    store.close().await.unwrap();
    let main = file_contents(&s.path("main")).await;
    assert!(
        main.contains("series 1 ") && main.contains("trend"),
        "{main}"
    );
    assert!(!main.contains("series 4 "));
    same(&file_contents(&s.path("r0")).await, &main);
    same(&file_contents(&s.path("r1")).await, &main);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_down_for_a_while_catches_up_and_the_primary_never_waits() {
    common::trace();
    let s = Setup::new(1);
    let store = s.open(1).await;
    workload(&store, 0).await;
    caught_up(&store).await;
    store.close().await.unwrap();
    // The replica is unreachable for the whole next run; its cursor holds the log for it.
    s.replica_down[0].store(true, Ordering::SeqCst);
    let store = s.open(1).await;
    for round in 1..4 {
        let started = std::time::Instant::now();
        workload(&store, round).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the primary waited for the replica"
        );
    }
    let st = store.storage_status();
    assert_eq!(st.status, "degraded");
    assert_eq!(st.backends[0].state, "up");
    assert_eq!(st.backends[1].state, "down");
    let lag = st.backends[1].replica.clone().unwrap();
    assert!(lag.lag_points >= 3 * 283, "{lag:?}");
    assert!(lag.lag_bytes > 3 * 283 * 17, "{lag:?}");
    assert!(store.stats().wal_bytes >= lag.lag_bytes);
    // Down across a restart too: the log stays.
    store.abandon();
    let store = s.open(1).await;
    assert!(
        store.storage_status().backends[1]
            .replica
            .clone()
            .unwrap()
            .lag_points
            >= 3 * 283
    );
    s.replica_down[0].store(false, Ordering::SeqCst);
    store.flush().await.unwrap();
    caught_up(&store).await;
    assert_eq!(store.storage_status().status, "ok");
    // Everything it needed is applied: the next flush frees the log.
    store.flush().await.unwrap();
    assert!(store.stats().wal_bytes < 200, "{}", store.stats().wal_bytes);
    store.close().await.unwrap();
    same(
        &file_contents(&s.path("r0")).await,
        &file_contents(&s.path("main")).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_to_a_store_with_data_is_filled_and_follows() {
    let s = Setup::new(1);
    let store = s.open(0).await;
    for round in 0..2 {
        workload(&store, round).await;
    }
    store.close().await.unwrap();
    // The config gains a replica; restart.
    let store = s.open(1).await;
    caught_up(&store).await;
    workload(&store, 2).await;
    caught_up(&store).await;
    store.close().await.unwrap();
    same(
        &file_contents(&s.path("r0")).await,
        &file_contents(&s.path("main")).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_falls_too_far_behind_is_resynced() {
    let s = Setup::new(1);
    s.replica_down[0].store(true, Ordering::SeqCst);
    let mut topo = s.topology(1);
    topo.replica_max_log_bytes = 1; // any lag is too much
    let store = Store::open_topology(options(s.dir.path()), topo)
        .await
        .unwrap()
        .0;
    workload(&store, 0).await;
    workload(&store, 1).await;
    // Nothing is kept for it: the log is truncated as if there were no replica.
    assert!(store.stats().wal_bytes < 200, "{}", store.stats().wal_bytes);
    s.replica_down[0].store(false, Ordering::SeqCst);
    caught_up(&store).await;
    store.close().await.unwrap();
    same(
        &file_contents(&s.path("r0")).await,
        &file_contents(&s.path("main")).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_creating_series_are_acknowledged_while_the_primary_is_down() {
    let s = Setup::new(0);
    // First start: the primary works, holds one series.
    let store = s.open(0).await;
    store.write(vec![pt(1, 1000, 1.0)]).await.unwrap();
    store.close().await.unwrap();
    // Start-up with the primary unavailable: the catalog comes from the local copy.
    s.primary_down.store(true, Ordering::SeqCst);
    let store = s.open(0).await;
    assert!(store.series(SeriesId(1)).is_some());
    let st = store.storage_status();
    assert_eq!(st.status, "degraded");
    assert_eq!(st.backends[0].state, "down");
    store
        .write(vec![pt(2, 2000, 2.0), kpt("pump flow", 2000, 3.0)])
        .await
        .unwrap();
    store
        .update_series(
            SeriesId(2),
            &SeriesUpdate {
                keep_trends_days: Some(9),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(store.flush().await.is_err(), "nothing to flush into");
    // Reads are served from what the engine holds.
    let pump = store.series_id(&key("pump flow")).unwrap();
    assert_eq!(store.list_series(&SeriesFilter::default()).len(), 3);
    // A restart in between loses nothing.
    store.abandon();
    let store = s.open(0).await;
    assert!(store.series(pump).is_some());
    s.primary_down.store(false, Ordering::SeqCst);
    store.flush().await.unwrap();
    assert_eq!(store.storage_status().status, "ok");
    store.close().await.unwrap();
    let main = file_contents(&s.path("main")).await;
    assert!(main.contains("series 2 "), "{main}");
    assert!(main.contains("keep_trends_days: 9"), "{main}");
    assert!(main.contains("pump flow"), "{main}");
    assert!(
        main.contains("2000 Num(2.0)") && main.contains("2000 Num(3.0)"),
        "{main}"
    );
}

/// The start no longer rewrites the local copy of the catalog (~0.6 s at a million series):
/// the first flush that truncates the log does. A copy that misses what the primary holds
/// is made whole by then, so a later start with the primary down still finds every series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_flush_after_a_start_rewrites_the_catalog_copy() {
    let s = Setup::new(0);
    let store = s.open(0).await;
    store
        .write(vec![pt(1, 1000, 1.0), kpt("pump flow", 1000, 2.0)])
        .await
        .unwrap();
    store.close().await.unwrap();
    // A copy that lacks both series (an empty catalog's, from another data directory).
    let other = Setup::new(0);
    other.open(0).await.close().await.unwrap();
    let copy = s.dir.path().join("catalog.bin");
    std::fs::copy(other.dir.path().join("catalog.bin"), &copy).unwrap();
    let stale = std::fs::read(&copy).unwrap();
    // A start with the primary up, then a flush (here the one of the graceful stop).
    let store = s.open(0).await;
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        stale,
        "the start leaves the copy"
    );
    store.close().await.unwrap();
    assert_ne!(std::fs::read(&copy).unwrap(), stale, "the flush rewrote it");
    s.primary_down.store(true, Ordering::SeqCst);
    let store = s.open(0).await;
    assert!(store.series(SeriesId(1)).is_some());
    assert!(store.series_id(&key("pump flow")).is_some());
    store.abandon();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fail_over_to_a_caught_up_replica() {
    let s = Setup::new(1);
    let mut topo = s.topology(1);
    topo.read_failover = true;
    let store = Store::open_topology(options(s.dir.path()), topo.clone())
        .await
        .unwrap()
        .0;
    workload(&store, 0).await;
    caught_up(&store).await;
    store.close().await.unwrap();
    // The primary is down at the next start; the replica has everything.
    s.primary_down.store(true, Ordering::SeqCst);
    let store = Store::open_topology(options(s.dir.path()), topo)
        .await
        .unwrap()
        .0;
    caught_up(&store).await;
    let r = store
        .read(&clio_core::ReadRequest {
            series: SeriesId(1),
            window: clio_core::Window::Range {
                from: Timestamp::MIN,
                to: Timestamp::MAX,
            },
            resolution: clio_core::Resolution::Raw,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(
        r.served_by.as_deref(),
        Some("r0"),
        "the answer says who answered"
    );
    let clio_core::Data::Points(p) = r.data else {
        panic!("points")
    };
    assert_eq!(p.len(), 50);
    assert!(store.storage_status().failover_reads >= 1);
    // The final flush has nowhere to go; the log keeps what it would have written.
    assert!(store.close().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_primary_is_down_the_log_is_bounded_and_writers_are_told_why() {
    let s = Setup::new(0);
    s.primary_down.store(true, Ordering::SeqCst);
    // No copy of the catalog exists yet: the first start needs the primary once.
    s.primary_down.store(false, Ordering::SeqCst);
    s.open(0).await.close().await.unwrap();
    s.primary_down.store(true, Ordering::SeqCst);
    let mut opts = options(s.dir.path());
    opts.max_wal_bytes = 64 << 10;
    opts.overload_timeout = Duration::from_millis(300);
    let store = Store::open_topology(opts, s.topology(0)).await.unwrap().0;
    let mut acked = 0;
    let err = loop {
        match store
            .write((0..100).map(|i| pt(7, acked * 100 + i, 1.0)).collect())
            .await
        {
            Ok(_) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 1000, "the log grew without bound");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("overloaded") && msg.contains("`main` is down"),
        "{msg}"
    );
    assert!(acked >= 20, "{acked} batches before the bound");
    // Back: the flush empties the log and writers are accepted again.
    s.primary_down.store(false, Ordering::SeqCst);
    store.flush().await.unwrap();
    store.write(vec![pt(7, acked * 100, 2.0)]).await.unwrap();
    store.flush().await.unwrap();
    store.close().await.unwrap();
    let main = file_contents(&s.path("main")).await;
    assert_eq!(
        main.lines().filter(|l| l.contains(" Num(")).count() as i64,
        acked * 100 + 1,
        "every acknowledged point is in the primary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_replica_is_promoted_when_the_primary_file_is_lost() {
    let s = Setup::new(1);
    let store = s.open(1).await;
    workload(&store, 0).await;
    workload(&store, 1).await;
    caught_up(&store).await;
    store.close().await.unwrap();
    let before = file_contents(&s.path("main")).await;
    // The primary's file is lost. The operator edits the config: the replica becomes the
    // primary (here: `r0` first, `main` gone), and restarts.
    std::fs::remove_file(s.path("main")).unwrap();
    let promoted = Topology {
        primary: sqlite_spec("r0", s.path("r0"), Arc::default()),
        replicas: vec![],
        ..s.topology(0)
    };
    let store = Store::open_topology(options(s.dir.path()), promoted)
        .await
        .unwrap()
        .0;
    assert_eq!(store.storage_status().backends[0].name, "r0");
    workload(&store, 2).await;
    store.close().await.unwrap();
    let after = file_contents(&s.path("r0")).await;
    assert!(
        after.starts_with(&before[..before.find("series 2 ").unwrap()])
            || after.len() > before.len()
    );
    // Removing a replica from the config, or adding the old name back, are edits too: the
    // lost `main` comes back as a replica of `r0` and is refilled.
    let back = Topology {
        primary: sqlite_spec("r0", s.path("r0"), Arc::default()),
        replicas: vec![sqlite_spec("main", s.path("main"), Arc::default())],
        ..s.topology(0)
    };
    let store = Store::open_topology(options(s.dir.path()), back)
        .await
        .unwrap()
        .0;
    caught_up(&store).await;
    store.close().await.unwrap();
    same(&file_contents(&s.path("main")).await, &after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_failing_mid_run_under_load_catches_up_to_identical_contents() {
    let s = Setup::new(0);
    let replica = Arc::new(common::Flaky::new(Arc::new(
        SqliteBackend::open(SqliteOptions::new(s.path("r0"))).unwrap(),
    )));
    let topo = Topology {
        replicas: vec![BackendSpec::ready("r0", replica.clone())],
        ..s.topology(0)
    };
    let store = Store::open_topology(options(s.dir.path()), topo)
        .await
        .unwrap()
        .0;
    workload(&store, 0).await;
    caught_up(&store).await;
    // Its writes fail (the rest works) for a round, then every call fails, while the load
    // goes on.
    replica.fail_writes.store(true, Ordering::SeqCst);
    workload(&store, 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    replica.down.store(true, Ordering::SeqCst);
    for round in 2..4 {
        workload(&store, round).await;
    }
    replica.fail_writes.store(false, Ordering::SeqCst);
    // The follower runs in the background and waits its backoff after the injected write
    // failure: give it the time to find the replica unreachable.
    let mut st = store.storage_status();
    for _ in 0..800 {
        let unreachable = st.backends[1]
            .health
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("unreachable"));
        if st.backends[1].state == "down" && unreachable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        st = store.storage_status();
    }
    assert_eq!(st.backends[1].state, "down", "{st:#?}");
    assert!(
        st.backends[1]
            .health
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("unreachable")),
        "{st:#?}"
    );
    assert!(st.backends[1].replica.as_ref().unwrap().lag_points > 0);
    replica.down.store(false, Ordering::SeqCst);
    caught_up(&store).await;
    store.close().await.unwrap();
    same(
        &file_contents(&s.path("r0")).await,
        &file_contents(&s.path("main")).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_replica_holds_no_log() {
    let s = Setup::new(1);
    s.replica_down[0].store(true, Ordering::SeqCst);
    let store = s.open(1).await;
    workload(&store, 0).await;
    store.close().await.unwrap();
    // It never synced (down from the start), so it holds nothing even while configured.
    let store = s.open(1).await;
    workload(&store, 1).await;
    assert!(store.stats().wal_bytes < 200, "{}", store.stats().wal_bytes);
    store.close().await.unwrap();
    // A replica that followed, then removed from the config: its cursor no longer counts.
    s.replica_down[0].store(false, Ordering::SeqCst);
    let store = s.open(1).await;
    caught_up(&store).await;
    store.close().await.unwrap();
    let store = s.open(0).await;
    workload(&store, 2).await;
    assert!(store.stats().wal_bytes < 200, "{}", store.stats().wal_bytes);
    assert_eq!(store.storage_status().backends.len(), 1);
    store.close().await.unwrap();
}
