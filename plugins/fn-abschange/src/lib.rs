//! `absChange(num, shift, dataType)`: Absolute difference of the newest and oldest values; for strings 0 when equal ignoring case, else 1.
//! `num` defaults to `#2` (the last two records); needs 2 records, else no data. A true
//! `dataType` compares the string forms even of numbers.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

/// True for absChange: absolute numeric difference, case-insensitive string comparison.
const ABSOLUTE: bool = true;

#[clio_sdk::history_function(
    name = "absChange",
    description = "Absolute difference of the newest and oldest values; for strings 0 when equal ignoring case, else 1",
    params = [
        "num?: the window: #N records (default #2), a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "dataType?: 1 to compare the values as strings",
    ],
)]
fn abschange(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    clio_sdk::shared::change(h, args, ABSOLUTE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    #[test]
    fn numbers_and_window_forms() {
        let h = per_minute([1.0, 4.0, 9.0, 16.0, 10.0]);
        assert_eq!(num(abschange, &h, ""), Some(6.0));
        assert_eq!(num(abschange, &h, "#2"), Some(6.0));
        assert_eq!(num(abschange, &h, "#3"), Some(1.0));
        assert_eq!(num(abschange, &h, "#5"), Some(9.0));
        assert_eq!(num(abschange, &h, "#2, 1m"), Some(7.0));
        assert_eq!(num(abschange, &h, "3m"), Some(1.0));
        assert_eq!(num(abschange, &h, "2m, #1"), Some(7.0));
    }

    #[test]
    fn strings_compare_ignoring_case() {
        let h = per_minute([
            Value::from("up"),
            Value::from("UP"),
            Value::from("down"),
            Value::Num(5.0),
            Value::from("5.0"),
        ]);
        assert_eq!(num(abschange, &h, "#2, #3"), Some(0.0));
        assert_eq!(num(abschange, &h, "#2, #2"), Some(1.0));
        assert_eq!(num(abschange, &h, "#2"), Some(0.0)); // numbers 5 and 5
        assert_eq!(num(abschange, &h, "#2, , 1"), Some(1.0)); // "5" vs "5.0"
    }

    #[test]
    fn too_few_records_strict_and_errors() {
        let h = per_minute([1.0, 3.0]);
        assert_eq!(num(abschange, &h, "#1"), None);
        assert_eq!(num(abschange, &h, "0"), None);
        assert_eq!(num(abschange, &h, "#2, #1"), None);
        assert_eq!(num(abschange, &MemHistory::new(NOW), ""), None);
        assert_eq!(num(abschange, &h, "!#3"), None);
        assert!(num(abschange, &h, "!#2").is_some());
        assert!(call(abschange, &h, "#2, , maybe").is_err());
        assert!(call(abschange, &h, "#x").is_err());
    }
}
