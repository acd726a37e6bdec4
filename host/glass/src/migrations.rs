//! One list of versioned migrations for both engines, each with an up and a down step.
//! Schema steps change tables; data steps change rows (and have their own down step that
//! undoes exactly what the up step did). The version reached is recorded in
//! `glass_schema_version`, one row per applied step. A run applies its steps in one
//! transaction (both engines have transactional DDL), so it applies all or nothing; on
//! PostgreSQL an advisory lock keeps two processes from migrating at once.

use serde::Serialize;
use tracing::info;

use crate::engine::{Dialect, Engine, Tx};
use crate::error::GlassError;
use crate::value::{Kind, Val};

/// Whether a step changes the schema or only rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Tables, columns, indexes.
    Schema,
    /// Rows only.
    Data,
}

/// One migration.
#[derive(Debug)]
pub struct Migration {
    /// Its version (1, 2, ...): applying it brings the schema from `version - 1` to `version`.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    /// Schema or data.
    pub kind: StepKind,
    sqlite_up: &'static str,
    sqlite_down: &'static str,
    pg_up: &'static str,
    pg_down: &'static str,
}

impl Migration {
    fn up(&self, d: Dialect) -> &'static str {
        match d {
            Dialect::Sqlite => self.sqlite_up,
            Dialect::Postgres => self.pg_up,
        }
    }
    fn down(&self, d: Dialect) -> &'static str {
        match d {
            Dialect::Sqlite => self.sqlite_down,
            Dialect::Postgres => self.pg_down,
        }
    }
}

/// The newest version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Every migration, oldest first.
pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "Glass AI metadata and analytics tables",
        kind: StepKind::Schema,
        sqlite_up: include_str!("sql/v1_sqlite_up.sql"),
        sqlite_down: include_str!("sql/v1_down.sql"),
        pg_up: include_str!("sql/v1_pg_up.sql"),
        pg_down: include_str!("sql/v1_down.sql"),
    },
    Migration {
        version: 2,
        name: "sensors link to their series (series_key, series_id)",
        kind: StepKind::Schema,
        sqlite_up: "ALTER TABLE sensors ADD COLUMN series_key TEXT;
                    ALTER TABLE sensors ADD COLUMN series_id INTEGER;
                    CREATE INDEX sensors_series_key ON sensors (series_key);",
        sqlite_down: "DROP INDEX sensors_series_key;
                      ALTER TABLE sensors DROP COLUMN series_id;
                      ALTER TABLE sensors DROP COLUMN series_key;",
        pg_up: "ALTER TABLE sensors ADD COLUMN series_key VARCHAR(1000);
                ALTER TABLE sensors ADD COLUMN series_id BIGINT;
                CREATE INDEX sensors_series_key ON sensors (series_key);",
        pg_down: "DROP INDEX sensors_series_key;
                  ALTER TABLE sensors DROP COLUMN series_id;
                  ALTER TABLE sensors DROP COLUMN series_key;",
    },
    Migration {
        version: 3,
        name: "link existing sensors to the seed's series `sensor_data,sensor_id=<id> value`",
        kind: StepKind::Data,
        // Only sensor ids that need no escaping in a key; the down step clears exactly the
        // keys the up step could have written (a key set by hand to another value stays).
        sqlite_up:
            "UPDATE sensors SET series_key = 'sensor_data,sensor_id=' || sensor_id || ' value'
                    WHERE series_key IS NULL AND series_id IS NULL
                      AND sensor_id NOT GLOB '*[ ,=\\\"]*';",
        sqlite_down: "UPDATE sensors SET series_key = NULL
                      WHERE series_key = 'sensor_data,sensor_id=' || sensor_id || ' value';",
        pg_up: "UPDATE sensors SET series_key = 'sensor_data,sensor_id=' || sensor_id || ' value'
                WHERE series_key IS NULL AND series_id IS NULL
                  AND sensor_id !~ '[ ,=\\\\\"]';",
        pg_down: "UPDATE sensors SET series_key = NULL
                  WHERE series_key = 'sensor_data,sensor_id=' || sensor_id || ' value';",
    },
    Migration {
        version: 4,
        name: "camera images: catalog (images) and, on PostgreSQL, their bytes",
        kind: StepKind::Schema,
        sqlite_up: include_str!("sql/v4_sqlite_up.sql"),
        sqlite_down: include_str!("sql/v4_sqlite_down.sql"),
        pg_up: include_str!("sql/v4_pg_up.sql"),
        pg_down: include_str!("sql/v4_pg_down.sql"),
    },
];

/// Where the schema stands.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    /// The version the database is at (0: no tables).
    pub current: i64,
    /// The newest version this build knows.
    pub latest: i64,
    /// Every migration this build knows, with whether and when it was applied.
    pub steps: Vec<StepStatus>,
}

/// One step in [`MigrationStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct StepStatus {
    /// Version.
    pub version: i64,
    /// What it does.
    pub name: String,
    /// Schema or data.
    pub kind: StepKind,
    /// When it was applied (ms since the epoch), if it was.
    pub applied_at: Option<i64>,
}

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS glass_schema_version (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

async fn prepare(tx: &mut Box<dyn Tx + '_>, dialect: Dialect) -> Result<i64, GlassError> {
    if dialect == Dialect::Postgres {
        // One migration at a time per database schema.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.glass'))",
            &[],
        )
        .await?;
    }
    tx.batch(VERSION_TABLE).await?;
    let rows = tx
        .query(
            "SELECT COALESCE(MAX(version), 0) FROM glass_schema_version",
            &[],
            &[Kind::Int],
        )
        .await?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Val::Int(v)) => *v,
        _ => 0,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The schema's state.
pub(crate) async fn status(engine: &dyn Engine) -> Result<MigrationStatus, GlassError> {
    let mut tx = engine.begin().await?;
    let current = prepare(&mut tx, engine.dialect()).await?;
    let rows = tx
        .query(
            "SELECT version, applied_at FROM glass_schema_version ORDER BY version",
            &[],
            &[Kind::Int, Kind::Int],
        )
        .await?;
    tx.commit().await?;
    let applied = |v: i64| {
        rows.iter().find_map(|r| match (r.first(), r.get(1)) {
            (Some(Val::Int(x)), Some(Val::Int(at))) if *x == v => Some(*at),
            _ => None,
        })
    };
    Ok(MigrationStatus {
        current,
        latest: latest(),
        steps: MIGRATIONS
            .iter()
            .map(|m| StepStatus {
                version: m.version,
                name: m.name.to_owned(),
                kind: m.kind,
                applied_at: applied(m.version),
            })
            .collect(),
    })
}

/// Applies the steps up to `to` (default: the newest). A database newer than this build is
/// refused. Returns the version reached.
pub(crate) async fn up(engine: &dyn Engine, to: Option<i64>) -> Result<i64, GlassError> {
    let target = to.unwrap_or_else(latest);
    if !(0..=latest()).contains(&target) {
        return Err(GlassError::invalid(
            "to",
            format!(
                "version {target} is unknown; this build knows 0..={}",
                latest()
            ),
        ));
    }
    let dialect = engine.dialect();
    let mut tx = engine.begin().await?;
    let current = prepare(&mut tx, dialect).await?;
    if current > latest() {
        return Err(GlassError::SchemaTooNew {
            found: current,
            supported: latest(),
        });
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
        tx.batch(m.up(dialect))
            .await
            .map_err(|e| GlassError::Db(format!("migration {} ({}) up: {e}", m.version, m.name)))?;
        tx.execute(
            "INSERT INTO glass_schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
            &[
                Val::Int(m.version),
                Val::Text(m.name.to_owned()),
                Val::Int(now_ms()),
            ],
        )
        .await?;
        info!(
            version = m.version,
            name = m.name,
            "glass migration applied"
        );
    }
    tx.commit().await?;
    engine.schema_changed();
    Ok(current.max(target))
}

/// Reverts steps down to version `to` (default: one step back). Returns the version
/// reached.
pub(crate) async fn down(engine: &dyn Engine, to: Option<i64>) -> Result<i64, GlassError> {
    let dialect = engine.dialect();
    let mut tx = engine.begin().await?;
    let current = prepare(&mut tx, dialect).await?;
    if current > latest() {
        return Err(GlassError::SchemaTooNew {
            found: current,
            supported: latest(),
        });
    }
    let target = to.unwrap_or((current - 1).max(0));
    if target < 0 || target > current {
        return Err(GlassError::invalid(
            "to",
            format!("version {target} is not between 0 and the current {current}"),
        ));
    }
    for m in MIGRATIONS
        .iter()
        .rev()
        .filter(|m| m.version <= current && m.version > target)
    {
        tx.batch(m.down(dialect)).await.map_err(|e| {
            GlassError::Db(format!("migration {} ({}) down: {e}", m.version, m.name))
        })?;
        tx.execute(
            "DELETE FROM glass_schema_version WHERE version = $1",
            &[Val::Int(m.version)],
        )
        .await?;
        info!(
            version = m.version,
            name = m.name,
            "glass migration reverted"
        );
    }
    tx.commit().await?;
    engine.schema_changed();
    Ok(target)
}
