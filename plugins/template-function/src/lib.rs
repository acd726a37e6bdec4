//! A template for a new Clio history function: `median(num, shift)`, the median of the
//! numeric values in the window. Copy this directory, rename the crate and the function, and
//! follow docs/plugins.md. The host's build only builds `fn-*` crates, so this one is not
//! part of Clio's built-in set.
#![deny(missing_docs)]

use clio_sdk::stats::median_sorted;
use clio_sdk::{Args, History, Result, Value};

// The attribute turns the function into the plugin's export. `name` is what callers write
// in `/api/v1/series/{id}/fn/{name}`; each `params` entry is "name: description", with a `?`
// after the name when the parameter may be left empty.
#[clio_sdk::history_function(
    name = "median",
    description = "Median of the numeric values in the window",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
    ],
)]
fn median(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    // Parameters 0 and 1 are the ALEPIZ-style window; a bad one is an error naming it.
    let window = args.window(0, 1)?;
    // `fetch` reads the whole window; `None` means a strict window (`!#10`) that is not well
    // covered, which answers "no data".
    let Some(points) = window.fetch(h)? else {
        return Ok(None);
    };
    // Numeric-like values only: numbers, and strings such as " 12 " that parse as numbers.
    // `into_numbers` hands the column over without a copy when every value is a number.
    let mut values = points.into_numbers();
    values.sort_unstable_by(f64::total_cmp);
    // `None` is "no data" (`null` in JSON).
    Ok(median_sorted(&values).map(Value::Num))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, num, per_minute};

    #[test]
    fn median_of_the_window() {
        // One point a minute; the newest is one minute before NOW.
        let h = per_minute([5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!(num(median, &h, "#5"), Some(3.0));
        assert_eq!(num(median, &h, "#4"), Some(2.5));
        assert_eq!(num(median, &h, "2m, 1m"), Some(3.0)); // 4 and 2
        assert_eq!(num(median, &h, "!#10"), None); // strict: 5 of 10 records
        assert_eq!(num(median, &MemHistory::new(NOW), "#5"), None);
        assert!(call(median, &h, "#x").is_err());
    }
}
