//! `[glass]`: the Glass AI metadata and analytics tables (clio-glass, docs/glass-ai.md):
//! where they live (SQLite in the data directory, or PostgreSQL) and the API's limits.

use serde::Deserialize;

/// `[glass]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlassConfig {
    /// Serve the tables (and migrate them at start-up).
    #[serde(default = "crate::default_true")]
    pub enabled: bool,
    /// `""` (default): `glass.db` in the data directory; `postgresql://user@host:port/db`:
    /// that PostgreSQL database.
    #[serde(default)]
    pub url: String,
    /// The PostgreSQL password's environment variable, when the URL holds none.
    #[serde(default)]
    pub password_env: String,
    /// The PostgreSQL schema holding the tables.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// PostgreSQL connections in the pool.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Days covered by one time partition of `predictions` and `performance_logs`
    /// (PostgreSQL).
    #[serde(default = "default_partition_days")]
    pub partition_days: u32,
    /// Partitions made ahead of the current one at start-up (PostgreSQL).
    #[serde(default = "default_partitions_ahead")]
    pub partitions_ahead: u32,
    /// Most changes in one `POST /api/v1/glass/batch`.
    #[serde(default = "default_max_batch_ops")]
    pub max_batch_ops: usize,
    /// `[glass.images]`: camera images.
    #[serde(default)]
    pub images: crate::GlassImagesConfig,
    /// `[glass.zombies]`: the zombie registry following the sensors table.
    #[serde(default)]
    pub zombies: crate::glass_jobs::GlassZombiesConfig,
    /// `[glass.quality]`: model quality metrics on a schedule.
    #[serde(default)]
    pub quality: crate::glass_jobs::GlassQualityConfig,
}

fn default_schema() -> String {
    "glass".into()
}
fn default_pool_size() -> usize {
    20
}
fn default_partition_days() -> u32 {
    30
}
fn default_partitions_ahead() -> u32 {
    3
}
fn default_max_batch_ops() -> usize {
    10_000
}

impl Default for GlassConfig {
    fn default() -> Self {
        GlassConfig {
            enabled: true,
            url: String::new(),
            password_env: String::new(),
            schema: default_schema(),
            pool_size: default_pool_size(),
            partition_days: default_partition_days(),
            partitions_ahead: default_partitions_ahead(),
            max_batch_ops: default_max_batch_ops(),
            images: crate::GlassImagesConfig::default(),
            zombies: Default::default(),
            quality: Default::default(),
        }
    }
}

impl GlassConfig {
    /// Appends every problem to `errs`.
    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        let url = self.url.trim();
        if !(url.is_empty()
            || url == "sqlite"
            || url.starts_with("postgresql://")
            || url.starts_with("postgres://"))
        {
            errs.push(
                "glass.url must be \"\" (SQLite in the data directory) or postgresql://...".into(),
            );
        }
        self.zombies.validate(errs);
        self.quality.validate(errs);
        if self.pool_size == 0 {
            errs.push("glass.pool_size must be at least 1".into());
        }
        if self.partition_days == 0 {
            errs.push("glass.partition_days must be at least 1".into());
        }
        if !(1..=1_000_000).contains(&self.max_batch_ops) {
            errs.push("glass.max_batch_ops must be 1..=1000000".into());
        }
        if self.schema.is_empty()
            || self.schema.len() > 63
            || !self
                .schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            errs.push("glass.schema must be 1..=63 of a-z, 0-9 and _".into());
        }
        self.images.validate(errs);
    }

    /// The PostgreSQL password from `password_env`, if set.
    pub fn password(&self) -> Option<String> {
        if self.password_env.is_empty() {
            None
        } else {
            std::env::var(&self.password_env).ok()
        }
    }
}
