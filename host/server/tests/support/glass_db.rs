//! Where a test's Glass AI tables live: `glass.db` in the data directory, or a fresh database
//! (schema `glass`) in the binary's shared throwaway PostgreSQL cluster. The including test
//! declares `mod pg_cluster` (tests/support/pg_cluster.rs).

use std::path::Path;

use clio_glass::Target;

/// The two engines every Glass test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The tables' target for `db`: `dir/glass.db`, or a new database `name` in the cluster.
pub fn target(db: Db, dir: &Path, name: &str) -> Target {
    match db {
        Db::Sqlite => Target::Sqlite(dir.join("glass.db")),
        Db::Postgres => {
            let c = crate::pg_cluster::cluster();
            let database = c.create_database(name);
            let mut o = clio_storage_postgres::PgOptions::new(
                c.socket_dir().to_str().unwrap(),
                c.port,
                &database,
                &c.user,
            );
            o.pool_size = 4;
            o.schema = "glass".into();
            Target::Postgres(o)
        }
    }
}
