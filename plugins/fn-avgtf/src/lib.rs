//! `avgTF(num, shift, k)`: the mean of the numeric values inside Tukey's fences `[lo, hi]`
//! (inclusive); with k > 0, of the k newest (by time) such values. Fewer than 4 numeric
//! records: the plain mean. No data when there are no numeric values.
#![deny(missing_docs)]

use clio_sdk::stats::tukey_fences;
use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "avgTF",
    description = "Mean of the values inside the Tukey fences (optionally of the k newest)",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "k?: average only the k newest non-outliers; 0 (default) = all",
    ],
)]
fn avg_tf(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let k = usize::try_from(args.count(2, "k", 0)?).unwrap_or(usize::MAX);
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let values = points.numbers();
    let kept: Vec<f64> = match tukey_fences(&values) {
        None => values,
        Some((lo, hi)) => {
            let inside = values.iter().rev().filter(|v| (lo..=hi).contains(*v));
            if k > 0 {
                inside.take(k).copied().collect()
            } else {
                inside.copied().collect()
            }
        }
    };
    Ok((!kept.is_empty()).then(|| Value::Num(kept.iter().sum::<f64>() / kept.len() as f64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_close, call, num, per_minute};

    fn t12() -> MemHistory {
        per_minute([
            71.0, 70.0, 73.0, 70.0, 69.0, 70.0, 72.0, 71.0, 300.0, 71.0, 69.0, 70.0,
        ])
    }

    #[test]
    fn alepiz_documented_example() {
        let h = t12();
        assert_close(num(avg_tf, &h, "#12"), 776.0 / 11.0); // 70.5454…
        // "avg for last 5 records excluding outliers = (69 + 71 + 71 + 72 + 70) / 5 = 70.6"
        assert_close(num(avg_tf, &h, "#12, 0, 5"), 70.6);
        assert_close(num(avg_tf, &h, "12m, , 0"), 776.0 / 11.0);
    }

    #[test]
    fn small_windows_constant_series_and_errors() {
        let h = t12();
        assert_close(num(avg_tf, &h, "#3, #2"), (71.0 + 300.0 + 71.0) / 3.0); // < 4: plain avg
        assert_eq!(num(avg_tf, &per_minute([5.0; 6]), "#6"), Some(5.0)); // ALEPIZ: NaN
        assert_eq!(num(avg_tf, &h, "!#20"), None);
        assert_eq!(num(avg_tf, &MemHistory::new(NOW), "#9"), None);
        assert_eq!(num(avg_tf, &per_minute(["a", "b", "c", "d"]), "#4"), None);
        assert!(call(avg_tf, &h, "#4, 0, x").is_err());
    }
}
