//! Points of one series as columns, the shape they cross the Wasm boundary in.

use crate::error::{Error, Result};
use crate::value::{Value, ValueRef};

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// Points of one series, oldest first, stored as columns: numbers and strings in separate
/// lists and a per-point kind list that is empty when every value is a number (the common
/// case, which then costs nothing to walk).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    ts: Vec<Timestamp>,
    nums: Vec<f64>,
    strs: Vec<String>,
    /// Empty when all values are numbers; otherwise one entry per point, 0 = number, 1 = string.
    kinds: Vec<u8>,
    truncated: bool,
}

/// Kind tag of a number in [`Points`]' kind column.
const KIND_NUM: u8 = 0;
/// Kind tag of a string in [`Points`]' kind column.
const KIND_STR: u8 = 1;

impl Points {
    /// No points.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds points from the host's columns, checking that they agree (a malformed answer
    /// is an error, never a panic).
    pub fn from_columns(
        ts: Vec<Timestamp>,
        nums: Vec<f64>,
        strs: Vec<String>,
        kinds: Vec<u8>,
        truncated: bool,
    ) -> Result<Self> {
        let consistent = if kinds.is_empty() {
            nums.len() == ts.len() && strs.is_empty()
        } else {
            let n_num = kinds.iter().filter(|&&k| k == KIND_NUM).count();
            let n_str = kinds.iter().filter(|&&k| k == KIND_STR).count();
            kinds.len() == ts.len()
                && n_num + n_str == kinds.len()
                && n_num == nums.len()
                && n_str == strs.len()
        };
        if !consistent {
            return Err(Error::Failed(format!(
                "malformed points from the host: {} timestamps, {} numbers, {} strings, {} kinds",
                ts.len(),
                nums.len(),
                strs.len(),
                kinds.len()
            )));
        }
        Ok(Self {
            ts,
            nums,
            strs,
            kinds,
            truncated,
        })
    }

    /// Builds points from `(timestamp, value)` pairs (sorted by the caller, oldest first).
    pub fn from_pairs<V: Into<Value>>(pairs: impl IntoIterator<Item = (Timestamp, V)>) -> Self {
        let mut p = Self::new();
        for (ts, v) in pairs {
            p.push(ts, v.into());
        }
        p
    }

    /// Appends one point (its timestamp should be newer than the last one).
    pub fn push(&mut self, ts: Timestamp, value: Value) {
        match value {
            Value::Num(v) => {
                if !self.kinds.is_empty() {
                    self.kinds.push(KIND_NUM);
                }
                self.nums.push(v);
            }
            Value::Str(s) => {
                if self.kinds.is_empty() {
                    // First string: materialise the kind column for the numbers so far.
                    self.kinds = vec![KIND_NUM; self.ts.len()];
                }
                self.kinds.push(KIND_STR);
                self.strs.push(s);
            }
        }
        self.ts.push(ts);
    }

    /// Appends all of `newer` after these points.
    pub fn extend(&mut self, newer: Points) {
        if newer.kinds.is_empty() && self.kinds.is_empty() {
            self.ts.extend(newer.ts);
            self.nums.extend(newer.nums);
        } else {
            for (ts, v) in newer.iter() {
                self.push(ts, v.into());
            }
        }
        self.truncated |= newer.truncated;
    }

    /// Makes room for `additional` more points without reallocating (exactly that many for
    /// the timestamp and number columns; strings are sized as they come).
    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.ts.reserve_exact(additional);
        self.nums.reserve_exact(additional);
        if !self.kinds.is_empty() {
            self.kinds.reserve_exact(additional);
        }
    }

    /// Room in the timestamp column (tests check that `fetch` allocates once).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.ts.capacity()
    }

    /// Sets the truncation mark (an answer joined from complete reads is not truncated).
    pub(crate) fn set_truncated(&mut self, truncated: bool) {
        self.truncated = truncated;
    }

    /// The points stamped after `after` (when given) and before `before`; the same points,
    /// moved, when nothing falls outside (the usual case).
    pub(crate) fn between(mut self, after: Option<Timestamp>, before: Timestamp) -> Points {
        let lo = after.map_or(0, |a| self.ts.partition_point(|&t| t <= a));
        let hi = self.ts.partition_point(|&t| t < before).max(lo);
        if lo == 0 && hi == self.ts.len() {
            return self;
        }
        if self.kinds.is_empty() {
            self.ts.truncate(hi);
            self.nums.truncate(hi);
            self.ts.drain(..lo);
            self.nums.drain(..lo);
            return self;
        }
        let mut kept = Points::new();
        kept.truncated = self.truncated;
        for (i, (ts, v)) in self.iter().enumerate() {
            if i >= lo && i < hi {
                kept.push(ts, v.into());
            }
        }
        kept
    }

    /// Returns the columns `(ts, nums, strs, kinds, truncated)`.
    pub fn into_columns(self) -> (Vec<Timestamp>, Vec<f64>, Vec<String>, Vec<u8>, bool) {
        (self.ts, self.nums, self.strs, self.kinds, self.truncated)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// True when the host cut the answer. [`Window::fetch`](crate::Window::fetch) keeps
    /// reading until the whole window is there, so its results are never truncated.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The timestamps, oldest first.
    pub fn timestamps(&self) -> &[Timestamp] {
        &self.ts
    }

    /// True when every value is a number (not a string, numeric-like or not).
    pub fn all_numbers(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The `(timestamp, value)` pairs, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            points: self,
            idx: 0,
            num: 0,
            str: 0,
        }
    }

    /// The numeric-like values with their timestamps, oldest first; other strings are skipped.
    pub fn numeric(&self) -> Numeric<'_> {
        // Numbers only (the usual case): the two columns zipped, no per-point kind test.
        Numeric(if self.kinds.is_empty() {
            NumericInner::Columns(self.ts.iter().zip(self.nums.iter()))
        } else {
            NumericInner::Mixed(self.iter())
        })
    }

    /// The numeric-like values, oldest first, collected (what most functions compute on).
    pub fn numbers(&self) -> Vec<f64> {
        if self.kinds.is_empty() {
            return self.nums.clone();
        }
        self.numeric().map(|(_, v)| v).collect()
    }

    /// [`Points::numbers`], consuming the points: when every value is a number the column
    /// is handed over without a copy, so a function that sorts its window holds 8 bytes a
    /// point instead of 24 (the points and their copy).
    pub fn into_numbers(self) -> Vec<f64> {
        if self.kinds.is_empty() {
            return self.nums;
        }
        self.numbers()
    }

    /// The oldest point.
    pub fn first(&self) -> Option<(Timestamp, ValueRef<'_>)> {
        self.iter().next()
    }

    /// The newest point.
    pub fn last(&self) -> Option<(Timestamp, ValueRef<'_>)> {
        let i = self.ts.len().checked_sub(1)?;
        let ts = self.ts[i];
        if self.kinds.is_empty() {
            return Some((ts, ValueRef::Num(self.nums[i])));
        }
        // The newest point is the last entry of its own column.
        match self.kinds[i] {
            KIND_STR => self.strs.last().map(|s| (ts, ValueRef::Str(s))),
            _ => self.nums.last().map(|v| (ts, ValueRef::Num(*v))),
        }
    }
}

impl<'a> IntoIterator for &'a Points {
    type Item = (Timestamp, ValueRef<'a>);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over `(timestamp, value)` pairs of [`Points`], oldest first.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    points: &'a Points,
    idx: usize,
    num: usize,
    str: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Timestamp, ValueRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let p = self.points;
        let ts = *p.ts.get(self.idx)?;
        let kind = if p.kinds.is_empty() {
            KIND_NUM
        } else {
            *p.kinds.get(self.idx)?
        };
        self.idx += 1;
        // `from_columns` checked that the columns agree, so these lookups succeed; `?` keeps
        // a hypothetical mismatch an early end rather than a panic.
        if kind == KIND_STR {
            let s = p.strs.get(self.str)?;
            self.str += 1;
            Some((ts, ValueRef::Str(s)))
        } else {
            let v = *p.nums.get(self.num)?;
            self.num += 1;
            Some((ts, ValueRef::Num(v)))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.points.ts.len().saturating_sub(self.idx);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_columns_round_trip() {
        let mut p = Points::new();
        p.push(1, Value::Num(1.0));
        p.push(2, Value::from(" 2 "));
        p.push(3, Value::from("x"));
        p.push(4, Value::Num(4.0));
        assert_eq!(p.len(), 4);
        assert!(!p.all_numbers());
        assert_eq!(p.numbers(), vec![1.0, 2.0, 4.0]);
        assert_eq!(p.last(), Some((4, ValueRef::Num(4.0))));
        assert_eq!(p.first(), Some((1, ValueRef::Num(1.0))));
        let (ts, nums, strs, kinds, tr) = p.clone().into_columns();
        let q = Points::from_columns(ts, nums, strs, kinds, tr).unwrap();
        assert_eq!(p, q);
        let pairs: Vec<_> = q.iter().map(|(t, v)| (t, Value::from(v))).collect();
        assert_eq!(pairs[2], (3, Value::from("x")));
    }

    #[test]
    fn malformed_columns_are_errors() {
        assert!(Points::from_columns(vec![1, 2], vec![1.0], vec![], vec![], false).is_err());
        assert!(Points::from_columns(vec![1], vec![], vec!["a".into()], vec![0], false).is_err());
        assert!(Points::from_columns(vec![1], vec![1.0], vec![], vec![7], false).is_err());
        assert!(
            Points::from_columns(vec![1, 2], vec![1.0], vec!["a".into()], vec![0, 1], false)
                .is_ok()
        );
    }

    #[test]
    fn numeric_fold_visits_what_next_visits() {
        let mut mixed = Points::new();
        for (t, v) in [
            (1, Value::Num(1.5)),
            (2, Value::from(" 2 ")),
            (3, Value::from("x")),
            (4, Value::Num(-4.0)),
        ] {
            mixed.push(t, v);
        }
        let numbers = Points::from_pairs([(1, 1.5), (2, 2.0), (4, -4.0)]);
        for p in [&mixed, &numbers] {
            let by_next: Vec<_> = p.numeric().by_ref().collect();
            assert_eq!(by_next, [(1, 1.5), (2, 2.0), (4, -4.0)]);
            let by_fold = p.numeric().fold(Vec::new(), |mut v, x| {
                v.push(x);
                v
            });
            assert_eq!(by_fold, by_next);
            // Part-consumed: fold continues where next stopped.
            let mut it = p.numeric();
            assert_eq!(it.next(), Some((1, 1.5)));
            assert_eq!(it.fold(0.0, |s, (_, v)| s + v), -2.0);
        }
    }

    #[test]
    fn between_keeps_the_open_interval() {
        let nums = Points::from_pairs([(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
        let ts = |p: Points| p.timestamps().to_vec();
        assert_eq!(ts(nums.clone().between(None, i64::MAX)), [1, 2, 3, 4]);
        assert_eq!(ts(nums.clone().between(Some(1), 4)), [2, 3]);
        assert_eq!(ts(nums.clone().between(Some(0), 5)), [1, 2, 3, 4]);
        assert_eq!(ts(nums.clone().between(Some(4), 9)), Vec::<i64>::new());
        assert_eq!(ts(nums.clone().between(Some(3), 2)), Vec::<i64>::new());
        assert_eq!(nums.clone().between(Some(2), 9).numbers(), [3.0, 4.0]);
        let mixed = Points::from_pairs([
            (1, Value::Num(1.0)),
            (2, Value::from("b")),
            (3, Value::Num(3.0)),
            (4, Value::from("d")),
        ]);
        let cut = mixed.between(Some(1), 4);
        let texts: Vec<String> = cut.iter().map(|(_, v)| v.to_text().into_owned()).collect();
        assert_eq!(texts, ["b", "3"]);
        let (ts, nums, strs, kinds, _) = cut.into_columns();
        assert!(Points::from_columns(ts, nums, strs, kinds, false).is_ok());
    }

    #[test]
    fn extend_keeps_order_and_kinds() {
        let mut a = Points::from_pairs([(1, 1.0), (2, 2.0)]);
        let b = Points::from_pairs([(3, Value::from("s")), (4, Value::Num(4.0))]);
        a.extend(b);
        let texts: Vec<String> = a.iter().map(|(_, v)| v.to_text().into_owned()).collect();
        assert_eq!(texts, ["1", "2", "s", "4"]);
        assert_eq!(a.last(), Some((4, ValueRef::Num(4.0))));
    }
}

/// The iterator of [`Points::numeric`].
#[derive(Debug, Clone)]
pub struct Numeric<'a>(NumericInner<'a>);

#[derive(Debug, Clone)]
enum NumericInner<'a> {
    Columns(std::iter::Zip<std::slice::Iter<'a, Timestamp>, std::slice::Iter<'a, f64>>),
    Mixed(Iter<'a>),
}

impl Iterator for Numeric<'_> {
    type Item = (Timestamp, f64);

    #[inline]
    fn next(&mut self) -> Option<(Timestamp, f64)> {
        match &mut self.0 {
            NumericInner::Columns(z) => z.next().map(|(t, v)| (*t, *v)),
            NumericInner::Mixed(it) => loop {
                let (ts, v) = it.next()?;
                if let Some(n) = v.as_number() {
                    return Some((ts, n));
                }
            },
        }
    }

    /// One dispatch on the representation, then a plain loop over it: `fold` (and with it
    /// `for_each`, `sum`, `count`, ...) over numbers-only columns compiles to the same loop as
    /// over a slice.
    #[inline]
    fn fold<B, F: FnMut(B, Self::Item) -> B>(self, init: B, mut f: F) -> B {
        match self.0 {
            NumericInner::Columns(z) => z.fold(init, |acc, (t, v)| f(acc, (*t, *v))),
            NumericInner::Mixed(it) => it.fold(init, |acc, (ts, v)| match v.as_number() {
                Some(n) => f(acc, (ts, n)),
                None => acc,
            }),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            NumericInner::Columns(z) => z.size_hint(),
            NumericInner::Mixed(it) => (0, it.size_hint().1),
        }
    }
}
