//! A set of series ids for the listing index: a small sorted vector while it is small, a
//! B-tree once it grows.
//!
//! Most index sets are tiny: a tag value such as a sensor's serial names one series or a
//! few. A `BTreeSet` spends a whole node (~100 bytes) on its first id; a vector spends 8
//! bytes per id. Large sets (a measurement, a common tag) move to a B-tree so that inserting
//! and removing stay logarithmic.

use std::collections::BTreeSet;
use std::ops::Bound;

use clio_storage::SeriesId;

/// Above this many ids a set becomes a B-tree.
const SMALL_MAX: usize = 32;
/// At or below this many ids a B-tree set becomes a vector again (below `SMALL_MAX`, so
/// that a set going up and down around the limit does not convert on every change).
const SMALL_AGAIN: usize = 16;

/// Ids, ascending.
#[derive(Debug, Clone)]
pub(crate) enum IdSet {
    /// Exactly one id, without an allocation: most tag values of a million series (serial
    /// numbers, addresses) name one series each.
    One(SeriesId),
    Small(Vec<SeriesId>),
    Large(BTreeSet<SeriesId>),
}

impl Default for IdSet {
    fn default() -> Self {
        IdSet::Small(Vec::new())
    }
}

impl IdSet {
    pub(crate) fn insert(&mut self, id: SeriesId) -> bool {
        match self {
            IdSet::Small(v) if v.is_empty() => {
                *self = IdSet::One(id);
                true
            }
            IdSet::One(one) => {
                let one = *one;
                if one == id {
                    return false;
                }
                *self = IdSet::Small(vec![one.min(id), one.max(id)]);
                true
            }
            IdSet::Small(v) => {
                // New series get ascending ids: appending is the usual case.
                let at = match v.last() {
                    Some(last) if *last < id => v.len(),
                    _ => match v.binary_search(&id) {
                        Ok(_) => return false,
                        Err(i) => i,
                    },
                };
                if v.len() < SMALL_MAX {
                    v.insert(at, id);
                } else {
                    let mut set: BTreeSet<SeriesId> = v.drain(..).collect();
                    set.insert(id);
                    *self = IdSet::Large(set);
                }
                true
            }
            IdSet::Large(s) => s.insert(id),
        }
    }

    pub(crate) fn remove(&mut self, id: &SeriesId) -> bool {
        match self {
            IdSet::One(one) if one == id => {
                *self = IdSet::default();
                true
            }
            IdSet::One(_) => false,
            IdSet::Small(v) => match v.binary_search(id) {
                Ok(i) => {
                    v.remove(i);
                    true
                }
                Err(_) => false,
            },
            IdSet::Large(s) => {
                let removed = s.remove(id);
                if s.len() <= SMALL_AGAIN {
                    *self = IdSet::Small(std::mem::take(s).into_iter().collect());
                }
                removed
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            IdSet::One(_) => 1,
            IdSet::Small(v) => v.len(),
            IdSet::Large(s) => s.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids from `start` on, ascending.
    pub(crate) fn from(&self, start: Bound<SeriesId>) -> Box<dyn Iterator<Item = SeriesId> + '_> {
        match self {
            IdSet::One(one) => {
                let after = match start {
                    Bound::Included(a) => *one >= a,
                    Bound::Excluded(a) => *one > a,
                    Bound::Unbounded => true,
                };
                Box::new(after.then_some(*one).into_iter())
            }
            IdSet::Small(v) => {
                let i = match start {
                    Bound::Included(a) => v.partition_point(|x| *x < a),
                    Bound::Excluded(a) => v.partition_point(|x| *x <= a),
                    Bound::Unbounded => 0,
                };
                Box::new(v.get(i..).unwrap_or_default().iter().copied())
            }
            IdSet::Large(s) => Box::new(s.range((start, Bound::Unbounded)).copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &IdSet, start: Bound<SeriesId>) -> Vec<u64> {
        s.from(start).map(|i| i.0).collect()
    }

    #[test]
    fn behaves_as_a_set_across_both_forms() {
        let mut s = IdSet::default();
        // Out of order and repeated, through the conversion and back.
        for i in (0..100u64).rev().chain(0..100) {
            s.insert(SeriesId(i * 2));
        }
        assert!(matches!(s, IdSet::Large(_)));
        assert_eq!(s.len(), 100);
        assert_eq!(
            ids(&s, Bound::Excluded(SeriesId(190))),
            vec![192, 194, 196, 198]
        );
        assert_eq!(ids(&s, Bound::Included(SeriesId(194))), vec![194, 196, 198]);
        for i in 0..90u64 {
            assert!(s.remove(&SeriesId(i * 2)));
        }
        assert!(!s.remove(&SeriesId(1)));
        assert!(matches!(s, IdSet::Small(_)));
        assert_eq!(ids(&s, Bound::Unbounded).len(), 10);
        assert_eq!(ids(&s, Bound::Excluded(SeriesId(194))), vec![196, 198]);
        assert_eq!(ids(&s, Bound::Excluded(SeriesId(500))), Vec::<u64>::new());
        assert!(!s.insert(SeriesId(198)), "no duplicates");
        assert!(s.insert(SeriesId(1)));
        assert_eq!(ids(&s, Bound::Unbounded).first(), Some(&1));
        for i in ids(&s, Bound::Unbounded) {
            s.remove(&SeriesId(i));
        }
        assert!(s.is_empty());
    }

    /// A set of one id holds it inline and behaves like any other set.
    #[test]
    fn one_id_is_held_inline() {
        let mut s = IdSet::default();
        assert!(s.insert(SeriesId(5)));
        assert!(matches!(s, IdSet::One(SeriesId(5))));
        assert!(!s.insert(SeriesId(5)));
        assert_eq!(s.len(), 1);
        assert_eq!(ids(&s, Bound::Included(SeriesId(5))), vec![5]);
        assert_eq!(ids(&s, Bound::Excluded(SeriesId(5))), Vec::<u64>::new());
        assert_eq!(ids(&s, Bound::Excluded(SeriesId(4))), vec![5]);
        assert!(!s.remove(&SeriesId(6)));
        assert!(s.insert(SeriesId(3)));
        assert_eq!(ids(&s, Bound::Unbounded), vec![3, 5]);
        assert!(s.remove(&SeriesId(3)) && s.remove(&SeriesId(5)));
        assert!(s.is_empty());
        assert!(s.insert(SeriesId(9)));
        assert!(s.remove(&SeriesId(9)));
        assert!(s.is_empty() && matches!(s, IdSet::Small(_)));
    }
}
