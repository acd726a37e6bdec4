//! The lines of an export: CSV (RFC 4180) or line protocol, one point or bucket per line.

use std::fmt::Write as _;

use clio_storage::{SeriesId, SeriesInfo, Timestamp, Value, format_number};

use super::params::Format;

/// The line that ends a body whose export failed after the first byte: a comment in both
/// formats (`#` starts a comment in line protocol; CSV readers take `comment='#'`).
pub(super) fn error_trailer(msg: &str) -> String {
    let one_line: String = msg
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!("# error: {one_line}\n")
}

/// The CSV header.
pub(super) fn csv_header(value_column: &str) -> String {
    format!("series,key,ts,{value_column}\n")
}

/// Appends one CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// One series' part of every line, made once per series.
#[derive(Debug)]
pub(super) struct SeriesLines {
    format: Format,
    /// CSV: `id,key,`; line protocol: `measurement,tags field=`.
    prefix: String,
    lp_factor: i64,
}

impl SeriesLines {
    /// The lines of `info`. A series without a key is `series=<id>` in line protocol
    /// (measurement `clio_series`, tag `id`, field `value`).
    pub(super) fn new(format: Format, info: &SeriesInfo, lp_factor: i64) -> Result<Self, String> {
        let mut prefix = String::new();
        match format {
            Format::Csv => {
                let _ = write!(prefix, "{},", info.id.0);
                if let Some(k) = &info.key {
                    csv_field(&mut prefix, &k.to_string());
                }
                prefix.push(',');
            }
            Format::Lp => match &info.key {
                Some(k) => {
                    // The formatter spells the key exactly as the parser reads it back; it
                    // writes `key value ts`, so format a dummy point and keep the part up
                    // to the value.
                    let mut line = String::new();
                    clio_lineproto::write_point(&mut line, k, &Value::Num(0.0), 0)
                        .map_err(|e| format!("series {}: {e}", info.id))?;
                    let cut = line.len() - "0 0\n".len();
                    prefix.push_str(&line[..cut]);
                }
                None => keyless_prefix(&mut prefix, info.id),
            },
        }
        Ok(SeriesLines {
            format,
            prefix,
            lp_factor,
        })
    }

    /// Appends a numeric point or bucket.
    pub(super) fn num(&self, out: &mut String, ts: Timestamp, v: f64) {
        out.push_str(&self.prefix);
        match self.format {
            Format::Csv => {
                let _ = writeln!(out, "{ts},{}", format_number(v));
            }
            Format::Lp => {
                let _ = writeln!(
                    out,
                    "{} {}",
                    format_number(v),
                    ts.saturating_mul(self.lp_factor)
                );
            }
        }
    }

    /// Appends a string point.
    pub(super) fn text(&self, out: &mut String, ts: Timestamp, s: &str) {
        out.push_str(&self.prefix);
        match self.format {
            Format::Csv => {
                let _ = write!(out, "{ts},");
                csv_field(out, s);
                out.push('\n');
            }
            Format::Lp => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                let _ = writeln!(out, "\" {}", ts.saturating_mul(self.lp_factor));
            }
        }
    }
}

fn keyless_prefix(out: &mut String, id: SeriesId) {
    let _ = write!(out, "clio_series,id={} value=", id.0);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clio_storage::SeriesSettings;

    use super::*;

    fn info(id: u64, key: Option<&str>) -> SeriesInfo {
        SeriesInfo {
            id: SeriesId(id),
            key: key.map(|k| k.parse().unwrap()),
            settings: SeriesSettings {
                keep_history_days: 0,
                keep_trends_days: 0,
                metadata: BTreeMap::new(),
            },
            created: 0,
        }
    }

    #[test]
    fn csv_quotes_keys_and_strings() {
        let l = SeriesLines::new(Format::Csv, &info(7, Some("cpu,host=a usage")), 1).unwrap();
        let mut out = String::new();
        l.num(&mut out, 1000, 0.5);
        l.text(&mut out, 2000, "say \"hi\", bye");
        assert_eq!(
            out,
            "7,\"cpu,host=a usage\",1000,0.5\n7,\"cpu,host=a usage\",2000,\"say \"\"hi\"\", bye\"\n"
        );
        let k = SeriesLines::new(Format::Csv, &info(8, None), 1).unwrap();
        let mut out = String::new();
        k.num(&mut out, 1, 2.0);
        assert_eq!(out, "8,,1,2\n");
    }

    #[test]
    fn line_protocol_round_trips_the_key() {
        let l = SeriesLines::new(
            Format::Lp,
            &info(7, Some("cpu,host=a\\ b usage")),
            1_000_000,
        )
        .unwrap();
        let mut out = String::new();
        l.num(&mut out, 1000, 1.25);
        l.text(&mut out, 2000, "a \"q\"");
        assert_eq!(
            out,
            "cpu,host=a\\ b usage=1.25 1000000000\ncpu,host=a\\ b usage=\"a \\\"q\\\"\" 2000000000\n"
        );
        let k = SeriesLines::new(Format::Lp, &info(9, None), 1).unwrap();
        let mut out = String::new();
        k.num(&mut out, 5, 3.0);
        assert_eq!(out, "clio_series,id=9 value=3 5\n");
    }

    #[test]
    fn the_trailer_is_one_comment_line() {
        assert_eq!(error_trailer("a\nb"), "# error: a b\n");
    }
}
