//! A map from series id to value that keeps consecutive ids together in memory: the catalog's
//! entries and each cache shard's series.
//!
//! Series ids are handed out in sequence (line-protocol keys from 2^48 up, ALEPIZ object ids
//! from a counter), and writes and the log name them in roughly that order: a batch of line
//! protocol holds series created one after another. A hash map scatters such ids over its
//! whole table, so at a million series each lookup was a cache miss; they were most of the
//! log replay's time (issue #25). Its table, kept at most 7/8 full and grown by doubling,
//! was also about half empty buckets of ~90 bytes each.
//!
//! Here ids are grouped in pages of 64 consecutive ids. A page is one entry of a hash map:
//! a bitmap of the ids present and their values, packed in id order. Consecutive ids sit
//! side by side; the page table is 1/64 the size and stays in the processor's caches. A page
//! of one sparse id costs its table entry and a vector of one value.

use std::fmt;

use clio_storage::SeriesId;

use crate::hashing::FastMap;

/// Ids per page: a page's presence bitmap is one `u64`.
const PAGE_IDS: u64 = 64;

/// The page of `id` and its bit within the page.
fn split(id: SeriesId) -> (u64, u32) {
    (id.0 / PAGE_IDS, (id.0 % PAGE_IDS) as u32)
}

/// The page number of `id`: ids on one page share it (the cache shards by it).
pub(crate) fn page_of(id: SeriesId) -> u64 {
    split(id).0
}

/// Values of one page's ids; `values[i]` belongs to the `i`-th set bit of `present`.
struct Page<V> {
    present: u64,
    values: Vec<V>,
}

impl<V> Page<V> {
    /// Where the value of `bit` is (`Ok`) or would go (`Err`).
    fn slot(&self, bit: u32) -> Result<usize, usize> {
        let below = (self.present & ((1u64 << bit) - 1)).count_ones() as usize;
        if self.present & (1u64 << bit) != 0 {
            Ok(below)
        } else {
            Err(below)
        }
    }

    /// The room a full page of `len` values grows to: 1, 4, 16, then all 64. A page holding
    /// one sparse id keeps one value (not the four of a vector's first growth), and a page
    /// filled id by id is copied three times on the way, not six as by doubling.
    fn grown(len: usize) -> usize {
        if len == 0 {
            1
        } else {
            (len * 4).min(PAGE_IDS as usize)
        }
    }

    fn insert_at(&mut self, i: usize, bit: u32, v: V) {
        let len = self.values.len();
        if len == self.values.capacity() {
            self.values.reserve_exact(Self::grown(len) - len);
        }
        self.values.insert(i, v);
        self.present |= 1u64 << bit;
    }

    /// Makes room for the ids of `bits` not present yet, in one allocation: at least what
    /// they need, and never less than the next step of [`Page::grown`] (so that a caller
    /// announcing ids one at a time does not reallocate on every insert).
    fn make_room(&mut self, bits: u64) {
        let need = (self.present | bits).count_ones() as usize;
        let (len, cap) = (self.values.len(), self.values.capacity());
        if need > cap {
            let room = need.max(Self::grown(len));
            self.values.reserve_exact(room - len);
        }
    }

    fn remove_at(&mut self, i: usize, bit: u32) -> V {
        let v = self.values.remove(i);
        self.present &= !(1u64 << bit);
        self.shrink();
        v
    }

    /// Returns memory once at most a quarter of the room is used (ids of a page deleted).
    fn shrink(&mut self) {
        if self.values.len() * 4 <= self.values.capacity() {
            self.values.shrink_to_fit();
        }
    }
}

/// The set bits of a word, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

/// Series id → `V`; iteration order is unspecified (as a hash map's).
pub(crate) struct IdMap<V> {
    pages: FastMap<u64, Page<V>>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            pages: FastMap::default(),
            len: 0,
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> IdMap<V> {
    /// Makes room for `n` more ids, as if they were consecutive.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.pages.reserve(n.div_ceil(PAGE_IDS as usize));
    }

    /// Makes room for the ids of `ids` that are not present, which the caller is about to
    /// insert: each page gets room for all of its new ids in one allocation, instead of
    /// growing 1, 4, 16, 64 (three copies of a page filled id by id; a tenth of the log
    /// replay's applying time at a million new series, issue #25). Ids are taken in runs of
    /// one page, as consecutive ids come; ids in no order merely grow pages as inserts do.
    /// A page made here stays empty until the caller inserts into it, so callers insert
    /// every id they name.
    pub(crate) fn reserve_ids(&mut self, ids: impl IntoIterator<Item = SeriesId>) {
        let mut ids = ids.into_iter().map(split).peekable();
        while let Some((p, bit)) = ids.next() {
            let mut bits = 1u64 << bit;
            while let Some(&(_, b)) = ids.peek().filter(|(q, _)| *q == p) {
                bits |= 1u64 << b;
                ids.next();
            }
            Self::page_in(&mut self.pages, p).make_room(bits);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn get(&self, id: SeriesId) -> Option<&V> {
        let (p, bit) = split(id);
        let page = self.pages.get(&p)?;
        page.slot(bit).ok().and_then(|i| page.values.get(i))
    }

    pub(crate) fn get_mut(&mut self, id: SeriesId) -> Option<&mut V> {
        let (p, bit) = split(id);
        let page = self.pages.get_mut(&p)?;
        page.slot(bit).ok().and_then(|i| page.values.get_mut(i))
    }

    pub(crate) fn contains_key(&self, id: SeriesId) -> bool {
        let (p, bit) = split(id);
        self.pages
            .get(&p)
            .is_some_and(|page| page.present & (1u64 << bit) != 0)
    }

    /// Inserts or replaces; returns the replaced value.
    pub(crate) fn insert(&mut self, id: SeriesId, v: V) -> Option<V> {
        let (p, bit) = split(id);
        let page = Self::page_in(&mut self.pages, p);
        match page.slot(bit) {
            Ok(i) => page.values.get_mut(i).map(|old| std::mem::replace(old, v)),
            Err(i) => {
                page.insert_at(i, bit, v);
                self.len += 1;
                None
            }
        }
    }

    /// The value of `id`, inserted from `make` when missing.
    pub(crate) fn get_or_insert_with(&mut self, id: SeriesId, make: impl FnOnce() -> V) -> &mut V {
        let (p, bit) = split(id);
        let page = Self::page_in(&mut self.pages, p);
        let i = match page.slot(bit) {
            Ok(i) => i,
            Err(i) => {
                page.insert_at(i, bit, make());
                self.len += 1;
                i
            }
        };
        // `i` is in range: it was found or just filled.
        &mut page.values[i]
    }

    /// Page `p` of `pages`, made empty if missing (an insert fills it at once). Takes the
    /// table alone so that the map's length can change while the page is borrowed.
    fn page_in(pages: &mut FastMap<u64, Page<V>>, p: u64) -> &mut Page<V> {
        pages.entry(p).or_insert_with(|| Page {
            present: 0,
            values: Vec::new(),
        })
    }

    pub(crate) fn remove(&mut self, id: SeriesId) -> Option<V> {
        let (p, bit) = split(id);
        let page = self.pages.get_mut(&p)?;
        let i = page.slot(bit).ok()?;
        let v = page.remove_at(i, bit);
        if page.present == 0 {
            self.pages.remove(&p);
        }
        self.len -= 1;
        Some(v)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (SeriesId, &V)> {
        self.pages.iter().flat_map(|(&p, page)| {
            Bits(page.present)
                .zip(&page.values)
                .map(move |(bit, v)| (SeriesId(p * PAGE_IDS + u64::from(bit)), v))
        })
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.iter().map(|(id, _)| id)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.pages.values().flat_map(|page| &page.values)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.pages.values_mut().flat_map(|page| &mut page.values)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What a map holds, in id order, checked against its own bookkeeping.
    fn contents(m: &IdMap<u32>) -> BTreeMap<u64, u32> {
        let all: BTreeMap<u64, u32> = m.iter().map(|(id, v)| (id.0, *v)).collect();
        assert_eq!(all.len(), m.len(), "length");
        assert_eq!(m.values().count(), m.len(), "values");
        assert_eq!(m.keys().count(), m.len(), "keys");
        for page in m.pages.values() {
            assert_eq!(page.present.count_ones() as usize, page.values.len());
            assert_ne!(page.present, 0, "an empty page is dropped");
        }
        all
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        GetOrInsert(u64, u32),
        Remove(u64),
        /// Room made for these ids, then each inserted (as the cache and catalog do).
        ReserveThenInsert(Vec<u64>, u32),
        RemoveEven,
        Bump(u64),
    }

    /// Ids clustered on a few pages (so that pages fill, empty and refill), plus the edges.
    fn id() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..200,
            (1u64 << 48)..(1u64 << 48) + 200,
            Just(u64::MAX),
            Just(u64::MAX - 63),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (id(), any::<u32>()).prop_map(|(i, v)| Op::Insert(i, v)),
            2 => (id(), any::<u32>()).prop_map(|(i, v)| Op::GetOrInsert(i, v)),
            3 => id().prop_map(Op::Remove),
            2 => (proptest::collection::vec(id(), 0..80), any::<u32>())
                .prop_map(|(ids, v)| Op::ReserveThenInsert(ids, v)),
            1 => Just(Op::RemoveEven),
            1 => id().prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// Any sequence of changes leaves the map holding what a B-tree map would.
        #[test]
        fn behaves_as_an_ordinary_map(ops in proptest::collection::vec(op(), 0..400)) {
            let mut m = IdMap::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(i, v) => {
                        prop_assert_eq!(m.insert(SeriesId(i), v), model.insert(i, v));
                    }
                    Op::GetOrInsert(i, v) => {
                        let got = *m.get_or_insert_with(SeriesId(i), || v);
                        prop_assert_eq!(got, *model.entry(i).or_insert(v));
                    }
                    Op::Remove(i) => {
                        prop_assert_eq!(m.remove(SeriesId(i)), model.remove(&i));
                    }
                    Op::ReserveThenInsert(ids, v) => {
                        m.reserve_ids(ids.iter().map(|&i| SeriesId(i)));
                        for i in ids {
                            prop_assert_eq!(m.insert(SeriesId(i), v), model.insert(i, v));
                        }
                    }
                    Op::RemoveEven => {
                        // Many removals on each page, some emptying it.
                        let even: Vec<SeriesId> = m.keys().filter(|id| id.0 % 2 == 0).collect();
                        for id in even {
                            prop_assert_eq!(m.remove(id), model.remove(&id.0));
                        }
                    }
                    Op::Bump(i) => {
                        if let Some(v) = m.get_mut(SeriesId(i)) {
                            *v = v.wrapping_mul(3);
                        }
                        if let Some(v) = model.get_mut(&i) {
                            *v = v.wrapping_mul(3);
                        }
                    }
                }
                prop_assert_eq!(contents(&m), model.clone());
            }
            for (&i, v) in &model {
                prop_assert_eq!(m.get(SeriesId(i)), Some(v));
                prop_assert!(m.contains_key(SeriesId(i)));
            }
            for v in m.values_mut() {
                *v = 0;
            }
            prop_assert!(m.values().all(|v| *v == 0));
        }
    }

    #[test]
    fn consecutive_ids_share_a_page_and_sparse_ids_cost_one_value() {
        let mut m = IdMap::default();
        for i in 0..1000u64 {
            m.insert(SeriesId((1 << 48) + i), i as u32);
        }
        assert_eq!(m.pages.len(), 1000usize.div_ceil(64));
        let mut sparse = IdMap::default();
        for i in 0..100u64 {
            sparse.insert(SeriesId(i << 20), 0u32);
        }
        assert_eq!(sparse.pages.len(), 100);
        assert!(sparse.pages.values().all(|p| p.values.capacity() == 1));
        assert!(m.pages.values().all(|p| p.values.capacity() <= 64));
        // Emptied pages go; a map emptied id by id is empty.
        for i in 0..100u64 {
            sparse.remove(SeriesId(i << 20));
        }
        assert!(sparse.is_empty());
        assert!(sparse.pages.is_empty());
        assert_eq!(m.get(SeriesId((1 << 48) + 999)), Some(&999));
        assert_eq!(m.get(SeriesId((1 << 48) + 1000)), None);
        assert_eq!(page_of(SeriesId(64)), page_of(SeriesId(127)));
        assert_ne!(page_of(SeriesId(63)), page_of(SeriesId(64)));
    }

    /// Capacities of the pages of `m`, by page number.
    fn rooms(m: &IdMap<u32>) -> BTreeMap<u64, usize> {
        m.pages
            .iter()
            .map(|(&p, page)| (p, page.values.capacity()))
            .collect()
    }

    #[test]
    fn reserved_ids_get_their_room_in_one_allocation() {
        let base = 1u64 << 48;
        let mut m = IdMap::default();
        // A full page and three ids of the next: each page sized exactly, once.
        let ids: Vec<SeriesId> = (0..67).map(|i| SeriesId(base + i)).collect();
        m.reserve_ids(ids.iter().copied());
        let before = rooms(&m);
        assert_eq!(before.values().copied().collect::<Vec<_>>(), [64, 3]);
        for (k, id) in ids.iter().enumerate() {
            m.insert(*id, k as u32);
        }
        assert_eq!(rooms(&m), before, "no insert grew a reserved page");
        // Ids already present need no room; a new one among them gets the next step.
        m.reserve_ids([
            SeriesId(base + 64),
            SeriesId(base + 65),
            SeriesId(base + 66),
        ]);
        assert_eq!(rooms(&m), before);
        m.reserve_ids([SeriesId(base + 64), SeriesId(base + 70)]);
        assert_eq!(rooms(&m)[&(base / 64 + 1)], 12);
        // Announced one at a time, a page grows in the usual steps, not by one per insert.
        let mut single = IdMap::default();
        let mut seen = Vec::new();
        for i in 0..64u64 {
            single.reserve_ids([SeriesId(i)]);
            single.insert(SeriesId(i), 0u32);
            let room = rooms(&single)[&0];
            if seen.last() != Some(&room) {
                seen.push(room);
            }
        }
        assert_eq!(seen, [1, 4, 16, 64]);
        assert_eq!(contents(&m).len(), 67);
    }
}
