//! `avgNear(num, shift, pattern, outliers, n, direction)`, as in ALEPIZ:
//!
//! - `n = 0` (default): the mean of the values in `[pattern − outliers, pattern + outliers]`;
//! - `n > 0`: in the sorted values, find the value nearest to `pattern` that starts (upwards)
//!   or ends (downwards) a run of `n` values within `outliers`; `direction` > 0 looks above
//!   the pattern, < 0 below, 0 (default) takes the nearer one (a tie goes above). The answer
//!   is the mean of the values from there within `outliers`, in that direction.
//!
//! No data when nothing qualifies.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value, bad_argument};

#[clio_sdk::history_function(
    name = "avgNear",
    description = "Mean of the values near a pattern value (optionally of a run of n close values)",
    params = [

        "pattern: the value to look near",
        "outliers: how far from it (or from the run's start) values may be, >= 0",
        "n?: size of the run of close values to look for; 0 (default) = plain band",
        "direction?: > 0 above the pattern, < 0 below, 0 (default) the nearer",
    ],
)]
fn avg_near(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let pattern = args.required_number(2, "pattern")?;
    let outliers = args.required_number(3, "outliers")?;
    if outliers < 0.0 {
        return Err(bad_argument("outliers", "must be >= 0"));
    }
    let n = usize::try_from(args.count(4, "n", 0)?).unwrap_or(usize::MAX);
    let direction = args.number(5, "direction")?.unwrap_or(0.0);
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let mut s = points.numbers();
    let mean =
        |v: &[f64]| (!v.is_empty()).then(|| Value::Num(v.iter().sum::<f64>() / v.len() as f64));
    if n == 0 {
        let band: Vec<f64> = s
            .into_iter()
            .filter(|v| (pattern - outliers..=pattern + outliers).contains(v))
            .collect();
        return Ok(mean(&band));
    }
    let len = s.len();
    if len < n {
        return Ok(None);
    }
    s.sort_unstable_by(f64::total_cmp);
    // Scan upwards; stop at the first start of an upward run at or above the pattern.
    let (mut below, mut above) = (None, None);
    for i in 0..len {
        let v = s[i];
        if v <= pattern && i + 1 >= n && s[i + 1 - n] >= v - outliers {
            below = Some(i);
        }
        if v >= pattern && i + n - 1 < len && s[i + n - 1] <= v + outliers {
            above = Some(i);
            break;
        }
    }
    let up = match (direction, below, above) {
        (d, _, _) if d > 0.0 => true,
        (d, _, _) if d < 0.0 => false,
        (_, None, _) => true,
        (_, _, None) => false,
        (_, Some(b), Some(a)) => pattern - s[b] >= s[a] - pattern,
    };
    let picked: Vec<f64> = match (up, below, above) {
        (true, _, Some(a)) => s[a..]
            .iter()
            .copied()
            .take_while(|v| *v <= s[a] + outliers)
            .collect(),
        (false, Some(b), _) => s[..=b]
            .iter()
            .rev()
            .copied()
            .take_while(|v| *v >= s[b] - outliers)
            .collect(),
        _ => return Ok(None),
    };
    Ok(mean(&picked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_close, call, num, per_minute};

    #[test]
    fn alepiz_documented_examples() {
        let ex1 = per_minute([1.0, 3.0, 4.0, 2.0, 6.0, 5.0, 7.0, 9.0, 8.0, 10.0]);
        assert_eq!(num(avg_near, &ex1, "#10, 0, 3, 2"), Some(3.0));
        let ex2 = per_minute([
            31.0, 42.0, 55.0, 61.0, 33.0, 44.0, 55.0, 60.0, 39.0, 44.0, 51.0, 69.0, 34.0, 57.0,
            44.0, 62.0, 30.0, 40.0, 50.0, 60.0,
        ]);
        assert_close(num(avg_near, &ex2, "#20, 0, 52, 4, 3, -1"), 42.8);
        // Upwards: the run 55 55 57 starts at 55; mean of 55 55 57 = 55.67.
        assert_close(num(avg_near, &ex2, "#20, 0, 52, 4, 3, 1"), 167.0 / 3.0);
        // Nearest: 44 is 8 below, 55 is 3 above → above.
        assert_close(num(avg_near, &ex2, "#20, 0, 52, 4, 3"), 167.0 / 3.0);
        assert_close(num(avg_near, &ex2, "20m, , 52, 4, 3, -1"), 42.8);
    }

    #[test]
    fn edges_strings_strict_and_errors() {
        let h = per_minute([
            Value::Num(1.0),
            Value::from("x"),
            Value::from("2"),
            Value::Num(9.0),
        ]);
        assert_eq!(num(avg_near, &h, "#4, 0, 1.5, 0.5"), Some(1.5));
        assert_eq!(num(avg_near, &h, "#4, 0, 5, 1"), None); // nothing in [4, 6]
        assert_eq!(num(avg_near, &h, "#4, 0, 5, 1, 4"), None); // fewer values than n
        assert_eq!(num(avg_near, &h, "#4, 0, 5, 1, 2"), Some(1.5)); // only 1 2 form a run: below
        assert_eq!(num(avg_near, &h, "#4, 0, 5, 1, 2, 1"), None); // nothing above
        assert_eq!(num(avg_near, &h, "!#9, 0, 5, 1"), None);
        assert_eq!(num(avg_near, &MemHistory::new(NOW), "#9, 0, 5, 1"), None);
        for (bad, name) in [
            ("#4, 0, x, 1", "pattern"),
            ("#4, 0, 5", "outliers"),
            ("#4, 0, 5, -1", "outliers"),
            ("#4, 0, 5, 1, -2", "n"),
            ("#4, 0, 5, 1, 0, up", "direction"),
        ] {
            let e = call(avg_near, &h, bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{name}`")), "{bad}: {e}");
        }
    }
}
