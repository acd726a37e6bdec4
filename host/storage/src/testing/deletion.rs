//! Deletion checks: `delete_points` and `delete_trends` remove exactly their range and
//! nothing else (deleting raw points never rewrites trends), and `expire` applies a whole
//! retention batch with one exact outcome per entry.

use std::collections::BTreeMap;

use crate::{
    Expiry, ExpiryOutcome, Point, SeriesId, SeriesPoints, StorageBackend, StorageError, Timestamp,
    TrendBucket, TrendInterval, Value,
};

use super::support::{
    MAX, MIN, Model, T0, assert_bucket_list, assert_gone, assert_model, assert_points,
    assert_trends, assert_ts, create, expected_buckets, largest_interval, model_points, ok,
    read_all, read_last, read_range, read_trends, smallest_interval, sp, stats, write, write_model,
};

/// `delete_points` removes exactly `[from, to)` (a point on `from` goes, one on `to` stays),
/// answers how many went, keeps trends untouched and other series intact.
pub async fn check_delete_points(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let mut m = Model::new();
    let ts = |i: i64| T0 + i * 1_000;
    for part in 0..4 {
        let pts: Vec<Point> = (part * 250..(part + 1) * 250)
            .map(|i| Point::new(ts(i), i as f64))
            .collect();
        write_model(b, 1, pts, &mut m, "delete setup").await;
    }
    let other: Vec<Point> = (0..1000).map(|i| Point::new(ts(i), 1.0)).collect();
    write(b, &[sp(2, other.clone())], "delete setup").await;
    let trends_before = trend_snapshot(b, 1).await;

    let del = |from, to| async move {
        ok(
            b.delete_points(SeriesId(1), from, to).await,
            format!("delete_points(1, {from}, {to})"),
        )
    };
    assert_eq!(
        del(ts(100), ts(200)).await,
        100,
        "[ts100, ts200) deletes 100"
    );
    let cut: Vec<Timestamp> = (100..200).map(ts).collect();
    for t in &cut {
        m.remove(t);
    }
    assert_model_raw(b, 1, &m, "after deleting [ts100, ts200)").await;
    assert_ts(
        &read_range(b, 1, ts(99), ts(201), 10, "boundaries").await,
        &[ts(99), ts(200)],
        "ts99 and ts200 survive",
    );
    assert_eq!(
        del(ts(100), ts(200)).await,
        0,
        "nothing left to delete there"
    );
    assert_eq!(
        del(ts(150) + 1, ts(150) + 999).await,
        0,
        "a range between points"
    );
    assert_eq!(
        del(ts(150), ts(250)).await,
        50,
        "overlapping a deleted range"
    );
    for i in 200..250 {
        m.remove(&ts(i));
    }
    assert_eq!(
        del(ts(500) + 1, ts(502)).await,
        1,
        "from just after a point"
    );
    m.remove(&ts(501));
    assert_model_raw(b, 1, &m, "after more deletes").await;
    match b.delete_points(SeriesId(1), ts(900), ts(800)).await {
        Ok(n) => assert_eq!(n, 0, "a reversed range deletes nothing"),
        Err(StorageError::InvalidInput(_)) => {}
        Err(e) => panic!("reversed delete_points: expected 0 or InvalidInput, got {e}"),
    }
    let st = stats(b, 1, "after deletes").await;
    assert_eq!(st.points, m.len() as u64, "stats.points after deletes");

    assert_eq!(
        trend_snapshot(b, 1).await,
        trends_before,
        "delete_points must keep trends"
    );
    assert_points(&read_all(b, 2, "other").await, &other, "series 2 untouched");

    let left = m.len() as u64;
    assert_eq!(del(MIN, MAX).await, left, "deleting everything");
    assert!(
        read_all(b, 1, "all deleted").await.is_empty(),
        "no points left"
    );
    let st = stats(b, 1, "all deleted").await;
    assert_eq!(
        (st.points, st.first_ts, st.last_ts),
        (0, None, None),
        "stats when empty"
    );
    assert_eq!(
        trend_snapshot(b, 1).await,
        trends_before,
        "trends kept after deleting all"
    );

    // The series still takes writes.
    let mut m2 = Model::new();
    write_model(
        b,
        1,
        vec![Point::new(ts(5000), 9.0)],
        &mut m2,
        "write after delete",
    )
    .await;
    assert_model_raw(b, 1, &m2, "write after delete").await;
}

/// Every trend bucket of series `id`, per interval, to compare before and after a change.
async fn trend_snapshot(b: &dyn StorageBackend, id: u64) -> Vec<(TrendInterval, Vec<TrendBucket>)> {
    let mut out = Vec::new();
    for &iv in b.trend_intervals() {
        out.push((iv, read_trends(b, id, iv, MIN, MAX, "trend snapshot").await));
    }
    out
}

/// Raw points of one series equal the model; trends are not compared (deletes keep them).
async fn assert_model_raw(b: &dyn StorageBackend, id: u64, m: &Model, ctx: &str) {
    assert_points(&read_all(b, id, ctx).await, &model_points(m), ctx);
}

/// `delete_trends` removes the buckets starting in `[from, to)`, of one interval or of all,
/// answers how many went, and leaves raw points and other intervals alone.
pub async fn check_delete_trends(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let small = smallest_interval(b);
    let pts: Vec<Point> = (0..600)
        .map(|i| Point::new(T0 + i * small.ms() / 7, i as f64))
        .collect();
    write(
        b,
        &[sp(1, pts.clone()), sp(2, pts.clone())],
        "delete_trends setup",
    )
    .await;
    let before = trend_snapshot(b, 1).await;
    let ctx = "delete_trends";

    let all_small = read_trends(b, 1, small, MIN, MAX, ctx).await;
    assert!(
        all_small.len() >= 10,
        "setup spans at least 10 {small} buckets"
    );
    let from = all_small[2].start;
    let to = all_small[6].start;
    let n = ok(
        b.delete_trends(SeriesId(1), Some(small), from + 1, to + 1)
            .await,
        "delete_trends(one interval)",
    );
    assert_eq!(n, 4, "buckets starting in [s2+1, s6+1) are s3..=s6");
    let want: Vec<TrendBucket> = all_small
        .iter()
        .filter(|x| !(x.start > from && x.start <= to))
        .cloned()
        .collect();
    assert_eq!(
        read_trends(b, 1, small, MIN, MAX, ctx).await,
        want,
        "remaining {small} buckets"
    );
    for (iv, bk) in &before {
        if *iv != small {
            assert_eq!(
                &read_trends(b, 1, *iv, MIN, MAX, ctx).await,
                bk,
                "interval {iv} untouched"
            );
        }
    }
    assert_eq!(
        ok(
            b.delete_trends(SeriesId(1), Some(small), from + 1, to + 1)
                .await,
            "delete_trends again"
        ),
        0,
        "nothing left there"
    );

    let remaining: u64 = trend_snapshot(b, 1)
        .await
        .iter()
        .map(|(_, v)| v.len() as u64)
        .sum();
    let n = ok(
        b.delete_trends(SeriesId(1), None, MIN, MAX).await,
        "delete_trends(all)",
    );
    assert_eq!(
        n, remaining,
        "delete_trends(None) counts buckets of every interval"
    );
    for &iv in b.trend_intervals() {
        assert!(
            read_trends(b, 1, iv, MIN, MAX, ctx).await.is_empty(),
            "interval {iv} still has buckets"
        );
    }
    assert_points(&read_all(b, 1, ctx).await, &pts, "raw points untouched");
    assert_trends(b, 2, &pts, "other series' trends untouched").await;

    // A time-limited delete of all intervals.
    let big = largest_interval(b);
    let cut = big.bucket_start(T0) + big.ms();
    let want: u64 = b
        .trend_intervals()
        .iter()
        .map(|&iv| {
            TrendBucket::build(iv, &pts)
                .iter()
                .filter(|x| x.start >= cut)
                .count() as u64
        })
        .sum();
    let n = ok(
        b.delete_trends(SeriesId(2), None, cut, MAX).await,
        "delete_trends(None, from cut)",
    );
    assert_eq!(
        n, want,
        "buckets of all intervals starting at or after {cut}"
    );
    for &iv in b.trend_intervals() {
        let want: Vec<(TrendBucket, f64, f64)> = expected_buckets(iv, &pts)
            .into_iter()
            .filter(|x| x.0.start < cut)
            .collect();
        let got = read_trends(b, 2, iv, MIN, MAX, ctx).await;
        assert_bucket_list(
            &got,
            &want,
            &format!("interval {iv}: buckets before the cut kept"),
        );
    }
}

/// `expire` applies a whole batch: raw points stamped before `raw_before` go (a point on the
/// cut stays), exactly, whether the cut falls between the chunks of separate writes or inside
/// one; trend buckets go per listed interval only (others and raw points stay, and raw cuts
/// leave trends alone); outcomes come one per entry, in order, with exact counts. A series the
/// store does not know (never created, or deleted) is skipped with an empty outcome and does
/// not stop the batch; an empty batch does nothing; a series listed twice is cut twice; and
/// repeating a batch deletes nothing more.
pub async fn check_expire(b: &dyn StorageBackend) {
    const N: i64 = 1024;
    let ts = |i: i64| T0 + i * 1_000;
    let value = |id: u64, i: i64| Value::Num((i % 97) as f64 + id as f64 / 8.0);
    // Series 1..=15 hold the same timestamps, written 256 points per call, so a backend whose
    // chunks follow write boundaries (SQLite with 256-point chunks, as in its conformance run)
    // has chunk boundaries between points 255|256, 511|512 and 767|768.
    let ids: Vec<u64> = (1..=16).collect();
    create(b, &ids).await;
    for part in 0..4 {
        let batch: Vec<SeriesPoints> = ids
            .iter()
            .map(|&id| {
                sp(
                    id,
                    (part * 256..(part + 1) * 256)
                        .map(|i| Point::new(ts(i), value(id, i)))
                        .collect(),
                )
            })
            .collect();
        write(b, &batch, "expire setup").await;
    }
    let model = |id: u64| -> Model { (0..N).map(|i| (ts(i), value(id, i))).collect() };
    let all_points = |id: u64| model_points(&model(id));
    ok(
        b.delete_series(SeriesId(16)).await,
        "expire setup: delete_series(16)",
    );
    let trends_before: BTreeMap<u64, Vec<(TrendInterval, Vec<TrendBucket>)>> = {
        let mut m = BTreeMap::new();
        for id in [3, 7, 13, 14] {
            m.insert(id, trend_snapshot(b, id).await);
        }
        m
    };

    // An empty batch.
    assert_eq!(
        ok(b.expire(&[]).await, "expire(empty batch)"),
        Vec::<ExpiryOutcome>::new(),
        "an empty batch has no outcomes"
    );
    assert_model_raw(b, 1, &model(1), "expire: after an empty batch").await;

    // One batch: raw cuts at and between chunk boundaries and inside chunks, an unknown and
    // a deleted series in the middle, trend-only and combined entries, a duplicate.
    let raw_cuts: [(u64, Timestamp, &str); 12] = [
        (1, ts(0), "on the first point (deletes nothing)"),
        (2, ts(0) + 1, "just after the first point"),
        (3, ts(255), "on the last point of the first write"),
        (4, ts(255) + 1, "between the first and the second write"),
        (5, ts(256), "on the first point of the second write"),
        (6, ts(257), "just inside the second write"),
        (7, ts(600), "inside the third write"),
        (8, ts(768), "on the first point of the last write"),
        (9, ts(N - 1), "on the last point"),
        (10, ts(N - 1) + 1, "just after the last point (deletes all)"),
        (11, MAX, "at MAX (deletes all)"),
        (12, MIN, "at MIN (deletes nothing)"),
    ];
    let raw_only = |id: u64, cut: Timestamp| Expiry {
        series: SeriesId(id),
        raw_before: Some(cut),
        trends_before: Vec::new(),
    };
    let small = smallest_interval(b);
    let big = largest_interval(b);
    let small_buckets = TrendBucket::build(small, &all_points(13));
    let big_buckets = TrendBucket::build(big, &all_points(13));
    // On a bucket start (that bucket stays) and just after one (that bucket goes).
    let small_cut = small_buckets[small_buckets.len() / 2].start;
    let big_cut = big_buckets[0].start + 1;
    let mut trend_cuts = vec![(small, small_cut)];
    if big != small {
        trend_cuts.push((big, big_cut));
    }
    let combined_cut = ts(512);
    let combined_trends: Vec<(TrendInterval, Timestamp)> = b
        .trend_intervals()
        .iter()
        .map(|&iv| (iv, combined_cut))
        .collect();

    let mut batch: Vec<Expiry> = raw_cuts[..5]
        .iter()
        .map(|&(id, cut, _)| raw_only(id, cut))
        .collect();
    batch.push(raw_only(999, MAX));
    batch.extend(raw_cuts[5..].iter().map(|&(id, cut, _)| raw_only(id, cut)));
    batch.push(Expiry {
        series: SeriesId(13),
        raw_before: None,
        trends_before: trend_cuts.clone(),
    });
    batch.push(Expiry {
        series: SeriesId(16),
        raw_before: Some(MAX),
        trends_before: combined_trends.clone(),
    });
    batch.push(Expiry {
        series: SeriesId(15),
        raw_before: Some(combined_cut),
        trends_before: combined_trends.clone(),
    });
    batch.push(raw_only(6, ts(700)));

    let below = |cut: Timestamp| (0..N).filter(|&i| ts(i) < cut).count() as u64;
    let mut want: Vec<ExpiryOutcome> = Vec::new();
    for (k, &(id, cut, _)) in raw_cuts.iter().enumerate() {
        if k == 5 {
            want.push(ExpiryOutcome::none(SeriesId(999)));
        }
        want.push(ExpiryOutcome {
            series: SeriesId(id),
            points: below(cut),
            buckets: 0,
        });
    }
    let trend_cut_count = |cuts: &[(TrendInterval, Timestamp)], points: &[Point]| -> u64 {
        cuts.iter()
            .map(|&(iv, cut)| {
                TrendBucket::build(iv, points)
                    .iter()
                    .filter(|x| x.start < cut)
                    .count() as u64
            })
            .sum()
    };
    want.push(ExpiryOutcome {
        series: SeriesId(13),
        points: 0,
        buckets: trend_cut_count(&trend_cuts, &all_points(13)),
    });
    want.push(ExpiryOutcome::none(SeriesId(16)));
    want.push(ExpiryOutcome {
        series: SeriesId(15),
        points: below(combined_cut),
        buckets: trend_cut_count(&combined_trends, &all_points(15)),
    });
    want.push(ExpiryOutcome {
        series: SeriesId(6),
        points: below(ts(700)) - below(ts(257)),
        buckets: 0,
    });
    assert!(
        want.iter().skip(1).any(|o| o.buckets > 0),
        "setup: the trend cuts delete something"
    );

    let got = ok(
        b.expire(&batch).await,
        "expire with unknown series 999 and deleted series 16 in the batch",
    );
    assert_eq!(
        got, want,
        "expire outcomes (one per entry, in order, exact counts)"
    );

    // Raw points: exactly the cut, per series.
    for &(id, cut, what) in &raw_cuts {
        let cut = if id == 6 { ts(700) } else { cut };
        let m: Model = model(id).into_iter().filter(|(t, _)| *t >= cut).collect();
        assert_model_raw(b, id, &m, &format!("expire: series {id}, raw cut {what}")).await;
    }
    assert_ts(
        &read_last(b, 5, 1, ts(300), "expire: cut on a point").await,
        &[ts(299)],
        "expire: the point on the cut stays",
    );
    let st = stats(b, 5, "expire").await;
    assert_eq!(
        (st.points, st.first_ts, st.last_ts),
        ((N - 256) as u64, Some(ts(256)), Some(ts(N - 1))),
        "expire: stats of series 5 after its cut"
    );
    // Raw cuts keep trends; trend cuts keep raw points.
    for id in [3, 7] {
        assert_eq!(
            trend_snapshot(b, id).await,
            trends_before[&id],
            "expire: a raw cut must keep the trends of series {id}"
        );
    }
    assert_model_raw(b, 13, &model(13), "expire: trend cuts keep raw points").await;
    assert_model(b, 14, &model(14), "expire: series 14 was not in the batch").await;
    for &iv in b.trend_intervals() {
        let cut = trend_cuts
            .iter()
            .filter(|(i, _)| *i == iv)
            .map(|&(_, c)| c)
            .max();
        let want: Vec<(TrendBucket, f64, f64)> = expected_buckets(iv, &all_points(13))
            .into_iter()
            .filter(|x| cut.is_none_or(|c| x.0.start >= c))
            .collect();
        assert_bucket_list(
            &read_trends(b, 13, iv, MIN, MAX, "expire").await,
            &want,
            &format!(
                "expire: series 13 interval {iv} (listed: {})",
                cut.is_some()
            ),
        );
    }
    // The combined entry: buckets before the cut go, later ones keep the aggregates of the
    // points that are gone now (deleting raw points never rewrites trends).
    let m15: Model = model(15)
        .into_iter()
        .filter(|(t, _)| *t >= combined_cut)
        .collect();
    assert_model_raw(b, 15, &m15, "expire: series 15 raw").await;
    for &iv in b.trend_intervals() {
        let want: Vec<(TrendBucket, f64, f64)> = expected_buckets(iv, &all_points(15))
            .into_iter()
            .filter(|x| x.0.start >= combined_cut)
            .collect();
        assert_bucket_list(
            &read_trends(b, 15, iv, MIN, MAX, "expire").await,
            &want,
            &format!("expire: series 15 interval {iv}"),
        );
    }
    assert_gone(b, 16, "expire: a deleted series in the batch stays gone").await;

    // Repeating the batch deletes nothing more.
    let again = ok(b.expire(&batch).await, "expire (the same batch again)");
    let zero: Vec<ExpiryOutcome> = batch
        .iter()
        .map(|e| ExpiryOutcome::none(e.series))
        .collect();
    assert_eq!(again, zero, "expire: repeating a batch deletes nothing");
    assert_model_raw(
        b,
        7,
        &model(7)
            .into_iter()
            .filter(|(t, _)| *t >= ts(600))
            .collect(),
        "expire: series 7 after the repeat",
    )
    .await;

    // An emptied series still takes writes.
    let mut m10 = Model::new();
    write_model(
        b,
        10,
        vec![Point::new(ts(2 * N), 5.0)],
        &mut m10,
        "expire: write after expiring everything",
    )
    .await;
    assert_model_raw(b, 10, &m10, "expire: write after expiring everything").await;
}
