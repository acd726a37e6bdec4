//! `getTimestamp(shift, period)`: Timestamp (ms) of the record last() with the same parameters picks.
//!
//! - `getTimestamp()`: the newest record; `getTimestamp(#K)`: the (K+1)-th newest;
//! - `getTimestamp(S)`: the newest record at or before `now − S` (the value as it was S ago);
//! - `getTimestamp(S, P)`: the newest record in `(now − S − P, now − S]`;
//! - a timestamp instead of S means "as of that time".
//!
//! Strict mode does not apply (a `!` is ignored); nothing found is no data.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Term, Timestamp, Value, ValueRef, bad_argument};

#[clio_sdk::history_function(
    name = "getTimestamp",
    description = "Timestamp (ms) of the record last() with the same parameters picks",
    params = [
        "shift?: #K records to skip, a time shift (5m) or a timestamp; default: the newest record",
        "period?: with a time shift, only records of the period that ends at now − shift",
    ],
)]
fn gettimestamp(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    Ok(pick(h, args)?.map(|(ts, _)| Value::from(ts)))
}

/// Finds the record `last` and `getTimestamp` answer about.
fn pick(h: &dyn History, args: &Args) -> Result<Option<(Timestamp, Value)>> {
    let now = h.now();
    let series = h.series().id;
    // Strict mode does not apply to last: drop a `!` wherever ALEPIZ would accept it.
    let shift = match args.get(0) {
        None => None,
        Some(s) => {
            let s = s.trim_start_matches('!').replacen("#!", "#", 1);
            Some(clio_sdk::parse_term(&s, "shift")?)
        }
    };
    // A count as period is ignored, as in ALEPIZ (`last(0, #3)` is the newest record).
    let period = match args.get(1) {
        Some(p) if p.trim_start_matches('!').starts_with('#') => None,
        _ => args.duration(1, "period")?,
    };
    if period.is_some_and(|p| p < 0) {
        return Err(bad_argument("period", "a period cannot be negative"));
    }
    let period = period.filter(|&p| p > 0);
    // The "as of" instant, included in the lookup.
    let as_of = match shift {
        None => now - 1,
        Some(Term::Count(k)) => {
            let p = h.read_last(series, 1, k, now)?;
            return Ok(p.last().map(|(t, v)| (t, v.into())));
        }
        Some(Term::Duration(s)) if s < 0 => {
            return Err(bad_argument("shift", "a shift cannot be negative"));
        }
        Some(Term::Duration(0)) => now - 1,
        Some(Term::Duration(s)) => now.saturating_sub(s),
        Some(Term::Timestamp(t)) => t,
    };
    let end = as_of.saturating_add(1).min(now);
    let p = match period {
        None => h.read_last(series, 1, 0, end)?,
        Some(p) => h.read_range(series, as_of.saturating_sub(p).saturating_add(1), end, 1)?,
    };
    Ok(p.last()
        .map(|(t, v): (Timestamp, ValueRef<'_>)| (t, v.into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, per_minute};

    /// Values 1..=5 one minute apart, plus a string as the newest.
    fn h() -> MemHistory {
        let mut h = per_minute((1..=5).map(f64::from));
        h.push(NOW - 30_000, "newest");
        h
    }

    fn ts(i: i64) -> Value {
        Value::from(NOW - (6 - i) * 60_000)
    }

    #[test]
    fn every_form() {
        let h = h();
        let v = |p: &str| call(gettimestamp, &h, p).unwrap();
        assert_eq!(v(""), Some(Value::from(NOW - 30_000)));
        assert_eq!(v("#1"), Some(ts(5)));
        assert_eq!(v("#2"), Some(ts(4)));
        assert_eq!(v("2m"), Some(ts(4)));
        assert_eq!(v("2m, 30s"), Some(ts(4)));
        assert_eq!(v("150s, 20s"), None);
        assert_eq!(v(&(NOW - 180_000).to_string()), Some(ts(3)));
        assert_eq!(v("1h"), None);
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(call(gettimestamp, &MemHistory::new(NOW), "").unwrap(), None);
        let h = h();
        for (bad, name) in [
            ("abc", "shift"),
            ("-1m", "shift"),
            ("1m, abc", "period"),
            ("1m, -5m", "period"),
        ] {
            let e = call(gettimestamp, &h, bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{name}`")), "{bad}: {e}");
        }
    }
}
