//! `max(num, shift)`: the largest numeric value in the window; no data when there is none.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "max",
    description = "Largest numeric value in the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn max(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // One chunk in memory at a time, oldest first: the same reduction as over the whole window.
    let mut highest: Option<f64> = None;
    let covered = args.window(0, 1)?.for_each_chunk(h, |chunk| {
        highest = chunk
            .numeric()
            .fold(highest, |m, (_, v)| Some(m.map_or(v, |m| m.max(v))));
        Ok(())
    })?;
    Ok(covered.and(highest).map(Value::Num))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_same_over_many_chunks, call, num, per_minute};

    fn h() -> MemHistory {
        per_minute([3.0, -1.0, 7.0, 2.0, 5.0])
    }

    #[test]
    fn window_forms() {
        let h = h();
        assert_eq!(num(max, &h, "#5"), Some(7.0));
        assert_eq!(num(max, &h, "#2"), Some(5.0));
        assert_eq!(num(max, &h, "#2, #2"), Some(7.0));
        assert_eq!(num(max, &h, "2m, 1m"), Some(7.0));
        assert_eq!(num(max, &h, "0, 2m"), Some(2.0));
        assert_eq!(num(max, &h, "2m, #1"), Some(7.0));
        let a = NOW - 5 * 60_000;
        assert_eq!(num(max, &h, &format!("{a}, {}", a + 120_000)), Some(3.0));
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        Ok(points
            .numeric()
            .map(|(_, v)| v)
            .reduce(f64::max)
            .map(Value::Num))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(max, fetched, &[]);
    }

    #[test]
    fn strict_strings_and_empty() {
        let h = h();
        assert_eq!(num(max, &h, "!#6"), None);
        assert!(num(max, &h, "!#5").is_some());
        assert_eq!(num(max, &h, "!10m"), None);
        let s = per_minute([Value::from(" 10 "), Value::from("zzz"), Value::from("0x1")]);
        assert_eq!(num(max, &s, "#3"), Some(10.0));
        assert_eq!(num(max, &MemHistory::new(NOW), "#3"), None);
        assert_eq!(num(max, &per_minute(["a", "b"]), "#3"), None);
        assert!(call(max, &h, "#3, !1m").is_err());
    }
}
