//! `lastRob(num, shift, idx)`: the idx-th newest (by time; 0 = newest) numeric value inside
//! Tukey's fences `[lo, hi]` (inclusive, so a constant series answers its value). Needs 4
//! numeric records; no data otherwise or when fewer than idx + 1 values are inside.
#![deny(missing_docs)]

use clio_sdk::stats::tukey_fences;
use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "lastRob",
    description = "The idx-th newest value inside the Tukey fences of the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "idx?: which value, 0 (default) = the newest non-outlier",
    ],
)]
fn last_rob(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let idx = usize::try_from(args.count(2, "idx", 0)?).unwrap_or(usize::MAX);
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let values = points.numbers();
    let Some((lo, hi)) = tukey_fences(&values) else {
        return Ok(None);
    };
    Ok(values
        .iter()
        .rev()
        .filter(|v| (lo..=hi).contains(*v))
        .nth(idx)
        .map(|v| Value::Num(*v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    fn t12() -> MemHistory {
        per_minute([
            71.0, 70.0, 73.0, 70.0, 69.0, 70.0, 72.0, 71.0, 300.0, 71.0, 69.0, 70.0,
        ])
    }

    #[test]
    fn newest_by_time_not_by_value() {
        let h = t12();
        assert_eq!(num(last_rob, &h, "#12"), Some(70.0)); // ALEPIZ would answer 73
        assert_eq!(num(last_rob, &h, "#12, 0, 1"), Some(69.0));
        assert_eq!(num(last_rob, &h, "#12, 0, 3"), Some(71.0)); // 300 is skipped
        assert_eq!(num(last_rob, &h, "#12, 0, 4"), Some(72.0));
        assert_eq!(num(last_rob, &h, "12m, , 2"), Some(71.0));
        assert_eq!(num(last_rob, &h, "#12, , 11"), None);
        assert_eq!(num(last_rob, &h, "#8, #4"), Some(71.0));
    }

    #[test]
    fn constant_series_strings_strict_and_errors() {
        assert_eq!(num(last_rob, &per_minute([5.0; 6]), "#6"), Some(5.0));
        let h = per_minute([
            Value::Num(1.0),
            Value::from("x"),
            Value::from("2"),
            Value::Num(3.0),
        ]);
        assert_eq!(num(last_rob, &h, "#4"), None); // 3 numeric records
        assert_eq!(num(last_rob, &t12(), "!#13"), Some(70.0));
        assert_eq!(num(last_rob, &t12(), "!#14"), None);
        assert_eq!(num(last_rob, &MemHistory::new(NOW), "#9"), None);
        assert!(call(last_rob, &h, "#4, 0, -1").is_err());
        assert!(call(last_rob, &h, "#4, 0, 1.5").is_err());
    }
}
