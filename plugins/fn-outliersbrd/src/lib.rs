//! `outliersBrd(num, shift, borderType)`: Tukey's lower fence `Q1 − 1.5·IQR` (`min`, the
//! default) or upper fence `Q3 + 1.5·IQR` (`max`) of the numeric values. Quartiles are the
//! medians of the lower and upper halves (the median itself excluded when the count is odd).
//! Needs 4 numeric records; no data otherwise.
#![deny(missing_docs)]

use clio_sdk::stats::tukey_fences;
use clio_sdk::{Args, History, Result, Value, bad_argument};

#[clio_sdk::history_function(
    name = "outliersBrd",
    description = "Tukey fence of the window: Q1 - 1.5 IQR (min) or Q3 + 1.5 IQR (max)",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "borderType?: min (default) or max",
    ],
)]
fn outliers_brd(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let upper = match args.get(2).map(str::to_ascii_lowercase).as_deref() {
        None | Some("min") => false,
        Some("max") => true,
        Some(other) => {
            return Err(bad_argument(
                "borderType",
                format!("`{other}`: expected min or max"),
            ));
        }
    };
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    Ok(tukey_fences(&points.numbers()).map(|(lo, hi)| Value::Num(if upper { hi } else { lo })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    /// ALEPIZ's documented data set (sorted: 69 69 70 70 70 70 71 71 71 72 73 300).
    pub(crate) fn t12() -> MemHistory {
        per_minute([
            71.0, 70.0, 73.0, 70.0, 69.0, 70.0, 72.0, 71.0, 300.0, 71.0, 69.0, 70.0,
        ])
    }

    #[test]
    fn alepiz_documented_example() {
        let h = t12();
        assert_eq!(num(outliers_brd, &h, "#12"), Some(67.75));
        assert_eq!(num(outliers_brd, &h, "#12, 0, min"), Some(67.75));
        assert_eq!(num(outliers_brd, &h, "#12, 0, MAX"), Some(73.75));
        assert_eq!(num(outliers_brd, &h, "12m, , max"), Some(73.75));
    }

    #[test]
    fn window_forms_strings_and_minimum() {
        let h = per_minute([
            Value::Num(1.0),
            Value::from("x"),
            Value::from("2"),
            Value::Num(3.0),
            Value::Num(4.0),
            Value::Num(5.0),
        ]);
        assert_eq!(num(outliers_brd, &h, "#6"), Some(-3.0)); // 1 2 3 4 5: Q1 1.5, Q3 4.5
        assert_eq!(num(outliers_brd, &h, "#6, , max"), Some(9.0));
        assert_eq!(num(outliers_brd, &h, "#4"), Some(-0.5)); // 2 3 4 5: Q1 2.5, Q3 4.5
        assert_eq!(num(outliers_brd, &h, "#4, #1"), None); // 3 numbers only
        assert_eq!(num(outliers_brd, &h, "4m, 1m"), None);
        assert_eq!(num(outliers_brd, &h, "!#9"), None);
        assert_eq!(num(outliers_brd, &MemHistory::new(NOW), "#9"), None);
        let e = call(outliers_brd, &h, "#6, , top").unwrap_err();
        assert!(e.to_string().contains("`borderType`"), "{e}");
    }
}
