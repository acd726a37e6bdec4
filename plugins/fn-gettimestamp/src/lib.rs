//! `getTimestamp(shift, period)`: Timestamp (ms) of the record last() with the same parameters picks.
//!
//! - `getTimestamp()`: the newest record; `getTimestamp(#K)`: the (K+1)-th newest;
//! - `getTimestamp(S)`: the newest record at or before `now − S` (the value as it was S ago);
//! - `getTimestamp(S, P)`: the newest record in `(now − S − P, now − S]`;
//! - a timestamp instead of S means "as of that time".
//!
//! Strict mode does not apply (a `!` is ignored); nothing found is no data.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "getTimestamp",
    description = "Timestamp (ms) of the record last() with the same parameters picks",
    params = [
        "shift?: #K records to skip, a time shift (5m) or a timestamp; default: the newest record",
        "period?: with a time shift, only records of the period that ends at now − shift",
    ],
)]
fn gettimestamp(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    Ok(clio_sdk::shared::last_record(h, args)?.map(|(ts, _)| Value::from(ts)))
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
