use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Point, Timestamp, Value};

/// A trend interval in milliseconds. Buckets are aligned: `[k·I, (k+1)·I)`, stamped at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrendInterval(i64);

/// The default trend intervals: 10, 30 and 60 minutes (ALEPIZ) plus one day.
pub const DEFAULT_TREND_INTERVALS: [TrendInterval; 4] = [
    TrendInterval(600_000),
    TrendInterval(1_800_000),
    TrendInterval(3_600_000),
    TrendInterval(86_400_000),
];

/// A trend interval that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid trend interval `{0}`: expected a positive whole number of minutes, hours or days such as 10m, 1h, 1d"
)]
pub struct TrendIntervalError(pub String);

impl TrendInterval {
    /// An interval of `ms` milliseconds; it must be a positive whole number of seconds.
    pub fn from_ms(ms: i64) -> Result<Self, TrendIntervalError> {
        if ms <= 0 || ms % 1000 != 0 {
            return Err(TrendIntervalError(format!("{ms}ms")));
        }
        Ok(TrendInterval(ms))
    }

    /// Length in milliseconds.
    pub fn ms(self) -> i64 {
        self.0
    }

    /// Start of the bucket holding `ts` (floor division, so negative times align too).
    pub fn bucket_start(self, ts: Timestamp) -> Timestamp {
        self.bucket_span(ts).start
    }

    /// The bucket holding `ts`: from its start to the next aligned start. Both saturate at
    /// the ends of the time line (the first bucket, partly below i64::MIN, starts at it).
    pub fn bucket_span(self, ts: Timestamp) -> std::ops::Range<Timestamp> {
        let k = ts.div_euclid(self.0);
        k.saturating_mul(self.0)..(k + 1).saturating_mul(self.0)
    }
}

impl fmt::Display for TrendInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms % 86_400_000 == 0 {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl FromStr for TrendInterval {
    type Err = TrendIntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TrendIntervalError(s.to_owned());
        let t = s.trim();
        let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?);
        let n: i64 = num.parse().map_err(|_| err())?;
        let mult = match unit {
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        n.checked_mul(mult)
            .ok_or_else(err)
            .and_then(|ms| TrendInterval::from_ms(ms).map_err(|_| err()))
    }
}

impl TryFrom<String> for TrendInterval {
    type Error = TrendIntervalError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TrendInterval> for String {
    fn from(i: TrendInterval) -> String {
        i.to_string()
    }
}

/// Aggregates of the numeric values in one aligned bucket (semantics.md section 4). Strings
/// that parse as numbers count as numbers; other strings are not part of trends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendBucket {
    /// Bucket start (ms), a multiple of the interval.
    pub start: Timestamp,
    /// Number of numeric values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Sum of their squares (so that the standard deviation can be derived).
    pub sum_sq: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Value of the earliest point.
    pub first: f64,
    /// Value of the latest point.
    pub last: f64,
    /// Timestamp of the earliest point (lets buckets merge exactly).
    pub first_ts: Timestamp,
    /// Timestamp of the latest point.
    pub last_ts: Timestamp,
}

impl TrendBucket {
    /// A bucket holding one value.
    pub fn single(start: Timestamp, ts: Timestamp, v: f64) -> Self {
        TrendBucket {
            start,
            count: 1,
            sum: v,
            sum_sq: v * v,
            min: v,
            max: v,
            first: v,
            last: v,
            first_ts: ts,
            last_ts: ts,
        }
    }

    /// Mean of the values.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// Population standard deviation of the values.
    pub fn stddev(&self) -> f64 {
        let n = self.count as f64;
        let var = (self.sum_sq / n - (self.sum / n).powi(2)).max(0.0);
        var.sqrt()
    }

    /// Adds one value. Exact for a point not yet counted in this bucket.
    pub fn add(&mut self, ts: Timestamp, v: f64) {
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if ts < self.first_ts {
            self.first_ts = ts;
            self.first = v;
        }
        if ts >= self.last_ts {
            self.last_ts = ts;
            self.last = v;
        }
    }

    /// Merges the aggregates of a disjoint set of points in the same bucket.
    pub fn merge(&mut self, other: &TrendBucket) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.first_ts < self.first_ts {
            self.first_ts = other.first_ts;
            self.first = other.first;
        }
        if other.last_ts >= self.last_ts {
            self.last_ts = other.last_ts;
            self.last = other.last;
        }
    }

    /// Builds the buckets of `points` (sorted by time) for one interval. Buckets without a
    /// numeric value are omitted.
    pub fn build(interval: TrendInterval, points: &[Point]) -> Vec<TrendBucket> {
        let mut out = Vec::new();
        Self::build_into(&mut out, interval, points.iter().map(|p| (p.ts, &p.value)));
        out
    }

    /// [`TrendBucket::build`] over borrowed values (ascending by time), continuing `out`, the
    /// buckets of earlier points: later points join its last bucket or follow it. Lets a
    /// holder of points in another layout (the cache's unflushed points) aggregate them in
    /// place, piece by piece, instead of copying them into `Point`s first.
    pub fn build_into<'a>(
        out: &mut Vec<TrendBucket>,
        interval: TrendInterval,
        points: impl IntoIterator<Item = (Timestamp, &'a Value)>,
    ) {
        // The span of the last bucket: a point in it joins it without the division that
        // finds a bucket's start, most of the cost per point.
        let mut span = 0..0;
        for (ts, value) in points {
            let Some(v) = value.numeric_like() else {
                continue;
            };
            if span.contains(&ts)
                && let Some(b) = out.last_mut()
            {
                b.add(ts, v);
                continue;
            }
            span = interval.bucket_span(ts);
            match out.last_mut() {
                Some(b) if b.start == span.start => b.add(ts, v),
                _ => out.push(TrendBucket::single(span.start, ts, v)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_print() {
        let i: TrendInterval = "10m".parse().unwrap();
        assert_eq!(i.ms(), 600_000);
        assert_eq!(i.to_string(), "10m");
        assert_eq!(
            "1d".parse::<TrendInterval>().unwrap(),
            DEFAULT_TREND_INTERVALS[3]
        );
        assert_eq!("60m".parse::<TrendInterval>().unwrap().to_string(), "1h");
        for bad in ["", "m", "0m", "10", "10x", "-1h", "99999999999999999d"] {
            assert!(bad.parse::<TrendInterval>().is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_align_and_aggregate() {
        let i = TrendInterval::from_ms(10_000).unwrap();
        assert_eq!(i.bucket_start(-1), -10_000);
        assert_eq!(i.bucket_start(i64::MIN + 1), i64::MIN);
        assert_eq!(i.bucket_start(i64::MAX), i64::MAX - i64::MAX % 10_000);
        // The first bucket ends at the next aligned start, not 10 s after i64::MIN.
        assert_eq!(
            i.bucket_span(i64::MIN),
            i64::MIN..i64::MIN - i64::MIN % 10_000
        );
        assert_eq!(i.bucket_span(-1), -10_000..0);
        assert_eq!(
            i.bucket_span(i64::MAX),
            i64::MAX - i64::MAX % 10_000..i64::MAX
        );
        let pts = [
            Point::new(1_000, 1.0),
            Point::new(2_000, "x"),
            Point::new(9_999, 3.0),
            Point::new(10_000, " 5 "),
        ];
        let b = TrendBucket::build(i, &pts);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].start, b[0].count, b[0].sum), (0, 2, 4.0));
        assert_eq!(
            (b[0].min, b[0].max, b[0].first, b[0].last),
            (1.0, 3.0, 1.0, 3.0)
        );
        assert_eq!(b[0].sum_sq, 10.0);
        assert_eq!(b[0].avg(), 2.0);
        assert_eq!(b[0].stddev(), 1.0);
        assert_eq!((b[1].start, b[1].count, b[1].first), (10_000, 1, 5.0));
    }

    /// Buckets built with the span shortcut equal buckets found by one division per point:
    /// negative stamps, bucket edges, the ends of the time line, gaps and strings.
    #[test]
    fn buckets_match_a_division_per_point() {
        let i = TrendInterval::from_ms(10_000).unwrap();
        let mut stamps: Vec<Timestamp> = vec![
            i64::MIN,
            i64::MIN + 1,
            i64::MIN + 9_999,
            -20_001,
            -10_000,
            -9_999,
            -1,
            0,
            9_999,
            10_000,
            10_001,
            500_000,
            i64::MAX - 10_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        let mut x = 11u64;
        for _ in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            stamps.push((x >> 42) as i64 - 2_000_000);
        }
        stamps.sort_unstable();
        stamps.dedup();
        let pts: Vec<Point> = stamps
            .iter()
            .enumerate()
            .map(|(k, &ts)| match k % 13 {
                0 => Point::new(ts, "text"),
                1 => Point::new(ts, " 4.5 "),
                _ => Point::new(ts, (k % 17) as f64 - 8.0),
            })
            .collect();
        let mut want: Vec<TrendBucket> = Vec::new();
        for p in &pts {
            let Some(v) = p.value.numeric_like() else {
                continue;
            };
            let start = i.bucket_start(p.ts);
            match want.last_mut() {
                Some(b) if b.start == start => b.add(p.ts, v),
                _ => want.push(TrendBucket::single(start, p.ts, v)),
            }
        }
        assert!(want.len() > 100);
        assert_eq!(TrendBucket::build(i, &pts), want);
        for piece in [1, 2, 7, 1000] {
            let mut pieces = Vec::new();
            for part in pts.chunks(piece) {
                TrendBucket::build_into(&mut pieces, i, part.iter().map(|p| (p.ts, &p.value)));
            }
            assert_eq!(pieces, want, "in pieces of {piece}");
        }
    }

    #[test]
    fn merge_equals_build_of_union() {
        let i = TrendInterval::from_ms(60_000).unwrap();
        let a = [Point::new(5_000, 2.0), Point::new(30_000, 7.0)];
        let b = [Point::new(1_000, 4.0), Point::new(50_000, -1.0)];
        let mut m = TrendBucket::build(i, &a).remove(0);
        m.merge(&TrendBucket::build(i, &b)[0]);
        let mut all: Vec<Point> = a.iter().chain(b.iter()).cloned().collect();
        all.sort_by_key(|p| p.ts);
        assert_eq!(m, TrendBucket::build(i, &all)[0]);
    }
}
