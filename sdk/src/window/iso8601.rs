//! ISO-8601 date-times (`YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM|±HHMM]`) to epoch ms,
//! with the proleptic Gregorian calendar math they need.

use crate::points::Timestamp;

/// Parses `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM|±HHMM]` to epoch ms (no offset = UTC).
pub fn parse_iso8601(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let date = s.get(..10)?;
    let year = num(date.get(..4)?)?;
    if date.as_bytes().get(4) != Some(&b'-') || date.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let month = num(date.get(5..7)?)?;
    let day = num(date.get(8..10)?)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    // Split off the zone designator.
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, z) = rest.split_at(pos);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = z[1..].replace(':', "");
        if z.len() != 4 {
            return None;
        }
        // `get`, not slicing: four bytes may hold a multi-byte character (found by the fuzz
        // target `function_arguments`: `2023-01-1\u{7b2}2:` panicked here).
        let hh = num(z.get(..2)?)?;
        let mm = num(z.get(2..)?)?;
        if hh > 23 || mm > 59 {
            return None;
        }
        (t, sign * (hh * 3_600_000 + mm * 60_000))
    } else {
        (rest, 0)
    };
    let mut parts = time.splitn(3, ':');
    let hh = num(parts.next()?)?;
    let mm = num(parts.next()?)?;
    let (ss, frac_ms) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let frac_ms = if frac.is_empty() {
                0
            } else {
                // Milliseconds: the first three digits, padded.
                let mut f: String = frac.chars().take(3).collect();
                while f.len() < 3 {
                    f.push('0');
                }
                if !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                num(&f)?
            };
            (num(whole)?, frac_ms)
        }
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    ms += hh * 3_600_000 + mm * 60_000 + ss * 1000 + frac_ms;
    Some(ms - offset_ms)
}

/// Days of a month in the proleptic Gregorian calendar.
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::TIMESTAMP_THRESHOLD;
    use crate::window::tests::NOW;

    #[test]
    fn a_multibyte_character_in_the_zone_is_refused_not_a_panic() {
        // Found by cargo-fuzz (`function_arguments`): the zone's four bytes held a two-byte
        // character and slicing them panicked (a trapped plugin call).
        assert_eq!(parse_iso8601("2023-01-14 2023-01-1\u{7b2}2:"), None);
        assert_eq!(parse_iso8601("2023-01-14T10:00+\u{7b2}12"), None);
        assert_eq!(parse_iso8601("2023-01-14T10:00+1\u{e9}2"), None);
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(parse_iso8601("2023-11-14T22:13:20Z"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14T22:13:20.000Z"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14 22:13:20"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-15T00:13:20+02:00"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14T21:13:20-0100"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14T22:13:20.5Z"), Some(NOW + 500));
        assert_eq!(parse_iso8601("2000-01-01"), Some(TIMESTAMP_THRESHOLD));
        assert_eq!(parse_iso8601("2024-02-29T00:00Z"), Some(1_709_164_800_000));
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-11-14T25:00Z",
            "2023-11-14X",
            "2023-1-1",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }
}
