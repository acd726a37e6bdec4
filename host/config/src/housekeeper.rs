//! `[housekeeper]`: retention runs and their policy.

use std::time::Duration;

use serde::Deserialize;

use crate::default_true;

/// `[housekeeper]`: retention runs (ALEPIZ's housekeeper settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeeperConfig {
    /// Run the housekeeper at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// ms between runs (ALEPIZ housekeeperInterval).
    #[serde(default = "default_hk_interval")]
    pub housekeeper_interval: u64,
    /// Series handled per batch (ALEPIZ maxNumberObjectsToDeleteAtTime).
    #[serde(default = "default_hk_batch")]
    pub max_number_objects_to_delete_at_time: usize,
    /// ms of pause between batches (ALEPIZ pauseBetweenDeletingSeriesObjects).
    #[serde(default = "default_hk_pause")]
    pub pause_between_deleting_series_objects: u64,
    /// ms between progress log lines during a run (ALEPIZ housekeeperWatchdogCheckInterval).
    #[serde(default = "default_hk_watchdog")]
    pub housekeeper_watchdog_check_interval: u64,
    /// The retention policy: the name of a policy plugin. Built in: `keep` (per-series
    /// keep_history_days / keep_trends_days), `tiered` (by measurement or tag) and
    /// `disk-budget` (oldest data first until the store is under a size). With
    /// `plugins.enabled = false`, `keep` and `tiered` run natively.
    #[serde(default = "default_hk_policy")]
    pub policy: String,
    /// Tiers of the `tiered` policy, first match wins (passed to it as `"tiers"`).
    #[serde(default)]
    pub tiers: Vec<clio_housekeeper::Tier>,
    /// The policy's own settings, handed to the plugin as a JSON object (e.g.
    /// `max_bytes` for `disk-budget`).
    #[serde(default)]
    pub policy_config: toml::Table,
}

impl Default for HousekeeperConfig {
    fn default() -> Self {
        HousekeeperConfig {
            enabled: true,
            housekeeper_interval: default_hk_interval(),
            max_number_objects_to_delete_at_time: default_hk_batch(),
            pause_between_deleting_series_objects: default_hk_pause(),
            housekeeper_watchdog_check_interval: default_hk_watchdog(),
            policy: default_hk_policy(),
            tiers: Vec::new(),
            policy_config: toml::Table::new(),
        }
    }
}

const fn default_hk_interval() -> u64 {
    1_800_000
}
const fn default_hk_batch() -> usize {
    100
}
const fn default_hk_pause() -> u64 {
    1000
}
const fn default_hk_watchdog() -> u64 {
    300_000
}
fn default_hk_policy() -> String {
    "keep".into()
}

impl HousekeeperConfig {
    /// The runner's options.
    pub fn options(&self) -> clio_housekeeper::HousekeeperOptions {
        clio_housekeeper::HousekeeperOptions {
            interval: Duration::from_millis(self.housekeeper_interval),
            batch_size: self.max_number_objects_to_delete_at_time,
            pause: Duration::from_millis(self.pause_between_deleting_series_objects),
            watchdog: Duration::from_millis(self.housekeeper_watchdog_check_interval),
        }
    }

    /// The configuration handed to a policy plugin: `policy_config` as a JSON object, with
    /// `tiers` added as `"tiers"` when given and `policy_config` has none.
    pub fn policy_config_json(&self) -> String {
        let mut table = self.policy_config.clone();
        if !self.tiers.is_empty() && !table.contains_key("tiers") {
            let tiers: Vec<toml::Value> = self
                .tiers
                .iter()
                .map(|t| {
                    let mut m = toml::Table::new();
                    if let Some(meas) = &t.measurement {
                        m.insert("measurement".into(), meas.clone().into());
                    }
                    let tags: Vec<toml::Value> = t
                        .tags
                        .iter()
                        .map(|(k, v)| toml::Value::Array(vec![k.clone().into(), v.clone().into()]))
                        .collect();
                    m.insert("tags".into(), toml::Value::Array(tags));
                    m.insert("raw_days".into(), i64::from(t.raw_days).into());
                    let days: toml::Table = t
                        .trend_days
                        .iter()
                        .map(|(i, d)| (i.to_string(), toml::Value::from(i64::from(*d))))
                        .collect();
                    m.insert("trend_days".into(), toml::Value::Table(days));
                    toml::Value::Table(m)
                })
                .collect();
            table.insert("tiers".into(), toml::Value::Array(tiers));
        }
        // TOML values are a subset of JSON's (datetimes become strings).
        serde_json::to_string(&table).unwrap_or_else(|_| "{}".into())
    }

    /// The native policy of this name, used when the plugin host is disabled (`keep` and
    /// `tiered` only; `None` for any other name).
    pub fn native_policy(&self) -> Option<std::sync::Arc<dyn clio_housekeeper::RetentionPolicy>> {
        match self.policy.as_str() {
            "keep" => Some(std::sync::Arc::new(clio_housekeeper::KeepPolicy)),
            "tiered" => Some(std::sync::Arc::new(clio_housekeeper::TieredPolicy {
                tiers: self.tiers.clone(),
            })),
            _ => None,
        }
    }

    /// The configured policy, natively (see [`HousekeeperConfig::native_policy`]; an unknown
    /// name falls back to `keep`).
    pub fn policy(&self) -> std::sync::Arc<dyn clio_housekeeper::RetentionPolicy> {
        self.native_policy()
            .unwrap_or_else(|| std::sync::Arc::new(clio_housekeeper::KeepPolicy))
    }
}
