//! Writing Clio points as line protocol (millisecond precision), the inverse of the parser.

use std::fmt::Write as _;

use clio_storage::{SeriesKey, Timestamp, Value, format_number};

/// A series key that line protocol cannot spell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A name contains a newline, which no escape can carry.
    #[error("`{0}` contains a newline, which line protocol cannot carry in a name")]
    Newline(String),
    /// A name ends with a backslash, which InfluxDB's parsers reject.
    #[error("`{0}` ends with a backslash, which line protocol rejects in a name")]
    TrailingBackslash(String),
    /// The measurement starts with `#` (the line would be a comment) or with a tab or NUL
    /// (which the parser skips as leading whitespace), or a field name starts with a tab or NUL.
    #[error("`{0}` starts with a character line protocol cannot carry there")]
    BadStart(String),
    /// A name contains a NUL byte, which the parser refuses in names.
    #[error("`{0}` contains a NUL byte, which line protocol refuses in a name")]
    Nul(String),
}

/// Appends `key value ts\n` as one line of line protocol with a millisecond timestamp (parse it
/// with [`crate::Precision::Ms`]). Numbers use their shortest round-trip form, so parsing the
/// line gives back exactly `key`, `value` and `ts`.
pub fn write_point(
    out: &mut String,
    key: &SeriesKey,
    value: &Value,
    ts: Timestamp,
) -> Result<(), FormatError> {
    let m = key.measurement();
    if m.starts_with(['#', '\t', '\0']) {
        return Err(FormatError::BadStart(m.to_owned()));
    }
    if key.field().starts_with(['\t', '\0']) {
        return Err(FormatError::BadStart(key.field().to_owned()));
    }
    escape_name(out, m, b", \\")?;
    for (k, v) in key.tags() {
        out.push(',');
        escape_name(out, k, b",= \\")?;
        out.push('=');
        escape_name(out, v, b",= \\")?;
    }
    out.push(' ');
    escape_name(out, key.field(), b",= \\")?;
    out.push('=');
    match value {
        Value::Num(v) => out.push_str(&format_number(*v)),
        Value::Str(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, " {ts}");
    Ok(())
}

fn escape_name(out: &mut String, s: &str, special: &[u8]) -> Result<(), FormatError> {
    if s.contains('\n') {
        return Err(FormatError::Newline(s.to_owned()));
    }
    if s.contains('\0') {
        // The parser refuses NUL in names: a key holding one cannot round-trip.
        return Err(FormatError::Nul(s.to_owned()));
    }
    if s.ends_with('\\') {
        return Err(FormatError::TrailingBackslash(s.to_owned()));
    }
    for c in s.chars() {
        if c.is_ascii() && special.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(())
}
