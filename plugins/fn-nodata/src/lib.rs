//! `nodata(period)`: without a period, the ms since the newest record (no data when the
//! series has none); with a period (a duration), 1 when no record arrived in the last period,
//! else 0. A series that was never written answers 1. It never waits.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value, bad_argument};

#[clio_sdk::history_function(
    name = "nodata",
    description = "ms since the newest record; with a period, 1 when the period was silent, else 0",
    params = ["period?: a duration (5m); without it the answer is the ms since the newest record"],
)]
fn nodata(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let period = args.duration(0, "period")?;
    if period.is_some_and(|p| p < 0) {
        return Err(bad_argument("period", "a period cannot be negative"));
    }
    let now = h.now();
    let newest = h.read_last(h.series_id(), 1, 0, now)?;
    let age = newest.last().map(|(ts, _)| now - ts);
    Ok(match (period, age) {
        (None, age) => age.map(Value::from),
        (Some(_), None) => Some(Value::Num(1.0)),
        // A record exactly `period` old is still inside the period.
        (Some(p), Some(age)) => Some(Value::Num(if age > p { 1.0 } else { 0.0 })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    #[test]
    fn age_and_silence() {
        let h = per_minute([1.0, 2.0]); // newest at NOW − 60 s
        assert_eq!(num(nodata, &h, ""), Some(60_000.0));
        assert_eq!(num(nodata, &h, "30s"), Some(1.0));
        assert_eq!(num(nodata, &h, "1m"), Some(0.0)); // exactly one period old
        assert_eq!(num(nodata, &h, "59999"), Some(1.0));
        assert_eq!(num(nodata, &h, "5m"), Some(0.0));
        // Evaluated earlier, before the newest point existed.
        assert_eq!(num(nodata, &h.clone().at(NOW - 90_000), ""), Some(30_000.0));
    }

    #[test]
    fn silent_sensor_and_errors() {
        let empty = MemHistory::new(NOW);
        assert_eq!(num(nodata, &empty, "5m"), Some(1.0));
        assert_eq!(num(nodata, &empty, ""), None);
        for bad in ["#5", "1.5", "abc", "-5m", "!5m"] {
            let e = call(nodata, &empty, bad).unwrap_err();
            assert!(e.to_string().contains("`period`"), "{bad}: {e}");
        }
    }
}
