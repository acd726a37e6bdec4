//! Values crossing between JSON requests, SQL parameters and result rows, the same for both
//! engines.

use serde_json::Value as Json;

/// The type of a column as the API sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer (`BIGINT` / `INTEGER`).
    Int,
    /// A float (`DOUBLE PRECISION` / `REAL`).
    Float,
    /// Text (`VARCHAR(n)` or `TEXT` / `TEXT`).
    Text,
    /// A boolean (`BOOLEAN` / `INTEGER` 0 or 1).
    Bool,
    /// A JSON document (`JSONB` / `TEXT` holding JSON).
    Json,
    /// A time: milliseconds since the Unix epoch (`BIGINT` on both; the API also accepts
    /// RFC 3339 text).
    Time,
}

impl Kind {
    /// The name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int => "an integer",
            Kind::Float => "a number",
            Kind::Text => "a string",
            Kind::Bool => "a boolean",
            Kind::Json => "JSON",
            Kind::Time => "a time (ms since the epoch or RFC 3339)",
        }
    }
}

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// NULL.
    Null,
    /// An integer or a time.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A JSON document.
    Json(Json),
    /// Bytes (`BYTEA`; image chunks on PostgreSQL). Never part of a JSON answer.
    Bytes(bytes::Bytes),
}

impl Val {
    /// The value as JSON for an answer.
    pub fn to_json(&self) -> Json {
        match self {
            Val::Null => Json::Null,
            Val::Int(i) => Json::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Val::Text(s) => Json::String(s.clone()),
            Val::Bool(b) => Json::Bool(*b),
            Val::Json(j) => j.clone(),
            Val::Bytes(b) => Json::from(b.len()),
        }
    }

    /// Converts a JSON request value for a column of `kind`; `Err` says what was expected.
    pub fn from_json(kind: Kind, v: &Json) -> Result<Val, String> {
        if v.is_null() {
            return Ok(Val::Null);
        }
        let wrong = || format!("expected {}, got {}", kind.name(), json_type(v));
        match kind {
            Kind::Int => v.as_i64().map(Val::Int).ok_or_else(wrong),
            Kind::Float => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Val::Float)
                .ok_or_else(wrong),
            Kind::Text => v
                .as_str()
                .map(|s| Val::Text(s.to_owned()))
                .ok_or_else(wrong),
            Kind::Bool => v.as_bool().map(Val::Bool).ok_or_else(wrong),
            Kind::Json => Ok(Val::Json(v.clone())),
            Kind::Time => match v {
                Json::Number(n) => n.as_i64().map(Val::Int).ok_or_else(wrong),
                Json::String(s) => parse_time(s).map(Val::Int),
                _ => Err(wrong()),
            },
        }
    }

    /// Converts a query-string value for a column of `kind`.
    pub fn from_text(kind: Kind, s: &str) -> Result<Val, String> {
        let wrong = || format!("expected {}, got {s:?}", kind.name());
        match kind {
            Kind::Int => s.parse().map(Val::Int).map_err(|_| wrong()),
            Kind::Float => s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Val::Float)
                .ok_or_else(wrong),
            Kind::Text => Ok(Val::Text(s.to_owned())),
            Kind::Bool => match s {
                "true" | "1" => Ok(Val::Bool(true)),
                "false" | "0" => Ok(Val::Bool(false)),
                _ => Err(wrong()),
            },
            Kind::Json => serde_json::from_str(s).map(Val::Json).map_err(|_| wrong()),
            Kind::Time => match s.parse::<i64>() {
                Ok(ms) => Ok(Val::Int(ms)),
                Err(_) => parse_time(s).map(Val::Int),
            },
        }
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Parses RFC 3339 (`2026-12-05T17:00:00Z`, `...17:00:00.250+03:00`) to ms since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("expected ms since the epoch or RFC 3339 time, got {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i).ok_or_else(bad)?;
        if frac.is_empty() {
            return Err(bad());
        }
        let padded: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = padded.parse().map_err(|_| bad())?;
    }
    let offset_min = match s.get(i..) {
        Some("Z") | Some("z") => 0,
        Some(tz) if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return Err(bad()),
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-15T01:13:20.5+03:00"),
            Ok(1_700_000_000_500)
        );
        assert!(parse_time("2023-13-14T22:13:20Z").is_err());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2023-11-14T22:13:20").is_err());
    }

    #[test]
    fn json_values_are_checked_by_kind() {
        assert_eq!(Val::from_json(Kind::Int, &Json::from(3)), Ok(Val::Int(3)));
        assert!(Val::from_json(Kind::Int, &Json::from("3")).is_err());
        assert!(Val::from_json(Kind::Float, &Json::from("x")).is_err());
        assert_eq!(
            Val::from_json(Kind::Time, &Json::from("1970-01-01T00:00:01Z")),
            Ok(Val::Int(1000))
        );
        assert_eq!(Val::from_text(Kind::Bool, "true"), Ok(Val::Bool(true)));
    }
}
