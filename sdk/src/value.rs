//! Values of points and of function results, the "numeric-like" rule and number formatting.

use std::borrow::Cow;
use std::fmt;

/// A value: a finite number or a UTF-8 string (semantics.md section 1).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number. Values read from history are always finite.
    Num(f64),
    /// A string.
    Str(String),
}

impl Value {
    /// Borrows the value.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Num(v) => ValueRef::Num(*v),
            Value::Str(s) => ValueRef::Str(s),
        }
    }

    /// The value as a number when it is numeric-like (see [`parse_number`]).
    pub fn as_number(&self) -> Option<f64> {
        self.as_ref().as_number()
    }

    /// The value's string form (numbers via [`format_number`]).
    pub fn to_text(&self) -> Cow<'_, str> {
        self.as_ref().to_text()
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Num(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        // Counts and timestamps stay far below 2^53, where this conversion is exact.
        Value::Num(v as f64)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Num(v as f64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Num(n) => Value::Num(n),
            ValueRef::Str(s) => Value::Str(s.to_owned()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// A borrowed value, as [`Points`](crate::Points) hands them out without copying strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A number.
    Num(f64),
    /// A string.
    Str(&'a str),
}

impl<'a> ValueRef<'a> {
    /// The value as a number when it is numeric-like: a number, or a string that parses
    /// completely as a decimal number after trimming whitespace.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            ValueRef::Num(v) => Some(*v),
            ValueRef::Str(s) => parse_number(s),
        }
    }

    /// The string form: the string itself, or the shortest text of the number.
    pub fn to_text(&self) -> Cow<'a, str> {
        match self {
            ValueRef::Num(v) => Cow::Owned(format_number(*v)),
            ValueRef::Str(s) => Cow::Borrowed(s),
        }
    }

    /// True for a string value (numeric-like or not).
    pub fn is_str(&self) -> bool {
        matches!(self, ValueRef::Str(_))
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Parses a numeric-like string: surrounding whitespace is ignored and the rest must be a
/// complete, finite decimal number (`" 12 "`, `"1e3"`, `"-.5"`). Hex (`0x1A`), binary, `inf`,
/// `NaN` and the empty string are not numbers.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    // Rust's float parser also accepts "inf", "infinity" and "nan" in any case; the finiteness
    // test removes them. It rejects hex and binary literals already.
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The shortest text that reads back as the same f64, without a trailing `.0`: `5`, `1.5`,
/// `1e-7`, `-0.25`, `1e21`.
pub fn format_number(v: f64) -> String {
    // `{:?}` is Rust's shortest round-trip form and switches to exponent notation for very
    // small and very large magnitudes (`1e-7`, `1e16`), unlike `{}` which spells out zeros.
    let mut s = format!("{v:?}");
    if let Some(stripped) = s.strip_suffix(".0") {
        s.truncate(stripped.len());
    } else if let Some(pos) = s.find(".0e") {
        // `{:?}` never prints `1.0e20`, but keep the rule robust across toolchains.
        s.replace_range(pos..pos + 2, "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_like_strings() {
        assert_eq!(parse_number(" 12 "), Some(12.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("-.5"), Some(-0.5));
        assert_eq!(parse_number("+7"), Some(7.0));
        for bad in [
            "", "  ", "12abc", "0x1A", "0b101", "inf", "Infinity", "NaN", "1e400", "1_000",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn number_formatting() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(-0.25), "-0.25");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1e21), "1e21");
        assert_eq!(format_number(123456.0), "123456");
        for v in [1e-7, 0.1, 12345.678, 1e300, -3.0, 2.5e-10] {
            assert_eq!(format_number(v).parse::<f64>().ok(), Some(v));
        }
    }

    #[test]
    fn value_views() {
        assert_eq!(Value::from("  3 ").as_number(), Some(3.0));
        assert_eq!(Value::from("abc").as_number(), None);
        assert_eq!(Value::from(5.0).to_text(), "5");
        assert_eq!(Value::from(2_i64), Value::Num(2.0));
        assert!(ValueRef::Str("1").is_str());
    }

    proptest::proptest! {
        #[test]
        fn formatting_round_trips(v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let s = format_number(v);
            proptest::prop_assert!(!s.ends_with(".0"));
            proptest::prop_assert_eq!(parse_number(&s), Some(v));
        }
    }
}
