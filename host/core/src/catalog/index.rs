//! The catalog's listing index: every id in order (for paging), and the ids of each
//! measurement, tag value and field, so that a filtered listing walks the smallest matching
//! set instead of every series.

use std::borrow::Cow;
use std::collections::BTreeMap;

use clio_storage::{SeriesFilter, SeriesId, SeriesKey};

use super::id_set::IdSet;
use crate::hashing::FastMap;
use crate::str_table::StrTable;

/// Ids by what a filter can name.
#[derive(Debug, Default)]
pub(crate) struct ListingIndex {
    all: IdSet,
    by_measurement: FastMap<String, Measurement>,
    by_field: FastMap<String, IdSet>,
}

/// One measurement's series, and its tag values with the series that carry each: filters
/// on a tag walk that set, and `SHOW TAG KEYS` / `SHOW TAG VALUES` answer from the keys
/// without visiting a series.
///
/// Tag values live here only, per measurement. An earlier index kept a global
/// `(name, value)` map beside per-measurement value counts, two more copies of every value;
/// with a tag value unique to each series (a sensor's serial) that was ~200 bytes per series
/// (issue #25).
///
/// A tag's values are a hash table, sorted only when listed: a `BTreeMap` of a million
/// unique values cost ~30 string comparisons per new series, each a cache miss, with the
/// catalog's write lock held (a fifth of the server's time while a million series were
/// created).
#[derive(Debug, Default)]
struct Measurement {
    ids: IdSet,
    tags: BTreeMap<Box<str>, StrTable<IdSet>>,
}

/// One page of ids passing a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdPage {
    /// Ascending.
    pub(crate) ids: Vec<SeriesId>,
    /// True when more ids follow the last one.
    pub(crate) more: bool,
}

impl Measurement {
    /// The series of this measurement carrying `name=value`.
    fn tagged(&self, name: &str, value: &str) -> Option<&IdSet> {
        self.tags.get(name)?.get(value)
    }
}

impl ListingIndex {
    pub(crate) fn add(&mut self, id: SeriesId, key: Option<&SeriesKey>) {
        self.all.insert(id);
        if let Some(k) = key {
            let m = match self.by_measurement.get_mut(k.measurement()) {
                Some(m) => m,
                None => self
                    .by_measurement
                    .entry(k.measurement().to_owned())
                    .or_default(),
            };
            m.ids.insert(id);
            for (name, value) in k.tags() {
                let values = match m.tags.get_mut(name) {
                    Some(v) => v,
                    None => m.tags.entry(name.into()).or_default(),
                };
                values.get_or_insert_with(value, IdSet::default).insert(id);
            }
            match self.by_field.get_mut(k.field()) {
                Some(set) => set.insert(id),
                None => self
                    .by_field
                    .entry(k.field().to_owned())
                    .or_default()
                    .insert(id),
            };
        }
    }

    pub(crate) fn remove(&mut self, id: SeriesId, key: Option<&SeriesKey>) {
        self.all.remove(&id);
        let Some(k) = key else { return };
        if let Some(m) = self.by_measurement.get_mut(k.measurement()) {
            m.ids.remove(&id);
            for (name, value) in k.tags() {
                if let Some(values) = m.tags.get_mut(name) {
                    if let Some(set) = values.get_mut(value) {
                        set.remove(&id);
                        if set.is_empty() {
                            values.remove(value);
                        }
                    }
                    if values.is_empty() {
                        m.tags.remove(name);
                    }
                }
            }
            if m.ids.is_empty() {
                self.by_measurement.remove(k.measurement());
            }
        }
        if let Some(set) = self.by_field.get_mut(k.field()) {
            set.remove(&id);
            if set.is_empty() {
                self.by_field.remove(k.field());
            }
        }
    }

    /// The series carrying `name=value` in any measurement: borrowed when one measurement
    /// has it (the usual case), their union otherwise; `None` when none has it.
    fn tagged_anywhere(&self, name: &str, value: &str) -> Option<Cow<'_, IdSet>> {
        let mut found = self
            .by_measurement
            .values()
            .filter_map(|m| m.tagged(name, value));
        let first = found.next()?;
        let mut union: Option<IdSet> = None;
        for more in found {
            let u = union.get_or_insert_with(|| first.clone());
            for id in more.from(std::ops::Bound::Unbounded) {
                u.insert(id);
            }
        }
        Some(union.map_or(Cow::Borrowed(first), Cow::Owned))
    }

    /// The smallest set that holds every id passing `filter` (all ids when it names
    /// nothing); `None` when some named value has no series at all.
    fn candidates(&self, filter: &SeriesFilter) -> Option<Cow<'_, IdSet>> {
        let mut named: Vec<Cow<'_, IdSet>> = Vec::new();
        let measurement = match &filter.measurement {
            Some(m) => {
                let m = self.by_measurement.get(m.as_str())?;
                named.push(Cow::Borrowed(&m.ids));
                Some(m)
            }
            None => None,
        };
        for (name, value) in &filter.tags {
            named.push(match measurement {
                Some(m) => Cow::Borrowed(m.tagged(name, value)?),
                None => self.tagged_anywhere(name, value)?,
            });
        }
        if let Some(f) = &filter.field {
            named.push(Cow::Borrowed(self.by_field.get(f.as_str())?));
        }
        let mut best = Cow::Borrowed(&self.all);
        for set in named {
            if set.len() < best.len() {
                best = set;
            }
        }
        Some(best)
    }

    /// Up to `limit` ids after `after` passing `filter` (`passes` checks the whole filter
    /// for a candidate).
    pub(crate) fn page(
        &self,
        filter: &SeriesFilter,
        after: Option<SeriesId>,
        limit: usize,
        mut passes: impl FnMut(SeriesId) -> bool,
    ) -> IdPage {
        let Some(set) = self.candidates(filter) else {
            return IdPage {
                ids: Vec::new(),
                more: false,
            };
        };
        let mut ids = Vec::with_capacity(limit.min(set.len()));
        let start = match after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        for id in set.from(start) {
            if !passes(id) {
                continue;
            }
            if ids.len() == limit {
                return IdPage { ids, more: true };
            }
            ids.push(id);
        }
        IdPage { ids, more: false }
    }

    /// The tag keys of `measurement` that `keep` keeps, with their values (none unless
    /// `values`), sorted.
    pub(crate) fn tags_of(
        &self,
        measurement: &str,
        keep: &dyn Fn(&str) -> bool,
        values: bool,
    ) -> BTreeMap<String, Vec<String>> {
        self.by_measurement
            .get(measurement)
            .map(|m| {
                m.tags
                    .iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, vs)| {
                        let v = if values {
                            let mut v: Vec<String> = vs.iter().map(|(v, _)| v.to_owned()).collect();
                            v.sort_unstable();
                            v
                        } else {
                            Vec::new()
                        };
                        (k.to_string(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Distinct measurements, sorted.
    pub(crate) fn measurements(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_measurement.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SeriesKey {
        s.parse().unwrap()
    }

    #[test]
    fn pages_follow_the_smallest_set_and_the_cursor() {
        let mut ix = ListingIndex::default();
        let keys = [
            (1, "cpu,host=a usage"),
            (2, "cpu,host=b usage"),
            (3, "mem,host=a used"),
            (4, "cpu,host=a idle"),
        ];
        let all: std::collections::HashMap<SeriesId, SeriesKey> =
            keys.iter().map(|&(i, k)| (SeriesId(i), key(k))).collect();
        for (id, k) in &all {
            ix.add(*id, Some(k));
        }
        ix.add(SeriesId(7), None);
        let run_on = |ix: &ListingIndex, f: &SeriesFilter, after: Option<u64>, limit: usize| {
            ix.page(f, after.map(SeriesId), limit, |id| {
                let names_nothing =
                    f.measurement.is_none() && f.tags.is_empty() && f.field.is_none();
                all.get(&id).map_or(names_nothing, |k| {
                    f.matches(&clio_storage::SeriesInfo {
                        id,
                        key: Some(k.clone()),
                        settings: Default::default(),
                        created: 0,
                    })
                })
            })
        };
        let every = SeriesFilter::default();
        let p = run_on(&ix, &every, None, 3);
        assert_eq!(p.ids, vec![SeriesId(1), SeriesId(2), SeriesId(3)]);
        assert!(p.more);
        let p = run_on(&ix, &every, Some(3), 3);
        assert_eq!(p.ids, vec![SeriesId(4), SeriesId(7)]);
        assert!(!p.more);
        let host_a_cpu = SeriesFilter {
            measurement: Some("cpu".into()),
            tags: vec![("host".into(), "a".into())],
            field: None,
        };
        assert_eq!(
            run_on(&ix, &host_a_cpu, None, 10).ids,
            vec![SeriesId(1), SeriesId(4)]
        );
        let none = SeriesFilter {
            measurement: Some("disk".into()),
            ..Default::default()
        };
        assert!(run_on(&ix, &none, None, 10).ids.is_empty());
        ix.remove(SeriesId(3), all.get(&SeriesId(3)));
        assert_eq!(ix.measurements(), vec!["cpu"]);
        assert!(
            !ix.by_measurement.contains_key("mem"),
            "an emptied measurement goes"
        );
        // A tag filter without a measurement finds the tag in every measurement.
        ix.add(SeriesId(3), all.get(&SeriesId(3)));
        let host_a = SeriesFilter {
            tags: vec![("host".into(), "a".into())],
            ..Default::default()
        };
        assert_eq!(
            run_on(&ix, &host_a, None, 10).ids,
            vec![SeriesId(1), SeriesId(3), SeriesId(4)]
        );
        let host_x = SeriesFilter {
            tags: vec![("host".into(), "x".into())],
            ..Default::default()
        };
        assert!(run_on(&ix, &host_x, None, 10).ids.is_empty());
        let cpu_host_x = SeriesFilter {
            measurement: Some("cpu".into()),
            tags: vec![("host".into(), "b".into())],
            field: Some("idle".into()),
        };
        assert!(run_on(&ix, &cpu_host_x, None, 10).ids.is_empty());
    }

    #[test]
    fn tag_values_follow_series_added_and_removed() {
        let mut ix = ListingIndex::default();
        let a = key("cpu,host=a,dc=x usage");
        let b = key("cpu,host=a,dc=y idle");
        let c = key("cpu,host=b usage");
        ix.add(SeriesId(1), Some(&a));
        ix.add(SeriesId(2), Some(&b));
        ix.add(SeriesId(3), Some(&c));
        let t = ix.tags_of("cpu", &|_| true, true);
        assert_eq!(t["host"], vec!["a", "b"]);
        assert_eq!(t["dc"], vec!["x", "y"]);
        // host=a stays while one series still carries it.
        ix.remove(SeriesId(1), Some(&a));
        let t = ix.tags_of("cpu", &|_| true, true);
        assert_eq!(t["host"], vec!["a", "b"]);
        assert_eq!(t["dc"], vec!["y"]);
        ix.remove(SeriesId(2), Some(&b));
        ix.remove(SeriesId(3), Some(&c));
        assert!(ix.tags_of("cpu", &|_| true, true).is_empty());
        assert!(ix.tags_of("nothing", &|_| true, true).is_empty());
    }
}
