//! Points of one series as columns: the shape plugins receive, produced straight from
//! storage so that a large read never builds one [`Point`] per row.

use crate::Timestamp;
use crate::value::{Point, Value};

/// Kind tag of a number in [`PointColumns::kinds`].
pub const KIND_NUM: u8 = 0;
/// Kind tag of a string in [`PointColumns::kinds`].
pub const KIND_STR: u8 = 1;

/// Points of one series as columns, ascending by timestamp. `kinds` is empty when every
/// value is a number (the common case, which then costs nothing); otherwise it has one entry
/// per point ([`KIND_NUM`] or [`KIND_STR`]) and `nums` / `strs` hold the numbers and the
/// strings in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointColumns {
    /// Timestamps, one per point.
    pub ts: Vec<Timestamp>,
    /// The numeric values.
    pub nums: Vec<f64>,
    /// The string values.
    pub strs: Vec<String>,
    /// Per-point kinds; empty when every value is a number.
    pub kinds: Vec<u8>,
}

impl PointColumns {
    /// No points.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends one point (newer than every point so far).
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
                    // The first string: every earlier point was a number.
                    self.kinds = vec![KIND_NUM; self.ts.len()];
                }
                self.kinds.push(KIND_STR);
                self.strs.push(s);
            }
        }
        self.ts.push(ts);
    }

    /// Columns of ascending points.
    pub fn from_points(points: Vec<Point>) -> Self {
        let mut c = PointColumns {
            ts: Vec::with_capacity(points.len()),
            nums: Vec::with_capacity(points.len()),
            ..Default::default()
        };
        for p in points {
            c.push(p.ts, p.value);
        }
        c
    }

    /// The points again, ascending.
    pub fn into_points(self) -> Vec<Point> {
        let mut nums = self.nums.into_iter();
        let mut strs = self.strs.into_iter();
        let all_numbers = self.kinds.is_empty();
        let mut kinds = self.kinds.into_iter();
        let mut out = Vec::with_capacity(self.ts.len());
        for ts in self.ts {
            let value = if all_numbers || kinds.next() == Some(KIND_NUM) {
                nums.next().map(Value::Num)
            } else {
                strs.next().map(Value::Str)
            };
            // Columns built by this type always agree; a short column ends the list.
            let Some(value) = value else { break };
            out.push(Point { ts, value });
        }
        out
    }

    /// The value of point `i` (by index among all points) and where its number or string
    /// sits, for copying ranges out of mixed columns.
    fn value_at(&self, i: usize, num_i: &mut usize, str_i: &mut usize) -> Option<Value> {
        if self.kinds.is_empty() || self.kinds.get(i) == Some(&KIND_NUM) {
            let v = self.nums.get(*num_i).copied().map(Value::Num);
            *num_i += 1;
            v
        } else {
            let v = self.strs.get(*str_i).cloned().map(Value::Str);
            *str_i += 1;
            v
        }
    }

    /// Appends points `range` of `src` (whose timestamps are all newer than every point so
    /// far).
    pub fn extend_from(&mut self, src: &PointColumns, range: std::ops::Range<usize>) {
        let range = range.start.min(src.len())..range.end.min(src.len());
        if range.is_empty() {
            return;
        }
        if src.kinds.is_empty() && self.kinds.is_empty() {
            // All numbers on both sides: two slice copies.
            self.ts.extend_from_slice(&src.ts[range.clone()]);
            self.nums.extend_from_slice(&src.nums[range]);
            return;
        }
        // Mixed: find where the range's numbers and strings start, then go point by point.
        let (mut num_i, mut str_i) = if src.kinds.is_empty() {
            (range.start, 0)
        } else {
            let before = &src.kinds[..range.start];
            let strs = before.iter().filter(|&&k| k == KIND_STR).count();
            (range.start - strs, strs)
        };
        for i in range {
            match src.value_at(i, &mut num_i, &mut str_i) {
                Some(v) => self.push(src.ts[i], v),
                None => break,
            }
        }
    }

    /// Keeps only the newest `n` points.
    pub fn keep_newest(&mut self, n: usize) {
        let len = self.len();
        if n >= len {
            return;
        }
        let cut = len - n;
        if self.kinds.is_empty() {
            self.ts.drain(..cut);
            self.nums.drain(..cut);
            return;
        }
        let old = std::mem::take(self);
        self.extend_from(&old, cut..len);
    }

    /// Drops the newest `n` points.
    pub fn drop_newest(&mut self, n: usize) {
        let len = self.len();
        let keep = len.saturating_sub(n);
        if self.kinds.is_empty() {
            self.ts.truncate(keep);
            self.nums.truncate(keep);
            return;
        }
        let old = std::mem::take(self);
        self.extend_from(&old, 0..keep);
    }

    /// Drops the points stamped at or after `at` (the newest ones: the columns are ascending).
    pub fn drop_from(&mut self, at: Timestamp) {
        let n = self.ts.len() - self.ts.partition_point(|&t| t < at);
        self.drop_newest(n);
    }

    /// Merges `newer` (ascending points, e.g. from memory) into these columns; on equal
    /// timestamps `newer` wins. Cheap in the usual case, where every point of `newer` is
    /// newer than these columns' newest.
    pub fn merge_overlay(mut self, newer: Vec<Point>) -> PointColumns {
        let Some(first_new) = newer.first().map(|p| p.ts) else {
            return self;
        };
        if self.ts.last().is_none_or(|&last| last < first_new) {
            for p in newer {
                self.push(p.ts, p.value);
            }
            return self;
        }
        // Overlapping: keep the older columns' prefix that precedes every new point as is,
        // and merge the rest point by point.
        let split = self.ts.partition_point(|&t| t < first_new);
        let mut out = PointColumns::new();
        out.extend_from(&self, 0..split);
        let mut tail = PointColumns::new();
        tail.extend_from(&self, split..self.len());
        let mut a = tail.into_points().into_iter().peekable();
        let mut b = newer.into_iter().peekable();
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x.ts == y.ts {
                        a.next();
                        false
                    } else {
                        x.ts < y.ts
                    }
                }
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            if let Some(p) = next {
                out.push(p.ts, p.value);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(spec: &[(i64, Option<&str>)]) -> Vec<Point> {
        spec.iter()
            .map(|&(ts, s)| Point {
                ts,
                value: s.map_or(Value::Num(ts as f64), |s| Value::Str(s.into())),
            })
            .collect()
    }

    #[test]
    fn round_trips_and_ranges() {
        let p = pts(&[
            (1, None),
            (2, Some("a")),
            (3, None),
            (4, Some("b")),
            (5, None),
        ]);
        let c = PointColumns::from_points(p.clone());
        assert_eq!(c.kinds, vec![0, 1, 0, 1, 0]);
        assert_eq!(c.clone().into_points(), p);
        for lo in 0..=5 {
            for hi in lo..=5 {
                let mut out = PointColumns::from_points(pts(&[(0, None)]));
                out.extend_from(&c, lo..hi);
                let mut expect = pts(&[(0, None)]);
                expect.extend_from_slice(&p[lo..hi]);
                assert_eq!(out.into_points(), expect, "{lo}..{hi}");
            }
        }
        let mut k = c.clone();
        k.keep_newest(2);
        assert_eq!(k.into_points(), p[3..]);
        let mut d = c.clone();
        d.drop_newest(2);
        assert_eq!(d.into_points(), p[..3]);
        for (at, kept) in [
            (0, 0),
            (1, 0),
            (3, 2),
            (4, 3),
            (5, 4),
            (6, 5),
            (i64::MAX, 5),
        ] {
            let mut f = c.clone();
            f.drop_from(at);
            assert_eq!(f.into_points(), p[..kept], "drop_from({at})");
        }
        let numbers = PointColumns::from_points(pts(&[(1, None), (2, None)]));
        assert!(numbers.kinds.is_empty());
    }

    #[test]
    fn overlay_wins_on_equal_timestamps() {
        let old = PointColumns::from_points(pts(&[(1, None), (3, None), (5, None), (7, None)]));
        // Appending only.
        let m = old.clone().merge_overlay(pts(&[(8, Some("x"))]));
        assert_eq!(
            m.into_points(),
            pts(&[(1, None), (3, None), (5, None), (7, None), (8, Some("x"))])
        );
        // Interleaved, replacing 5 and 7.
        let m = old
            .clone()
            .merge_overlay(pts(&[(4, None), (5, Some("r")), (7, Some("s"))]));
        assert_eq!(
            m.into_points(),
            pts(&[
                (1, None),
                (3, None),
                (4, None),
                (5, Some("r")),
                (7, Some("s"))
            ])
        );
        assert_eq!(old.clone().merge_overlay(Vec::new()), old);
        assert_eq!(
            PointColumns::new()
                .merge_overlay(pts(&[(2, None)]))
                .into_points(),
            pts(&[(2, None)])
        );
    }
}
