//! `[log]`: how the server logs.

use serde::Deserialize;

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (human-readable lines) or `json` (one object per line: time, level, target
    /// (the component), message and the event's fields, with the enclosing spans).
    #[serde(default = "default_format")]
    pub format: String,
    /// The lowest level logged: the seed's DEBUG, INFO, WARNING, ERROR, CRITICAL (any case;
    /// CRITICAL logs errors, tracing's highest level), or a tracing filter such as
    /// `info,clio_core=debug`. The `CLIO_LOG` environment variable overrides it.
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_format(),
            level: default_level(),
        }
    }
}

fn default_format() -> String {
    "text".into()
}
fn default_level() -> String {
    "INFO".into()
}

impl LogConfig {
    /// `level` as a tracing filter: the seed's names mapped onto tracing's levels.
    pub fn filter(&self) -> String {
        match self.level.to_ascii_lowercase().as_str() {
            "debug" => "debug".into(),
            "info" => "info".into(),
            "warning" | "warn" => "warn".into(),
            "error" | "critical" => "error".into(),
            _ => self.level.clone(),
        }
    }

    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        if !matches!(self.format.as_str(), "text" | "json") {
            errs.push(format!("log.format `{}` must be text or json", self.format));
        }
        if self.level.trim().is_empty() {
            errs.push("log.level must name a level (DEBUG, INFO, WARNING, ERROR, CRITICAL)".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_levels_map_onto_tracing() {
        let l = |s: &str| LogConfig {
            level: s.into(),
            ..Default::default()
        };
        assert_eq!(l("WARNING").filter(), "warn");
        assert_eq!(l("CRITICAL").filter(), "error");
        assert_eq!(l("info,clio_core=debug").filter(), "info,clio_core=debug");
    }
}
