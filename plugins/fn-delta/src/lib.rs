//! `delta(num, shift)`: max − min of the numeric values in the window; no data when none.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "delta",
    description = "Largest minus smallest numeric value in the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn delta(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // One chunk in memory at a time, oldest first: the same fold as over the whole window.
    let mut bounds: Option<(f64, f64)> = None;
    let covered = args.window(0, 1)?.for_each_chunk(h, |chunk| {
        bounds = chunk.numeric().fold(bounds, |b, (_, v)| {
            Some(b.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        });
        Ok(())
    })?;
    Ok(covered.and(bounds).map(|(lo, hi)| Value::Num(hi - lo)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_same_over_many_chunks, call, num, per_minute};

    #[test]
    fn window_forms() {
        let h = per_minute([3.0, -1.0, 7.0, 2.0, 5.0]);
        assert_eq!(num(delta, &h, "#5"), Some(8.0));
        assert_eq!(num(delta, &h, "#2"), Some(3.0));
        assert_eq!(num(delta, &h, "#2, #1"), Some(5.0));
        assert_eq!(num(delta, &h, "3m, 1m"), Some(8.0));
        assert_eq!(num(delta, &h, "0"), Some(0.0));
        assert_eq!(num(delta, &h, "1m, #2"), Some(0.0));
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        let bounds = points
            .numeric()
            .fold(None, |acc: Option<(f64, f64)>, (_, v)| {
                Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
            });
        Ok(bounds.map(|(lo, hi)| Value::Num(hi - lo)))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(delta, fetched, &[]);
    }

    #[test]
    fn strict_strings_and_empty() {
        let h = per_minute([Value::from("1"), Value::from("x"), Value::Num(4.0)]);
        assert_eq!(num(delta, &h, "#3"), Some(3.0));
        assert_eq!(num(delta, &h, "!#9"), None);
        // ALEPIZ answers 0 on an empty window; Clio answers no data.
        assert_eq!(num(delta, &MemHistory::new(NOW), "#3"), None);
        assert!(call(delta, &h, "#a").is_err());
    }
}
