use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{SeriesKey, Timestamp};

/// Default `keep_history_days` of a new series (ALEPIZ's counter default).
pub const DEFAULT_KEEP_HISTORY_DAYS: u32 = 90;
/// Default `keep_trends_days` of a new series.
pub const DEFAULT_KEEP_TRENDS_DAYS: u32 = 365;

/// A series id: ALEPIZ's OCID, or the id the catalog assigned to a line-protocol key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeriesId(pub u64);

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Per-series retention settings and free-form metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSettings {
    /// Days of raw points to keep; 0 keeps nothing (as in ALEPIZ).
    pub keep_history_days: u32,
    /// Days of trend buckets to keep.
    pub keep_trends_days: u32,
    /// Free-form metadata such as `unit` and `description`.
    pub metadata: BTreeMap<String, String>,
}

impl Default for SeriesSettings {
    fn default() -> Self {
        SeriesSettings {
            keep_history_days: DEFAULT_KEEP_HISTORY_DAYS,
            keep_trends_days: DEFAULT_KEEP_TRENDS_DAYS,
            metadata: BTreeMap::new(),
        }
    }
}

/// A series to create in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeries {
    /// Its id.
    pub id: SeriesId,
    /// Its key, for series written by line protocol.
    pub key: Option<SeriesKey>,
    /// Its settings.
    pub settings: SeriesSettings,
}

/// The creation of a catalog entry as it stands (a replica or the primary told to create
/// what the engine's catalog holds).
impl From<&SeriesInfo> for NewSeries {
    fn from(i: &SeriesInfo) -> Self {
        NewSeries {
            id: i.id,
            key: i.key.clone(),
            settings: i.settings.clone(),
        }
    }
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInfo {
    /// The id.
    pub id: SeriesId,
    /// The key, for series written by line protocol.
    pub key: Option<SeriesKey>,
    /// Retention and metadata.
    #[serde(flatten)]
    pub settings: SeriesSettings,
    /// When the catalog first saw the series (ms).
    pub created: Timestamp,
}

/// A change to a series' settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesUpdate {
    /// New `keep_history_days`.
    pub keep_history_days: Option<u32>,
    /// New `keep_trends_days`.
    pub keep_trends_days: Option<u32>,
    /// Metadata entries to set; an empty string value removes the entry.
    pub metadata: Option<BTreeMap<String, String>>,
}

impl SeriesUpdate {
    /// Applies the update to `settings`.
    pub fn apply(&self, settings: &mut SeriesSettings) {
        if let Some(d) = self.keep_history_days {
            settings.keep_history_days = d;
        }
        if let Some(d) = self.keep_trends_days {
            settings.keep_trends_days = d;
        }
        if let Some(m) = &self.metadata {
            for (k, v) in m {
                if v.is_empty() {
                    settings.metadata.remove(k);
                } else {
                    settings.metadata.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// Which catalog entries to list. Every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesFilter {
    /// Only series of this measurement.
    pub measurement: Option<String>,
    /// Only series carrying all these tag values.
    pub tags: Vec<(String, String)>,
    /// Only series of this field.
    pub field: Option<String>,
}

impl SeriesFilter {
    /// True when `info` passes the filter. Series without a key only pass an empty filter.
    pub fn matches(&self, info: &SeriesInfo) -> bool {
        if self.measurement.is_none() && self.tags.is_empty() && self.field.is_none() {
            return true;
        }
        let Some(key) = &info.key else { return false };
        self.measurement
            .as_deref()
            .is_none_or(|m| key.measurement() == m)
            && self.field.as_deref().is_none_or(|f| key.field() == f)
            && self
                .tags
                .iter()
                .all(|(k, v)| key.tag(k) == Some(v.as_str()))
    }
}
