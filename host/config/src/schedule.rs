//! `[[collectors]]` schedules: when a collector runs: every fixed interval (aligned to the Unix epoch, so that
//! `every = "10s"` runs at :00, :10, ...) or on a five-field cron expression (UTC).

use std::fmt;
use std::time::Duration;

use clio_storage::Timestamp;

/// A collector's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every interval, on the epoch-aligned grid.
    Every(Duration),
    /// A cron expression (minute hour day-of-month month day-of-week, UTC).
    Cron(Cron),
}

impl Schedule {
    /// The first run time strictly after `now` (ms).
    pub fn next_after(&self, now: Timestamp) -> Timestamp {
        match self {
            Schedule::Every(d) => {
                let step = (d.as_millis() as i64).max(1);
                (now.div_euclid(step) + 1) * step
            }
            Schedule::Cron(c) => c.next_after(now),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}ms", d.as_millis()),
            Schedule::Cron(c) => write!(f, "cron {}", c.text),
        }
    }
}

/// A parsed cron expression: each field is a bit set of the values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day-of-month and day-of-week were both restricted: either matches (as in Vixie cron).
    day_or: bool,
}

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week`: `*`, numbers, ranges `a-b`,
    /// lists `a,b` and steps `*/n` or `a-b/n`; day-of-week 0–7 (0 and 7 are Sunday).
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cron `{text}` must have 5 fields (minute hour day-of-month month day-of-week)"
            ));
        }
        let minutes = field(fields[0], 0, 59, "minute")?;
        let hours = field(fields[1], 0, 23, "hour")?;
        let days = field(fields[2], 1, 31, "day-of-month")?;
        let months = field(fields[3], 1, 12, "month")?;
        let mut weekdays = field(fields[4], 0, 7, "day-of-week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            text: fields.join(" "),
            minutes,
            hours,
            days,
            months,
            weekdays,
            day_or: fields[2] != "*" && fields[4] != "*",
        })
    }

    /// The first matching minute strictly after `now` (ms); searches up to five years ahead
    /// (a date like February 30 never matches: then one year after `now`).
    pub fn next_after(&self, now: Timestamp) -> Timestamp {
        const MIN: i64 = 60_000;
        let start = now.div_euclid(MIN) + 1;
        let mut m = start;
        let end = start + 5 * 366 * 1440;
        while m < end {
            let days = m.div_euclid(1440);
            let (_, month, day) = civil_from_days(days);
            let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
            let dom = self.days & (1 << day) != 0;
            let dow = self.weekdays & (1 << weekday) != 0;
            let day_ok = if self.day_or { dom || dow } else { dom && dow };
            if self.months & (1 << month) == 0 || !day_ok {
                m = (days + 1) * 1440;
                continue;
            }
            let minute_of_day = m.rem_euclid(1440);
            if self.hours & (1 << (minute_of_day / 60)) == 0 {
                m = m - minute_of_day % 60 + 60;
                continue;
            }
            if self.minutes & (1 << (minute_of_day % 60)) != 0 {
                return m * MIN;
            }
            m += 1;
        }
        start * MIN + 365 * 86_400_000
    }
}

fn field(text: &str, lo: u32, hi: u32, name: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    let bad = || format!("cron {name} `{text}` is not valid (values {lo}-{hi})");
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(bad)?),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                a.parse::<u32>().map_err(|_| bad())?,
                b.parse::<u32>().map_err(|_| bad())?,
            )
        } else {
            let v = range.parse::<u32>().map_err(|_| bad())?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if step > 1 { hi } else { v })
        };
        if a < lo || b > hi || a > b {
            return Err(bad());
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-05T14:21:00Z, a Saturday.
    const T: i64 = 1_796_480_460_000;

    #[test]
    fn every_is_epoch_aligned_and_strictly_after() {
        let s = Schedule::Every(Duration::from_secs(10));
        assert_eq!(s.next_after(0), 10_000);
        assert_eq!(s.next_after(10_000), 20_000);
        assert_eq!(s.next_after(19_999), 20_000);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(T / 86_400_000), (2026, 12, 5));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn cron_fields_and_next_times() {
        let c = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(c.next_after(T), T + 9 * 60_000); // 14:30
        let c = Cron::parse("0 3 * * *").unwrap();
        let next = c.next_after(T);
        assert_eq!(civil_from_days(next / 86_400_000), (2026, 12, 6));
        assert_eq!(next % 86_400_000, 3 * 3_600_000);
        // Mondays (day-of-week 1) at 08:05: Saturday → Monday the 7th.
        let c = Cron::parse("5 8 * * 1").unwrap();
        let next = c.next_after(T);
        assert_eq!(civil_from_days(next / 86_400_000), (2026, 12, 7));
        // Sunday as 7.
        let c = Cron::parse("0 0 * * 7").unwrap();
        assert_eq!(civil_from_days(c.next_after(T) / 86_400_000), (2026, 12, 6));
        let c = Cron::parse("0 12 1 1,6 *").unwrap();
        assert_eq!(civil_from_days(c.next_after(T) / 86_400_000), (2027, 1, 1));
        assert!(Cron::parse("* * * *").is_err());
        assert!(Cron::parse("60 * * * *").is_err());
        assert!(Cron::parse("*/0 * * * *").is_err());
        assert!(Cron::parse("5-1 * * * *").is_err());
    }
}
