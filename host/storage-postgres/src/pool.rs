//! The connection pool, opened once the schema is current.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tracing::info;

use crate::schema::check_version;
use crate::{PgError, PgOptions, migrate};

/// Opens a pool of `options.pool_size` connections and brings the schema up to date on one of
/// them. Recycling checks each connection before reuse (`Verified`), so a connection killed
/// by `pg_terminate_backend` or a server restart is replaced rather than handed out.
pub async fn open_pool(options: &PgOptions) -> Result<Pool, PgError> {
    let pool = build_pool(options)?;
    let mut conn = pool.get().await?;
    let version = if options.read_only {
        check_version(&conn, &options.schema).await?
    } else {
        migrate(&mut conn, &options.schema).await?
    };
    info!(
        host = %options.host,
        port = options.port,
        database = %options.database,
        schema = %options.schema,
        version,
        pool_size = options.pool_size,
        sslmode = ?options.sslmode,
        read_only = options.read_only,
        "postgres pool open"
    );
    Ok(pool)
}

/// A pool of `options.pool_size` verified connections without touching any schema: for other
/// users of the same database settings (the Glass AI tables, `clio-glass`), which keep their
/// own migrations.
pub fn build_pool(options: &PgOptions) -> Result<Pool, PgError> {
    options.validate()?;
    let manager = Manager::from_config(
        options.pg_config(),
        crate::tls::connector(options)?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(options.pool_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| PgError::Config(format!("pool: {e}")))?;
    Ok(pool)
}
