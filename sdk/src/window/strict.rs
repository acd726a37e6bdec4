//! The strict (`!`) rule: a count window needs 90 % of its records, a time window two records
//! and its start covered (within 1.2 median gaps); decided at once or as the points go by.

use crate::points::Timestamp;

/// The strict rule, decided while the window's points go by, oldest first, in constant memory.
///
/// The time form needs the median gap `m` between neighbours and asks whether
/// `first ≤ from + 1.2·m` (in `f64`, as [`time_well_covered`] computes it). That test is
/// monotone in `m`, so once the first timestamp is known each gap either passes it on its own
/// or fails it, and the failing gaps are exactly the smallest ones. With `c` failing gaps out
/// of `g`, the middle gap (odd `g`) passes iff `c ≤ g/2`; for even `g` the median is the mean
/// of the two middle gaps, which passes when both do (`c < g/2`), fails when both fail
/// (`c > g/2`), and otherwise is the mean of the largest failing and the smallest passing gap.
#[derive(Debug)]
pub(super) struct Tracker {
    /// `Some(n)`: the count form, `#n`; `None`: the time form.
    wanted: Option<u64>,
    from: Timestamp,
    pub(super) points: u64,
    first: Option<Timestamp>,
    prev: Option<Timestamp>,
    failing: u64,
    max_failing: Option<i64>,
    min_passing: Option<i64>,
}

impl Tracker {
    pub(super) fn count(n: u64) -> Self {
        Self::new(Some(n), Timestamp::MIN)
    }

    pub(super) fn time(from: Timestamp) -> Self {
        Self::new(None, from)
    }

    fn new(wanted: Option<u64>, from: Timestamp) -> Self {
        Tracker {
            wanted,
            from,
            points: 0,
            first: None,
            prev: None,
            failing: 0,
            max_failing: None,
            min_passing: None,
        }
    }

    /// The time-form test for a median of `m`: the same expression as [`time_well_covered`].
    fn passes(&self, first: Timestamp, m: f64) -> bool {
        (first as f64) <= self.from as f64 + 1.2 * m
    }

    pub(super) fn add(&mut self, ts: &[Timestamp]) {
        self.points += ts.len() as u64;
        if self.wanted.is_some() {
            return;
        }
        for &t in ts {
            let Some(prev) = self.prev.replace(t) else {
                self.first = Some(t);
                continue;
            };
            let Some(first) = self.first else { continue };
            let gap = t.saturating_sub(prev);
            if self.passes(first, gap as f64) {
                self.min_passing = Some(self.min_passing.map_or(gap, |m| m.min(gap)));
            } else {
                self.failing += 1;
                self.max_failing = Some(self.max_failing.map_or(gap, |m| m.max(gap)));
            }
        }
    }

    pub(super) fn well_covered(&self, strict: bool) -> bool {
        if !strict {
            return true;
        }
        if let Some(n) = self.wanted {
            return count_well_covered(usize::try_from(self.points).unwrap_or(usize::MAX), n);
        }
        let Some(first) = self.first else {
            return false;
        };
        if self.points < 2 {
            return false;
        }
        let gaps = self.points - 1;
        let mid = gaps / 2;
        if gaps % 2 == 1 {
            return self.failing <= mid;
        }
        if self.failing < mid {
            return true;
        }
        if self.failing > mid {
            return false;
        }
        match (self.max_failing, self.min_passing) {
            (Some(a), Some(b)) => self.passes(first, (a as f64 + b as f64) / 2.0),
            // Unreachable with 0 < failing = mid < gaps; "not covered" is the safe answer.
            _ => false,
        }
    }
}

/// Strict count form: at least 90 % of the requested records.
pub fn count_well_covered(got: usize, wanted: u64) -> bool {
    // Integer form of got ≥ 0.9·wanted, exact for any size.
    (got as u128) * 10 >= (wanted as u128) * 9
}

/// Strict time form: at least 2 records, and the first no later than
/// `from + 1.2 × (median gap between records)`.
pub fn time_well_covered(ts: &[Timestamp], from: Timestamp) -> bool {
    if ts.len() < 2 {
        return false;
    }
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let median = if gaps.len() % 2 == 1 {
        gaps[mid] as f64
    } else {
        (gaps[mid - 1] as f64 + gaps[mid] as f64) / 2.0
    };
    (ts[0] as f64) <= from as f64 + 1.2 * median
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The constant-memory strict time rule agrees with `time_well_covered` exactly,
        /// however the timestamps are cut into chunks.
        #[test]
        fn streamed_time_rule_matches(
            gaps in proptest::collection::vec(1_i64..50, 0..40),
            start in 0_i64..200,
            from in 0_i64..150,
            cut in 1_usize..7,
        ) {
            let mut ts = Vec::new();
            let mut t = start;
            for g in std::iter::once(0).chain(gaps) {
                t += g;
                ts.push(t);
            }
            let mut tracker = Tracker::time(from);
            for chunk in ts.chunks(cut) {
                tracker.add(chunk);
            }
            proptest::prop_assert_eq!(tracker.well_covered(true), time_well_covered(&ts, from));
            proptest::prop_assert!(tracker.well_covered(false));
        }
    }
}
