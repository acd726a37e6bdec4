//! Unit tests for every syntax rule and every error of the parser.

use std::borrow::Cow;

use super::*;

/// The time lines without a timestamp get.
const NOW: i64 = 1_700_000_123_456;

fn parser() -> Parser {
    Parser::new(Precision::Ns, NOW)
}

/// Parses `body`, asserting it has no bad line; returns `(key, value, ts)` per point.
fn ok(body: &str) -> Vec<(String, Value, i64)> {
    ok_with(&parser(), body)
}

fn ok_with(p: &Parser, body: &str) -> Vec<(String, Value, i64)> {
    let mut out = Vec::new();
    let report = p.parse(body.as_bytes(), |pt| {
        out.push((pt.key.to_string(), pt.value, pt.ts))
    });
    assert!(report.is_ok(), "{body:?}: {:?}", report.errors);
    assert_eq!(report.points, out.len());
    out
}

/// Parses a body of one bad line; returns the reason.
fn err(body: &str) -> String {
    err_with(&parser(), body)
}

fn err_with(p: &Parser, body: &str) -> String {
    let mut points = 0;
    let report = p.parse(body.as_bytes(), |_| points += 1);
    assert_eq!(points, 0, "{body:?} wrote points");
    assert_eq!(report.error_count, 1, "{body:?}: {:?}", report.errors);
    report.errors[0].message.clone()
}

fn num(v: f64) -> Value {
    Value::Num(v)
}

// ---- structure -------------------------------------------------------------------------

#[test]
fn one_point_per_field() {
    assert_eq!(
        ok("cpu,host=a,region=eu usage=1.5,idle=98i 1700000000000000000"),
        vec![
            (
                "cpu,host=a,region=eu usage".into(),
                num(1.5),
                1_700_000_000_000
            ),
            (
                "cpu,host=a,region=eu idle".into(),
                num(98.0),
                1_700_000_000_000
            ),
        ]
    );
}

#[test]
fn tags_are_optional_and_sorted() {
    assert_eq!(ok("temp v=1 0")[0].0, "temp v");
    assert_eq!(ok("cpu,z=1,a=2,m=3 f=1 0")[0].0, "cpu,a=2,m=3,z=1 f");
}

#[test]
fn line_ref_borrows_and_keeps_the_raw_key() {
    let body = b"cpu,z=1,a=2 f=1,s=\"x\" 5000000".to_vec();
    let mut seen = 0;
    let report = Parser::new(Precision::Ns, 0).parse_lines(&body, |l| {
        seen += 1;
        assert_eq!(l.line, 1);
        assert_eq!(l.raw_key, "cpu,z=1,a=2");
        assert!(matches!(l.measurement, Cow::Borrowed("cpu")));
        assert_eq!(l.tags.len(), 2);
        assert_eq!(l.tags[0].0, "a");
        assert!(matches!(l.tags[0].1, Cow::Borrowed(_)));
        assert!(matches!(l.fields[1].1, FieldValue::Str(Cow::Borrowed("x"))));
        assert_eq!(l.ts, 5);
        let mut key = String::new();
        l.write_canonical_key(1, &mut key);
        assert_eq!(key, "cpu,a=2,z=1 s");
        assert_eq!(l.series_key(1).unwrap().unwrap().to_string(), key);
        assert!(l.series_key(2).is_none());
    });
    assert_eq!(seen, 1);
    assert_eq!(report.points, 2);
    assert_eq!(report.lines, 1);
    assert_eq!(report.consumed, body.len());
}

#[test]
fn duplicate_fields_are_kept() {
    // InfluxDB accepts them; the later value wins in storage.
    assert_eq!(ok("m f=1,f=2 0").len(), 2);
}

// ---- field values ----------------------------------------------------------------------

#[test]
fn floats() {
    for (text, v) in [
        ("1.5", 1.5),
        ("-1.5", -1.5),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("1e+3", 1000.0),
        ("2.5e-1", 0.25),
        (".5", 0.5),
        ("5.", 5.0),
        ("0", 0.0),
        ("-0", 0.0),
        ("12", 12.0),
        ("1.7976931348623157e308", f64::MAX),
    ] {
        assert_eq!(ok(&format!("m f={text} 0"))[0].1, num(v), "{text}");
    }
}

#[test]
fn integers_and_unsigned() {
    assert_eq!(ok("m f=12i 0")[0].1, num(12.0));
    assert_eq!(ok("m f=-12i 0")[0].1, num(-12.0));
    assert_eq!(ok("m f=12u 0")[0].1, num(12.0));
    assert_eq!(
        ok("m f=9223372036854775807i 0")[0].1,
        num(9_223_372_036_854_775_807.0)
    );
    assert_eq!(
        ok("m f=18446744073709551615u 0")[0].1,
        num(18_446_744_073_709_551_615.0)
    );
}

#[test]
fn booleans() {
    for t in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(ok(&format!("m f={t} 0"))[0].1, num(1.0), "{t}");
    }
    for f in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(ok(&format!("m f={f} 0"))[0].1, num(0.0), "{f}");
    }
}

#[test]
fn strings() {
    assert_eq!(ok(r#"m f="hello" 0"#)[0].1, Value::from("hello"));
    assert_eq!(ok(r#"m f="" 0"#)[0].1, Value::from(""));
    assert_eq!(ok(r#"m f="a \"q\" b" 0"#)[0].1, Value::from(r#"a "q" b"#));
    assert_eq!(
        ok(r#"m f="back\\slash" 0"#)[0].1,
        Value::from(r"back\slash")
    );
    // Other backslashes are literal.
    assert_eq!(ok(r#"m f="c:\temp\n" 0"#)[0].1, Value::from(r"c:\temp\n"));
    // Separators inside quotes are data.
    assert_eq!(
        ok(r#"m f="a, b=c d",g=1 0"#),
        vec![
            ("m f".into(), Value::from("a, b=c d"), 0),
            ("m g".into(), num(1.0), 0)
        ]
    );
    assert_eq!(ok("m f=\"ünï😀\" 0")[0].1, Value::from("ünï😀"));
}

#[test]
fn strings_may_span_lines() {
    let mut lines = Vec::new();
    let report = parser().parse_lines(b"m s=\"a\nb\" 0\nm f=1 0\nbad\n", |l| lines.push(l.line));
    assert_eq!(lines, vec![1, 3]);
    assert_eq!(report.errors[0].line, 4);
    assert_eq!(report.lines, 4);
    assert_eq!(ok("m s=\"a\nb\" 0")[0].1, Value::from("a\nb"));
}

#[test]
fn non_finite_values_are_rejected() {
    assert_eq!(
        err("m f=NaN 0"),
        "invalid number `NaN`: NaN and infinities are not supported"
    );
    assert_eq!(
        err("m f=inf 0"),
        "invalid number `inf`: NaN and infinities are not supported"
    );
    assert_eq!(
        err("m f=-Inf 0"),
        "invalid number `-Inf`: NaN and infinities are not supported"
    );
    assert_eq!(err("m f=1e400 0"), "invalid float `1e400`: out of range");
    assert_eq!(err("m f=-1e309 0"), "invalid float `-1e309`: out of range");
}

#[test]
fn bad_numbers() {
    for bad in [
        "1.2.3", "1x", "-", "1e", "0x10", "1.5i", "1i5", "-1u", "1.0u", "12ii", "1-2", "1\\ 2",
    ] {
        let msg = err(&format!("m f={bad} 0"));
        assert!(msg.starts_with("invalid number `"), "{bad}: {msg}");
    }
    assert_eq!(
        err("m f=9223372036854775808i 0"),
        "unable to parse integer 9223372036854775808: value out of range"
    );
    assert_eq!(
        err("m f=18446744073709551616u 0"),
        "unable to parse unsigned 18446744073709551616: value out of range"
    );
}

#[test]
fn bad_booleans() {
    for bad in ["tru", "yes", "TRue", "falsy", "+1", "abc"] {
        assert_eq!(
            err(&format!("m f={bad} 0")),
            format!("invalid boolean `{bad}`")
        );
    }
}

#[test]
fn string_errors() {
    assert_eq!(err(r#"m f="abc 0"#), "unbalanced quotes");
    assert_eq!(err(r#"m f="ab\" 0"#), "unbalanced quotes");
    assert_eq!(err(r#"m f="abc"x 0"#), "invalid field format");
}

// ---- escapes ---------------------------------------------------------------------------

#[test]
fn measurement_escapes() {
    assert_eq!(ok(r"my\ cpu\,x f=1 0")[0].0, r"my\ cpu\,x f");
    let mut m = String::new();
    parser().parse_lines(br"my\ cpu\,x f=1 0", |l| m = l.measurement.to_string());
    assert_eq!(m, "my cpu,x");
    // `=` needs no escape in a measurement, so `\=` is a backslash and an equals sign.
    parser().parse_lines(br"a\=b f=1 0", |l| m = l.measurement.to_string());
    assert_eq!(m, r"a\=b");
    parser().parse_lines(br"a=b f=1 0", |l| m = l.measurement.to_string());
    assert_eq!(m, "a=b");
}

#[test]
fn tag_and_field_escapes() {
    let body = br"m,t\ k\=\,=v\ 1\=\,\\x f\ \=\,k=1 0";
    let mut seen = false;
    parser().parse_lines(body, |l| {
        seen = true;
        assert_eq!(l.tags[0].0, "t k=,");
        assert_eq!(l.tags[0].1, r"v 1=,\x");
        assert_eq!(l.fields[0].0, "f =,k");
    });
    assert!(seen);
}

#[test]
fn unknown_escapes_are_literal() {
    let mut tags = Vec::new();
    parser().parse_lines(br#"m,a=b\d\"e f\q=1 0"#, |l| {
        tags.push(l.tags[0].1.to_string());
        tags.push(l.fields[0].0.to_string());
    });
    assert_eq!(tags, vec![r#"b\d\"e"#, r"f\q"]);
}

#[test]
fn names_ending_with_a_backslash_are_rejected() {
    let msg = "invalid escape: measurements, tag keys and values, and field keys may not end with a backslash";
    assert_eq!(err(r"m\\ f=1 0"), msg);
    assert_eq!(err(r"m,a=b\\ f=1 0"), msg);
    assert_eq!(err(r"m,a\\=b f=1 0"), msg);
    assert_eq!(err(r"m f\\=1 0"), msg);
}

// ---- whitespace, comments, line ends -----------------------------------------------------

#[test]
fn whitespace_between_sections() {
    assert_eq!(ok("m  f=1   5000000  ")[0].2, 5);
    assert_eq!(ok(" \t m f=1 5000000")[0].2, 5);
    // Only spaces separate sections; a tab after a value is part of it, as in InfluxDB.
    assert_eq!(err("m f=1\t"), "invalid number `1\t`");
    assert_eq!(ok("m f=1 \t ")[0].2, NOW);
}

#[test]
fn comments_blank_lines_and_crlf() {
    let body =
        "# a comment\r\n\r\n   \n  # indented comment\nm f=1 1000000\r\nm f=2 2000000\r\n\r\n";
    let got = ok(body);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], ("m f".into(), num(2.0), 2));
    // A CRLF line without a timestamp: the CR is not part of the value.
    assert_eq!(ok("m s=\"x\"\r\n")[0].1, Value::from("x"));
    assert_eq!(ok("m f=1\r\n")[0].1, num(1.0));
    // A lone CR inside a name is data.
    assert_eq!(ok("m\rx f=1 0")[0].0, "m\rx f");
    let report = parser().parse(body.as_bytes(), |_| {});
    assert_eq!(report.lines, 7);
}

#[test]
fn empty_bodies() {
    for body in ["", "\n", "\n\n", "# only a comment", "  ", "\r\n"] {
        let report = parser().parse(body.as_bytes(), |_| panic!("no points"));
        assert!(report.is_ok());
        assert_eq!(report.consumed, body.len());
    }
}

// ---- timestamps ------------------------------------------------------------------------

#[test]
fn precisions() {
    for (p, ts, ms) in [
        (Precision::Ns, 1_500_000_000i64, 1_500i64),
        (Precision::Us, 1_500_000, 1_500),
        (Precision::Ms, 1_500, 1_500),
        (Precision::S, 2, 2_000),
        (Precision::M, 2, 120_000),
        (Precision::H, 2, 7_200_000),
        (Precision::Ns, -1, -1),
        (Precision::Ns, -1_000_001, -2),
        (Precision::Us, -1_500, -2),
    ] {
        let got = ok_with(&Parser::new(p, NOW), &format!("m f=1 {ts}"));
        assert_eq!(got[0].2, ms, "{p} {ts}");
    }
}

#[test]
fn missing_timestamp_uses_default_truncated_to_precision() {
    assert_eq!(ok("m f=1")[0].2, NOW);
    assert_eq!(ok_with(&Parser::new(Precision::Ms, NOW), "m f=1")[0].2, NOW);
    assert_eq!(
        ok_with(&Parser::new(Precision::S, NOW), "m f=1")[0].2,
        1_700_000_123_000
    );
    assert_eq!(
        ok_with(&Parser::new(Precision::H, NOW), "m f=1")[0].2,
        NOW - NOW % 3_600_000
    );
}

#[test]
fn bad_timestamps() {
    assert_eq!(err("m f=1 12x"), "bad timestamp `12x`");
    assert_eq!(err("m f=1 1.5"), "bad timestamp `1.5`");
    assert_eq!(err("m f=1 -"), "bad timestamp `-`");
    assert_eq!(err("m f=1 --1"), "bad timestamp `--1`");
    assert_eq!(err("m f=1 1\t"), "bad timestamp `1\t`");
    assert_eq!(err("m f=1 +1"), "bad timestamp `+1`");
    assert_eq!(err("m f=1 abc"), "bad timestamp `abc`");
    assert_eq!(
        err("m f=1 9223372036854775808"),
        "time outside range 9223372036854775808"
    );
    // Fits an i64 in seconds but not in milliseconds.
    assert_eq!(
        err_with(&Parser::new(Precision::S, 0), "m f=1 9223372036854775807"),
        "time outside range 9223372036854775807"
    );
    assert_eq!(
        err("m f=1 1 2"),
        "point is invalid: unexpected text after the timestamp"
    );
}

#[test]
fn extreme_timestamps_in_range() {
    assert_eq!(
        ok("m f=1 -9223372036854775808")[0].2,
        i64::MIN.div_euclid(1_000_000)
    );
    assert_eq!(
        ok_with(&Parser::new(Precision::Ms, 0), "m f=1 9223372036854775807")[0].2,
        i64::MAX
    );
}

// ---- structural errors, with InfluxDB's wording -----------------------------------------

#[test]
fn structural_errors() {
    for (line, reason) in [
        ("cpu", "missing fields"),
        ("cpu ", "missing fields"),
        ("cpu,host=a", "missing fields"),
        ("cpu,host=a ", "missing fields"),
        (",host=a f=1", "missing measurement"),
        ("cpu, f=1", "missing tag key"),
        ("cpu,=a f=1", "missing tag key"),
        ("cpu,host=a, f=1", "missing tag key"),
        ("cpu,host f=1", "missing tag value"),
        ("cpu,host= f=1", "missing tag value"),
        ("cpu,host=,x=1 f=1", "missing tag value"),
        ("cpu,host", "missing tag value"),
        ("cpu,host=a=b f=1", "invalid tag format"),
        ("cpu =1", "missing field key"),
        ("cpu f=1,=2", "missing field key"),
        ("cpu f=", "missing field value"),
        ("cpu f= 1", "missing field value"),
        ("cpu f=,g=1", "missing field value"),
        ("cpu f", "invalid field format"),
        ("cpu f=1,", "invalid field format"),
        ("cpu f=1, g=2", "invalid field format"),
        ("cpu f=1,g", "invalid field format"),
        ("cpu ,f=1", "invalid field format"),
        ("cpu f g=1", "invalid field format"),
    ] {
        assert_eq!(err(line), reason, "{line:?}");
    }
}

#[test]
fn duplicate_tags() {
    assert_eq!(
        err("cpu,a=1,a=2 f=1"),
        "duplicate tags: `a` appears more than once"
    );
    assert_eq!(
        err("cpu,b=1,a=1,b=2 f=1"),
        "duplicate tags: `b` appears more than once"
    );
    // Spelled differently, the same after unescaping.
    assert_eq!(
        err(r"cpu,a\ b=1,a\ b=2 f=1"),
        "duplicate tags: `a b` appears more than once"
    );
    assert_eq!(
        err(r"cpu,a\,b=1,a\,b=2 f=1"),
        "duplicate tags: `a,b` appears more than once"
    );
}

#[test]
fn key_length_limit() {
    let long = "x".repeat(65_536);
    assert_eq!(
        err(&format!("{long} f=1")),
        "max key length exceeded: 65536 > 65535"
    );
    let m = "m".repeat(65_530);
    assert_eq!(
        err(&format!("{m} ff=1")),
        "max key length exceeded: 65536 > 65535"
    );
    assert_eq!(ok(&format!("{m} f=1")).len(), 1);
}

// ---- partial writes and reporting -------------------------------------------------------

#[test]
fn bad_lines_do_not_stop_the_parse() {
    let body = "m f=1 0\nm f=oops 0\n\nm f=2 0\nm,=x f=1\nm f=3 0";
    let mut values = Vec::new();
    let report = parser().parse(body.as_bytes(), |p| values.push(p.value));
    assert_eq!(values, vec![num(1.0), num(2.0), num(3.0)]);
    assert_eq!(report.points, 3);
    assert_eq!(report.error_count, 2);
    assert_eq!(report.lines, 6);
    let first = report.first_error().unwrap();
    assert_eq!(first.line, 2);
    assert_eq!(first.text, "m f=oops 0");
    assert_eq!(
        first.to_string(),
        "unable to parse 'm f=oops 0': invalid boolean `oops`"
    );
    assert_eq!(report.errors[1].line, 5);
    assert_eq!(report.errors[1].message, "missing tag key");
}

#[test]
fn error_text_is_cut_to_100_characters() {
    let line = format!("m f={}", "é".repeat(200));
    let report = parser().parse(line.as_bytes(), |_| {});
    let text = &report.errors[0].text;
    assert_eq!(text.chars().count(), 103);
    assert!(text.ends_with("..."));
    assert!(text.starts_with("m f=éé"));
    // A CRLF's CR is not shown.
    let report = parser().parse(b"bad\r\nm f=1\r\n", |_| {});
    assert_eq!(report.errors[0].text, "bad");
    assert_eq!(report.points, 1);
}

#[test]
fn error_list_is_capped_but_counted() {
    let body = "bad\n".repeat(10);
    let report = parser().with_max_errors(3).parse(body.as_bytes(), |_| {});
    assert_eq!(report.errors.len(), 3);
    assert_eq!(report.error_count, 10);
    assert_eq!(report.errors[2].line, 3);
}

#[test]
fn unterminated_quote_swallows_the_rest_like_influxdb() {
    // InfluxDB's line splitter lets a quoted value span newlines, so an unclosed quote turns
    // the rest of the body into one bad line.
    let report = parser().parse(b"m f=1 0\nm s=\"abc 0\nm f=2 0\nm f=3 0\n", |_| {});
    assert_eq!(report.points, 1);
    assert_eq!(report.error_count, 1);
    assert_eq!(report.errors[0].line, 2);
    assert_eq!(report.errors[0].message, "unbalanced quotes");
    assert_eq!(report.lines, 4);
}

#[test]
fn long_lines_are_errors_and_parsing_resumes() {
    let p = parser().with_max_line_len(20);
    let body = "m f=1 0\nm f=1,g=2,h=3,i=4,j=5 0\nm f=2 0\n";
    let mut n = 0;
    let report = p.parse(body.as_bytes(), |_| n += 1);
    assert_eq!(n, 2);
    assert_eq!(report.errors[0].line, 2);
    assert_eq!(
        report.errors[0].message,
        "line too long: more than 20 bytes"
    );
    assert_eq!(report.errors[0].text, "m f=1,g=2,h=3,i=4,j=5 0");
    // An unclosed quote past the limit only costs its own physical line.
    let body = "m s=\"abcdefghijklmnopqrstuvwxyz\nm f=2 0\n";
    let mut n = 0;
    let report = p.parse(body.as_bytes(), |_| n += 1);
    assert_eq!(n, 1);
    assert_eq!(report.error_count, 1);
    assert_eq!(report.errors[0].text, "m s=\"abcdefghijklmnopqrstuvwxyz");
    assert_eq!(report.lines, 2);
    // A bad line that is also too long is reported as too long.
    let report = p.parse(b"m f=oops,g=1,h=2,i=3,j=4\n", |_| {});
    assert!(report.errors[0].message.starts_with("line too long"));
}

#[test]
fn invalid_utf8_names_the_line() {
    let body = b"m f=1 0\nm\xff f=1 0\nm f=2 0\nm s=\"\xc3\x28\" 0\nm f=3 0";
    let mut values = Vec::new();
    let report = parser().parse(body, |p| values.push(p.value));
    assert_eq!(values, vec![num(1.0), num(2.0), num(3.0)]);
    assert_eq!(report.error_count, 2);
    assert_eq!(report.errors[0].line, 2);
    assert_eq!(report.errors[0].message, "invalid UTF-8");
    assert_eq!(report.errors[0].text, "m\u{fffd} f=1 0");
    assert_eq!(report.errors[1].line, 4);
    assert_eq!(report.lines, 5);
    // A line with a syntax error and bad UTF-8 is reported for the encoding.
    let report = parser().parse(b"m f=x \xff", |_| {});
    assert_eq!(report.errors[0].message, "invalid UTF-8");
}

// ---- chunked input -----------------------------------------------------------------------

#[test]
fn chunks_leave_an_unterminated_line() {
    let p = parser();
    let body = b"m f=1 0\nbad\nm f=2 0\nm f=3";
    let mut n = 0;
    let r = p.parse_chunk(body, 1, false, |_| n += 1);
    assert_eq!(n, 2);
    assert_eq!(r.consumed, body.len() - 5);
    assert_eq!(r.lines, 3);
    assert_eq!(r.errors[0].line, 2);
    let r = p.parse_chunk(&body[r.consumed..], 1 + r.lines, true, |l| {
        n += 1;
        assert_eq!(l.line, 4);
    });
    assert_eq!(n, 3);
    assert_eq!(r.lines, 1);
    // An open quote at the end of a chunk waits for more input, too.
    let r = p.parse_chunk(b"m f=1 0\nm s=\"a\nb", 1, false, |_| {});
    assert_eq!(r.consumed, 8);
    assert!(r.is_ok());
    // A quote that never closes does not hold back more than the line limit.
    let body = "m s=\"never closed\nm f=1 0\nm f=2 0\nm f=3";
    let mut lines = Vec::new();
    let r = p
        .clone()
        .with_max_line_len(20)
        .parse_chunk(body.as_bytes(), 1, false, |l| lines.push(l.line));
    assert_eq!(lines, vec![2, 3]);
    assert_eq!(r.errors[0].line, 1);
    assert!(r.errors[0].message.starts_with("line too long"));
    assert_eq!(r.consumed, body.len() - 5);
    // A chunk cut inside a multi-byte character is not an encoding error.
    let r = p.parse_chunk(
        "m f=1 0\nm s=\"é".as_bytes().split_last().unwrap().1,
        1,
        false,
        |_| {},
    );
    assert_eq!(r.consumed, 8);
    assert!(r.is_ok());
}

#[test]
fn canonical_keys_match_series_key_display() {
    let body = br"m\ x\,y,b\=c=v\ w,a=\\z f\,g=1,h=2 0";
    let mut checked = 0;
    parser().parse_lines(body, |l| {
        for i in 0..l.fields.len() {
            let mut s = String::new();
            l.write_canonical_key(i, &mut s);
            let key = l.series_key(i).unwrap().unwrap();
            assert_eq!(s, key.to_string());
            assert_eq!(s.parse::<SeriesKey>().unwrap(), key);
            checked += 1;
        }
    });
    assert_eq!(checked, 2);
}

#[test]
fn write_point_round_trips() {
    let key = SeriesKey::new(
        "my meas,x",
        [("t=a".to_owned(), "v 1,\\x".to_owned())],
        "f =",
    )
    .unwrap();
    for value in [
        num(1.5),
        num(-0.0),
        num(1e300),
        Value::from("a \"b\" \\ c\nd"),
    ] {
        let mut line = String::new();
        write_point(&mut line, &key, &value, -5).unwrap();
        let got = ok_with(&Parser::new(Precision::Ms, 0), &line);
        assert_eq!(got, vec![(key.to_string(), value, -5)], "{line}");
    }
    let bad = SeriesKey::new("#m", Vec::new(), "f").unwrap();
    assert!(write_point(&mut String::new(), &bad, &num(1.0), 0).is_err());
    let bad = SeriesKey::new("m\\", Vec::new(), "f").unwrap();
    assert!(write_point(&mut String::new(), &bad, &num(1.0), 0).is_err());
    let bad = SeriesKey::new("m", Vec::new(), "a\nb").unwrap();
    assert!(write_point(&mut String::new(), &bad, &num(1.0), 0).is_err());
}

#[test]
fn nul_bytes_in_names_are_refused_and_in_string_values_kept() {
    assert!(err("cp\0u v=1 0").contains("invalid measurement: it holds a NUL byte"));
    assert!(err("cpu,h\0=a v=1 0").contains("invalid tag: it holds a NUL byte"));
    assert!(err("cpu,h=a\0 v=1 0").contains("invalid tag"));
    assert!(err("cpu v\0=1 0").contains("invalid field key: it holds a NUL byte"));
    assert_eq!(ok("cpu s=\"a\0b\" 0")[0].1, Value::Str("a\0b".into()));
}
