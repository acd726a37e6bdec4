//! The PostgreSQL backend against the shared conformance suite, unchanged and without
//! declared limits, on a throwaway cluster this test binary starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clio_storage::StorageBackend;
use clio_storage::testing;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    testing::run_all(|| common::fresh_backend("conf")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declares_no_limits() {
    let b = common::fresh_backend("limits").await;
    assert_eq!(b.capabilities().limits, clio_storage::Limits::default());
}
