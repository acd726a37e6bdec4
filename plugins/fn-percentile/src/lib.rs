//! `percentile(num, shift, p)`: the p-th percentile (0–100) of the numeric values in the
//! window, interpolating linearly between the closest ranks (p = 50 is the median); no data
//! when there are none.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value, bad_argument};

#[clio_sdk::history_function(
    name = "percentile",
    description = "The p-th percentile of the numeric values in the window (linear between ranks)",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "p: the percentile, 0 to 100",
    ],
)]
fn percentile(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let p = args.required_number(2, "p")?;
    if !(0.0..=100.0).contains(&p) {
        return Err(bad_argument("p", format!("{p} is outside 0..=100")));
    }
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let mut v = points.into_numbers();
    if v.is_empty() {
        return Ok(None);
    }
    // Values equal under `total_cmp` are bit-identical, so an unstable sort gives the
    // same order as a stable one, without the stable sort's scratch buffer.
    v.sort_unstable_by(f64::total_cmp);
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (v[lo], v[hi.min(v.len() - 1)]);
    Ok(Some(Value::Num(a + (b - a) * (rank - lo as f64))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_close, call, num, per_minute};

    #[test]
    fn ranks() {
        let h = per_minute([5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!(num(percentile, &h, "#5, 0, 50"), Some(3.0));
        assert_eq!(num(percentile, &h, "#5, 0, 0"), Some(1.0));
        assert_eq!(num(percentile, &h, "#5, 0, 100"), Some(5.0));
        assert_close(num(percentile, &h, "#5, , 90"), 4.6);
        assert_close(num(percentile, &h, "#4, , 50"), 2.5);
        assert_eq!(num(percentile, &h, "2m, 1m, 50"), Some(3.0));
        assert_eq!(num(percentile, &h, "0, , 50"), Some(3.0));
    }

    #[test]
    fn strict_strings_empty_and_errors() {
        let h = per_minute([Value::from("1"), Value::from("x"), Value::Num(3.0)]);
        assert_eq!(num(percentile, &h, "#3, , 50"), Some(2.0));
        assert_eq!(num(percentile, &h, "!#5, , 50"), None);
        assert_eq!(num(percentile, &MemHistory::new(NOW), "#5, , 50"), None);
        for bad in ["#3", "#3, , 101", "#3, , -1", "#3, , x"] {
            let e = call(percentile, &h, bad).unwrap_err();
            assert!(e.to_string().contains("`p`"), "{bad}: {e}");
        }
    }
}
