//! The catalog's listing index: every id in order (for paging), and the ids of each
//! measurement, tag value and field, so that a filtered listing walks the smallest matching
//! set instead of every series.

use std::collections::BTreeMap;

use clio_storage::{SeriesFilter, SeriesId, SeriesKey};

use super::id_set::IdSet;
use crate::hashing::FastMap;

/// Ids by what a filter can name.
#[derive(Debug, Default)]
pub(crate) struct ListingIndex {
    all: IdSet,
    by_measurement: FastMap<String, IdSet>,
    by_tag: FastMap<(String, String), IdSet>,
    by_field: FastMap<String, IdSet>,
    /// Measurement → tag key → tag value → how many series carry it: `SHOW TAG KEYS` and
    /// `SHOW TAG VALUES` answer from here without visiting a series.
    tags_of: FastMap<String, BTreeMap<String, BTreeMap<String, u32>>>,
}

/// One page of ids passing a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdPage {
    /// Ascending.
    pub(crate) ids: Vec<SeriesId>,
    /// True when more ids follow the last one.
    pub(crate) more: bool,
}

impl ListingIndex {
    pub(crate) fn add(&mut self, id: SeriesId, key: Option<&SeriesKey>) {
        self.all.insert(id);
        if let Some(k) = key {
            self.by_measurement
                .entry(k.measurement().to_owned())
                .or_default()
                .insert(id);
            let tags = self.tags_of.entry(k.measurement().to_owned()).or_default();
            for (name, value) in k.tags() {
                self.by_tag
                    .entry((name.to_owned(), value.to_owned()))
                    .or_default()
                    .insert(id);
                *tags
                    .entry(name.to_owned())
                    .or_default()
                    .entry(value.to_owned())
                    .or_default() += 1;
            }
            self.by_field
                .entry(k.field().to_owned())
                .or_default()
                .insert(id);
        }
    }

    pub(crate) fn remove(&mut self, id: SeriesId, key: Option<&SeriesKey>) {
        self.all.remove(&id);
        let Some(k) = key else { return };
        fn drop_from<Q: std::hash::Hash + Eq>(map: &mut FastMap<Q, IdSet>, at: Q, id: SeriesId) {
            if let Some(set) = map.get_mut(&at) {
                set.remove(&id);
                if set.is_empty() {
                    map.remove(&at);
                }
            }
        }
        drop_from(&mut self.by_measurement, k.measurement().to_owned(), id);
        if let Some(tags) = self.tags_of.get_mut(k.measurement()) {
            for (name, value) in k.tags() {
                if let Some(values) = tags.get_mut(name) {
                    if let Some(n) = values.get_mut(value) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            values.remove(value);
                        }
                    }
                    if values.is_empty() {
                        tags.remove(name);
                    }
                }
            }
            if tags.is_empty() && !self.by_measurement.contains_key(k.measurement()) {
                self.tags_of.remove(k.measurement());
            }
        }
        for (name, value) in k.tags() {
            drop_from(&mut self.by_tag, (name.to_owned(), value.to_owned()), id);
        }
        drop_from(&mut self.by_field, k.field().to_owned(), id);
    }

    /// The smallest set that holds every id passing `filter` (all ids when it names
    /// nothing); `None` when some named value has no series at all.
    fn candidates(&self, filter: &SeriesFilter) -> Option<&IdSet> {
        let mut named: Vec<Option<&IdSet>> = Vec::new();
        if let Some(m) = &filter.measurement {
            named.push(self.by_measurement.get(m.as_str()));
        }
        for (name, value) in &filter.tags {
            named.push(self.by_tag.get(&(name.to_owned(), value.to_owned())));
        }
        if let Some(f) = &filter.field {
            named.push(self.by_field.get(f.as_str()));
        }
        let mut best = &self.all;
        for set in named {
            let set = set?;
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
        self.tags_of
            .get(measurement)
            .map(|t| {
                t.iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, vs)| {
                        let v = if values {
                            vs.keys().cloned().collect()
                        } else {
                            Vec::new()
                        };
                        (k.clone(), v)
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
        let run = |f: &SeriesFilter, after: Option<u64>, limit: usize| {
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
        let p = run(&every, None, 3);
        assert_eq!(p.ids, vec![SeriesId(1), SeriesId(2), SeriesId(3)]);
        assert!(p.more);
        let p = run(&every, Some(3), 3);
        assert_eq!(p.ids, vec![SeriesId(4), SeriesId(7)]);
        assert!(!p.more);
        let host_a_cpu = SeriesFilter {
            measurement: Some("cpu".into()),
            tags: vec![("host".into(), "a".into())],
            field: None,
        };
        assert_eq!(
            run(&host_a_cpu, None, 10).ids,
            vec![SeriesId(1), SeriesId(4)]
        );
        let none = SeriesFilter {
            measurement: Some("disk".into()),
            ..Default::default()
        };
        assert!(run(&none, None, 10).ids.is_empty());
        ix.remove(SeriesId(3), all.get(&SeriesId(3)));
        assert_eq!(ix.measurements(), vec!["cpu"]);
        assert!(!ix.by_tag.contains_key(&("host".to_owned(), "x".to_owned())));
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
