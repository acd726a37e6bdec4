//! The Glass AI seed's relational half (issue #21): metadata (production lines, equipment,
//! sensors, AI models, configurations) and analytics (predictions, recommendations, defects,
//! quality metrics, performance logs) beside Clio's time series, on the embedded SQLite
//! store (`glass.db` in the data directory) or on PostgreSQL (the storage backend's pool, a
//! schema of its own). One set of versioned migrations with down steps serves both
//! ([`migrations`]); [`Glass`] offers validated create/read/update/delete, filtered and
//! sorted listing with cursors, and all-or-nothing batches. Users are not stored here: they
//! live in the server's security layer, and rows name them (`configurations.updated_by`).
//! See docs/glass-ai.md.

mod bulk;
mod crud;
mod engine;
mod error;
pub mod images;
mod list;
pub mod migrations;
mod partitions;
mod quality;
mod schedule;
pub mod snapshot;
pub mod tables;
mod value;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value as Json, json};

pub use engine::Dialect;
use engine::Engine;
pub use error::GlassError;
pub use list::{DEFAULT_LIMIT, MAX_LIMIT, Page};
pub use migrations::{MigrationStatus, latest as latest_version};
pub use value::{Kind, Val, parse_time};

/// Where the Glass tables live.
#[derive(Debug, Clone)]
pub enum Target {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database, in `options.schema`.
    Postgres(clio_storage_postgres::PgOptions),
}

impl Target {
    /// `url` empty or `sqlite`: `glass.db` in `data_dir`; `postgresql://...` (or
    /// `postgres://`): that database, with `schema`, `pool_size` and an optional password
    /// (when the URL holds none).
    pub fn from_url(
        url: &str,
        data_dir: &Path,
        schema: &str,
        pool_size: usize,
        password: Option<String>,
    ) -> Result<Target, GlassError> {
        let url = url.trim();
        if url.is_empty() || url == "sqlite" {
            return Ok(Target::Sqlite(data_dir.join("glass.db")));
        }
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(GlassError::invalid(
                "glass.url",
                "expected \"\" (SQLite in the data directory) or postgresql://user@host:port/db",
            ));
        }
        let mut o = clio_storage_postgres::PgOptions::from_url(url)?;
        o.schema = schema.to_owned();
        o.pool_size = pool_size;
        if o.password.is_none() {
            o.password = password;
        }
        o.validate()?;
        Ok(Target::Postgres(o))
    }

    /// Days per time partition and partitions made ahead (PostgreSQL; ignored on SQLite).
    pub fn with_partitions(mut self, days: u32, ahead: u32) -> Self {
        if let Target::Postgres(o) = &mut self {
            o.partition_days = days;
            o.partitions_ahead = ahead;
        }
        self
    }
}

/// One change of a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum BatchOp {
    /// Insert `data` into `table`.
    Create {
        /// The table.
        table: String,
        /// The columns.
        data: Json,
    },
    /// Change columns of row `id`.
    Update {
        /// The table.
        table: String,
        /// The row.
        id: i64,
        /// The columns to change.
        data: Json,
    },
    /// Delete row `id`.
    Delete {
        /// The table.
        table: String,
        /// The row.
        id: i64,
    },
}

/// The Glass AI tables on one database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Glass {
    engine: Arc<dyn Engine>,
    partition_days: u32,
    partitions_ahead: u32,
    images: Option<Arc<images::ImageState>>,
}

fn table(name: &str) -> Result<&'static tables::Table, GlassError> {
    tables::table(name).ok_or_else(|| GlassError::NotFound(format!("no table {name:?}")))
}

impl Glass {
    /// Connects without touching the schema (for `clio migrate`).
    pub async fn connect(target: &Target) -> Result<Glass, GlassError> {
        let (engine, days, ahead): (Arc<dyn Engine>, u32, u32) = match target {
            Target::Sqlite(path) => (Arc::new(engine::sqlite::SqliteEngine::open(path)?), 0, 0),
            Target::Postgres(o) => {
                let pool = clio_storage_postgres::build_pool(o)?;
                let mut conn = pool.get().await?;
                let tx = conn.transaction().await?;
                // Two processes starting together must not race on CREATE SCHEMA.
                tx.batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock(hashtext('clio-glass-schema'));
                     CREATE SCHEMA IF NOT EXISTS {}",
                    engine::quote(&o.schema)
                ))
                .await?;
                tx.commit().await?;
                drop(conn);
                (
                    Arc::new(engine::postgres::PgEngine::new(pool, o.schema.clone())),
                    o.partition_days,
                    o.partitions_ahead,
                )
            }
        };
        let g = Glass {
            engine,
            partition_days: days,
            partitions_ahead: ahead,
            images: None,
        };
        Ok(g)
    }

    /// Connects and brings the schema up to this build's version, refusing a newer one
    /// (what the server does at start-up); on PostgreSQL also makes the time partitions
    /// ahead.
    pub async fn open(target: &Target) -> Result<Glass, GlassError> {
        let g = Glass::connect(target).await?;
        let version = g.migrate_up(None).await?;
        g.ensure_partitions().await?;
        tracing::info!(version, dialect = ?g.dialect(), "glass tables ready");
        Ok(g)
    }

    /// Serves camera images with `opts` (creates their directory, removes half-written
    /// uploads of an earlier run).
    pub fn with_images(mut self, opts: images::ImageOptions) -> Result<Glass, GlassError> {
        self.images = Some(Arc::new(images::ImageState::new(opts)?));
        Ok(self)
    }

    /// The camera images, once [`Glass::with_images`] set them up.
    pub fn images(&self) -> Result<images::Images, GlassError> {
        let state = self
            .images
            .clone()
            .ok_or_else(|| GlassError::Unavailable("camera images are not set up".into()))?;
        Ok(images::Images {
            engine: self.engine.clone(),
            state,
        })
    }

    /// The dialect of the database.
    pub fn dialect(&self) -> Dialect {
        self.engine.dialect()
    }

    /// Where the schema stands.
    pub async fn migration_status(&self) -> Result<MigrationStatus, GlassError> {
        migrations::status(self.engine.as_ref()).await
    }

    /// Applies migrations up to `to` (default: the newest); returns the version reached.
    pub async fn migrate_up(&self, to: Option<i64>) -> Result<i64, GlassError> {
        migrations::up(self.engine.as_ref(), to).await
    }

    /// Reverts migrations down to `to` (default: one step); returns the version reached.
    pub async fn migrate_down(&self, to: Option<i64>) -> Result<i64, GlassError> {
        migrations::down(self.engine.as_ref(), to).await
    }

    /// Makes the time partitions of the partitioned tables from the current one to
    /// `partitions_ahead` ahead (PostgreSQL; nothing on SQLite).
    pub async fn ensure_partitions(&self) -> Result<(), GlassError> {
        if self.dialect() != Dialect::Postgres {
            return Ok(());
        }
        partitions::ensure(
            self.engine.as_ref(),
            self.partition_days,
            self.partitions_ahead,
        )
        .await
    }

    /// Inserts a row into `table`; returns it as stored.
    pub async fn create(&self, table_name: &str, data: &Json) -> Result<Json, GlassError> {
        let t = table(table_name)?;
        let mut tx = self.engine.begin().await?;
        let row = crud::create(&mut tx, t, data).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// One row.
    pub async fn get(&self, table_name: &str, id: i64) -> Result<Json, GlassError> {
        let t = table(table_name)?;
        let mut tx = self.engine.begin().await?;
        let row = crud::get(&mut tx, t, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Changes the given columns of a row; returns it as stored.
    pub async fn update(&self, table_name: &str, id: i64, data: &Json) -> Result<Json, GlassError> {
        let t = table(table_name)?;
        let mut tx = self.engine.begin().await?;
        let row = crud::update(&mut tx, t, id, data).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes a row.
    pub async fn delete(&self, table_name: &str, id: i64) -> Result<(), GlassError> {
        let t = table(table_name)?;
        let mut tx = self.engine.begin().await?;
        crud::delete(&mut tx, t, id).await?;
        tx.commit().await
    }

    /// Rows of `table` matching query-string parameters (see `list.rs` and
    /// docs/glass-ai.md).
    pub async fn list(
        &self,
        table_name: &str,
        params: &[(String, String)],
    ) -> Result<Page, GlassError> {
        let t = table(table_name)?;
        let mut tx = self.engine.begin().await?;
        let page = list::list(&mut tx, self.dialect(), t, params).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Applies every change in one transaction: all of them, or (on the first failure,
    /// whose field is named `ops[i].field`) none. Returns one result per change. Runs of
    /// creates into the same table are inserted a statement per up to 1,000 rows
    /// (`bulk.rs`), each row checked as a single create is.
    pub async fn batch(&self, ops: &[BatchOp]) -> Result<Vec<Json>, GlassError> {
        fn wrap(i: usize, e: GlassError) -> GlassError {
            match e {
                GlassError::NotFound(m) => GlassError::NotFound(format!("ops[{i}]: {m}")),
                GlassError::Conflict(m) => GlassError::Conflict(format!("ops[{i}]: {m}")),
                other => other.within(&format!("ops[{i}].")),
            }
        }
        let mut tx = self.engine.begin().await?;
        let mut out = Vec::with_capacity(ops.len());
        let mut refs = bulk::RefCache::new();
        let mut i = 0;
        while i < ops.len() {
            let prefix = format!("ops[{i}].");
            if let BatchOp::Create { table: name, .. } = &ops[i] {
                let run: Vec<(usize, &Json)> = ops[i..]
                    .iter()
                    .enumerate()
                    .map_while(|(k, op)| match op {
                        BatchOp::Create { table, data } if table == name => Some((i + k, data)),
                        _ => None,
                    })
                    .collect();
                if run.len() > 1 {
                    let t = table(name).map_err(|e| e.within(&prefix))?;
                    // Dropping `tx` on an error rolls everything back.
                    let rows = bulk::create_many(&mut tx, t, &run, &mut refs)
                        .await
                        .map_err(|(k, e)| wrap(k, e))?;
                    out.extend(
                        rows.into_iter()
                            .map(|row| json!({"op": "create", "table": name, "row": row})),
                    );
                    i += run.len();
                    continue;
                }
            }
            let r = match &ops[i] {
                BatchOp::Create { table: name, data } => {
                    let t = table(name).map_err(|e| e.within(&prefix))?;
                    crud::create(&mut tx, t, data)
                        .await
                        .map(|row| json!({"op": "create", "table": name, "row": row}))
                }
                BatchOp::Update {
                    table: name,
                    id,
                    data,
                } => {
                    let t = table(name).map_err(|e| e.within(&prefix))?;
                    crud::update(&mut tx, t, *id, data)
                        .await
                        .map(|row| json!({"op": "update", "table": name, "row": row}))
                }
                BatchOp::Delete { table: name, id } => {
                    let t = table(name).map_err(|e| e.within(&prefix))?;
                    // A row known to exist may be gone now.
                    refs.clear();
                    crud::delete(&mut tx, t, *id)
                        .await
                        .map(|()| json!({"op": "delete", "table": name, "id": id}))
                }
            };
            // Dropping `tx` on an error rolls everything back.
            out.push(r.map_err(|e| wrap(i, e))?);
            i += 1;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Computes the quality metrics of `model` over `[from, to)` from its predictions with
    /// an actual result, stores them in `quality_metrics` and returns them (see
    /// `quality.rs`).
    pub async fn compute_quality(
        &self,
        model: &str,
        from: i64,
        to: i64,
        positive: Option<&Json>,
    ) -> Result<Json, GlassError> {
        let mut tx = self.engine.begin().await?;
        let out = quality::compute(&mut tx, model, from, to, positive).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The sensor with `id` (the row id) or, failing that, `sensor_id` equal to `key`.
    pub async fn sensor(&self, key: &str) -> Result<Json, GlassError> {
        if let Ok(id) = key.parse::<i64>()
            && let Ok(row) = self.get("sensors", id).await
        {
            return Ok(row);
        }
        let page = self
            .list("sensors", &[("sensor_id".to_owned(), key.to_owned())])
            .await?;
        page.items
            .into_iter()
            .next()
            .ok_or_else(|| GlassError::NotFound(format!("no sensor {key:?}")))
    }
}
