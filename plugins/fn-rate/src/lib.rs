//! `rate(num, shift)`: the per-second increase of a counter over the window. A value lower
//! than the one before it is a counter reset: the counter restarted from 0, so the increase
//! of that step is the new value itself. Needs 2 numeric records; no data otherwise.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Timestamp, Value};

#[clio_sdk::history_function(
    name = "rate",
    description = "Per-second increase of a counter over the window, tolerant of counter resets",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn rate(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // One pass, oldest first, one chunk in memory: each step needs only the value before it,
    // which carries over from one chunk to the next.
    let mut start: Option<Timestamp> = None;
    let (mut t_last, mut prev, mut increase) = (0, 0.0, 0.0);
    let covered = args.window(0, 1)?.for_each_chunk(h, |chunk| {
        // Locals through the loop (captured variables would be stored and reloaded on
        // every point), written back after the chunk.
        let (mut s, mut tl, mut p, mut inc) = (start, t_last, prev, increase);
        for (t, v) in chunk.numeric() {
            if s.is_none() {
                (s, tl, p) = (Some(t), t, v);
                continue;
            }
            inc += if v >= p { v - p } else { v };
            p = v;
            tl = t;
        }
        (start, t_last, prev, increase) = (s, tl, p, inc);
        Ok(())
    })?;
    let (Some(_), Some(t0)) = (covered, start) else {
        return Ok(None);
    };
    if t_last <= t0 {
        return Ok(None);
    }
    Ok(Some(Value::Num(increase * 1000.0 / (t_last - t0) as f64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{
        MemHistory, NOW, assert_close, assert_same_over_many_chunks, call, num, per_minute,
    };

    #[test]
    fn steady_counter() {
        let h = per_minute([0.0, 60.0, 120.0, 180.0]);
        assert_close(num(rate, &h, "#4"), 1.0);
        assert_close(num(rate, &h, "3m"), 1.0);
        assert_close(num(rate, &h, "#2, #1"), 1.0);
        assert_eq!(num(rate, &h, "0"), None);
    }

    #[test]
    fn resets_count_from_zero() {
        // 100 → 160 (+60), reset to 30 (+30), → 90 (+60): 150 over 3 minutes.
        let h = per_minute([100.0, 160.0, 30.0, 90.0]);
        assert_close(num(rate, &h, "#4"), 150.0 / 180.0);
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let Some(points) = args.window(0, 1)?.fetch(h)? else {
            return Ok(None);
        };
        let mut it = points.numeric();
        let Some((t0, mut prev)) = it.next() else {
            return Ok(None);
        };
        let (mut t_last, mut increase) = (t0, 0.0);
        for (t, v) in it {
            increase += if v >= prev { v - prev } else { v };
            prev = v;
            t_last = t;
        }
        if t_last <= t0 {
            return Ok(None);
        }
        Ok(Some(Value::Num(increase * 1000.0 / (t_last - t0) as f64)))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(rate, fetched, &[]);
    }

    #[test]
    fn strict_strings_empty() {
        let h = per_minute([Value::from("0"), Value::from("x"), Value::Num(120.0)]);
        assert_close(num(rate, &h, "#3"), 1.0);
        assert_eq!(num(rate, &h, "!#9"), None);
        assert_eq!(num(rate, &MemHistory::new(NOW), "#9"), None);
        assert!(call(rate, &h, "x").is_err());
    }
}
