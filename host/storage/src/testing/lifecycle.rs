//! Lifecycle checks: a fresh store is healthy, describes itself, keeps usable trend intervals
//! and starts with an empty catalog; after `close` every call fails.
//!
//! `run_all` runs [`check_health`] first and [`check_close`] last, because the latter leaves
//! the backend closed.

use std::collections::BTreeSet;

use crate::{Point, SeriesFilter, SeriesId, StorageBackend, TrendInterval};

use super::support::{MAX, MIN, T0, create, new_series, ok, sp, write};

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
