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
    let Some(points) = args.window(0, 1)?.fetch(h)? else {
        return Ok(None);
    };
    // Two passes (mean, then squared deviations from it): no cancellation on large offsets.
    let v = points.numbers();
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let m2: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
    Ok((n > 0).then(|| Value::Num((m2 / n as f64).sqrt())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_close, call, num, per_minute};

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

    #[test]
    fn strict_strings_and_empty() {
        let h = per_minute([Value::from("1"), Value::from("x"), Value::Num(3.0)]);
        assert_close(num(stddev, &h, "#3"), 1.0);
        assert_eq!(num(stddev, &h, "!#5"), None);
        assert_eq!(num(stddev, &MemHistory::new(NOW), "#5"), None);
        assert!(call(stddev, &h, "").is_err());
    }
}
