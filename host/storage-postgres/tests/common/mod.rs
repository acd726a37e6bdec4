//! The shared throwaway cluster (tests/support/pg_cluster.rs) and backends on it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

#[allow(unused_imports)]
pub use pg_cluster::{Cluster, bin_dir, cluster};

use clio_storage_postgres::PgOptions;

/// Options for `database` on `c` (over its unix socket).
pub fn options_for(c: &Cluster, database: &str) -> PgOptions {
    PgOptions::new(c.socket_dir().to_str().unwrap(), c.port, database, &c.user)
}

/// Creates a fresh database on this binary's cluster and returns options for it.
pub fn new_database(prefix: &str) -> PgOptions {
    let c = cluster();
    options_for(c, &c.create_database(prefix))
}

/// A backend on a fresh database of this binary's cluster (small pool: tests open many).
pub async fn fresh_backend(prefix: &str) -> clio_storage_postgres::PgBackend {
    let mut o = new_database(prefix);
    o.pool_size = 4;
    clio_storage_postgres::PgBackend::open(o)
        .await
        .expect("open the postgres backend")
}
