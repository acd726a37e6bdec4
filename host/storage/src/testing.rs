//! The backend conformance suite: one set of checks every [`crate::StorageBackend`] must pass.
//!
//! Enabled by the `testing` feature, for backend crates' tests. [`run_all`] runs every check,
//! each against a fresh, empty backend, and panics with the check's name on the first failure.
//! Each check is also public (`check_*`), so a backend crate can run one of them on its own
//! while it is being debugged.
//!
//! # Using it from a backend crate
//!
//! ```toml
//! [dev-dependencies]
//! clio-storage = { workspace = true, features = ["testing"] }
//! tokio = { workspace = true, features = ["rt-multi-thread", "macros"] }
//! tempfile.workspace = true
//! ```
//!
//! A backend that lives in a temporary directory must keep that directory alive for as long as
//! the backend is open: a `TempDir` dropped at the end of the `make` closure deletes the
//! directory under the open database. Wrap the backend and the `TempDir` in [`Guarded`], which
//! implements [`StorageBackend`] by delegation and drops the backend before the directory:
//!
//! ```ignore
//! use clio_storage::testing::{self, Guarded};
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn conformance() {
//!     testing::run_all(|| async {
//!         let dir = tempfile::tempdir().unwrap();
//!         // Any constructor of the backend under test; it must not outlive `dir`.
//!         let backend = MyBackend::open(dir.path().join("store")).unwrap();
//!         Guarded::new(backend, dir)
//!     })
//!     .await;
//! }
//! ```
//!
//! Use a multi-threaded runtime so that [`check_concurrent_readers`] really runs readers in
//! parallel with the writer (it also passes on a current-thread runtime, where the tasks only
//! interleave at await points). The runtime must have its timer enabled (`#[tokio::test]` does),
//! because [`run_all`] puts a time limit on every check.
//!
//! # The checks
//!
//! Every check assumes a fresh, empty store and uses the backend's own
//! [`TrendStore::trend_intervals`]. Raw points are compared bit for bit (so `-0.0` must stay
//! negative); trend buckets are compared with [`TrendBucket::build`] over the raw points, `sum`
//! and `sum_sq` within 1e-9 relative, everything else exactly.
//!
//! Where the trait leaves a choice open, the checks accept both answers: reading a series that
//! was deleted may give nothing or `NotFound`, and a reversed range (`from > to`) may give
//! nothing or `InvalidInput`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::prelude::*;
use crate::{
    Capabilities, Expiry, ExpiryOutcome, NewSeries, Point, Result, SeriesFilter, SeriesId,
    SeriesInfo, SeriesKey, SeriesPoints, SeriesSettings, SeriesStats, SeriesUpdate, StorageBackend,
    StorageError, Timestamp, TrendBucket, TrendInterval, TrendMode, Value, WriteSummary,
};

/// How long one check may run before [`run_all`] declares the backend hung.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

type CheckFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
type CheckFn = for<'a> fn(&'a dyn StorageBackend) -> CheckFuture<'a>;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// The checks that take a plain backend reference, in the order [`run_all`] runs them.
        const CHECKS: &[(&str, CheckFn)] = &[$((stringify!($name), |b| Box::pin($name(b)))),*];
    };
}

checks!(
    check_health,
    check_catalog,
    check_catalog_update,
    check_delete_series,
    check_write_read_back,
    check_overwrite,
    check_late_writes,
    check_read_last,
    check_read_range,
    check_paging,
    check_strings_and_mixed,
    check_edge_values,
    check_edge_timestamps,
    check_trends,
    check_trends_late_and_overwrite,
    check_trend_numeric_semantics,
    check_put_trends,
    check_trends_follow_points,
    check_delete_points,
    check_delete_trends,
    check_expire,
    check_stats,
    check_read_columns,
    check_random_model,
    check_large_volume,
);

/// Names of every check [`run_all`] runs, in order.
pub fn check_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CHECKS.iter().map(|(n, _)| *n).collect();
    names.push("check_concurrent_readers");
    names.push("check_close");
    names
}

/// Runs every conformance check against a fresh, empty backend made by `make`; panics (with a
/// message naming the check) on the first failure.
///
/// Each check gets its own backend, which is closed afterwards. Every check runs in its own
/// tokio task under [`CHECK_TIMEOUT`]; progress and timings are printed to stderr.
pub async fn run_all<B: StorageBackend, F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    let started = Instant::now();
    for (name, check) in CHECKS {
        let b: Arc<dyn StorageBackend> = Arc::new(make().await);
        let task_b = Arc::clone(&b);
        let check = *check;
        run_one(name, async move { check(&*task_b).await }).await;
        close_after(name, &*b).await;
    }

    let b: Arc<dyn StorageBackend> = Arc::new(make().await);
    run_one(
        "check_concurrent_readers",
        check_concurrent_readers(Arc::clone(&b)),
    )
    .await;
    close_after("check_concurrent_readers", &*b).await;

    // Last, as it leaves the backend closed.
    let b: Arc<dyn StorageBackend> = Arc::new(make().await);
    run_one("check_close", async move { check_close(&*b).await }).await;

    eprintln!(
        "storage conformance: all {} checks passed in {:?}",
        check_names().len(),
        started.elapsed()
    );
}

async fn run_one(name: &str, check: impl Future<Output = ()> + Send + 'static) {
    let t = Instant::now();
    let mut handle = tokio::spawn(check);
    match tokio::time::timeout(CHECK_TIMEOUT, &mut handle).await {
        Err(_) => {
            handle.abort();
            panic!("storage conformance check `{name}` timed out after {CHECK_TIMEOUT:?}");
        }
        Ok(Err(e)) => panic!(
            "storage conformance check `{name}` failed: {}",
            join_error_message(e)
        ),
        Ok(Ok(())) => {}
    }
    eprintln!("storage conformance: {name} passed in {:?}", t.elapsed());
}

async fn close_after(name: &str, b: &dyn StorageBackend) {
    if let Err(e) = b.close().await {
        panic!("storage conformance check `{name}`: close() after the check failed: {e}");
    }
}

fn join_error_message(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Guarded
// ---------------------------------------------------------------------------------------------

/// A backend bundled with something that must outlive it, typically the `tempfile::TempDir`
/// holding its files. Implements [`StorageBackend`] by delegating to the backend; on drop the
/// backend goes first, then the guard.
#[derive(Debug)]
pub struct Guarded<B, G> {
    // Field order matters: fields drop in declaration order, so the backend closes its files
    // before the guard deletes the directory holding them.
    backend: B,
    guard: G,
}

impl<B, G> Guarded<B, G> {
    /// Bundles `backend` with `guard`.
    pub fn new(backend: B, guard: G) -> Self {
        Guarded { backend, guard }
    }

    /// The wrapped backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The guard.
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

#[async_trait]
impl<B, G> CatalogStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        self.backend.load_catalog().await
    }

    async fn create_series(&self, series: &[NewSeries]) -> Result<()> {
        self.backend.create_series(series).await
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        self.backend.get_series(id).await
    }

    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        self.backend.list_series(filter).await
    }

    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        self.backend.update_series(id, update).await
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        self.backend.delete_series(id).await
    }
}

#[async_trait]
impl<B, G> PointStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        self.backend.write(batch).await
    }

    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        self.backend.read_range(series, from, to, limit).await
    }

    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        self.backend.read_last(series, n, before).await
    }

    async fn read_range_columns(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<crate::PointColumns> {
        self.backend
            .read_range_columns(series, from, to, limit)
            .await
    }

    async fn read_last_columns(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Result<crate::PointColumns> {
        self.backend
            .read_last_columns(series, before, n, skip)
            .await
    }

    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        self.backend.delete_points(series, from, to).await
    }

    async fn stats(&self, series: SeriesId) -> Result<SeriesStats> {
        self.backend.stats(series).await
    }

    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        self.backend.stats_all().await
    }
}

#[async_trait]
impl<B, G> TrendStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    fn trend_intervals(&self) -> &[TrendInterval] {
        self.backend.trend_intervals()
    }

    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        self.backend.read_trends(series, interval, from, to).await
    }

    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        self.backend.delete_trends(series, interval, from, to).await
    }

    fn trend_mode(&self) -> TrendMode {
        self.backend.trend_mode()
    }

    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()> {
        self.backend.put_trends(series, interval, buckets).await
    }
}

#[async_trait]
impl<B, G> RetentionStore for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        self.backend.expire(batch).await
    }
}

impl<B, G> BlockingReads for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    fn read_last_columns_inline(
        &self,
        series: SeriesId,
        before: Timestamp,
        n: usize,
        skip: usize,
    ) -> Option<Result<crate::PointColumns>> {
        self.backend
            .read_last_columns_inline(series, before, n, skip)
    }

    fn read_range_columns_inline(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Option<Result<crate::PointColumns>> {
        self.backend
            .read_range_columns_inline(series, from, to, limit)
    }
}

#[async_trait]
impl<B, G> StorageBackend for Guarded<B, G>
where
    B: StorageBackend,
    G: fmt::Debug + Send + Sync + 'static,
{
    fn describe(&self) -> String {
        self.backend.describe()
    }

    fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    async fn health(&self) -> Result<()> {
        self.backend.health().await
    }

    async fn close(&self) -> Result<()> {
        self.backend.close().await
    }

    fn blocking_reads(&self) -> Option<&dyn BlockingReads> {
        self.backend.blocking_reads()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fixed, recent base time (2023-11-14T22:13:20Z) so that catalog-era data looks realistic.
const T0: Timestamp = 1_700_000_000_000;
const MIN: Timestamp = Timestamp::MIN;
const MAX: Timestamp = Timestamp::MAX;

/// The expected content of one series: timestamp → value.
type Model = BTreeMap<Timestamp, Value>;

/// splitmix64: a tiny deterministic generator, so runs are reproducible without a dependency.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
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
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        lo.wrapping_add(self.below(span) as i64)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn ok<T>(r: Result<T>, ctx: impl fmt::Display) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{ctx}: unexpected error: {e} ({e:?})"),
    }
}

fn key(s: &str) -> SeriesKey {
    match s.parse() {
        Ok(k) => k,
        Err(e) => panic!("test key `{s}` does not parse: {e}"),
    }
}

fn new_series(id: u64) -> NewSeries {
    NewSeries {
        id: SeriesId(id),
        key: None,
        settings: SeriesSettings::default(),
    }
}

fn keyed_series(id: u64, k: &str) -> NewSeries {
    NewSeries {
        id: SeriesId(id),
        key: Some(key(k)),
        settings: SeriesSettings::default(),
    }
}

async fn create(b: &dyn StorageBackend, ids: &[u64]) {
    let series: Vec<NewSeries> = ids.iter().map(|&id| new_series(id)).collect();
    ok(
        b.create_series(&series).await,
        format!("create_series {ids:?}"),
    );
}

fn sp(id: u64, points: Vec<Point>) -> SeriesPoints {
    SeriesPoints {
        series: SeriesId(id),
        points,
    }
}

async fn write(b: &dyn StorageBackend, batch: &[SeriesPoints], ctx: &str) -> WriteSummary {
    ok(crate::write_points(b, batch).await, format!("{ctx}: write"))
}

/// Writes points of one series and applies them to `model`, checking the summary's counts.
async fn write_model(
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

fn sorted(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by_key(|p| p.ts);
    points.dedup_by_key(|p| p.ts);
    points
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.to_bits() == y.to_bits(),
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => false,
    }
}

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
fn assert_points(actual: &[Point], expected: &[Point], ctx: &str) {
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

fn assert_ts(actual: &[Point], expected: &[Timestamp], ctx: &str) {
    let got: Vec<Timestamp> = actual.iter().map(|p| p.ts).collect();
    assert_eq!(got, expected, "{ctx}: timestamps");
}

fn model_points(m: &Model) -> Vec<Point> {
    m.iter().map(|(&ts, v)| Point::new(ts, v.clone())).collect()
}

fn model_range(m: &Model, from: Timestamp, to: Timestamp, limit: usize) -> Vec<Point> {
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

fn model_last(m: &Model, n: usize, before: Timestamp) -> Vec<Point> {
    let mut v: Vec<Point> = m
        .range(..before)
        .rev()
        .take(n)
        .map(|(&ts, v)| Point::new(ts, v.clone()))
        .collect();
    v.reverse();
    v
}

async fn read_all(b: &dyn StorageBackend, id: u64, ctx: &str) -> Vec<Point> {
    ok(
        b.read_range(SeriesId(id), MIN, MAX, usize::MAX).await,
        format!("{ctx}: read_range(all) of series {id}"),
    )
}

async fn read_range(
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

async fn read_last(
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

async fn read_trends(
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

async fn stats(b: &dyn StorageBackend, id: u64, ctx: &str) -> SeriesStats {
    ok(b.stats(SeriesId(id)).await, format!("{ctx}: stats({id})"))
}

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
fn expected_buckets(iv: TrendInterval, points: &[Point]) -> Vec<(TrendBucket, f64, f64)> {
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
async fn assert_trends(b: &dyn StorageBackend, id: u64, points: &[Point], ctx: &str) {
    for &iv in b.trend_intervals() {
        let got = read_trends(b, id, iv, MIN, MAX, ctx).await;
        let want = expected_buckets(iv, points);
        assert_bucket_list(&got, &want, &format!("{ctx}: series {id} interval {iv}"));
    }
}

fn assert_bucket_list(got: &[TrendBucket], want: &[(TrendBucket, f64, f64)], ctx: &str) {
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
async fn assert_model(b: &dyn StorageBackend, id: u64, model: &Model, ctx: &str) {
    let expected = model_points(model);
    assert_points(
        &read_all(b, id, ctx).await,
        &expected,
        &format!("{ctx}: series {id}"),
    );
    assert_trends(b, id, &expected, ctx).await;
}

/// After `delete_series`, reads give nothing or `NotFound`.
async fn assert_gone(b: &dyn StorageBackend, id: u64, ctx: &str) {
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
async fn assert_empty(b: &dyn StorageBackend, id: u64, ctx: &str) {
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

fn smallest_interval(b: &dyn StorageBackend) -> TrendInterval {
    match b.trend_intervals().iter().min() {
        Some(&iv) => iv,
        None => panic!("backend maintains no trend intervals"),
    }
}

fn largest_interval(b: &dyn StorageBackend) -> TrendInterval {
    match b.trend_intervals().iter().max() {
        Some(&iv) => iv,
        None => panic!("backend maintains no trend intervals"),
    }
}

fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// `health` succeeds on a fresh store, `describe` says something, the trend intervals are
/// usable (non-empty, positive, distinct) and the catalog starts empty.
pub async fn check_health(b: &dyn StorageBackend) {
    ok(b.health().await, "health on a fresh store");
    assert!(!b.describe().trim().is_empty(), "describe() is empty");
    let ivs = b.trend_intervals();
    assert!(!ivs.is_empty(), "trend_intervals() is empty");
    let distinct: BTreeSet<TrendInterval> = ivs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ivs.len(),
        "trend_intervals() repeats an interval: {ivs:?}"
    );
    assert!(
        ivs.iter().all(|iv| iv.ms() > 0),
        "non-positive interval in {ivs:?}"
    );
    assert!(
        ok(b.load_catalog().await, "load_catalog").is_empty(),
        "a fresh store's catalog is not empty"
    );
    assert!(
        ok(b.list_series(&SeriesFilter::default()).await, "list_series").is_empty(),
        "a fresh store lists series"
    );
}

/// Catalog: create is idempotent (existing ids unchanged), a key owned by another id is
/// `InvalidInput`, get and list (ascending ids, every `SeriesFilter` condition) and
/// `load_catalog` agree, settings and metadata round-trip, `created` is a plausible wall-clock
/// time that never changes.
pub async fn check_catalog(b: &dyn StorageBackend) {
    let before = now_ms();
    let mut custom = SeriesSettings {
        keep_history_days: 7,
        keep_trends_days: 30,
        ..SeriesSettings::default()
    };
    custom.metadata.insert("unit".into(), "%".into());
    custom
        .metadata
        .insert("description".into(), "CPU \"usage\", per core ✓".into());
    let keyed = [
        (1, "cpu,host=a,region=eu usage"),
        (2, "cpu,host=b,region=eu usage"),
        (3, "cpu,host=a,region=us idle"),
        (4, "mem,host=a used"),
    ];
    // Created out of order, so that listing has to sort.
    let mut all = vec![NewSeries {
        id: SeriesId(100),
        key: None,
        settings: custom.clone(),
    }];
    all.push(new_series(5));
    for &(id, k) in keyed.iter().rev() {
        all.push(keyed_series(id, k));
    }
    ok(b.create_series(&all).await, "create_series");
    let after = now_ms();

    let s100 = ok(b.get_series(SeriesId(100)).await, "get_series(100)");
    let Some(s100) = s100 else {
        panic!("get_series(100) is None after create")
    };
    assert_eq!(s100.id, SeriesId(100));
    assert_eq!(s100.key, None, "series 100 has no key");
    assert_eq!(s100.settings, custom, "settings and metadata round-trip");
    let day = 86_400_000;
    assert!(
        (before - day..=after + day).contains(&s100.created),
        "created {} is not the wall-clock time of creation (~{before})",
        s100.created
    );
    for &(id, k) in &keyed {
        let got = ok(
            b.get_series(SeriesId(id)).await,
            format!("get_series({id})"),
        );
        let Some(got) = got else {
            panic!("get_series({id}) is None after create")
        };
        assert_eq!(got.key, Some(key(k)), "key of series {id}");
        assert_eq!(
            got.settings,
            SeriesSettings::default(),
            "default settings of {id}"
        );
    }
    assert_eq!(
        ok(b.get_series(SeriesId(6)).await, "get_series(6)"),
        None,
        "unknown id"
    );

    let list = |f: SeriesFilter| async move {
        let got = ok(b.list_series(&f).await, format!("list_series({f:?})"));
        got.iter().map(|s| s.id.0).collect::<Vec<u64>>()
    };
    let tags = |t: &[(&str, &str)]| -> Vec<(String, String)> {
        t.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        list(SeriesFilter::default()).await,
        [1, 2, 3, 4, 5, 100],
        "empty filter"
    );
    let by_meas = SeriesFilter {
        measurement: Some("cpu".into()),
        ..SeriesFilter::default()
    };
    assert_eq!(list(by_meas.clone()).await, [1, 2, 3], "measurement cpu");
    let by_tag = SeriesFilter {
        tags: tags(&[("host", "a")]),
        ..SeriesFilter::default()
    };
    assert_eq!(list(by_tag).await, [1, 3, 4], "tag host=a");
    let meas_tag = SeriesFilter {
        tags: tags(&[("region", "eu")]),
        ..by_meas.clone()
    };
    assert_eq!(list(meas_tag).await, [1, 2], "measurement cpu, region=eu");
    let two_tags = SeriesFilter {
        tags: tags(&[("region", "us"), ("host", "a")]),
        ..SeriesFilter::default()
    };
    assert_eq!(list(two_tags).await, [3], "tags host=a, region=us");
    let by_field = SeriesFilter {
        field: Some("usage".into()),
        ..SeriesFilter::default()
    };
    assert_eq!(list(by_field).await, [1, 2], "field usage");
    let all_three = SeriesFilter {
        measurement: Some("cpu".into()),
        tags: tags(&[("host", "a")]),
        field: Some("idle".into()),
    };
    assert_eq!(list(all_three).await, [3], "measurement, tag and field");
    let nothing = SeriesFilter {
        measurement: Some("disk".into()),
        ..SeriesFilter::default()
    };
    assert!(list(nothing).await.is_empty(), "unknown measurement");
    let no_tag = SeriesFilter {
        tags: tags(&[("dc", "x")]),
        ..SeriesFilter::default()
    };
    assert!(list(no_tag).await.is_empty(), "unknown tag");

    let mut catalog = ok(b.load_catalog().await, "load_catalog");
    catalog.sort_by_key(|s| s.id);
    let listed = ok(b.list_series(&SeriesFilter::default()).await, "list_series");
    assert_eq!(catalog, listed, "load_catalog and list_series disagree");

    // Idempotent: existing ids stay as they are, even when asked with other settings or a key.
    let again = vec![
        NewSeries {
            id: SeriesId(100),
            key: Some(key("other,x=y f")),
            settings: SeriesSettings::default(),
        },
        keyed_series(1, "cpu,host=a,region=eu usage"),
        new_series(6),
    ];
    ok(
        b.create_series(&again).await,
        "create_series again (idempotent)",
    );
    let s100b = ok(b.get_series(SeriesId(100)).await, "get_series(100)");
    assert_eq!(
        s100b,
        Some(s100.clone()),
        "re-creating an id must leave it unchanged"
    );
    assert!(
        ok(b.get_series(SeriesId(6)).await, "get_series(6)").is_some(),
        "a new id in a partly existing batch is created"
    );
    ok(b.create_series(&[]).await, "create_series(empty)");

    // A key that belongs to another id.
    match b
        .create_series(&[keyed_series(7, "cpu,region=eu,host=a usage")])
        .await
    {
        Err(StorageError::InvalidInput(_)) => {}
        other => panic!("creating id 7 with series 1's key: expected InvalidInput, got {other:?}"),
    }
    assert_eq!(
        ok(b.get_series(SeriesId(7)).await, "get_series(7)"),
        None,
        "the conflicting series must not be created"
    );
    let s1 = ok(b.get_series(SeriesId(1)).await, "get_series(1)");
    assert_eq!(
        s1.and_then(|s| s.key),
        Some(key("cpu,host=a,region=eu usage")),
        "series 1 keeps its key"
    );
}

/// `update_series` changes only what it names, removes metadata entries set to "", returns
/// what `get_series` then shows, keeps key and `created`, and is `NotFound` for unknown ids.
pub async fn check_catalog_update(b: &dyn StorageBackend) {
    let mut settings = SeriesSettings::default();
    settings.metadata.insert("unit".into(), "B".into());
    settings
        .metadata
        .insert("description".into(), "bytes".into());
    let ns = NewSeries {
        id: SeriesId(1),
        key: Some(key("mem,host=a used")),
        settings,
    };
    ok(b.create_series(&[ns]).await, "create_series");
    let Some(orig) = ok(b.get_series(SeriesId(1)).await, "get_series") else {
        panic!("series 1 missing after create")
    };

    let unchanged = ok(
        b.update_series(SeriesId(1), &SeriesUpdate::default()).await,
        "empty update",
    );
    assert_eq!(unchanged, orig, "an empty update changes nothing");

    let mut meta = BTreeMap::new();
    meta.insert("unit".to_owned(), String::new());
    meta.insert("owner".to_owned(), "ops team".to_owned());
    let upd = SeriesUpdate {
        keep_history_days: Some(3),
        keep_trends_days: None,
        metadata: Some(meta),
    };
    let got = ok(b.update_series(SeriesId(1), &upd).await, "update_series");
    let mut want = orig.clone();
    upd.apply(&mut want.settings);
    assert_eq!(got, want, "update_series result");
    assert_eq!(want.settings.keep_history_days, 3);
    assert_eq!(
        want.settings.keep_trends_days,
        orig.settings.keep_trends_days
    );
    assert_eq!(
        want.settings.metadata.get("unit"),
        None,
        "an empty metadata value removes the entry"
    );
    assert_eq!(
        ok(b.get_series(SeriesId(1)).await, "get_series after update"),
        Some(want.clone()),
        "get_series after update"
    );

    let upd2 = SeriesUpdate {
        keep_history_days: None,
        keep_trends_days: Some(0),
        metadata: None,
    };
    let got2 = ok(b.update_series(SeriesId(1), &upd2).await, "second update");
    upd2.apply(&mut want.settings);
    assert_eq!(got2, want, "second update");
    let cat = ok(b.load_catalog().await, "load_catalog");
    assert_eq!(cat, vec![want], "load_catalog shows the update");

    match b.update_series(SeriesId(2), &upd).await {
        Err(StorageError::NotFound(id)) => assert_eq!(id, SeriesId(2), "NotFound names the id"),
        other => panic!("update_series of an unknown id: expected NotFound, got {other:?}"),
    }
}

/// `delete_series` answers true then false, removes the entry from get, list and the catalog,
/// takes its points and trends with it (a re-created id starts empty), frees its key and
/// leaves other series alone.
pub async fn check_delete_series(b: &dyn StorageBackend) {
    let ns = [
        keyed_series(1, "cpu,host=a usage"),
        keyed_series(2, "cpu,host=b usage"),
    ];
    ok(b.create_series(&ns).await, "create_series");
    let pts: Vec<Point> = (0..300)
        .map(|i| Point::new(T0 + i * 60_000, i as f64))
        .collect();
    write(
        b,
        &[sp(1, pts.clone()), sp(2, pts.clone())],
        "delete_series",
    )
    .await;

    assert!(
        ok(b.delete_series(SeriesId(1)).await, "delete_series(1)"),
        "first delete → true"
    );
    assert!(
        !ok(b.delete_series(SeriesId(1)).await, "delete_series(1) again"),
        "second delete → false"
    );
    assert!(
        !ok(b.delete_series(SeriesId(999)).await, "delete_series(999)"),
        "unknown id → false"
    );
    assert_eq!(ok(b.get_series(SeriesId(1)).await, "get_series(1)"), None);
    let ids: Vec<u64> = ok(b.list_series(&SeriesFilter::default()).await, "list")
        .iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(ids, [2], "list after delete");
    let cat: Vec<u64> = ok(b.load_catalog().await, "load_catalog")
        .iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(cat, [2], "load_catalog after delete");
    assert_gone(b, 1, "after delete_series").await;

    // The other series is untouched.
    assert_points(
        &read_all(b, 2, "other").await,
        &pts,
        "series 2 after deleting 1",
    );
    assert_trends(b, 2, &pts, "series 2 after deleting 1").await;

    // The id comes back empty; the key is free for another id.
    ok(
        b.create_series(&[keyed_series(3, "cpu,host=a usage")])
            .await,
        "re-using a deleted series' key",
    );
    create(b, &[1]).await;
    assert_empty(b, 1, "re-created series").await;
    assert_empty(b, 3, "new series with the freed key").await;
}

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
pub async fn check_edge_timestamps(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    let iv = smallest_interval(b).ms();
    let day = largest_interval(b).ms();
    let big = 1i64 << 50;
    let positive = [0, 1, iv - 1, iv, day - 1, day, big, (1i64 << 53) + 1];
    let negative = [-big, -day - 1, -day, -iv - 1, -iv, -iv + 1, -1];
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
        &[-big],
        "[-2^50, -2^50+1)",
    );
    assert_ts(
        &read_range(b, 1, big, MAX, 10, ctx).await,
        &[big, (1 << 53) + 1],
        "[2^50, MAX)",
    );
    assert_ts(
        &read_last(b, 1, 1, 0, ctx).await,
        &[-1],
        "read_last before 0",
    );
    assert_ts(
        &read_last(b, 1, 1, MAX, ctx).await,
        &[(1 << 53) + 1],
        "newest",
    );
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

async fn trend_snapshot(b: &dyn StorageBackend, id: u64) -> Vec<(TrendInterval, Vec<TrendBucket>)> {
    let mut out = Vec::new();
    for &iv in b.trend_intervals() {
        out.push((iv, read_trends(b, id, iv, MIN, MAX, "trend snapshot").await));
    }
    out
}

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

/// Random writes (numbers, numeric-like and other strings, new and replacing timestamps) to
/// several series, compared with a model after every few calls and by random range and last-N
/// queries at the end. Deterministic seed.
pub async fn check_random_model(b: &dyn StorageBackend) {
    let ids = [1u64, 2, 3, 4];
    create(b, &ids).await;
    let mut models: BTreeMap<u64, Model> = ids.iter().map(|&i| (i, Model::new())).collect();
    let mut rng = Rng::new(0xc110_5eed);
    let span = 3 * 86_400_000;
    for round in 0..40 {
        let mut batch = Vec::new();
        let mut expected = WriteSummary::default();
        for &id in &ids {
            if !rng.chance(0.6) {
                continue;
            }
            let Some(m) = models.get_mut(&id) else {
                continue;
            };
            let n = rng.range(1, 150);
            let stored: Vec<Timestamp> = m.keys().copied().collect();
            let pts = sorted(
                (0..n)
                    .map(|_| {
                        let ts = if !stored.is_empty() && rng.chance(0.2) {
                            stored[rng.below(stored.len() as u64) as usize]
                        } else {
                            T0 + rng.range(-span, span)
                        };
                        let r = rng.unit();
                        let value = if r < 0.8 {
                            Value::Num(rng.range(-1_000_000, 1_000_000) as f64 / 64.0)
                        } else if r < 0.9 {
                            Value::from(format!(" {} ", rng.range(-500, 500)))
                        } else {
                            Value::from(format!("s{}", rng.below(1000)))
                        };
                        Point { ts, value }
                    })
                    .collect(),
            );
            expected.points += pts.len() as u64;
            for p in &pts {
                if m.insert(p.ts, p.value.clone()).is_some() {
                    expected.replaced += 1;
                }
            }
            batch.push(sp(id, pts));
        }
        let s = write(b, &batch, &format!("random round {round}")).await;
        assert_eq!(
            (s.points, s.replaced),
            (expected.points, expected.replaced),
            "random round {round}: summary"
        );
        if round % 8 == 7 {
            for (&id, m) in &models {
                assert_model(b, id, m, &format!("random round {round}")).await;
            }
        }
    }
    for (&id, m) in &models {
        assert_model(b, id, m, "random end").await;
        let s = stats(b, id, "random end").await;
        assert_eq!(
            (s.points, s.first_ts, s.last_ts),
            (
                m.len() as u64,
                m.keys().next().copied(),
                m.keys().next_back().copied()
            ),
            "series {id} stats"
        );
        for q in 0..50 {
            let from = T0 + rng.range(-span - 1000, span);
            let to = from + rng.range(0, span / 4);
            let limit = if rng.chance(0.5) {
                usize::MAX
            } else {
                rng.below(100) as usize
            };
            assert_points(
                &read_range(b, id, from, to, limit, "random").await,
                &model_range(m, from, to, limit),
                &format!("series {id} random read_range #{q} [{from}, {to}) limit {limit}"),
            );
            let n = rng.below(60) as usize;
            let before = T0 + rng.range(-span - 1000, span + 1000);
            assert_points(
                &read_last(b, id, n, before, "random").await,
                &model_last(m, n, before),
                &format!("series {id} random read_last #{q} (n {n}, before {before})"),
            );
        }
    }
}

/// 200,000 points across 50 series in 20 calls, then full counts, stats, spot checks by range
/// and last-N, and trends of a few series.
pub async fn check_large_volume(b: &dyn StorageBackend) {
    const SERIES: u64 = 50;
    const ROUNDS: i64 = 20;
    const PER_ROUND: i64 = 200;
    const STEP: i64 = 15_000;
    let ids: Vec<u64> = (1..=SERIES).collect();
    create(b, &ids).await;
    let value = |id: u64, i: i64| -> Value {
        if i % 97 == 0 {
            Value::from(format!("event {id}/{i}"))
        } else {
            Value::Num(id as f64 * 1e6 + i as f64 * 0.5)
        }
    };
    let point = |id: u64, i: i64| Point {
        ts: T0 + i * STEP + id as i64,
        value: value(id, i),
    };
    let t = Instant::now();
    for r in 0..ROUNDS {
        let batch: Vec<SeriesPoints> = ids
            .iter()
            .map(|&id| {
                sp(
                    id,
                    (r * PER_ROUND..(r + 1) * PER_ROUND)
                        .map(|i| point(id, i))
                        .collect(),
                )
            })
            .collect();
        let s = write(b, &batch, &format!("large round {r}")).await;
        assert_eq!(
            (s.points, s.replaced),
            ((SERIES as i64 * PER_ROUND) as u64, 0),
            "large round {r} summary"
        );
    }
    let write_time = t.elapsed();
    let total = ROUNDS * PER_ROUND;
    let mut rng = Rng::new(0x1a26e);
    let t = Instant::now();
    let mut count = 0usize;
    for &id in &ids {
        let all = read_all(b, id, "large").await;
        count += all.len();
        assert_eq!(all.len() as i64, total, "series {id}: full range count");
        let s = stats(b, id, "large").await;
        assert_eq!(
            (s.points, s.first_ts, s.last_ts),
            (
                total as u64,
                Some(point(id, 0).ts),
                Some(point(id, total - 1).ts)
            ),
            "series {id} stats"
        );
        assert!(s.bytes > 0, "series {id}: bytes");
        for _ in 0..3 {
            let i = rng.range(0, total);
            let j = (i + rng.range(1, 300)).min(total);
            let want: Vec<Point> = (i..j).map(|k| point(id, k)).collect();
            assert_points(
                &read_range(
                    b,
                    id,
                    point(id, i).ts,
                    point(id, j - 1).ts + 1,
                    usize::MAX,
                    "large",
                )
                .await,
                &want,
                &format!("series {id} range of points {i}..{j}"),
            );
            let n = rng.range(1, 50);
            let want: Vec<Point> = ((i - n).max(0)..i).map(|k| point(id, k)).collect();
            assert_points(
                &read_last(b, id, n as usize, point(id, i).ts, "large").await,
                &want,
                &format!("series {id} {n} points before point {i}"),
            );
        }
        if id % 10 == 1 {
            let expected: Vec<Point> = (0..total).map(|k| point(id, k)).collect();
            assert_trends(b, id, &expected, "large volume").await;
        }
    }
    assert_eq!(count as u64, SERIES * total as u64, "total points");
    eprintln!(
        "storage conformance: large volume wrote {count} points in {write_time:?}, verified in {:?}",
        t.elapsed()
    );
}

/// Readers in several tokio tasks run while one task writes. Every call writes, for two
/// series, points that all carry the call's number: one series is overwritten in place, the
/// other grows. No read may see part of a call for one series, reads never go back in time,
/// and trends read before points never count more points than those. A `Native` backend's
/// trends are never older than its points; a `Given` backend's (stored by
/// [`crate::write_points`] after the points) may be one call behind them.
///
/// Takes an `Arc` because the readers and the writer are spawned as `'static` tasks.
pub async fn check_concurrent_readers(b: Arc<dyn StorageBackend>) {
    const BATCHES: u64 = 40;
    const M: i64 = 250;
    const READERS: usize = 4;
    const STEP: i64 = 10_000;
    ok(
        b.create_series(&[new_series(1), new_series(2)]).await,
        "create_series",
    );
    let over = 1u64;
    let grow = 2u64;
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let midway = Arc::new(AtomicU64::new(0));
    let alive = Arc::new(AtomicU64::new(0));

    let mut readers = Vec::new();
    for r in 0..READERS {
        let b = Arc::clone(&b);
        let done = Arc::clone(&done);
        let reads = Arc::clone(&reads);
        let midway = Arc::clone(&midway);
        let alive = AliveGuard::new(Arc::clone(&alive));
        readers.push(tokio::spawn(async move {
            // Dropped when the reader ends, also by a panic, so the writer stops waiting for it.
            let _alive = alive;
            let iv = smallest_interval(&*b);
            let native = b.trend_mode() == TrendMode::Native;
            let mut seen_over = 0u64;
            let mut seen_grow = 0u64;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let ctx = format!("reader {r}");

                // Trends first, then points: the points can only be newer.
                let trends = read_trends(&*b, grow, iv, MIN, MAX, &ctx).await;
                let trend_count: u64 = trends.iter().map(|x| x.count).sum();
                let pts = read_all(&*b, grow, &ctx).await;
                assert!(
                    trend_count <= pts.len() as u64,
                    "{ctx}: trends count {trend_count} points but a later read found only {}",
                    pts.len()
                );
                assert_eq!(
                    pts.len() as i64 % M,
                    0,
                    "{ctx}: a read saw part of a write: the growing series has {} points, not \
                     whole calls of {M}",
                    pts.len()
                );
                let calls = pts.len() as u64 / M as u64;
                for (i, p) in pts.iter().enumerate() {
                    let want = (i as i64 / M + 1) as f64;
                    assert!(
                        p.value.as_f64() == Some(want) && p.ts == (i as i64 + M) * STEP,
                        "{ctx}: growing series point #{i} is {p:?}, expected value {want}"
                    );
                }
                assert!(calls >= seen_grow, "{ctx}: growing series went back in time");
                seen_grow = calls;

                let pts = read_all(&*b, over, &ctx).await;
                let v = pts.first().and_then(|p| p.value.as_f64()).unwrap_or(0.0);
                if !pts.is_empty() {
                    assert_eq!(
                        pts.len() as i64,
                        M,
                        "{ctx}: a read saw part of a write: overwritten series point count"
                    );
                    assert!(
                        pts.iter().all(|p| p.value.as_f64() == Some(v)),
                        "{ctx}: a read saw part of a write: the overwritten series mixes calls: {:?}",
                        pts.iter().filter_map(|p| p.value.as_f64()).collect::<Vec<_>>()
                    );
                }
                assert!(v as u64 >= seen_over, "{ctx}: overwritten series went back in time");
                seen_over = v as u64;
                let trends = read_trends(&*b, over, iv, MIN, MAX, &ctx).await;
                let tc: u64 = trends.iter().map(|x| x.count).sum();
                if native {
                    let tv = trends.first().map(|x| x.min);
                    assert!(
                        trends.iter().all(|x| x.min == x.max && Some(x.min) == tv)
                            && tv.is_none_or(|tv| tv as u64 >= seen_over),
                        "{ctx}: a read saw part of a write: the overwritten series' trends mix \
                         calls or are older than its points"
                    );
                    assert!(
                        tc == 0 || tc == M as u64,
                        "{ctx}: overwritten series' trends count {tc} points, not {M}"
                    );
                } else {
                    // `Given`: the buckets follow the points in a later call, so they may be
                    // one call behind the points just read, but each bucket is one call's and
                    // the call before the one whose points were seen has finished.
                    let lag = seen_over.saturating_sub(1);
                    assert!(
                        trends
                            .iter()
                            .all(|x| x.min == x.max && x.min as u64 >= lag),
                        "{ctx}: the overwritten series' trends mix calls within a bucket or are \
                         more than one call older than its points"
                    );
                    assert!(
                        tc <= M as u64,
                        "{ctx}: overwritten series' trends count {tc} points, more than {M}"
                    );
                }

                if seen_grow > 0 && seen_grow < BATCHES {
                    midway.fetch_add(1, Ordering::SeqCst);
                }
                reads.fetch_add(1, Ordering::SeqCst);
                if finished {
                    assert_eq!(
                        (seen_grow, seen_over),
                        (BATCHES, BATCHES),
                        "{ctx}: the last read after the writer finished must see every call"
                    );
                    break;
                }
                tokio::task::yield_now().await;
            }
        }));
    }

    let writer = {
        let b = Arc::clone(&b);
        let done = Arc::clone(&done);
        let reads = Arc::clone(&reads);
        let alive = Arc::clone(&alive);
        tokio::spawn(async move {
            for k in 1..=BATCHES {
                let v = k as f64;
                let k = k as i64;
                let overwrite: Vec<Point> = (0..M).map(|i| Point::new(i * STEP, v)).collect();
                let append: Vec<Point> =
                    (0..M).map(|i| Point::new((k * M + i) * STEP, v)).collect();
                write(
                    &*b,
                    &[sp(over, overwrite), sp(grow, append)],
                    &format!("writer call {k}"),
                )
                .await;
                // Let the readers make progress between calls, so that they see the store in
                // many intermediate states even on a single-threaded runtime.
                let target = reads.load(Ordering::SeqCst) + 1;
                let deadline = Instant::now() + Duration::from_secs(5);
                while reads.load(Ordering::SeqCst) < target
                    && alive.load(Ordering::SeqCst) > 0
                    && Instant::now() < deadline
                {
                    tokio::task::yield_now().await;
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    if let Err(e) = writer.await {
        done.store(true, Ordering::SeqCst);
        panic!("writer task failed: {}", join_error_message(e));
    }
    for (i, h) in readers.into_iter().enumerate() {
        if let Err(e) = h.await {
            panic!("reader task {i} failed: {}", join_error_message(e));
        }
    }
    let midway = midway.load(Ordering::SeqCst);
    assert!(
        midway > 0,
        "no read happened while the writer was between its first and last call"
    );
    eprintln!(
        "storage conformance: concurrent readers made {} reads, {midway} of them mid-way",
        reads.load(Ordering::SeqCst)
    );
}

/// Counts live reader tasks; decrements when dropped, including during a panic's unwinding.
#[derive(Debug)]
struct AliveGuard(Arc<AtomicU64>);

impl AliveGuard {
    fn new(count: Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        AliveGuard(count)
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// After `close`, calls fail (the trait says "Later calls fail").
pub async fn check_close(b: &dyn StorageBackend) {
    create(b, &[1]).await;
    write(b, &[sp(1, vec![Point::new(T0, 1.0)])], "before close").await;
    ok(b.health().await, "health before close");
    ok(b.close().await, "close");
    assert!(b.health().await.is_err(), "health after close must fail");
    assert!(
        b.read_range(SeriesId(1), MIN, MAX, 10).await.is_err(),
        "read_range after close must fail"
    );
    assert!(
        b.write(&[sp(1, vec![Point::new(T0 + 1, 2.0)])])
            .await
            .is_err(),
        "write after close must fail"
    );
    assert!(
        b.load_catalog().await.is_err(),
        "load_catalog after close must fail"
    );
    assert!(
        b.create_series(&[new_series(2)]).await.is_err(),
        "create_series after close must fail"
    );
}
