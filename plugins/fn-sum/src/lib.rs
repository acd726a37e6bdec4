//! `sum(num, shift)`: the sum of the numeric values in the window; 0 when there are none.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "sum",
    description = "Sum of the numeric values in the window (0 when none)",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn sum(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // `Iterator::sum` is a left fold from its identity; starting from that same identity and
    // adding oldest first, one chunk at a time, gives the sum over the whole window bit for
    // bit, with one chunk in memory.
    let mut total: f64 = std::iter::empty::<f64>().sum();
    let covered = args.window(0, 1)?.for_each_chunk(h, |chunk| {
        // A fold: the running total stays in a register through the chunk's loop.
        total = chunk.numeric().fold(total, |total, (_, v)| total + v);
        Ok(())
    })?;
    Ok(covered.map(|_| Value::Num(total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, many_chunks, num, per_minute};

    #[test]
    fn window_forms() {
        let h = per_minute((1..=10).map(f64::from));
        assert_eq!(num(sum, &h, "#3"), Some(27.0));
        assert_eq!(num(sum, &h, "#3, #1"), Some(24.0));
        assert_eq!(num(sum, &h, "2m"), Some(19.0));
        assert_eq!(num(sum, &h, "2m, 1m"), Some(17.0));
        assert_eq!(num(sum, &h, "0"), Some(10.0));
        assert_eq!(num(sum, &h, "1m, #1"), Some(9.0));
    }

    #[test]
    fn strict_strings_and_empty() {
        let h = per_minute([Value::from("5"), Value::from("x"), Value::Num(1.5)]);
        assert_eq!(num(sum, &h, "#3"), Some(6.5)); // never "1abc3"-style concatenation
        assert_eq!(num(sum, &h, "!#3"), Some(6.5));
        assert_eq!(num(sum, &h, "!#4"), None); // 3 of 4 is below 90 %
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        Ok(Some(Value::Num(points.numeric().map(|(_, v)| v).sum())))
    }

    fn bits(r: Result<Option<Value>>) -> Option<u64> {
        match r.unwrap() {
            Some(Value::Num(x)) => Some(x.to_bits()),
            None => None,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        let h = many_chunks();
        for p in [
            "#3000",
            "#2500, #100",
            "!#3100",
            "!#3400",
            "2000s",
            "!2000s",
            "!3500s",
            "40m, #5",
            "#1000, 10m",
        ] {
            assert_eq!(bits(call(sum, &h, p)), bits(call(fetched, &h, p)), "{p}");
        }
        assert_eq!(bits(call(sum, &h, "!#3400")), None);
    }

    #[test]
    fn the_order_of_the_additions_matters_here() {
        // Proof that the test above can fail: summing the same chunks newest first (what a
        // reader that follows the host's answers would do) changes the last bits.
        let h = many_chunks();
        let w = clio_sdk::Window::parse(Some("#3000"), None).unwrap();
        let mut chunks = Vec::new();
        w.for_each_chunk(&h, |c| {
            chunks.push(c.numbers());
            Ok(())
        })
        .unwrap();
        // The newest answer of 97, then pieces of 95 (answers of 97 less two records of
        // overlap): 30 full pieces and a partial oldest one.
        assert_eq!(chunks.len(), 32);
        let mut newest_first = 0.0_f64;
        for c in chunks.iter().rev() {
            for v in c {
                newest_first += v;
            }
        }
        let oldest_first = bits(call(sum, &h, "#3000")).unwrap();
        assert_ne!(newest_first.to_bits(), oldest_first);
        assert_eq!(Some(oldest_first), bits(call(fetched, &h, "#3000")));
    }

    #[test]
    fn empty_is_zero_and_strict_failure_is_no_data() {
        assert_eq!(num(sum, &MemHistory::new(NOW), "#5"), Some(0.0));
        let h = per_minute([1.0, 2.0]);
        assert_eq!(num(sum, &h, "!#5"), None);
        assert_eq!(num(sum, &h, "1h, 2h"), Some(0.0));
        assert!(call(sum, &h, "").is_err());
    }
}
