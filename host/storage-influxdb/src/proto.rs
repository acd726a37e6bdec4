//! Line protocol and InfluxQL spelling: escaping, quoting, numbers.

use std::fmt::Write as _;

/// A measurement name in line protocol.
pub(crate) fn measurement(out: &mut String, s: &str) {
    escape(out, s, &[',', ' ']);
}

/// A tag key, tag value or field key in line protocol.
pub(crate) fn name(out: &mut String, s: &str) {
    escape(out, s, &[',', ' ', '=']);
}

fn escape(out: &mut String, s: &str, special: &[char]) {
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A string field value, quoted.
pub(crate) fn string_value(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A float field value: shortest round-trip spelling, so it reads back bit for bit (`-0e0`
/// keeps its sign). The caller makes sure it is finite.
pub(crate) fn float_value(out: &mut String, v: f64) {
    let _ = write!(out, "{v:e}");
}

/// Characters that line protocol cannot carry in a measurement, tag or field name.
pub(crate) fn name_is_writable(s: &str) -> bool {
    !s.contains(['\n', '\r']) && !s.ends_with('\\')
}

/// An InfluxQL identifier, double-quoted.
pub(crate) fn ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An InfluxQL string literal, single-quoted.
pub(crate) fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        measurement(&mut s, "a b,c=d");
        assert_eq!(s, "a\\ b\\,c=d");
        s.clear();
        name(&mut s, "a b,c=d");
        assert_eq!(s, "a\\ b\\,c\\=d");
        s.clear();
        string_value(&mut s, "q\"\\x");
        assert_eq!(s, "\"q\\\"\\\\x\"");
        s.clear();
        float_value(&mut s, -0.0);
        assert_eq!(s, "-0e0");
        assert_eq!(ident("a\"b"), "\"a\\\"b\"");
        assert_eq!(literal("it's"), "'it\\'s'");
    }
}
