//! The statements clients send (Grafana, the influx CLI, client libraries), parsed.
#![allow(clippy::unwrap_used, clippy::panic)]

use clio_influxql::*;
use proptest::prelude::*;

fn select(q: &str) -> Select {
    match parse_statement(q).unwrap() {
        Statement::Select(s) => *s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn grafana_graph_query() {
    let s = select(
        r#"SELECT mean("value") FROM "autogen"."cpu" WHERE ("host" =~ /^server1$/) AND time >= 1700000000000ms and time <= 1700003600000ms GROUP BY time(10s), "host" fill(null) ORDER BY time DESC LIMIT 10 SLIMIT 2"#,
    );
    assert_eq!(s.fields.len(), 1);
    assert_eq!(
        s.fields[0].expr,
        Expr::Call {
            name: "mean".into(),
            args: vec![Expr::Ident("value".into())]
        }
    );
    assert_eq!(s.sources[0].retention_policy.as_deref(), Some("autogen"));
    assert_eq!(s.sources[0].name, SourceName::Name("cpu".into()));
    assert_eq!(
        s.group_time,
        Some(GroupTime {
            interval: 10_000_000_000,
            offset: 0
        })
    );
    assert_eq!(
        s.group_tags,
        GroupTags::Some(vec![TagDim::Name("host".into())])
    );
    assert_eq!(s.fill, Fill::Null);
    assert!(s.descending);
    assert_eq!(s.page.limit, 10);
    assert_eq!(s.series_page.limit, 2);
}

#[test]
fn selects() {
    let s = select("select percentile(value, 95) as p95, max(v) from m group by * fill(previous)");
    assert_eq!(s.fields[0].alias.as_deref(), Some("p95"));
    assert_eq!(s.group_tags, GroupTags::All);
    assert_eq!(s.fill, Fill::Previous);
    let s = select(
        "SELECT value::field, host::tag FROM db..m, /^c/ WHERE time > now() - 1h GROUP BY time(1m, -30s) fill(-1.5) tz('UTC')",
    );
    assert_eq!(s.sources[0].database.as_deref(), Some("db"));
    assert_eq!(s.sources[0].retention_policy, None);
    assert_eq!(s.sources[1].name, SourceName::Regex("^c".into()));
    assert_eq!(s.group_time.unwrap().offset, -30_000_000_000);
    assert_eq!(s.fill, Fill::Value(-1.5));
    assert_eq!(s.tz.as_deref(), Some("UTC"));
    let s = select("SELECT * FROM m LIMIT 5 OFFSET 2 SLIMIT 1 SOFFSET 3");
    assert_eq!(s.fields[0].expr, Expr::Wildcard);
    assert_eq!((s.page.limit, s.page.offset), (5, 2));
    assert_eq!((s.series_page.limit, s.series_page.offset), (1, 3));
}

#[test]
fn shows() {
    assert_eq!(
        parse_statement("SHOW DATABASES").unwrap(),
        Statement::ShowDatabases
    );
    assert_eq!(
        parse_statement(r#"SHOW RETENTION POLICIES on "plant""#).unwrap(),
        Statement::ShowRetentionPolicies {
            on: Some("plant".into())
        }
    );
    match parse_statement("SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)cp/ LIMIT 100").unwrap() {
        Statement::ShowMeasurements { with, page, .. } => {
            assert_eq!(with, Some(NameMatch::Regex("(?i)cp".into())));
            assert_eq!(page.limit, 100);
        }
        o => panic!("{o:?}"),
    }
    match parse_statement(r#"SHOW TAG VALUES FROM "cpu" WITH KEY = "host" WHERE "dc" = 'x'"#)
        .unwrap()
    {
        Statement::ShowTagValues {
            from,
            key,
            condition,
            ..
        } => {
            assert_eq!(from.len(), 1);
            assert_eq!(key, KeyMatch::In(vec!["host".into()]));
            assert!(condition.is_some());
        }
        o => panic!("{o:?}"),
    }
    match parse_statement(r#"SHOW TAG VALUES WITH KEY IN ("a", "b")"#).unwrap() {
        Statement::ShowTagValues { key, .. } => {
            assert_eq!(key, KeyMatch::In(vec!["a".into(), "b".into()]))
        }
        o => panic!("{o:?}"),
    }
    for q in [
        "SHOW TAG KEYS FROM cpu",
        "SHOW FIELD KEYS FROM \"cpu\"",
        "SHOW SERIES FROM cpu WHERE host = 'a' LIMIT 5",
        "SHOW MEASUREMENTS",
    ] {
        parse_statement(q).unwrap();
    }
}

#[test]
fn several_statements_and_deletes() {
    let v = parse_query("SELECT v FROM m; SHOW DATABASES;;DROP SERIES FROM m WHERE host='a'; DELETE FROM m WHERE time < '2020-01-01'").unwrap();
    assert_eq!(v.len(), 4);
    assert!(matches!(v[2], Statement::DropSeries { .. }));
    assert!(matches!(v[3], Statement::Delete { .. }));
    assert!(matches!(
        parse_statement("CREATE DATABASE \"x\" WITH DURATION 1d").unwrap(),
        Statement::CreateDatabase { .. }
    ));
}

#[test]
fn unsupported_statements_are_named() {
    match parse_statement("SHOW USERS").unwrap() {
        Statement::Unsupported { what } => assert_eq!(what, "SHOW USERS"),
        o => panic!("{o:?}"),
    }
    match parse_statement("CREATE RETENTION POLICY x ON y DURATION 1d REPLICATION 1").unwrap() {
        Statement::Unsupported { what } => assert!(what.starts_with("CREATE RETENTION POLICY")),
        o => panic!("{o:?}"),
    }
}

#[test]
fn errors_read_like_influxdb() {
    let e = parse_query("SELEC x").unwrap_err().to_string();
    assert!(
        e.starts_with("error parsing query: found SELEC, expected SELECT"),
        "{e}"
    );
    assert!(e.ends_with("at line 1, char 1"), "{e}");
    let e = parse_query("SELECT v FROM m WHERE")
        .unwrap_err()
        .to_string();
    assert!(e.contains("found EOF"), "{e}");
    let e = parse_query("SELECT v INTO x FROM m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("INTO is not supported"), "{e}");
    let e = parse_query("SELECT v FROM m ORDER BY host")
        .unwrap_err()
        .to_string();
    assert!(e.contains("only ORDER BY time"), "{e}");
    assert!(parse_query("").is_err());
    assert!(parse_query(&"(".repeat(10_000)).is_err());
    assert!(parse_query(&format!("SELECT {}1 FROM m", "-".repeat(100_000))).is_err());
    assert!(parse_query(&format!("SELECT {}1 FROM m", "+".repeat(100_000))).is_err());
    let long = vec!["host = 'a'"; 5_000].join(" OR ");
    let e = parse_query(&format!("SELECT v FROM m WHERE {long}")).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    let ok = vec!["host = 'a'"; 200].join(" OR ");
    parse_query(&format!("SELECT v FROM m WHERE {ok}")).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse_query(&s);
    }

    #[test]
    fn query_like_text_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("SELECT"), Just("SHOW"), Just("TAG"), Just("VALUES"), Just("WITH"), Just("KEY"),
        Just("FROM"), Just("WHERE"), Just("GROUP BY"), Just("time("), Just(")"), Just("("),
        Just("mean(value)"), Just("="), Just("=~"), Just("/a/"), Just("'x'"), Just("\"y\""),
        Just("10s"), Just("now()"), Just("-"), Just(","), Just(";"), Just("AND"), Just("OR"),
        Just("fill("), Just("LIMIT"), Just("1"), Just("."), Just("::"), Just("*"), Just("µ"),
    ], 0..30)) {
        let q = parts.join(" ");
        if let Ok(stmts) = parse_query(&q) {
            for s in stmts {
                if let Statement::Select(s) = s {
                    let _ = split(s.condition.as_ref(), 0, &|_| false);
                }
            }
        }
    }

    #[test]
    fn time_strings_never_panic(s in "[0-9T:. +Zz-]{0,40}") {
        let _ = parse_time(&s);
    }

    #[test]
    fn times_round_trip(ns in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000) {
        prop_assert_eq!(parse_time(&format_rfc3339(ns)).unwrap(), ns);
    }
}
