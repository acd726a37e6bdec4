//! Series keys as clients wrote them: the line-protocol text `measurement,tags field`,
//! exactly as it arrived, mapped to the series' id. A front end that looks a known key up
//! here costs one hash lookup and no key parsing or canonicalisation (which costs as much as
//! the rest of a line-protocol write). The engine owns this index beside its catalog: it
//! learns texts only for series that exist, and forgets a series' texts in the same step
//! that removes it from the catalog, so it never hands out the id of a deleted series.

use clio_storage::{SeriesId, SeriesKey};

pub use crate::str_table::StrHash as TextHash;
use crate::str_table::StrTable;

use super::Store;

/// Texts kept before the index is cleared and relearned (a bound on its memory: about
/// 100 bytes per entry).
const MAX_KEY_TEXTS: usize = 2_000_000;

/// Written key texts → series ids. Read it through [`Store::key_texts`].
#[derive(Debug, Default)]
pub struct KeyTexts {
    by_text: StrTable<SeriesId>,
}

/// What [`KeyTexts::lookup`] found for a written key text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLookup {
    /// The text names this series.
    Known(SeriesId),
    /// The text was not learned; its hash goes with it to [`Store::write_learning`], so
    /// that learning it does not hash it again.
    Unknown(TextHash),
}

/// A key text a line-protocol write carries for a point given by key (see
/// [`Store::write_learning`]).
#[derive(Debug, Clone)]
pub struct NewText {
    /// The index, in the write's points, of the point whose key this text spells.
    pub point: usize,
    /// The text's hash from [`KeyTexts::lookup`].
    pub hash: TextHash,
    /// The key text exactly as written.
    pub text: String,
}

impl KeyTexts {
    /// The series a written key text names, if it was learned.
    pub fn get(&self, text: &str) -> Option<SeriesId> {
        self.by_text.get(text).copied()
    }

    /// [`KeyTexts::get`], with the text's hash when it was not learned.
    pub fn lookup(&self, text: &str) -> TextLookup {
        let hash = self.by_text.hash(text);
        match self.by_text.get_hashed(hash, text) {
            Some(id) => TextLookup::Known(*id),
            None => TextLookup::Unknown(hash),
        }
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
        let hash = self.by_text.hash(&text);
        self.learn_hashed(hash, text, id);
    }

    /// Learns `text` (whose hash in this index is `hash`) as naming `id`. A hash from an
    /// earlier [`KeyTexts::lookup`] stays good after the index is cleared: the index keeps
    /// its seed.
    fn learn_hashed(&mut self, hash: TextHash, text: String, id: SeriesId) {
        if self.by_text.len() >= MAX_KEY_TEXTS {
            self.by_text.clear();
        }
        self.by_text.insert_hashed(hash, text.into_boxed_str(), id);
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

    /// Learns the texts a write carried for its points given by key, once `ids` (the
    /// write's resolved series, one per point) holds their series: no key is looked up
    /// again. A series deleted since is skipped (its ids are never a key's again).
    pub(super) fn learn_written_texts(&self, ids: &[SeriesId], texts: Vec<NewText>) {
        if texts.is_empty() {
            return;
        }
        // Under the catalog's read lock, as in `learn_key_texts`.
        let cat = self.inner.catalog.read();
        let mut index = self.inner.key_texts.write();
        for t in texts {
            if let Some(&id) = ids.get(t.point)
                && cat.contains(id)
            {
                index.learn_hashed(t.hash, t.text, id);
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
