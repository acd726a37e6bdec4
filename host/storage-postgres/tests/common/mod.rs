//! The throwaway cluster (tests/support/pg_cluster.rs, shared with other crates' tests) and
//! a backend on a fresh database of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../tests/support/pg_cluster.rs"]
mod pg_cluster;
pub use pg_cluster::*;

/// A backend on a fresh database of this binary's cluster (small pool: tests open many).
pub async fn fresh_backend(prefix: &str) -> clio_storage_postgres::PgBackend {
    let mut o = cluster().new_database(prefix);
    o.pool_size = 4;
    clio_storage_postgres::PgBackend::open(o)
        .await
        .expect("open the postgres backend")
}
