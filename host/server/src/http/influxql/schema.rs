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
pub(crate) fn tag<'a>(tags: &'a [(String, String)], k: &str) -> Option<&'a str> {
    tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The names of the measurements `sources` names (all when empty), sorted, from the
/// catalog's measurement index.
pub(crate) fn measurement_names(store: &Gate, sources: &[Source]) -> Result<Vec<String>, String> {
    let all = store.measurements().map_err(|e| e.to_string())?;
    if sources.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for s in sources {
        match &s.name {
            SourceName::Name(n) => {
                if all.contains(n) {
                    out.push(n.clone());
                }
            }
            SourceName::Regex(r) => {
                let re = compile_regex(r).map_err(|e| e.0)?;
                out.extend(all.iter().filter(|m| re.is_match(m)).cloned());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The tag keys and values of every measurement `sources` names, from the catalog's index;
/// `None` when the caller's scope covers only part of a measurement (list the series then).
pub(crate) type TagIndex = Vec<(String, BTreeMap<String, Vec<String>>)>;
pub(crate) fn tag_index(
    store: &Gate,
    sources: &[Source],
    keep: &dyn Fn(&str) -> bool,
    values: bool,
) -> Result<Option<TagIndex>, String> {
    let mut out = Vec::new();
    for m in measurement_names(store, sources)? {
        match store.tags_of(&m, keep, values).map_err(|e| e.to_string())? {
            Some(tags) => out.push((m, tags)),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// The tag equalities every series passing `cond` must carry (`k = 'v'` joined by `AND`):
/// a listing filtered by them walks the catalog's tag index instead of every series.
pub(crate) fn required_tags(cond: Option<&TagCond>) -> Vec<(String, String)> {
    fn walk(c: &TagCond, out: &mut Vec<(String, String)>) {
        match c {
            TagCond::Eq {
                key,
                value,
                negate: false,
            } => out.push((key.clone(), value.clone())),
            TagCond::And(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(c) = cond {
        walk(c, &mut out);
    }
    out
}

/// The measurements named by `sources` (all when empty), sorted by name. A measurement
/// named but absent is left out, as InfluxDB answers nothing for it.
pub(crate) fn measurements(store: &Gate, sources: &[Source]) -> Result<Vec<Measurement>, String> {
    measurements_with(store, sources, &[])
}

/// Where measurements are built from: the series a principal sees, or (for refusing a
/// destructive pattern that reaches beyond the scope) those it does not.
pub(crate) trait Catalog {
    /// Measurement names.
    fn names(&self) -> Result<Vec<String>, crate::error::ApiError>;
    /// Series passing a filter.
    fn series(
        &self,
        filter: &SeriesFilter,
    ) -> Result<Vec<clio_storage::SeriesInfo>, crate::error::ApiError>;
}

impl Catalog for Gate {
    fn names(&self) -> Result<Vec<String>, crate::error::ApiError> {
        self.measurements()
    }
    fn series(
        &self,
        filter: &SeriesFilter,
    ) -> Result<Vec<clio_storage::SeriesInfo>, crate::error::ApiError> {
        self.list_series(filter)
    }
}

/// The series the principal's scope hides ([`Gate::hidden_series`]).
pub(crate) struct Hidden<'a>(pub &'a Gate);

impl Catalog for Hidden<'_> {
    fn names(&self) -> Result<Vec<String>, crate::error::ApiError> {
        let mut names: Vec<String> = self
            .0
            .hidden_series(&SeriesFilter::default())?
            .into_iter()
            .filter_map(|s| s.key.map(|k| k.measurement().to_string()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
    fn series(
        &self,
        filter: &SeriesFilter,
    ) -> Result<Vec<clio_storage::SeriesInfo>, crate::error::ApiError> {
        self.0.hidden_series(filter)
    }
}

/// [`measurements`], of the series carrying every tag value of `must` only.
pub(crate) fn measurements_with(
    store: &Gate,
    sources: &[Source],
    must: &[(String, String)],
) -> Result<Vec<Measurement>, String> {
    measurements_in(store, sources, must)
}

/// [`measurements_with`] over any [`Catalog`].
pub(crate) fn measurements_in(
    store: &dyn Catalog,
    sources: &[Source],
    must: &[(String, String)],
) -> Result<Vec<Measurement>, String> {
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
                m.tag_keys.insert(k.to_owned());
            }
        }
        m.tagsets
            .entry(key.tags_owned())
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
        for m in store.names().map_err(|e| e.to_string())? {
            if regexes.iter().any(|r| r.is_match(&m)) && !names.contains(&m) {
                names.push(m);
            }
        }
        regexes.clear();
    }
    if sources.is_empty() {
        let filter = SeriesFilter {
            tags: must.to_vec(),
            ..Default::default()
        };
        for info in store.series(&filter).map_err(|e| e.to_string())? {
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
                tags: must.to_vec(),
                ..Default::default()
            };
            for info in store.series(&filter).map_err(|e| e.to_string())? {
                add(info);
            }
        }
    }
    Ok(by_name.into_values().collect())
}
