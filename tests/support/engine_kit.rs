//! Shared by the database-server backends' engine tests (`tests/engine.rs` of
//! clio-storage-influxdb and clio-storage-postgres, through `#[path]`): the engine set up
//! for tests, a SQLite spec to pair a backend with, a workload of every kind of change, the
//! backend's contents in a comparable form, and "the replicas caught up".
#![allow(dead_code)] // each test binary uses its part

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clio_core::{BackendSpec, EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_storage::{
    Expiry, SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, StorageBackend, Timestamp, Value,
};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

pub fn engine_options(dir: &Path) -> EngineOptions {
    let mut o = EngineOptions::new(dir);
    o.cache_service_interval = Duration::from_secs(3600);
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    o
}

pub fn sqlite_spec(name: &str, path: std::path::PathBuf) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        kind: "sqlite".into(),
        open: Arc::new(move || {
            let path = path.clone();
            Box::pin(async move {
                let b = SqliteBackend::open(SqliteOptions::new(path))?;
                Ok(Arc::new(b) as Arc<dyn StorageBackend>)
            })
        }),
    }
}

pub fn pt(id: u64, ts: Timestamp, v: f64) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Id(SeriesId(id)),
        ts: Some(ts),
        value: Value::Num(v),
    }
}

pub fn kpt(k: &str, ts: Timestamp, v: impl Into<Value>) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Key(k.parse::<SeriesKey>().unwrap()),
        ts: Some(ts),
        value: v.into(),
    }
}

/// Everything a backend holds, in a comparable form (trend sums to 12 significant digits:
/// SQLite adds them up in its own order).
pub async fn contents(b: &dyn StorageBackend) -> String {
    let mut out = String::new();
    for s in b.list_series(&SeriesFilter::default()).await.unwrap() {
        out.push_str(&format!(
            "series {} {:?} {:?}\n",
            s.id,
            s.key.as_ref().map(|k| k.to_string()),
            s.settings
        ));
        for p in b
            .read_range(s.id, Timestamp::MIN, Timestamp::MAX, usize::MAX)
            .await
            .unwrap()
        {
            out.push_str(&format!("  {} {:?}\n", p.ts, p.value));
        }
        for &i in b.trend_intervals() {
            for t in b
                .read_trends(s.id, i, Timestamp::MIN, Timestamp::MAX)
                .await
                .unwrap()
            {
                out.push_str(&format!(
                    "  trend {i} {} n={} sum={:.12e} sq={:.12e} min={} max={} first={}@{} last={}@{}\n",
                    t.start, t.count, t.sum, t.sum_sq, t.min, t.max, t.first, t.first_ts, t.last, t.last_ts
                ));
            }
        }
    }
    out
}

#[track_caller]
pub fn same(a: &str, b: &str) {
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

pub async fn caught_up(store: &Store) {
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
    panic!("replica did not catch up: {:#?}", store.storage_status());
}

/// Numeric and keyed series (tags, several fields of one tag set), late and replaced points,
/// deletions, retention and settings changes, with flushes in between.
pub async fn workload(store: &Store, round: i64) {
    let minute = 60_000;
    let base = 1_700_000_000_000 + round * 100 * minute;
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
    let mut keyed = Vec::new();
    for i in 0..30 {
        let ts = base + i * minute;
        keyed.push(kpt("boiler,plant=north,unit=1 temp", ts, 80.0 + i as f64));
        keyed.push(kpt(
            "boiler,plant=north,unit=1 pressure",
            ts,
            2.0 + i as f64 / 10.0,
        ));
        keyed.push(kpt("boiler,plant=south,unit=2 temp", ts, 70.0 - i as f64));
        keyed.push(kpt("pump,plant=north state", ts, format!("run {i}")));
    }
    store.write(keyed).await.unwrap();
    store.flush().await.unwrap();
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
