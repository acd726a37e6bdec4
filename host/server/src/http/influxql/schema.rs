//! Measurements, tag sets and fields of the engine's catalog: a series key
//! `measurement,tag=v,... field` is one field of one InfluxDB series (the tag set).

use std::collections::{BTreeMap, BTreeSet};

use crate::door::Gate;
use clio_influxql::{Source, SourceName, TagCond, compile_regex};
use clio_storage::{SeriesFilter, SeriesId};

/// A tag set: tags sorted by key.
pub(crate) type TagSet = Vec<(String, String)>;

/// One measurement as InfluxQL sees it.
#[derive(Debug, Default)]
pub(crate) struct Measurement {
    pub name: String,
    /// Tag set → field → series.
    pub tagsets: BTreeMap<TagSet, BTreeMap<String, SeriesId>>,
    pub fields: BTreeSet<String>,
    pub tag_keys: BTreeSet<String>,
}

impl Measurement {
    /// True for a name that is a field and not a tag of this measurement.
    pub fn is_field(&self, name: &str) -> bool {
        self.fields.contains(name) && !self.tag_keys.contains(name)
    }

    /// Tag sets passing `cond`.
    pub fn matching<'a>(
        &'a self,
        cond: Option<&'a TagCond>,
    ) -> impl Iterator<Item = (&'a TagSet, &'a BTreeMap<String, SeriesId>)> + 'a {
        self.tagsets
            .iter()
            .filter(move |(tags, _)| cond.is_none_or(|c| c.eval(&|k| tag(tags, k))))
    }
}

/// The value of tag `k` in a tag set.
pub(crate) fn tag<'a>(tags: &'a TagSet, k: &str) -> Option<&'a str> {
    tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The measurements named by `sources` (all when empty), sorted by name. A measurement
/// named but absent is left out, as InfluxDB answers nothing for it.
pub(crate) fn measurements(store: &Gate, sources: &[Source]) -> Result<Vec<Measurement>, String> {
    let mut by_name: BTreeMap<String, Measurement> = BTreeMap::new();
    let mut add = |info: clio_storage::SeriesInfo| {
        let Some(key) = info.key else { return };
        let m = by_name
            .entry(key.measurement().to_string())
            .or_insert_with(|| Measurement {
                name: key.measurement().to_string(),
                ..Default::default()
            });
        m.fields.insert(key.field().to_string());
        for (k, _) in key.tags() {
            if !m.tag_keys.contains(k) {
                m.tag_keys.insert(k.clone());
            }
        }
        m.tagsets
            .entry(key.tags().to_vec())
            .or_default()
            .insert(key.field().to_string(), info.id);
    };
    let mut regexes = Vec::new();
    let mut names = Vec::new();
    for s in sources {
        match &s.name {
            SourceName::Name(n) => names.push(n.clone()),
            SourceName::Regex(r) => regexes.push(compile_regex(r).map_err(|e| e.0)?),
        }
    }
    if !sources.is_empty() && !regexes.is_empty() {
        // The catalog's measurement index answers the regexes; each match is one indexed
        // listing below.
        for m in store.measurements().map_err(|e| e.to_string())? {
            if regexes.iter().any(|r| r.is_match(&m)) && !names.contains(&m) {
                names.push(m);
            }
        }
        regexes.clear();
    }
    if sources.is_empty() {
        for info in store
            .list_series(&SeriesFilter::default())
            .map_err(|e| e.to_string())?
        {
            let keep = sources.is_empty()
                || info.key.as_ref().is_some_and(|k| {
                    names.iter().any(|n| n == k.measurement())
                        || regexes.iter().any(|r| r.is_match(k.measurement()))
                });
            if keep {
                add(info);
            }
        }
    } else {
        for n in &names {
            let filter = SeriesFilter {
                measurement: Some(n.clone()),
                ..Default::default()
            };
            for info in store.list_series(&filter).map_err(|e| e.to_string())? {
                add(info);
            }
        }
    }
    Ok(by_name.into_values().collect())
}
