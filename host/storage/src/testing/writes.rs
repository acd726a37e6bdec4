//! Write checks: what a write stores. Points written in one call or many, in order or late,
//! read back bit for bit with the counts `WriteSummary` reports; an overwrite replaces the
//! value in the raw points and in every trend bucket; strings of every shape, series mixing
//! strings and numbers, extreme numbers and extreme timestamps round-trip.

use crate::{Point, StorageBackend, Timestamp, TrendBucket, Value, WriteSummary};

use super::support::{
    MAX, MIN, Model, Rng, T0, assert_empty, assert_model, assert_points, assert_trends, assert_ts,
    create, largest_interval, model_last, model_range, read_all, read_last, read_range,
    read_trends, smallest_interval, sorted, sp, stats, write, write_model,
};

/// Points written in one batch across several series read back bit for bit; the summary
/// counts points and trend buckets; empty batches are fine; an unwritten series is empty.
pub async fn check_write_read_back(b: &dyn StorageBackend) {
    create(b, &[1, 2, 3]).await;
    assert_empty(b, 1, "before any write").await;

    let s = write(b, &[], "empty batch").await;
    assert_eq!((s.points, s.replaced), (0, 0), "empty batch summary");
    let s = write(b, &[sp(1, Vec::new())], "batch with no points").await;
    assert_eq!((s.points, s.replaced), (0, 0), "empty points summary");
    assert_empty(b, 1, "after empty writes").await;

    let p1: Vec<Point> = (0..500)
        .map(|i| Point::new(T0 + i * 7_000, (i as f64) * 0.25 - 20.0))
        .collect();
    let p2: Vec<Point> = (0..200)
        .map(|i| {
            let ts = T0 - 3_600_000 + i * 45_000;
            if i % 3 == 0 {
                Point::new(ts, format!("state {i}"))
            } else {
                Point::new(ts, i as f64)
            }
        })
        .collect();
    let summary = write(b, &[sp(1, p1.clone()), sp(2, p2.clone())], "first write").await;
    let buckets: u64 = b
        .trend_intervals()
        .iter()
        .map(|&iv| (TrendBucket::build(iv, &p1).len() + TrendBucket::build(iv, &p2).len()) as u64)
        .sum();
    assert_eq!(
        summary,
        WriteSummary {
            points: 700,
            replaced: 0,
            trend_buckets: buckets
        },
        "summary of a write of new points into empty series (trend_buckets = distinct buckets \
         touched, all intervals)"
    );

    assert_points(&read_all(b, 1, "read back").await, &p1, "series 1");
    assert_points(&read_all(b, 2, "read back").await, &p2, "series 2");
    assert_trends(b, 1, &p1, "after first write").await;
    assert_trends(b, 2, &p2, "after first write").await;
    assert_empty(b, 3, "unwritten series next to written ones").await;

    // Appending in a second call continues the series.
    let p1b: Vec<Point> = (500..800)
        .map(|i| Point::new(T0 + i * 7_000, i as f64))
        .collect();
    write(b, &[sp(1, p1b.clone())], "append").await;
    let all: Vec<Point> = p1.iter().chain(&p1b).cloned().collect();
    assert_points(
        &read_all(b, 1, "append").await,
        &all,
        "series 1 after append",
    );
    assert_trends(b, 1, &all, "after append").await;
}

/// Writing an existing timestamp replaces its value (never a duplicate), counts in
/// `WriteSummary::replaced`, leaves the point count alone, and replaces the old value's
/// contribution to every trend bucket instead of adding to it.
pub async fn check_overwrite(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let ts = |i: i64| T0 + i * 1_000;
    let mut m = Model::new();
    let ctx = "overwrite";
    write_model(
        b,
        1,
        (0..100).map(|i| Point::new(ts(i), i as f64)).collect(),
        &mut m,
        ctx,
    )
    .await;

    let over: Vec<Point> = (0..100)
        .step_by(10)
        .map(|i| Point::new(ts(i), 1000.0 + i as f64))
        .collect();
    write_model(b, 1, over.clone(), &mut m, "overwrite 10 points").await;
    assert_eq!(
        read_all(b, 1, ctx).await.len(),
        100,
        "point count unchanged by overwrites"
    );
    assert_eq!(
        stats(b, 1, ctx).await.points,
        100,
        "stats.points unchanged by overwrites"
    );
    assert_model(b, 1, &m, "after overwriting 10 points").await;

    // The same values again still count as replaced.
    write_model(b, 1, over, &mut m, "rewrite identical values").await;
    assert_model(b, 1, &m, "after rewriting identical values").await;

    // New and existing timestamps mixed in one call.
    let mixed = sorted(
        (0..20)
            .map(|i| Point::new(ts(i) + 500, -(i as f64)))
            .chain((5..16).map(|i| Point::new(ts(i), 7.5)))
            .collect(),
    );
    write_model(b, 1, mixed, &mut m, "new and replaced points").await;
    assert_eq!(read_all(b, 1, ctx).await.len(), 120, "20 new points");
    assert_model(b, 1, &m, "after mixed write").await;

    // Type changes: number → string, number → numeric-like string, string → number.
    let types = vec![
        Point::new(ts(20), "text"),
        Point::new(ts(21), " 42 "),
        Point::new(ts(22), "x"),
    ];
    write_model(b, 1, types, &mut m, "number to string").await;
    write_model(
        b,
        1,
        vec![Point::new(ts(22), 3.0)],
        &mut m,
        "string to number",
    )
    .await;
    assert_model(b, 1, &m, "after type changes").await;

    // One point alone in its bucket, spelled out.
    let iv = smallest_interval(b);
    let t = iv.bucket_start(T0) + iv.ms() / 2;
    let only = |b: &[TrendBucket]| -> Vec<(u64, f64, f64, f64, f64)> {
        b.iter()
            .map(|x| (x.count, x.sum, x.sum_sq, x.min, x.last))
            .collect()
    };
    let mut m2 = Model::new();
    write_model(b, 2, vec![Point::new(t, 10.0)], &mut m2, "single").await;
    write_model(b, 2, vec![Point::new(t, 20.0)], &mut m2, "single replaced").await;
    for &iv in b.trend_intervals() {
        let got = read_trends(b, 2, iv, MIN, MAX, ctx).await;
        assert_eq!(
            only(&got),
            [(1, 20.0, 400.0, 20.0, 20.0)],
            "interval {iv}: overwriting 10 with 20 must give count 1, sum 20 (not 30)"
        );
    }
    write_model(b, 2, vec![Point::new(t, "abc")], &mut m2, "single to text").await;
    for &iv in b.trend_intervals() {
        let got = read_trends(b, 2, iv, MIN, MAX, ctx).await;
        assert!(
            got.is_empty(),
            "interval {iv}: a bucket whose only number became text must disappear: {got:?}"
        );
    }
    write_model(b, 2, vec![Point::new(t, 5.0)], &mut m2, "text to number").await;
    assert_model(b, 2, &m2, "single point series").await;
}

/// Late and out-of-order writes in separate calls: interleaved with stored points, older than
/// everything, inside old data, scattered with some replacements, several series per call.
/// After every call raw points and trends equal the model.
pub async fn check_late_writes(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let mut m1 = Model::new();
    let mut m2 = Model::new();
    let mut rng = Rng::new(0x1a7e);
    let minute = 60_000;

    let a: Vec<Point> = (0..2000)
        .map(|i| Point::new(T0 + i * minute, i as f64))
        .collect();
    write_model(b, 1, a, &mut m1, "in-order batch").await;
    assert_model(b, 1, &m1, "in-order batch").await;

    let interleaved: Vec<Point> = (0..2000)
        .map(|i| Point::new(T0 + i * minute + 30_000, -(i as f64)))
        .collect();
    write_model(b, 1, interleaved, &mut m1, "interleaved batch").await;
    assert_model(b, 1, &m1, "interleaved batch").await;

    let older: Vec<Point> = (0..500)
        .map(|i| Point::new(T0 - 1 - (500 - i) * 17_000, 0.5 * i as f64))
        .collect();
    write_model(b, 1, older, &mut m1, "batch older than everything").await;
    assert_model(b, 1, &m1, "older batch").await;

    let newer: Vec<Point> = (0..100)
        .map(|i| Point::new(T0 + 3000 * minute + i * 1000, 1e6 + i as f64))
        .collect();
    write_model(b, 1, newer, &mut m1, "batch after a gap").await;

    // Scattered: half on stored timestamps (replacements), half new.
    let stored: Vec<Timestamp> = m1.keys().copied().collect();
    let scattered = sorted(
        (0..300)
            .map(|_| {
                let ts = if rng.chance(0.5) {
                    stored[rng.below(stored.len() as u64) as usize]
                } else {
                    rng.range(T0 - 10_000_000, T0 + 3100 * minute)
                };
                Point::new(ts, rng.range(-1000, 1000) as f64 / 8.0)
            })
            .collect(),
    );
    write_model(b, 1, scattered, &mut m1, "scattered batch").await;
    assert_model(b, 1, &m1, "scattered batch").await;

    // A single point in the middle of old data, together with a new series in one call.
    let mid = T0 + 1000 * minute + 15_000;
    let other: Vec<Point> = (0..50)
        .map(|i| Point::new(T0 + i * 999, i as f64))
        .collect();
    let replaced = u64::from(m1.contains_key(&mid));
    m1.insert(mid, Value::Num(123.25));
    for p in &other {
        m2.insert(p.ts, p.value.clone());
    }
    let s = write(
        b,
        &[sp(1, vec![Point::new(mid, 123.25)]), sp(2, other)],
        "two series in one call",
    )
    .await;
    assert_eq!(
        (s.points, s.replaced),
        (51, replaced),
        "summary over two series"
    );
    assert_model(b, 1, &m1, "single late point").await;
    assert_model(b, 2, &m2, "second series").await;

    // Late points for series 2 that fall between its points and before them.
    let late2: Vec<Point> = (0..50)
        .map(|i| Point::new(T0 - 25_000 + i * 999 + 500, "late"))
        .collect();
    write_model(b, 2, sorted(late2), &mut m2, "late strings").await;
    assert_model(b, 1, &m1, "series 1 unaffected").await;
    assert_model(b, 2, &m2, "late strings").await;
}

/// String values of every shape round-trip exactly, alone and mixed with numbers in one
/// series, including replacing one type by the other.
pub async fn check_strings_and_mixed(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let long: String = "0123456789abcdef".repeat(700);
    let strings = [
        "",
        "a",
        "héllo wörld ✓",
        "emoji 😀🚀",
        "nul\0inside",
        "line\nbreak\ttab",
        "quotes \"' and \\ backslash",
        " 12 ",
        "1e3",
        "0x10",
        "NaN",
        "inf",
        long.as_str(),
        "   ",
    ];
    let mut m1 = Model::new();
    let pts: Vec<Point> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| Point::new(T0 + i as i64 * 90_000, *s))
        .collect();
    write_model(b, 1, pts, &mut m1, "strings").await;
    assert_model(b, 1, &m1, "string series").await;
    assert_points(
        &read_last(b, 1, 2, MAX, "strings").await,
        &model_last(&m1, 2, MAX),
        "read_last of strings",
    );
    assert_points(
        &read_range(b, 1, T0 + 90_000, T0 + 5 * 90_000, 3, "strings").await,
        &model_range(&m1, T0 + 90_000, T0 + 5 * 90_000, 3),
        "read_range of strings",
    );

    let mut m2 = Model::new();
    let mixed: Vec<Point> = (0..600)
        .map(|i| {
            let ts = T0 + i * 20_000;
            match i % 4 {
                0 => Point::new(ts, format!("s{i}")),
                1 => Point::new(ts, i as f64),
                2 => Point::new(ts, format!("{}", i as f64 / 4.0)),
                _ => Point::new(ts, -(i as f64) / 3.0),
            }
        })
        .collect();
    write_model(b, 2, mixed, &mut m2, "mixed").await;
    assert_model(b, 2, &m2, "mixed series").await;
    let swap: Vec<Point> = (0..600)
        .step_by(5)
        .map(|i| {
            let ts = T0 + i * 20_000;
            if i % 4 == 0 {
                Point::new(ts, 0.5)
            } else {
                Point::new(ts, "swapped")
            }
        })
        .collect();
    write_model(b, 2, swap, &mut m2, "swap types").await;
    assert_model(b, 2, &m2, "mixed series after swapping types").await;
}

/// Extreme finite numbers round-trip bit for bit (`-0.0` keeps its sign) and their trends are
/// right; sums that overflow to infinity are not prescribed but must not break the write.
pub async fn check_edge_values(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let values = [
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::from_bits(0x000F_FFFF_FFFF_FFFF),
        f64::EPSILON,
        1.0 / 3.0,
        std::f64::consts::PI,
        9_007_199_254_740_993.0,
        -123_456_789.125,
        1e300,
        -1e-300,
        1e15 + 0.5,
    ];
    let mut m1 = Model::new();
    let pts: Vec<Point> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| Point::new(T0 + i as i64 * 100_003, v))
        .collect();
    write_model(b, 1, pts, &mut m1, "edge values").await;
    assert_model(b, 1, &m1, "edge values").await;
    let zero = read_range(b, 1, T0, T0 + 1, 1, "edge").await;
    let neg_zero = zero.first().and_then(|p| p.value.as_f64());
    assert!(
        neg_zero.is_some_and(|v| v == 0.0 && v.is_sign_negative()),
        "-0.0 must keep its sign, got {neg_zero:?}"
    );

    // One value of each sign at the extremes, so that no summation order overflows the sum.
    let huge = [f64::MAX, f64::MIN, 1.0, -2.5];
    let mut m2 = Model::new();
    let pts: Vec<Point> = huge
        .iter()
        .enumerate()
        .map(|(i, &v)| Point::new(T0 + i as i64, v))
        .collect();
    write_model(b, 2, pts, &mut m2, "huge values").await;
    assert_model(b, 2, &m2, "huge values").await;
    let iv = smallest_interval(b);
    let got = read_trends(b, 2, iv, MIN, MAX, "huge").await;
    assert_eq!(got.len(), 1, "one bucket of huge values");
    assert_eq!(
        (
            got[0].count,
            got[0].min,
            got[0].max,
            got[0].first,
            got[0].last
        ),
        (4, f64::MIN, f64::MAX, f64::MAX, -2.5),
        "count, min, max, first, last of huge values"
    );
}

/// Timestamps far from now (±2^50, 2^53 + 1, which an f64 cannot hold), negative ones and
/// ones on bucket boundaries: stored exactly, ordered correctly, bucketed by floor division.
/// A backend declaring a timestamp range ([`crate::Limits::timestamps`]) is given only the
/// timestamps inside it here; `check_declared_limits` checks that the others are refused.
pub async fn check_edge_timestamps(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let limits = b.capabilities().limits;
    let held = |ts: &[Timestamp]| -> Vec<Timestamp> {
        ts.iter()
            .copied()
            .filter(|&t| limits.holds_timestamp(t))
            .collect()
    };
    let iv = smallest_interval(b).ms();
    let day = largest_interval(b).ms();
    let big = 1i64 << 50;
    let positive = held(&[0, 1, iv - 1, iv, day - 1, day, big, (1i64 << 53) + 1]);
    let negative = held(&[-big, -day - 1, -day, -iv - 1, -iv, -iv + 1, -1]);
    let mut m = Model::new();
    let pos: Vec<Point> = positive.iter().map(|&t| Point::new(t, t as f64)).collect();
    write_model(b, 1, sorted(pos), &mut m, "non-negative timestamps").await;
    let neg: Vec<Point> = negative
        .iter()
        .map(|&t| Point::new(t, format!("{t}")))
        .collect();
    write_model(
        b,
        1,
        sorted(neg),
        &mut m,
        "negative timestamps, written late",
    )
    .await;
    assert_model(b, 1, &m, "edge timestamps").await;

    let ctx = "edge timestamps";
    assert_ts(&read_range(b, 1, -1, 1, 10, ctx).await, &[-1, 0], "[-1, 1)");
    assert_ts(
        &read_range(b, 1, -big, -big + 1, 10, ctx).await,
        &held(&[-big]),
        "[-2^50, -2^50+1)",
    );
    assert_ts(
        &read_range(b, 1, big, MAX, 10, ctx).await,
        &held(&[big, (1 << 53) + 1]),
        "[2^50, MAX)",
    );
    assert_ts(
        &read_last(b, 1, 1, 0, ctx).await,
        &[-1],
        "read_last before 0",
    );
    let newest = positive
        .iter()
        .copied()
        .max()
        .map(|t| vec![t])
        .unwrap_or_default();
    assert_ts(&read_last(b, 1, 1, MAX, ctx).await, &newest, "newest");
    assert_ts(
        &read_last(b, 1, 1, -day, ctx).await,
        &[-day - 1],
        "before -day",
    );

    // -1 lies in the bucket [-I, 0), not [0, I).
    let small = smallest_interval(b);
    let got = read_trends(b, 1, small, -small.ms(), 1, ctx).await;
    let starts: Vec<Timestamp> = got.iter().map(|b| b.start).collect();
    assert_eq!(starts, [-small.ms(), 0], "buckets around zero");
    assert_eq!(got[0].count, 3, "-I, -I+1 and -1 share the bucket [-I, 0)");
    assert_eq!((got[0].first_ts, got[0].last_ts), (-small.ms(), -1));
}
