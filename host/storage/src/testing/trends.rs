//! Trend checks: the buckets of every interval equal [`TrendBucket::build`] over the raw
//! points, through bucket boundaries, late points, overwrites and numeric-like strings;
//! `read_trends` selects buckets by their start; `put_trends` stores buckets as given; and
//! trends follow the points whoever maintains them (`Native` or `Given`).

use std::collections::BTreeMap;

use crate::{Point, SeriesId, StorageBackend, Timestamp, TrendBucket, Value};

use super::support::{
    MAX, MIN, Model, Rng, T0, assert_model, create, largest_interval, ok, read_trends,
    smallest_interval, sorted, sp, write, write_model,
};

/// Trends of every interval over data spanning several of the largest buckets, with points on
/// and next to bucket boundaries; `read_trends` selects buckets whose start lies in
/// `[from, to)`.
pub async fn check_trends(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let span = 3 * largest_interval(b).ms();
    let step = (span / 2000).max(1);
    let base = largest_interval(b).bucket_start(T0);
    let mut rng = Rng::new(0x7e4d);
    let mut pts: Vec<Point> = (0..2000)
        .map(|i| {
            Point::new(
                base + i * step + rng.range(0, step),
                rng.range(-5000, 5000) as f64 / 16.0,
            )
        })
        .collect();
    for &iv in b.trend_intervals() {
        for k in [1, 2, 5] {
            let edge = iv.bucket_start(base) + k * iv.ms();
            pts.push(Point::new(edge, 1.5));
            pts.push(Point::new(edge - 1, -2.5));
        }
    }
    let pts = sorted(pts);
    let mut m = Model::new();
    // Two calls so that buckets are merged, not only built.
    let (a, z) = pts.split_at(pts.len() / 2);
    write_model(b, 1, a.to_vec(), &mut m, "trends first half").await;
    write_model(b, 1, z.to_vec(), &mut m, "trends second half").await;
    assert_model(b, 1, &m, "trends").await;

    for &iv in b.trend_intervals() {
        let all = read_trends(b, 1, iv, MIN, MAX, "trends").await;
        assert!(
            all.len() >= 3,
            "interval {iv}: expected several buckets, got {}",
            all.len()
        );
        for bk in &all {
            assert_eq!(
                bk.start,
                iv.bucket_start(bk.start),
                "interval {iv}: unaligned start"
            );
        }
        let s1 = all[1].start;
        let s_last = all[all.len() - 1].start;
        let want: Vec<Timestamp> = all
            .iter()
            .map(|b| b.start)
            .filter(|&s| s >= s1 && s < s_last)
            .collect();
        let got: Vec<Timestamp> = read_trends(b, 1, iv, s1, s_last, "trends sub-range")
            .await
            .iter()
            .map(|b| b.start)
            .collect();
        assert_eq!(
            got, want,
            "interval {iv}: buckets starting in [{s1}, {s_last})"
        );
        let got: Vec<Timestamp> = read_trends(b, 1, iv, s1 + 1, s_last + 1, "trends sub-range")
            .await
            .iter()
            .map(|b| b.start)
            .collect();
        let want: Vec<Timestamp> = all
            .iter()
            .map(|b| b.start)
            .filter(|&s| s > s1 && s <= s_last)
            .collect();
        assert_eq!(
            got,
            want,
            "interval {iv}: a bucket is selected by its start only, [{}, {})",
            s1 + 1,
            s_last + 1
        );
        assert!(
            read_trends(b, 1, iv, s1, s1, "empty").await.is_empty(),
            "interval {iv}: from == to"
        );
    }
}

/// One bucket followed through late points and overwrites, every aggregate spelled out, then
/// the whole series against `TrendBucket::build`.
pub async fn check_trends_late_and_overwrite(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let iv = smallest_interval(b);
    let s = iv.bucket_start(T0);
    let mut m = Model::new();
    let bucket = |got: Vec<TrendBucket>| -> TrendBucket {
        let found = got.into_iter().find(|x| x.start == s);
        match found {
            Some(x) => x,
            None => panic!("no {iv} bucket at {s}"),
        }
    };
    let agg = |x: &TrendBucket| {
        (
            x.count, x.sum, x.sum_sq, x.min, x.max, x.first, x.last, x.first_ts, x.last_ts,
        )
    };

    write_model(
        b,
        1,
        vec![Point::new(s + 1, 1.0), Point::new(s + 3, 3.0)],
        &mut m,
        "a",
    )
    .await;
    write_model(b, 1, vec![Point::new(s + 2, 2.0)], &mut m, "late inside").await;
    let x = bucket(read_trends(b, 1, iv, s, s + 1, "late inside").await);
    assert_eq!(
        agg(&x),
        (3, 6.0, 14.0, 1.0, 3.0, 1.0, 3.0, s + 1, s + 3),
        "after a late point inside the bucket"
    );
    write_model(b, 1, vec![Point::new(s, 10.0)], &mut m, "late first").await;
    let x = bucket(read_trends(b, 1, iv, s, s + 1, "late first").await);
    assert_eq!(
        agg(&x),
        (4, 16.0, 114.0, 1.0, 10.0, 10.0, 3.0, s, s + 3),
        "after a late point that becomes the bucket's first"
    );
    write_model(
        b,
        1,
        vec![Point::new(s + 3, -5.0)],
        &mut m,
        "overwrite last",
    )
    .await;
    let x = bucket(read_trends(b, 1, iv, s, s + 1, "overwrite last").await);
    assert_eq!(
        agg(&x),
        (4, 8.0, 130.0, -5.0, 10.0, 10.0, -5.0, s, s + 3),
        "overwriting the last point replaces its contribution"
    );
    write_model(b, 1, vec![Point::new(s, 2.0)], &mut m, "overwrite first").await;
    let x = bucket(read_trends(b, 1, iv, s, s + 1, "overwrite first").await);
    assert_eq!(
        agg(&x),
        (4, 0.0, 34.0, -5.0, 2.0, 2.0, -5.0, s, s + 3),
        "overwriting the first point (old max) must lower the max"
    );
    assert_model(b, 1, &m, "one bucket").await;

    // Now a busier series: many buckets, then late points and overwrites touching some.
    let mut rng = Rng::new(0xb0c4);
    let pts = sorted(
        (0..1500)
            .map(|_| Point::new(T0 + rng.range(0, 20 * iv.ms()), rng.range(0, 100) as f64))
            .collect(),
    );
    write_model(b, 1, pts, &mut m, "busy").await;
    for round in 0..5 {
        let stored: Vec<Timestamp> = m.keys().copied().collect();
        let pts = sorted(
            (0..200)
                .map(|_| {
                    let ts = if rng.chance(0.6) {
                        stored[rng.below(stored.len() as u64) as usize]
                    } else {
                        T0 + rng.range(-3 * iv.ms(), 25 * iv.ms())
                    };
                    let v = if rng.chance(0.1) {
                        Value::from("n/a")
                    } else {
                        Value::Num(rng.range(-100, 100) as f64 * 0.75)
                    };
                    Point { ts, value: v }
                })
                .collect(),
        );
        write_model(b, 1, pts, &mut m, &format!("late round {round}")).await;
        assert_model(b, 1, &m, &format!("late round {round}")).await;
    }
}

/// Trends count numbers and numeric-like strings (`" 12 "`, `"1e3"`) only; other strings are
/// left out, first/last are the earliest/latest numeric points, and a bucket with no numeric
/// value has no trend bucket at all.
pub async fn check_trend_numeric_semantics(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let big = largest_interval(b);
    let a = big.bucket_start(T0);
    let c = a + big.ms();
    let mut m = Model::new();
    let pts = vec![
        // Bucket at `a`: strings only, none numeric.
        Point::new(a + 1, "abc"),
        Point::new(a + 2, "0x10"),
        Point::new(a + 3, ""),
        Point::new(a + 4, "NaN"),
        Point::new(a + 5, "1,5"),
        // Bucket at `c`: mixed.
        Point::new(c + 1, "text first"),
        Point::new(c + 2, " 12 "),
        Point::new(c + 3, "x"),
        Point::new(c + 4, "1e3"),
        Point::new(c + 5, 5.0),
        Point::new(c + 6, "-2.5"),
        Point::new(c + 7, "trailing text"),
    ];
    write_model(b, 1, pts, &mut m, "numeric semantics").await;
    for &iv in b.trend_intervals() {
        let got = read_trends(b, 1, iv, MIN, MAX, "numeric semantics").await;
        assert!(
            got.iter().all(|x| x.start != iv.bucket_start(a + 1)),
            "interval {iv}: a bucket of non-numeric strings must not exist: {got:?}"
        );
        assert_eq!(got.len(), 1, "interval {iv}: one bucket");
        let x = &got[0];
        assert_eq!(
            (
                x.count, x.sum, x.min, x.max, x.first, x.last, x.first_ts, x.last_ts
            ),
            (4, 1014.5, -2.5, 1000.0, 12.0, -2.5, c + 2, c + 6),
            "interval {iv}: numbers and numeric-like strings only"
        );
    }
    assert_model(b, 1, &m, "numeric semantics").await;
}

/// `put_trends` stores buckets as given: new starts are added, equal starts replaced (not
/// merged), other buckets kept, and storing the same buckets again changes nothing.
pub async fn check_put_trends(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let Some(&iv) = b.trend_intervals().first() else {
        panic!("put_trends: the backend keeps no trend interval");
    };
    let ms = iv.ms();
    let base = iv.bucket_start(T0);
    let bucket = |k: i64, v: f64, n: u64| {
        let start = base + k * ms;
        let pts: Vec<Point> = (0..n)
            .map(|i| Point::new(start + i as i64, v + i as f64))
            .collect();
        TrendBucket::build(iv, &pts)
            .pop()
            .unwrap_or_else(|| panic!("put_trends: no bucket built"))
    };
    let read = || async {
        ok(
            b.read_trends(SeriesId(1), iv, MIN, MAX).await,
            "put_trends: read_trends",
        )
    };
    let first = vec![bucket(0, 1.0, 3), bucket(1, 5.0, 2), bucket(3, 7.0, 1)];
    ok(
        b.put_trends(SeriesId(1), iv, &first).await,
        "put_trends: first put",
    );
    assert_eq!(read().await, first, "put_trends: stored as given");
    // Replace bucket 1, add bucket 2, keep 0 and 3.
    let second = vec![bucket(1, -2.0, 4), bucket(2, 9.0, 1)];
    ok(
        b.put_trends(SeriesId(1), iv, &second).await,
        "put_trends: second put",
    );
    let want = vec![
        first[0].clone(),
        second[0].clone(),
        second[1].clone(),
        first[2].clone(),
    ];
    assert_eq!(
        read().await,
        want,
        "put_trends: equal starts replaced, others kept"
    );
    ok(
        b.put_trends(SeriesId(1), iv, &second).await,
        "put_trends: repeated put",
    );
    assert_eq!(read().await, want, "put_trends: idempotent");
    // Many buckets at once (several storage chunks for backends that chunk them).
    let many: Vec<TrendBucket> = (10..700).map(|k| bucket(k, k as f64, 2)).collect();
    ok(
        b.put_trends(SeriesId(1), iv, &many).await,
        "put_trends: many",
    );
    let got = read().await;
    assert_eq!(
        got.len(),
        want.len() + many.len(),
        "put_trends: many buckets"
    );
    assert_eq!(&got[4..], &many[..], "put_trends: many buckets as given");
    ok(
        b.put_trends(SeriesId(1), iv, &[]).await,
        "put_trends: empty",
    );
}

/// After any sequence of writes through [`crate::write_points`] (new points, replaced values,
/// late points far behind the others, numbers replaced by text so that a bucket loses every
/// numeric value, several series in one batch), every trend bucket of every interval equals
/// the bucket built from the raw points: the shared maintenance rules hold whoever applies
/// them (`Native` or `Given`).
pub async fn check_trends_follow_points(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let mut rng = Rng::new(14);
    // Values on a 1/4 grid keep every sum exact, so buckets compare bit for bit.
    let value = |rng: &mut Rng| -> Value {
        let x = (rng.range(-400, 400) as f64) / 4.0;
        match rng.below(10) {
            0 => Value::from("text"),
            1 => Value::from(format!(" {x} ")),
            _ => Value::from(x),
        }
    };
    for round in 0..12 {
        let mut batch = Vec::new();
        for id in [1u64, 2] {
            let n = rng.range(1, 60) as usize;
            let mut pts: BTreeMap<Timestamp, Value> = BTreeMap::new();
            for _ in 0..n {
                // Mostly new points moving forward, some late, some on existing stamps, a few
                // days behind everything else.
                let ts = match rng.below(9) {
                    0 | 1 => T0 + rng.range(0, 6 * 3_600_000),
                    2 | 3 => T0 + (rng.range(0, 200) * 60_000),
                    4 => T0 - rng.range(1, 20) * 86_400_000 + rng.range(0, 100) * 1_000,
                    _ => T0 + round * 1_800_000 + rng.range(0, 7_200_000),
                };
                pts.insert(ts, value(&mut rng));
            }
            batch.push(sp(
                id,
                pts.into_iter().map(|(t, v)| Point::new(t, v)).collect(),
            ));
        }
        write(b, &batch, &format!("trends follow points, round {round}")).await;
        if round % 4 == 3 {
            assert_trends_follow(b, &[1, 2], &format!("round {round}")).await;
        }
    }
    // Every value of the busiest smallest-interval bucket of series 1 becomes text: that bucket
    // must go, the larger ones holding it must be rebuilt.
    let raw = ok(
        b.read_range(SeriesId(1), MIN, MAX, usize::MAX).await,
        "trends follow points: read_range",
    );
    let Some(&small) = b.trend_intervals().iter().min() else {
        panic!("trends follow points: the backend keeps no trend interval");
    };
    let mut per_bucket: BTreeMap<Timestamp, Vec<Timestamp>> = BTreeMap::new();
    for p in &raw {
        if p.value.numeric_like().is_some() {
            per_bucket
                .entry(small.bucket_start(p.ts))
                .or_default()
                .push(p.ts);
        }
    }
    let Some(busiest) = per_bucket.values().max_by_key(|v| v.len()) else {
        panic!("trends follow points: no numeric point was stored");
    };
    let start = small.bucket_start(busiest[0]);
    let texts: Vec<Point> = raw
        .iter()
        .filter(|p| small.bucket_start(p.ts) == start)
        .map(|p| Point::new(p.ts, "gone"))
        .collect();
    write(
        b,
        &[sp(1, texts)],
        "trends follow points: numbers replaced by text",
    )
    .await;
    let left = ok(
        b.read_trends(SeriesId(1), small, start, start + 1).await,
        "trends follow points: read_trends",
    );
    assert!(
        left.is_empty(),
        "trends follow points: a bucket whose every value became text must go, got {left:?}"
    );
    assert_trends_follow(b, &[1, 2], "at the end").await;
}

/// Every bucket of every interval of `ids` equals the one built from the raw points.
async fn assert_trends_follow(b: &dyn StorageBackend, ids: &[u64], ctx: &str) {
    for &id in ids {
        let raw = ok(
            b.read_range(SeriesId(id), MIN, MAX, usize::MAX).await,
            "trends follow points: read_range",
        );
        for &iv in b.trend_intervals() {
            let want = TrendBucket::build(iv, &raw);
            let got = ok(
                b.read_trends(SeriesId(id), iv, MIN, MAX).await,
                "trends follow points: read_trends",
            );
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    g, w,
                    "trends follow points ({ctx}): series {id}, {iv}, bucket {}",
                    w.start
                );
            }
            assert_eq!(
                got.len(),
                want.len(),
                "trends follow points ({ctx}): series {id}, {iv}: bucket count"
            );
        }
    }
}
