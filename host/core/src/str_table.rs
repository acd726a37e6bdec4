//! A hash table keyed by owned strings, each kept beside its hash: the engine's big
//! string-keyed indexes (written key texts, tag values) grow to millions of entries while
//! series are created.
//!
//! A table that keeps no hashes (std's `HashMap`) must read every key again and hash it
//! each time it grows: a cache miss per entry, with the index's lock held. While a million
//! series were created, that and a `BTreeMap`'s string comparisons (one cache miss each,
//! ~30 per insert) took a quarter of the server's time (issue #25). Keeping the 8-byte hash
//! makes growing a move of entries, and lets a lookup pass over entries whose hash differs
//! without reading their strings.

use std::fmt;
use std::hash::BuildHasher;

use crate::hashing::FastState;

/// Strings → `V`, each string stored once beside its hash.
pub(crate) struct StrTable<V> {
    table: hashbrown::HashTable<Slot<V>>,
    hasher: FastState,
}

struct Slot<V> {
    hash: u64,
    key: Box<str>,
    value: V,
}

/// A string's hash in one [`StrTable`]: made by that table's [`StrTable::hash`] and good
/// for that table only (each table is seeded on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrHash(u64);

impl<V> Default for StrTable<V> {
    fn default() -> Self {
        StrTable {
            table: hashbrown::HashTable::new(),
            hasher: FastState::default(),
        }
    }
}

impl<V> fmt::Debug for StrTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrTable")
            .field("len", &self.table.len())
            .finish()
    }
}

impl<V> StrTable<V> {
    /// The hash of `key` in this table, to look up and insert without hashing again.
    pub(crate) fn hash(&self, key: &str) -> StrHash {
        StrHash(self.hasher.hash_one(key))
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.get_hashed(self.hash(key), key)
    }

    /// The value of `key`, whose hash in this table is `hash`.
    pub(crate) fn get_hashed(&self, hash: StrHash, key: &str) -> Option<&V> {
        self.table
            .find(hash.0, |s| s.hash == hash.0 && *s.key == *key)
            .map(|s| &s.value)
    }

    /// The value of `key`, to change.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let h = self.hash(key).0;
        self.table
            .find_mut(h, |s| s.hash == h && *s.key == *key)
            .map(|s| &mut s.value)
    }

    /// The value of `key`, inserted by `make` first when `key` has none.
    pub(crate) fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let h = self.hash(key).0;
        let entry = self
            .table
            .entry(h, |s| s.hash == h && *s.key == *key, |s| s.hash);
        let slot = match entry {
            hashbrown::hash_table::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_table::Entry::Vacant(v) => v
                .insert(Slot {
                    hash: h,
                    key: key.into(),
                    value: make(),
                })
                .into_mut(),
        };
        &mut slot.value
    }

    /// Sets the value of `key`, whose hash in this table is `hash`; returns the value it
    /// replaces.
    pub(crate) fn insert_hashed(&mut self, hash: StrHash, key: Box<str>, value: V) -> Option<V> {
        let h = hash.0;
        match self
            .table
            .entry(h, |s| s.hash == h && *s.key == *key, |s| s.hash)
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().value, value))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot {
                    hash: h,
                    key,
                    value,
                });
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let h = self.hash(key).0;
        match self.table.find_entry(h, |s| s.hash == h && *s.key == *key) {
            Ok(o) => Some(o.remove().0.value),
            Err(_) => None,
        }
    }

    /// Keeps the entries for which `keep` says so.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        self.table.retain(|s| keep(&s.key, &mut s.value));
    }

    /// Removes every entry (the seed, and so every [`StrHash`] made, stays good).
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }

    /// Entries.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the table holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every entry, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.table.iter().map(|s| (&*s.key, &s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_inserts_changes_and_removals_through_growth() {
        let mut t: StrTable<u32> = StrTable::default();
        // Enough entries to grow the table several times.
        for i in 0..10_000u32 {
            *t.get_or_insert_with(&format!("k{i}"), || 0) += i;
        }
        assert_eq!(t.len(), 10_000);
        for i in (0..10_000u32).step_by(3) {
            *t.get_or_insert_with(&format!("k{i}"), || 0) += 1;
        }
        let h = t.hash("k7");
        assert_eq!(t.get_hashed(h, "k7"), Some(&7));
        assert_eq!(t.get("k9"), Some(&10));
        assert_eq!(t.get("k10000"), None);
        assert_eq!(t.insert_hashed(t.hash("k7"), "k7".into(), 70), Some(7));
        assert_eq!(t.insert_hashed(t.hash("new"), "new".into(), 1), None);
        assert_eq!(t.get("new"), Some(&1));
        *t.get_mut("new").expect("new") = 2;
        assert_eq!(t.remove("new"), Some(2));
        assert_eq!(t.remove("new"), None);
        t.retain(|k, _| k.len() == 2);
        let mut left: Vec<(&str, u32)> = t.iter().map(|(k, v)| (k, *v)).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                ("k0", 1),
                ("k1", 1),
                ("k2", 2),
                ("k3", 4),
                ("k4", 4),
                ("k5", 5),
                ("k6", 7),
                ("k7", 70),
                ("k8", 8),
                ("k9", 10)
            ]
        );
        // A hash made before `clear` still finds what is inserted after it.
        let h = t.hash("again");
        t.clear();
        assert!(t.is_empty());
        t.insert_hashed(h, "again".into(), 3);
        assert_eq!(t.get("again"), Some(&3));
    }

    /// Strings that differ only past the first bytes, or by length, are different keys.
    #[test]
    fn keys_are_whole_strings() {
        let mut t: StrTable<usize> = StrTable::default();
        let keys = ["", "a", "a\u{0}", "ab", "a b", "ä", "cpu,host=a value"];
        for (i, k) in keys.iter().enumerate() {
            *t.get_or_insert_with(k, || i) = i;
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(k), Some(&i), "{k:?}");
        }
        assert_eq!(t.len(), keys.len());
    }
}
