//! `first(num, shift)`: the value (number or string) of the oldest record in the window; no
//! data when the window is empty. The counterpart of `last`, with the window of `avg`.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "first",
    description = "Value of the oldest record in the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn first(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // Chunks come oldest first, so the oldest record is the first one seen; the rest of the
    // window is still read, for the strict rule.
    let mut oldest: Option<Value> = None;
    let covered = args.window(0, 1)?.for_each_chunk(h, |chunk| {
        if oldest.is_none() {
            oldest = chunk.first().map(|(_, v)| v.into());
        }
        Ok(())
    })?;
    Ok(covered.and(oldest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_same_over_many_chunks, call, num, per_minute};

    #[test]
    fn window_forms() {
        let h = per_minute((1..=10).map(f64::from));
        assert_eq!(num(first, &h, "#3"), Some(8.0));
        assert_eq!(num(first, &h, "#3, #2"), Some(6.0));
        assert_eq!(num(first, &h, "3m"), Some(8.0));
        assert_eq!(num(first, &h, "3m, 2m"), Some(6.0));
        assert_eq!(num(first, &h, "0"), Some(10.0));
        assert_eq!(num(first, &h, "!#11"), Some(1.0));
        assert_eq!(num(first, &h, "!#20"), None);
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        Ok(points.first().map(|(_, v)| v.into()))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(first, fetched, &["#2950", "!#2950", "#3000, #50"]);
    }

    #[test]
    fn strings_and_empty() {
        let h = per_minute([Value::from("up"), Value::Num(1.0)]);
        assert_eq!(call(first, &h, "#2").unwrap(), Some(Value::from("up")));
        assert_eq!(num(first, &MemHistory::new(NOW), "#2"), None);
        assert!(call(first, &h, "#2, x").is_err());
    }
}
