//! What the checks share: fixed times and bounds, the model of one series (timestamp → value)
//! and the answers it gives, a seeded generator, builders for series and batches, read and
//! write wrappers, and the comparisons (points bit for bit, trend buckets against
//! [`TrendBucket::build`] with sums within 1e-9 relative).
//!
//! The wrappers panic naming the call they made (and the caller's context string, where they
//! take one), so that a failure says which call went wrong; `run_all` adds the check's name.

use std::collections::BTreeMap;
use std::fmt;

use crate::{
    NewSeries, Point, Result, SeriesId, SeriesKey, SeriesPoints, SeriesSettings, SeriesStats,
    StorageBackend, StorageError, Timestamp, TrendBucket, TrendInterval, Value, WriteSummary,
};

/// A fixed, recent base time (2023-11-14T22:13:20Z) so that catalog-era data looks realistic.
pub(super) const T0: Timestamp = 1_700_000_000_000;

/// The lowest timestamp, as the lower bound of "read everything".
pub(super) const MIN: Timestamp = Timestamp::MIN;

/// The highest timestamp, as the upper bound of "read everything".
pub(super) const MAX: Timestamp = Timestamp::MAX;

/// The expected content of one series: timestamp → value.
pub(super) type Model = BTreeMap<Timestamp, Value>;

/// splitmix64: a tiny deterministic generator, so runs are reproducible without a dependency.
#[derive(Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// A generator that starts from `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; `n` must be positive.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[lo, hi)`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        lo.wrapping_add(self.below(span) as i64)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// The value in `r`, or a panic naming `ctx` and the error.
pub(super) fn ok<T>(r: Result<T>, ctx: impl fmt::Display) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{ctx}: unexpected error: {e} ({e:?})"),
    }
}

/// Parses a series key spelled out by a check; panics if it does not parse.
pub(super) fn key(s: &str) -> SeriesKey {
    match s.parse() {
        Ok(k) => k,
        Err(e) => panic!("test key `{s}` does not parse: {e}"),
    }
}

/// A series with default settings and no key.
pub(super) fn new_series(id: u64) -> NewSeries {
    NewSeries {
        id: SeriesId(id),
        key: None,
        settings: SeriesSettings::default(),
    }
}

/// A series with default settings and the key `k`.
pub(super) fn keyed_series(id: u64, k: &str) -> NewSeries {
    NewSeries {
        id: SeriesId(id),
        key: Some(key(k)),
        settings: SeriesSettings::default(),
    }
}

/// Creates unkeyed series with default settings for `ids`.
pub(super) async fn create(b: &dyn StorageBackend, ids: &[u64]) {
    let series: Vec<NewSeries> = ids.iter().map(|&id| new_series(id)).collect();
    ok(
        b.create_series(&series).await,
        format!("create_series {ids:?}"),
    );
}

/// One series' share of a write batch.
pub(super) fn sp(id: u64, points: Vec<Point>) -> SeriesPoints {
    SeriesPoints {
        series: SeriesId(id),
        points,
    }
}

/// Writes `batch` through [`crate::write_points`], so that a `Given` backend gets its trend
/// buckets too.
pub(super) async fn write(
    b: &dyn StorageBackend,
    batch: &[SeriesPoints],
    ctx: &str,
) -> WriteSummary {
    ok(crate::write_points(b, batch).await, format!("{ctx}: write"))
}

/// Writes points of one series and applies them to `model`, checking the summary's counts.
pub(super) async fn write_model(
    b: &dyn StorageBackend,
    id: u64,
    points: Vec<Point>,
    model: &mut Model,
    ctx: &str,
) {
    let n = points.len() as u64;
    let replaced = points.iter().filter(|p| model.contains_key(&p.ts)).count() as u64;
    for p in &points {
        model.insert(p.ts, p.value.clone());
    }
    let s = write(b, &[sp(id, points)], ctx).await;
    assert_eq!(
        (s.points, s.replaced),
        (n, replaced),
        "{ctx}: WriteSummary (points, replaced)"
    );
}

/// Sorts points by timestamp, keeping the first point of each timestamp.
pub(super) fn sorted(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by_key(|p| p.ts);
    points.dedup_by_key(|p| p.ts);
    points
}

/// Numbers compared bit for bit (so `-0.0` is not `0.0`), strings by content.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.to_bits() == y.to_bits(),
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => false,
    }
}

/// A value for a failure message: numbers with their bits, long strings cut.
fn short(v: &Value) -> String {
    match v {
        Value::Num(x) => format!("Num({x:e}, bits {:#x})", x.to_bits()),
        Value::Str(s) if s.len() > 40 => {
            let head: String = s.chars().take(40).collect();
            format!("Str({head:?}… {} bytes)", s.len())
        }
        Value::Str(s) => format!("Str({s:?})"),
    }
}

/// Compares points bit for bit and names the first difference.
pub(super) fn assert_points(actual: &[Point], expected: &[Point], ctx: &str) {
    let first_diff = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a.ts != e.ts || !same_value(&a.value, &e.value));
    if let Some(i) = first_diff {
        panic!(
            "{ctx}: point #{i} differs: got ts {} {}, expected ts {} {} ({} points returned, {} expected)",
            actual[i].ts,
            short(&actual[i].value),
            expected[i].ts,
            short(&expected[i].value),
            actual.len(),
            expected.len()
        );
    }
    if actual.len() != expected.len() {
        let n = actual.len().min(expected.len());
        panic!(
            "{ctx}: got {} points, expected {} (first {n} agree); first extra: {:?}",
            actual.len(),
            expected.len(),
            actual.get(n).or(expected.get(n)).map(|p| p.ts)
        );
    }
}

/// The points have exactly the timestamps `expected`, in order.
pub(super) fn assert_ts(actual: &[Point], expected: &[Timestamp], ctx: &str) {
    let got: Vec<Timestamp> = actual.iter().map(|p| p.ts).collect();
    assert_eq!(got, expected, "{ctx}: timestamps");
}

/// Every point of the model, ascending.
pub(super) fn model_points(m: &Model) -> Vec<Point> {
    m.iter().map(|(&ts, v)| Point::new(ts, v.clone())).collect()
}

/// What `read_range(from, to, limit)` must answer: the newest `limit` points of `[from, to)`,
/// ascending.
pub(super) fn model_range(m: &Model, from: Timestamp, to: Timestamp, limit: usize) -> Vec<Point> {
    if from >= to {
        return Vec::new();
    }
    let mut v: Vec<Point> = m
        .range(from..to)
        .rev()
        .take(limit)
        .map(|(&ts, v)| Point::new(ts, v.clone()))
        .collect();
    v.reverse();
    v
}

/// What `read_last(n, before)` must answer: the newest `n` points before `before`, ascending.
pub(super) fn model_last(m: &Model, n: usize, before: Timestamp) -> Vec<Point> {
    let mut v: Vec<Point> = m
        .range(..before)
        .rev()
        .take(n)
        .map(|(&ts, v)| Point::new(ts, v.clone()))
        .collect();
    v.reverse();
    v
}

/// Every point of series `id`.
pub(super) async fn read_all(b: &dyn StorageBackend, id: u64, ctx: &str) -> Vec<Point> {
    ok(
        b.read_range(SeriesId(id), MIN, MAX, usize::MAX).await,
        format!("{ctx}: read_range(all) of series {id}"),
    )
}

/// `read_range` of series `id`.
pub(super) async fn read_range(
    b: &dyn StorageBackend,
    id: u64,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
    ctx: &str,
) -> Vec<Point> {
    ok(
        b.read_range(SeriesId(id), from, to, limit).await,
        format!("{ctx}: read_range({id}, {from}, {to}, {limit})"),
    )
}

/// `read_last` of series `id`.
pub(super) async fn read_last(
    b: &dyn StorageBackend,
    id: u64,
    n: usize,
    before: Timestamp,
    ctx: &str,
) -> Vec<Point> {
    ok(
        b.read_last(SeriesId(id), n, before).await,
        format!("{ctx}: read_last({id}, {n}, {before})"),
    )
}

/// `read_trends` of series `id`, checked to be strictly ascending by bucket start.
pub(super) async fn read_trends(
    b: &dyn StorageBackend,
    id: u64,
    iv: TrendInterval,
    from: Timestamp,
    to: Timestamp,
    ctx: &str,
) -> Vec<TrendBucket> {
    let got = ok(
        b.read_trends(SeriesId(id), iv, from, to).await,
        format!("{ctx}: read_trends({id}, {iv}, {from}, {to})"),
    );
    assert!(
        got.windows(2).all(|w| w[0].start < w[1].start),
        "{ctx}: read_trends({id}, {iv}) not strictly ascending by start"
    );
    got
}

/// `stats` of series `id`.
pub(super) async fn stats(b: &dyn StorageBackend, id: u64, ctx: &str) -> SeriesStats {
    ok(b.stats(SeriesId(id)).await, format!("{ctx}: stats({id})"))
}

/// `actual` is within 1e-9 relative of `expected`, or of `scale` (the magnitudes summed) when
/// that is larger.
fn close_enough(actual: f64, expected: f64, scale: f64) -> bool {
    if !expected.is_finite() {
        // Only reachable with values near f64::MAX, whose squares overflow: the suite does not
        // prescribe how a backend stores an overflowed sum.
        return true;
    }
    let tol = 1e-9 * scale.max(expected.abs()).max(actual.abs());
    (actual - expected).abs() <= tol
}

/// The buckets `TrendBucket::build` makes, each with the sums of |v| and v² of its values: the
/// scale of the rounding error a different summation order may cause.
pub(super) fn expected_buckets(
    iv: TrendInterval,
    points: &[Point],
) -> Vec<(TrendBucket, f64, f64)> {
    let mut scale: BTreeMap<Timestamp, (f64, f64)> = BTreeMap::new();
    for p in points {
        if let Some(v) = p.value.numeric_like() {
            let e = scale.entry(iv.bucket_start(p.ts)).or_insert((0.0, 0.0));
            e.0 += v.abs();
            e.1 += v * v;
        }
    }
    TrendBucket::build(iv, points)
        .into_iter()
        .map(|b| {
            let (s, sq) = scale.get(&b.start).copied().unwrap_or((0.0, 0.0));
            (b, s, sq)
        })
        .collect()
}

fn assert_bucket(actual: &TrendBucket, expected: &TrendBucket, scale: (f64, f64), ctx: &str) {
    let exact_ok = actual.start == expected.start
        && actual.count == expected.count
        && actual.min == expected.min
        && actual.max == expected.max
        && actual.first == expected.first
        && actual.last == expected.last
        && actual.first_ts == expected.first_ts
        && actual.last_ts == expected.last_ts;
    let sums_ok = close_enough(actual.sum, expected.sum, scale.0)
        && close_enough(actual.sum_sq, expected.sum_sq, scale.1);
    assert!(
        exact_ok && sums_ok,
        "{ctx}: trend bucket differs:\n  got      {actual:?}\n  expected {expected:?}"
    );
}

/// Checks the trends of every interval against `TrendBucket::build` over `points` (sorted).
pub(super) async fn assert_trends(b: &dyn StorageBackend, id: u64, points: &[Point], ctx: &str) {
    for &iv in b.trend_intervals() {
        let got = read_trends(b, id, iv, MIN, MAX, ctx).await;
        let want = expected_buckets(iv, points);
        assert_bucket_list(&got, &want, &format!("{ctx}: series {id} interval {iv}"));
    }
}

pub(super) fn assert_bucket_list(got: &[TrendBucket], want: &[(TrendBucket, f64, f64)], ctx: &str) {
    for (i, (g, (w, s, sq))) in got.iter().zip(want).enumerate() {
        assert_bucket(g, w, (*s, *sq), &format!("{ctx} bucket #{i}"));
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{ctx}: number of buckets (starts got {:?}…, expected {:?}…)",
        got.iter().map(|b| b.start).take(8).collect::<Vec<_>>(),
        want.iter().map(|b| b.0.start).take(8).collect::<Vec<_>>()
    );
}

/// Raw points and trends of one series equal the model.
pub(super) async fn assert_model(b: &dyn StorageBackend, id: u64, model: &Model, ctx: &str) {
    let expected = model_points(model);
    assert_points(
        &read_all(b, id, ctx).await,
        &expected,
        &format!("{ctx}: series {id}"),
    );
    assert_trends(b, id, &expected, ctx).await;
}

/// After `delete_series`, reads give nothing or `NotFound`.
pub(super) async fn assert_gone(b: &dyn StorageBackend, id: u64, ctx: &str) {
    let sid = SeriesId(id);
    match b.read_range(sid, MIN, MAX, usize::MAX).await {
        Ok(v) => assert!(
            v.is_empty(),
            "{ctx}: deleted series {id} still has {} points",
            v.len()
        ),
        Err(StorageError::NotFound(_)) => {}
        Err(e) => panic!("{ctx}: read_range of deleted series {id}: {e}"),
    }
    match b.read_last(sid, 10, MAX).await {
        Ok(v) => assert!(
            v.is_empty(),
            "{ctx}: deleted series {id}: read_last found points"
        ),
        Err(StorageError::NotFound(_)) => {}
        Err(e) => panic!("{ctx}: read_last of deleted series {id}: {e}"),
    }
    for &iv in b.trend_intervals() {
        match b.read_trends(sid, iv, MIN, MAX).await {
            Ok(v) => assert!(
                v.is_empty(),
                "{ctx}: deleted series {id} still has {iv} trends"
            ),
            Err(StorageError::NotFound(_)) => {}
            Err(e) => panic!("{ctx}: read_trends of deleted series {id}: {e}"),
        }
    }
    match b.stats(sid).await {
        Ok(s) => assert_eq!(s.points, 0, "{ctx}: stats of deleted series {id}"),
        Err(StorageError::NotFound(_)) => {}
        Err(e) => panic!("{ctx}: stats of deleted series {id}: {e}"),
    }
}

/// A series that was created and never written is empty everywhere.
pub(super) async fn assert_empty(b: &dyn StorageBackend, id: u64, ctx: &str) {
    assert!(
        read_all(b, id, ctx).await.is_empty(),
        "{ctx}: series {id} should be empty"
    );
    assert!(
        read_last(b, id, 10, MAX, ctx).await.is_empty(),
        "{ctx}: read_last of empty series {id}"
    );
    for &iv in b.trend_intervals() {
        assert!(
            read_trends(b, id, iv, MIN, MAX, ctx).await.is_empty(),
            "{ctx}: empty series {id} has {iv} trends"
        );
    }
    let s = stats(b, id, ctx).await;
    assert_eq!(
        (s.points, s.first_ts, s.last_ts, s.bytes),
        (0, None, None, 0),
        "{ctx}: stats of empty series {id}"
    );
}

/// The backend's smallest trend interval.
pub(super) fn smallest_interval(b: &dyn StorageBackend) -> TrendInterval {
    match b.trend_intervals().iter().min() {
        Some(&iv) => iv,
        None => panic!("backend maintains no trend intervals"),
    }
}

/// The backend's largest trend interval.
pub(super) fn largest_interval(b: &dyn StorageBackend) -> TrendInterval {
    match b.trend_intervals().iter().max() {
        Some(&iv) => iv,
        None => panic!("backend maintains no trend intervals"),
    }
}
