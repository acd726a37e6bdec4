//! Read requests and answers: windows, resolutions, caps and cursors (semantics.md section 2).

use std::fmt;
use std::str::FromStr;

use clio_storage::{Point, SeriesId, Timestamp, TrendBucket, TrendInterval};
use serde::Serialize;

/// Which points a read selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The `n` newest points after skipping the `skip` newest, among points stamped before
    /// `at` (default: all).
    Last {
        /// How many.
        n: usize,
        /// How many of the newest to skip first.
        skip: usize,
        /// Evaluation time: points at or after it are invisible.
        at: Option<Timestamp>,
    },
    /// Points of `[from, to)`.
    Range {
        /// Inclusive start.
        from: Timestamp,
        /// Exclusive end.
        to: Timestamp,
    },
}

/// Raw points or trend buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// Raw points.
    #[default]
    Raw,
    /// Buckets of one trend interval.
    Trend(TrendInterval),
    /// Raw points when they fit the cap, otherwise the finest trend interval that fits.
    Auto,
}

impl FromStr for Resolution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raw" => Ok(Resolution::Raw),
            "auto" => Ok(Resolution::Auto),
            other => other.parse().map(Resolution::Trend).map_err(|_| {
                format!("invalid resolution `{other}`: expected raw, auto or a trend interval such as 10m, 30m, 60m, 1d")
            }),
        }
    }
}

/// Where the next page of a truncated answer starts. Its text form (`r<ms>` or `s<count>`)
/// is what the HTTP and TCP APIs hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Continue a range read below this (exclusive) end.
    Before(Timestamp),
    /// Continue a last-N read with this skip.
    Skip(usize),
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cursor::Before(t) => write!(f, "r{t}"),
            Cursor::Skip(s) => write!(f, "s{s}"),
        }
    }
}

impl FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid cursor `{s}`: pass the `next` of the previous answer");
        match s.split_at_checked(1) {
            Some(("r", t)) => t.parse().map(Cursor::Before).map_err(|_| bad()),
            Some(("s", n)) => n.parse().map(Cursor::Skip).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// The series.
    pub series: SeriesId,
    /// The window.
    pub window: Window,
    /// Raw or trends (ranges only).
    pub resolution: Resolution,
    /// Continue an earlier truncated answer.
    pub cursor: Option<Cursor>,
}

/// What a read returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Data {
    /// Raw points, ascending.
    Points(Vec<Point>),
    /// Trend buckets, ascending.
    Trends {
        /// Their interval.
        interval: TrendInterval,
        /// The buckets.
        buckets: Vec<TrendBucket>,
    },
}

/// The answer to a [`ReadRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadResult {
    /// The series.
    pub series: SeriesId,
    /// Points or buckets.
    pub data: Data,
    /// True when older data in the window was cut off by the result cap.
    pub truncated: bool,
    /// Cursor for the older part, when truncated.
    pub next: Option<Cursor>,
    /// The replica that answered the storage part, when the primary failed and read failover
    /// is on; `None` for the primary (or memory alone).
    pub served_by: Option<String>,
}

/// Keeps the newest points within the caps: at most `max_numbers` points, and at most
/// `max_strings` string points. `newest_first` is sorted newest first; the result ascending.
pub(crate) fn cap_points(
    mut newest_first: Vec<Point>,
    max_numbers: usize,
    max_strings: usize,
) -> (Vec<Point>, bool) {
    // Find the cut first, then truncate and reverse in place: no second list, no moves of
    // the kept points beyond the reversal.
    let mut strings = 0;
    let mut keep = newest_first.len().min(max_numbers);
    for (i, p) in newest_first.iter().enumerate().take(keep) {
        if p.value.is_str() {
            if strings >= max_strings {
                keep = i;
                break;
            }
            strings += 1;
        }
    }
    let truncated = keep < newest_first.len();
    newest_first.truncate(keep);
    newest_first.reverse();
    (newest_first, truncated)
}

/// Merges two ascending point lists; on equal timestamps `newer` wins.
pub(crate) fn merge_overlay(older: Vec<Point>, newer: Vec<Point>) -> Vec<Point> {
    if newer.is_empty() {
        return older;
    }
    if older.is_empty() {
        return newer;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut a = older.into_iter().peekable();
    let mut b = newer.into_iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => {
                if x.ts < y.ts {
                    out.extend(a.next());
                } else if x.ts > y.ts {
                    out.extend(b.next());
                } else {
                    a.next();
                    out.extend(b.next());
                }
            }
            (Some(_), None) => out.extend(a.by_ref()),
            (None, Some(_)) => out.extend(b.by_ref()),
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_prefers_newer() {
        let a = vec![Point::new(1, 1.0), Point::new(3, 3.0), Point::new(5, 5.0)];
        let b = vec![Point::new(3, 30.0), Point::new(4, 40.0), Point::new(9, 9.0)];
        let m = merge_overlay(a, b);
        let ts: Vec<_> = m
            .iter()
            .map(|p| (p.ts, p.value.as_f64().unwrap()))
            .collect();
        assert_eq!(ts, [(1, 1.0), (3, 30.0), (4, 40.0), (5, 5.0), (9, 9.0)]);
    }

    #[test]
    fn caps_keep_newest_numbers_and_strings() {
        let pts: Vec<Point> = (0..10)
            .rev()
            .map(|t| {
                if t % 2 == 0 {
                    Point::new(t, "s")
                } else {
                    Point::new(t, t as f64)
                }
            })
            .collect();
        let (kept, trunc) = cap_points(pts.clone(), 4, 50);
        assert!(trunc);
        assert_eq!(kept.iter().map(|p| p.ts).collect::<Vec<_>>(), [6, 7, 8, 9]);
        let (kept, trunc) = cap_points(pts.clone(), 100, 2);
        assert!(trunc);
        assert_eq!(
            kept.iter().map(|p| p.ts).collect::<Vec<_>>(),
            [5, 6, 7, 8, 9]
        );
        let (kept, trunc) = cap_points(pts, 10, 5);
        assert!(!trunc);
        assert_eq!(kept.len(), 10);
    }

    #[test]
    fn cursors_and_resolutions_parse() {
        assert_eq!("r-5".parse::<Cursor>().unwrap(), Cursor::Before(-5));
        assert_eq!(
            Cursor::Skip(7).to_string().parse::<Cursor>().unwrap(),
            Cursor::Skip(7)
        );
        assert!("x1".parse::<Cursor>().is_err());
        assert!("".parse::<Cursor>().is_err());
        assert_eq!("raw".parse::<Resolution>().unwrap(), Resolution::Raw);
        assert!(matches!(
            "30m".parse::<Resolution>().unwrap(),
            Resolution::Trend(_)
        ));
        assert!("fast".parse::<Resolution>().unwrap_err().contains("fast"));
    }
}
