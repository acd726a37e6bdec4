//! Time arguments of the command line: epoch milliseconds, RFC 3339 dates, `now` and
//! `now-<duration>` (for example `now-1h`, `now-7d`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// Parses a time argument into epoch milliseconds, relative to `now_ms`.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64> {
    let t = s.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    if let Some(rest) = t.strip_prefix("now") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(now_ms);
        }
        let (sign, dur) = match rest.split_at(1) {
            ("-", d) => (-1i64, d),
            ("+", d) => (1i64, d),
            _ => bail!("invalid time `{s}`: expected now, now-<duration> or now+<duration>"),
        };
        let d = humantime::parse_duration(dur.trim())
            .with_context(|| format!("invalid duration in time `{s}`"))?;
        let ms = i64::try_from(d.as_millis()).context("duration too large")?;
        return now_ms
            .checked_add(sign * ms)
            .with_context(|| format!("time `{s}` out of range"));
    }
    let st = humantime::parse_rfc3339_weak(t).with_context(|| {
        format!("invalid time `{s}`: expected epoch milliseconds, an RFC 3339 date such as 2026-11-25T10:00:00Z, or now-1h")
    })?;
    Ok(match st.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).context("time out of range")?,
        Err(e) => -i64::try_from(e.duration().as_millis()).context("time out of range")?,
    })
}

/// Formats epoch milliseconds as an RFC 3339 UTC date with milliseconds.
pub fn format_time(ms: i64) -> String {
    let st = if ms >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_millis(ms as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_millis(ms.unsigned_abs()))
    };
    match st {
        Some(t) if t >= UNIX_EPOCH && t < UNIX_EPOCH + Duration::from_secs(253_402_300_799) => {
            humantime::format_rfc3339_millis(t).to_string()
        }
        _ => format!("{ms}ms"),
    }
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_time("1700000000000", 0).unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("-5", 0).unwrap(), -5);
        assert_eq!(parse_time("now", 42).unwrap(), 42);
        assert_eq!(parse_time("now-1h", 3_600_000).unwrap(), 0);
        assert_eq!(parse_time("now+1s", 0).unwrap(), 1000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", 0).unwrap(),
            1_700_000_000_000
        );
        assert_eq!(format_time(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(format_time(-1), "-1ms");
        for bad in [
            "",
            "yesterday",
            "now-",
            "now*1h",
            "now-1parsec",
            "2023-13-01T00:00:00Z",
        ] {
            assert!(parse_time(bad, 0).is_err(), "{bad}");
        }
    }
}
