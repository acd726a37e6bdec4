//! Time literals: RFC3339 parsing and formatting in nanoseconds since the epoch (UTC), with
//! no calendar library.

use crate::error::QueryError;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const NS_PER_SEC: i64 = 1_000_000_000;

/// Formats nanoseconds since the epoch as InfluxDB does (RFC3339 with the fraction's
/// trailing zeros removed): `2026-01-02T03:04:05.5Z`.
pub fn format_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    let frac = ns.rem_euclid(NS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

fn num(s: &str, what: &str, full: &str) -> Result<i64, QueryError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_time(full, what));
    }
    s.parse().map_err(|_| bad_time(full, what))
}

fn bad_time(s: &str, what: &str) -> QueryError {
    QueryError::new(format!(
        "invalid time '{s}' ({what}): expected RFC3339 such as '2026-01-02T03:04:05Z', \
         '2026-01-02 03:04:05' or '2026-01-02'"
    ))
}

/// Parses a time string as InfluxQL accepts it: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.f]` or
/// RFC3339 (`YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`), into ns since the epoch.
pub fn parse_time(s: &str) -> Result<i64, QueryError> {
    let full = s;
    let s = s.trim();
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date.splitn(3, '-');
    let y = num(dp.next().unwrap_or(""), "year", full)?;
    let m = num(dp.next().unwrap_or(""), "month", full)?;
    let d = num(dp.next().unwrap_or(""), "day", full)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || date.len() != 10 {
        return Err(bad_time(full, "date"));
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad_time(full, "no such day"));
    }
    let mut secs = days * 86_400;
    let mut frac_ns = 0i64;
    if let Some(rest) = rest {
        // The zone: `Z`, `+hh:mm`, `-hh:mm`, or none (UTC).
        let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = rest.rfind(['+', '-']) {
            let sign = if rest.as_bytes()[i] == b'-' { -1 } else { 1 };
            let z = &rest[i + 1..];
            let (zh, zm) = z.split_once(':').unwrap_or((z, "0"));
            let (zh, zm) = (num(zh, "zone hours", full)?, num(zm, "zone minutes", full)?);
            // Bounded before any arithmetic: a huge offset would overflow it.
            if zh > 23 || zm > 59 {
                return Err(bad_time(full, "zone offset"));
            }
            let off = zh * 3600 + zm * 60;
            (&rest[..i], sign * off)
        } else {
            (rest, 0)
        };
        let (hms, frac) = match clock.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (clock, None),
        };
        let mut tp = hms.splitn(3, ':');
        let h = num(tp.next().unwrap_or(""), "hour", full)?;
        let mi = num(tp.next().unwrap_or(""), "minute", full)?;
        let se = num(tp.next().unwrap_or(""), "second", full)?;
        if h > 23 || mi > 59 || se > 60 {
            return Err(bad_time(full, "clock"));
        }
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad_time(full, "fraction"));
            }
            frac_ns = num(&format!("{f:0<9}"), "fraction", full)?;
        }
        secs += h * 3600 + mi * 60 + se - offset;
    }
    secs.checked_mul(NS_PER_SEC)
        .and_then(|n| n.checked_add(frac_ns))
        .ok_or_else(|| bad_time(full, "out of range (1677..2262)"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips() {
        for (s, ns) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2015-08-18T00:06:00.5Z", 1_439_856_360_500_000_000),
            ("2026-12-05T12:00:00.000000001Z", 1_796_472_000_000_000_001),
            ("1969-12-31T23:59:59Z", -1_000_000_000),
        ] {
            assert_eq!(parse_time(s).unwrap(), ns, "{s}");
            assert_eq!(format_rfc3339(ns), s);
        }
        assert_eq!(parse_time("2015-08-18").unwrap(), 1_439_856_000_000_000_000);
        assert_eq!(
            parse_time("2015-08-18 01:00:00").unwrap(),
            1_439_859_600_000_000_000
        );
        assert_eq!(
            parse_time("2015-08-18T02:00:00+01:00").unwrap(),
            1_439_859_600_000_000_000
        );
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "",
            "2015",
            "2015-02-30",
            "2015-08-18T25:00:00Z",
            "x-y-z",
            "2015-08-18T00:00:00.Z",
        ] {
            assert!(parse_time(s).is_err(), "{s}");
        }
    }

    /// A zone offset is two small numbers; a huge one used to overflow the offset's
    /// arithmetic (a panic, or in a release build a silently wrapped time).
    #[test]
    fn zone_offsets_out_of_range_are_refused() {
        for s in [
            "2015-08-18T00:00:00+9999999999999999:00",
            "2015-08-18T00:00:00-00:9999999999999999999",
            "2015-08-18T00:00:00+24:00",
            "2015-08-18T00:00:00+01:60",
        ] {
            let e = parse_time(s).unwrap_err().to_string();
            assert!(e.contains("zone"), "{s}: {e}");
        }
        assert_eq!(
            parse_time("2015-08-18T02:00:00+23:59").unwrap(),
            1_439_776_860_000_000_000
        );
    }
}
