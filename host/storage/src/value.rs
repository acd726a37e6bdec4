use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// A stored value: a finite number or a UTF-8 string (semantics.md section 1).
///
/// Serialises as a bare JSON number or string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A finite f64. NaN and infinities never get this far: [`Value::number`] rejects them.
    Num(f64),
    /// A string value.
    Str(String),
}

/// A value that cannot be stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// NaN or an infinity.
    #[error("{0} is not a finite number")]
    NotFinite(f64),
}

impl Value {
    /// A number value, rejecting NaN and ±Infinity.
    pub fn number(v: f64) -> Result<Self, ValueError> {
        if v.is_finite() {
            Ok(Value::Num(v))
        } else {
            Err(ValueError::NotFinite(v))
        }
    }

    /// Checks the invariant of a value built directly: numbers must be finite.
    pub fn validate(&self) -> Result<(), ValueError> {
        match self {
            Value::Num(v) if !v.is_finite() => Err(ValueError::NotFinite(*v)),
            _ => Ok(()),
        }
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            Value::Str(_) => None,
        }
    }

    /// The number, or a string that parses completely as a decimal number ("numeric-like").
    pub fn numeric_like(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            Value::Str(s) => parse_numeric_like(s),
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Num(_) => None,
        }
    }

    /// True for strings.
    pub fn is_str(&self) -> bool {
        matches!(self, Value::Str(_))
    }

    /// Approximate heap plus inline size, for the cache's memory accounting.
    pub fn mem_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::Num(_) => 0,
                Value::Str(s) => s.capacity(),
            }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Num(v)
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

impl fmt::Display for Value {
    /// Numbers print in their shortest round-trip form without a trailing `.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(v) => f.write_str(&format_number(*v)),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// The shortest text that reads back as the same f64, without a trailing `.0` (`5`, `1.5`,
/// `1e-7`), as semantics.md section 3 asks for the string form of a number.
pub fn format_number(v: f64) -> String {
    // Rust's `{}` for f64 is the shortest round-trip representation but never uses exponents;
    // `{:e}` is shortest with an exponent. Pick the shorter text, as JavaScript roughly does.
    let plain = format!("{v}");
    let exp = format!("{v:e}");
    let plain = plain.strip_suffix(".0").map(str::to_owned).unwrap_or(plain);
    if exp.len() < plain.len() { exp } else { plain }
}

/// Parses a string that is completely a decimal number after trimming whitespace
/// (`" 12 "`, `"1e3"`). Hex, binary, `inf` and `nan` are not numbers.
pub fn parse_numeric_like(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    // Only digits, sign, decimal point and exponent may appear; this rules out "inf", "NaN",
    // "0x10" and friends that Rust's parser would otherwise accept.
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// One timestamped value of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub ts: Timestamp,
    /// The value.
    pub value: Value,
}

impl Point {
    /// A point.
    pub fn new(ts: Timestamp, value: impl Into<Value>) -> Self {
        Point {
            ts,
            value: value.into(),
        }
    }
}

/// Merges two ascending lists; on equal timestamps the new value wins and the timestamp is
/// recorded in `replaced`. What a backend does when new points meet a stored chunk.
pub fn merge_points(old: Vec<Point>, new: &[Point], replaced: &mut Vec<Timestamp>) -> Vec<Point> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let mut new_it = new.iter().peekable();
    for p in old {
        while let Some(n) = new_it.next_if(|n| n.ts < p.ts) {
            out.push(n.clone());
        }
        match new_it.next_if(|n| n.ts == p.ts) {
            Some(n) => {
                replaced.push(n.ts);
                out.push(n.clone());
            }
            None => out.push(p),
        }
    }
    out.extend(new_it.cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_shortest() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(-0.25), "-0.25");
        assert_eq!(format_number(1e21), "1e21");
        assert_eq!(format_number(123456.0), "123456");
    }

    #[test]
    fn numeric_like_is_strict() {
        assert_eq!(parse_numeric_like(" 12 "), Some(12.0));
        assert_eq!(parse_numeric_like("1e3"), Some(1000.0));
        assert_eq!(parse_numeric_like("-1.5"), Some(-1.5));
        for bad in ["", " ", "0x10", "inf", "NaN", "1,5", "abc", "1e999"] {
            assert_eq!(parse_numeric_like(bad), None, "{bad}");
        }
    }

    #[test]
    fn non_finite_rejected() {
        assert!(Value::number(f64::NAN).is_err());
        assert!(Value::number(f64::INFINITY).is_err());
        assert!(Value::Num(f64::NEG_INFINITY).validate().is_err());
        assert!(Value::number(0.0).is_ok());
    }
}
