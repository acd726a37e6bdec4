//! Aggregates over one field in one time bucket: accumulated from raw points or merged from
//! trend buckets (count, sum, min, max, first and last are exact either way; mean =
//! sum / count), then evaluated per InfluxQL function.

use clio_storage::{PointColumns, TrendBucket, Value, parse_numeric_like};

/// A value in an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
}

impl Val {
    /// The number, if it is one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(_) => None,
        }
    }
}

impl From<Value> for Val {
    fn from(v: Value) -> Self {
        match v {
            Value::Num(n) => Val::Num(n),
            Value::Str(s) => Val::Str(s),
        }
    }
}

/// The InfluxQL functions Clio computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    Count,
    Sum,
    Mean,
    Median,
    Min,
    Max,
    First,
    Last,
    Spread,
    Stddev,
    /// `percentile(f, p)`.
    Percentile(f64),
}

/// Names of the supported functions, for error texts.
pub const SUPPORTED: &str =
    "count, sum, mean, median, min, max, first, last, spread, stddev, percentile";

impl Func {
    /// The function of a call name (lower case) and its extra argument.
    pub fn from_name(name: &str, arg: Option<f64>) -> Option<Func> {
        Some(match name {
            "count" => Func::Count,
            "sum" => Func::Sum,
            "mean" => Func::Mean,
            "median" => Func::Median,
            "min" => Func::Min,
            "max" => Func::Max,
            "first" => Func::First,
            "last" => Func::Last,
            "spread" => Func::Spread,
            "stddev" => Func::Stddev,
            "percentile" => Func::Percentile(arg?),
            _ => return None,
        })
    }

    /// True when trend buckets hold what it needs.
    pub fn trend_exact(self) -> bool {
        matches!(
            self,
            Func::Count
                | Func::Sum
                | Func::Mean
                | Func::Min
                | Func::Max
                | Func::First
                | Func::Last
                | Func::Spread
        )
    }

    /// True when it needs every value of the bucket.
    pub fn needs_values(self) -> bool {
        matches!(self, Func::Median | Func::Stddev | Func::Percentile(_))
    }

    /// True for selectors (they return a point, whose time an ungrouped query reports).
    pub fn is_selector(self) -> bool {
        matches!(
            self,
            Func::Min | Func::Max | Func::First | Func::Last | Func::Percentile(_)
        )
    }
}

/// What one bucket of one field has seen.
#[derive(Debug, Clone, Default)]
pub struct Acc {
    /// Values of any kind.
    pub count: u64,
    /// Numeric (and numeric-like) values.
    pub n: u64,
    sum: f64,
    min: Option<(f64, i64)>,
    max: Option<(f64, i64)>,
    first: Option<(i64, Val)>,
    last: Option<(i64, Val)>,
    /// Every numeric value with its time, when a function needs them.
    values: Vec<(f64, i64)>,
}

impl Acc {
    /// Adds one point.
    pub fn add(&mut self, ts: i64, v: &Val, keep_values: bool) {
        self.count += 1;
        if self.first.as_ref().is_none_or(|(t, _)| ts < *t) {
            self.first = Some((ts, v.clone()));
        }
        if self.last.as_ref().is_none_or(|(t, _)| ts >= *t) {
            self.last = Some((ts, v.clone()));
        }
        let num = match v {
            Val::Num(n) => Some(*n),
            Val::Str(s) => parse_numeric_like(s),
        };
        if let Some(x) = num {
            self.add_num(ts, x, keep_values);
        }
    }

    fn add_num(&mut self, ts: i64, x: f64, keep_values: bool) {
        self.n += 1;
        self.sum += x;
        if self.min.is_none_or(|(m, _)| x < m) {
            self.min = Some((x, ts));
        }
        if self.max.is_none_or(|(m, _)| x > m) {
            self.max = Some((x, ts));
        }
        if keep_values {
            self.values.push((x, ts));
        }
    }

    /// Adds one point given by reference (numbers cost no allocation).
    pub fn add_ref(&mut self, ts: i64, v: PointRef<'_>, keep_values: bool) {
        match v {
            PointRef::Num(x) => {
                self.count += 1;
                if self.first.as_ref().is_none_or(|(t, _)| ts < *t) {
                    self.first = Some((ts, Val::Num(x)));
                }
                if self.last.as_ref().is_none_or(|(t, _)| ts >= *t) {
                    self.last = Some((ts, Val::Num(x)));
                }
                self.add_num(ts, x, keep_values);
            }
            PointRef::Str(s) => self.add(ts, &Val::Str(s.to_string()), keep_values),
        }
    }

    /// Merges a trend bucket (its points are disjoint from what was added).
    pub fn merge_trend(&mut self, b: &TrendBucket) {
        if b.count == 0 {
            return;
        }
        self.count += b.count;
        self.n += b.count;
        self.sum += b.sum;
        if self.min.is_none_or(|(m, _)| b.min < m) {
            self.min = Some((b.min, b.first_ts));
        }
        if self.max.is_none_or(|(m, _)| b.max > m) {
            self.max = Some((b.max, b.first_ts));
        }
        if self.first.as_ref().is_none_or(|(t, _)| b.first_ts < *t) {
            self.first = Some((b.first_ts, Val::Num(b.first)));
        }
        if self.last.as_ref().is_none_or(|(t, _)| b.last_ts >= *t) {
            self.last = Some((b.last_ts, Val::Num(b.last)));
        }
    }

    /// The function's value and, for selectors, the selected point's time.
    pub fn eval(&self, f: Func) -> Option<(Val, Option<i64>)> {
        let num = |x: f64| Some((Val::Num(x), None));
        match f {
            Func::Count => Some((Val::Num(self.count as f64), None)),
            _ if self.count == 0 => None,
            Func::First => self.first.clone().map(|(t, v)| (v, Some(t))),
            Func::Last => self.last.clone().map(|(t, v)| (v, Some(t))),
            _ if self.n == 0 => None,
            Func::Sum => num(self.sum),
            Func::Mean => num(self.sum / self.n as f64),
            Func::Min => self.min.map(|(m, t)| (Val::Num(m), Some(t))),
            Func::Max => self.max.map(|(m, t)| (Val::Num(m), Some(t))),
            Func::Spread => match (self.min, self.max) {
                (Some((a, _)), Some((b, _))) => num(b - a),
                _ => None,
            },
            Func::Median => {
                let v = self.sorted();
                let k = v.len();
                if k == 0 {
                    return None;
                }
                if k % 2 == 1 {
                    num(v[k / 2].0)
                } else {
                    num(v[k / 2 - 1].0 + (v[k / 2].0 - v[k / 2 - 1].0) / 2.0)
                }
            }
            Func::Stddev => {
                // The sample standard deviation, as InfluxDB (null below two values).
                let k = self.values.len();
                if k < 2 {
                    return None;
                }
                let mean = self.values.iter().map(|v| v.0).sum::<f64>() / k as f64;
                let var = self
                    .values
                    .iter()
                    .map(|v| (v.0 - mean).powi(2))
                    .sum::<f64>()
                    / (k - 1) as f64;
                num(var.sqrt())
            }
            Func::Percentile(p) => {
                // Nearest rank, as InfluxDB: floor(n·p/100 + 0.5) − 1.
                let v = self.sorted();
                let i = ((v.len() as f64) * p / 100.0 + 0.5).floor() as i64 - 1;
                if i < 0 || i as usize >= v.len() {
                    return None;
                }
                let (x, t) = v[i as usize];
                Some((Val::Num(x), Some(t)))
            }
        }
    }

    fn sorted(&self) -> Vec<(f64, i64)> {
        let mut v = self.values.clone();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        v
    }
}

/// A value borrowed from columns.
#[derive(Debug, Clone, Copy)]
pub enum PointRef<'a> {
    /// A number.
    Num(f64),
    /// A string.
    Str(&'a str),
}

impl PointRef<'_> {
    /// An owned value.
    pub fn to_val(self) -> Val {
        match self {
            PointRef::Num(n) => Val::Num(n),
            PointRef::Str(s) => Val::Str(s.to_string()),
        }
    }
}

/// Calls `f` with every point of `cols`, ascending.
pub fn for_each_point(cols: &PointColumns, mut f: impl FnMut(i64, PointRef<'_>)) {
    if cols.kinds.is_empty() {
        for (t, x) in cols.ts.iter().zip(&cols.nums) {
            f(*t, PointRef::Num(*x));
        }
        return;
    }
    let (mut ni, mut si) = (0, 0);
    for (i, t) in cols.ts.iter().enumerate() {
        if cols.kinds.get(i) == Some(&clio_storage::KIND_NUM) {
            let Some(x) = cols.nums.get(ni) else { return };
            ni += 1;
            f(*t, PointRef::Num(*x));
        } else {
            let Some(s) = cols.strs.get(si) else { return };
            si += 1;
            f(*t, PointRef::Str(s));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn acc(vals: &[f64]) -> Acc {
        let mut a = Acc::default();
        for (i, v) in vals.iter().enumerate() {
            a.add(i as i64 * 10, &Val::Num(*v), true);
        }
        a
    }

    fn n(a: &Acc, f: Func) -> Option<f64> {
        a.eval(f).and_then(|(v, _)| v.num())
    }

    #[test]
    fn functions_match_influxdb() {
        let a = acc(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]);
        assert_eq!(n(&a, Func::Count), Some(8.0));
        assert_eq!(n(&a, Func::Sum), Some(31.0));
        assert_eq!(n(&a, Func::Mean), Some(3.875));
        assert_eq!(n(&a, Func::Median), Some(3.5));
        assert_eq!(n(&a, Func::Min), Some(1.0));
        assert_eq!(n(&a, Func::Max), Some(9.0));
        assert_eq!(n(&a, Func::First), Some(3.0));
        assert_eq!(n(&a, Func::Last), Some(6.0));
        assert_eq!(n(&a, Func::Spread), Some(8.0));
        assert_eq!(n(&a, Func::Percentile(50.0)), Some(3.0));
        assert_eq!(n(&a, Func::Percentile(100.0)), Some(9.0));
        assert_eq!(n(&a, Func::Percentile(0.0)), None);
        assert!((n(&a, Func::Stddev).unwrap() - 2.748376).abs() < 1e-6);
        assert_eq!(a.eval(Func::Min).unwrap().1, Some(10));
        let one = acc(&[5.0]);
        assert_eq!(n(&one, Func::Stddev), None);
        let empty = Acc::default();
        assert_eq!(n(&empty, Func::Count), Some(0.0));
        assert_eq!(empty.eval(Func::Mean), None);
    }

    #[test]
    fn trends_and_points_agree() {
        let pts: Vec<(i64, f64)> = (0..100).map(|i| (i * 1000, (i % 7) as f64)).collect();
        let mut raw = Acc::default();
        for (t, v) in &pts {
            raw.add(*t, &Val::Num(*v), false);
        }
        let mut tr = Acc::default();
        for chunk in pts.chunks(30) {
            let mut b = TrendBucket::single(0, chunk[0].0, chunk[0].1);
            for (t, v) in &chunk[1..] {
                b.add(*t, *v);
            }
            tr.merge_trend(&b);
        }
        for f in [
            Func::Count,
            Func::Sum,
            Func::Mean,
            Func::Min,
            Func::Max,
            Func::First,
            Func::Last,
            Func::Spread,
        ] {
            assert_eq!(n(&raw, f), n(&tr, f), "{f:?}");
        }
    }

    #[test]
    fn strings_count_and_select_but_do_not_sum() {
        let mut a = Acc::default();
        a.add(1, &Val::Str("on".into()), false);
        a.add(2, &Val::Str(" 12 ".into()), false);
        assert_eq!(n(&a, Func::Count), Some(2.0));
        assert_eq!(n(&a, Func::Sum), Some(12.0));
        assert_eq!(a.eval(Func::First).unwrap().0, Val::Str("on".into()));
    }
}
