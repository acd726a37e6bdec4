//! Schema migrations against a throwaway cluster.

#![allow(clippy::unwrap_used)]

mod common;

use clio_storage_postgres::{PgError, PgOptions, SCHEMA_VERSION, SslMode, migrate};

async fn connect(o: &PgOptions) -> tokio_postgres::Client {
    let (client, conn) = o.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_versioned() {
    let o = common::new_database("schema");
    o.validate().unwrap();
    let mut c = connect(&o).await;
    assert_eq!(migrate(&mut c, &o.schema).await.unwrap(), SCHEMA_VERSION);
    assert_eq!(migrate(&mut c, &o.schema).await.unwrap(), SCHEMA_VERSION);
    let rows = c
        .query(
            "SELECT version FROM clio.schema_version ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    // Tables are there and series-keyed.
    c.execute(
        "INSERT INTO clio.chunks VALUES (1, -9223372036854775808, 0, 1, '\\x00'::bytea)",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let mut o = common::new_database("newer");
    o.schema = "other_schema".into();
    let mut c = connect(&o).await;
    migrate(&mut c, &o.schema).await.unwrap();
    c.execute(
        "INSERT INTO other_schema.schema_version (version) VALUES (999)",
        &[],
    )
    .await
    .unwrap();
    let err = migrate(&mut c, &o.schema).await.unwrap_err();
    assert!(
        matches!(err, PgError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

#[test]
fn options_are_checked() {
    let mut o = PgOptions::new("/tmp", 5432, "db", "u");
    assert!(o.validate().is_ok());
    o.schema = "bad-name; DROP".into();
    assert!(o.validate().is_err());
    o.schema = "clio".into();
    o.pool_size = 0;
    assert!(o.validate().is_err());
    o.pool_size = 20;
    o.sslmode = SslMode::parse("require").unwrap();
    assert!(o.validate().is_ok());
    assert!(SslMode::parse("verify-full").is_ok());
    assert!(SslMode::parse("sometimes").is_err());
    assert!(!format!("{o:?}").contains("secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_opens_migrates_and_survives_terminated_connections() {
    let mut o = common::new_database("pool");
    o.pool_size = 4;
    let pool = clio_storage_postgres::open_pool(&o).await.unwrap();
    {
        let c = pool.get().await.unwrap();
        let v: i32 = c
            .query_one("SELECT MAX(version) FROM clio.schema_version", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, SCHEMA_VERSION);
    }
    // Kill every connection of this database from outside.
    let admin = connect(&o).await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    // The pool hands out a working connection again.
    let c = pool.get().await.unwrap();
    let one: i32 = c.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}
