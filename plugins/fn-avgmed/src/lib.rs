//! `avgMed(num, shift, percent)`: the trimmed mean of the numeric values: drop the
//! `round(n·percent/100)` smallest and as many largest, average the rest; the median when
//! nothing would be left. `percent` is in [1, 99]. Needs 3 numeric records.
#![deny(missing_docs)]

use clio_sdk::stats::median_sorted;
use clio_sdk::{Args, History, Result, Value, bad_argument};

#[clio_sdk::history_function(
    name = "avgMed",
    description = "Trimmed mean: drop percent % of the smallest and of the largest values",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "percent: share of values dropped at each end, 1 to 99",
    ],
)]
fn avg_med(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let percent = args.required_number(2, "percent")?;
    if !(1.0..=99.0).contains(&percent) {
        return Err(bad_argument(
            "percent",
            format!("{percent} is outside 1..=99"),
        ));
    }
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let mut v = points.into_numbers();
    let n = v.len();
    if n < 3 {
        return Ok(None);
    }
    // Values equal under `total_cmp` are bit-identical, so an unstable sort gives the
    // same order as a stable one, without the stable sort's scratch buffer.
    v.sort_unstable_by(f64::total_cmp);
    let c = (n as f64 * percent / 100.0).round() as usize;
    if 2 * c >= n {
        return Ok(median_sorted(&v).map(Value::Num));
    }
    let kept = &v[c..n - c];
    Ok(Some(Value::Num(
        kept.iter().sum::<f64>() / kept.len() as f64,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    fn m10() -> MemHistory {
        per_minute([1.0, 3.0, 4.0, 2.0, 6.0, 5.0, 7.0, 9.0, 8.0, 10.0])
    }

    #[test]
    fn alepiz_documented_example() {
        // 10 records, 20 %: drop 2 at each end, mean(3..8) = 5.5.
        assert_eq!(num(avg_med, &m10(), "#10, 0, 20"), Some(5.5));
        assert_eq!(num(avg_med, &m10(), "#10, , 20"), Some(5.5)); // empty shift is 0
        assert_eq!(num(avg_med, &m10(), "10m, 0, 20"), Some(5.5));
    }

    #[test]
    fn trimming_edges() {
        let h = m10();
        assert_eq!(num(avg_med, &h, "#10, 0, 1"), Some(5.5)); // round(0.1) = 0: plain mean
        assert_eq!(num(avg_med, &h, "#10, 0, 50"), Some(5.5)); // nothing left: the median
        assert_eq!(num(avg_med, &h, "#3, 0, 40"), Some(9.0)); // 8 9 10, c = 1
        assert_eq!(num(avg_med, &h, "#3, #3, 40"), Some(6.0)); // 5 6 7
        assert_eq!(num(avg_med, &h, "3m, 3m, 40"), Some(6.0));
        assert_eq!(num(avg_med, &h, "#11, 0, 10"), Some(5.5)); // 10 of 11 is fine when not strict
        let skewed = per_minute([1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!(num(avg_med, &skewed, "#5, 0, 20"), Some(3.0));
    }

    #[test]
    fn minimum_strings_strict_and_errors() {
        let h = per_minute([
            Value::Num(1.0),
            Value::from("x"),
            Value::from(" 5 "),
            Value::Num(3.0),
        ]);
        assert_eq!(num(avg_med, &h, "#4, 0, 10"), Some(3.0));
        assert_eq!(num(avg_med, &h, "#2, 0, 10"), None); // fewer than 3
        assert_eq!(num(avg_med, &m10(), "!#20, 0, 10"), None);
        assert_eq!(num(avg_med, &MemHistory::new(NOW), "#5, 0, 10"), None);
        for bad in ["#4, 0", "#4, 0, 0", "#4, 0, 100", "#4, 0, x"] {
            let e = call(avg_med, &h, bad).unwrap_err();
            assert!(e.to_string().contains("`percent`"), "{bad}: {e}");
        }
    }
}
