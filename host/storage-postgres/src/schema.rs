//! Versioned, idempotent schema migrations under the configured schema.

use tokio_postgres::Client;
use tracing::info;

use crate::PgError;

/// Newest schema version this build writes and understands.
pub const SCHEMA_VERSION: i32 = 3;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`. `{schema}` is the
/// validated schema name. Every table is keyed by `series_id` first (Citus can distribute
/// it unchanged); timestamps are BIGINT milliseconds.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS {schema}.series (
    series_id         BIGINT PRIMARY KEY,
    key               BYTEA UNIQUE,
    keep_history_days BIGINT NOT NULL,
    keep_trends_days  BIGINT NOT NULL,
    metadata          BYTEA NOT NULL,
    created           BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.chunks (
    series_id BIGINT NOT NULL,
    start_ts  BIGINT NOT NULL,
    end_ts    BIGINT NOT NULL,
    count     INTEGER NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (series_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE IF NOT EXISTS {schema}.chunks_default PARTITION OF {schema}.chunks DEFAULT;
CREATE TABLE IF NOT EXISTS {schema}.trend_chunks (
    series_id   BIGINT NOT NULL,
    interval_ms BIGINT NOT NULL,
    start_ts    BIGINT NOT NULL,
    end_ts      BIGINT NOT NULL,
    count       INTEGER NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (series_id, interval_ms, start_ts)
);
",
    "
-- Chunks are zstd-compressed already: out-of-line storage without another compression try.
ALTER TABLE {schema}.chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE {schema}.trend_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
-- The parts of a line-protocol key, for the plain-rows view (NULL for id-only series and for
-- keys whose text JSON cannot hold).
ALTER TABLE {schema}.series ADD COLUMN IF NOT EXISTS measurement TEXT;
ALTER TABLE {schema}.series ADD COLUMN IF NOT EXISTS field TEXT;
ALTER TABLE {schema}.series ADD COLUMN IF NOT EXISTS tags JSONB;
-- Recent points as plain rows (a copy of what the chunks hold for the last hours), the
-- table behind the `points` view.
CREATE TABLE IF NOT EXISTS {schema}.recent_points (
    series_id  BIGINT NOT NULL,
    ts         BIGINT NOT NULL,
    value      DOUBLE PRECISION,
    text_value TEXT,
    PRIMARY KEY (series_id, ts)
);
CREATE OR REPLACE VIEW {schema}.points AS
SELECT p.series_id,
       CASE WHEN s.key IS NULL THEN NULL
            WHEN position('\\x00'::bytea IN s.key) = 0 THEN convert_from(s.key, 'UTF8')
            ELSE encode(s.key, 'escape') END AS series_key,
       s.measurement,
       s.tags,
       s.field,
       to_timestamp(p.ts / 1000.0) AS time,
       p.ts AS ts_ms,
       p.value,
       p.text_value
FROM {schema}.recent_points p
JOIN {schema}.series s USING (series_id);
",
    // Version 3 changes no table: it marks that trend chunks may now refer to an earlier
    // column (docs/chunk-format.md 3.5), so that a Clio reading only version 2 refuses the
    // schema at start instead of failing on single chunks.
    "
COMMENT ON COLUMN {schema}.trend_chunks.data IS
    'clio-codec trend chunk; since schema version 3 a column may refer to an earlier one';
",
];

/// Creates the schema or upgrades it to [`SCHEMA_VERSION`], in one transaction under an
/// advisory lock (two Clio processes starting together do not race). Running it again does
/// nothing. A database at a newer version is refused.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<i32, PgError> {
    let tx = client.transaction().await?;
    // One lock per schema name; hashtext keeps it stable across processes.
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema])
        .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (
             version INTEGER NOT NULL,
             applied BIGINT NOT NULL DEFAULT (extract(epoch FROM now()) * 1000)::BIGINT
         );"
    ))
    .await?;
    let found: i32 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.schema_version"),
            &[],
        )
        .await?
        .try_get(0)?;
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            schema: schema.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let insert = tx
        .prepare(&format!(
            "INSERT INTO {schema}.schema_version (version) VALUES ($1)"
        ))
        .await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(&sql.replace("{schema}", schema)).await?;
        tx.execute(&insert, &[&version]).await?;
        info!(schema, version, "postgres schema migrated");
    }
    tx.commit().await?;
    Ok(SCHEMA_VERSION)
}

/// For a read-only open (a hot standby): the schema must be there at exactly this build's
/// version, as the primary's Clio left it; nothing is created.
pub async fn check_version(client: &Client, schema: &str) -> Result<i32, PgError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{schema}.schema_version")],
        )
        .await?
        .try_get(0)?;
    if !exists {
        return Err(PgError::Config(format!(
            "read_only: schema {schema:?} has no Clio tables; start a writing Clio on the primary first"
        )));
    }
    let found: i32 = client
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.schema_version"),
            &[],
        )
        .await?
        .try_get(0)?;
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            schema: schema.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(PgError::Config(format!(
            "read_only: schema {schema:?} is at version {found}, older than {SCHEMA_VERSION}; upgrade the primary's Clio first"
        )));
    }
    Ok(found)
}
