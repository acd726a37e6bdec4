//! `[glass.zombies]` and `[glass.quality]`: the Glass AI tables' background jobs
//! (docs/glass-ai.md): the zombie registry following the sensors table, and model quality
//! metrics on a schedule.

use serde::Deserialize;

use crate::parse_duration;

/// `[glass.zombies]`: a deleted sensor's series become zombies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlassZombiesConfig {
    /// Follow the sensors table: a series once linked to a sensor that no sensor links any
    /// more is removed (with its data) by the housekeeper's next run.
    #[serde(default)]
    pub follow_sensors: bool,
    /// How often the sensors' links are learnt between housekeeper runs (a duration such as
    /// `"60s"`); every run learns them first too.
    #[serde(default = "default_sync_every")]
    pub sync_every: String,
}

fn default_sync_every() -> String {
    "60s".into()
}

impl Default for GlassZombiesConfig {
    fn default() -> Self {
        GlassZombiesConfig {
            follow_sensors: false,
            sync_every: default_sync_every(),
        }
    }
}

/// `[glass.quality]`: model quality metrics computed on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlassQualityConfig {
    /// Run the schedule.
    #[serde(default)]
    pub enabled: bool,
    /// Time between runs (first run at start-up).
    #[serde(default = "default_every")]
    pub every: String,
    /// Period lengths: each run computes, for each, the current period (aligned to the Unix
    /// epoch) and the `lookback` periods before it.
    #[serde(default = "default_periods")]
    pub periods: Vec<String>,
    /// Completed periods recomputed by every run (late actual results land in them).
    #[serde(default = "default_lookback")]
    pub lookback: u32,
    /// Model names; empty: every model with predictions in the period.
    #[serde(default)]
    pub models: Vec<String>,
}

fn default_every() -> String {
    "1h".into()
}
fn default_periods() -> Vec<String> {
    vec!["1h".into(), "1d".into()]
}
fn default_lookback() -> u32 {
    1
}

impl Default for GlassQualityConfig {
    fn default() -> Self {
        GlassQualityConfig {
            enabled: false,
            every: default_every(),
            periods: default_periods(),
            lookback: default_lookback(),
            models: Vec::new(),
        }
    }
}

/// A positive duration in whole milliseconds, named `what` on failure.
fn positive_ms(what: &str, text: &str, errs: &mut Vec<String>) -> Option<i64> {
    match parse_duration(text) {
        Ok(d) if d.as_millis() >= 1 => Some(d.as_millis() as i64),
        Ok(_) => {
            errs.push(format!("{what}: `{text}` must be at least 1ms"));
            None
        }
        Err(e) => {
            errs.push(format!("{what}: {e}"));
            None
        }
    }
}

impl GlassZombiesConfig {
    /// The sync interval in ms (validated).
    pub fn sync_every_ms(&self) -> i64 {
        parse_duration(&self.sync_every).map_or(60_000, |d| d.as_millis().max(1) as i64)
    }

    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        positive_ms("glass.zombies.sync_every", &self.sync_every, errs);
    }
}

impl GlassQualityConfig {
    /// The interval between runs in ms (validated).
    pub fn every_ms(&self) -> i64 {
        parse_duration(&self.every).map_or(3_600_000, |d| d.as_millis().max(1) as i64)
    }

    /// The period lengths in ms (validated).
    pub fn periods_ms(&self) -> Vec<i64> {
        self.periods
            .iter()
            .filter_map(|p| parse_duration(p).ok())
            .map(|d| d.as_millis().max(1) as i64)
            .collect()
    }

    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        positive_ms("glass.quality.every", &self.every, errs);
        if self.enabled && self.periods.is_empty() {
            errs.push("glass.quality.periods: give at least one period (e.g. [\"1h\"])".into());
        }
        for p in &self.periods {
            positive_ms("glass.quality.periods", p, errs);
        }
        if self.lookback > 1000 {
            errs.push("glass.quality.lookback must be 0..=1000".into());
        }
        if self.models.iter().any(|m| m.is_empty()) {
            errs.push("glass.quality.models: a model name is empty".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_mistakes() {
        let q: GlassQualityConfig =
            toml::from_str("enabled = true\nevery = \"2s\"\nperiods = [\"1h\", \"30m\"]").unwrap();
        assert_eq!(q.every_ms(), 2000);
        assert_eq!(q.periods_ms(), vec![3_600_000, 1_800_000]);
        let mut errs = Vec::new();
        q.validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let bad: GlassQualityConfig =
            toml::from_str("enabled = true\nevery = \"soon\"\nperiods = []").unwrap();
        let mut errs = Vec::new();
        bad.validate(&mut errs);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(toml::from_str::<GlassQualityConfig>("evry = \"1h\"").is_err());
        let z: GlassZombiesConfig = toml::from_str("follow_sensors = true").unwrap();
        assert_eq!(z.sync_every_ms(), 60_000);
        let mut errs = Vec::new();
        GlassZombiesConfig {
            sync_every: "0s".into(),
            ..z
        }
        .validate(&mut errs);
        assert_eq!(errs.len(), 1);
    }
}
