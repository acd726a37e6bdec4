//! `[glass.images]`: camera images beside the Glass AI tables (clio-glass `images.rs`,
//! docs/glass-ai.md): the size limit and retention by age.

use serde::Deserialize;

/// `[glass.images]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlassImagesConfig {
    /// The largest image `POST /api/v1/images` accepts, in bytes (larger: 413).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Images captured more than this many days ago are deleted (0: kept for ever).
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    /// Seconds between two retention runs.
    #[serde(default = "default_retention_interval_secs")]
    pub retention_interval_secs: u64,
}

fn default_max_bytes() -> u64 {
    20 << 20
}
/// The seed's retention of raw data.
fn default_keep_days() -> u32 {
    30
}
fn default_retention_interval_secs() -> u64 {
    3600
}

impl Default for GlassImagesConfig {
    fn default() -> Self {
        GlassImagesConfig {
            max_bytes: default_max_bytes(),
            keep_days: default_keep_days(),
            retention_interval_secs: default_retention_interval_secs(),
        }
    }
}

impl GlassImagesConfig {
    /// Appends every problem to `errs`.
    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        if !(1..=(4u64 << 30)).contains(&self.max_bytes) {
            errs.push("glass.images.max_bytes must be 1..=4294967296".into());
        }
        if !(1..=30 * 86_400).contains(&self.retention_interval_secs) {
            errs.push("glass.images.retention_interval_secs must be 1..=2592000".into());
        }
    }
}
