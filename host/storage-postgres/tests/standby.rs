//! Reads from a PostgreSQL streaming replica: a hot standby made by `pg_basebackup -R` from
//! the test's own primary; a backend opened with `read_only` reads what the primary's
//! backend wrote (and keeps following it), creates nothing, and refuses writes; without
//! `read_only` the standby is refused with the server's reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use clio_storage::{
    CatalogStore, NewSeries, Point, PointStore, SeriesId, SeriesPoints, SeriesSettings,
    StorageBackend, Value, write_points,
};
use clio_storage_postgres::PgBackend;

fn points(from: i64, n: i64) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            ts: from + i * 1000,
            value: Value::Num(i as f64),
        })
        .collect()
}

async fn wait_for(b: &PgBackend, id: SeriesId, n: usize, before: i64) -> Vec<Point> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got = b.read_last(id, 1_000_000, before).await.unwrap();
        if got.len() >= n || Instant::now() > end {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_backend_reads_a_hot_standby() {
    let primary = common::Cluster::start();
    let db = primary.create_database("standby");
    let mut o = common::options_for(&primary, &db);
    o.pool_size = 2;
    let writer = PgBackend::open(o).await.unwrap();
    let id = SeriesId(42);
    writer
        .create_series(&[NewSeries {
            id,
            key: None,
            settings: SeriesSettings::default(),
        }])
        .await
        .unwrap();
    let t0 = 1_700_000_000_000i64;
    write_points(
        &writer,
        &[SeriesPoints {
            series: id,
            points: points(t0, 500),
        }],
    )
    .await
    .unwrap();

    let standby = primary.start_standby();
    assert_eq!(
        standby.psql("postgres", "SELECT pg_is_in_recovery()"),
        "t",
        "not a standby"
    );
    let mut ro = common::options_for(&standby, &db);
    ro.pool_size = 2;

    // Without read_only the migrations run into the standby's refusal, named.
    let e = PgBackend::open(ro.clone()).await.unwrap_err().to_string();
    println!("standby without read_only: {e}");
    assert!(e.contains("read-only transaction"), "{e}");

    ro.read_only = true;
    let reader = PgBackend::open(ro).await.unwrap();
    let catalog = reader.load_catalog().await.unwrap();
    assert_eq!(catalog.iter().map(|s| s.id).collect::<Vec<_>>(), vec![id]);
    let got = wait_for(&reader, id, 500, t0 + 10_000_000).await;
    assert_eq!(got, points(t0, 500));

    // It follows the primary.
    write_points(
        &writer,
        &[SeriesPoints {
            series: id,
            points: points(t0 + 500_000, 300),
        }],
    )
    .await
    .unwrap();
    let got = wait_for(&reader, id, 800, t0 + 10_000_000).await;
    assert_eq!(got.len(), 800);
    assert_eq!(got[799].ts, t0 + 500_000 + 299_000);

    // Writes through it are refused, and nothing reached the primary.
    let e = write_points(
        &reader,
        &[SeriesPoints {
            series: id,
            points: points(t0 + 900_000, 1),
        }],
    )
    .await
    .unwrap_err()
    .to_string();
    println!("write through read_only: {e}");
    assert!(e.contains("read-only"), "{e}");
    assert_eq!(
        writer.read_last(id, 10, t0 + 10_000_000).await.unwrap()[9].ts,
        t0 + 500_000 + 299_000
    );
    reader.close().await.unwrap();
    writer.close().await.unwrap();
}
