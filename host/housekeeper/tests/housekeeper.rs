//! The housekeeper against a real engine and SQLite: exact retention at chunk boundaries,
//! resume after an interrupted run, zombie removal, a failing policy, concurrent ingest.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use clio_core::{
    Data, EngineOptions, IncomingPoint, ReadRequest, Resolution, SeriesRef, Store, Window,
};
use clio_housekeeper::*;
use clio_storage::{SeriesId, SeriesUpdate, Timestamp, TrendInterval, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400_000;

async fn store(dir: &std::path::Path) -> Store {
    let mut so = SqliteOptions::new(dir.join("clio.db"));
    so.max_chunk_points = 100;
    let b = Arc::new(SqliteBackend::open(so).unwrap());
    let mut o = EngineOptions::new(dir);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o.cache_service_interval = Duration::from_secs(3600);
    o.query_max_result_numbers = 10_000_000;
    Store::open(o, b).await.unwrap().0
}

fn opts() -> HousekeeperOptions {
    HousekeeperOptions {
        pause: Duration::from_millis(1),
        batch_size: 3,
        ..Default::default()
    }
}

/// One point per hour for `days` days ending at `now`.
async fn fill(store: &Store, id: u64, now: Timestamp, days: i64) {
    let points: Vec<IncomingPoint> = (0..days * 24)
        .map(|h| IncomingPoint {
            series: SeriesRef::Id(SeriesId(id)),
            ts: Some(now - h * 3_600_000),
            value: Value::Num(h as f64),
        })
        .collect();
    store.write(points).await.unwrap();
}

async fn all(store: &Store, id: u64) -> Vec<Timestamp> {
    let r = store
        .read(&ReadRequest {
            series: SeriesId(id),
            window: Window::Range {
                from: Timestamp::MIN,
                to: Timestamp::MAX,
            },
            resolution: Resolution::Raw,
            cursor: None,
        })
        .await
        .unwrap();
    let Data::Points(p) = r.data else { panic!() };
    p.into_iter().map(|p| p.ts).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_is_exact_and_resumes_after_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let now = clio_core::now_ms();
    for id in 1..=10 {
        fill(&s, id, now, 20).await;
        s.update_series(
            SeriesId(id),
            &SeriesUpdate {
                keep_history_days: Some(id as u32),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    s.flush().await.unwrap();
    // Interrupt the first run after its first batch.
    let state = dir.path().join("housekeeper.json");
    let hk = Housekeeper::new(s.clone(), Arc::new(KeepPolicy), opts(), &state);
    let stop = CancellationToken::new();
    stop.cancel();
    let first = hk.run_once(&stop).await;
    assert_eq!(first.series, 3);
    assert!(first.error.is_some());
    let started = first.started;
    drop(hk);
    // A new housekeeper (as after a restart) resumes after series 3, with the same cut time.
    let hk = Housekeeper::new(s.clone(), Arc::new(KeepPolicy), opts(), &state);
    assert_eq!(hk.status().progress.unwrap().done_through, Some(3));
    let second = hk.run_once(&CancellationToken::new()).await;
    assert!(second.resumed);
    assert_eq!(second.series, 7);
    assert_eq!(second.started, started);
    assert!(second.error.is_none(), "{second:?}");
    for id in 1..=10i64 {
        let cut = started - id * DAY;
        let ts = all(&s, id as u64).await;
        assert!(
            ts.iter().all(|&t| t >= cut),
            "series {id}: a point before the cut survived"
        );
        let expected = (0..20 * 24)
            .map(|h| now - h * 3_600_000)
            .filter(|&t| t >= cut)
            .count();
        assert_eq!(
            ts.len(),
            expected,
            "series {id}: points at or after the cut were deleted"
        );
    }
    assert_eq!(hk.status().last_run.unwrap().series, 7);
    assert!(hk.status().progress.is_none());
}

/// A housekeeper over `s` with the test options, its state in `dir`.
fn housekeeper(
    s: &Store,
    policy: Arc<dyn clio_housekeeper::RetentionPolicy>,
    dir: &std::path::Path,
) -> Arc<Housekeeper> {
    Housekeeper::new(s.clone(), policy, opts(), dir.join("hk.json"))
}

#[tokio::test]
async fn zombies_are_removed_only_once_a_registry_is_declared() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let now = clio_core::now_ms();
    for id in 1..=4 {
        fill(&s, id, now, 1).await;
    }
    let hk = housekeeper(&s, Arc::new(KeepPolicy), dir.path());
    let r = hk.run_once(&CancellationToken::new()).await;
    assert_eq!((r.zombies, r.deleted_points), (0, 0));
    assert_eq!(s.list_series(&Default::default()).len(), 4);
    hk.declare_registry(vec![SeriesId(1), SeriesId(3)]).unwrap();
    let r = hk.run_once(&CancellationToken::new()).await;
    assert_eq!(r.zombies, 2);
    let left: Vec<u64> = s
        .list_series(&Default::default())
        .iter()
        .map(|i| i.id.0)
        .collect();
    assert_eq!(left, vec![1, 3]);
    assert!(all(&s, 1).await.len() == 24);
    // The registry survives a restart.
    let hk = housekeeper(&s, Arc::new(KeepPolicy), dir.path());
    assert!(hk.status().registry_declared);
}

#[derive(Debug)]
struct Failing;
impl RetentionPolicy for Failing {
    fn name(&self) -> String {
        "failing".into()
    }
    fn decide(
        &self,
        s: &SeriesUsage,
        _: &StoreUsage,
        _: Timestamp,
        _: &[TrendInterval],
    ) -> Result<Decision, PolicyError> {
        if s.info.id.0 == 3 {
            return Err(PolicyError {
                policy: "failing".into(),
                message: "boom".into(),
            });
        }
        Ok(Decision {
            raw_before: Some(Timestamp::MAX),
            trends_before: vec![],
        })
    }
}

#[tokio::test]
async fn a_failing_policy_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let now = clio_core::now_ms();
    for id in 1..=5 {
        fill(&s, id, now, 2).await;
    }
    let hk = housekeeper(&s, Arc::new(Failing), dir.path());
    let r = hk.run_once(&CancellationToken::new()).await;
    assert!(r.error.unwrap().contains("boom"));
    for id in 1..=5 {
        assert_eq!(all(&s, id).await.len(), 48, "series {id} lost data");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_under_concurrent_ingest_keeps_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let now = clio_core::now_ms();
    for id in 1..=20 {
        fill(&s, id, now - DAY, 10).await;
        s.update_series(
            SeriesId(id),
            &SeriesUpdate {
                keep_history_days: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    s.flush().await.unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for k in 0..200i64 {
                let points = (1..=20)
                    .map(|id| IncomingPoint {
                        series: SeriesRef::Id(SeriesId(id)),
                        ts: Some(now + k),
                        value: Value::Num(k as f64),
                    })
                    .collect();
                s.write(points).await.unwrap();
                if k % 50 == 0 {
                    s.flush().await.unwrap();
                }
            }
        })
    };
    let hk = housekeeper(&s, Arc::new(KeepPolicy), dir.path());
    let r = hk.run_once(&CancellationToken::new()).await;
    writer.await.unwrap();
    assert!(r.deleted_points > 0);
    for id in 1..=20 {
        let ts = all(&s, id).await;
        let cut = r.started - 3 * DAY;
        assert!(ts.iter().all(|&t| t >= cut));
        let fresh = ts.iter().filter(|&&t| t >= now).count();
        assert_eq!(fresh, 200, "series {id}: ingested points lost");
        let kept_old = (0..10 * 24)
            .map(|h| now - DAY - h * 3_600_000)
            .filter(|&t| t >= cut)
            .count();
        assert_eq!(ts.len(), 200 + kept_old);
    }
    let _ = s.backend().unwrap().health().await;
}
