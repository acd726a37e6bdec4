//! Test hosts: a [`MemHistory`] that counts its reads or changes after some of them, one that
//! claims every answer was cut, one that counts `now()` calls.

use super::*;

/// Counts the reads of a [`MemHistory`].
pub(super) fn counting(h: MemHistory) -> LateWrites {
    LateWrites {
        inner: std::cell::RefCell::new(h),
        reads: std::cell::Cell::new(0),
        after: u32::MAX,
        late: Vec::new(),
    }
}

/// A history that writes late points into the past after a given number of reads, as a
/// live store may while a function runs.
/// A host whose series changes after its `after`-th read: each `(ts, Some(v))` of `late`
/// is written, each `(ts, None)` deleted.
pub(super) struct LateWrites {
    pub(super) inner: std::cell::RefCell<MemHistory>,
    pub(super) reads: std::cell::Cell<u32>,
    pub(super) after: u32,
    pub(super) late: Vec<(Timestamp, Option<f64>)>,
}

impl LateWrites {
    fn tick(&self) {
        self.reads.set(self.reads.get() + 1);
        if self.reads.get() == self.after {
            let mut h = self.inner.borrow_mut();
            for &(t, v) in &self.late {
                match v {
                    Some(v) => h.push(t, v),
                    None => {
                        h.remove(t);
                    }
                }
            }
        }
    }
}

impl History for LateWrites {
    fn now(&self) -> Timestamp {
        self.inner.borrow().now()
    }
    fn series(&self) -> crate::SeriesInfo {
        self.inner.borrow().series()
    }
    fn series_by_id(&self, id: u64) -> Option<crate::SeriesInfo> {
        self.inner.borrow().series_by_id(id)
    }
    fn series_by_key(&self, key: &str) -> Option<crate::SeriesInfo> {
        self.inner.borrow().series_by_key(key)
    }
    fn read_last(&self, s: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
        self.tick();
        self.inner.borrow().read_last(s, n, skip, before)
    }
    fn read_range(&self, s: u64, from: Timestamp, to: Timestamp, l: u64) -> Result<Points> {
        self.tick();
        self.inner.borrow().read_range(s, from, to, l)
    }
    fn read_trends(&self, s: u64, i: i64, from: Timestamp, to: Timestamp) -> Result<Trends> {
        self.inner.borrow().read_trends(s, i, from, to)
    }
}

/// A host that claims every answer was cut.
pub(super) struct AlwaysTruncated(pub(super) MemHistory);

impl History for AlwaysTruncated {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
    fn series(&self) -> crate::SeriesInfo {
        self.0.series()
    }
    fn series_by_id(&self, id: u64) -> Option<crate::SeriesInfo> {
        self.0.series_by_id(id)
    }
    fn series_by_key(&self, key: &str) -> Option<crate::SeriesInfo> {
        self.0.series_by_key(key)
    }
    fn read_last(&self, s: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
        self.0.read_last(s, n, skip, before)
    }
    fn read_range(&self, s: u64, from: Timestamp, to: Timestamp, l: u64) -> Result<Points> {
        let (ts, nums, strs, kinds, _) = self.0.read_range(s, from, to, l)?.into_columns();
        Points::from_columns(ts, nums, strs, kinds, true)
    }
    fn read_trends(&self, s: u64, i: i64, from: Timestamp, to: Timestamp) -> Result<Trends> {
        self.0.read_trends(s, i, from, to)
    }
}

/// A host that counts `now()` calls.
pub(super) struct CountsNow(pub(super) MemHistory, pub(super) std::cell::Cell<u32>);

impl History for CountsNow {
    fn now(&self) -> Timestamp {
        self.1.set(self.1.get() + 1);
        self.0.now()
    }
    fn series(&self) -> crate::SeriesInfo {
        self.0.series()
    }
    fn series_by_id(&self, id: u64) -> Option<crate::SeriesInfo> {
        self.0.series_by_id(id)
    }
    fn series_by_key(&self, key: &str) -> Option<crate::SeriesInfo> {
        self.0.series_by_key(key)
    }
    fn read_last(&self, s: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
        self.0.read_last(s, n, skip, before)
    }
    fn read_range(&self, s: u64, from: Timestamp, to: Timestamp, l: u64) -> Result<Points> {
        self.0.read_range(s, from, to, l)
    }
    fn read_trends(&self, s: u64, i: i64, from: Timestamp, to: Timestamp) -> Result<Trends> {
        self.0.read_trends(s, i, from, to)
    }
}
