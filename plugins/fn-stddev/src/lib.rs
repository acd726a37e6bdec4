//! `stddev(num, shift)`: the population standard deviation of the numeric values in the
//! window (divides by n, as trend buckets' sum of squares gives it); no data when none.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "stddev",
    description = "Population standard deviation of the numeric values in the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn stddev(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // Two passes (mean, then squared deviations from it): no cancellation on large offsets.
    // Each pass streams the window oldest first with one chunk in memory, adding in the same
    // order as over the whole window (from `Iterator::sum`'s identity), so the result is the
    // same bit for bit. A window of one chunk (the usual case) keeps its values from the first
    // pass, so only a larger window is read twice.
    let window = args.window(0, 1)?;
    let zero = || std::iter::empty::<f64>().sum::<f64>();
    let (mut sum, mut n, mut chunks) = (zero(), 0_u64, 0_u32);
    let mut kept: Option<Vec<f64>> = None;
    let covered = window.for_each_chunk(h, |chunk| {
        chunks += 1;
        (sum, n) = chunk
            .numeric()
            .fold((sum, n), |(sum, n), (_, v)| (sum + v, n + 1));
        kept = (chunks == 1).then(|| chunk.numbers());
        Ok(())
    })?;
    if covered.is_none() || n == 0 {
        return Ok(None);
    }
    let mean = sum / n as f64;
    let mut m2 = zero();
    if let Some(values) = kept {
        for x in values {
            m2 += (x - mean) * (x - mean);
        }
    } else {
        let (mut seen, mut sum_again) = (0_u64, zero());
        let again = window.for_each_chunk(h, |chunk| {
            (m2, sum_again, seen) = chunk
                .numeric()
                .fold((m2, sum_again, seen), |(m2, s, n), (_, x)| {
                    (m2 + (x - mean) * (x - mean), s + x, n + 1)
                });
            Ok(())
        })?;
        // A late write between the passes changed the window (the same count and sum, bit for
        // bit, mean the same values): the mean of the first pass would not fit the second.
        if again.is_none() || seen != n || sum_again.to_bits() != sum.to_bits() {
            return Err(clio_sdk::Error::Failed(
                "the window changed while it was read twice; try again".into(),
            ));
        }
    }
    Ok(Some(Value::Num((m2 / n as f64).sqrt())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{
        MemHistory, NOW, assert_close, assert_same_over_many_chunks, call, many_chunks, num,
        per_minute,
    };

    #[test]
    fn known_values() {
        let h = per_minute([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_close(num(stddev, &h, "#8"), 2.0);
        assert_close(num(stddev, &h, "8m"), 2.0);
        assert_close(num(stddev, &h, "#2, #1"), 1.0);
        assert_eq!(num(stddev, &h, "0"), Some(0.0));
        // Large offsets keep their precision.
        let big = per_minute([
            1e9 + 2.0,
            1e9 + 4.0,
            1e9 + 4.0,
            1e9 + 4.0,
            1e9 + 5.0,
            1e9 + 5.0,
            1e9 + 7.0,
            1e9 + 9.0,
        ]);
        assert_close(num(stddev, &big, "#8"), 2.0);
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        let v = points.numbers();
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let m2: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
        Ok((n > 0).then(|| Value::Num((m2 / n as f64).sqrt())))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(stddev, fetched, &["#50", "45s"]);
    }

    /// A history that writes one late point into the past after a number of reads.
    struct LateWrite {
        inner: std::cell::RefCell<MemHistory>,
        reads: std::cell::Cell<u32>,
        after: u32,
        point: (i64, f64),
    }

    impl LateWrite {
        fn tick(&self) {
            self.reads.set(self.reads.get() + 1);
            if self.reads.get() == self.after {
                let (t, v) = self.point;
                self.inner.borrow_mut().push(t, v);
            }
        }
    }

    impl History for LateWrite {
        fn now(&self) -> i64 {
            self.inner.borrow().now()
        }
        fn series(&self) -> clio_sdk::SeriesInfo {
            self.inner.borrow().series()
        }
        fn series_by_id(&self, id: u64) -> Option<clio_sdk::SeriesInfo> {
            self.inner.borrow().series_by_id(id)
        }
        fn series_by_key(&self, key: &str) -> Option<clio_sdk::SeriesInfo> {
            self.inner.borrow().series_by_key(key)
        }
        fn read_last(&self, s: u64, n: u64, skip: u64, before: i64) -> Result<clio_sdk::Points> {
            self.tick();
            self.inner.borrow().read_last(s, n, skip, before)
        }
        fn read_range(&self, s: u64, from: i64, to: i64, l: u64) -> Result<clio_sdk::Points> {
            self.tick();
            self.inner.borrow().read_range(s, from, to, l)
        }
        fn read_trends(&self, s: u64, i: i64, from: i64, to: i64) -> Result<clio_sdk::Trends> {
            self.inner.borrow().read_trends(s, i, from, to)
        }
    }

    #[test]
    fn a_window_that_changes_between_the_passes_is_an_error() {
        // The late point lands just as the second pass starts. Time window: it adds a value.
        // Count window: it pushes the oldest value out, so the count stays and the sum
        // changes. Either way the second pass notices.
        let late = |after: u32| LateWrite {
            inner: std::cell::RefCell::new(many_chunks()),
            reads: std::cell::Cell::new(0),
            after,
            point: (NOW - 500, 7.0),
        };
        for params in ["2000s", "#2000"] {
            // A clean call: two passes of equal reads.
            let clean = late(u32::MAX);
            let want = call(stddev, &clean, params).unwrap();
            assert!(want.is_some(), "{params}");
            let reads = clean.reads.get();
            assert_eq!(reads % 2, 0, "{params}: {reads}");
            let h = late(reads / 2 + 1);
            let e = call(stddev, &h, params).unwrap_err();
            assert!(e.to_string().contains("changed"), "{params}: {e}");
            // Read again, from the start, the window is consistent, and holds the new point.
            let again = call(stddev, &h, params).unwrap();
            assert!(again.is_some() && again != want, "{params}: {again:?}");
        }
    }

    #[test]
    fn strict_strings_and_empty() {
        let h = per_minute([Value::from("1"), Value::from("x"), Value::Num(3.0)]);
        assert_close(num(stddev, &h, "#3"), 1.0);
        assert_eq!(num(stddev, &h, "!#5"), None);
        assert_eq!(num(stddev, &MemHistory::new(NOW), "#5"), None);
        assert!(call(stddev, &h, "").is_err());
    }
}
