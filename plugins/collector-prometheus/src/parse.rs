//! A parser for the Prometheus text exposition format (0.0.4, and the OpenMetrics text that
//! servers commonly send in its place): one sample per line,
//! `name{label="value",...} value [timestamp]`, with `# HELP`, `# TYPE` and other comments
//! ignored. Label values unescape `\\`, `\"` and `\n`; values may be `NaN`, `+Inf`, `-Inf`.
//! Histogram and summary series (`_bucket`, `_sum`, `_count`, quantiles) are ordinary samples.
//!
//! Hand-written because the crates on crates.io are unmaintained or heavy for a guest:
//! `prometheus-parse` pulls regex, chrono and lazy_static, `prom_text_format_parser` has had
//! one release, `prometheus-scrape` none since 2018.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// The metric name (`http_requests_total`, `latency_seconds_bucket`).
    pub name: String,
    /// The labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp in ms, when the line has one.
    pub ts: Option<i64>,
}

/// Why a line is not a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Parses a whole exposition. Bad lines are returned beside the good samples rather than
/// failing the scrape: one exporter bug should not hide every other metric.
pub fn parse(text: &str) -> (Vec<PromSample>, Vec<ParseError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(s) => out.push(s),
            Err(why) => errors.push(ParseError { line: i + 1, why }),
        }
    }
    (out, errors)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Parses one sample line (already trimmed, not a comment).
pub fn parse_line(line: &str) -> Result<PromSample, String> {
    let end = line.find(|c: char| !is_name_char(c)).unwrap_or(line.len());
    let name = &line[..end];
    if !name.starts_with(is_name_start) {
        return Err(format!("`{line}` does not start with a metric name"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = parse_labels(r, &mut labels)?;
    }
    let mut parts = rest.split_whitespace();
    let value = parts
        .next()
        .ok_or_else(|| format!("`{name}` has no value"))
        .and_then(parse_value)?;
    let ts = match parts.next() {
        None => None,
        Some(t) => Some(parse_ts(t)?),
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `{extra}` after the timestamp"));
    }
    Ok(PromSample {
        name: name.to_string(),
        labels,
        value,
        ts,
    })
}

/// Reads `name="value",...}` and answers what follows the `}`.
fn parse_labels<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix('}') {
            return Ok(r);
        }
        let end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
        let name = &s[..end];
        if name.is_empty() {
            return Err(format!("a label name was expected at `{s}`"));
        }
        s = s[end..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or_else(|| format!("`=` was expected after label `{name}`"))?
            .trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("a quoted value was expected for label `{name}`"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let close = loop {
            match chars.next() {
                None => return Err(format!("the value of label `{name}` is not closed")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    // Unknown escapes are kept as written, as Prometheus does.
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("the value of label `{name}` is not closed")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = s[close + 1..].trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r;
        } else if !s.starts_with('}') {
            return Err(format!("`,` or `}}` was expected after label `{name}`"));
        }
    }
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" | "nan" => Ok(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => v
            .parse::<f64>()
            .ok()
            // Rust also reads "infinity" and "NaN" spelled otherwise; the format does not.
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`{v}` is not a sample value")),
    }
}

fn parse_ts(t: &str) -> Result<i64, String> {
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    // OpenMetrics writes seconds with a fraction.
    match t.parse::<f64>() {
        Ok(s) if s.is_finite() && s.abs() < 1e13 => Ok((s * 1000.0).round() as i64),
        _ => Err(format!("`{t}` is not a timestamp")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counters_gauges_and_comments() {
        let text = "# HELP up Whether up.\n# TYPE up gauge\nup 1\n\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n";
        let (s, e) = parse(text);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "up");
        assert_eq!(s[0].value, 1.0);
        assert!(s[0].labels.is_empty());
        assert_eq!(
            s[1].labels,
            [
                ("method".into(), "post".into()),
                ("code".into(), "200".into())
            ]
        );
        assert_eq!(s[1].ts, Some(1_395_066_363_000));
    }

    #[test]
    fn histograms() {
        let text = r#"# TYPE lat histogram
lat_bucket{le="0.05"} 24054
lat_bucket{le="+Inf"} 144320
lat_sum 53423
lat_count 144320
"#;
        let (s, e) = parse(text);
        assert!(e.is_empty());
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].labels, [("le".into(), "+Inf".into())]);
        assert_eq!(s[3].name, "lat_count");
    }

    #[test]
    fn escapes_special_values_and_spacing() {
        let s = parse_line(r#"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9"#).unwrap();
        assert_eq!(s.labels[0].1, r"C:\DIR\FILE.TXT");
        assert_eq!(s.labels[1].1, "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(s.value, 1.458255915e9);
        assert!(parse_line("x NaN").unwrap().value.is_nan());
        assert_eq!(parse_line("x +Inf").unwrap().value, f64::INFINITY);
        assert_eq!(parse_line("x -Inf").unwrap().value, f64::NEG_INFINITY);
        let s = parse_line(r#"x{ a = "1" , b="2", } 3"#).unwrap();
        assert_eq!(s.labels.len(), 2);
        assert_eq!(parse_line(r#"x{a="}"} 3"#).unwrap().labels[0].1, "}");
        assert_eq!(parse_line("x{} 3").unwrap().value, 3.0);
        assert_eq!(parse_line("x 3 1.5").unwrap().ts, Some(1500));
        assert_eq!(parse_line("x -0.5e-3 -7").unwrap().ts, Some(-7));
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let (s, e) = parse("good 1\nbad{a=\"1\" 2\n9bad 1\nnovalue\nx 1 2 3\nx infinity\nok 2\n");
        assert_eq!(s.len(), 2);
        assert_eq!(
            e.iter().map(|e| e.line).collect::<Vec<_>>(),
            [2, 3, 4, 5, 6]
        );
        for l in [
            r#"x{a="1} 2"#,
            r#"x{a=1} 2"#,
            r#"x{a"1"} 2"#,
            "x abc",
            "x 1 abc",
            r#"x{="1"} 2"#,
        ] {
            assert!(parse_line(l).is_err(), "{l}");
        }
    }
}
