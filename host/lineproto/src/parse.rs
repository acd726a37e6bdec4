//! The byte-level parser for one line, and the line splitter used to skip a bad line.
//!
//! Grammar (InfluxDB line protocol, as the Go parser of InfluxDB 1.x/2.x and the Rust parser of
//! InfluxDB 3 agree on it):
//!
//! ```text
//! line        = measurement ["," tag *("," tag)] " " *ws field *("," field) [" " *ws timestamp] *" "
//! tag         = key "=" key
//! field       = key "=" value
//! value       = float | int "i" | uint "u" | bool | '"' string '"'
//! ```
//!
//! A backslash escapes the characters that would otherwise end a token: `,` and space in a
//! measurement; `,`, `=` and space in tag names, tag values and field names; and a backslash
//! itself (`\\` is one backslash). A backslash before any other character is a literal
//! backslash. In strings only `\"` and `\\` are escapes. These names may not end with a
//! backslash, as both InfluxDB parsers reject that.

use std::borrow::Cow;

use crate::Precision;
use crate::line::{FieldValue, LineRef};
use crate::number::{NumError, parse_float, parse_i64, parse_u64};

/// InfluxDB's limit on the size of a series key (measurement, tags and field name).
pub(crate) const MAX_KEY_LEN: usize = 65_535;

/// Why a line is invalid. The texts start with InfluxDB's own wording where it has one, so
/// clients that match on it keep working.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Reason {
    #[error("missing measurement")]
    MissingMeasurement,
    #[error("missing fields")]
    MissingFields,
    #[error("missing tag key")]
    MissingTagKey,
    #[error("missing tag value")]
    MissingTagValue,
    #[error("invalid tag format")]
    InvalidTagFormat,
    #[error("duplicate tags: `{0}` appears more than once")]
    DuplicateTag(String),
    #[error("missing field key")]
    MissingFieldKey,
    #[error("missing field value")]
    MissingFieldValue,
    #[error("invalid field format")]
    InvalidFieldFormat,
    #[error("invalid number `{0}`")]
    InvalidNumber(String),
    #[error("invalid number `{0}`: NaN and infinities are not supported")]
    NotFinite(String),
    #[error("invalid float `{0}`: out of range")]
    FloatRange(String),
    #[error("unable to parse integer {0}: value out of range")]
    IntRange(String),
    #[error("unable to parse unsigned {0}: value out of range")]
    UintRange(String),
    #[error("invalid boolean `{0}`")]
    InvalidBoolean(String),
    #[error("unbalanced quotes")]
    UnbalancedQuotes,
    #[error("bad timestamp `{0}`")]
    BadTimestamp(String),
    #[error("time outside range {0}")]
    TimeOutOfRange(String),
    #[error("point is invalid: unexpected text after the timestamp")]
    TrailingText,
    #[error(
        "invalid escape: measurements, tag keys and values, and field keys may not end with a backslash"
    )]
    TrailingBackslash,
    #[error("max key length exceeded: {0} > {MAX_KEY_LEN}")]
    KeyTooLong(usize),
    #[error("line too long: more than {0} bytes")]
    LineTooLong(usize),
    #[error("invalid UTF-8")]
    InvalidUtf8,
    #[error("invalid {0}: it holds a NUL byte")]
    NulByte(&'static str),
    #[error("invalid series key: {0}")]
    Key(#[from] clio_storage::KeyError),
}

/// The parser's error: boxed, so that the `Result`s of the hot path stay two words and their
/// drop is trivial.
pub(crate) type Fail = Box<Reason>;

#[cold]
fn fail<T>(reason: Reason) -> Result<T, Fail> {
    Err(Box::new(reason))
}

/// Quotes at most this many characters of a bad token in an error message, so that a
/// megabyte of garbage does not become a megabyte of error.
const MAX_TOKEN_IN_MESSAGE: usize = 40;

fn quote_bytes(tok: &[u8]) -> String {
    quote_token(&String::from_utf8_lossy(tok))
}

fn quote_token(tok: &str) -> String {
    match tok.char_indices().nth(MAX_TOKEN_IN_MESSAGE) {
        Some((at, _)) => format!("{}...", &tok[..at]),
        None => tok.to_owned(),
    }
}

/// What the parser needs besides the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineConfig {
    pub precision: Precision,
    /// Already truncated to the precision.
    pub default_ts: i64,
}

/// A parsed line's extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineEnd {
    /// Index of the `\n` that ends the line, or the text length.
    pub end: usize,
    /// Newlines inside the line (in string values), for line numbering.
    pub newlines: usize,
}

const fn table(stops: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
}

// Bytes that end (or interrupt, for `\`) a token. `\r` is only a line end before `\n` or at
// the end of the text; `scan_token` checks that.
static MEASUREMENT_STOPS: [bool; 256] = table(b", \\\n\r");
static KEY_STOPS: [bool; 256] = table(b",= \\\n\r");
static VALUE_STOPS: [bool; 256] = table(b", \n\r");
static TIMESTAMP_STOPS: [bool; 256] = table(b" \n\r");
static STRING_STOPS: [bool; 256] = table(b"\"\\\n");

/// Characters a backslash escapes in a measurement, and in tag and field names.
const MEASUREMENT_ESCAPES: &[u8] = b", \\";
const KEY_ESCAPES: &[u8] = b",= \\";

/// Leading whitespace that InfluxDB skips at the start of a line and between sections.
#[inline]
pub(crate) fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == 0
}

/// True at the end of the text, at `\n`, and at a `\r` that ends the line (CRLF).
#[inline(always)]
fn is_eol(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        None | Some(b'\n') => true,
        Some(b'\r') => matches!(b.get(i + 1), None | Some(b'\n')),
        Some(_) => false,
    }
}

/// Scans from `i` to the first byte of `stops` that is not escaped, treating `\x` as a pair
/// (as InfluxDB's splitter does). Returns that position (or the text length) and whether a
/// backslash was seen.
#[inline(always)]
fn scan_token(b: &[u8], mut i: usize, stops: &[bool; 256]) -> (usize, bool) {
    let n = b.len();
    let mut escaped = false;
    loop {
        while i < n && !stops[usize::from(b[i])] {
            i += 1;
        }
        if i >= n {
            return (n, escaped);
        }
        match b[i] {
            b'\\' => {
                escaped = true;
                i = (i + 2).min(n);
            }
            // A lone CR inside a token is an ordinary character.
            b'\r' if !is_eol(b, i) => i += 1,
            _ => return (i, escaped),
        }
    }
}

/// Scans an unescaped token (number, boolean, timestamp) up to a stop byte.
#[inline(always)]
fn scan_plain(b: &[u8], mut i: usize, stops: &[bool; 256]) -> usize {
    let n = b.len();
    loop {
        while i < n && !stops[usize::from(b[i])] {
            i += 1;
        }
        if i < n && b[i] == b'\r' && !is_eol(b, i) {
            i += 1;
            continue;
        }
        return i;
    }
}

/// `text[a..e]`; both ends are at ASCII bytes or the text's ends, so this never fails on
/// valid UTF-8, but an error beats a panic if that reasoning is ever wrong.
#[inline(always)]
fn slice(text: &str, a: usize, e: usize) -> Result<&str, Fail> {
    text.get(a..e).ok_or_else(|| Box::new(Reason::InvalidUtf8))
}

/// The unescaped name `text[a..e]`. An escaped newline (`\` before `\n`) continues the line,
/// as in InfluxDB, so it is counted for line numbering.
#[inline(always)]
fn name<'a>(
    text: &'a str,
    a: usize,
    e: usize,
    escaped: bool,
    set: &[u8],
    newlines: &mut usize,
) -> Result<Cow<'a, str>, Fail> {
    let raw = slice(text, a, e)?;
    if !escaped {
        return Ok(Cow::Borrowed(raw));
    }
    *newlines += raw.bytes().filter(|&c| c == b'\n').count();
    unescape_name(raw, set).map(Cow::Owned)
}

/// `b[a..e]`, without a panic path.
#[inline(always)]
fn bytes(b: &[u8], a: usize, e: usize) -> Result<&[u8], Fail> {
    b.get(a..e)
        .ok_or_else(|| Box::new(Reason::InvalidFieldFormat))
}

/// Removes the escapes of a measurement or name.
#[cold]
fn unescape_name(raw: &str, set: &[u8]) -> Result<String, Fail> {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && set.contains(&b[i + 1]) {
            // `run..i` ends at an ASCII backslash and starts at the text start or at an
            // escaped ASCII byte, so both are char boundaries.
            out.push_str(slice(raw, run, i)?);
            run = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(slice(raw, run, b.len())?);
    if out.ends_with('\\') {
        return fail(Reason::TrailingBackslash);
    }
    Ok(out)
}

/// Removes the escapes of a string field value: `\"` and `\\`; other backslashes are literal.
fn unescape_string(raw: &str) -> Result<String, Fail> {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && (b[i + 1] == b'"' || b[i + 1] == b'\\') {
            out.push_str(slice(raw, run, i)?);
            run = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(slice(raw, run, b.len())?);
    Ok(out)
}

/// Parses the line that starts at `start` (after leading whitespace; not blank, not a
/// comment) into `out`. On success returns where the line ends; the caller continues after
/// that `\n`.
pub(crate) fn parse_line<'a>(
    text: &'a str,
    start: usize,
    cfg: &LineConfig,
    out: &mut LineRef<'a>,
) -> Result<LineEnd, Fail> {
    out.clear();
    let b = text.as_bytes();
    let n = b.len();
    let mut newlines = 0;

    // Measurement.
    if b.get(start) == Some(&b',') {
        return fail(Reason::MissingMeasurement);
    }
    let (mut i, escaped) = scan_token(b, start, &MEASUREMENT_STOPS);
    if i == start {
        return fail(Reason::MissingMeasurement);
    }
    if is_eol(b, i) {
        return fail(Reason::MissingFields);
    }
    out.measurement = name(text, start, i, escaped, MEASUREMENT_ESCAPES, &mut newlines)?;

    // Tags.
    if b[i] == b',' {
        i += 1;
        loop {
            if is_eol(b, i) || matches!(b[i], b' ' | b',' | b'=') {
                return fail(Reason::MissingTagKey);
            }
            let (e, escaped) = scan_token(b, i, &KEY_STOPS);
            if e >= n || b[e] != b'=' {
                return fail(Reason::MissingTagValue);
            }
            let key = name(text, i, e, escaped, KEY_ESCAPES, &mut newlines)?;
            i = e + 1;
            if is_eol(b, i) || matches!(b[i], b' ' | b',') {
                return fail(Reason::MissingTagValue);
            }
            let (e, escaped) = scan_token(b, i, &KEY_STOPS);
            let value = name(text, i, e, escaped, KEY_ESCAPES, &mut newlines)?;
            out.tags.push((key, value));
            if is_eol(b, e) {
                return fail(Reason::MissingFields);
            }
            i = e + 1;
            match b[e] {
                b',' => continue,
                b' ' => break,
                // Only `=` is left among the stops.
                _ => return fail(Reason::InvalidTagFormat),
            }
        }
        // `i` is past the space; the key ends before it.
        i -= 1;
    }
    out.raw_key = slice(text, start, i)?;
    if out.raw_key.len() > MAX_KEY_LEN {
        return fail(Reason::KeyTooLong(out.raw_key.len()));
    }
    // Names are identifiers, not data: a NUL byte there is a broken client (string field
    // values may hold one).
    if out.raw_key.as_bytes().contains(&0) {
        let what = if out.measurement.as_bytes().contains(&0) {
            "measurement"
        } else {
            "tag"
        };
        return fail(Reason::NulByte(what));
    }
    sort_tags(&mut out.tags)?;

    // Fields: `i` is at the space after the key.
    while i < n && is_ws(b[i]) {
        i += 1;
    }
    if is_eol(b, i) {
        return fail(Reason::MissingFields);
    }
    let mut ts = cfg.default_ts;
    loop {
        let (e, escaped) = scan_token(b, i, &KEY_STOPS);
        if e >= n || b[e] != b'=' {
            return fail(Reason::InvalidFieldFormat);
        }
        if e == i {
            return fail(Reason::MissingFieldKey);
        }
        let key = name(text, i, e, escaped, KEY_ESCAPES, &mut newlines)?;
        if key.as_bytes().contains(&0) {
            return fail(Reason::NulByte("field key"));
        }
        // InfluxDB's series key is measurement, tags, a 4-byte separator and the field.
        let key_len = out.raw_key.len() + 4 + key.len();
        if key_len > MAX_KEY_LEN {
            return fail(Reason::KeyTooLong(key_len));
        }
        i = e + 1;
        if is_eol(b, i) || matches!(b[i], b',' | b' ') {
            return fail(Reason::MissingFieldValue);
        }
        let value = if b[i] == b'"' {
            let (value, end, nl) = scan_string(text, i + 1)?;
            newlines += nl;
            i = end;
            if !(is_eol(b, i) || matches!(b[i], b',' | b' ')) {
                return fail(Reason::InvalidFieldFormat);
            }
            value
        } else {
            let e = scan_plain(b, i, &VALUE_STOPS);
            let value = parse_scalar(bytes(b, i, e)?)?;
            i = e;
            value
        };
        out.fields.push((key, value));
        if is_eol(b, i) {
            break;
        }
        i += 1;
        if b[i - 1] == b',' {
            if is_eol(b, i) || b[i] == b' ' {
                return fail(Reason::InvalidFieldFormat);
            }
            continue;
        }
        // A space: an optional timestamp follows.
        while i < n && is_ws(b[i]) {
            i += 1;
        }
        if is_eol(b, i) {
            break;
        }
        let e = scan_plain(b, i, &TIMESTAMP_STOPS);
        let tok = bytes(b, i, e)?;
        let raw = match parse_i64(tok) {
            Ok(v) => v,
            Err(NumError::Syntax) => return fail(Reason::BadTimestamp(quote_bytes(tok))),
            Err(NumError::Range) => return fail(Reason::TimeOutOfRange(quote_bytes(tok))),
        };
        ts = cfg
            .precision
            .to_ms(raw)
            .ok_or_else(|| Box::new(Reason::TimeOutOfRange(quote_bytes(tok))))?;
        i = e;
        while i < n && b[i] == b' ' {
            i += 1;
        }
        if !is_eol(b, i) {
            return fail(Reason::TrailingText);
        }
        break;
    }
    out.ts = ts;
    // A CRLF's CR belongs to the line end.
    let end = if i < n && b[i] == b'\r' { i + 1 } else { i };
    Ok(LineEnd { end, newlines })
}

/// Sorts tags by name and rejects a repeated name. Telegraf and most clients send sorted
/// tags, so the common case is one pass of comparisons and no sort.
fn sort_tags(tags: &mut [(Cow<'_, str>, Cow<'_, str>)]) -> Result<(), Fail> {
    let mut sorted = true;
    for w in tags.windows(2) {
        match w[0].0.cmp(&w[1].0) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                return fail(Reason::DuplicateTag(quote_token(&w[0].0)));
            }
            std::cmp::Ordering::Greater => {
                sorted = false;
                break;
            }
        }
    }
    if !sorted {
        tags.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = tags.windows(2).find(|w| w[0].0 == w[1].0) {
            return fail(Reason::DuplicateTag(quote_token(&w[0].0)));
        }
    }
    Ok(())
}

/// Scans a string value whose opening quote is just before `i`. Returns the value, the
/// position after the closing quote and the number of newlines inside.
fn scan_string(text: &str, mut i: usize) -> Result<(FieldValue<'_>, usize, usize), Fail> {
    let b = text.as_bytes();
    let n = b.len();
    let start = i;
    let mut escaped = false;
    let mut newlines = 0;
    loop {
        while i < n && !STRING_STOPS[usize::from(b[i])] {
            i += 1;
        }
        match b.get(i) {
            None => return fail(Reason::UnbalancedQuotes),
            Some(b'"') => break,
            Some(b'\\') => {
                escaped = true;
                if b.get(i + 1) == Some(&b'\n') {
                    newlines += 1;
                }
                i = (i + 2).min(n);
            }
            Some(_) => {
                // A newline: strings may span lines.
                newlines += 1;
                i += 1;
            }
        }
    }
    let raw = slice(text, start, i)?;
    let value = if escaped {
        Cow::Owned(unescape_string(raw)?)
    } else {
        Cow::Borrowed(raw)
    };
    Ok((FieldValue::Str(value), i + 1, newlines))
}

/// Parses an unquoted field value.
#[inline(always)]
fn parse_scalar(tok: &[u8]) -> Result<FieldValue<'static>, Fail> {
    let Some(&first) = tok.first() else {
        return fail(Reason::MissingFieldValue);
    };
    match first {
        b'0'..=b'9' | b'.' | b'-' => parse_number(tok),
        _ => match tok {
            b"t" | b"T" | b"true" | b"True" | b"TRUE" => Ok(FieldValue::Bool(true)),
            b"f" | b"F" | b"false" | b"False" | b"FALSE" => Ok(FieldValue::Bool(false)),
            _ if is_non_finite(tok) => fail(Reason::NotFinite(quote_bytes(tok))),
            // InfluxDB reads anything that does not start like a number as a boolean.
            _ => fail(Reason::InvalidBoolean(quote_bytes(tok))),
        },
    }
}

fn is_non_finite(tok: &[u8]) -> bool {
    let t = match tok.split_first() {
        Some((b'+' | b'-', rest)) => rest,
        _ => tok,
    };
    [&b"nan"[..], b"inf", b"infinity"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
}

#[inline(always)]
fn parse_number(tok: &[u8]) -> Result<FieldValue<'static>, Fail> {
    if let Some(int) = tok.strip_suffix(b"i") {
        return match parse_i64(int) {
            Ok(v) => Ok(FieldValue::Int(v)),
            Err(NumError::Syntax) => fail(Reason::InvalidNumber(quote_bytes(tok))),
            Err(NumError::Range) => fail(Reason::IntRange(quote_bytes(int))),
        };
    }
    if let Some(uint) = tok.strip_suffix(b"u") {
        return match parse_u64(uint) {
            Ok(v) => Ok(FieldValue::UInt(v)),
            Err(NumError::Syntax) => fail(Reason::InvalidNumber(quote_bytes(tok))),
            Err(NumError::Range) => fail(Reason::UintRange(quote_bytes(uint))),
        };
    }
    match parse_float(tok) {
        Ok(v) => Ok(FieldValue::Float(v)),
        Err(NumError::Syntax) if is_non_finite(tok) => fail(Reason::NotFinite(quote_bytes(tok))),
        Err(NumError::Syntax) => fail(Reason::InvalidNumber(quote_bytes(tok))),
        Err(NumError::Range) => fail(Reason::FloatRange(quote_bytes(tok))),
    }
}

/// Finds where the line starting at `i` ends (the index of its `\n`, or the text length),
/// exactly as InfluxDB's `scanLine` does: a newline inside a quoted field value or right after
/// a backslash does not end the line. Used to skip a line the parser rejected.
pub(crate) fn scan_line(b: &[u8], mut i: usize) -> usize {
    let mut quoted = false;
    let mut fields = false;
    let mut equals = 0usize;
    let mut commas = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b' ' {
            fields = true;
        }
        if fields {
            if !quoted && c == b'=' {
                equals += 1;
                i += 1;
                continue;
            } else if !quoted && c == b',' {
                commas += 1;
                i += 1;
                continue;
            } else if c == b'"' && equals > commas {
                quoted = !quoted;
                i += 1;
                continue;
            }
        }
        if c == b'\n' && !quoted {
            return i;
        }
        i += 1;
    }
    b.len()
}
