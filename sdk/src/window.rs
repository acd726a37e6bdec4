//! ALEPIZ-style windows (`num`, `shift`) per semantics.md section 2, and reading a whole
//! window through [`History`].

use crate::error::{Result, bad_argument};
use crate::history::History;
use crate::points::{Points, Timestamp};

/// Values at or above this (2000-01-01T00:00:00Z in ms) are absolute timestamps, below it
/// durations.
pub const TIMESTAMP_THRESHOLD: i64 = 946_684_800_000;

/// How many points one host call asks for. Windows larger than this are read in several
/// calls, so a function always sees its whole window.
pub const CHUNK: u64 = 65_536;

/// One parsed `num` or `shift` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// `#N`: a number of records (for `num`) or of newest records to skip (for `shift`).
    Count(u64),
    /// A duration in ms (`300000`, `5m`, `1.5h`).
    Duration(i64),
    /// An absolute time: a number ≥ [`TIMESTAMP_THRESHOLD`] or an ISO-8601 date-time.
    Timestamp(Timestamp),
}

/// A window: which records of the series a function computes on. Build it with
/// [`Window::parse`] (or [`Args::window`](crate::Args::window)) and read it with
/// [`Window::fetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    num: Term,
    shift: Term,
    strict: bool,
}

/// Where a window lies once `now` is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The `n` newest records before `before` after skipping `skip` (count form; strict mode
    /// needs ≥ 90 % of `n`).
    Last {
        /// Records wanted.
        n: u64,
        /// Newest records skipped.
        skip: u64,
        /// Exclusive upper time bound.
        before: Timestamp,
    },
    /// Every record of `[from, to)` (time form; strict mode needs ≥ 2 records and the first
    /// within 1.2 median gaps of `from`).
    Range {
        /// Inclusive start.
        from: Timestamp,
        /// Exclusive end.
        to: Timestamp,
    },
    /// `f(period, #K)`: skip the `skip` newest records; the window is the `period` ending with,
    /// and including, the newest record left.
    Anchored {
        /// Newest records skipped.
        skip: u64,
        /// Period in ms.
        period: i64,
    },
}

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

    /// A window of the `n` newest records (`#n`).
    pub fn last(n: u64) -> Window {
        Window {
            num: Term::Count(n),
            shift: Term::Duration(0),
            strict: false,
        }
    }

    /// True for a strict (`!`) window.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The parsed `num`.
    pub fn num(&self) -> Term {
        self.num
    }

    /// The parsed `shift`.
    pub fn shift(&self) -> Term {
        self.shift
    }

    /// Where the window lies at evaluation time `now`.
    pub fn span(&self, now: Timestamp) -> Span {
        // "At or before t" as an exclusive bound, never past `now` (points at `now` are
        // invisible).
        let at_or_before = |t: Timestamp| t.saturating_add(1).min(now);
        match (self.num, self.shift) {
            (Term::Count(n), Term::Count(k)) => Span::Last {
                n,
                skip: k,
                before: now,
            },
            (Term::Count(n), Term::Duration(s)) => Span::Last {
                n,
                skip: 0,
                before: now.saturating_sub(s),
            },
            (Term::Count(n), Term::Timestamp(t)) => Span::Last {
                n,
                skip: 0,
                before: t.min(now),
            },
            // Period 0: the newest record at or before now − shift (ALEPIZ's "0 = newest").
            (Term::Duration(0), Term::Count(k)) => Span::Last {
                n: 1,
                skip: k,
                before: now,
            },
            (Term::Duration(0), Term::Duration(s)) => Span::Last {
                n: 1,
                skip: 0,
                before: at_or_before(now.saturating_sub(s)),
            },
            (Term::Duration(0), Term::Timestamp(t)) => Span::Last {
                n: 1,
                skip: 0,
                before: at_or_before(t),
            },
            (Term::Duration(p), Term::Count(k)) => Span::Anchored { skip: k, period: p },
            (Term::Duration(p), Term::Duration(s)) => {
                let to = now.saturating_sub(s);
                Span::Range {
                    from: to.saturating_sub(p),
                    to,
                }
            }
            (Term::Duration(p), Term::Timestamp(t)) => Span::Range {
                from: t,
                to: t.saturating_add(p),
            },
            (Term::Timestamp(a), Term::Timestamp(b)) => Span::Range {
                from: a.min(b),
                to: a.max(b),
            },
            // `parse` only lets an empty shift through here: from the timestamp until now.
            (Term::Timestamp(a), _) => Span::Range { from: a, to: now },
        }
    }

    /// Reads the whole window (in chunks of [`CHUNK`] points) from the current series.
    /// `Ok(None)` means a strict window that is not well covered ("no data").
    pub fn fetch(&self, h: &dyn History) -> Result<Option<Points>> {
        let series = h.series().id;
        match self.span(h.now()) {
            Span::Last { n, skip, before } => {
                let points = read_last_all(h, series, n, skip, before)?;
                if self.strict && !count_well_covered(points.len(), n) {
                    return Ok(None);
                }
                Ok(Some(points))
            }
            Span::Range { from, to } => {
                let points = read_range_all(h, series, from, to)?;
                if self.strict && !time_well_covered(points.timestamps(), from) {
                    return Ok(None);
                }
                Ok(Some(points))
            }
            Span::Anchored { skip, period } => {
                let anchor = h.read_last(series, 1, skip, h.now())?;
                let Some(&t) = anchor.timestamps().last() else {
                    return Ok(if self.strict {
                        None
                    } else {
                        Some(Points::new())
                    });
                };
                let from = t.saturating_sub(period).saturating_add(1);
                let points = read_range_all(h, series, from, t.saturating_add(1))?;
                if self.strict && !time_well_covered(points.timestamps(), from) {
                    return Ok(None);
                }
                Ok(Some(points))
            }
        }
    }
}

/// Reads `n` newest records before `before` after skipping `skip`, in chunks.
fn read_last_all(
    h: &dyn History,
    series: u64,
    n: u64,
    skip: u64,
    before: Timestamp,
) -> Result<Points> {
    let mut chunks: Vec<Points> = Vec::new();
    let mut remaining = n;
    let mut skip = skip;
    let mut before = before;
    while remaining > 0 {
        let want = remaining.min(CHUNK);
        let chunk = h.read_last(series, want, skip, before)?;
        let got = chunk.len() as u64;
        let full = got >= want || chunk.truncated();
        let Some(&oldest) = chunk.timestamps().first() else {
            break;
        };
        remaining = remaining.saturating_sub(got);
        skip = 0;
        before = oldest;
        chunks.push(chunk);
        if !full {
            break;
        }
    }
    Ok(concat_newest_first(chunks))
}

/// Reads every record of `[from, to)`, following truncated answers backwards.
fn read_range_all(h: &dyn History, series: u64, from: Timestamp, to: Timestamp) -> Result<Points> {
    let mut chunks: Vec<Points> = Vec::new();
    let mut to = to;
    while from < to {
        let chunk = h.read_range(series, from, to, CHUNK)?;
        let more = chunk.truncated();
        let Some(&oldest) = chunk.timestamps().first() else {
            break;
        };
        // Guard against a host that repeats itself: the next bound must move back.
        let stuck = oldest >= to;
        to = oldest;
        chunks.push(chunk);
        if !more || stuck {
            break;
        }
    }
    Ok(concat_newest_first(chunks))
}

/// Joins chunks that were read newest first into one ascending list.
fn concat_newest_first(mut chunks: Vec<Points>) -> Points {
    let Some(mut all) = chunks.pop() else {
        return Points::new();
    };
    while let Some(newer) = chunks.pop() {
        all.extend(newer);
    }
    // Every chunk was followed up, so the joined answer is the whole window.
    let (ts, nums, strs, kinds, _) = all.into_columns();
    Points::from_columns(ts, nums, strs, kinds, false).unwrap_or_default()
}

/// Strict count form: at least 90 % of the requested records.
pub fn count_well_covered(got: usize, wanted: u64) -> bool {
    // Integer form of got ≥ 0.9·wanted, exact for any size.
    (got as u128) * 10 >= (wanted as u128) * 9
}

/// Strict time form: at least 2 records, and the first no later than
/// `from + 1.2 × (median gap between records)`.
pub fn time_well_covered(ts: &[Timestamp], from: Timestamp) -> bool {
    if ts.len() < 2 {
        return false;
    }
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let median = if gaps.len() % 2 == 1 {
        gaps[mid] as f64
    } else {
        (gaps[mid - 1] as f64 + gaps[mid] as f64) / 2.0
    };
    (ts[0] as f64) <= from as f64 + 1.2 * median
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
        let hh = num(&z[..2])?;
        let mm = num(&z[2..])?;
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
    use crate::testing::MemHistory;

    const NOW: i64 = 1_700_000_000_000;

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

    #[test]
    fn spans() {
        let w = |n: &str, s: &str| Window::parse(Some(n), Some(s)).unwrap().span(NOW);
        assert_eq!(
            w("#10", ""),
            Span::Last {
                n: 10,
                skip: 0,
                before: NOW
            }
        );
        assert_eq!(
            w("#10", "#3"),
            Span::Last {
                n: 10,
                skip: 3,
                before: NOW
            }
        );
        assert_eq!(
            w("#10", "1m"),
            Span::Last {
                n: 10,
                skip: 0,
                before: NOW - 60_000
            }
        );
        assert_eq!(
            w("5m", ""),
            Span::Range {
                from: NOW - 300_000,
                to: NOW
            }
        );
        assert_eq!(
            w("5m", "1m"),
            Span::Range {
                from: NOW - 360_000,
                to: NOW - 60_000
            }
        );
        assert_eq!(
            w("1.5m", "0"),
            Span::Range {
                from: NOW - 90_000,
                to: NOW
            }
        );
        let t = NOW - 1_000_000;
        assert_eq!(
            w("5m", &t.to_string()),
            Span::Range {
                from: t,
                to: t + 300_000
            }
        );
        assert_eq!(
            w(&t.to_string(), &(t + 10).to_string()),
            Span::Range {
                from: t,
                to: t + 10
            }
        );
        assert_eq!(
            w(&(t + 10).to_string(), &t.to_string()),
            Span::Range {
                from: t,
                to: t + 10
            }
        );
        assert_eq!(w(&t.to_string(), ""), Span::Range { from: t, to: NOW });
        assert_eq!(
            w("0", ""),
            Span::Last {
                n: 1,
                skip: 0,
                before: NOW
            }
        );
        assert_eq!(
            w("!0", "1m"),
            Span::Last {
                n: 1,
                skip: 0,
                before: NOW - 60_000 + 1
            }
        );
        assert_eq!(
            w("0", "#2"),
            Span::Last {
                n: 1,
                skip: 2,
                before: NOW
            }
        );
        assert_eq!(
            w("5m", "#2"),
            Span::Anchored {
                skip: 2,
                period: 300_000
            }
        );
        assert_eq!(
            w("#3", &t.to_string()),
            Span::Last {
                n: 3,
                skip: 0,
                before: t
            }
        );
    }

    /// One point a minute, values 1..=10, the newest one minute before NOW.
    fn minutes() -> MemHistory {
        MemHistory::new(NOW).with_points((1..=10).map(|i| (NOW - (11 - i) * 60_000, i as f64)))
    }

    fn values(p: &Points) -> Vec<f64> {
        p.numbers()
    }

    fn fetch(h: &MemHistory, num: &str, shift: &str) -> Option<Vec<f64>> {
        Window::parse(Some(num), Some(shift))
            .unwrap()
            .fetch(h)
            .unwrap()
            .map(|p| values(&p))
    }

    #[test]
    fn fetch_forms() {
        let h = minutes();
        assert_eq!(fetch(&h, "#3", ""), Some(vec![8.0, 9.0, 10.0]));
        assert_eq!(fetch(&h, "#3", "#2"), Some(vec![6.0, 7.0, 8.0]));
        // The 2 newest records older than now − 2m: 10 is at now−1m, 9 at now−2m (not older).
        assert_eq!(fetch(&h, "#2", "2m"), Some(vec![7.0, 8.0]));
        // [now−3m, now): records at now−3m, −2m, −1m.
        assert_eq!(fetch(&h, "3m", ""), Some(vec![8.0, 9.0, 10.0]));
        assert_eq!(fetch(&h, "3m", "2m"), Some(vec![6.0, 7.0, 8.0]));
        // Period 0: newest at or before now − 2m includes the record exactly at now − 2m.
        assert_eq!(fetch(&h, "0", "2m"), Some(vec![9.0]));
        assert_eq!(fetch(&h, "0", ""), Some(vec![10.0]));
        assert_eq!(fetch(&h, "0", "#1"), Some(vec![9.0]));
        // f(period, #K): skip 2 → anchor is 8 at now−3m; (t − 2m, t] holds 7 and 8.
        assert_eq!(fetch(&h, "2m", "#2"), Some(vec![7.0, 8.0]));
        // Absolute, either order.
        let a = (NOW - 5 * 60_000).to_string();
        let b = (NOW - 3 * 60_000).to_string();
        assert_eq!(fetch(&h, &a, &b), Some(vec![6.0, 7.0]));
        assert_eq!(fetch(&h, &b, &a), Some(vec![6.0, 7.0]));
        assert_eq!(fetch(&h, "2m", &a), Some(vec![6.0, 7.0]));
        assert_eq!(
            fetch(&h, "2023-11-14T22:08:20Z", "2023-11-14T22:10:20Z"),
            Some(vec![6.0, 7.0])
        );
        // Empty windows are empty, not errors.
        assert_eq!(fetch(&h, "30s", ""), Some(vec![]));
        assert_eq!(fetch(&h, "#3", "#20"), Some(vec![]));
        assert_eq!(fetch(&h, "2m", "#20"), Some(vec![]));
    }

    #[test]
    fn evaluation_time_hides_the_future() {
        // Evaluated 3.5 minutes ago, the series ends with 7.
        let h = minutes().at(NOW - 210_000);
        assert_eq!(fetch(&h, "#2", ""), Some(vec![6.0, 7.0]));
        assert_eq!(fetch(&h, "0", ""), Some(vec![7.0]));
        assert_eq!(fetch(&h, "10m", ""), Some((1..=7).map(f64::from).collect()));
    }

    #[test]
    fn strict_count_needs_ninety_percent() {
        let h = minutes();
        assert_eq!(fetch(&h, "!#11", "").map(|v| v.len()), Some(10)); // 10 of 11 is 90.9 %
        assert_eq!(fetch(&h, "#!12", ""), None); // 10 of 12 is 83 %
        assert_eq!(fetch(&h, "#12", "").map(|v| v.len()), Some(10));
        assert!(count_well_covered(9, 10));
        assert!(!count_well_covered(8, 10));
        assert!(!count_well_covered(0, 1));
    }

    #[test]
    fn strict_time_needs_coverage() {
        let h = minutes();
        // 15 minutes over 10 one-minute records: the first is 5 min after `from` (> 72 s).
        assert_eq!(fetch(&h, "!15m", ""), None);
        assert_eq!(fetch(&h, "15m", "").map(|v| v.len()), Some(10));
        // 10 minutes: the first record is exactly at `from`.
        assert_eq!(fetch(&h, "!10m", "").map(|v| v.len()), Some(10));
        // 11 minutes: first record 60 s after from ≤ 72 s.
        assert_eq!(fetch(&h, "!11m", "").map(|v| v.len()), Some(10));
        // One record is never enough.
        assert_eq!(fetch(&h, "!1m", ""), None);
        assert!(time_well_covered(&[100, 200, 300], 0)); // 100 ≤ 0 + 120
        assert!(!time_well_covered(&[130, 200, 300], 0));
        // The median ignores one long gap.
        assert!(!time_well_covered(&[500, 510, 520, 530, 2000], 480));
        assert!(time_well_covered(&[500, 510, 520, 530, 2000], 490));
    }

    #[test]
    fn strict_anchored_empty_is_no_data() {
        let h = minutes();
        assert_eq!(fetch(&h, "!2m", "#20"), None);
    }

    #[test]
    fn big_windows_are_read_whole_in_chunks() {
        // The host answers at most 1000 points per call; windows of 250k points still arrive
        // whole, by count and by time.
        let n = 250_000_i64;
        let h = MemHistory::new(NOW)
            .with_points((0..n).map(|i| (NOW - (n - i) * 10, i as f64)))
            .with_answer_cap(1000);
        let p = Window::parse(Some("#250000"), None)
            .unwrap()
            .fetch(&h)
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), n as usize);
        assert!(p.timestamps().windows(2).all(|w| w[0] < w[1]));
        assert!(!p.truncated());
        let p = Window::parse(Some(&format!("{}", n * 10)), None)
            .unwrap()
            .fetch(&h)
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), n as usize);
        assert_eq!(p.numbers()[0], 0.0);
        assert_eq!(p.numbers()[n as usize - 1], (n - 1) as f64);
        // More than CHUNK through the real chunk size, uncapped host.
        let h = MemHistory::new(NOW).with_points((0..n).map(|i| (NOW - (n - i) * 10, 1.0)));
        let p = Window::parse(Some("#200000"), Some("#10"))
            .unwrap()
            .fetch(&h)
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), 200_000);
        assert_eq!(*p.timestamps().last().unwrap(), NOW - 11 * 10);
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
