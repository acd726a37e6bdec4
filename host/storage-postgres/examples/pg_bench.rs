//! Numbers for BENCHMARKS.md (issue 16): the PostgreSQL backend against the SQLite backend in
//! one run on this machine. A throwaway cluster (tests/support/pg_cluster.rs) is started;
//! both backends get the same flushes: `SERIES` series × `POINTS` points (1 s apart, two days
//! ago, so that no plain rows for the `points` view are kept), written in flushes of
//! `PER_FLUSH` points per series as the engine does. Then bytes per point on disk, and the
//! latency of last-100 and 1,000-point range reads of random series (p50/p99).
//!
//! `cargo run --release -p clio-storage-postgres --example pg_bench [SERIES POINTS PER_FLUSH]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a measurement tool

#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

use std::time::{Duration, Instant};

use clio_storage::{
    NewSeries, Point, SeriesId, SeriesPoints, SeriesSettings, StorageBackend, Value, write_points,
};
use clio_storage_postgres::{PgBackend, PgOptions};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

struct Shape {
    series: u64,
    points: i64,
    per_flush: i64,
    t0: i64,
}

fn value(s: u64, i: i64) -> Value {
    // A slowly moving sensor value with two decimals, as plant data looks.
    Value::Num(((s as f64) * 10.0 + ((i as f64) / 50.0).sin() * 5.0 * 100.0).round() / 100.0)
}

async fn load(b: &dyn StorageBackend, shape: &Shape) -> Duration {
    let new: Vec<NewSeries> = (1..=shape.series)
        .map(|s| NewSeries {
            id: SeriesId(s),
            key: None,
            settings: SeriesSettings::default(),
        })
        .collect();
    b.create_series(&new).await.unwrap();
    let mut spent = Duration::ZERO;
    let mut start = 0;
    while start < shape.points {
        let end = (start + shape.per_flush).min(shape.points);
        let batch: Vec<SeriesPoints> = (1..=shape.series)
            .map(|s| SeriesPoints {
                series: SeriesId(s),
                points: (start..end)
                    .map(|i| Point {
                        ts: shape.t0 + i * 1000,
                        value: value(s, i),
                    })
                    .collect(),
            })
            .collect();
        let t = Instant::now();
        write_points(b, &batch).await.unwrap();
        spent += t.elapsed();
        start = end;
    }
    spent
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn latencies(b: &dyn StorageBackend, shape: &Shape) -> (f64, f64, f64, f64) {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let end = shape.t0 + shape.points * 1000;
    let (mut last, mut range) = (Vec::new(), Vec::new());
    for _ in 0..500 {
        let s = SeriesId(next() % shape.series + 1);
        let t = Instant::now();
        let got = b.read_last(s, 100, end).await.unwrap();
        last.push(t.elapsed());
        assert_eq!(got.len(), 100);
        let from = shape.t0 + (next() % (shape.points as u64 - 1000)) as i64 * 1000;
        let t = Instant::now();
        let got = b
            .read_range(s, from, from + 1_000_000, 100_000)
            .await
            .unwrap();
        range.push(t.elapsed());
        assert_eq!(got.len(), 1000);
    }
    (
        pct(&mut last, 0.5),
        pct(&mut last, 0.99),
        pct(&mut range, 0.5),
        pct(&mut range, 0.99),
    )
}

fn report(name: &str, points: f64, spent: Duration, bytes: u64, lat: (f64, f64, f64, f64)) {
    println!(
        "{name:<10} flush {:>9.0} points/s ({:.2} s) | {:>6.2} bytes/point | last-100 p50 {:.2} ms p99 {:.2} ms | range-1000 p50 {:.2} ms p99 {:.2} ms",
        points / spent.as_secs_f64(),
        spent.as_secs_f64(),
        bytes as f64 / points,
        lat.0,
        lat.1,
        lat.2,
        lat.3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<i64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: SERIES POINTS PER_FLUSH"))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let shape = Shape {
        series: args.first().copied().unwrap_or(1000) as u64,
        points: args.get(1).copied().unwrap_or(2000),
        per_flush: args.get(2).copied().unwrap_or(250),
        t0: now - 2 * 86_400_000,
    };
    let total = (shape.series as i64 * shape.points) as f64;
    println!(
        "{} series × {} points = {total} points, flushes of {} points per series",
        shape.series, shape.points, shape.per_flush
    );

    let c = pg_cluster::Cluster::start();
    let db = c.create_database("bench");
    let o = PgOptions::new(c.socket_dir().to_str().unwrap(), c.port, &db, &c.user);
    let pg = PgBackend::open(o).await.unwrap();
    let spent = load(&pg, &shape).await;
    c.psql(&db, "VACUUM ANALYZE");
    let bytes: u64 = c
        .psql(
            &db,
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'clio' AND c.relkind IN ('r', 'm')",
        )
        .parse()
        .unwrap();
    let chunks: u64 = c
        .psql(
            &db,
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits \
             WHERE inhparent = 'clio.chunks'::regclass",
        )
        .parse()
        .unwrap();
    let lat = latencies(&pg, &shape).await;
    report("postgres", total, spent, bytes, lat);
    println!(
        "           (chunks alone {:.2} bytes/point; the rest is trends, catalog, empty partitions)",
        chunks as f64 / total
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let lite = SqliteBackend::open(SqliteOptions::new(path.clone())).unwrap();
    let spent = load(&lite, &shape).await;
    lite.close().await.unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let lite = SqliteBackend::open(SqliteOptions::new(path)).unwrap();
    let lat = latencies(&lite, &shape).await;
    report("sqlite", total, spent, bytes, lat);
}
