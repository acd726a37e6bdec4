//! The InfluxDB backend against the shared conformance suite (with its declared limits),
//! on a real `influxd` this test starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clio_storage::StorageBackend;
use clio_storage::testing;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    testing::run_all(|| common::fresh_backend("conf")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declares_its_limits() {
    let b = common::fresh_backend("limits").await;
    let l = b.capabilities().limits;
    assert!(l.keyed_single_type && l.deletes_per_tag_set);
    // InfluxDB's range, its start rounded up to the largest trend interval (one day), so that
    // every bucket of a stored point can be stored too.
    let (lo, hi) = l.timestamps.expect("a declared timestamp range");
    assert_eq!(hi, clio_storage_influxdb::MAX_TIMESTAMP);
    assert!(
        (clio_storage_influxdb::MIN_TIMESTAMP..clio_storage_influxdb::MIN_TIMESTAMP + 86_400_000)
            .contains(&lo)
    );
    assert_eq!(lo % 86_400_000, 0);
}
