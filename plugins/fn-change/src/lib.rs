//! `change(num, shift, dataType)`: Newest minus oldest value of the window; for strings 0 when equal, else 1.
//! `num` defaults to `#2` (the last two records); needs 2 records, else no data. A true
//! `dataType` compares the string forms even of numbers.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value};

/// True for absChange: absolute numeric difference, case-insensitive string comparison.
const ABSOLUTE: bool = false;

#[clio_sdk::history_function(
    name = "change",
    description = "Newest minus oldest value of the window; for strings 0 when equal, else 1",
    params = [
        "num?: the window: #N records (default #2), a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "dataType?: 1 to compare the values as strings",
    ],
)]
fn change(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    clio_sdk::shared::change(h, args, ABSOLUTE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    #[test]
    fn numbers_and_window_forms() {
        let h = per_minute([1.0, 4.0, 9.0, 16.0, 10.0]);
        assert_eq!(num(change, &h, ""), Some(-6.0));
        assert_eq!(num(change, &h, "#2"), Some(-6.0));
        assert_eq!(num(change, &h, "#3"), Some(1.0));
        assert_eq!(num(change, &h, "#5"), Some(9.0));
        assert_eq!(num(change, &h, ", #1"), Some(7.0));
        assert_eq!(num(change, &h, "#2, 1m"), Some(7.0));
        assert_eq!(num(change, &h, "3m"), Some(1.0));
        assert_eq!(num(change, &h, "2m, 2m"), Some(5.0));
        assert_eq!(num(change, &h, "2m, #1"), Some(7.0));
    }

    #[test]
    fn strings_compare_case_sensitively() {
        let h = per_minute([
            Value::from("up"),
            Value::from("UP"),
            Value::from("UP"),
            Value::Num(5.0),
            Value::from("5"),
        ]);
        assert_eq!(num(change, &h, "#3, #2"), Some(1.0)); // "up" vs "UP"
        assert_eq!(num(change, &h, "#2, #1"), Some(1.0)); // "UP" vs 5
        assert_eq!(num(change, &h, "#2"), Some(0.0)); // 5 and "5" are numbers: 5 − 5
        assert_eq!(num(change, &h, "#2, , 1"), Some(0.0)); // string forms "5" and "5"
        assert_eq!(num(change, &h, "#2, #2"), Some(0.0)); // "UP" vs "UP"
    }

    #[test]
    fn too_few_records_strict_and_errors() {
        let h = per_minute([1.0, 3.0]);
        assert_eq!(num(change, &h, "#1"), None);
        assert_eq!(num(change, &h, "0"), None);
        assert_eq!(num(change, &h, "#2, #1"), None);
        assert_eq!(num(change, &MemHistory::new(NOW), ""), None);
        assert_eq!(num(change, &h, "!#3"), None);
        assert!(num(change, &h, "!#2").is_some());
        assert!(call(change, &h, "#2, , maybe").is_err());
        assert!(call(change, &h, "#x").is_err());
    }
}
