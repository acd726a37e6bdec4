//! The SQLite backend against the shared conformance suite, plus what only this backend has:
//! chunk layout, direct file reads, reopening and trend-interval changes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use clio_storage::*;
use clio_storage_sqlite::{DirectReader, MAX_TREND_CHUNK, SqliteBackend, SqliteOptions};
use tempfile::TempDir;

fn fresh(max_chunk_points: usize) -> (TempDir, SqliteBackend) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = SqliteOptions::new(dir.path().join("clio.db"));
    o.max_chunk_points = max_chunk_points;
    o.readers = 2;
    let b = SqliteBackend::open(o).unwrap();
    (dir, b)
}

fn pts(range: std::ops::Range<i64>, step: i64) -> Vec<Point> {
    range
        .step_by(step as usize)
        .map(|t| Point::new(t, (t as f64) / 100.0))
        .collect()
}

fn chunk_rows(path: &std::path::Path, id: i64) -> Vec<(i64, i64, i64)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare(
            "SELECT start_ts, end_ts, count FROM chunks WHERE series_id = ?1 ORDER BY start_ts",
        )
        .unwrap();
    s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    clio_storage::testing::run_all(|| async {
        let (dir, inner) = fresh(256);
        clio_storage::testing::Guarded::new(inner, dir)
    })
    .await;
}

#[tokio::test]
async fn chunks_never_overlap_and_stay_bounded() {
    let (dir, b) = fresh(100);
    let s = SeriesId(7);
    // Appends in small batches fill chunks up to the maximum.
    for k in 0..50 {
        let batch = pts(k * 1000..(k + 1) * 1000, 100);
        b.write(&[SeriesPoints {
            series: s,
            points: batch,
        }])
        .await
        .unwrap();
    }
    // Late points into the middle split a full chunk evenly.
    let late: Vec<Point> = (0..50)
        .map(|k| Point::new(20_050 + k * 100, -1.0))
        .collect();
    let w = b
        .write(&[SeriesPoints {
            series: s,
            points: late,
        }])
        .await
        .unwrap();
    assert_eq!(w.replaced, 0);
    let rows = chunk_rows(&dir.path().join("clio.db"), 7);
    let total: i64 = rows.iter().map(|r| r.2).sum();
    assert_eq!(total, 550);
    for w in rows.windows(2) {
        assert!(w[0].1 < w[1].0, "chunks overlap: {rows:?}");
    }
    assert!(rows.iter().all(|r| r.2 <= 100 && r.2 > 0), "{rows:?}");
    assert!(rows.len() <= 8, "too many small chunks: {rows:?}");
    let all = b
        .read_range(s, i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap();
    assert_eq!(all.len(), 550);
    assert!(all.windows(2).all(|w| w[0].ts < w[1].ts));
}

#[tokio::test]
async fn delete_range_cuts_only_boundary_chunks() {
    let (dir, b) = fresh(100);
    let s = SeriesId(1);
    b.write(&[SeriesPoints {
        series: s,
        points: pts(0..100_000, 100),
    }])
    .await
    .unwrap();
    let before = chunk_rows(&dir.path().join("clio.db"), 1);
    assert_eq!(before.len(), 10);
    // [25_050, 75_000): cuts into chunk 2, drops chunks 3..=6, chunk 7 starts at 70_000 and
    // ends at 79_900 so it is cut too.
    let n = b.delete_points(s, 25_050, 75_000).await.unwrap();
    assert_eq!(n, 499);
    let left = b.read_range(s, 0, i64::MAX, usize::MAX).await.unwrap();
    assert_eq!(left.len(), 1000 - 499);
    assert!(left.iter().all(|p| p.ts < 25_050 || p.ts >= 75_000));
    assert_eq!(left.iter().filter(|p| p.ts == 25_000).count(), 1);
    assert_eq!(left.iter().filter(|p| p.ts == 75_000).count(), 1);
    // Trends are kept.
    let t = b
        .read_trends(s, DEFAULT_TREND_INTERVALS[0], 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(t.iter().map(|b| b.count).sum::<u64>(), 1000);
}

#[tokio::test]
async fn expire_is_one_transaction_and_cuts_only_boundary_chunks() {
    let (dir, b) = fresh(100);
    let path = dir.path().join("clio.db");
    for id in [1, 2] {
        b.write(&[SeriesPoints {
            series: SeriesId(id),
            points: pts(0..100_000, 100),
        }])
        .await
        .unwrap();
    }
    let ten_min = DEFAULT_TREND_INTERVALS[0];
    let expiry = |id: u64| Expiry {
        series: SeriesId(id),
        raw_before: Some(55_050),
        trends_before: vec![(ten_min, 1)],
    };
    // A damaged boundary chunk in series 2 fails the batch, and series 1's cut, which came
    // first in the same transaction, is rolled back with it.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE chunks SET data = x'00' WHERE series_id = 2 AND start_ts = 50000",
            [],
        )
        .unwrap();
    let err = b.expire(&[expiry(1), expiry(2)]).await.unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    assert_eq!(chunk_rows(&path, 1).len(), 10);
    let t = b
        .read_trends(SeriesId(1), ten_min, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(t.len(), 1, "the trend cut was rolled back too");

    // Without the damaged series: chunks 1..=5 go as rows, chunk 6 ([50_000, 59_900]) is
    // rewritten from 55_100, the rest stays; the one 10-minute bucket (start 0) goes.
    let out = b.expire(&[expiry(1), expiry(3)]).await.unwrap();
    assert_eq!(
        out,
        vec![
            ExpiryOutcome {
                series: SeriesId(1),
                points: 551,
                buckets: 1
            },
            ExpiryOutcome::none(SeriesId(3)),
        ]
    );
    let rows = chunk_rows(&path, 1);
    assert_eq!(
        rows,
        vec![
            (55_100, 59_900, 49),
            (60_000, 69_900, 100),
            (70_000, 79_900, 100),
            (80_000, 89_900, 100),
            (90_000, 99_900, 100),
        ]
    );
    let t = b
        .read_trends(SeriesId(1), ten_min, 0, i64::MAX)
        .await
        .unwrap();
    assert!(t.is_empty());
    let hour = DEFAULT_TREND_INTERVALS[2];
    let t = b.read_trends(SeriesId(1), hour, 0, i64::MAX).await.unwrap();
    assert_eq!(
        t.iter().map(|b| b.count).sum::<u64>(),
        1000,
        "unlisted interval kept"
    );
    // Again: nothing left to cut, and the boundary chunk is not rewritten.
    let out = b.expire(&[expiry(1)]).await.unwrap();
    assert_eq!(out, vec![ExpiryOutcome::none(SeriesId(1))]);
    assert_eq!(chunk_rows(&path, 1), rows);
    assert_eq!(chunk_rows(&path, 2).len(), 10, "series 2 untouched");
}

#[tokio::test]
async fn reopen_keeps_everything_and_backfills_new_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clio.db");
    let s = SeriesId(3);
    {
        let b = SqliteBackend::open(SqliteOptions::new(&path)).unwrap();
        b.create_series(&[NewSeries {
            id: s,
            key: Some("cpu,host=a usage".parse().unwrap()),
            settings: SeriesSettings::default(),
        }])
        .await
        .unwrap();
        b.write(&[SeriesPoints {
            series: s,
            points: pts(0..3_600_000, 10_000),
        }])
        .await
        .unwrap();
        b.close().await.unwrap();
        assert!(
            b.read_last(s, 1, i64::MAX).await.is_err(),
            "closed backend still serves"
        );
    }
    let mut o = SqliteOptions::new(&path);
    let five = "5m".parse::<TrendInterval>().unwrap();
    o.trend_intervals = vec![five, DEFAULT_TREND_INTERVALS[2]];
    let b = SqliteBackend::open(o).unwrap();
    assert_eq!(b.load_catalog().await.unwrap().len(), 1);
    assert_eq!(b.read_last(s, 5, i64::MAX).await.unwrap().len(), 5);
    let t5 = b.read_trends(s, five, 0, i64::MAX).await.unwrap();
    assert_eq!(t5.len(), 12);
    assert!(t5.iter().all(|b| b.count == 30));
    assert!(
        b.read_trends(s, DEFAULT_TREND_INTERVALS[0], 0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let d = DirectReader::open(&path).unwrap();
    assert_eq!(d.trend_intervals(), &[five, DEFAULT_TREND_INTERVALS[2]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_reader_reads_while_the_server_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clio.db");
    let b = Arc::new(SqliteBackend::open(SqliteOptions::new(&path)).unwrap());
    let s = SeriesId(11);
    b.create_series(&[NewSeries {
        id: s,
        key: None,
        settings: SeriesSettings::default(),
    }])
    .await
    .unwrap();
    let writer = {
        let b = b.clone();
        tokio::spawn(async move {
            for k in 0..200i64 {
                // Every batch has one value, so a reader can tell a torn batch.
                let points = (0..50).map(|i| Point::new(k * 50 + i, k as f64)).collect();
                b.write(&[SeriesPoints { series: s, points }])
                    .await
                    .unwrap();
            }
        })
    };
    let reader = tokio::task::spawn_blocking(move || {
        let mut d = DirectReader::open(&path).unwrap();
        let mut reads = 0;
        loop {
            let all = d.read_range(s, 0, i64::MAX, usize::MAX).unwrap();
            assert_eq!(all.len() % 50, 0, "torn batch seen by direct reader");
            for (i, p) in all.iter().enumerate() {
                assert_eq!(p.ts, i as i64);
                assert_eq!(p.value, Value::Num((i / 50) as f64));
            }
            reads += 1;
            if all.len() == 10_000 {
                return reads;
            }
        }
    });
    writer.await.unwrap();
    let reads = reader.await.unwrap();
    assert!(reads >= 1);
    let mut d = DirectReader::open(dir.path().join("clio.db")).unwrap();
    assert_eq!(d.series(s).unwrap().unwrap().id, s);
    assert_eq!(d.stats(s).unwrap().points, 10_000);
    assert_eq!(d.read_last(s, 3, 10_000).unwrap().len(), 3);
}

#[test]
fn direct_reader_refuses_what_is_not_a_clio_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(DirectReader::open(dir.path().join("missing.db")).is_err());
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let e = DirectReader::open(&other).unwrap_err().to_string();
    assert!(e.contains("not a Clio database"), "{e}");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not sqlite at all, not even close.......",
    )
    .unwrap();
    assert!(DirectReader::open(&garbage).is_err());
}

/// Opens the store at `path` (creating it when missing) and closes it.
async fn open_and_close(path: &std::path::Path) {
    SqliteBackend::open(SqliteOptions::new(path))
        .unwrap()
        .close()
        .await
        .unwrap();
}

/// `meta.format_version` of the closed store at `path`.
fn format_version(path: &std::path::Path) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'format_version'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Rewrites `meta.format_version` of the closed store at `path`, as another Clio would have.
fn set_format_version(path: &std::path::Path, version: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'format_version'",
            [version],
        )
        .unwrap();
}

#[tokio::test]
async fn newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clio.db");
    open_and_close(&path).await;
    set_format_version(&path, "999");
    let e = SqliteBackend::open(SqliteOptions::new(&path))
        .unwrap_err()
        .to_string();
    assert!(e.contains("format version 999"), "{e}");
}

#[tokio::test]
async fn a_version_1_file_is_raised_to_the_current_version_when_opened() {
    // Version 2 only adds trend chunks that refer to an earlier column; a version-1 file
    // reads as it is, but once this Clio may have written such chunks into it, a Clio that
    // reads only version 1 must refuse it at open rather than fail on single chunks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clio.db");
    open_and_close(&path).await;
    assert_eq!(
        format_version(&path),
        clio_storage_sqlite::FORMAT_VERSION.to_string()
    );
    set_format_version(&path, "1");
    open_and_close(&path).await;
    assert_eq!(clio_storage_sqlite::FORMAT_VERSION, 2);
    assert_eq!(format_version(&path), "2");
}

fn trend_rows(path: &std::path::Path, id: i64, interval: TrendInterval) -> Vec<(i64, i64, i64)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare(
            "SELECT start_ts, end_ts, count FROM trend_chunks
             WHERE series_id = ?1 AND interval_ms = ?2 ORDER BY start_ts",
        )
        .unwrap();
    s.query_map([id, interval.ms()], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test]
async fn put_trends_keeps_trend_chunks_disjoint_and_bounded() {
    let (dir, b) = fresh(256);
    let path = dir.path().join("clio.db");
    let s = SeriesId(4);
    let iv = DEFAULT_TREND_INTERVALS[0];
    let ms = iv.ms();
    let bucket = |k: i64, v: f64| {
        let start = k * ms;
        TrendBucket::build(iv, &[Point::new(start, v), Point::new(start + 1, v + 1.0)])
            .pop()
            .unwrap()
    };
    let mut model: std::collections::BTreeMap<i64, TrendBucket> = Default::default();
    let steps: Vec<Vec<TrendBucket>> = vec![
        (0..600).map(|k| bucket(k, 1.0)).collect(),
        vec![bucket(300, 2.0)],
        (1000..1100).map(|k| bucket(k, 3.0)).collect(),
        (250..520).map(|k| bucket(k, 4.0)).collect(),
        vec![bucket(-5, 5.0), bucket(700, 5.0), bucket(1099, 5.0)],
        (590..1010).step_by(3).map(|k| bucket(k, 6.0)).collect(),
    ];
    for (i, step) in steps.iter().enumerate() {
        for bk in step {
            model.insert(bk.start, bk.clone());
        }
        // The second put of the same buckets changes nothing.
        for put in ["put", "put again"] {
            b.put_trends(s, iv, step).await.unwrap();
            let rows = trend_rows(&path, 4, iv);
            for (j, &(start, end, count)) in rows.iter().enumerate() {
                assert!(
                    start <= end && count >= 1 && count as usize <= MAX_TREND_CHUNK,
                    "step {i}, {put}: chunk {j} {rows:?}"
                );
                if let Some(&(next, _, _)) = rows.get(j + 1) {
                    assert!(
                        end < next,
                        "step {i}, {put}: chunks {j} and {} overlap",
                        j + 1
                    );
                }
            }
            let total: i64 = rows.iter().map(|r| r.2).sum();
            assert_eq!(total as usize, model.len(), "step {i}, {put}: bucket count");
            let got = b.read_trends(s, iv, i64::MIN, i64::MAX).await.unwrap();
            assert_eq!(
                got,
                model.values().cloned().collect::<Vec<_>>(),
                "step {i}, {put}: buckets as given"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_on_the_callers_thread_answer_what_async_reads_answer() {
    let (_d, b) = fresh(100);
    let s = SeriesId(5);
    b.create_series(&[NewSeries {
        id: s,
        key: None,
        settings: SeriesSettings::default(),
    }])
    .await
    .unwrap();
    // Three hours of points every 7 s: many chunks, every trend interval has several buckets.
    b.write(&[SeriesPoints {
        series: s,
        points: pts(0..3 * 3_600_000, 7_000),
    }])
    .await
    .unwrap();
    let inline = b.blocking_reads().expect("sqlite reads inline");
    for interval in [600_000, 1_800_000, 3_600_000] {
        let interval = TrendInterval::from_ms(interval).unwrap();
        let (from, to) = (1_234_567, 2 * 3_600_000 + 1);
        let want = b.read_trends(s, interval, from, to).await.unwrap();
        assert!(want.len() >= 2, "{interval}: {want:?}");
        let got = tokio::task::block_in_place(|| inline.read_trends_inline(s, interval, from, to))
            .expect("an inline connection is free")
            .unwrap();
        assert_eq!(got, want, "{interval}");
    }
    let want = b.read_range_columns(s, 100_000, 900_000, 50).await.unwrap();
    let got =
        tokio::task::block_in_place(|| inline.read_range_columns_inline(s, 100_000, 900_000, 50))
            .expect("an inline connection is free")
            .unwrap();
    assert_eq!(got, want);
    let want = b.read_last_columns(s, 900_000, 20, 3).await.unwrap();
    let got = tokio::task::block_in_place(|| inline.read_last_columns_inline(s, 900_000, 20, 3))
        .expect("an inline connection is free")
        .unwrap();
    assert_eq!(got, want);
}

fn new_series(id: u64) -> NewSeries {
    NewSeries {
        id: SeriesId(id),
        key: Some(format!("m,host=h{id} value").parse().unwrap()),
        settings: SeriesSettings::default(),
    }
}

/// A series just created is written without looking up chunks to merge into, after one
/// probe of whether storage holds anything of it. Points written under its id before it was
/// created (the storage API allows that) must still be found and merged, not overlapped.
#[tokio::test]
async fn a_series_created_after_its_points_were_stored_still_merges() {
    let (dir, b) = fresh(100);
    let interval = TrendInterval::from_ms(600_000).unwrap();
    b.write(&[SeriesPoints {
        series: SeriesId(9),
        points: pts(0..1000, 100),
    }])
    .await
    .unwrap();
    b.create_series(&[new_series(9), new_series(10)])
        .await
        .unwrap();
    let w = b
        .write(&[
            SeriesPoints {
                series: SeriesId(9),
                points: vec![Point::new(500, -1.0), Point::new(1000, 5.0)],
            },
            SeriesPoints {
                series: SeriesId(10),
                points: pts(0..1000, 100),
            },
        ])
        .await
        .unwrap();
    assert_eq!((w.points, w.replaced), (12, 1));
    let path = dir.path().join("clio.db");
    assert_eq!(
        chunk_rows(&path, 9),
        [(0, 1000, 11)],
        "merged into the one chunk"
    );
    assert_eq!(chunk_rows(&path, 10), [(0, 900, 10)]);
    let nine = b
        .read_range(SeriesId(9), i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap();
    assert_eq!(nine.len(), 11);
    assert_eq!(nine[5], Point::new(500, -1.0));
    let trend = |id| b.read_trends(SeriesId(id), interval, i64::MIN, i64::MAX);
    let nine = trend(9).await.unwrap();
    assert_eq!(nine.len(), 1);
    assert_eq!(nine[0].count, 11);
    assert_eq!(nine[0].min, -1.0);
    let ten = trend(10).await.unwrap();
    assert_eq!((ten.len(), ten[0].count, ten[0].max), (1, 10, 9.0));
    // Written once, the new series is no longer new: a second write merges.
    let w = b
        .write(&[SeriesPoints {
            series: SeriesId(10),
            points: vec![Point::new(0, 7.0)],
        }])
        .await
        .unwrap();
    assert_eq!(w.replaced, 1);
    assert_eq!(chunk_rows(&path, 10), [(0, 900, 10)]);
    assert_eq!(trend(10).await.unwrap()[0].min, 1.0);
}
