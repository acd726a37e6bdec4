//! Turning the store's pages of points into the WIT `points` columns, at the least cost per
//! point: this copy is most of what a plugin pays over native code for each point it reads.
//!
//! Pages arrive newest first (each one ascending), because reads page backwards from the
//! evaluation time. Collecting them and converting at the end walked every `Point` again
//! after it had left the cache (three passes over 32 bytes a point). Instead each page is
//! copied into its final place in the columns as soon as it arrives, while it is still in
//! cache, filling the columns from the back. A one-page answer (the usual small window) is
//! converted directly, without reserving room for the largest possible answer.

use std::mem::MaybeUninit;

use clio_storage::{Point, Value as StoreValue};

use crate::runtime::wit;

/// Builds one answer from pages pushed newest first.
pub(crate) struct Columns {
    /// Most points the answer can hold (the read's limit).
    cap: usize,
    /// The first page, held until a second one shows the answer spans several.
    first: Option<Vec<Point>>,
    /// Back-filled columns: slots `[start, cap)` of the spare capacity are initialised.
    ts: Vec<i64>,
    nums: Vec<f64>,
    start: usize,
    /// From the first page holding a string on (or one that does not fit): pages kept as
    /// they came, converted at the end. They are older than every back-filled point.
    rest: Vec<Vec<Point>>,
}

fn numeric(page: &[Point]) -> bool {
    page.iter().all(|p| !p.value.is_str())
}

impl Columns {
    /// An empty answer of at most `cap` points.
    pub(crate) fn new(cap: usize) -> Columns {
        Columns {
            cap,
            first: None,
            ts: Vec::new(),
            nums: Vec::new(),
            // Nothing filled yet: the filled range `[start, cap)` is empty.
            start: cap,
            rest: Vec::new(),
        }
    }

    /// Adds the next (older) page.
    pub(crate) fn push(&mut self, page: Vec<Point>) {
        if page.is_empty() {
            return;
        }
        if self.first.is_none() && self.ts.capacity() == 0 && self.rest.is_empty() {
            self.first = Some(page);
            return;
        }
        if let Some(first) = self.first.take() {
            self.ts = Vec::with_capacity(self.cap);
            self.nums = Vec::with_capacity(self.cap);
            self.start = self.cap;
            self.fill(first);
        }
        self.fill(page);
    }

    fn fill(&mut self, page: Vec<Point>) {
        if !self.rest.is_empty() || page.len() > self.start {
            self.rest.push(page);
            return;
        }
        let end = self.start;
        let begin = end - page.len();
        let ts = &mut self.ts.spare_capacity_mut()[begin..end];
        let nums = &mut self.nums.spare_capacity_mut()[begin..end];
        // One pass over the page: both columns written while each point is in cache. A
        // string stops it; the slots written so far stay outside `[start, cap)` and are
        // simply overwritten or ignored.
        let mut all_numbers = true;
        for ((t, v), p) in ts.iter_mut().zip(nums.iter_mut()).zip(&page) {
            match p.value {
                StoreValue::Num(x) => {
                    t.write(p.ts);
                    v.write(x);
                }
                StoreValue::Str(_) => {
                    all_numbers = false;
                    break;
                }
            }
        }
        if all_numbers {
            self.start = begin;
        } else {
            self.rest.push(page);
        }
    }

    /// The columns, oldest first.
    pub(crate) fn finish(mut self, truncated: bool) -> wit::Points {
        if let Some(first) = self.first.take() {
            return convert(vec![first], truncated);
        }
        let filled = self.cap - self.start;
        let ts = take_filled(&mut self.ts, self.start, self.cap);
        let nums = take_filled(&mut self.nums, self.start, self.cap);
        if self.rest.is_empty() {
            return wit::Points {
                ts,
                nums,
                strs: Vec::new(),
                kinds: Vec::new(),
                truncated,
            };
        }
        // Older pages with strings first, then the numeric points back-filled before them.
        self.rest.reverse();
        let mut out = convert(std::mem::take(&mut self.rest), truncated);
        if filled > 0 {
            if !out.kinds.is_empty() {
                out.kinds.extend(std::iter::repeat_n(0, filled));
            }
            out.ts.extend_from_slice(&ts);
            out.nums.extend_from_slice(&nums);
        }
        out
    }
}

/// Moves the initialised slots `[start, cap)` of `v`'s spare capacity to its front and
/// returns it with exactly those elements.
fn take_filled<T: Copy>(v: &mut Vec<T>, start: usize, cap: usize) -> Vec<T> {
    let mut v = std::mem::take(v);
    if start >= cap || cap > v.capacity() {
        // Nothing was filled (the columns were never reserved).
        return Vec::new();
    }
    let spare: &mut [MaybeUninit<T>] = v.spare_capacity_mut();
    if start > 0 {
        spare.copy_within(start..cap, 0);
    }
    // SAFETY: `fill` wrote every slot of `[start, cap)` (pages are written back to back,
    // each ending where the previous began), and that range was just copied to
    // `[0, cap - start)`, which is within the capacity `cap` reserved in `push`.
    unsafe { v.set_len(cap - start) };
    v
}

/// Converts ascending pages (any mix of numbers and strings) into columns.
pub(crate) fn convert(pages: Vec<Vec<Point>>, truncated: bool) -> wit::Points {
    let total: usize = pages.iter().map(Vec::len).sum();
    let mut out = wit::Points {
        ts: Vec::with_capacity(total),
        nums: Vec::with_capacity(total),
        strs: Vec::new(),
        kinds: Vec::new(),
        truncated,
    };
    if pages.iter().all(|p| numeric(p)) {
        for page in &pages {
            out.ts.extend(page.iter().map(|p| p.ts));
            out.nums.extend(page.iter().map(|p| match p.value {
                StoreValue::Num(v) => v,
                StoreValue::Str(_) => f64::NAN,
            }));
        }
        return out;
    }
    out.kinds.reserve(total);
    for p in pages.into_iter().flatten() {
        out.ts.push(p.ts);
        match p.value {
            StoreValue::Num(v) => {
                out.nums.push(v);
                out.kinds.push(0);
            }
            StoreValue::Str(s) => {
                out.strs.push(s);
                out.kinds.push(1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(ts: i64) -> Point {
        Point {
            ts,
            value: StoreValue::Num(ts as f64 / 2.0),
        }
    }

    fn text(ts: i64) -> Point {
        Point {
            ts,
            value: StoreValue::Str(format!("s{ts}")),
        }
    }

    /// Pages of `sizes` points, newest page first, ending just before 1000.
    fn pages(sizes: &[usize], strings_at: &[i64]) -> (Vec<Vec<Point>>, Vec<Point>) {
        let mut end = 1000;
        let mut out = Vec::new();
        for &n in sizes {
            let page: Vec<Point> = (end - n as i64..end)
                .map(|t| {
                    if strings_at.contains(&t) {
                        text(t)
                    } else {
                        num(t)
                    }
                })
                .collect();
            end -= n as i64;
            out.push(page);
        }
        let mut all: Vec<Point> = out.iter().rev().flatten().cloned().collect();
        all.sort_by_key(|p| p.ts);
        (out, all)
    }

    fn check(cap: usize, sizes: &[usize], strings_at: &[i64]) {
        let (newest_first, all) = pages(sizes, strings_at);
        let mut c = Columns::new(cap);
        for p in newest_first {
            c.push(p);
        }
        let got = c.finish(true);
        let expect = convert(vec![all], true);
        assert_eq!(got.ts, expect.ts, "{sizes:?} {strings_at:?}");
        assert_eq!(got.nums, expect.nums, "{sizes:?} {strings_at:?}");
        assert_eq!(got.strs, expect.strs, "{sizes:?} {strings_at:?}");
        assert_eq!(got.kinds, expect.kinds, "{sizes:?} {strings_at:?}");
        assert!(got.truncated);
    }

    #[test]
    fn back_filled_pages_come_out_ascending() {
        check(10, &[], &[]);
        check(10, &[4], &[]);
        check(10, &[4, 3, 3], &[]);
        check(100, &[4, 3, 3], &[]);
        check(7, &[4, 3], &[]);
        check(20, &[5, 0, 5], &[]);
    }

    #[test]
    fn strings_and_overflow_fall_back_exactly() {
        // A string in the newest, a middle or the oldest page.
        check(20, &[4, 3, 3], &[998]);
        check(20, &[4, 3, 3], &[994]);
        check(20, &[4, 3, 3], &[990, 991]);
        // More points than announced: the excess still arrives, in order.
        check(5, &[4, 3, 3], &[]);
        check(5, &[4, 3, 3], &[991]);
    }
}
