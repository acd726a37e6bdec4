//! `avg(num, shift)`: the mean of the numeric values in the window.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "avg",
    description = "Mean of the numeric values in the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn avg(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // One pass, one chunk in memory at a time, oldest first: the same additions in the same
    // order as over the whole window, so the mean is the same bit for bit. The running totals
    // go through the chunk's loop by value (a fold), not as captured variables: those the
    // compiler must store and reload on every point.
    let (mut sum, mut n) = (0.0, 0_u64);
    let covered = args.window(0, 1)?.for_each_chunk(h, |chunk| {
        (sum, n) = chunk
            .numeric()
            .fold((sum, n), |(sum, n), (_, v)| (sum + v, n + 1));
        Ok(())
    })?;
    if covered.is_none() {
        return Ok(None);
    }
    Ok((n > 0).then(|| Value::Num(sum / n as f64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, call, many_chunks, num};

    const NOW: i64 = 1_700_000_000_000;

    fn h() -> MemHistory {
        MemHistory::new(NOW).with_points((1..=10).map(|i| (NOW - (11 - i) * 60_000, i as f64)))
    }

    #[test]
    fn descriptor() {
        assert_eq!(DESCRIPTOR.name, "avg");
        assert!(DESCRIPTOR.params[0].required);
        assert!(!DESCRIPTOR.params[1].required);
    }

    #[test]
    fn every_window_form() {
        let h = h();
        assert_eq!(num(avg, &h, "#3"), Some(9.0));
        assert_eq!(num(avg, &h, "#3, #2"), Some(7.0));
        assert_eq!(num(avg, &h, "#2, 2m"), Some(7.5));
        assert_eq!(num(avg, &h, "3m"), Some(9.0));
        assert_eq!(num(avg, &h, "180000, 1m"), Some(8.0));
        assert_eq!(num(avg, &h, "0"), Some(10.0));
        assert_eq!(num(avg, &h, "2m, #2"), Some(7.5));
        let (a, b) = (NOW - 5 * 60_000, NOW - 3 * 60_000);
        assert_eq!(num(avg, &h, &format!("{b}, {a}")), Some(6.5));
        assert_eq!(num(avg, &h, &format!("2m, {a}")), Some(6.5));
        assert_eq!(num(avg, &h.clone().at(NOW - 150_000), "#2"), Some(7.5));
    }

    #[test]
    fn strict_mode() {
        let h = h();
        assert_eq!(num(avg, &h, "!#10"), Some(5.5));
        assert_eq!(num(avg, &h, "!#12"), None);
        assert_eq!(num(avg, &h, "#!11"), Some(5.5));
        assert_eq!(num(avg, &h, "!15m"), None);
        assert_eq!(num(avg, &h, "15m"), Some(5.5));
    }

    #[test]
    fn strings_and_empty_windows() {
        let h = MemHistory::new(NOW).with_points([
            (NOW - 4, Value::from(" 4 ")),
            (NOW - 3, Value::from("abc")),
            (NOW - 2, Value::from("0x10")),
            (NOW - 1, Value::Num(2.0)),
        ]);
        assert_eq!(num(avg, &h, "#4"), Some(3.0));
        assert_eq!(num(avg, &h, "#1, #1"), None); // only "0x10": not a number
        assert_eq!(num(avg, &MemHistory::new(NOW), "#10"), None);
        assert_eq!(num(avg, &h, "1m, 1h"), None);
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        let (sum, n) = points
            .numeric()
            .fold((0.0, 0_u64), |(s, n), (_, v)| (s + v, n + 1));
        Ok((n > 0).then(|| Value::Num(sum / n as f64)))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        let h = many_chunks();
        let bits = |r: Result<Option<Value>>| match r.unwrap() {
            Some(Value::Num(x)) => Some(x.to_bits()),
            other => panic!("{other:?}"),
        };
        for p in [
            "#3000",
            "#2500, #100",
            "!#3100",
            "2000s",
            "!2000s",
            "!3000s",
            "40m, #5",
            "#1000, 10m",
        ] {
            assert_eq!(bits(call(avg, &h, p)), bits(call(fetched, &h, p)), "{p}");
        }
        assert_eq!(num(avg, &h, "!#3400"), None);
        assert_eq!(num(fetched, &h, "!#3400"), None);
        assert_eq!(num(avg, &h, "!3500s"), None);
        assert_eq!(num(fetched, &h, "!3500s"), None);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let h = h();
        for bad in ["", "abc", "#x", "#0", "5m, -1m", "0.5"] {
            let err = call(avg, &h, bad).unwrap_err();
            assert!(
                matches!(err, clio_sdk::Error::BadArgument { .. }),
                "{bad}: {err}"
            );
        }
    }
}
