//! Native testing: an in-memory [`History`] and a helper that calls a function the way the
//! host would, so `cargo test -p fn-avg` needs no Wasm runtime; for retention policies,
//! [`series_usage`], [`store_usage`] and [`decide`].

use std::collections::BTreeMap;

use crate::args::Args;
use crate::error::{Error, Result};
use crate::history::{History, SeriesInfo, Trends};
use crate::points::{Points, Timestamp};
use crate::policy::{Decision, PolicyInstance, RetentionPolicy, SeriesUsage, StoreUsage};
use crate::value::Value;

/// The id [`MemHistory`] gives the evaluated series.
pub const SERIES: u64 = 1;

/// An in-memory history with the host's read semantics: points at or after `now` are
/// invisible, ranges are half-open, answers keep the newest points and say when they were cut.
#[derive(Debug, Clone)]
pub struct MemHistory {
    now: Timestamp,
    series: BTreeMap<u64, (SeriesInfo, BTreeMap<Timestamp, Value>)>,
    answer_cap: u64,
}

impl MemHistory {
    /// An empty series [`SERIES`] evaluated at `now`.
    pub fn new(now: Timestamp) -> Self {
        let info = SeriesInfo {
            id: SERIES,
            keep_history_days: 90,
            keep_trends_days: 365,
            ..SeriesInfo::default()
        };
        let mut series = BTreeMap::new();
        series.insert(SERIES, (info, BTreeMap::new()));
        Self {
            now,
            series,
            answer_cap: u64::MAX,
        }
    }

    /// Adds points to the evaluated series (same timestamp again: last write wins).
    pub fn with_points<V: Into<Value>>(
        mut self,
        points: impl IntoIterator<Item = (Timestamp, V)>,
    ) -> Self {
        for (ts, v) in points {
            self.push(ts, v);
        }
        self
    }

    /// Adds one point to the evaluated series.
    pub fn push(&mut self, ts: Timestamp, value: impl Into<Value>) {
        if let Some((_, pts)) = self.series.get_mut(&SERIES) {
            pts.insert(ts, value.into());
        }
    }

    /// Deletes the point stamped `ts` from the evaluated series (as retention or a delete
    /// would), returning its value if there was one.
    pub fn remove(&mut self, ts: Timestamp) -> Option<Value> {
        self.series.get_mut(&SERIES)?.1.remove(&ts)
    }

    /// Gives the evaluated series a canonical key (`measurement,tag=v field`).
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        if let Some((info, _)) = self.series.get_mut(&SERIES) {
            info.key = Some(key.into());
        }
        self
    }

    /// Adds another series (`info.id` must differ from [`SERIES`]; the same id again
    /// replaces it), for functions that read several series.
    pub fn with_series<V: Into<Value>>(
        mut self,
        info: SeriesInfo,
        points: impl IntoIterator<Item = (Timestamp, V)>,
    ) -> Self {
        let points = points.into_iter().map(|(t, v)| (t, v.into())).collect();
        self.series.insert(info.id, (info, points));
        self
    }

    /// The same history evaluated at another time.
    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// Makes every read answer at most `cap` points (as a host with a small limit would),
    /// to exercise chunked reading.
    pub fn with_answer_cap(mut self, cap: u64) -> Self {
        self.answer_cap = cap.max(1);
        self
    }

    fn points_of(&self, series: u64) -> Result<&BTreeMap<Timestamp, Value>> {
        self.series
            .get(&series)
            .map(|(_, p)| p)
            .ok_or_else(|| Error::NotFound(format!("series {series}")))
    }
}

impl History for MemHistory {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn series(&self) -> SeriesInfo {
        self.series
            .get(&SERIES)
            .map(|(i, _)| i.clone())
            .unwrap_or_default()
    }

    fn series_by_id(&self, id: u64) -> Option<SeriesInfo> {
        self.series.get(&id).map(|(i, _)| i.clone())
    }

    fn series_by_key(&self, key: &str) -> Option<SeriesInfo> {
        // Exactly as stored: the host normalises the tag order, this stand-in does not, so a
        // test uses the canonical spelling (tags sorted by name).
        self.series
            .values()
            .find(|(i, _)| i.key.as_deref() == Some(key))
            .map(|(i, _)| i.clone())
    }

    fn read_last(&self, series: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
        let pts = self.points_of(series)?;
        let before = before.min(self.now);
        let capped = n.min(self.answer_cap);
        let take = usize::try_from(capped).unwrap_or(usize::MAX);
        let mut visible = pts
            .range(..before)
            .rev()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX));
        let mut picked: Vec<(Timestamp, Value)> = visible
            .by_ref()
            .take(take)
            .map(|(t, v)| (*t, v.clone()))
            .collect();
        // Like the host: an answer cut by the cap while more of the `n` exist says so.
        let truncated = capped < n && visible.next().is_some();
        picked.reverse();
        let (ts, nums, strs, kinds, _) = Points::from_pairs(picked).into_columns();
        Points::from_columns(ts, nums, strs, kinds, truncated)
    }

    fn read_range(
        &self,
        series: u64,
        from: Timestamp,
        to: Timestamp,
        limit: u64,
    ) -> Result<Points> {
        let pts = self.points_of(series)?;
        let to = to.min(self.now);
        if from >= to {
            return Ok(Points::new());
        }
        let limit = usize::try_from(limit.min(self.answer_cap)).unwrap_or(usize::MAX);
        let all: Vec<_> = pts.range(from..to).collect();
        let truncated = all.len() > limit;
        let kept = &all[all.len().saturating_sub(limit)..];
        let (ts, nums, strs, kinds, _) =
            Points::from_pairs(kept.iter().map(|(t, v)| (**t, (*v).clone()))).into_columns();
        Points::from_columns(ts, nums, strs, kinds, truncated)
    }

    fn read_trends(
        &self,
        series: u64,
        interval_ms: i64,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Trends> {
        // Buckets computed on the fly from the raw points, as the host's trend store holds them.
        let pts = self.points_of(series)?;
        let mut out = Trends {
            interval_ms,
            ..Trends::default()
        };
        if interval_ms <= 0 {
            return Ok(out);
        }
        let mut buckets: BTreeMap<Timestamp, Vec<f64>> = BTreeMap::new();
        for (ts, v) in pts.range(..self.now) {
            if let Some(x) = v.as_number() {
                buckets
                    .entry(ts.div_euclid(interval_ms) * interval_ms)
                    .or_default()
                    .push(x);
            }
        }
        for (start, vals) in buckets.range(from..to.min(self.now)) {
            out.start.push(*start);
            out.count.push(vals.len() as u64);
            out.sum.push(vals.iter().sum());
            out.sum_sq.push(vals.iter().map(|x| x * x).sum());
            out.min
                .push(vals.iter().copied().fold(f64::INFINITY, f64::min));
            out.max
                .push(vals.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            out.first.push(vals.first().copied().unwrap_or_default());
            out.last.push(vals.last().copied().unwrap_or_default());
        }
        Ok(out)
    }
}

/// The evaluation time the helpers below use: 2023-11-14T22:13:20Z.
pub const NOW: Timestamp = 1_700_000_000_000;

/// A series with one point a minute, the newest one minute before [`NOW`] (so `values[i]` is
/// stamped `NOW − (len − i)·60 s`), evaluated at [`NOW`].
pub fn per_minute<V: Into<Value>>(values: impl IntoIterator<Item = V>) -> MemHistory {
    let values: Vec<Value> = values.into_iter().map(Into::into).collect();
    let n = values.len() as i64;
    MemHistory::new(NOW).with_points(
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (NOW - (n - i as i64) * 60_000, v)),
    )
}

/// 3000 points a second apart, the newest one second before [`NOW`]: non-integer values (so
/// the order of the operations shows in the last bits), every 50th a numeric-like string and
/// every 50th + 25 `"n/a"`; the history answers at most 97 points per read, so every window
/// spans many chunks. For checking that a streaming function equals its whole-window form
/// bit for bit.
pub fn many_chunks() -> MemHistory {
    MemHistory::new(NOW)
        .with_points((0..3000_i64).map(|i| {
            let v = ((i as f64) * 0.37).sin() * 1e3 + 1e6;
            let v = match i % 50 {
                0 => Value::from(format!(" {v} ")),
                25 => Value::from("n/a"),
                _ => Value::Num(v),
            };
            (NOW - (3000 - i) * 1000, v)
        }))
        .with_answer_cap(97)
}

/// A function's result with numbers as their bit patterns, so that comparing two results is
/// exact (and NaN-safe).
pub fn exact(r: Result<Option<Value>>) -> Result<Option<String>> {
    Ok(match r? {
        Some(Value::Num(x)) => Some(format!("{:#x}", x.to_bits())),
        Some(Value::Str(s)) => Some(s),
        None => None,
    })
}

/// The window forms a streaming check covers over [`many_chunks`]: counts, skips, periods,
/// shifts, anchored windows, strict windows that are and are not well covered.
pub const MANY_CHUNKS_WINDOWS: &[&str] = &[
    "#3000",
    "#2500, #100",
    "!#3100",
    "!#3400",
    "2000s",
    "!2000s",
    "!3500s",
    "40m, #5",
    "#1000, 10m",
    "0, #17",
];

/// Asserts that `streamed` answers exactly like `whole` (its whole-window form), bit for
/// bit, over [`many_chunks`] for every [`MANY_CHUNKS_WINDOWS`] entry and then every
/// parameter list of `extra` (for the function's own parameters). Panics naming the
/// parameters (tests only).
pub fn assert_same_over_many_chunks(streamed: FunctionBody, whole: FunctionBody, extra: &[&str]) {
    let h = many_chunks();
    for p in MANY_CHUNKS_WINDOWS.iter().chain(extra) {
        assert_eq!(
            exact(call(streamed, &h, p)),
            exact(call(whole, &h, p)),
            "{p}"
        );
    }
}

/// The signature every history function has.
pub type FunctionBody = fn(&dyn History, &Args) -> Result<Option<Value>>;

/// Calls `f` with ALEPIZ-style parameter text (`"#10, 1m"`), split as the host splits it,
/// and applies the host's output rule (a non-finite number is "no data").
pub fn call(f: FunctionBody, h: &dyn History, params: &str) -> Result<Option<Value>> {
    Ok(f(h, &Args::parse(params))?.and_then(crate::finite))
}

/// Like [`call`], for tests that expect a number: `None` for no data, panics on a string or
/// an error (tests only).
pub fn num(f: FunctionBody, h: &dyn History, params: &str) -> Option<f64> {
    match call(f, h, params) {
        Ok(None) => None,
        Ok(Some(Value::Num(v))) => Some(v),
        other => panic!("expected a number or no data for ({params}), got {other:?}"),
    }
}

/// Asserts that two floats agree to 1e-9 relative (tests only).
pub fn assert_close(got: Option<f64>, want: f64) {
    let g = got.unwrap_or(f64::NAN);
    assert!(
        (g - want).abs() <= 1e-9 * want.abs().max(1.0),
        "got {got:?}, want {want}"
    );
}

/// A series for policy tests: id 1, an optional canonical key, its keep settings and the
/// oldest stored point (`None`: unknown); 100 points, 1000 bytes.
pub fn series_usage(
    key: Option<&str>,
    keep_history_days: u32,
    keep_trends_days: u32,
    first_ts: Option<Timestamp>,
) -> SeriesUsage {
    SeriesUsage {
        info: SeriesInfo {
            id: SERIES,
            key: key.map(str::to_owned),
            keep_history_days,
            keep_trends_days,
            metadata: Vec::new(),
        },
        points: 100,
        bytes: 1000,
        first_ts,
        last_ts: first_ts,
    }
}

/// Store figures for policy tests: the given trend intervals (ms), everything else zero or
/// empty (set `bytes` and `bytes_by_day` for budget policies).
pub fn store_usage(trend_intervals: &[i64]) -> StoreUsage {
    StoreUsage {
        trend_intervals: trend_intervals.to_vec(),
        ..StoreUsage::default()
    }
}

/// Runs a policy as the host does: a fresh instance, `configure(config_json)`, then `decide`.
pub fn decide<P: RetentionPolicy>(
    config_json: &str,
    series: &SeriesUsage,
    store: &StoreUsage,
    now: Timestamp,
) -> Result<Decision> {
    let mut p = PolicyInstance::<P>::new();
    p.configure(config_json)?;
    p.decide(series, store, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_history_hides_the_future_and_caps() {
        let h = MemHistory::new(100)
            .with_points([(10, 1.0), (20, 2.0), (100, 3.0), (30, 4.0)])
            .with_answer_cap(2);
        let p = h.read_range(SERIES, 0, 1000, 10).unwrap();
        assert_eq!(p.timestamps(), &[20, 30]);
        assert!(p.truncated());
        let p = h.read_last(SERIES, 10, 1, 1000).unwrap();
        assert_eq!(p.timestamps(), &[10, 20]);
        assert!(h.read_last(7, 1, 0, 10).is_err());
        let t = h.read_trends(SERIES, 20, 0, 1000).unwrap();
        assert_eq!(t.start, vec![0, 20]);
        assert_eq!(t.count, vec![1, 2]);
        assert_eq!(t.max, vec![1.0, 4.0]);
    }

    #[test]
    fn series_by_key_matches_the_stored_key_exactly() {
        let other = SeriesInfo {
            id: 7,
            key: Some("cpu,host=a,site=b usage".to_owned()),
            keep_history_days: 3,
            ..SeriesInfo::default()
        };
        let h = MemHistory::new(100)
            .with_key("mem free")
            .with_series(other.clone(), [(10, 1.5)]);
        assert_eq!(h.series_by_key("cpu,host=a,site=b usage"), Some(other));
        assert_eq!(h.series_by_key("mem free").map(|i| i.id), Some(SERIES));
        assert_eq!(h.series_by_key("cpu,site=b,host=a usage"), None);
        assert_eq!(h.series_by_key("cpu,host=a,site=b"), None);
        assert_eq!(h.series_by_key(""), None);
        let p = h.read_range(7, 0, 100, 10).unwrap();
        assert_eq!(p.timestamps(), &[10]);
        assert_eq!(h.series_by_id(7).map(|i| i.keep_history_days), Some(3));
    }
}
