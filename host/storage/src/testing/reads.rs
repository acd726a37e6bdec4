//! Read checks: which points a read selects and what it reports about them. `read_last` and
//! `read_range` bounds and limits against a model, paging backwards as the engine does, the
//! column reads against the point reads (inline variants included), and `stats` /
//! `stats_all`.

use crate::{Point, SeriesId, SeriesPoints, StorageBackend, StorageError};

use super::support::{
    MAX, MIN, Model, Rng, T0, assert_empty, assert_points, assert_ts, create, model_last,
    model_points, model_range, ok, read_last, read_range, sp, stats, write, write_model,
};

/// Writes the grid of points the read checks query into series `id` and returns its model.
async fn write_grid(b: &dyn StorageBackend, id: u64) -> Model {
    // 100 points at -500, -490, …, 490, written in two calls (odd ones late).
    let mut m = Model::new();
    let even: Vec<Point> = (0..100)
        .filter(|i| i % 2 == 0)
        .map(|i| Point::new(-500 + 10 * i, i as f64))
        .collect();
    let odd: Vec<Point> = (0..100)
        .filter(|i| i % 2 == 1)
        .map(|i| Point::new(-500 + 10 * i, i as f64))
        .collect();
    write_model(b, id, even, &mut m, "grid even").await;
    write_model(b, id, odd, &mut m, "grid odd").await;
    m
}

/// `read_last(n, before)`: the newest `n` points strictly before `before`, ascending; `before`
/// on a point excludes it; `n = 0` and `before = MIN` give nothing; large `n` gives all.
pub async fn check_read_last(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let m = write_grid(b, 1).await;
    let ctx = "read_last";
    assert_ts(
        &read_last(b, 1, 5, 0, ctx).await,
        &[-50, -40, -30, -20, -10],
        "before 0 (exclusive)",
    );
    assert_ts(
        &read_last(b, 1, 5, 1, ctx).await,
        &[-40, -30, -20, -10, 0],
        "before 1",
    );
    assert_ts(
        &read_last(b, 1, 3, -5, ctx).await,
        &[-30, -20, -10],
        "before between points",
    );
    assert_ts(&read_last(b, 1, 1, MAX, ctx).await, &[490], "newest");
    assert_ts(
        &read_last(b, 1, 2, -490, ctx).await,
        &[-500],
        "fewer than n available",
    );
    assert!(
        read_last(b, 1, 5, -500, ctx).await.is_empty(),
        "before the first point"
    );
    assert!(read_last(b, 1, 5, MIN, ctx).await.is_empty(), "before MIN");
    assert!(read_last(b, 1, 0, MAX, ctx).await.is_empty(), "n = 0");
    assert_points(
        &read_last(b, 1, usize::MAX, MAX, ctx).await,
        &model_points(&m),
        "n = usize::MAX",
    );
    assert_points(
        &read_last(b, 1, 1000, MAX, ctx).await,
        &model_points(&m),
        "n > count",
    );

    let mut rng = Rng::new(0x1a57);
    for i in 0..200 {
        let n = rng.below(30) as usize;
        let before = rng.range(-520, 520);
        assert_points(
            &read_last(b, 1, n, before, ctx).await,
            &model_last(&m, n, before),
            &format!("random read_last #{i} (n {n}, before {before})"),
        );
    }
}

/// `read_range(from, to, limit)`: half-open, the newest `limit` points, ascending; empty and
/// reversed ranges give nothing (or `InvalidInput` when reversed); extreme bounds work.
pub async fn check_read_range(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let m = write_grid(b, 1).await;
    let ctx = "read_range";
    let r = |from, to, limit| read_range(b, 1, from, to, limit, ctx);
    let tens = |a: i64, z: i64| (a..z).step_by(10).collect::<Vec<_>>();
    assert_ts(
        &r(100, 200, 1000).await,
        &tens(100, 200),
        "[100, 200) includes 100, excludes 200",
    );
    assert_ts(
        &r(100, 201, 1000).await,
        &tens(100, 210),
        "[100, 201) includes 200",
    );
    assert_ts(
        &r(99, 200, 1000).await,
        &tens(100, 200),
        "from between points",
    );
    assert_ts(
        &r(100, 200, 3).await,
        &[170, 180, 190],
        "limit keeps the newest, ascending",
    );
    assert_ts(&r(-500, -499, 10).await, &[-500], "first point alone");
    assert_ts(&r(490, MAX, 10).await, &[490], "last point alone");
    assert!(r(100, 200, 0).await.is_empty(), "limit 0");
    assert!(r(101, 109, 10).await.is_empty(), "between two points");
    assert!(r(100, 100, 10).await.is_empty(), "from == to");
    assert!(r(500, MAX, 10).await.is_empty(), "after the last point");
    assert!(r(MIN, -500, 10).await.is_empty(), "before the first point");
    assert_points(
        &r(MIN, MAX, usize::MAX).await,
        &model_points(&m),
        "[MIN, MAX) unlimited",
    );
    assert_points(&r(MIN, MAX, 100).await, &model_points(&m), "limit == count");
    assert_ts(&r(MIN, MAX, 1).await, &[490], "limit 1 over everything");
    match b.read_range(SeriesId(1), 200, 100, 10).await {
        Ok(v) => assert!(v.is_empty(), "reversed range returned {} points", v.len()),
        Err(StorageError::InvalidInput(_)) => {}
        Err(e) => panic!("reversed range: expected nothing or InvalidInput, got {e}"),
    }

    let mut rng = Rng::new(0x4a46e);
    for i in 0..200 {
        let from = rng.range(-520, 520);
        let to = from + rng.range(0, 400);
        let limit = if rng.chance(0.3) {
            usize::MAX
        } else {
            rng.below(40) as usize
        };
        assert_points(
            &r(from, to, limit).await,
            &model_range(&m, from, to, limit),
            &format!("random read_range #{i} [{from}, {to}) limit {limit}"),
        );
    }
}

/// Paging backwards, as the engine does for `#K` shifts and truncated results: repeated
/// `read_last(n, before = oldest seen)` and `read_range(from, to = oldest seen, limit)` walk
/// the whole series without gaps or repeats, across points written out of order.
pub async fn check_paging(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let mut m = Model::new();
    for r in 0..10 {
        let pts: Vec<Point> = (0..1000)
            .filter(|i| i % 10 == (r * 3) % 10)
            .map(|i| Point::new(T0 + i * 1_234, (i * 10 + r) as f64))
            .collect();
        write_model(b, 1, pts, &mut m, "paging setup").await;
    }
    let all = model_points(&m);

    let mut got: Vec<Point> = Vec::new();
    let mut before = MAX;
    for _ in 0..100 {
        let page = read_last(b, 1, 37, before, "paging read_last").await;
        let Some(first) = page.first() else { break };
        before = first.ts;
        let mut page = page;
        page.append(&mut got);
        got = page;
    }
    assert_points(&got, &all, "read_last pages concatenated");

    let mut got: Vec<Point> = Vec::new();
    let mut to = MAX;
    for _ in 0..100 {
        let page = read_range(b, 1, T0 - 1, to, 41, "paging read_range").await;
        let Some(first) = page.first() else { break };
        to = first.ts;
        let mut page = page;
        page.append(&mut got);
        got = page;
    }
    assert_points(&got, &all, "read_range pages concatenated");

    // Skipping K newest records: before = timestamp of the K-th newest.
    let k = 250;
    let skip = read_last(b, 1, k, MAX, "skip").await;
    let Some(cut) = skip.first() else {
        panic!("read_last({k}) returned nothing")
    };
    assert_points(
        &read_last(b, 1, 10, cut.ts, "skip").await,
        &all[all.len() - k - 10..all.len() - k],
        "the 10 records after skipping the 250 newest",
    );
}

/// `stats` reports count, first and last timestamp and a positive size, and follows late
/// writes, overwrites and deletes.
pub async fn check_stats(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    assert_empty(b, 1, "stats of a new series").await;
    let ctx = "stats";
    let pts: Vec<Point> = (0..10)
        .map(|i| Point::new(T0 + i * 1000, i as f64))
        .collect();
    write(b, &[sp(1, pts)], ctx).await;
    let s = stats(b, 1, ctx).await;
    assert_eq!(
        (s.points, s.first_ts, s.last_ts),
        (10, Some(T0), Some(T0 + 9000)),
        "10 points"
    );
    assert!(s.bytes > 0, "bytes must be positive when points are stored");
    let small_bytes = s.bytes;

    write(b, &[sp(1, vec![Point::new(T0 - 5, "older")])], ctx).await;
    let s = stats(b, 1, ctx).await;
    assert_eq!(
        (s.points, s.first_ts, s.last_ts),
        (11, Some(T0 - 5), Some(T0 + 9000)),
        "late write"
    );
    write(b, &[sp(1, vec![Point::new(T0 + 3000, 33.0)])], ctx).await;
    assert_eq!(
        stats(b, 1, ctx).await.points,
        11,
        "an overwrite does not add a point"
    );

    let many: Vec<Point> = (10..10_010)
        .map(|i| Point::new(T0 + i * 1000, (i * 7919 % 10_007) as f64 / 3.0))
        .collect();
    write(b, &[sp(1, many)], ctx).await;
    let s = stats(b, 1, ctx).await;
    assert_eq!(
        (s.points, s.first_ts, s.last_ts),
        (10_011, Some(T0 - 5), Some(T0 + 10_009_000)),
        "after 10,000 more points"
    );
    assert!(
        s.bytes > small_bytes,
        "bytes must grow with 1000x the points ({} → {})",
        small_bytes,
        s.bytes
    );

    ok(
        b.delete_points(SeriesId(1), MIN, T0 + 1000).await,
        "delete head",
    );
    let s = stats(b, 1, ctx).await;
    assert_eq!(
        (s.points, s.first_ts, s.last_ts),
        (10_009, Some(T0 + 1000), Some(T0 + 10_009_000)),
        "after deleting the head"
    );
    assert_empty(b, 2, "series 2 unaffected").await;

    // Every series at once agrees with one at a time.
    create(b, &[3, 4]).await;
    write(
        b,
        &[sp(3, vec![Point::new(T0, 1.0), Point::new(T0 + 7, "x")])],
        ctx,
    )
    .await;
    let all = ok(b.stats_all().await, "stats_all");
    let mut seen: Vec<u64> = all.iter().map(|(id, _)| id.0).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        all.len(),
        "stats_all lists a series twice: {all:?}"
    );
    for id in [1, 3] {
        let one = stats(b, id, ctx).await;
        let listed = all
            .iter()
            .find(|(s, _)| s.0 == id)
            .map(|(_, st)| st.clone());
        assert_eq!(listed, Some(one), "stats_all for series {id}");
    }
    for (id, st) in &all {
        if ![1, 3].contains(&id.0) {
            assert_eq!(st.points, 0, "stats_all: series {id} has no points: {st:?}");
        }
    }
}

/// `read_range_columns` answers exactly what `read_range` answers, as columns: numbers only,
/// strings, a mix, across several chunks, for many windows and limits; `read_last_columns`
/// what `read_last` answers less the skipped newest; the inline variants (where a backend
/// has them) the same as the async ones.
pub async fn check_read_columns(b: &dyn StorageBackend) {
    create(b, &[1, 2]).await;
    let ts = |i: i64| T0 + i * 1000;
    // Series 1: numbers only; series 2: every 7th value a string. Written in parts so that
    // backends that follow write boundaries have several chunks.
    for part in 0..5i64 {
        let batch: Vec<SeriesPoints> = [1u64, 2]
            .iter()
            .map(|&id| {
                sp(
                    id,
                    (part * 300..(part + 1) * 300)
                        .map(|i| {
                            if id == 2 && i % 7 == 3 {
                                Point::new(ts(i), format!("s{i}"))
                            } else {
                                Point::new(ts(i), (i % 89) as f64 * 0.25)
                            }
                        })
                        .collect(),
                )
            })
            .collect();
        write(b, &batch, "columns setup").await;
    }
    let windows = [
        (MIN, MAX),
        (ts(0), ts(1500)),
        (ts(299), ts(301)),
        (ts(100), ts(1200)),
        (ts(1499), ts(1500)),
        (ts(2000), ts(3000)),
        (ts(10), ts(10)),
    ];
    for id in [1u64, 2] {
        for &(from, to) in &windows {
            for limit in [0usize, 1, 7, 300, 301, 1000, 5000] {
                let ctx = format!("series {id} [{from}, {to}) limit {limit}");
                let points = ok(
                    b.read_range(SeriesId(id), from, to, limit).await,
                    format!("{ctx}: read_range"),
                );
                let cols = ok(
                    b.read_range_columns(SeriesId(id), from, to, limit).await,
                    format!("{ctx}: read_range_columns"),
                );
                if id == 1 {
                    assert!(
                        cols.kinds.is_empty(),
                        "{ctx}: numbers only, yet kinds are set"
                    );
                }
                if let Some(inline) = b.read_range_columns_inline(SeriesId(id), from, to, limit) {
                    let inline = ok(inline, format!("{ctx}: read_range_columns_inline"));
                    assert_eq!(inline, cols, "{ctx}: inline");
                }
                assert_eq!(cols.into_points(), points, "{ctx}");
            }
        }
        // The n newest before `before` after a skip: what `read_last` of n + skip answers,
        // less the newest skip (skips across and inside chunks, past the end).
        for before in [MAX, ts(1500), ts(1200), ts(301), ts(300), ts(1), MIN] {
            for n in [0usize, 1, 7, 300, 1000, 5000] {
                for skip in [0usize, 1, 299, 300, 301, 900, 1499, 5000] {
                    let ctx = format!("series {id} last {n} skip {skip} before {before}");
                    let mut want = ok(
                        b.read_last(SeriesId(id), n + skip, before).await,
                        format!("{ctx}: read_last"),
                    );
                    want.truncate(want.len().saturating_sub(skip));
                    let cols = ok(
                        b.read_last_columns(SeriesId(id), before, n, skip).await,
                        format!("{ctx}: read_last_columns"),
                    );
                    if let Some(inline) = b.read_last_columns_inline(SeriesId(id), before, n, skip)
                    {
                        let inline = ok(inline, format!("{ctx}: read_last_columns_inline"));
                        assert_eq!(inline, cols, "{ctx}: inline");
                    }
                    assert_eq!(cols.into_points(), want, "{ctx}");
                }
            }
        }
    }
}
