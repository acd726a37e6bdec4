//! The engine's in-memory index of the series catalog. The backend holds the durable copy;
//! this index answers key → id lookups on the write path without a database round trip.

use std::collections::HashMap;

use clio_storage::{SeriesId, SeriesInfo, SeriesKey};

/// Ids assigned to line-protocol keys start here, far above the ALEPIZ object ids (OCIDs)
/// that clients pick themselves, so that the two never collide in practice; 2^48 is still
/// exact in JavaScript and JSON numbers.
pub const KEY_ID_BASE: u64 = 1 << 48;

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    by_id: HashMap<SeriesId, SeriesInfo>,
    by_key: HashMap<SeriesKey, SeriesId>,
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
        self.by_id.insert(info.id, info);
    }

    pub(crate) fn remove(&mut self, id: SeriesId) -> Option<SeriesInfo> {
        let info = self.by_id.remove(&id)?;
        if let Some(k) = &info.key {
            self.by_key.remove(k);
        }
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
}

pub(crate) mod snapshot;
