//! Roles and scopes: what an authenticated principal may do, and to which series.

use std::collections::BTreeMap;

use clio_storage::{SeriesId, SeriesKey};
use serde::{Deserialize, Serialize};

/// A role. Roles grow: `write` includes `read`, `admin` includes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read points, listings, functions.
    Read,
    /// Also write, change and delete series.
    Write,
    /// Also tokens, users, plugin reload, the housekeeper, backups, storage status.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (read, write or admin)")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive range of series ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    /// First id.
    pub from: u64,
    /// Last id (inclusive).
    pub to: u64,
}

/// Which series a principal sees and writes. Every part that is given must hold (an empty
/// part allows everything): the measurement is one of `measurements` (a trailing `*` matches
/// a prefix), for each key of `tags` the series has that tag with one of the listed values,
/// and the id lies in one of `ids`. A series without a key (ALEPIZ's numbered series) passes
/// only scopes without measurements and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Allowed measurements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<String>,
    /// Allowed tag values by tag key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, Vec<String>>,
    /// Allowed id ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<IdRange>,
}

impl Scope {
    /// True when the scope allows every series.
    pub fn is_unrestricted(&self) -> bool {
        self.measurements.is_empty() && self.tags.is_empty() && self.ids.is_empty()
    }

    /// Whether a series id passes the id ranges.
    pub fn allows_id(&self, id: SeriesId) -> bool {
        self.ids.is_empty() || self.ids.iter().any(|r| r.from <= id.0 && id.0 <= r.to)
    }

    /// Whether a key passes the measurement and tag parts (`None`: a series without a key).
    pub fn allows_key(&self, key: Option<&SeriesKey>) -> bool {
        if self.measurements.is_empty() && self.tags.is_empty() {
            return true;
        }
        let Some(key) = key else { return false };
        let measurement_ok = self.measurements.is_empty()
            || self.measurements.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => key.measurement().starts_with(prefix),
                None => key.measurement() == m,
            });
        measurement_ok
            && self.tags.iter().all(|(k, values)| {
                key.tags()
                    .any(|(tk, tv)| tk == k && values.iter().any(|v| v == tv))
            })
    }

    /// Whether a series passes every part.
    pub fn allows(&self, id: SeriesId, key: Option<&SeriesKey>) -> bool {
        self.allows_id(id) && self.allows_key(key)
    }

    /// Whether a measurement may hold series this scope allows (for measurement listings).
    pub fn allows_measurement(&self, name: &str) -> bool {
        self.measurements.is_empty()
            || self.measurements.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == m,
            })
    }

    /// Parses the CLI's scope flags: `measurement=NAME`, `tag=KEY=VALUE`, `ids=FROM-TO`.
    pub fn add_rule(&mut self, rule: &str) -> Result<(), String> {
        let (kind, rest) = rule
            .split_once('=')
            .ok_or_else(|| format!("scope `{rule}`: expected measurement=, tag= or ids="))?;
        match kind.trim() {
            "measurement" if !rest.is_empty() => self.measurements.push(rest.to_string()),
            "tag" => {
                let (k, v) = rest
                    .split_once('=')
                    .ok_or_else(|| format!("scope `{rule}`: expected tag=KEY=VALUE"))?;
                self.tags
                    .entry(k.to_string())
                    .or_default()
                    .push(v.to_string());
            }
            "ids" => {
                let (a, b) = rest.split_once('-').unwrap_or((rest, rest));
                let from = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("scope `{rule}`: bad id"))?;
                let to = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("scope `{rule}`: bad id"))?;
                if from > to {
                    return Err(format!("scope `{rule}`: the range is empty"));
                }
                self.ids.push(IdRange { from, to });
            }
            _ => {
                return Err(format!(
                    "scope `{rule}`: expected measurement=, tag= or ids="
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SeriesKey {
        s.parse().unwrap()
    }

    #[test]
    fn scope_parts_all_hold() {
        let mut s = Scope::default();
        assert!(s.allows(SeriesId(5), None));
        s.add_rule("measurement=cpu*").unwrap();
        s.add_rule("tag=host=a").unwrap();
        s.add_rule("tag=host=b").unwrap();
        assert!(s.allows(SeriesId(1), Some(&key("cpu_total,host=a usage"))));
        assert!(s.allows(SeriesId(1), Some(&key("cpu,host=b,dc=x usage"))));
        assert!(!s.allows(SeriesId(1), Some(&key("cpu,host=c usage"))));
        assert!(!s.allows(SeriesId(1), Some(&key("mem,host=a used"))));
        assert!(!s.allows(SeriesId(1), None));
        s.add_rule("ids=10-20").unwrap();
        assert!(!s.allows(SeriesId(1), Some(&key("cpu,host=a usage"))));
        assert!(s.allows(SeriesId(10), Some(&key("cpu,host=a usage"))));
        assert!(s.add_rule("ids=5-1").is_err());
        assert!(s.add_rule("colour=red").is_err());
    }

    #[test]
    fn id_only_scope_allows_unkeyed_series() {
        let mut s = Scope::default();
        s.add_rule("ids=100-199").unwrap();
        assert!(s.allows(SeriesId(150), None));
        assert!(!s.allows(SeriesId(99), None));
    }
}
