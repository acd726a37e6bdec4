//! The window grammar: `num` and `shift` as a count (`#N`), a duration (`300000`, `5m`,
//! `1.5h`) or a timestamp (epoch ms or ISO-8601), and the strict marker `!` on `num`.

use super::iso8601::parse_iso8601;
use super::{TIMESTAMP_THRESHOLD, Term, Window};
use crate::error::{Result, bad_argument};

impl Window {
    /// Parses `num` and `shift` (either may be `None` or empty: an empty `shift` is 0, an
    /// empty `num` is an error naming `num`). A `!` before or after `num`'s `#` (`!#20`,
    /// `#!20`, `!5m`) makes the window strict.
    pub fn parse(num: Option<&str>, shift: Option<&str>) -> Result<Window> {
        let num = num.map(str::trim).filter(|s| !s.is_empty());
        let Some(num) = num else {
            return Err(bad_argument(
                "num",
                "required: #N, a duration (5m) or a timestamp",
            ));
        };
        let (num_text, strict) = strip_strict(num);
        let num = parse_term(&num_text, "num")?;
        if num == Term::Count(0) {
            return Err(bad_argument("num", "#0 selects nothing; use #1 or more"));
        }
        if let Term::Duration(d) = num
            && d < 0
        {
            return Err(bad_argument("num", "a period cannot be negative"));
        }
        let shift = match shift.map(str::trim).filter(|s| !s.is_empty()) {
            None => Term::Duration(0),
            Some(s) => {
                if s.contains('!') {
                    return Err(bad_argument(
                        "shift",
                        "the strict marker `!` belongs on num (`!#20`, `!5m`)",
                    ));
                }
                let t = parse_term(s, "shift")?;
                if let Term::Duration(d) = t
                    && d < 0
                {
                    return Err(bad_argument("shift", "a shift cannot be negative"));
                }
                t
            }
        };
        if let Term::Timestamp(_) = num {
            match shift {
                Term::Timestamp(_) | Term::Duration(0) => {}
                _ => {
                    return Err(bad_argument(
                        "shift",
                        "after a timestamp num, shift must be a second timestamp (or empty)",
                    ));
                }
            }
        }
        Ok(Window { num, shift, strict })
    }
}

/// Splits a leading `!`, or a `!` right after `#`, off a `num` parameter.
fn strip_strict(s: &str) -> (String, bool) {
    if let Some(rest) = s.strip_prefix('!') {
        return (rest.trim_start().to_owned(), true);
    }
    if let Some(rest) = s.strip_prefix("#!") {
        return (format!("#{rest}"), true);
    }
    (s.to_owned(), false)
}

/// Parses one `num`/`shift` term; `name` goes into errors.
pub fn parse_term(s: &str, name: &str) -> Result<Term> {
    let s = s.trim();
    if let Some(count) = s.strip_prefix('#') {
        let n = count.trim().parse::<u64>().map_err(|_| {
            bad_argument(
                name,
                format!("`{s}`: a count is # followed by a whole number (#10)"),
            )
        })?;
        return Ok(Term::Count(n));
    }
    if looks_like_iso(s) {
        return parse_iso8601(s)
            .map(Term::Timestamp)
            .ok_or_else(|| bad_argument(name, format!("`{s}` is not a valid ISO-8601 date-time")));
    }
    let bare = s
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    let ms = parse_duration(s).ok_or_else(|| {
        bad_argument(
            name,
            format!(
                "`{s}`: expected #N, a duration (ms or with s m h d w: 5m, 1.5h) or a timestamp"
            ),
        )
    })?;
    if bare && ms >= TIMESTAMP_THRESHOLD {
        Ok(Term::Timestamp(ms))
    } else {
        Ok(Term::Duration(ms))
    }
}

/// Parses a duration: a decimal number of ms, or with a unit suffix `s m h d w` (any case).
/// The result must be a whole number of ms (`1.5m` = 90000, `0.5` is an error). A sign is
/// allowed (callers reject negatives where they make no sense).
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (number, unit): (&str, i128) = match s.as_bytes().last()? {
        b's' | b'S' => (&s[..s.len() - 1], 1_000),
        b'm' | b'M' => (&s[..s.len() - 1], 60_000),
        b'h' | b'H' => (&s[..s.len() - 1], 3_600_000),
        b'd' | b'D' => (&s[..s.len() - 1], 86_400_000),
        b'w' | b'W' => (&s[..s.len() - 1], 604_800_000),
        _ => (s, 1),
    };
    let (negative, digits) = match number.trim_end().as_bytes().first()? {
        b'-' => (true, &number.trim_end()[1..]),
        b'+' => (false, &number.trim_end()[1..]),
        _ => (false, number.trim_end()),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Exact decimal arithmetic: mantissa · unit / 10^scale must be whole.
    let frac_part = frac_part.trim_end_matches('0');
    if int_part.len() + frac_part.len() > 30 {
        return None;
    }
    let mantissa: i128 = format!("{int_part}{frac_part}").parse().unwrap_or(0);
    let scale = 10_i128.checked_pow(u32::try_from(frac_part.len()).ok()?)?;
    let scaled = mantissa.checked_mul(unit)?;
    if scaled % scale != 0 {
        return None;
    }
    let ms = scaled / scale;
    let ms = if negative { -ms } else { ms };
    i64::try_from(ms).ok()
}

/// `YYYY-MM-DD...`: the start of an ISO-8601 date.
fn looks_like_iso(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::tests::NOW;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300000"), Some(300_000));
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("5M"), Some(300_000));
        assert_eq!(parse_duration("1.5m"), Some(90_000));
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000));
        assert_eq!(parse_duration("1w"), Some(604_800_000));
        assert_eq!(parse_duration("0.001s"), Some(1));
        assert_eq!(parse_duration("-10m"), Some(-600_000));
        assert_eq!(parse_duration("0"), Some(0));
        for bad in [
            "", "0.5", "1.5", "m", "5x", "1e3", "abc", "0.0001s", "--5", "5 m m",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn term_kinds() {
        assert_eq!(parse_term("#10", "num").unwrap(), Term::Count(10));
        assert_eq!(parse_term("5m", "num").unwrap(), Term::Duration(300_000));
        assert_eq!(
            parse_term("946684799999", "num").unwrap(),
            Term::Duration(946_684_799_999)
        );
        assert_eq!(
            parse_term("946684800000", "num").unwrap(),
            Term::Timestamp(TIMESTAMP_THRESHOLD)
        );
        assert_eq!(
            parse_term("2023-11-14T22:13:20Z", "num").unwrap(),
            Term::Timestamp(NOW)
        );
        let err = parse_term("#5m", "num").unwrap_err();
        assert!(err.to_string().contains("`num`"), "{err}");
        assert!(parse_term("#-1", "shift").is_err());
        assert!(parse_term("1.5", "shift").is_err());
    }

    #[test]
    fn strict_markers() {
        for s in ["!#20", "#!20", "! #20"] {
            let w = Window::parse(Some(s), None).unwrap();
            assert!(w.is_strict(), "{s}");
            assert_eq!(w.num(), Term::Count(20));
        }
        let w = Window::parse(Some("!5m"), None).unwrap();
        assert!(w.is_strict());
        assert_eq!(w.num(), Term::Duration(300_000));
        assert!(!Window::parse(Some("#20"), None).unwrap().is_strict());
        assert!(Window::parse(Some("#20"), Some("!#1")).is_err());
    }

    #[test]
    fn parse_errors_name_the_parameter() {
        let e = Window::parse(None, None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
        let e = Window::parse(Some("#0"), None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
        let e = Window::parse(Some("-5m"), None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
        let e = Window::parse(Some("5m"), Some("-1m")).unwrap_err();
        assert!(e.to_string().contains("`shift`"));
        let e = Window::parse(Some("1700000000000"), Some("5m")).unwrap_err();
        assert!(e.to_string().contains("`shift`"));
        let e = Window::parse(Some("1700000000000"), Some("#2")).unwrap_err();
        assert!(e.to_string().contains("`shift`"));
        let e = Window::parse(Some("abc"), None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
    }

    proptest::proptest! {
        #[test]
        fn durations_parse_exactly(n in -1_000_000_i64..1_000_000, unit in 0_usize..6, tenths in 0_i64..10) {
            let (suffix, ms) = [("", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)][unit];
            proptest::prop_assert_eq!(parse_duration(&format!("{n}{suffix}")), Some(n * ms));
            // One decimal: whole ms exactly when ms·tenths is a multiple of 10.
            let text = format!("{}.{tenths}{suffix}", n.abs());
            let want = (ms * tenths % 10 == 0).then(|| n.abs() * ms + ms * tenths / 10);
            proptest::prop_assert_eq!(parse_duration(&text), want);
        }
    }
}
