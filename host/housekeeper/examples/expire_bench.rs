//! Numbers for BENCHMARKS.md: time to expire one day of data for 10,000 series at one point
//! per 10 s (the housekeeper expires each batch of 100 series with one `Store::expire`: one log
//! record and one storage transaction), and engine ingest throughput while the housekeeper runs
//! versus idle.
//!
//! ```text
//! cargo run --release -p clio-housekeeper --example expire_bench -- [--series 10000]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failures should be loud

use clio_storage::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_housekeeper::{Housekeeper, HousekeeperOptions, KeepPolicy};
use clio_storage::{Point, SeriesId, SeriesPoints, SeriesUpdate, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400_000;

fn arg(name: &str, default: u64) -> u64 {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn ingest_for(store: &Store, secs: u64, series: u64, t0: i64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut step = 0i64;
    while start.elapsed() < Duration::from_secs(secs) {
        let points: Vec<IncomingPoint> = (0..10_000u64)
            .map(|i| IncomingPoint {
                series: SeriesRef::Id(SeriesId(1 + (i % series))),
                ts: Some(t0 + step * 10_000 + (i / series) as i64),
                value: Value::Num(i as f64),
            })
            .collect();
        store.write(points).await.unwrap();
        n += 10_000;
        step += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let series = arg("--series", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let backend =
        Arc::new(SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap());
    let now = clio_core::now_ms();
    let day0 = now - 3 * DAY;
    // One day of points, one every 10 s, straight into storage.
    let t = Instant::now();
    let per_series = DAY / 10_000;
    let per_batch = (1_000_000 / per_series as u64).max(1);
    let mut total = 0u64;
    for first in (1..=series).step_by(per_batch as usize) {
        let batch: Vec<SeriesPoints> = (first..(first + per_batch).min(series + 1))
            .map(|id| SeriesPoints {
                series: SeriesId(id),
                points: (0..per_series)
                    .map(|k| {
                        Point::new(
                            day0 + k * 10_000,
                            ((id as i64 * 7 + k) % 1000) as f64 / 10.0,
                        )
                    })
                    .collect(),
            })
            .collect();
        total += batch.iter().map(|b| b.points.len() as u64).sum::<u64>();
        backend.write(&batch).await.unwrap();
    }
    println!(
        "loaded {total} points ({series} series x one day at 10 s) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut o = EngineOptions::new(dir.path());
    o.timestamp_max_past = None;
    o.timestamp_max_future = None;
    let (store, _) = Store::open(o, backend.clone()).await.unwrap();
    for id in 1..=series {
        store
            .create_series(SeriesRef::Id(SeriesId(id)), Default::default())
            .await
            .unwrap();
        store
            .update_series(
                SeriesId(id),
                &SeriesUpdate {
                    keep_history_days: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }

    let idle = ingest_for(&store, 10, series, now).await;
    println!("ingest while idle: {idle:.0} points/s");

    // Expire the day with no pauses: the raw cost.
    let fast = HousekeeperOptions {
        pause: Duration::ZERO,
        batch_size: 100,
        ..Default::default()
    };
    let hk = Housekeeper::new(
        store.clone(),
        Arc::new(KeepPolicy),
        fast,
        dir.path().join("hk.json"),
    );
    // The ingest phase left points in the cache; flush them now so that the background
    // flush does not hold the storage writer during the timed run.
    let t = Instant::now();
    let f = store.flush().await.unwrap();
    println!(
        "flushed {} points left by the ingest phase in {:.2} s (not part of the expiry time)",
        f.points,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let r = hk.run_once(&CancellationToken::new()).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "expired {} points of {} series in {secs:.2} s ({:.0} points/s, {:.3} ms per series), no pauses",
        r.deleted_points,
        r.series,
        r.deleted_points as f64 / secs,
        1000.0 * secs / r.series.max(1) as f64
    );
    assert_eq!(r.deleted_points, total);

    // Reload a day and measure ingest during a run with the default batches and pauses.
    for first in (1..=series).step_by(per_batch as usize) {
        let batch: Vec<SeriesPoints> = (first..(first + per_batch).min(series + 1))
            .map(|id| SeriesPoints {
                series: SeriesId(id),
                points: (0..per_series)
                    .map(|k| Point::new(day0 + k * 10_000, 1.0))
                    .collect(),
            })
            .collect();
        backend.write(&batch).await.unwrap();
    }
    let hk = Housekeeper::new(
        store.clone(),
        Arc::new(KeepPolicy),
        HousekeeperOptions::default(),
        dir.path().join("hk2.json"),
    );
    let stop = CancellationToken::new();
    let run = {
        let hk = hk.clone();
        let stop = stop.clone();
        tokio::spawn(async move { hk.run_once(&stop).await })
    };
    let busy = ingest_for(&store, 10, series, now + DAY).await;
    stop.cancel();
    let r = run.await.unwrap();
    println!(
        "ingest while the housekeeper runs (default 100 series per batch, 1 s pauses): {busy:.0} points/s ({:.0} % of idle; it deleted {} points meanwhile)",
        100.0 * busy / idle,
        r.deleted_points
    );
}
