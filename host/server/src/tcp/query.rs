//! ALEPIZ's queries (`getLastValues`, `getByIdx`, `getByTime`, `getByValue`) over the engine:
//! the window `getByTime` selects, the replies in ALEPIZ's record shape, and the thinning of
//! long answers to a chart's `maxRecordsCnt`.

use clio_core::{Data, ReadRequest, ReadResult, Resolution, Window, now_ms};
use clio_storage::{Point, SeriesId, Timestamp, Value};
use serde_json::{Map, Value as Json, json};

use crate::door::Gate;
use crate::error::ApiError;
use crate::requests;

/// Values at or above this are timestamps, below it durations (semantics.md section 2:
/// 2000-01-01T00:00:00Z; ALEPIZ used 2016-10-23 and so misread older timestamps).
pub const ABSOLUTE_TS_MIN: Timestamp = 946_684_800_000;

/// `getByValue` gives up (with an error) after scanning this many points without a match,
/// so one request cannot walk years of raw data.
pub const GET_BY_VALUE_SCAN_LIMIT: usize = 1_000_000;
/// One record in ALEPIZ's shape.
fn record(ts: Timestamp, data: Json) -> Json {
    json!({"timestamp": ts, "data": data})
}

/// `{records, all}` from a read. `all` is false exactly when the result caps cut older
/// records off (ALEPIZ cut silently and said `all: true`).
fn records_reply(r: &ReadResult, max_records: usize, span: Option<(Timestamp, Timestamp)>) -> Json {
    let points: Vec<Point> = match &r.data {
        Data::Points(p) => p.clone(),
        // Trend buckets (a long range read with a point budget) stand for their average.
        Data::Trends { buckets, .. } => buckets
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| Point::new(b.start, b.avg()))
            .collect(),
    };
    let span = span.or_else(|| match (points.first(), points.last()) {
        (Some(a), Some(b)) => Some((a.ts, b.ts.saturating_add(1))),
        _ => None,
    });
    let points = match span {
        Some((from, to)) if max_records > 1 => average_per_step(points, max_records, from, to),
        _ => points,
    };
    let records: Vec<Json> = points
        .iter()
        .map(|p| record(p.ts, requests::value_json(&p.value)))
        .collect();
    json!({"records": records, "all": !r.truncated})
}

/// Thins `points` for a chart of about `max` records: `[from, to)` is cut into `max` equal
/// steps; the numbers of each step become one record (their mean value at their mean time);
/// strings are kept as they are. Nothing changes when there are at most `max` points.
pub fn average_per_step(
    points: Vec<Point>,
    max: usize,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Point> {
    if points.len() <= max || max < 2 || to <= from {
        return points;
    }
    let step = (to as f64 - from as f64) / max as f64;
    if step < 1.0 {
        return points;
    }
    let mut out = Vec::with_capacity(max);
    // (bucket, sum of ts, sum of values, count)
    let mut acc: Option<(i64, f64, f64, f64)> = None;
    let flush = |acc: &mut Option<(i64, f64, f64, f64)>, out: &mut Vec<Point>| {
        if let Some((_, ts, v, n)) = acc.take() {
            out.push(Point::new((ts / n).round() as Timestamp, v / n));
        }
    };
    for p in points {
        let bucket = (((p.ts as f64 - from as f64) / step).floor() as i64).clamp(0, max as i64 - 1);
        match p.value {
            Value::Num(v) => match &mut acc {
                Some((b, ts, sum, n)) if *b == bucket => {
                    *ts += p.ts as f64;
                    *sum += v;
                    *n += 1.0;
                }
                _ => {
                    flush(&mut acc, &mut out);
                    acc = Some((bucket, p.ts as f64, v, 1.0));
                }
            },
            Value::Str(_) => {
                flush(&mut acc, &mut out);
                out.push(p);
            }
        }
    }
    flush(&mut acc, &mut out);
    out
}

pub(super) async fn get_by_idx(
    gate: &Gate,
    id: SeriesId,
    skip: usize,
    cnt: usize,
    max_records: usize,
    at: Option<Timestamp>,
) -> Result<Json, ApiError> {
    // A series never written reads as empty (semantics.md section 1), not as an error.
    if gate.series(id)?.is_none() {
        return Ok(json!({"records": [], "all": true}));
    }
    let req = ReadRequest {
        series: id,
        window: Window::Last { n: cnt, skip, at },
        resolution: Resolution::Raw,
        cursor: None,
    };
    let _slot = gate.query_slot().await?;
    let r = gate.read(&req).await?;
    Ok(records_reply(&r, max_records, None))
}

/// What `getByTime`'s `time` and `interval` select (semantics.md section 2, half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeWindow {
    /// The newest record at or before this time (an interval of 0).
    Newest(Timestamp),
    /// `[from, to)`.
    Range(Timestamp, Timestamp),
}

/// Maps `getByTime`'s `time` (ALEPIZ's shift) and `interval` (ALEPIZ's period) to a window,
/// `now` being the evaluation time:
/// * `interval` 0: the newest record at or before `now − time`, or at or before `time`
///   when it is a timestamp;
/// * both durations: `[now − time − interval, now − time)`;
/// * one timestamp `t` and one duration `d`: `[t, t + d)`;
/// * two timestamps: `[min, max)`, in either order.
///
/// Values ≥ [`ABSOLUTE_TS_MIN`] are timestamps. Windows never reach past `now`.
pub fn time_window(time: i64, interval: i64, now: Timestamp) -> TimeWindow {
    let abs = |v: i64| v >= ABSOLUTE_TS_MIN;
    if interval == 0 {
        let t = if abs(time) {
            time.min(now)
        } else {
            now.saturating_sub(time)
        };
        return TimeWindow::Newest(t);
    }
    let (from, to) = match (abs(time), abs(interval)) {
        (false, false) => {
            let to = now.saturating_sub(time);
            (to.saturating_sub(interval), to)
        }
        (true, false) => (time, time.saturating_add(interval)),
        (false, true) => (interval, interval.saturating_add(time)),
        (true, true) => (time.min(interval), time.max(interval)),
    };
    TimeWindow::Range(from, to.min(now))
}

pub(super) async fn get_by_time(
    gate: &Gate,
    id: SeriesId,
    time: i64,
    interval: i64,
    max_records: usize,
    at: Option<Timestamp>,
) -> Result<Json, ApiError> {
    if gate.series(id)?.is_none() {
        return Ok(json!({"records": [], "all": true}));
    }
    // "Now" is the evaluation time, or the server's clock (semantics.md section 2).
    let now = at.unwrap_or_else(now_ms);
    let (req_window, span) = match time_window(time, interval, now) {
        TimeWindow::Newest(t) => (
            Window::Last {
                n: 1,
                skip: 0,
                // `at` is exclusive; the record stamped exactly `t` counts.
                at: Some(t.saturating_add(1)),
            },
            None,
        ),
        TimeWindow::Range(from, to) => {
            if from >= to {
                return Ok(json!({"records": [], "all": true}));
            }
            (Window::Range { from, to }, Some((from, to)))
        }
    };
    let resolution = if max_records > 1 {
        Resolution::Auto
    } else {
        Resolution::Raw
    };
    let req = ReadRequest {
        series: id,
        window: req_window,
        resolution: if matches!(req_window, Window::Range { .. }) {
            resolution
        } else {
            Resolution::Raw
        },
        cursor: None,
    };
    let _slot = gate.query_slot().await?;
    let r = gate.read(&req).await?;
    Ok(records_reply(&r, max_records, span))
}

/// `getLastValues`: `{"<id>": {timestamp, data}}`; a series without data (or unknown)
/// maps to `{"err": "no data"}`, the shape ALEPIZ used for a failed entry.
pub(super) async fn get_last_values(gate: &Gate, ids: &[SeriesId]) -> Result<Json, ApiError> {
    let _slot = gate.query_slot().await?;
    let mut out = Map::new();
    for &id in ids {
        let entry = if gate.series(id)?.is_none() {
            None
        } else {
            let r = gate
                .read(&ReadRequest {
                    series: id,
                    window: Window::Last {
                        n: 1,
                        skip: 0,
                        at: None,
                    },
                    resolution: Resolution::Raw,
                    cursor: None,
                })
                .await;
            match r {
                Ok(ReadResult {
                    data: Data::Points(p),
                    ..
                }) => p
                    .last()
                    .map(|p| record(p.ts, requests::value_json(&p.value))),
                Ok(_) => None,
                // Deleted between the check and the read.
                Err(ApiError::NotFound(_)) => None,
                Err(e) => return Err(e),
            }
        };
        out.insert(
            id.0.to_string(),
            entry.unwrap_or_else(|| json!({"err": "no data"})),
        );
    }
    Ok(Json::Object(out))
}

/// Whether a stored value equals the value looked for: numbers (and numeric-like strings)
/// compare as numbers, other strings as exact text.
fn value_matches(stored: &Value, wanted: &Value) -> bool {
    match (stored.numeric_like(), wanted.numeric_like()) {
        (Some(a), Some(b)) => a == b,
        _ => stored == wanted,
    }
}

/// `getByValue`: the timestamp of the newest record holding `value`, or null.
pub(super) async fn get_by_value(
    gate: &Gate,
    id: SeriesId,
    value: &Value,
) -> Result<Json, ApiError> {
    if gate.series(id)?.is_none() {
        return Ok(Json::Null);
    }
    let _slot = gate.query_slot().await?;
    let mut cursor = None;
    let mut scanned = 0usize;
    loop {
        let r = gate
            .read(&ReadRequest {
                series: id,
                window: Window::Range {
                    from: Timestamp::MIN,
                    to: Timestamp::MAX,
                },
                resolution: Resolution::Raw,
                cursor,
            })
            .await?;
        let Data::Points(points) = &r.data else {
            return Ok(Json::Null);
        };
        if let Some(p) = points.iter().rev().find(|p| value_matches(&p.value, value)) {
            return Ok(json!(p.ts));
        }
        scanned += points.len();
        match r.next {
            Some(next) if r.truncated && !points.is_empty() => {
                if scanned >= GET_BY_VALUE_SCAN_LIMIT {
                    return Err(ApiError::bad(format!(
                        "getByValue: no match among the newest {scanned} records of series {id}; \
                         the search stops at {GET_BY_VALUE_SCAN_LIMIT}"
                    )));
                }
                cursor = Some(next);
            }
            _ => return Ok(Json::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_windows_follow_semantics() {
        let now = 1_700_000_000_000;
        let t1 = 1_600_000_000_000;
        let t2 = 1_600_000_600_000;
        // Relative: [now − shift − period, now − shift).
        assert_eq!(
            time_window(60_000, 300_000, now),
            TimeWindow::Range(now - 360_000, now - 60_000)
        );
        assert_eq!(
            time_window(0, 300_000, now),
            TimeWindow::Range(now - 300_000, now)
        );
        // Two timestamps, either order.
        assert_eq!(time_window(t1, t2, now), TimeWindow::Range(t1, t2));
        assert_eq!(time_window(t2, t1, now), TimeWindow::Range(t1, t2));
        // Timestamp and period, either way round.
        assert_eq!(time_window(t1, 600_000, now), TimeWindow::Range(t1, t2));
        assert_eq!(time_window(600_000, t1, now), TimeWindow::Range(t1, t2));
        // A timestamp between 2000 and 2016 is absolute (ALEPIZ read it as an offset).
        let y2010 = 1_262_304_000_000;
        assert_eq!(
            time_window(y2010, 1000, now),
            TimeWindow::Range(y2010, y2010 + 1000)
        );
        // Interval 0: newest at or before.
        assert_eq!(time_window(5000, 0, now), TimeWindow::Newest(now - 5000));
        assert_eq!(time_window(t1, 0, now), TimeWindow::Newest(t1));
        // Nothing beyond now.
        assert_eq!(
            time_window(now - 10, 1000, now),
            TimeWindow::Range(now - 10, now)
        );
    }

    #[test]
    fn thinning_averages_numbers_per_step_and_keeps_strings() {
        let pts: Vec<Point> = (0..100).map(|i| Point::new(i, i as f64)).collect();
        let t = average_per_step(pts.clone(), 10, 0, 100);
        assert_eq!(t.len(), 10);
        assert_eq!(t[0], Point::new(5, 4.5)); // mean of 0..=9 at ts 4.5 → 5 (round)
        assert_eq!(t[9].value, Value::Num(94.5));
        // Small inputs are untouched.
        assert_eq!(
            average_per_step(pts[..5].to_vec(), 10, 0, 100),
            pts[..5].to_vec()
        );
        let mut mixed = pts[..20].to_vec();
        mixed.insert(3, Point::new(3, "s"));
        let t = average_per_step(mixed, 2, 0, 20);
        assert_eq!(t.len(), 4);
        assert_eq!(t[1], Point::new(3, "s"));
    }

    #[test]
    fn values_match_numerically_or_exactly() {
        assert!(value_matches(&Value::Num(5.0), &Value::Str("5".into())));
        assert!(value_matches(&Value::Str(" 5 ".into()), &Value::Num(5.0)));
        assert!(value_matches(
            &Value::Str("up".into()),
            &Value::Str("up".into())
        ));
        assert!(!value_matches(
            &Value::Str("Up".into()),
            &Value::Str("up".into())
        ));
        assert!(!value_matches(&Value::Num(5.0), &Value::Num(5.5)));
    }
}
