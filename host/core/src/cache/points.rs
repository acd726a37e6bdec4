//! One series' cached points: a vector sorted by timestamp.
//!
//! A `BTreeMap` allocates a whole node (room for 11 points, ~500 bytes here) for the first
//! point, which dominated the memory of a million small series. Points nearly always arrive
//! in time order, so appending to a sorted vector is the common case; the rare insert into
//! the past shifts the newer points (bounded by what one series holds in memory). Bulk
//! inserts (read-through fills) merge in one pass instead of point by point.

use std::ops::{Bound, RangeBounds};

use clio_storage::Timestamp;

use super::Entry;

/// Points by ascending, unique timestamp.
#[derive(Debug)]
pub(super) struct PointMap {
    v: Vec<(Timestamp, Entry)>,
    /// The newest point's timestamp (`Timestamp::MIN` when empty), kept beside the vector:
    /// at full ingest every point goes to another series, and reading the newest point from
    /// the vector's heap memory to decide where a point goes was a cache miss per point, the
    /// largest single cost of the write path (issue #25).
    last: Timestamp,
}

impl Default for PointMap {
    fn default() -> Self {
        PointMap {
            v: Vec::new(),
            last: Timestamp::MIN,
        }
    }
}

impl PointMap {
    pub(super) fn len(&self) -> usize {
        self.v.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// Where `ts` is or would go.
    fn find(&self, ts: Timestamp) -> Result<usize, usize> {
        // The newest point is the usual target: check it before searching.
        let n = self.v.len();
        if n == 0 {
            Err(0)
        } else if self.last < ts {
            Err(n)
        } else if self.last == ts {
            Ok(n - 1)
        } else {
            self.v.binary_search_by_key(&ts, |(t, _)| *t)
        }
    }

    /// Sets `last` from the vector after a change that may have removed the newest point.
    fn relast(&mut self) {
        self.last = self.v.last().map_or(Timestamp::MIN, |(t, _)| *t);
    }

    /// Inserts or replaces; returns the replaced entry.
    pub(super) fn insert(&mut self, ts: Timestamp, e: Entry) -> Option<Entry> {
        match self.find(ts) {
            Ok(i) => Some(std::mem::replace(&mut self.v[i].1, e)),
            Err(i) if i == self.v.len() => {
                self.v.push((ts, e));
                self.last = ts;
                None
            }
            Err(i) => {
                self.v.insert(i, (ts, e));
                None
            }
        }
    }

    /// Adds every point of `new` (ascending) whose timestamp is not yet present, in one
    /// merge; returns the added points' memory as `mem` computes it.
    pub(super) fn merge_absent(
        &mut self,
        new: impl ExactSizeIterator<Item = (Timestamp, Entry)>,
        mem: impl Fn(&Entry) -> usize,
    ) -> usize {
        let old = std::mem::take(&mut self.v);
        let mut out = Vec::with_capacity(old.len() + new.len());
        let mut added = 0;
        let mut old = old.into_iter().peekable();
        for (ts, e) in new {
            while let Some((t, _)) = old.peek() {
                if *t >= ts {
                    break;
                }
                out.extend(old.next());
            }
            // A point already in memory is as new as the incoming one or newer.
            let present = old.peek().is_some_and(|(t, _)| *t == ts)
                || out.last().is_some_and(|(t, _)| *t >= ts);
            if !present {
                added += mem(&e);
                out.push((ts, e));
            }
        }
        out.extend(old);
        self.v = out;
        self.relast();
        added
    }

    pub(super) fn get_mut(&mut self, ts: &Timestamp) -> Option<&mut Entry> {
        let i = self.find(*ts).ok()?;
        Some(&mut self.v[i].1)
    }

    /// The index range of the timestamps in `r`.
    fn bounds(&self, r: &impl RangeBounds<Timestamp>) -> (usize, usize) {
        let lo = match r.start_bound() {
            Bound::Included(t) => self.v.partition_point(|(x, _)| x < t),
            Bound::Excluded(t) => self.v.partition_point(|(x, _)| x <= t),
            Bound::Unbounded => 0,
        };
        let hi = match r.end_bound() {
            Bound::Included(t) => self.v.partition_point(|(x, _)| x <= t),
            Bound::Excluded(t) => self.v.partition_point(|(x, _)| x < t),
            Bound::Unbounded => self.v.len(),
        };
        (lo, hi.max(lo))
    }

    /// The points stamped in `r`, ascending.
    pub(super) fn range(&self, r: impl RangeBounds<Timestamp>) -> &[(Timestamp, Entry)] {
        let (lo, hi) = self.bounds(&r);
        &self.v[lo..hi]
    }

    /// Removes and returns the points stamped in `r`.
    pub(super) fn drain(&mut self, r: impl RangeBounds<Timestamp>) -> Vec<(Timestamp, Entry)> {
        let (lo, hi) = self.bounds(&r);
        let out = self.v.drain(lo..hi).collect();
        self.relast();
        self.shrink();
        out
    }

    /// Keeps the points for which `keep(index, entry)` holds.
    pub(super) fn retain_indexed(&mut self, mut keep: impl FnMut(usize, &Entry) -> bool) {
        let mut i = 0;
        self.v.retain(|(_, e)| {
            let k = keep(i, e);
            i += 1;
            k
        });
        self.relast();
        self.shrink();
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, (Timestamp, Entry)> {
        self.v.iter()
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.v.iter_mut().map(|(_, e)| e)
    }

    /// Gives memory back after a series shrank a lot (a flush of a long backlog, a trim).
    fn shrink(&mut self) {
        if self.v.capacity() > 16 && self.v.len() < self.v.capacity() / 4 {
            self.v.shrink_to(self.v.len() * 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_storage::Value;

    fn e(x: f64) -> Entry {
        Entry {
            value: Value::Num(x),
            seg: 1,
        }
    }

    fn stamps(m: &PointMap) -> Vec<Timestamp> {
        m.iter().map(|(t, _)| *t).collect()
    }

    #[test]
    fn stays_sorted_and_unique_whatever_the_order() {
        let mut m = PointMap::default();
        for ts in [5, 1, 9, 3, 9, 7, 0, 5] {
            m.insert(ts, e(ts as f64));
        }
        assert_eq!(stamps(&m), vec![0, 1, 3, 5, 7, 9]);
        assert!(m.insert(7, e(70.0)).is_some(), "replaces");
        assert_eq!(
            m.get_mut(&7).map(|e| e.value.clone()),
            Some(Value::Num(70.0))
        );
        assert_eq!(m.range(3..9).len(), 3);
        assert_eq!(m.range(..=3).len(), 3);
        assert_eq!(m.range(10..).len(), 0);
        assert_eq!(
            m.range((Bound::Included(6), Bound::Excluded(4))).len(),
            0,
            "an empty range is empty, not a panic"
        );
        assert!(m.drain(4..5).is_empty());
        assert_eq!(m.drain(3..4).len(), 1);
        let gone = m.drain(1..6);
        assert_eq!(gone.len(), 2);
        assert_eq!(stamps(&m), vec![0, 7, 9]);
    }

    /// `last` is what the vector's newest point says after every kind of change, so
    /// appends after removals and merges land in order.
    #[test]
    fn the_newest_stamp_follows_every_change() {
        let mut m = PointMap::default();
        let check = |m: &PointMap| {
            assert_eq!(m.last, m.v.last().map_or(Timestamp::MIN, |(t, _)| *t));
        };
        check(&m);
        for ts in [5, 1, 9] {
            m.insert(ts, e(0.0));
            check(&m);
        }
        m.drain(8..);
        check(&m);
        m.insert(7, e(0.0));
        assert_eq!(stamps(&m), vec![1, 5, 7]);
        m.merge_absent([(3, e(0.0)), (12, e(0.0))].into_iter(), |_| 1);
        check(&m);
        m.retain_indexed(|i, _| i < 2);
        check(&m);
        m.insert(6, e(0.0));
        assert_eq!(stamps(&m), vec![1, 3, 6]);
        m.drain(..);
        check(&m);
        m.insert(-4, e(0.0));
        assert_eq!(stamps(&m), vec![-4]);
    }

    #[test]
    fn merges_keep_what_memory_holds() {
        let mut m = PointMap::default();
        for ts in [10, 20, 30] {
            m.insert(ts, e(1.0));
        }
        let new = [5, 10, 15, 30, 40].map(|t| (t, e(2.0)));
        let added = m.merge_absent(new.into_iter(), |_| 1);
        assert_eq!(added, 3);
        assert_eq!(stamps(&m), vec![5, 10, 15, 20, 30, 40]);
        // The points memory held keep their values.
        assert_eq!(m.range(10..11)[0].1.value, Value::Num(1.0));
        assert_eq!(m.range(5..6)[0].1.value, Value::Num(2.0));
    }

    #[test]
    fn retain_sees_indexes_and_memory_is_given_back() {
        let mut m = PointMap::default();
        for ts in 0..1000 {
            m.insert(ts, e(0.0));
        }
        m.retain_indexed(|i, _| i >= 995);
        assert_eq!(stamps(&m), vec![995, 996, 997, 998, 999]);
        assert!(m.v.capacity() <= 16, "capacity {}", m.v.capacity());
    }
}
