//! `timeLeft(num, shift, threshold)`: the ms from now until the least-squares line of the window reaches `threshold`.
//! The line is fitted by least squares with x centred on its mean (no precision loss on
//! epoch-ms timestamps); it needs 2 numeric records with distinct timestamps.
//! The answer is a duration from now (not an absolute time), and only when the crossing lies
//! after now: a flat line, a line moving away from the threshold or already past it, gives
//! no data, so an alert on `timeLeft < 1h` never fires for a metric moving away.
#![deny(missing_docs)]

use clio_sdk::stats::LinearFit;
use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "timeLeft",
    description = "ms from now until the least-squares line of the window reaches the threshold",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift: where the window ends: a time shift, #K records to skip, or a timestamp (0: now)",
        "threshold: the value the line is heading for",
    ],
)]
fn time_left(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let threshold = args.number(2, "threshold")?.ok_or_else(|| {
        clio_sdk::bad_argument(
            "threshold",
            "required as the third parameter, after the window and its shift: timeLeft(num, shift, threshold), e.g. `1h,0,90` fits the last hour and answers when the line reaches 90",
        )
    })?;
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let pts: Vec<_> = points.numeric().collect();
    let Some(at) = LinearFit::fit(&pts).and_then(|f| f.time_of(threshold)) else {
        return Ok(None);
    };
    let left = (at - h.now() as f64).round();
    Ok((left > 0.0).then_some(Value::Num(left)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    fn l5() -> MemHistory {
        per_minute([100.0, 102.0, 104.0, 106.0, 108.0])
    }

    #[test]
    fn duration_until_crossing() {
        let h = l5();
        assert_eq!(num(time_left, &h, "#5, 0, 120"), Some(300_000.0)); // ALEPIZ: NOW + 301036
        assert_eq!(num(time_left, &h, "5m, , 120"), Some(300_000.0));
        assert_eq!(num(time_left, &h, "#2, #3, 120"), Some(300_000.0));
        assert_eq!(num(time_left, &h, "#5, 0, 110.5"), Some(15_000.0));
        let falling = per_minute([10.0, 8.0, 6.0, 4.0]);
        assert_eq!(num(time_left, &falling, "#4, 0, 0"), Some(60_000.0));
    }

    #[test]
    fn moving_away_flat_or_past_is_no_data() {
        let h = l5();
        assert_eq!(num(time_left, &h, "#5, 0, 50"), None); // rising, threshold below
        assert_eq!(num(time_left, &h, "#5, 0, 110"), None); // reached exactly now
        assert_eq!(num(time_left, &per_minute([5.0; 4]), "#4, 0, 10"), None);
        assert_eq!(num(time_left, &h, "#1, 0, 120"), None);
        assert_eq!(num(time_left, &h, "!#9, 0, 120"), None);
        assert_eq!(num(time_left, &MemHistory::new(NOW), "#9, 0, 120"), None);
        for bad in ["#5", "#5, 0, x"] {
            let e = call(time_left, &h, bad).unwrap_err();
            assert!(e.to_string().contains("`threshold`"), "{bad}: {e}");
        }
    }
}
