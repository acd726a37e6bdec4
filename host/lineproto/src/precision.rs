//! Timestamp precision of a write body and its conversion to Clio's milliseconds.

use std::fmt;
use std::str::FromStr;

/// The unit of the timestamps in a write body, as the `precision` query parameter of
/// InfluxDB's `/write` (1.x: `n`, `u`, `ms`, `s`, `m`, `h`) and `/api/v2/write`
/// (`ns`, `us`, `ms`, `s`) endpoints names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Nanoseconds, InfluxDB's default.
    #[default]
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds, Clio's own unit.
    Ms,
    /// Seconds.
    S,
    /// Minutes (InfluxDB 1.x only).
    M,
    /// Hours (InfluxDB 1.x only).
    H,
}

/// A precision name that is not one of `ns n us u ms s m h`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision `{0}` (expected one of ns, n, us, u, ms, s, m, h)")]
pub struct PrecisionError(pub String);

impl FromStr for Precision {
    type Err = PrecisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ns" | "n" => Precision::Ns,
            "us" | "u" => Precision::Us,
            "ms" => Precision::Ms,
            "s" => Precision::S,
            "m" => Precision::M,
            "h" => Precision::H,
            other => return Err(PrecisionError(other.to_owned())),
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Ns => "ns",
            Precision::Us => "us",
            Precision::Ms => "ms",
            Precision::S => "s",
            Precision::M => "m",
            Precision::H => "h",
        })
    }
}

impl Precision {
    /// Converts a timestamp in this unit to milliseconds. Finer units round towards negative
    /// infinity (floor), so `-1ns` is in the millisecond `-1`, not `0`: a point just before the
    /// epoch stays before it. Returns `None` when the result does not fit an `i64`.
    pub fn to_ms(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Ns => Some(ts.div_euclid(1_000_000)),
            Precision::Us => Some(ts.div_euclid(1_000)),
            Precision::Ms => Some(ts),
            Precision::S => ts.checked_mul(1_000),
            Precision::M => ts.checked_mul(60_000),
            Precision::H => ts.checked_mul(3_600_000),
        }
    }

    /// Truncates a millisecond time to this unit (floor); finer units leave it unchanged.
    /// InfluxDB rounds the server time it gives points without a timestamp to the write's
    /// precision, and so do we.
    pub fn truncate_ms(self, ms: i64) -> i64 {
        let unit = match self {
            Precision::Ns | Precision::Us | Precision::Ms => return ms,
            Precision::S => 1_000,
            Precision::M => 60_000,
            Precision::H => 3_600_000,
        };
        let rem = ms.rem_euclid(unit);
        // Near i64::MIN the floor does not exist; round up instead of overflowing.
        ms.checked_sub(rem).unwrap_or_else(|| ms + (unit - rem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_both_dialects() {
        for (s, p) in [
            ("ns", Precision::Ns),
            ("n", Precision::Ns),
            ("us", Precision::Us),
            ("u", Precision::Us),
            ("ms", Precision::Ms),
            ("s", Precision::S),
            ("m", Precision::M),
            ("h", Precision::H),
        ] {
            assert_eq!(s.parse::<Precision>(), Ok(p), "{s}");
            // Display gives a name that parses back.
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        assert_eq!(Precision::default(), Precision::Ns);
        for bad in ["", "NS", "sec", "d", "mss"] {
            assert!(bad.parse::<Precision>().is_err(), "{bad}");
        }
    }

    #[test]
    fn conversion_floors_and_detects_overflow() {
        assert_eq!(Precision::Ns.to_ms(1_999_999), Some(1));
        assert_eq!(Precision::Ns.to_ms(-1), Some(-1));
        assert_eq!(Precision::Ns.to_ms(-1_000_000), Some(-1));
        assert_eq!(Precision::Ns.to_ms(-1_000_001), Some(-2));
        assert_eq!(Precision::Us.to_ms(-1), Some(-1));
        assert_eq!(Precision::Us.to_ms(2_500), Some(2));
        assert_eq!(Precision::Ms.to_ms(i64::MIN), Some(i64::MIN));
        assert_eq!(Precision::S.to_ms(-3), Some(-3_000));
        assert_eq!(Precision::M.to_ms(2), Some(120_000));
        assert_eq!(Precision::H.to_ms(1), Some(3_600_000));
        assert_eq!(Precision::S.to_ms(i64::MAX / 999), None);
        assert_eq!(Precision::H.to_ms(i64::MIN / 1000), None);
        assert_eq!(
            Precision::Ns.to_ms(i64::MIN),
            Some(i64::MIN.div_euclid(1_000_000))
        );
    }

    #[test]
    fn truncation_follows_the_unit() {
        assert_eq!(Precision::Ms.truncate_ms(1_234), 1_234);
        assert_eq!(Precision::Ns.truncate_ms(1_234), 1_234);
        assert_eq!(Precision::S.truncate_ms(1_234), 1_000);
        assert_eq!(Precision::S.truncate_ms(-1), -1_000);
        assert_eq!(Precision::M.truncate_ms(119_999), 60_000);
        assert_eq!(Precision::H.truncate_ms(3_600_001), 3_600_000);
        assert_eq!(Precision::S.truncate_ms(i64::MIN), i64::MIN + 808);
        assert_eq!(Precision::S.truncate_ms(i64::MAX), i64::MAX - 807);
    }
}
