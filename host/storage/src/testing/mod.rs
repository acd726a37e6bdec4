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
//! [`TrendStore::trend_intervals`](crate::TrendStore::trend_intervals). Raw points are compared bit for bit (so `-0.0` must stay
//! negative); trend buckets are compared with [`TrendBucket::build`](crate::TrendBucket::build) over the raw points, `sum`
//! and `sum_sq` within 1e-9 relative, everything else exactly.
//!
//! Where the trait leaves a choice open, the checks accept both answers: reading a series that
//! was deleted may give nothing or `NotFound`, and a reversed range (`from > to`) may give
//! nothing or `InvalidInput`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::StorageBackend;

// The checks live in modules named for what they check; `support` holds what they share.
// The modules are private and their checks re-exported here, so every check keeps its path
// (`clio_storage::testing::check_*`) whichever file it lives in.
mod catalog;
mod concurrency;
mod deletion;
mod guarded;
mod lifecycle;
mod limits;
mod reads;
mod support;
mod trends;
mod volume;
mod writes;

pub use catalog::{check_catalog, check_catalog_update, check_delete_series};
pub use concurrency::check_concurrent_readers;
pub use deletion::{check_delete_points, check_delete_trends, check_expire};
pub use guarded::Guarded;
pub use lifecycle::{check_close, check_health};
pub use limits::check_declared_limits;
pub use reads::{check_paging, check_read_columns, check_read_last, check_read_range, check_stats};
pub use trends::{
    check_put_trends, check_trend_numeric_semantics, check_trends, check_trends_follow_points,
    check_trends_late_and_overwrite,
};
pub use volume::{check_large_volume, check_random_model};
pub use writes::{
    check_edge_timestamps, check_edge_values, check_late_writes, check_overwrite,
    check_strings_and_mixed, check_write_read_back,
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
    check_declared_limits,
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
