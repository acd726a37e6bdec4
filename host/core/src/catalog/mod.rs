//! The engine's in-memory index of the series catalog. The backend holds the durable copy;
//! this index answers key → id lookups on the write path without a database round trip.

use std::hash::BuildHasher;

use clio_storage::{SeriesFilter, SeriesId, SeriesInfo, SeriesKey};

use crate::hashing::FastState;
use crate::id_map::IdMap;

/// Ids assigned to line-protocol keys start here, far above the ALEPIZ object ids (OCIDs)
/// that clients pick themselves; 2^48 is still exact in JavaScript and JSON numbers. The
/// range from here up belongs to keys: a client cannot create a series by a numeric id in it
/// (see [`Catalog::check_client_id`]), so key ids and client ids never collide.
pub const KEY_ID_BASE: u64 = 1 << 48;

#[derive(Debug)]
pub(crate) struct Catalog {
    /// Entries by id, consecutive ids side by side (see [`IdMap`]).
    by_id: IdMap<SeriesInfo>,
    /// Key → id without a second copy of the key: the table holds ids, hashed by the key
    /// their `by_id` entry holds. A key costs ~200 bytes in seven allocations; keeping it once
    /// saves that much per series (issue #25's memory target). Each id sits beside its key's
    /// hash, so that growing the table moves entries without visiting a key: a rehash that
    /// looked each key up and hashed it again took ~8 % of the server's time while a million
    /// series were created, and held the catalog's write lock for hundreds of milliseconds.
    by_key: hashbrown::HashTable<KeyedId>,
    key_hasher: FastState,
    listing: ListingIndex,
    /// The next id to try for a new key; `None` once `u64::MAX` has been handed out.
    next_key_id: Option<u64>,
}

/// An entry of the key index: a keyed series' id and its key's hash.
#[derive(Debug, Clone, Copy)]
struct KeyedId {
    hash: u64,
    id: SeriesId,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            by_id: IdMap::default(),
            by_key: hashbrown::HashTable::new(),
            key_hasher: FastState::default(),
            listing: ListingIndex::default(),
            next_key_id: Some(KEY_ID_BASE),
        }
    }
}

impl Catalog {
    pub(crate) fn new(entries: Vec<SeriesInfo>) -> Self {
        let mut c = Catalog::default();
        // Sized once: a million entries otherwise rehash both tables ~20 times at start-up.
        c.by_id.reserve(entries.len());
        c.by_id.reserve_ids(entries.iter().map(|e| e.id));
        let keyed = entries.iter().filter(|e| e.key.is_some()).count();
        c.by_key.reserve(keyed, |e| e.hash);
        for e in entries {
            c.insert(e);
        }
        c
    }

    /// Makes room for the entries of `ids`, about to be inserted (see [`IdMap::reserve_ids`]).
    pub(crate) fn reserve_ids(&mut self, ids: &[SeriesId]) {
        self.by_id.reserve_ids(ids.iter().copied());
    }

    pub(crate) fn insert(&mut self, info: SeriesInfo) {
        self.insert_hashed(info, None);
    }

    /// [`Catalog::insert`] with the new key's hash from [`Catalog::key_hash`] when the
    /// caller has it (the write path hashes a new key once for all its steps).
    pub(crate) fn insert_hashed(&mut self, info: SeriesInfo, key_hash: Option<u64>) {
        // Only key series move the allocator: a numeric series a client created in the key
        // range (possible before that was refused) is skipped over, not jumped past, so one
        // write to id 2^64-1 cannot use up the key range.
        if info.key.is_some()
            && info.id.0 >= KEY_ID_BASE
            && let Some(next) = self.next_key_id
            && info.id.0 >= next
        {
            self.next_key_id = info.id.0.checked_add(1);
        }
        let id = info.id;
        let old_key = match self.by_id.get(id) {
            // A settings change: the key, and so the listing and the key index, stay.
            Some(old) if old.key == info.key => None,
            Some(old) => {
                self.listing.remove(id, old.key.as_ref());
                self.listing.add(id, info.key.as_ref());
                Some(old.key.clone())
            }
            None => {
                self.listing.add(id, info.key.as_ref());
                Some(None)
            }
        };
        if let Some(Some(k)) = &old_key {
            self.unindex_key(id, k);
        }
        let Catalog {
            by_id,
            by_key,
            key_hasher,
            ..
        } = self;
        // The new key's hash, computed once for both steps below.
        let hash = match (&old_key, &info.key) {
            (Some(_), Some(k)) => Some(key_hash.unwrap_or_else(|| Self::hash_key(key_hasher, k))),
            _ => None,
        };
        debug_assert!(
            hash.zip(info.key.as_ref())
                .is_none_or(|(h, k)| h == Self::hash_key(key_hasher, k)),
            "a key hash from another table"
        );
        if let (Some(h), Some(k)) = (hash, &info.key) {
            // Another series holding this key loses it (as the map this replaced did); `id`
            // itself is not in the index any more.
            if let Ok(e) = by_key.find_entry(h, |other| {
                other.hash == h
                    && by_id
                        .get(other.id)
                        .is_some_and(|i| i.key.as_ref() == Some(k))
            }) {
                e.remove();
            }
        }
        by_id.insert(id, info);
        if let Some(hash) = hash {
            by_key.insert_unique(hash, KeyedId { hash, id }, |e| e.hash);
        }
    }

    /// Hash of a key, the same for a key and its copies.
    fn hash_key(hasher: &FastState, key: &SeriesKey) -> u64 {
        hasher.hash_one(key)
    }

    /// Removes the entry `key` → `id` from the key index.
    fn unindex_key(&mut self, id: SeriesId, key: &SeriesKey) {
        let h = Self::hash_key(&self.key_hasher, key);
        if let Ok(e) = self.by_key.find_entry(h, |other| other.id == id) {
            e.remove();
        }
    }

    pub(crate) fn remove(&mut self, id: SeriesId) -> Option<SeriesInfo> {
        let info = self.by_id.remove(id)?;
        if let Some(k) = &info.key {
            self.unindex_key(id, k);
        }
        self.listing.remove(id, info.key.as_ref());
        Some(info)
    }

    pub(crate) fn get(&self, id: SeriesId) -> Option<&SeriesInfo> {
        self.by_id.get(id)
    }

    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        self.by_id.contains_key(id)
    }

    pub(crate) fn id_of(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.id_of_hashed(self.key_hash(key), key)
    }

    /// The hash of `key` in this catalog's key index, for [`Catalog::id_of_hashed`] and
    /// [`Catalog::insert_hashed`].
    pub(crate) fn key_hash(&self, key: &SeriesKey) -> u64 {
        Self::hash_key(&self.key_hasher, key)
    }

    /// [`Catalog::id_of`] of a key whose [`Catalog::key_hash`] is `h`.
    pub(crate) fn id_of_hashed(&self, h: u64, key: &SeriesKey) -> Option<SeriesId> {
        // The stored hash rules out other keys without visiting their entries.
        self.by_key
            .find(h, |e| {
                e.hash == h
                    && self
                        .by_id
                        .get(e.id)
                        .is_some_and(|i| i.key.as_ref() == Some(key))
            })
            .map(|e| e.id)
    }

    /// Reserves the next id for a new key, skipping ids already in use; `None` when the key
    /// range (2^48 ..= 2^64-1) is used up. Never wraps into the client ids below 2^48.
    pub(crate) fn allocate_key_id(&mut self) -> Option<SeriesId> {
        let mut next = self.next_key_id?;
        while self.by_id.contains_key(SeriesId(next)) {
            match next.checked_add(1) {
                Some(n) => next = n,
                None => {
                    self.next_key_id = None;
                    return None;
                }
            }
        }
        self.next_key_id = next.checked_add(1);
        Some(SeriesId(next))
    }

    /// Whether a client may create a series under its own numeric `id`: ids from
    /// [`KEY_ID_BASE`] up are the keys'. Existing series are addressed by any id.
    pub(crate) fn check_client_id(id: SeriesId) -> Result<(), String> {
        if id.0 >= KEY_ID_BASE {
            return Err(format!(
                "series id {id} is not in use and cannot be created: ids from {KEY_ID_BASE} (2^48) up are assigned to line-protocol keys; numeric ids must be below it"
            ));
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &SeriesInfo> {
        self.by_id.values()
    }

    /// Every entry's id, in no order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.by_id.keys()
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
            self.by_id.get(id).is_some_and(|s| filter.matches(s))
        });
        let entries = page
            .ids
            .iter()
            .filter_map(|id| self.by_id.get(*id))
            .collect();
        (entries, page.more)
    }

    /// Distinct measurements of keyed series, sorted.
    pub(crate) fn measurements(&self) -> Vec<&str> {
        self.listing.measurements()
    }

    /// The tag keys of a measurement and their values, sorted.
    pub(crate) fn tags_of(
        &self,
        measurement: &str,
        keep: &dyn Fn(&str) -> bool,
        values: bool,
    ) -> std::collections::BTreeMap<String, Vec<String>> {
        self.listing.tags_of(measurement, keep, values)
    }
}

pub(crate) mod entry_codec;
mod id_set;
mod index;
pub(crate) mod snapshot;

use index::ListingIndex;

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u64, key: Option<&str>) -> SeriesInfo {
        SeriesInfo {
            id: SeriesId(id),
            key: key.map(|k| k.parse().expect("key")),
            settings: Default::default(),
            created: 0,
        }
    }

    #[test]
    fn key_ids_never_wrap_into_client_ids() {
        // A numeric series at the very top (left by an older version) is skipped, not jumped.
        let mut c = Catalog::new(vec![info(u64::MAX, None), info(7, None)]);
        assert_eq!(c.allocate_key_id(), Some(SeriesId(KEY_ID_BASE)));
        // A key series at the top: the range is used up, and stays so; nothing wraps to 0.
        let mut c = Catalog::new(vec![info(u64::MAX - 1, Some("m f")), info(u64::MAX, None)]);
        assert_eq!(c.allocate_key_id(), None);
        assert_eq!(c.allocate_key_id(), None);
        let mut c = Catalog::new(vec![info(u64::MAX - 2, Some("m f"))]);
        assert_eq!(c.allocate_key_id(), Some(SeriesId(u64::MAX - 1)));
        assert_eq!(c.allocate_key_id(), Some(SeriesId(u64::MAX)));
        assert_eq!(c.allocate_key_id(), None);
    }

    #[test]
    fn the_key_index_follows_inserts_key_changes_and_removals() {
        let key = |s: &str| s.parse::<SeriesKey>().expect("key");
        let mut c = Catalog::new(
            (0..1000)
                .map(|i| info(i, Some(&format!("m,h=x{i} f"))))
                .collect(),
        );
        for i in 0..1000 {
            assert_eq!(c.id_of(&key(&format!("m,h=x{i} f"))), Some(SeriesId(i)));
        }
        assert_eq!(c.id_of(&key("m,h=x1000 f")), None);
        // A settings change keeps the key.
        let mut s = info(5, Some("m,h=x5 f"));
        s.settings.keep_history_days = 3;
        c.insert(s);
        assert_eq!(c.id_of(&key("m,h=x5 f")), Some(SeriesId(5)));
        // A key change moves it.
        c.insert(info(6, Some("m,h=renamed f")));
        assert_eq!(c.id_of(&key("m,h=x6 f")), None);
        assert_eq!(c.id_of(&key("m,h=renamed f")), Some(SeriesId(6)));
        // A key taken over by another id names the newer one only.
        c.insert(info(7, Some("m,h=x8 f")));
        assert_eq!(c.id_of(&key("m,h=x8 f")), Some(SeriesId(7)));
        assert_eq!(c.id_of(&key("m,h=x7 f")), None);
        // Removal forgets the key; a key series becoming keyless too.
        assert!(c.remove(SeriesId(9)).is_some());
        assert_eq!(c.id_of(&key("m,h=x9 f")), None);
        c.insert(info(10, None));
        assert_eq!(c.id_of(&key("m,h=x10 f")), None);
        assert_eq!(c.id_of(&key("m,h=x11 f")), Some(SeriesId(11)));
    }

    #[test]
    fn clients_cannot_create_ids_in_the_key_range() {
        assert!(Catalog::check_client_id(SeriesId(KEY_ID_BASE - 1)).is_ok());
        let e = Catalog::check_client_id(SeriesId(u64::MAX)).expect_err("refused");
        assert!(e.contains("18446744073709551615"), "{e}");
    }
}
