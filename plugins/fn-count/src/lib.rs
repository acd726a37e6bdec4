//! `count(num, shift, pattern, operator)`: the number of records in the window; with a
//! pattern, of the records that match it. A strict window that is not well covered counts 0.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value, ValueRef, bad_argument, parse_number};
use regex::{Regex, RegexBuilder};

#[clio_sdk::history_function(
    name = "count",
    description = "Number of records in the window, or of those matching a pattern",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "pattern?: the value to compare with; empty counts every record",
        "operator?: eq (default) ne gt ge lt le eqstr ieqstr like ilike regexp iregexp, or a number d: |v - pattern| < d",
    ],
)]
fn count(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    // Check pattern and operator before reading, so a bad call fails the same on any data.
    let matcher = match args.get(2) {
        None => None,
        Some(p) => Some(Matcher::new(p, args.get(3))?),
    };
    // One chunk in memory at a time: counting needs nothing else.
    let mut matching = 0_u64;
    let covered = window.for_each_chunk(h, |chunk| {
        if let Some(m) = &matcher {
            matching += chunk.iter().filter(|(_, v)| m.matches(*v)).count() as u64;
        }
        Ok(())
    })?;
    let Some(covered) = covered else {
        return Ok(Some(Value::Num(0.0)));
    };
    let n = match matcher {
        None => covered.points,
        Some(_) => matching,
    };
    Ok(Some(Value::from(n)))
}

/// A compiled pattern + operator.
#[derive(Debug)]
enum Matcher {
    /// eq ne gt ge lt le: numbers compare as numbers when both sides are numeric-like,
    /// otherwise the string forms compare as strings.
    Compare {
        pattern: String,
        num: Option<f64>,
        op: Cmp,
    },
    EqStr(String),
    IEqStr(String),
    Like(String),
    ILike(String),
    Regexp(Regex),
    /// `|v − pattern| < d`.
    Near {
        pattern: f64,
        d: f64,
    },
}

/// The ordering operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Matcher {
    fn new(pattern: &str, operator: Option<&str>) -> Result<Matcher> {
        let op = operator.unwrap_or("eq").to_ascii_lowercase();
        let cmp = |op| Matcher::Compare {
            pattern: pattern.to_owned(),
            num: parse_number(pattern),
            op,
        };
        let regex = |ci: bool| {
            RegexBuilder::new(pattern)
                .case_insensitive(ci)
                .size_limit(1 << 20)
                .build()
                .map(Matcher::Regexp)
                .map_err(|e| {
                    bad_argument("pattern", format!("not a valid regular expression: {e}"))
                })
        };
        Ok(match op.as_str() {
            // ALEPIZ reads the operator `0` as "no operator", i.e. eq.
            "eq" | "0" => cmp(Cmp::Eq),
            "ne" => cmp(Cmp::Ne),
            "gt" => cmp(Cmp::Gt),
            "ge" => cmp(Cmp::Ge),
            "lt" => cmp(Cmp::Lt),
            "le" => cmp(Cmp::Le),
            "eqstr" => Matcher::EqStr(pattern.to_owned()),
            "ieqstr" => Matcher::IEqStr(pattern.to_lowercase()),
            "like" => Matcher::Like(pattern.to_owned()),
            "ilike" => Matcher::ILike(pattern.to_lowercase()),
            "regexp" => regex(false)?,
            "iregexp" => regex(true)?,
            other => {
                let Some(d) = parse_number(other) else {
                    return Err(bad_argument(
                        "operator",
                        format!("unknown operator `{other}`"),
                    ));
                };
                let Some(p) = parse_number(pattern) else {
                    return Err(bad_argument(
                        "pattern",
                        format!("`{pattern}` must be a number for the numeric operator {other}"),
                    ));
                };
                Matcher::Near { pattern: p, d }
            }
        })
    }

    fn matches(&self, v: ValueRef<'_>) -> bool {
        match self {
            Matcher::Compare { pattern, num, op } => {
                let ord = match (v.as_number(), num) {
                    (Some(a), Some(b)) => a.partial_cmp(b),
                    _ => Some(v.to_text().as_ref().cmp(pattern.as_str())),
                };
                let Some(ord) = ord else { return false };
                match op {
                    Cmp::Eq => ord.is_eq(),
                    Cmp::Ne => ord.is_ne(),
                    Cmp::Gt => ord.is_gt(),
                    Cmp::Ge => ord.is_ge(),
                    Cmp::Lt => ord.is_lt(),
                    Cmp::Le => ord.is_le(),
                }
            }
            Matcher::EqStr(p) => v.to_text() == p.as_str(),
            Matcher::IEqStr(p) => v.to_text().to_lowercase() == *p,
            Matcher::Like(p) => v.to_text().contains(p.as_str()),
            Matcher::ILike(p) => v.to_text().to_lowercase().contains(p.as_str()),
            Matcher::Regexp(r) => r.is_match(&v.to_text()),
            Matcher::Near { pattern, d } => v.as_number().is_some_and(|x| (x - pattern).abs() < *d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_same_over_many_chunks, call, num, per_minute};

    fn h() -> MemHistory {
        per_minute([
            Value::Num(10.0),
            Value::Num(15.0),
            Value::from("15"),
            Value::Num(16.5),
            Value::from("Alarm: disk"),
            Value::from("alarm: cpu"),
            Value::Num(5.0),
        ])
    }

    #[test]
    fn counting_records() {
        let h = h();
        assert_eq!(num(count, &h, "#10"), Some(7.0));
        assert_eq!(num(count, &h, "#3"), Some(3.0));
        assert_eq!(num(count, &h, "#3, #2"), Some(3.0));
        assert_eq!(num(count, &h, "3m"), Some(3.0));
        assert_eq!(num(count, &h, "3m, 3m"), Some(3.0));
        assert_eq!(num(count, &h, "0"), Some(1.0));
        assert_eq!(num(count, &h, "2m, #1"), Some(2.0));
        // An empty pattern is no pattern: every record counts, whatever the operator.
        assert_eq!(num(count, &h, "#10, 0, , gt"), Some(7.0));
        assert_eq!(num(count, &MemHistory::new(NOW), "#10"), Some(0.0));
    }

    #[test]
    fn strict_failure_counts_zero() {
        let h = h();
        assert_eq!(num(count, &h, "!#10"), Some(0.0));
        assert_eq!(num(count, &h, "!#7"), Some(7.0));
        assert_eq!(num(count, &h, "!1h"), Some(0.0));
    }

    #[test]
    fn numeric_operators() {
        let h = h();
        assert_eq!(num(count, &h, "#10, 0, 15"), Some(2.0)); // 15 and "15"
        assert_eq!(num(count, &h, "#10, 0, 15, eq"), Some(2.0));
        assert_eq!(num(count, &h, "#10, 0, 15, EQ"), Some(2.0));
        assert_eq!(num(count, &h, "#10, 0, 15, 0"), Some(2.0));
        assert_eq!(num(count, &h, "#10, 0, 15, ne"), Some(5.0));
        assert_eq!(num(count, &h, "#10, 0, 15, gt"), Some(3.0)); // 16.5 and both strings ("A…" > "15")
        assert_eq!(num(count, &h, "#10, 0, 15, ge"), Some(5.0));
        assert_eq!(num(count, &h, "#10, 0, 15, lt"), Some(2.0));
        assert_eq!(num(count, &h, "#10, 0, 15, le"), Some(4.0));
        // |v − 15| < 2: 15, "15", 16.5.
        assert_eq!(num(count, &h, "#10, 0, 15, 2"), Some(3.0));
        assert_eq!(num(count, &h, "#10, 0, 15, 1.5"), Some(2.0));
    }

    #[test]
    fn string_operators() {
        let h = h();
        assert_eq!(num(count, &h, "#10, 0, 15, eqstr"), Some(2.0)); // 15 and "15"
        assert_eq!(num(count, &h, "#10, 0, 16.5, eqstr"), Some(1.0));
        assert_eq!(num(count, &h, "#10, 0, ALARM: CPU, ieqstr"), Some(1.0));
        assert_eq!(num(count, &h, "#10, 0, alarm, like"), Some(1.0));
        assert_eq!(num(count, &h, "#10, 0, alarm, ilike"), Some(2.0));
        assert_eq!(num(count, &h, "#10, 0, ^a, regexp"), Some(1.0));
        assert_eq!(num(count, &h, "#10, 0, ^a, iregexp"), Some(2.0));
        assert_eq!(num(count, &h, "#10, 0, ^1\\d$, regexp"), Some(3.0)); // 10, 15, "15"
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let window = args.window(0, 1)?;
        let matcher = match args.get(2) {
            None => None,
            Some(p) => Some(Matcher::new(p, args.get(3))?),
        };
        let Some(points) = window.fetch(h)? else {
            return Ok(Some(Value::Num(0.0)));
        };
        let n = match &matcher {
            None => points.len(),
            Some(m) => points.iter().filter(|(_, v)| m.matches(*v)).count(),
        };
        Ok(Some(Value::from(n as u64)))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(
            count,
            fetched,
            &[
                "#3000, 0, 1000000, gt",
                "2500s, 0, n/a",
                "!#3400, 0, 5",
                "#3000, 0, ^ , regexp",
                "#2990, #3, 1000500, 300",
            ],
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let h = h();
        let e = call(count, &h, "#10, 0, 15, between").unwrap_err();
        assert!(e.to_string().contains("`operator`"), "{e}");
        let e = call(count, &h, "#10, 0, abc, 2").unwrap_err();
        assert!(e.to_string().contains("`pattern`"), "{e}");
        let e = call(count, &h, "#10, 0, (, regexp").unwrap_err();
        assert!(e.to_string().contains("`pattern`"), "{e}");
        assert!(call(count, &h, "").is_err());
    }
}
