//! `forecast(num, shift, horizon)`: the least-squares line of the window evaluated at `now + horizon`.
//! The line is fitted by least squares with x centred on its mean (no precision loss on
//! epoch-ms timestamps); it needs 2 numeric records with distinct timestamps.
#![deny(missing_docs)]

use clio_sdk::stats::LinearFit;
use clio_sdk::{Args, History, Result, Value, bad_argument};

#[clio_sdk::history_function(
    name = "forecast",
    description = "Least-squares line of the window evaluated at now + horizon",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift: where the window ends: a time shift, #K records to skip, or a timestamp (0: now)",
        "horizon: how far from now to evaluate the line, a duration (1h; negative = the past)",
    ],
)]
fn forecast(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let horizon = args
        .duration(2, "horizon")?
        .ok_or_else(|| {
            bad_argument(
                "horizon",
                "required as the third parameter, after the window and its shift: forecast(num, shift, horizon), e.g. `1h,0,30m` fits the last hour and evaluates the line 30 minutes from now",
            )
        })?;
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    let pts: Vec<_> = points.numeric().collect();
    Ok(LinearFit::fit(&pts).map(|f| Value::Num(f.at(h.now().saturating_add(horizon)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_close, call, num, per_minute};

    /// ALEPIZ's L5: +2 per minute, the newest one minute before now (line = 110 at now).
    fn l5() -> MemHistory {
        per_minute([100.0, 102.0, 104.0, 106.0, 108.0])
    }

    #[test]
    fn exact_on_a_line() {
        let h = l5();
        assert_close(num(forecast, &h, "#5, 0, 10m"), 130.0); // ALEPIZ: 129.944
        assert_close(num(forecast, &h, "#5, 0, 600000"), 130.0);
        assert_close(num(forecast, &h, "5m, , 0"), 110.0);
        assert_close(num(forecast, &h, "#5, , -5m"), 100.0);
        assert_close(num(forecast, &h, "#2, #3, 1m"), 112.0);
        assert_close(num(forecast, &h, "3m, 2m, 1m"), 112.0);
    }

    #[test]
    fn too_few_strict_and_errors() {
        let h = l5();
        assert_eq!(num(forecast, &h, "#1, 0, 1m"), None);
        assert_eq!(num(forecast, &h, "0, 0, 1m"), None);
        assert_eq!(num(forecast, &h, "!#9, 0, 1m"), None);
        assert_eq!(num(forecast, &MemHistory::new(NOW), "#9, 0, 1m"), None);
        let mixed = per_minute([Value::from("1"), Value::from("x"), Value::Num(3.0)]);
        assert_close(num(forecast, &mixed, "#3, 0, 1m"), 5.0);
        for bad in ["#5", "#5, 0, #3", "#5, 0, x", "#5, 0, 1.5"] {
            let e = call(forecast, &h, bad).unwrap_err();
            assert!(e.to_string().contains("`horizon`"), "{bad}: {e}");
        }
    }
}
