//! Tables that several commands print (points and trend buckets), so that `clio query --db`
//! and `clio query` against a server look the same.

use clio_storage::{Point, Value, format_number};

use crate::timearg::format_time;

/// A value as a table cell: numbers in their shortest form, strings quoted.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Num(n) => format_number(*n),
        Value::Str(s) => format!("{s:?}"),
    }
}

/// Prints `TIME VALUE` rows; the caller prints the closing line.
pub fn print_points(points: &[Point]) {
    println!("{:<26} VALUE", "TIME");
    for p in points {
        println!("{:<26} {}", format_time(p.ts), show_value(&p.value));
    }
}

/// One trend row: start, count, avg (None when unknown), min, max, last.
pub type TrendRow = (i64, u64, Option<f64>, f64, f64, f64);

/// Prints a trend table with its count line.
pub fn print_trends(interval: &str, rows: impl ExactSizeIterator<Item = TrendRow>) {
    let n = rows.len();
    println!(
        "{:<26} {:>8} {:>14} {:>14} {:>14} {:>14}",
        format!("START ({interval})"),
        "COUNT",
        "AVG",
        "MIN",
        "MAX",
        "LAST"
    );
    for (start, count, avg, min, max, last) in rows {
        println!(
            "{:<26} {:>8} {:>14} {:>14} {:>14} {:>14}",
            format_time(start),
            count,
            avg.map_or_else(|| "-".into(), format_number),
            format_number(min),
            format_number(max),
            format_number(last)
        );
    }
    println!("({n} buckets)");
}
