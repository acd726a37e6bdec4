//! Property tests: generated series and values survive formatting to line protocol and
//! parsing back; no input makes the parser panic or lose count; chunked parsing equals
//! one-shot parsing.

use std::collections::BTreeMap;

use clio_lineproto::{LineError, Parser, Precision, SeriesKey, Value, write_point};
use proptest::prelude::*;

/// Names biased towards the characters line protocol has to escape, plus any character
/// except a newline (which no escape can carry in a name) and NUL (refused in names).
fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z_]{1,8}", "([ ,=\\\\\"#\r\ta-z]|[^\n]){1,10}",]
        // Names may not end with a backslash (InfluxDB rejects that), and a leading tab or NUL
        // would be taken for leading whitespace.
        .prop_filter("representable", |s| {
            !s.ends_with('\\') && !s.starts_with('\t') && !s.contains('\0')
        })
}

fn measurement() -> impl Strategy<Value = String> {
    name().prop_filter("not a comment", |s| !s.starts_with('#'))
}

#[derive(Debug, Clone)]
enum Field {
    Float(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(String),
}

impl Field {
    fn value(&self) -> Value {
        match self {
            Field::Float(v) => Value::Num(*v),
            Field::Int(v) => Value::Num(*v as f64),
            Field::UInt(v) => Value::Num(*v as f64),
            Field::Bool(v) => Value::Num(if *v { 1.0 } else { 0.0 }),
            Field::Str(s) => Value::Str(s.clone()),
        }
    }
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(Field::Float),
        (-1000.0f64..1000.0).prop_map(|v| Field::Float((v * 100.0).round() / 100.0)),
        any::<i64>().prop_map(Field::Int),
        any::<u64>().prop_map(Field::UInt),
        any::<bool>().prop_map(Field::Bool),
        "([\"\\\\\n ,=]|[^\"]){0,12}".prop_map(Field::Str),
    ]
}

#[derive(Debug, Clone)]
struct Line {
    measurement: String,
    tags: BTreeMap<String, String>,
    fields: Vec<(String, Field)>,
    /// Milliseconds; written in nanoseconds when the line gets a timestamp.
    ts: Option<i64>,
}

fn line() -> impl Strategy<Value = Line> {
    (
        measurement(),
        proptest::collection::btree_map(name(), name(), 0..4),
        proptest::collection::vec((name(), field()), 1..4),
        proptest::option::of(-9_000_000_000_000i64..9_000_000_000_000),
    )
        .prop_map(|(measurement, tags, fields, ts)| Line {
            measurement,
            tags,
            fields,
            ts,
        })
}

/// An independent formatter (not the crate's `write_point`), so that the two check each
/// other. `reverse` writes the tags in descending order, `crlf` ends lines with CRLF,
/// `bools` picks one of the boolean spellings.
fn format_line(l: &Line, reverse: bool, crlf: bool, spelling: usize) -> String {
    fn esc(out: &mut String, s: &str, special: &str) {
        for c in s.chars() {
            if special.contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut out = String::new();
    esc(&mut out, &l.measurement, ", \\");
    let mut tags: Vec<_> = l.tags.iter().collect();
    if reverse {
        tags.reverse();
    }
    for (k, v) in tags {
        out.push(',');
        esc(&mut out, k, ",= \\");
        out.push('=');
        esc(&mut out, v, ",= \\");
    }
    out.push(' ');
    for (i, (k, f)) in l.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        esc(&mut out, k, ",= \\");
        out.push('=');
        match f {
            Field::Float(v) => out.push_str(&format!("{v:?}")),
            Field::Int(v) => out.push_str(&format!("{v}i")),
            Field::UInt(v) => out.push_str(&format!("{v}u")),
            Field::Bool(true) => out.push_str(["t", "T", "true", "True", "TRUE"][spelling % 5]),
            Field::Bool(false) => out.push_str(["f", "F", "false", "False", "FALSE"][spelling % 5]),
            Field::Str(s) => {
                out.push('"');
                esc(&mut out, s, "\"\\");
                out.push('"');
            }
        }
    }
    if let Some(ts) = l.ts {
        out.push_str(&format!(" {}", i128::from(ts) * 1_000_000));
    }
    out.push_str(if crlf { "\r\n" } else { "\n" });
    out
}

/// A point as `(key text, value, ts)`.
type Pt = (String, Value, i64);

/// Everything a parse produced, for comparisons.
#[derive(Debug, PartialEq)]
struct Outcome {
    lines: Vec<(usize, Vec<Pt>)>,
    errors: Vec<LineError>,
    error_count: usize,
    line_count: usize,
}

fn parse_whole(p: &Parser, body: &[u8]) -> Outcome {
    let mut lines = Vec::new();
    let report = p.parse_lines(body, |l| {
        let pts: Vec<Pt> = l
            .to_points()
            .expect("valid lines have valid keys")
            .into_iter()
            .map(|pt| (pt.key.to_string(), pt.value, pt.ts))
            .collect();
        lines.push((l.line, pts));
    });
    assert_eq!(report.consumed, body.len());
    assert_eq!(
        report.points,
        lines.iter().map(|(_, p)| p.len()).sum::<usize>()
    );
    Outcome {
        lines,
        errors: report.errors,
        error_count: report.error_count,
        line_count: report.lines,
    }
}

/// Feeds `body` in chunks cut at `cuts`, carrying each chunk's unconsumed tail over as a
/// streaming importer would.
fn parse_chunked(p: &Parser, body: &[u8], cuts: &[usize]) -> Outcome {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut buf: Vec<u8> = Vec::new();
    let mut next_line = 1;
    let mut fed = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(body.len());
    for (i, &cut) in cuts.iter().enumerate() {
        let last = i + 1 == cuts.len();
        buf.extend_from_slice(&body[fed..cut.max(fed)]);
        fed = cut.max(fed);
        let report = p.parse_chunk(&buf, next_line, last, |l| {
            let pts = l
                .to_points()
                .expect("valid lines have valid keys")
                .into_iter()
                .map(|pt| (pt.key.to_string(), pt.value, pt.ts))
                .collect();
            lines.push((l.line, pts));
        });
        next_line += report.lines;
        errors.extend(report.errors);
        error_count += report.error_count;
        buf.drain(..report.consumed);
    }
    assert!(buf.is_empty());
    Outcome {
        lines,
        errors,
        error_count,
        line_count: next_line - 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn formatted_lines_parse_back(
        lines in proptest::collection::vec(line(), 1..6),
        reverse in any::<bool>(),
        crlf in any::<bool>(),
        spelling in 0usize..5,
        unterminated in any::<bool>(),
    ) {
        let mut body: String =
            lines.iter().map(|l| format_line(l, reverse, crlf, spelling)).collect();
        if unterminated {
            // The last line may end without a newline.
            body.pop();
        }
        let now = 1_234_567;
        let parser = Parser::new(Precision::Ns, now);
        let got = parse_whole(&parser, body.as_bytes());
        prop_assert!(got.errors.is_empty(), "{:?}\n{}", got.errors, body);
        prop_assert_eq!(got.lines.len(), lines.len());
        let mut physical = 1;
        for (l, (line_no, points)) in lines.iter().zip(&got.lines) {
            prop_assert_eq!(*line_no, physical);
            physical += format_line(l, reverse, crlf, spelling).matches('\n').count();
            let tags: Vec<(String, String)> =
                l.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let want: Vec<(String, Value, i64)> = l
                .fields
                .iter()
                .map(|(f, v)| {
                    let key =
                        SeriesKey::new(l.measurement.clone(), tags.clone(), f.clone()).unwrap();
                    (key.to_string(), v.value(), l.ts.unwrap_or(now))
                })
                .collect();
            prop_assert_eq!(points, &want);
        }
        prop_assert_eq!(got.line_count, physical - 1);
    }

    #[test]
    fn canonical_key_is_series_key_display(l in line()) {
        let body = format_line(&l, true, false, 0);
        let mut checked = 0;
        Parser::new(Precision::Ns, 0).parse_lines(body.as_bytes(), |r| {
            for i in 0..r.fields.len() {
                let mut s = String::new();
                r.write_canonical_key(i, &mut s);
                assert_eq!(s, r.series_key(i).unwrap().unwrap().to_string());
                checked += 1;
            }
        });
        prop_assert_eq!(checked, l.fields.len());
    }

    #[test]
    fn write_point_parses_back(
        m in measurement(),
        tags in proptest::collection::btree_map(name(), name(), 0..4),
        f in name(),
        field in field(),
        ts in any::<i64>(),
    ) {
        let key = SeriesKey::new(m, tags, f).unwrap();
        let value = field.value();
        let mut line = String::new();
        write_point(&mut line, &key, &value, ts).unwrap();
        let mut got = Vec::new();
        let report = Parser::new(Precision::Ms, 0).parse(line.as_bytes(), |p| got.push(p));
        prop_assert!(report.is_ok(), "{:?} {}", report.errors, line);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0].key, &key);
        prop_assert_eq!(&got[0].value, &value);
        prop_assert_eq!(got[0].ts, ts);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_accounting(&body);
    }

    #[test]
    fn line_protocol_like_text_never_panics(body in "[a-z0-9 ,=\"\\\\\n\r\t#.eiuTF+-]{0,200}") {
        check_accounting(body.as_bytes());
    }

    #[test]
    fn chunked_parsing_equals_whole_parsing(
        body in "([a-c]{1,2}(,[a-c]=[a-c\\\\ ]{1,2})?( [a-c]=(1|2.5|-3i|\"[a\\\\\" \n]{0,3}\"|t|x)){1,2}( 1[0-9]{0,3})?\r?\n|# c\n|\n|[a\\\\\" \n=,]{1,4}\n){0,12}",
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        max_line in prop_oneof![Just(1 << 20), 8usize..40],
    ) {
        let p = Parser::new(Precision::Ms, 7).with_max_line_len(max_line).with_max_errors(1000);
        let whole = parse_whole(&p, body.as_bytes());
        let chunked = parse_chunked(&p, body.as_bytes(), &cuts);
        prop_assert_eq!(whole, chunked, "{:?}", body);
    }
}

/// The report's numbers agree with what the sink saw and with the body's line count.
fn check_accounting(body: &[u8]) {
    for p in [
        Parser::new(Precision::Ns, 0),
        Parser::new(Precision::H, -1)
            .with_max_line_len(16)
            .with_max_errors(2),
    ] {
        let mut points = 0;
        let mut line_nos = Vec::new();
        let report = p.parse_lines(body, |l| {
            points += l.fields.len();
            line_nos.push(l.line);
            assert!(!l.measurement.is_empty());
            assert!(!l.fields.is_empty());
        });
        assert_eq!(report.points, points);
        assert_eq!(report.consumed, body.len());
        let physical = body.iter().filter(|&&c| c == b'\n').count()
            + usize::from(body.last().is_some_and(|&c| c != b'\n'));
        assert_eq!(report.lines, physical);
        assert!(report.errors.len() <= report.error_count);
        assert!(report.errors.len() <= p.max_errors());
        // Good and bad lines are numbered in order, each once, within the body.
        let mut all: Vec<usize> = line_nos;
        all.extend(report.errors.iter().map(|e| e.line));
        all.sort_unstable();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        assert!(all.iter().all(|&n| n >= 1 && n <= physical.max(1)));
        let mut owned = 0;
        let owned_report = p.parse(body, |_| owned += 1);
        assert_eq!(owned, points);
        assert_eq!(owned_report.error_count, report.error_count);
    }
}
