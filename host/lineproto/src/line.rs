//! The borrowed form of one parsed line, and the conversions to Clio's owned types.

use std::borrow::Cow;

use clio_storage::{KeyError, SeriesKey, Timestamp, Value};

/// One field value as written on the line, before it becomes a Clio [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A float (`1.5`, `1e3`, `-0`); always finite.
    Float(f64),
    /// A signed integer (`12i`).
    Int(i64),
    /// An unsigned integer (`12u`).
    UInt(u64),
    /// A boolean (`t`, `true`, `F`, ...).
    Bool(bool),
    /// A string (`"text"`), with `\"` and `\\` unescaped. Borrowed from the body unless it
    /// contained escapes.
    Str(Cow<'a, str>),
}

impl FieldValue<'_> {
    /// The value as Clio stores it: every numeric type as an f64 (integers beyond 2^53 round
    /// to the nearest f64), booleans as 1 and 0, strings as strings.
    pub fn to_value(&self) -> Value {
        match self {
            FieldValue::Float(v) => Value::Num(*v),
            FieldValue::Int(v) => Value::Num(*v as f64),
            FieldValue::UInt(v) => Value::Num(*v as f64),
            FieldValue::Bool(v) => Value::Num(if *v { 1.0 } else { 0.0 }),
            FieldValue::Str(s) => Value::Str(s.as_ref().to_owned()),
        }
    }

    /// The numeric value (see [`FieldValue::to_value`]), or `None` for strings. Never
    /// allocates.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Float(v) => Some(*v),
            FieldValue::Int(v) => Some(*v as f64),
            FieldValue::UInt(v) => Some(*v as f64),
            FieldValue::Bool(v) => Some(if *v { 1.0 } else { 0.0 }),
            FieldValue::Str(_) => None,
        }
    }
}

/// One valid line of line protocol, borrowing from the body wherever no unescaping was needed.
///
/// This is the cheap path for hot loops: nothing is allocated for a line without escapes, and
/// [`LineRef::raw_key`] lets a caller cache `raw key + field -> series id` without building a
/// [`SeriesKey`] for every point.
#[derive(Debug, Clone, Default)]
pub struct LineRef<'a> {
    /// The 1-based number of the (first) physical line this line starts on.
    pub line: usize,
    /// The measurement and tag set exactly as written, escapes included (`cpu,host=a`).
    /// Lines that spell the same series with the same tag order share this text, so it is a
    /// good cache key; lines that order their tags differently still map to one
    /// [`SeriesKey`].
    pub raw_key: &'a str,
    /// The unescaped measurement; never empty.
    pub measurement: Cow<'a, str>,
    /// The unescaped tags, sorted by name, names unique, names and values never empty.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The unescaped field names and their values, in line order; names never empty. A name
    /// may repeat (InfluxDB accepts that too); the later value then wins in storage.
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// The timestamp in milliseconds, after precision conversion (or the parser's default).
    pub ts: Timestamp,
}

/// One point of one series: what a line with N fields becomes N of.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPoint {
    /// Measurement, sorted tags and the field.
    pub key: SeriesKey,
    /// Milliseconds since the Unix epoch.
    pub ts: Timestamp,
    /// The value (numbers, integers and booleans as f64, strings as strings).
    pub value: Value,
}

impl<'a> LineRef<'a> {
    /// Empties the line for reuse, keeping the capacity of its vectors.
    pub(crate) fn clear(&mut self) {
        self.raw_key = "";
        self.measurement = Cow::Borrowed("");
        self.tags.clear();
        self.fields.clear();
        self.ts = 0;
    }

    /// The [`SeriesKey`] of the `index`-th field (in [`LineRef::fields`] order), or `None`
    /// when there is no such field.
    pub fn series_key(&self, index: usize) -> Option<Result<SeriesKey, KeyError>> {
        let (field, _) = self.fields.get(index)?;
        Some(SeriesKey::from_pieces(
            self.measurement.as_ref(),
            self.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            field.as_ref(),
        ))
    }

    /// Every point of the line, one per field. Fails only if a key is invalid, which the
    /// parser already rules out.
    pub fn to_points(&self) -> Result<Vec<ParsedPoint>, KeyError> {
        self.fields
            .iter()
            .map(|(field, value)| {
                Ok(ParsedPoint {
                    key: SeriesKey::from_pieces(
                        self.measurement.as_ref(),
                        self.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
                        field.as_ref(),
                    )?,
                    ts: self.ts,
                    value: value.to_value(),
                })
            })
            .collect()
    }

    /// Appends the canonical text of the series' measurement and sorted tags
    /// (`cpu,host=a,region=eu`), escaped as [`SeriesKey`]'s `Display` escapes them. Followed
    /// by `' '` and an escaped field name (see [`LineRef::write_canonical_key`]) it is exactly
    /// `SeriesKey::to_string()`.
    pub fn write_canonical_prefix(&self, out: &mut String) {
        escape_into(out, &self.measurement, false);
        for (k, v) in &self.tags {
            out.push(',');
            escape_into(out, k, true);
            out.push('=');
            escape_into(out, v, true);
        }
    }

    /// Appends the canonical key of the `index`-th field, the same text as
    /// `self.series_key(index).to_string()` but without allocating a [`SeriesKey`]. Appends
    /// nothing when there is no such field.
    pub fn write_canonical_key(&self, index: usize, out: &mut String) {
        if let Some((field, _)) = self.fields.get(index) {
            self.write_canonical_prefix(out);
            out.push(' ');
            escape_into(out, field, true);
        }
    }
}

/// Escapes as `SeriesKey`'s `Display` does: backslash, comma and space always, `=` in tag
/// names, tag values and field names.
fn escape_into(out: &mut String, s: &str, equals: bool) {
    let special = |b: u8| b == b',' || b == b' ' || b == b'\\' || (equals && b == b'=');
    if !s.bytes().any(special) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if c.is_ascii() && special(c as u8) {
            out.push('\\');
        }
        out.push(c);
    }
}
