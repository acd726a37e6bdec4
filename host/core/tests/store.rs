//! The engine against a real SQLite backend: writes, reads that merge cache and storage,
//! flushes, replay, restamping, caps and cursors, deletes, failed flushes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clio_core::*;
use clio_storage::{
    Expiry, ExpiryOutcome, Point, SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, TrendBucket,
    TrendInterval, Value,
};
use common::{open, options};

fn pt(series: u64, ts: i64, v: f64) -> IncomingPoint {
    IncomingPoint {
        series: SeriesRef::Id(SeriesId(series)),
        ts: Some(ts),
        value: Value::Num(v),
    }
}

fn last(series: u64, n: usize, skip: usize, at: Option<i64>) -> ReadRequest {
    ReadRequest {
        series: SeriesId(series),
        window: Window::Last { n, skip, at },
        resolution: Resolution::Raw,
        cursor: None,
    }
}

fn range(series: u64, from: i64, to: i64) -> ReadRequest {
    ReadRequest {
        series: SeriesId(series),
        window: Window::Range { from, to },
        resolution: Resolution::Raw,
        cursor: None,
    }
}

fn points(r: &ReadResult) -> Vec<(i64, Value)> {
    match &r.data {
        Data::Points(p) => p.iter().map(|p| (p.ts, p.value.clone())).collect(),
        Data::Trends { .. } => panic!("expected points"),
    }
}

fn nums(r: &ReadResult) -> Vec<(i64, f64)> {
    points(r)
        .into_iter()
        .map(|(t, v)| (t, v.as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn write_read_flush_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let batch: Vec<_> = (0..100).map(|i| pt(7, 1_000 + i * 10, i as f64)).collect();
    let rep = store.write(batch).await.unwrap();
    assert_eq!((rep.points, rep.created_series), (100, 1));
    assert_eq!(store.points_written(), 100);
    assert_eq!(store.stats().points_written, 100);
    assert_eq!(store.flush_failing(), None);
    let r = store.read(&last(7, 3, 0, None)).await.unwrap();
    assert_eq!(nums(&r), [(1970, 97.0), (1980, 98.0), (1990, 99.0)]);
    let r = store.read(&last(7, 2, 5, None)).await.unwrap();
    assert_eq!(nums(&r), [(1930, 93.0), (1940, 94.0)]);
    let flushed = store.flush().await.unwrap();
    assert_eq!(flushed.points, 100);
    store.close().await.unwrap();

    // A fresh engine reads from storage (cold cache) and sees the same answers.
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let r = store.read(&last(7, 3, 0, None)).await.unwrap();
    assert_eq!(nums(&r), [(1970, 97.0), (1980, 98.0), (1990, 99.0)]);
    let r = store.read(&range(7, 1_000, 1_030)).await.unwrap();
    assert_eq!(nums(&r), [(1000, 0.0), (1010, 1.0), (1020, 2.0)]);
    let r = store.read(&last(7, 2, 0, Some(1_015))).await.unwrap();
    assert_eq!(nums(&r), [(1000, 0.0), (1010, 1.0)]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn unflushed_points_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    store
        .write(vec![pt(1, 10, 1.0), pt(1, 20, 2.0)])
        .await
        .unwrap();
    store.flush().await.unwrap();
    store
        .write(vec![pt(1, 30, 3.0), pt(1, 20, 20.0)])
        .await
        .unwrap();
    // No close: the engine is abandoned as a crash would leave it.
    store.abandon();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let r = store.read(&range(1, 0, 100)).await.unwrap();
    assert_eq!(nums(&r), [(10, 1.0), (20, 20.0), (30, 3.0)]);
    store.flush().await.unwrap();
    let r = store.read(&range(1, 0, 100)).await.unwrap();
    assert_eq!(nums(&r), [(10, 1.0), (20, 20.0), (30, 3.0)]);
}

#[tokio::test]
async fn failed_flush_loses_nothing_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    store.write(vec![pt(1, 10, 1.0)]).await.unwrap();
    flaky.fail_writes.store(true, Ordering::SeqCst);
    assert!(store.flush().await.is_err());
    // Writes keep being accepted while storage is down.
    store.write(vec![pt(1, 20, 2.0)]).await.unwrap();
    assert!(store.flush().await.is_err());
    assert_eq!(store.stats().flush_errors, 2);
    let r = store.read(&range(1, 0, 100)).await.unwrap();
    assert_eq!(nums(&r), [(10, 1.0), (20, 2.0)]);
    store.abandon();
    // And a crash while storage was down loses nothing either.
    let (store, _) = open(dir.path(), options(dir.path())).await;
    assert_eq!(store.flush().await.unwrap().points, 2);
    let r = store.read(&range(1, 0, 100)).await.unwrap();
    assert_eq!(nums(&r), [(10, 1.0), (20, 2.0)]);
    assert_eq!(
        store.stats().wal_bytes,
        25,
        "log truncated to one segment holding only the flush mark (8 + 8 + 9 bytes)"
    );
}

#[tokio::test]
async fn invalid_points_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let e = store
        .write(vec![pt(1, 10, 1.0), pt(2, 77, f64::NAN)])
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("series 2") && msg.contains("ts 77") && msg.contains("NaN"),
        "{msg}"
    );
    assert!(matches!(
        store.read(&last(1, 1, 0, None)).await,
        Err(Error::SeriesNotFound(_))
    ));
}

#[tokio::test]
async fn out_of_window_timestamps_are_restamped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), EngineOptions::new(dir.path())).await;
    let now = 1_800_000_000_000;
    let rep = store
        .write_at(
            vec![
                pt(1, now - 1000, 1.0),
                pt(1, now - 31 * 86_400_000, 2.0),
                pt(1, now + 61_000, 3.0),
                pt(1, now + 59_000, 4.0),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!(rep.restamped, 2);
    let r = store.read(&range(1, 0, i64::MAX)).await.unwrap();
    // Two points restamped to the same receive time: the later one wins.
    assert_eq!(
        nums(&r),
        [(now - 1000, 1.0), (now, 3.0), (now + 59_000, 4.0)]
    );
}

/// Memory holding far more of a range than the cap (a bulk load before its flush): each page
/// is the newest cap of what is left, unflushed rewrites of stored points included, and the
/// pages join without a gap or a repeat.
#[tokio::test]
async fn ranges_with_many_unflushed_points_page_through_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.query_max_result_numbers = 7;
    let (store, _) = open(dir.path(), o).await;
    store
        .write((0..20).map(|i| pt(1, i, i as f64)).collect())
        .await
        .unwrap();
    store.flush().await.unwrap();
    let mut late: Vec<_> = (20..100).map(|i| pt(1, i, i as f64)).collect();
    late.push(pt(1, 10, -10.0));
    store.write(late).await.unwrap();
    let want: Vec<(i64, f64)> = (2..97)
        .map(|i| (i, if i == 10 { -10.0 } else { i as f64 }))
        .collect();
    let mut req = range(1, 2, 97);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = store.read(&req).await.unwrap();
        let mut page = nums(&r);
        assert_eq!(page.len(), 7.min(want.len() - seen.len()), "page {pages}");
        page.extend(seen);
        seen = page;
        pages += 1;
        if !r.truncated {
            break;
        }
        req.cursor = r.next;
    }
    assert_eq!(seen, want);
    assert_eq!(pages, want.len().div_ceil(7));
    store.close().await.unwrap();
}

#[tokio::test]
async fn caps_truncate_to_newest_with_a_cursor_that_pages_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.query_max_result_numbers = 7;
    o.query_max_result_strings = 3;
    let (store, _) = open(dir.path(), o).await;
    store
        .write((0..50).map(|i| pt(1, i, i as f64)).collect())
        .await
        .unwrap();
    store.flush().await.unwrap();
    store
        .write((50..60).map(|i| pt(1, i, i as f64)).collect())
        .await
        .unwrap();
    let mut req = range(1, 5, 58);
    let mut seen = Vec::new();
    loop {
        let r = store.read(&req).await.unwrap();
        let mut page = nums(&r);
        assert!(page.len() <= 7);
        page.extend(seen);
        seen = page;
        if !r.truncated {
            assert!(r.next.is_none());
            break;
        }
        req.cursor = r.next;
    }
    assert_eq!(seen, (5..58).map(|i| (i, i as f64)).collect::<Vec<_>>());

    // Last-N beyond the cap pages with a skip cursor.
    let r = store.read(&last(1, 10, 0, None)).await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.next, Some(Cursor::Skip(7)));
    assert_eq!(nums(&r).first().unwrap().0, 53);

    // Strings have their own, smaller cap.
    let s: Vec<_> = (100..110)
        .map(|i| IncomingPoint {
            series: SeriesRef::Id(SeriesId(2)),
            ts: Some(i),
            value: Value::Str(format!("s{i}")),
        })
        .collect();
    store.write(s).await.unwrap();
    let r = store.read(&range(2, 0, 1000)).await.unwrap();
    assert_eq!(points(&r).len(), 3);
    assert_eq!(points(&r)[0], (107, Value::Str("s107".into())));
}

#[tokio::test]
async fn keys_get_stable_ids_above_the_ocid_range() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let key: SeriesKey = "temp,room=b,floor=1 value".parse().unwrap();
    let same: SeriesKey = "temp,floor=1,room=b value".parse().unwrap();
    let p = |k: &SeriesKey, ts| IncomingPoint {
        series: SeriesRef::Key(k.clone()),
        ts: Some(ts),
        value: Value::Num(1.0),
    };
    let rep = store.write(vec![p(&key, 1), p(&same, 2)]).await.unwrap();
    assert_eq!(rep.created_series, 1);
    let id = store.series_id(&key).unwrap();
    assert!(id.0 >= KEY_ID_BASE);
    store.close().await.unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    assert_eq!(store.series_id(&same), Some(id));
    let r = store.read(&last(id.0, 10, 0, None)).await.unwrap();
    assert_eq!(nums(&r), [(1, 1.0), (2, 1.0)]);
}

/// The texts a line-protocol write carries are learned as naming the series their points
/// resolved to (created, or found under another spelling), and forgotten with the series.
#[tokio::test]
async fn written_key_texts_name_the_series_their_points_resolved_to() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let a: SeriesKey = "temp,room=b,floor=1 value".parse().unwrap();
    let b: SeriesKey = "temp,room=c value".parse().unwrap();
    store
        .write(vec![IncomingPoint {
            series: SeriesRef::Key(a.clone()),
            ts: Some(1),
            value: Value::Num(1.0),
        }])
        .await
        .unwrap();
    let id_a = store.series_id(&a).unwrap();
    let texts = [
        "temp,floor=1,room=b value", // a, known by key, spelled otherwise
        "temp,room=c value",         // b, new
        "temp,room=c  value",        // b again, another spelling
    ];
    let hash = |t: &str| match store.key_texts().lookup(t) {
        TextLookup::Unknown(h) => h,
        TextLookup::Known(id) => panic!("{t} is known already as {id}"),
    };
    let keyed = |k: &SeriesKey, ts| IncomingPoint {
        series: SeriesRef::Key(k.clone()),
        ts: Some(ts),
        value: Value::Num(2.0),
    };
    let new = |point, text: &str| NewText {
        point,
        hash: hash(text),
        text: text.to_owned(),
    };
    let learned = vec![
        new(0, texts[0]),
        new(2, texts[1]),
        new(3, texts[2]),
        // An index past the write's points is skipped.
        new(9, "temp,room=z value"),
    ];
    let rep = store
        .write_learning(
            vec![keyed(&a, 2), pt(5, 2, 1.0), keyed(&b, 2), keyed(&b, 3)],
            2,
            TimeLimits::default(),
            learned,
        )
        .await
        .unwrap();
    assert_eq!(rep.created_series, 2);
    let id_b = store.series_id(&b).unwrap();
    assert_ne!(id_a, id_b);
    let known = |t: &str| store.key_texts().lookup(t);
    assert_eq!(known(texts[0]), TextLookup::Known(id_a));
    assert_eq!(known(texts[1]), TextLookup::Known(id_b));
    assert_eq!(known(texts[2]), TextLookup::Known(id_b));
    assert!(matches!(known("temp,room=z value"), TextLookup::Unknown(_)));
    assert_eq!(store.key_texts().len(), 3);
    assert!(store.delete_series(id_b).await.unwrap());
    assert!(matches!(known(texts[1]), TextLookup::Unknown(_)));
    assert!(matches!(known(texts[2]), TextLookup::Unknown(_)));
    assert_eq!(known(texts[0]), TextLookup::Known(id_a));
}

#[tokio::test]
async fn deletes_are_not_resurrected_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    store
        .write((0..10).map(|i| pt(1, i, 1.0)).collect())
        .await
        .unwrap();
    store
        .write((0..10).map(|i| pt(2, i, 2.0)).collect())
        .await
        .unwrap();
    store.flush().await.unwrap();
    store
        .write((10..20).map(|i| pt(1, i, 1.0)).collect())
        .await
        .unwrap();
    store
        .write((10..20).map(|i| pt(2, i, 2.0)).collect())
        .await
        .unwrap();
    store.delete_points(SeriesId(1), 5, 15).await.unwrap();
    assert!(store.delete_series(SeriesId(2)).await.unwrap());
    store.abandon();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let r = store.read(&range(1, 0, 100)).await.unwrap();
    let ts: Vec<i64> = nums(&r).iter().map(|p| p.0).collect();
    assert_eq!(ts, [0, 1, 2, 3, 4, 15, 16, 17, 18, 19]);
    assert!(store.series(SeriesId(2)).is_none());
    assert!(
        store
            .backend()
            .unwrap()
            .get_series(SeriesId(2))
            .await
            .unwrap()
            .is_none()
    );
}

fn raw_cut(series: u64, before: i64) -> Expiry {
    Expiry {
        series: SeriesId(series),
        raw_before: Some(before),
        trends_before: vec![],
    }
}

async fn bucket_starts(store: &Store, series: u64, i: TrendInterval) -> Vec<i64> {
    store
        .read_trends(SeriesId(series), i, i64::MIN, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|b| b.start)
        .collect()
}

/// Timestamps of a series, in minutes.
async fn minutes(store: &Store, series: u64) -> Vec<i64> {
    let r = store
        .read(&range(series, i64::MIN, i64::MAX))
        .await
        .unwrap();
    nums(&r).iter().map(|p| p.0 / 60_000).collect()
}

#[tokio::test]
async fn expire_cuts_storage_and_cache_for_a_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let ten_min: TrendInterval = "10m".parse().unwrap();
    // Series 1 and 2: 0..20 flushed, 20..30 only in the cache. One point per minute, so the
    // 10-minute buckets start at 0, 600_000 and 1_200_000 (ms).
    let minute = 60_000;
    for s in [1, 2, 3] {
        store
            .write((0..20).map(|i| pt(s, i * minute, i as f64)).collect())
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    for s in [1, 2] {
        store
            .write((20..30).map(|i| pt(s, i * minute, i as f64)).collect())
            .await
            .unwrap();
    }
    let out = store
        .expire(&[
            raw_cut(1, 25 * minute),
            raw_cut(99, i64::MAX),
            Expiry {
                series: SeriesId(2),
                raw_before: Some(5 * minute),
                trends_before: vec![(ten_min, 600_000)],
            },
            raw_cut(3, i64::MIN),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            // 20 stored + 5 unflushed.
            ExpiryOutcome {
                series: SeriesId(1),
                points: 25,
                buckets: 0
            },
            ExpiryOutcome::none(SeriesId(99)),
            ExpiryOutcome {
                series: SeriesId(2),
                points: 5,
                buckets: 1
            },
            ExpiryOutcome::none(SeriesId(3)),
        ]
    );
    assert_eq!(minutes(&store, 1).await, (25..30).collect::<Vec<_>>());
    assert_eq!(minutes(&store, 2).await, (5..30).collect::<Vec<_>>());
    assert_eq!(minutes(&store, 3).await, (0..20).collect::<Vec<_>>());
    assert_eq!(
        bucket_starts(&store, 2, ten_min).await,
        [600_000, 1_200_000]
    );
    // The cut points do not come back from storage or from a flush.
    store.flush().await.unwrap();
    assert_eq!(minutes(&store, 1).await, (25..30).collect::<Vec<_>>());
    let stored = store
        .backend()
        .unwrap()
        .read_range(SeriesId(1), i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap();
    assert_eq!(stored.len(), 5);
    // An empty batch, and one with nothing to cut, are no-ops.
    assert_eq!(store.expire(&[]).await.unwrap(), vec![]);
    assert_eq!(
        store.expire(&[raw_cut(1, 25 * minute)]).await.unwrap(),
        vec![ExpiryOutcome::none(SeriesId(1))]
    );
}

#[tokio::test]
async fn a_logged_expiry_is_applied_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    let ten_min: TrendInterval = "10m".parse().unwrap();
    let minute = 60_000;
    for s in [1, 2] {
        store
            .write((0..20).map(|i| pt(s, i * minute, 1.0)).collect())
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    // Unflushed points before the cut, which replay must not bring back either.
    store.write(vec![pt(1, minute / 2, 5.0)]).await.unwrap();
    // The expiry is logged but never reaches storage, as if the process died in between.
    flaky.fail_expire.store(true, Ordering::SeqCst);
    let batch = [
        raw_cut(1, 10 * minute),
        Expiry {
            series: SeriesId(2),
            raw_before: None,
            trends_before: vec![(ten_min, 600_000)],
        },
    ];
    // Logged and queued for the primary (which refuses it): acknowledged, counting only the
    // unflushed point it cut.
    let out = store.expire(&batch).await.unwrap();
    assert_eq!((out[0].points, out[1].points), (1, 0));
    assert_eq!(store.storage_status().backends[0].pending_changes, Some(1));
    let stored = store
        .backend()
        .unwrap()
        .read_range(SeriesId(1), i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap();
    assert_eq!(stored.len(), 20, "storage was not cut");
    store.abandon();

    let (store, _) = open(dir.path(), options(dir.path())).await;
    let stored: Vec<i64> = store
        .backend()
        .unwrap()
        .read_range(SeriesId(1), i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|p| p.ts / minute)
        .collect();
    assert_eq!(stored, (10..20).collect::<Vec<_>>(), "replay cut storage");
    let r = store.read(&range(1, i64::MIN, i64::MAX)).await.unwrap();
    assert_eq!(nums(&r).len(), 10, "and the unflushed point stayed cut");
    assert_eq!(bucket_starts(&store, 2, ten_min).await, [600_000]);
    let r = store.read(&range(2, i64::MIN, i64::MAX)).await.unwrap();
    assert_eq!(nums(&r).len(), 20, "a trend cut keeps raw points");
    store.flush().await.unwrap();
    let r = store.read(&range(1, i64::MIN, i64::MAX)).await.unwrap();
    assert_eq!(nums(&r).len(), 10);
}

/// A trend read while a flush batch is being written (seconds, at a million series) counts
/// every point once: a read of a series in the batch waits for it, a read of another series
/// does not. Trend reads used to give up after 10 ms and answer from storage alone, leaving
/// the unflushed points out.
#[tokio::test]
async fn trend_reads_during_a_flush_batch_count_every_point_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, backend) = open(dir.path(), options(dir.path())).await;
    let i: TrendInterval = "10m".parse().unwrap();
    let pts = |id: u64, ks: std::ops::Range<i64>| -> Vec<_> {
        ks.map(|k| pt(id, k * 7_000, (k % 13) as f64)).collect()
    };
    let want = |ks: std::ops::Range<i64>| {
        let all: Vec<Point> = ks.map(|k| Point::new(k * 7_000, (k % 13) as f64)).collect();
        TrendBucket::build(i, &all)
    };
    let counts = |b: &[TrendBucket]| b.iter().map(|b| (b.start, b.count)).collect::<Vec<_>>();
    store.write(pts(1, 0..250)).await.unwrap();
    store.flush().await.unwrap();
    store.write(pts(1, 250..400)).await.unwrap();
    let held = backend.hold_writes.write().await;
    let flush = tokio::spawn({
        let store = store.clone();
        async move { store.flush().await }
    });
    while backend.writes_held.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Series 2 is not in the batch: read at once, its unflushed points included.
    store.write(pts(2, 0..100)).await.unwrap();
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        store.read_trends(SeriesId(2), i, 0, 10_000_000),
    )
    .await
    .expect("a series outside the batch does not wait")
    .unwrap();
    assert_eq!(counts(&other), counts(&want(0..100)));
    // Series 1 is: its read waits for the batch, then counts stored and unflushed once.
    let read = tokio::spawn({
        let store = store.clone();
        async move { store.read_trends(SeriesId(1), i, 0, 10_000_000).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !read.is_finished(),
        "the read waits for the batch holding its series"
    );
    drop(held);
    let got = read.await.unwrap().unwrap();
    assert_eq!(counts(&got), counts(&want(0..400)));
    flush.await.unwrap().unwrap();
    let after = store
        .read_trends(SeriesId(1), i, 0, 10_000_000)
        .await
        .unwrap();
    assert_eq!(counts(&after), counts(&want(0..400)));
}

#[tokio::test]
async fn trends_include_unflushed_points() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let i: TrendInterval = "10m".parse().unwrap();
    let all: Vec<Point> = (0..400)
        .map(|k| Point::new(k * 7_000, (k % 13) as f64))
        .collect();
    let write = |pts: &[Point]| {
        pts.iter()
            .map(|p| pt(1, p.ts, p.value.as_f64().unwrap()))
            .collect::<Vec<_>>()
    };
    store.write(write(&all[..250])).await.unwrap();
    store.flush().await.unwrap();
    store.write(write(&all[250..])).await.unwrap();
    let got = store
        .read_trends(SeriesId(1), i, 0, 10_000_000)
        .await
        .unwrap();
    let want = TrendBucket::build(i, &all);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (g.start, g.count, g.min, g.max, g.first, g.last),
            (w.start, w.count, w.min, w.max, w.first, w.last)
        );
        assert!((g.sum - w.sum).abs() < 1e-9);
    }
    let auto = ReadRequest {
        resolution: Resolution::Auto,
        ..range(1, 0, 10_000_000)
    };
    let mut o = options(dir.path());
    o.query_max_result_numbers = 100;
    drop(o);
    let r = store.read(&auto).await.unwrap();
    assert!(
        matches!(r.data, Data::Points(_)),
        "400 points fit the cap of 5000"
    );
}

/// A trend read over a long span of unflushed points (a year of them, say) aggregates them
/// off the runtime worker: on a one-thread runtime, a task beside the read keeps running
/// while it does. Aggregated on the worker, the task would stop for the whole pass.
#[tokio::test(flavor = "current_thread")]
async fn a_trend_read_over_many_unflushed_points_leaves_the_runtime_free() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let n: i64 = 1_000_000;
    for part in (0..n).collect::<Vec<_>>().chunks(100_000) {
        let batch = part.iter().map(|&k| pt(1, k * 1_000, (k % 17) as f64));
        store.write(batch.collect()).await.unwrap();
    }
    let i: TrendInterval = "1h".parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let beside = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let (mut last, mut longest) = (Instant::now(), Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            longest
        }
    });
    tokio::task::yield_now().await;
    let started = Instant::now();
    let got = store
        .read_trends(SeriesId(1), i, 0, n * 1_000)
        .await
        .unwrap();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let longest = beside.await.unwrap();
    assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), n as u64);
    assert!(
        longest * 2 < took,
        "the task beside the read stopped for {longest:?} of the read's {took:?}"
    );
}

/// `n` points for each of `series`: values 0, 1, … stamped every 10 ms from 1,000.
fn series_points(series: std::ops::RangeInclusive<u64>, n: i64) -> Vec<IncomingPoint> {
    series
        .flat_map(|s| (0..n).map(move |i| pt(s, 1_000 + i * 10, i as f64)))
        .collect()
}

/// A graceful stop lists the series readers used; the next start loads their newest points
/// (as many as their readers kept) before anyone asks, so that their first reads are hits.
/// Series nobody read, or deleted since the list was written, are not loaded.
#[tokio::test]
async fn a_restart_warms_up_the_series_readers_used() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    store.write(series_points(1..=3, 50)).await.unwrap();
    store.flush().await.unwrap();
    // Series 1 read for its last 20, series 3 for its last 5; series 2 never.
    store.read(&last(1, 20, 0, None)).await.unwrap();
    store.read(&last(3, 5, 0, None)).await.unwrap();
    store.close().await.unwrap();
    let listed = dir.path().join("cache-warm.bin");
    assert!(listed.exists());

    // A run without the warm-up deletes series 3 and leaves the list (1 and 3) as it was.
    let mut cold = options(dir.path());
    cold.warm_up = false;
    let (store, _) = open(dir.path(), cold.clone()).await;
    assert!(
        store.warmed(Duration::ZERO).await,
        "no warm-up: nothing to wait for"
    );
    assert_eq!(store.stats().cache_warmed_series, 0);
    store.delete_series(SeriesId(3)).await.unwrap();
    store.close().await.unwrap();

    let (store, _) = open(dir.path(), options(dir.path())).await;
    assert!(store.warmed(Duration::from_secs(10)).await);
    let s = store.stats();
    assert_eq!(s.cache_warmed_series, 1, "series 3 is gone");
    let (hits, misses) = (s.cache_hits, s.cache_misses);
    let r = store.read(&last(1, 20, 0, None)).await.unwrap();
    assert_eq!(nums(&r).len(), 20);
    assert_eq!(nums(&r)[19], (1490, 49.0));
    let s = store.stats();
    assert_eq!((s.cache_hits, s.cache_misses), (hits + 1, misses), "a hit");
    store.read(&last(2, 5, 0, None)).await.unwrap();
    assert_eq!(
        store.stats().cache_misses,
        misses + 1,
        "series 2 was not warmed"
    );
    store.close().await.unwrap();

    // Without the warm-up the first read of series 1 goes to storage, and no list is
    // written.
    std::fs::remove_file(&listed).unwrap();
    let (store, _) = open(dir.path(), cold).await;
    let misses = store.stats().cache_misses;
    store.read(&last(1, 20, 0, None)).await.unwrap();
    assert_eq!(store.stats().cache_misses, misses + 1);
    store.close().await.unwrap();
    assert!(!listed.exists());
}

/// The list is also written after a flush (at most once a minute), so that a start after a
/// crash is warm too.
#[tokio::test]
async fn a_start_after_a_crash_warms_up_from_the_list_the_last_flush_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    store.write(series_points(1..=2, 10)).await.unwrap();
    store.read(&last(2, 10, 0, None)).await.unwrap();
    store.flush().await.unwrap();
    store.abandon();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    assert!(store.warmed(Duration::from_secs(10)).await);
    assert_eq!(store.stats().cache_warmed_series, 1);
    let misses = store.stats().cache_misses;
    let r = store.read(&last(2, 10, 0, None)).await.unwrap();
    assert_eq!(nums(&r).len(), 10);
    assert_eq!(
        store.stats().cache_misses,
        misses,
        "series 2 answered from memory"
    );
    store.close().await.unwrap();
}

/// Storage down at the start: the warm-up stops, and what it could not load stays on the
/// list for the next start.
#[tokio::test]
async fn a_warm_up_that_storage_fails_keeps_its_list() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    store.write(series_points(1..=3, 10)).await.unwrap();
    store.flush().await.unwrap();
    for s in 1..=3 {
        store.read(&last(s, 10, 0, None)).await.unwrap();
    }
    store.close().await.unwrap();

    let flaky = std::sync::Arc::new(common::Flaky::new(common::sqlite(dir.path())));
    flaky.down.store(true, Ordering::SeqCst);
    let (store, _) = Store::open(options(dir.path()), flaky.clone())
        .await
        .unwrap();
    assert!(store.warmed(Duration::from_secs(10)).await);
    assert_eq!(store.stats().cache_warmed_series, 0);
    flaky.down.store(false, Ordering::SeqCst);
    store.close().await.unwrap();

    let (store, _) = open(dir.path(), options(dir.path())).await;
    assert!(store.warmed(Duration::from_secs(10)).await);
    assert_eq!(store.stats().cache_warmed_series, 3, "the whole list again");
    store.close().await.unwrap();
}

/// Model-based check: random writes (late, overwriting, strings), flushes, crashes and
/// deletes against a BTreeMap, with tiny caches so that eviction and read-through run.
mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Write(Vec<(u64, i64, Option<f64>)>),
        Flush,
        Crash,
        /// A graceful stop and a start; true: wait for the warm-up before going on.
        Restart(bool),
        Last(u64, usize, usize, Option<i64>),
        Range(u64, i64, i64),
        DeleteRange(u64, i64, i64),
        Expire(Vec<(u64, i64)>),
    }

    fn op() -> impl Strategy<Value = Op> {
        let series = 1u64..4;
        let ts = 0i64..200;
        prop_oneof![
            6 => proptest::collection::vec((series.clone(), ts.clone(), proptest::option::weighted(0.9, -50.0f64..50.0)), 1..30).prop_map(Op::Write),
            2 => Just(Op::Flush),
            1 => Just(Op::Crash),
            1 => any::<bool>().prop_map(Op::Restart),
            4 => (series.clone(), 0usize..30, 0usize..5, proptest::option::of(ts.clone())).prop_map(|(s, n, k, at)| Op::Last(s, n, k, at)),
            4 => (series.clone(), ts.clone(), ts.clone()).prop_map(|(s, a, b)| Op::Range(s, a, b)),
            1 => (series.clone(), ts.clone(), ts.clone()).prop_map(|(s, a, b)| Op::DeleteRange(s, a, b)),
            1 => proptest::collection::vec((series, ts), 0..4).prop_map(Op::Expire),
        ]
    }

    fn value(v: Option<f64>, ts: i64) -> Value {
        v.map_or_else(|| Value::Str(format!("t{ts}")), Value::Num)
    }

    async fn run(ops: Vec<Op>) {
        let dir = tempfile::tempdir().unwrap();
        let mk = || {
            let mut o = options(dir.path());
            o.cache.init_cached_records = 2;
            o.cache.memory_budget = 2_000;
            o
        };
        let (mut store, _) = open(dir.path(), mk()).await;
        let mut model: BTreeMap<u64, BTreeMap<i64, Value>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Write(pts) => {
                    let batch = pts
                        .iter()
                        .map(|(s, ts, v)| IncomingPoint {
                            series: SeriesRef::Id(SeriesId(*s)),
                            ts: Some(*ts),
                            value: value(*v, *ts),
                        })
                        .collect();
                    store.write(batch).await.unwrap();
                    for (s, ts, v) in pts {
                        model.entry(s).or_default().insert(ts, value(v, ts));
                    }
                }
                Op::Flush => {
                    store.flush().await.unwrap();
                }
                Op::Crash => {
                    store.abandon();
                    store = open(dir.path(), mk()).await.0;
                }
                Op::Restart(wait) => {
                    store.close().await.unwrap();
                    store = open(dir.path(), mk()).await.0;
                    if wait {
                        assert!(store.warmed(Duration::from_secs(10)).await);
                    }
                }
                Op::Last(s, n, skip, at) => {
                    let Some(m) = model.get(&s) else { continue };
                    let got = store.read(&last(s, n, skip, at)).await.unwrap();
                    let mut want: Vec<(i64, Value)> = m
                        .range(..at.unwrap_or(i64::MAX))
                        .rev()
                        .skip(skip)
                        .take(n)
                        .map(|(t, v)| (*t, v.clone()))
                        .collect();
                    want.reverse();
                    let got = points(&got);
                    // Strings are capped at 50, above what these tests write per window.
                    assert_eq!(got, want, "last({s}, n={n}, skip={skip}, at={at:?})");
                }
                Op::Range(s, a, b) => {
                    let Some(m) = model.get(&s) else { continue };
                    let got = store.read(&range(s, a, b)).await.unwrap();
                    let want: Vec<(i64, Value)> = if a < b {
                        m.range(a..b).map(|(t, v)| (*t, v.clone())).collect()
                    } else {
                        Vec::new()
                    };
                    assert_eq!(points(&got), want, "range({s}, {a}, {b})");
                }
                Op::Expire(cuts) => {
                    let batch: Vec<Expiry> = cuts.iter().map(|&(s, cut)| raw_cut(s, cut)).collect();
                    let out = store.expire(&batch).await.unwrap();
                    assert_eq!(out.len(), batch.len());
                    for (s, cut) in cuts {
                        if let Some(m) = model.get_mut(&s) {
                            m.retain(|t, _| *t >= cut);
                        }
                    }
                }
                Op::DeleteRange(s, a, b) => {
                    let Some(m) = model.get_mut(&s) else { continue };
                    store.delete_points(SeriesId(s), a, b).await.unwrap();
                    if a < b {
                        let doomed: Vec<i64> = m.range(a..b).map(|(t, _)| *t).collect();
                        for t in doomed {
                            m.remove(&t);
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn engine_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(run(ops));
        }
    }
}

/// `read_columns`, checked against `read_columns_blocking` (which reads SQLite on the
/// calling thread): both must give the same answer.
async fn read_columns_both(
    store: &Store,
    id: SeriesId,
    window: Window,
    limit: usize,
) -> clio_core::Result<(clio_storage::PointColumns, bool)> {
    let answer = store.read_columns(id, window, limit).await;
    let s = store.clone();
    let rt = tokio::runtime::Handle::current();
    let blocking =
        tokio::task::spawn_blocking(move || s.read_columns_blocking(&rt, id, window, limit))
            .await
            .unwrap();
    match (&answer, &blocking) {
        (Ok(a), Ok(b)) => assert!(a == b, "blocking read differs for {window:?}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("async {answer:?} but blocking {blocking:?} for {window:?}"),
    }
    answer
}

/// Checks a last-N window (both read paths) against the same slice of `all` (every point of
/// the series, ascending).
async fn assert_last(
    store: &Store,
    id: SeriesId,
    all: &[(i64, Value)],
    (n, skip, at): (usize, usize, Option<i64>),
) {
    let (got, truncated) = read_columns_both(store, id, Window::Last { n, skip, at }, usize::MAX)
        .await
        .unwrap();
    let visible: Vec<_> = all
        .iter()
        .filter(|(t, _)| at.is_none_or(|a| *t < a))
        .cloned()
        .collect();
    let end = visible.len().saturating_sub(skip);
    let want = visible[end.saturating_sub(n)..end].to_vec();
    let got: Vec<(i64, Value)> = got
        .into_points()
        .into_iter()
        .map(|p| (p.ts, p.value))
        .collect();
    assert_eq!(got, want, "last {n} skip {skip} at {at:?}");
    assert!(!truncated);
}

#[tokio::test]
async fn last_n_skips_split_between_memory_and_storage() {
    // 3000 stored points, the cache keeping the newest 5 of them, then 20 newer unflushed
    // points: memory covers its newest 25 points and holds nothing older, so a skip is
    // split between memory and storage's points before memory's coverage.
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let ts = |i: i64| 10_000 + i * 10;
    let all: Vec<(i64, Value)> = (0..3020).map(|i| (ts(i), Value::Num(i as f64))).collect();
    let write = |r: std::ops::Range<i64>| {
        r.map(|i| pt(10, ts(i), i as f64))
            .collect::<Vec<IncomingPoint>>()
    };
    store.write(write(0..3000)).await.unwrap();
    store.flush().await.unwrap();
    store.write(write(3000..3020)).await.unwrap();
    for window in [
        (10, 0, None),
        (50, 0, None),
        (50, 10, None),
        (50, 24, None),
        (50, 25, None),
        (50, 26, None),
        (50, 150, None),
        (30, 25, None),
        (500, 2900, None),
        (10, 3015, None),
        (10, 4000, None),
        (40, 3, Some(ts(3010))),
        (40, 12, Some(ts(3010))),
    ] {
        assert_last(&store, SeriesId(10), &all, window).await;
    }
}

/// Flushes, closes and opens the store again (the cache starts empty, its coverage unknown).
async fn reopen(store: Store, dir: &std::path::Path) -> Store {
    store.flush().await.unwrap();
    store.close().await.unwrap();
    drop(store);
    open(dir, options(dir)).await.0
}

/// [`assert_last`] for each window, in order.
async fn assert_lasts(
    store: &Store,
    id: SeriesId,
    all: &[(i64, Value)],
    windows: &[(usize, usize, Option<i64>)],
) {
    for &w in windows {
        assert_last(store, id, all, w).await;
    }
}

/// A function's last-N reads (columnar, with the evaluation time as `at`) fill the cache
/// read-through: the same window again is answered from memory. Reads that would leave a hole
/// in the cache's covered region (`at` before it, a skip storage applies) do not fill, and
/// every answer stays exact, before and after newer writes.
#[tokio::test]
async fn columnar_last_n_reads_fill_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let ts = |i: i64| 10_000 + i * 10;
    let mut all: Vec<(i64, Value)> = (0..3000).map(|i| (ts(i), Value::Num(i as f64))).collect();
    store
        .write((0..3000).map(|i| pt(11, ts(i), i as f64)).collect())
        .await
        .unwrap();
    store.flush().await.unwrap();
    let id = SeriesId(11);
    let misses = |s: &Store| s.stats().cache_misses;
    let hits = |s: &Store| s.stats().cache_hits;
    // Evaluated "now", after every point: the first read misses and fills, the next hits.
    let now = Some(ts(5000));
    let m0 = misses(&store);
    assert_last(&store, id, &all, (50, 0, now)).await;
    let (m1, h1) = (misses(&store), hits(&store));
    assert!(m1 > m0, "the first read went to storage");
    assert_last(&store, id, &all, (50, 0, now)).await;
    assert_last(&store, id, &all, (40, 10, now)).await;
    assert_eq!(
        misses(&store),
        m1,
        "a filled window is answered from memory"
    );
    assert!(hits(&store) > h1);
    // `at` before the covered region: storage answers, nothing is filled, again and again.
    let past = Some(ts(1000));
    assert_last(&store, id, &all, (20, 0, past)).await;
    let m2 = misses(&store);
    assert_last(&store, id, &all, (20, 0, past)).await;
    assert!(
        misses(&store) > m2,
        "a read before the coverage does not fill"
    );
    // A skip that storage applies (nothing of the window in memory) does not fill either.
    assert_last(&store, id, &all, (10, 200, now)).await;
    let m3 = misses(&store);
    assert_last(&store, id, &all, (10, 200, now)).await;
    assert!(misses(&store) > m3, "a skipped read does not fill");
    // Newer writes after the fill: memory and the filled points still answer exactly.
    store
        .write((3000..3010).map(|i| pt(11, ts(i), i as f64)).collect())
        .await
        .unwrap();
    all.extend((3000..3010).map(|i| (ts(i), Value::Num(i as f64))));
    for window in [
        (60, 0, None),
        (60, 0, now),
        (30, 5, Some(ts(3005))),
        (100, 0, now),
    ] {
        assert_last(&store, id, &all, window).await;
    }
    // Reopened after a flush, memory holds nothing of the series: a skipped read must not
    // claim the skipped newest points as covered, and an unskipped one fills.
    let store = reopen(store, dir.path()).await;
    assert_lasts(
        &store,
        id,
        &all,
        &[
            (10, 5, None),
            (10, 0, None),
            (3, 0, None),
            (10, 0, None),
            (20, 3, None),
        ],
    )
    .await;
    // Reopened again, with points stamped after the evaluation time in storage: the cache
    // does not know its coverage, so a function's read (with `at`) asks storage past `at`,
    // fills, and cuts at `at`; here the newest points are the future ones, so the cut leaves
    // too few and the exact window is read as well. Then the window is served from memory.
    store
        .write((6000..6005).map(|i| pt(11, ts(i), i as f64)).collect())
        .await
        .unwrap();
    all.extend((6000..6005).map(|i| (ts(i), Value::Num(i as f64))));
    let store = reopen(store, dir.path()).await;
    assert_lasts(
        &store,
        id,
        &all,
        &[
            (10, 0, now),
            (10, 0, now),
            (3, 2, now),
            (8, 0, now),
            (12, 0, None),
        ],
    )
    .await;
    let (m4, h4) = (misses(&store), hits(&store));
    assert_last(&store, id, &all, (10, 0, now)).await;
    // Both read paths (async and blocking) answered from memory.
    assert_eq!((misses(&store), hits(&store)), (m4, h4 + 2));
}

/// After a restart the cache does not know where its coverage starts; a function's first
/// last-N read (with the evaluation time as `at`) teaches it, and the next one is served
/// from memory.
#[tokio::test]
async fn after_a_restart_the_first_columnar_read_fills_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let ts = |i: i64| 10_000 + i * 10;
    {
        let (store, _) = open(dir.path(), options(dir.path())).await;
        store
            .write((0..100).map(|i| pt(12, ts(i), i as f64)).collect())
            .await
            .unwrap();
        store.flush().await.unwrap();
        store.close().await.unwrap();
    }
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let all: Vec<(i64, Value)> = (0..100).map(|i| (ts(i), Value::Num(i as f64))).collect();
    let id = SeriesId(12);
    let now = Some(ts(500));
    let m0 = store.stats().cache_misses;
    // `assert_last` reads twice (async, then blocking): one storage read in all.
    assert_last(&store, id, &all, (10, 0, now)).await;
    assert_eq!(store.stats().cache_misses, m0 + 1);
    assert_last(&store, id, &all, (10, 0, now)).await;
    assert_last(&store, id, &all, (4, 3, now)).await;
    assert_eq!(store.stats().cache_misses, m0 + 1);
    // A window reaching before what was filled goes to storage again, exactly.
    assert_last(&store, id, &all, (30, 0, now)).await;
    assert_last(&store, id, &all, (5, 0, Some(ts(50)))).await;
}

/// `read_columns` answers what `read` answers (paged through its caps), with cache and
/// storage merged: half the points flushed, later writes replacing flushed values and adding
/// strings still in memory only.
#[tokio::test]
async fn read_columns_matches_read_across_cache_and_storage() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let value = |i: i64| i as f64 * 0.5;
    store
        .write(
            (0..3000)
                .map(|i| pt(9, 10_000 + i * 10, value(i)))
                .collect(),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    // Unflushed: replacements of stored values, strings, and newer points.
    let mut later: Vec<IncomingPoint> = (2990..3100)
        .map(|i| pt(9, 10_000 + i * 10, -value(i)))
        .collect();
    for i in [2995, 3050] {
        later.push(IncomingPoint {
            series: SeriesRef::Id(SeriesId(9)),
            ts: Some(10_000 + i * 10),
            value: Value::Str(format!("s{i}")),
        });
    }
    store.write(later).await.unwrap();
    let expected_all = {
        // Every point, through the capped API, paged by its cursor.
        let mut all: Vec<(i64, Value)> = Vec::new();
        let mut req = range(9, i64::MIN, i64::MAX);
        loop {
            let r = store.read(&req).await.unwrap();
            let mut page = points(&r);
            page.extend(all);
            all = page;
            match r.next {
                Some(c) => req.cursor = Some(c),
                None => break,
            }
        }
        all
    };
    assert_eq!(expected_all.len(), 3100);
    let cols = |c: clio_storage::PointColumns| -> Vec<(i64, Value)> {
        c.into_points()
            .into_iter()
            .map(|p| (p.ts, p.value))
            .collect()
    };
    // Last N with skip and `at`, against the same slice of everything.
    for window in [
        (10, 0, None),
        (200, 0, None),
        (3100, 0, None),
        (5000, 0, None),
        (50, 20, None),
        (100, 0, Some(10_000 + 2995 * 10)),
        (100, 5, Some(10_000 + 3000 * 10)),
        // Before anything memory holds: storage answers alone, skip included.
        (50, 20, Some(10_000 + 1000 * 10)),
        (10, 900, Some(10_000 + 1000 * 10)),
        (10, 2000, Some(10_000 + 1000 * 10)),
    ] {
        assert_last(&store, SeriesId(9), &expected_all, window).await;
    }
    // A limit below n: the newest `limit`, marked truncated.
    let (got, truncated) = read_columns_both(
        &store,
        SeriesId(9),
        Window::Last {
            n: 500,
            skip: 0,
            at: None,
        },
        100,
    )
    .await
    .unwrap();
    assert_eq!(cols(got), expected_all[3000..].to_vec());
    assert!(truncated);
    // Ranges, with and without a limit.
    for (from, to, limit) in [
        (i64::MIN, i64::MAX, usize::MAX),
        (10_000 + 2980 * 10, 10_000 + 3010 * 10, usize::MAX),
        (10_000, 10_000 + 500 * 10, usize::MAX),
        (i64::MIN, i64::MAX, 42),
    ] {
        let (got, truncated) =
            read_columns_both(&store, SeriesId(9), Window::Range { from, to }, limit)
                .await
                .unwrap();
        let inside: Vec<_> = expected_all
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .cloned()
            .collect();
        let want = inside[inside.len().saturating_sub(limit)..].to_vec();
        assert_eq!(cols(got), want, "[{from}, {to}) limit {limit}");
        assert_eq!(truncated, inside.len() > limit);
    }
    assert!(matches!(
        read_columns_both(&store, SeriesId(404), Window::Range { from: 0, to: 1 }, 10).await,
        Err(Error::SeriesNotFound(_))
    ));
    store.close().await.unwrap();
}

#[tokio::test]
async fn fan_out_and_metadata_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.max_new_series_per_write = Some(3);
    o.max_metadata_bytes = 16;
    let (store, _) = open(dir.path(), o).await;
    // Four new series in one write: refused whole, nothing created.
    let e = store
        .write((1..=4).map(|s| pt(s, 1000, 1.0)).collect())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("would create 4 series") && e.contains("(3)"),
        "{e}"
    );
    assert!(store.list_series(&Default::default()).is_empty());
    // Three are fine, and points to known series never count.
    store
        .write((1..=3).map(|s| pt(s, 1000, 1.0)).collect())
        .await
        .unwrap();
    let rep = store
        .write((1..=6).map(|s| pt(s, 2000, 1.0)).collect())
        .await
        .unwrap();
    assert_eq!(rep.created_series, 3);
    // Metadata over the bound is refused and leaves the settings as they were.
    let big = SeriesUpdate {
        metadata: Some(BTreeMap::from([("unit".to_string(), "x".repeat(13))])),
        ..Default::default()
    };
    let e = store
        .update_series(SeriesId(1), &big)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("metadata of 17 bytes") && e.contains("16"),
        "{e}"
    );
    assert!(
        store
            .series(SeriesId(1))
            .unwrap()
            .settings
            .metadata
            .is_empty()
    );
    let ok = SeriesUpdate {
        metadata: Some(BTreeMap::from([("unit".to_string(), "kPa".to_string())])),
        ..Default::default()
    };
    store.update_series(SeriesId(1), &ok).await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn listings_page_through_the_catalog_index() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), options(dir.path())).await;
    let kp = |k: &str| IncomingPoint {
        series: SeriesRef::Key(k.parse().unwrap()),
        ts: Some(1000),
        value: Value::Num(1.0),
    };
    let mut batch: Vec<_> = (0..7)
        .map(|i| kp(&format!("pump,unit={i},site={} flow", i % 2)))
        .collect();
    batch.push(kp("tank,site=1 level"));
    batch.push(pt(5, 1000, 1.0));
    store.write(batch).await.unwrap();
    let every = SeriesFilter::default();
    let p1 = store.list_series_page(&every, None, 4);
    assert_eq!(p1.series.len(), 4);
    assert_eq!(p1.series[0].id, SeriesId(5), "numeric ids sort first");
    let p2 = store.list_series_page(&every, p1.next, 4);
    let p3 = store.list_series_page(&every, p2.next, 4);
    assert_eq!((p2.series.len(), p3.series.len(), p3.next), (4, 1, None));
    let site1 = SeriesFilter {
        tags: vec![("site".into(), "1".into())],
        ..Default::default()
    };
    let ids: Vec<_> = store
        .list_series_page(&site1, None, 100)
        .series
        .iter()
        .map(|s| s.key.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(store.measurements(), vec!["pump", "tank"]);
    // Deleting the only tank leaves no trace in the index.
    let tank = store.list_series_page(
        &SeriesFilter {
            measurement: Some("tank".into()),
            ..Default::default()
        },
        None,
        10,
    );
    store.delete_series(tank.series[0].id).await.unwrap();
    assert_eq!(store.measurements(), vec!["pump"]);
    store.close().await.unwrap();
}

/// Points of `series` that the SQLite file itself holds (not the engine's cache or log).
async fn stored(dir: &std::path::Path, series: u64) -> usize {
    use clio_storage::prelude::*;
    common::sqlite(dir)
        .read_range(SeriesId(series), i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap()
        .len()
}

/// A graceful stop whose final flush runs out of its budget stops between batches: what it
/// did not reach stays in the log, no flush mark claims it, and the next start replays it.
#[tokio::test]
async fn a_stop_out_of_flush_time_leaves_the_rest_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.flush_batch_points = 1; // one series a batch
    o.close_flush_budget = Some(std::time::Duration::ZERO);
    let (store, _) = open(dir.path(), o).await;
    let batch: Vec<_> = (1..=40u64)
        .flat_map(|s| (0..3).map(move |i| pt(s, 1_000 + i * 10, (s * 10 + i as u64) as f64)))
        .collect();
    store.write(batch).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    let mut in_file = 0;
    for s in 1..=40 {
        in_file += stored(dir.path(), s).await;
    }
    assert_eq!(in_file, 3, "only the first batch reached the file");

    // The next start replays the log: every point readable, then flushed for good.
    let (store, _) = open(dir.path(), options(dir.path())).await;
    for s in 1..=40u64 {
        let r = store.read(&range(s, 0, 10_000)).await.unwrap();
        let want: Vec<(i64, f64)> = (0..3)
            .map(|i| (1_000 + i * 10, (s * 10 + i as u64) as f64))
            .collect();
        assert_eq!(nums(&r), want, "series {s}");
    }
    store.close().await.unwrap();
    drop(store);
    for s in 1..=40 {
        assert_eq!(stored(dir.path(), s).await, 3, "series {s}");
    }
}

/// Under a stop's budget the final flush starts with small batches and grows them while time
/// is left: with time enough it flushes everything, nothing is left for the log.
#[tokio::test]
async fn a_stop_with_time_enough_flushes_everything_in_growing_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.flush_batch_points = 64; // the first batch under the budget: 4 points, two series
    o.close_flush_budget = Some(std::time::Duration::from_secs(30));
    let (store, _) = open(dir.path(), o).await;
    let batch: Vec<_> = (1..=40u64)
        .flat_map(|s| (0..3).map(move |i| pt(s, 1_000 + i * 10, s as f64)))
        .collect();
    store.write(batch).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    for s in 1..=40 {
        assert_eq!(stored(dir.path(), s).await, 3, "series {s}");
    }
}

/// Series creation waits for the log only: the primary's catalog gets new series from the
/// next flush (merged into one transaction), before their points, and a deletion made in
/// between stays ordered after the creation it follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_series_reach_the_primary_with_the_next_flush_in_order() {
    use clio_storage::{CatalogStore, PointStore};
    let dir = tempfile::tempdir().unwrap();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    let key = |s: &str| SeriesRef::Key(s.parse::<SeriesKey>().unwrap());
    for (i, k) in ["m,h=a f", "m,h=b f", "m,h=c f"].into_iter().enumerate() {
        store
            .write(vec![IncomingPoint {
                series: key(k),
                ts: Some(1_000 + i as i64),
                value: Value::Num(i as f64),
            }])
            .await
            .unwrap();
    }
    let b = store.series_id(&"m,h=b f".parse().unwrap()).unwrap();
    // Not yet in the primary: the ack did not wait for it.
    assert!(
        flaky
            .list_series(&SeriesFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_series(b).await.unwrap());
    // Readable from the engine before any flush.
    let a = store.series_id(&"m,h=a f".parse().unwrap()).unwrap();
    assert_eq!(
        points(&store.read(&last(a.0, 5, 0, None)).await.unwrap()).len(),
        1
    );
    store.flush().await.unwrap();
    let stored: Vec<String> = flaky
        .list_series(&SeriesFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|s| s.key.map(|k| k.to_string()))
        .collect();
    assert_eq!(
        stored,
        vec!["m,h=a f", "m,h=c f"],
        "b was deleted after it was created"
    );
    // The points went in after their series.
    let c = store.series_id(&"m,h=c f".parse().unwrap()).unwrap();
    let got = flaky.read_range(c, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(store.storage_status().backends[0].pending_changes, Some(0));
}

/// Queued creations keep only their ids and read what they send from the catalog when they
/// are applied: a series changed or deleted while the primary was down reaches it as the
/// catalog holds it, whether the queue is applied by a flush or rebuilt from the log after a
/// crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_creations_send_the_series_as_the_catalog_holds_it() {
    use clio_storage::CatalogStore;
    for crash in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (store, flaky) = open(dir.path(), options(dir.path())).await;
        flaky.down.store(true, Ordering::SeqCst);
        let rep = store
            .write((1..=3).map(|s| pt(s, 2000, 1.0)).collect())
            .await
            .unwrap();
        assert_eq!(rep.created_series, 3);
        let unit = SeriesUpdate {
            metadata: Some(BTreeMap::from([("unit".to_string(), "kPa".to_string())])),
            keep_history_days: Some(3),
            ..Default::default()
        };
        store.update_series(SeriesId(1), &unit).await.unwrap();
        assert!(store.delete_series(SeriesId(2)).await.unwrap());
        assert_eq!(
            store.storage_status().backends[0].pending_changes,
            Some(3),
            "one merged creation, the update and the deletion wait"
        );
        let (store, flaky) = if crash {
            store.abandon();
            open(dir.path(), options(dir.path())).await
        } else {
            flaky.down.store(false, Ordering::SeqCst);
            (store, flaky)
        };
        store.flush().await.unwrap();
        let stored = flaky.list_series(&SeriesFilter::default()).await.unwrap();
        store.close().await.unwrap();
        let ids: Vec<u64> = stored.iter().map(|s| s.id.0).collect();
        assert_eq!(ids, [1, 3], "crash={crash}: 2 was deleted");
        let one = &stored[0].settings;
        assert_eq!(one.metadata.get("unit").map(String::as_str), Some("kPa"));
        assert_eq!(one.keep_history_days, 3, "crash={crash}");
    }
}

/// After a crash, replay does not send the primary again the creations it already holds
/// (compared with the catalog it answered at start), and does send those it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_only_the_creations_the_primary_lacks() {
    use clio_storage::CatalogStore;
    let dir = tempfile::tempdir().unwrap();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    store.write(vec![pt(9, 1000, 1.0)]).await.unwrap();
    store.flush().await.unwrap();
    store
        .write((1..=3).map(|s| pt(s, 2000, 1.0)).collect())
        .await
        .unwrap();
    // A change made after queued creations applies them first: the primary holds 1..=3
    // while the log still holds their creations (no flush since).
    let unit = SeriesUpdate {
        keep_history_days: Some(3),
        ..Default::default()
    };
    store.update_series(SeriesId(9), &unit).await.unwrap();
    assert_eq!(flaky.created.load(Ordering::SeqCst), 4);
    flaky.down.store(true, Ordering::SeqCst);
    store
        .write((4..=5).map(|s| pt(s, 2000, 1.0)).collect())
        .await
        .unwrap();
    store.abandon();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    store.flush().await.unwrap();
    assert_eq!(
        flaky.created.load(Ordering::SeqCst),
        2,
        "only 4 and 5, which the primary never got"
    );
    let stored = flaky.list_series(&SeriesFilter::default()).await.unwrap();
    let ids: Vec<u64> = stored.iter().map(|s| s.id.0).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 9]);
    assert_eq!(stored[5].settings.keep_history_days, 3);
    for id in [1, 4] {
        let r = store.read(&range(id, 0, 10_000)).await.unwrap();
        assert_eq!(nums(&r), [(2000, 1.0)], "series {id}");
    }
    store.close().await.unwrap();
}

/// Replay drops a logged creation the primary holds before parsing it, judged against the
/// catalog as loaded; a series deleted and created again under its id later in the log is
/// not judged so, and survives with the points written after its deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_deleted_and_created_again_survives_replay() {
    use clio_storage::CatalogStore;
    let dir = tempfile::tempdir().unwrap();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    store.write(vec![pt(7, 1000, 1.0)]).await.unwrap();
    assert!(store.delete_series(SeriesId(7)).await.unwrap());
    let rep = store.write(vec![pt(7, 2000, 2.0)]).await.unwrap();
    assert_eq!(rep.created_series, 1);
    // A change applies the queued creation first: the primary holds 7 as created the
    // second time, and the log holds both creations and the deletion between them.
    store.write(vec![pt(8, 2000, 1.0)]).await.unwrap();
    let unit = SeriesUpdate {
        keep_history_days: Some(3),
        ..Default::default()
    };
    store.update_series(SeriesId(8), &unit).await.unwrap();
    assert!(flaky.get_series(SeriesId(7)).await.unwrap().is_some());
    store.abandon();
    let (store, flaky) = open(dir.path(), options(dir.path())).await;
    assert!(store.series(SeriesId(7)).is_some(), "7 was created again");
    let r = store.read(&range(7, 0, 10_000)).await.unwrap();
    assert_eq!(nums(&r), [(2000, 2.0)]);
    store.flush().await.unwrap();
    assert!(flaky.get_series(SeriesId(7)).await.unwrap().is_some());
    store.close().await.unwrap();
}
