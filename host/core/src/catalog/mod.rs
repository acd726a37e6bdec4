//! The engine's in-memory index of the series catalog. The backend holds the durable copy;
//! this index answers key → id lookups on the write path without a database round trip.

use std::collections::HashMap;

use clio_storage::{SeriesFilter, SeriesId, SeriesInfo, SeriesKey};

/// Ids assigned to line-protocol keys start here, far above the ALEPIZ object ids (OCIDs)
/// that clients pick themselves, so that the two never collide in practice; 2^48 is still
/// exact in JavaScript and JSON numbers.
pub const KEY_ID_BASE: u64 = 1 << 48;

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    by_id: HashMap<SeriesId, SeriesInfo>,
    by_key: HashMap<SeriesKey, SeriesId>,
    listing: ListingIndex,
    next_key_id: u64,
}

impl Catalog {
    pub(crate) fn new(entries: Vec<SeriesInfo>) -> Self {
        let mut c = Catalog {
            next_key_id: KEY_ID_BASE,
            ..Default::default()
        };
        for e in entries {
            c.insert(e);
        }
        c
    }

    pub(crate) fn insert(&mut self, info: SeriesInfo) {
        if info.id.0 >= KEY_ID_BASE {
            self.next_key_id = self.next_key_id.max(info.id.0.saturating_add(1));
        }
        if let Some(k) = &info.key {
            self.by_key.insert(k.clone(), info.id);
        }
        match self.by_id.get(&info.id) {
            // A settings change: the key, and so the listing, stays.
            Some(old) if old.key == info.key => {}
            Some(old) => {
                let old_key = old.key.clone();
                self.listing.remove(info.id, old_key.as_ref());
                self.listing.add(info.id, info.key.as_ref());
            }
            None => self.listing.add(info.id, info.key.as_ref()),
        }
        self.by_id.insert(info.id, info);
    }

    pub(crate) fn remove(&mut self, id: SeriesId) -> Option<SeriesInfo> {
        let info = self.by_id.remove(&id)?;
        if let Some(k) = &info.key {
            self.by_key.remove(k);
        }
        self.listing.remove(id, info.key.as_ref());
        Some(info)
    }

    pub(crate) fn get(&self, id: SeriesId) -> Option<&SeriesInfo> {
        self.by_id.get(&id)
    }

    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        self.by_id.contains_key(&id)
    }

    pub(crate) fn id_of(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.by_key.get(key).copied()
    }

    /// Reserves the next id for a new key, skipping ids a client already uses.
    pub(crate) fn allocate_key_id(&mut self) -> SeriesId {
        while self.by_id.contains_key(&SeriesId(self.next_key_id)) {
            self.next_key_id += 1;
        }
        let id = SeriesId(self.next_key_id);
        self.next_key_id += 1;
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &SeriesInfo> {
        self.by_id.values()
    }

    /// Up to `limit` entries after `after` passing `filter`, by ascending id, and whether
    /// more follow. Walks the smallest index set the filter names.
    pub(crate) fn page(
        &self,
        filter: &SeriesFilter,
        after: Option<SeriesId>,
        limit: usize,
    ) -> (Vec<&SeriesInfo>, bool) {
        let page = self.listing.page(filter, after, limit, |id| {
            self.by_id.get(&id).is_some_and(|s| filter.matches(s))
        });
        let entries = page
            .ids
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .collect();
        (entries, page.more)
    }

    /// Distinct measurements of keyed series, sorted.
    pub(crate) fn measurements(&self) -> Vec<&str> {
        self.listing.measurements()
    }
}

mod index;
pub(crate) mod snapshot;

use index::ListingIndex;
