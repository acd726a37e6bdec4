//! Series keys as clients wrote them: the line-protocol text `measurement,tags field`,
//! exactly as it arrived, mapped to the series' id. A front end that looks a known key up
//! here costs one hash lookup and no key parsing or canonicalisation (which costs as much as
//! the rest of a line-protocol write). The engine owns this index beside its catalog: it
//! learns texts only for series that exist, and forgets a series' texts in the same step
//! that removes it from the catalog, so it never hands out the id of a deleted series.

use clio_storage::{SeriesId, SeriesKey};

use crate::hashing::FastMap;

use super::Store;

/// Texts kept before the index is cleared and relearned (a bound on its memory: about
/// 100 bytes per entry).
const MAX_KEY_TEXTS: usize = 2_000_000;

/// Written key texts → series ids. Read it through [`Store::key_texts`].
#[derive(Debug, Default)]
pub struct KeyTexts {
    by_text: FastMap<Box<str>, SeriesId>,
}

impl KeyTexts {
    /// The series a written key text names, if it was learned.
    pub fn get(&self, text: &str) -> Option<SeriesId> {
        self.by_text.get(text).copied()
    }

    /// Texts known.
    pub fn len(&self) -> usize {
        self.by_text.len()
    }

    /// True when no text is known.
    pub fn is_empty(&self) -> bool {
        self.by_text.is_empty()
    }

    fn learn(&mut self, text: String, id: SeriesId) {
        if self.by_text.len() >= MAX_KEY_TEXTS {
            self.by_text.clear();
        }
        self.by_text.insert(text.into_boxed_str(), id);
    }

    /// Forgets every text of `id` (a deleted series).
    pub(crate) fn forget(&mut self, id: SeriesId) {
        self.by_text.retain(|_, v| *v != id);
    }
}

impl Store {
    /// The index of written key texts, locked for reading: hold it across a whole request
    /// body, not across an await.
    pub fn key_texts(&self) -> parking_lot::RwLockReadGuard<'_, KeyTexts> {
        self.inner.key_texts.read()
    }

    /// Learns texts as written for keys that name existing series (after the write that
    /// created them); texts whose key names no series are skipped.
    pub fn learn_key_texts(&self, texts: Vec<(String, SeriesKey)>) {
        if texts.is_empty() {
            return;
        }
        // Under the catalog's read lock: a deletion (which forgets under its write lock)
        // comes wholly before or wholly after, so no text of a deleted series survives.
        let cat = self.inner.catalog.read();
        let mut index = self.inner.key_texts.write();
        for (text, key) in texts {
            if let Some(id) = cat.id_of(&key) {
                index.learn(text, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_only_the_deleted_series() {
        let mut t = KeyTexts::default();
        t.learn("cpu,host=a value".into(), SeriesId(1));
        t.learn("cpu,host=a  value".into(), SeriesId(1));
        t.learn("cpu,host=b value".into(), SeriesId(2));
        t.forget(SeriesId(1));
        assert_eq!(t.get("cpu,host=a value"), None);
        assert_eq!(t.get("cpu,host=b value"), Some(SeriesId(2)));
        assert_eq!(t.len(), 1);
    }
}
