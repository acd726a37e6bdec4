//! The SQLite writer's cost per new series, as a flush of a million new series pays it: one
//! `create_series` of every entry (keyed, as line protocol makes them), then the points in
//! batches of 200,000 series. Prints microseconds per series for each part.
//!
//! `cargo run --release -p clio-storage-sqlite --example new_series [SERIES] [POINTS_EACH]`
//! (default 200000 1).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement, not a server path

use std::time::Instant;

use clio_storage::prelude::*;
use clio_storage::{
    NewSeries, Point, SeriesId, SeriesKey, SeriesPoints, SeriesSettings, StorageBackend,
};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(200_000, |a| a.parse().unwrap());
    let each: i64 = args.next().map_or(1, |a| a.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let b = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
    let series: Vec<NewSeries> = (0..n)
        .map(|i| NewSeries {
            id: SeriesId(1 << 40 | i),
            key: Some(
                format!("bg,host=h{},region=r{} value", i, i % 7)
                    .parse::<SeriesKey>()
                    .unwrap(),
            ),
            settings: SeriesSettings::default(),
        })
        .collect();
    let t = Instant::now();
    b.create_series_owned(series).await.unwrap();
    let created = t.elapsed();
    let t = Instant::now();
    let ids: Vec<u64> = (0..n).collect();
    for part in ids.chunks(200_000) {
        let batch: Vec<SeriesPoints> = part
            .iter()
            .map(|&i| SeriesPoints {
                series: SeriesId(1 << 40 | i),
                points: (0..each)
                    .map(|k| Point::new(1_700_000_000_000 + k * 10_000, (i % 100) as f64 / 4.0))
                    .collect(),
            })
            .collect();
        b.write_shared(std::sync::Arc::new(batch)).await.unwrap();
    }
    let written = t.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "{n} new series, {each} point(s) each: catalog {:.2} us/series, points and trends {:.2} us/series",
        per(created),
        per(written)
    );
    b.close().await.unwrap();
}
