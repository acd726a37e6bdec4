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
    let Some(points) = args.window(0, 1)?.fetch(h)? else {
        return Ok(None);
    };
    Ok(Some(Value::Num(points.numeric().map(|(_, v)| v).sum())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

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

    #[test]
    fn empty_is_zero_and_strict_failure_is_no_data() {
        assert_eq!(num(sum, &MemHistory::new(NOW), "#5"), Some(0.0));
        let h = per_minute([1.0, 2.0]);
        assert_eq!(num(sum, &h, "!#5"), None);
        assert_eq!(num(sum, &h, "1h, 2h"), Some(0.0));
        assert!(call(sum, &h, "").is_err());
    }
}
