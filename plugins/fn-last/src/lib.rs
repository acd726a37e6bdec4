//! `last(shift, period)`: Value of the newest record, of the (K+1)-th newest, or of the newest as of a past time.
//!
//! - `last()`: the newest record; `last(#K)`: the (K+1)-th newest;
//! - `last(S)`: the newest record at or before `now − S` (the value as it was S ago);
//! - `last(S, P)`: the newest record in `(now − S − P, now − S]`;
//! - a timestamp instead of S means "as of that time".
//!
//! Strict mode does not apply (a `!` is ignored); nothing found is no data.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "last",
    description = "Value of the newest record, of the (K+1)-th newest, or of the newest as of a past time",
    params = [
        "shift?: #K records to skip, a time shift (5m) or a timestamp; default: the newest record",
        "period?: with a time shift, only records of the period that ends at now − shift",
    ],
)]
fn last(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    Ok(clio_sdk::shared::last_record(h, args)?.map(|(_, v)| v))
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
        let v = |p: &str| call(last, &h, p).unwrap();
        let _ = ts;
        assert_eq!(v(""), Some(Value::from("newest")));
        assert_eq!(v("0"), Some(Value::from("newest")));
        assert_eq!(v("#0"), Some(Value::from("newest")));
        assert_eq!(v("#1"), Some(Value::Num(5.0)));
        assert_eq!(v("#2, 5m"), Some(Value::Num(4.0))); // period ignored with #K
        // As of 2 minutes ago: the record exactly at now − 2m (value 4) is included.
        assert_eq!(v("2m"), Some(Value::Num(4.0)));
        assert_eq!(v("90s"), Some(Value::Num(4.0)));
        assert_eq!(v("2m, 30s"), Some(Value::Num(4.0)));
        assert_eq!(v("150s, 20s"), None); // (now−170s, now−150s] is empty
        assert_eq!(v("0, 1m"), Some(Value::from("newest")));
        assert_eq!(v("0, #3"), Some(Value::from("newest")));
        assert_eq!(v("!1m"), Some(Value::Num(5.0))); // strict ignored
        assert_eq!(v(&(NOW - 180_000).to_string()), Some(Value::Num(3.0)));
        assert_eq!(v("2023-11-14T22:10:20Z"), Some(Value::Num(3.0)));
        assert_eq!(v("1h"), None);
        assert_eq!(
            call(last, &h.clone().at(NOW - 200_000), "").unwrap(),
            Some(Value::Num(2.0))
        );
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(call(last, &MemHistory::new(NOW), "").unwrap(), None);
        let h = h();
        for (bad, name) in [
            ("abc", "shift"),
            ("-1m", "shift"),
            ("1m, abc", "period"),
            ("1m, -5m", "period"),
        ] {
            let e = call(last, &h, bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{name}`")), "{bad}: {e}");
        }
    }
}
