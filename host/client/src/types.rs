//! Requests and answers of Clio's API, shared by the HTTP and TCP clients (both front ends
//! answer with the same JSON).

use std::collections::BTreeMap;

use clio_storage::{Point, SeriesId, SeriesKey, Timestamp, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::error::{Error, Result};

/// Which series a written point belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesRef {
    /// By id (ALEPIZ's OCID); the series is created on first write.
    Id(SeriesId),
    /// By line-protocol key; the server assigns an id on first write.
    Key(SeriesKey),
}

/// One point to write through `POST /api/v1/points` or the TCP `write` message.
#[derive(Debug, Clone, PartialEq)]
pub struct WritePoint {
    /// The series.
    pub series: SeriesRef,
    /// Milliseconds since the epoch; `None` lets the server stamp it with its receive time.
    pub ts: Option<Timestamp>,
    /// The value.
    pub value: Value,
}

impl WritePoint {
    /// A point of series `id`.
    pub fn id(id: u64, ts: Option<Timestamp>, value: impl Into<Value>) -> Self {
        WritePoint {
            series: SeriesRef::Id(SeriesId(id)),
            ts,
            value: value.into(),
        }
    }

    /// A point of the series with `key`.
    pub fn key(key: SeriesKey, ts: Option<Timestamp>, value: impl Into<Value>) -> Self {
        WritePoint {
            series: SeriesRef::Key(key),
            ts,
            value: value.into(),
        }
    }

    /// The wire form: `{"series": id | "key": "...", "ts": ms, "value": v}`.
    pub fn to_json(&self) -> Json {
        let mut o = serde_json::Map::new();
        match &self.series {
            SeriesRef::Id(id) => o.insert("series".into(), json!(id.0)),
            SeriesRef::Key(k) => o.insert("key".into(), json!(k.to_string())),
        };
        if let Some(ts) = self.ts {
            o.insert("ts".into(), json!(ts));
        }
        o.insert("value".into(), value_json(&self.value));
        Json::Object(o)
    }
}

/// A value as JSON: numbers stay numbers, strings stay strings.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Num(n) => json!(n),
        Value::Str(s) => json!(s),
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReport {
    /// Points accepted.
    pub points: usize,
    /// Points whose timestamp was too far from the server's clock and was replaced by the
    /// receive time.
    pub restamped: usize,
    /// Series created by this write.
    pub created_series: usize,
}

/// What a line-protocol write over TCP (`writeLp`) did: good lines are written even when
/// some are bad, as InfluxDB does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineWriteReport {
    /// Points accepted.
    pub points: usize,
    /// Points restamped with the receive time.
    pub restamped: usize,
    /// Series created.
    pub created_series: usize,
    /// Lines read.
    pub lines: usize,
    /// Bad lines (not written).
    pub rejected: usize,
    /// The first bad line's error.
    pub error: Option<String>,
}

/// A point query: the newest N (`last`, optionally after skipping the newest `skip`), or the
/// half-open range `[from, to)`; plus resolution, continuation cursor and evaluation time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointsQuery {
    /// The newest N points.
    pub last: Option<usize>,
    /// With `last`: skip the K newest first.
    pub skip: Option<usize>,
    /// Range start (inclusive, ms).
    pub from: Option<Timestamp>,
    /// Range end (exclusive, ms).
    pub to: Option<Timestamp>,
    /// Evaluation time: points stamped at or after it are invisible.
    pub at: Option<Timestamp>,
    /// `raw`, `auto` or a trend interval such as `10m`.
    pub resolution: Option<String>,
    /// The `next` cursor of a truncated answer.
    pub cursor: Option<String>,
}

impl PointsQuery {
    /// The newest `n` points.
    pub fn last(n: usize) -> Self {
        PointsQuery {
            last: Some(n),
            ..Default::default()
        }
    }

    /// The points in `[from, to)`.
    pub fn range(from: Timestamp, to: Timestamp) -> Self {
        PointsQuery {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        }
    }

    /// Skips the `k` newest points (with [`PointsQuery::last`]).
    pub fn skip(mut self, k: usize) -> Self {
        self.skip = Some(k);
        self
    }

    /// Sets the resolution (`raw`, `auto`, `10m`, ...).
    pub fn resolution(mut self, r: impl Into<String>) -> Self {
        self.resolution = Some(r.into());
        self
    }

    /// Continues a truncated answer.
    pub fn cursor(mut self, c: impl Into<String>) -> Self {
        self.cursor = Some(c.into());
        self
    }

    /// Evaluates the query as of `at`.
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }

    /// The parameters that are set, by their API names, in a fixed order.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let mut num = |name, v: Option<i64>| {
            if let Some(v) = v {
                p.push((name, v.to_string()));
            }
        };
        num("last", self.last.map(|v| v as i64));
        num("skip", self.skip.map(|v| v as i64));
        num("from", self.from);
        num("to", self.to);
        num("at", self.at);
        if let Some(r) = &self.resolution {
            p.push(("resolution", r.clone()));
        }
        if let Some(c) = &self.cursor {
            p.push(("cursor", c.clone()));
        }
        p
    }

    /// The same parameters as JSON fields (numbers as numbers), for the TCP `read` message.
    pub fn json_fields(&self) -> serde_json::Map<String, Json> {
        let mut o = serde_json::Map::new();
        let mut num = |name: &str, v: Option<i64>| {
            if let Some(v) = v {
                o.insert(name.into(), json!(v));
            }
        };
        num("last", self.last.map(|v| v as i64));
        num("skip", self.skip.map(|v| v as i64));
        num("from", self.from);
        num("to", self.to);
        num("at", self.at);
        if let Some(r) = &self.resolution {
            o.insert("resolution".into(), json!(r));
        }
        if let Some(c) = &self.cursor {
            o.insert("cursor".into(), json!(c));
        }
        o
    }
}

/// One trend bucket as the API returns it: the aligned interval starting at `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendRow {
    /// Bucket start (ms).
    pub start: Timestamp,
    /// Numeric values in the bucket.
    pub count: u64,
    /// Their mean (`null` on the wire when it cannot be computed).
    pub avg: Option<f64>,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their sum.
    pub sum: f64,
    /// The oldest value.
    pub first: f64,
    /// The newest value.
    pub last: f64,
    /// Their standard deviation (`null` on the wire when it cannot be computed).
    pub stddev: Option<f64>,
}

/// The data of a point query: raw points or trend buckets.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadData {
    /// Raw points, oldest first.
    Points(Vec<Point>),
    /// Trend buckets of `interval` (such as `10m`), oldest first.
    Trends {
        /// The bucket width, as the server names it.
        interval: String,
        /// The buckets.
        buckets: Vec<TrendRow>,
    },
}

/// The answer of a point query.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAnswer {
    /// The series read.
    pub series: SeriesId,
    /// Points or trends.
    pub data: ReadData,
    /// True when the result cap cut older data off; `next` fetches it.
    pub truncated: bool,
    /// Cursor for the older part of a truncated answer.
    pub next: Option<String>,
}

impl ReadAnswer {
    /// Parses the server's JSON form
    /// (`{"series", "points": [[ts, v]] | "interval" + "trends", "truncated", "next"}`).
    pub fn from_json(v: &Json) -> Result<Self> {
        let o = v
            .as_object()
            .ok_or_else(|| Error::Decode(format!("a read answer must be an object, got {v}")))?;
        let series = o
            .get("series")
            .and_then(Json::as_u64)
            .map(SeriesId)
            .ok_or_else(|| Error::Decode("read answer without `series`".into()))?;
        let data = if let Some(points) = o.get("points") {
            let rows: Vec<(Timestamp, Value)> = serde_json::from_value(points.clone())
                .map_err(|e| Error::Decode(format!("bad `points`: {e}")))?;
            ReadData::Points(
                rows.into_iter()
                    .map(|(ts, value)| Point { ts, value })
                    .collect(),
            )
        } else if let Some(trends) = o.get("trends") {
            ReadData::Trends {
                interval: o
                    .get("interval")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                buckets: serde_json::from_value(trends.clone())
                    .map_err(|e| Error::Decode(format!("bad `trends`: {e}")))?,
            }
        } else {
            return Err(Error::Decode(
                "read answer has neither `points` nor `trends`".into(),
            ));
        };
        Ok(ReadAnswer {
            series,
            data,
            truncated: o.get("truncated").and_then(Json::as_bool).unwrap_or(false),
            next: o.get("next").and_then(Json::as_str).map(str::to_owned),
        })
    }

    /// The server's JSON form again (what `--json` prints).
    pub fn to_json(&self) -> Json {
        let mut o = serde_json::Map::new();
        o.insert("series".into(), json!(self.series.0));
        match &self.data {
            ReadData::Points(p) => {
                o.insert(
                    "points".into(),
                    Json::Array(
                        p.iter()
                            .map(|p| json!([p.ts, value_json(&p.value)]))
                            .collect(),
                    ),
                );
            }
            ReadData::Trends { interval, buckets } => {
                o.insert("interval".into(), json!(interval));
                o.insert("trends".into(), json!(buckets));
            }
        }
        o.insert("truncated".into(), json!(self.truncated));
        o.insert(
            "next".into(),
            self.next.as_ref().map_or(Json::Null, |c| json!(c)),
        );
        Json::Object(o)
    }
}

/// Parses the answer of a last-values request: `{"<id>": {"ts", "value"} | null}`.
pub fn parse_last(v: &Json) -> Result<BTreeMap<SeriesId, Option<Point>>> {
    let o = v
        .as_object()
        .ok_or_else(|| Error::Decode(format!("last values must be an object, got {v}")))?;
    let mut out = BTreeMap::new();
    for (k, item) in o {
        let id = k
            .parse::<u64>()
            .map(SeriesId)
            .map_err(|_| Error::Decode(format!("last values: `{k}` is not a series id")))?;
        let point = match item {
            Json::Null => None,
            other => Some(
                serde_json::from_value::<Point>(other.clone())
                    .map_err(|e| Error::Decode(format!("last value of {k}: {e}")))?,
            ),
        };
        out.insert(id, point);
    }
    Ok(out)
}

/// What `GET /health` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The storage backend's description.
    #[serde(default)]
    pub storage: Json,
    /// Series in the catalog.
    #[serde(default)]
    pub series: Option<u64>,
    /// Points in the cache not yet flushed to storage.
    #[serde(default)]
    pub unflushed_points: Option<u64>,
    /// Size of the write-ahead log.
    #[serde(default)]
    pub wal_bytes: Option<u64>,
    /// Why the server is unavailable.
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_point_wire_form() {
        let p = WritePoint::id(7, Some(1000), 1.5);
        assert_eq!(p.to_json(), json!({"series": 7, "ts": 1000, "value": 1.5}));
        let key: SeriesKey = "cpu,host=a usage".parse().unwrap();
        let p = WritePoint::key(key, None, "up");
        assert_eq!(
            p.to_json(),
            json!({"key": "cpu,host=a usage", "value": "up"})
        );
    }

    #[test]
    fn query_params_in_api_names() {
        let q = PointsQuery::last(10).skip(2).at(5).resolution("raw");
        assert_eq!(
            q.params(),
            vec![
                ("last", "10".to_string()),
                ("skip", "2".to_string()),
                ("at", "5".to_string()),
                ("resolution", "raw".to_string())
            ]
        );
        let q = PointsQuery::range(1, 2).cursor("abc");
        assert_eq!(
            Json::Object(q.json_fields()),
            json!({"from": 1, "to": 2, "cursor": "abc"})
        );
    }

    #[test]
    fn read_answer_round_trips() {
        let v =
            json!({"series": 3, "points": [[1, 2.5], [2, "x"]], "truncated": true, "next": "c1"});
        let a = ReadAnswer::from_json(&v).unwrap();
        assert_eq!(a.series, SeriesId(3));
        assert_eq!(
            a.data,
            ReadData::Points(vec![Point::new(1, 2.5), Point::new(2, "x")])
        );
        assert!(a.truncated);
        assert_eq!(a.next.as_deref(), Some("c1"));
        assert_eq!(a.to_json(), v);

        let v = json!({"series": 3, "interval": "10m", "trends": [{"start": 0, "count": 2,
            "avg": 1.5, "min": 1.0, "max": 2.0, "sum": 3.0, "first": 1.0, "last": 2.0,
            "stddev": 0.5}], "truncated": false, "next": null});
        let a = ReadAnswer::from_json(&v).unwrap();
        let ReadData::Trends { interval, buckets } = &a.data else {
            panic!("expected trends")
        };
        assert_eq!(interval, "10m");
        assert_eq!(buckets[0].avg, Some(1.5));
        assert_eq!(a.to_json(), v);

        assert!(ReadAnswer::from_json(&json!({"series": 1})).is_err());
        assert!(ReadAnswer::from_json(&json!([1])).is_err());
    }

    #[test]
    fn last_values_parse() {
        let m = parse_last(&json!({"1": {"ts": 5, "value": 2}, "2": null})).unwrap();
        assert_eq!(m[&SeriesId(1)], Some(Point::new(5, 2.0)));
        assert_eq!(m[&SeriesId(2)], None);
        assert!(parse_last(&json!({"x": null})).is_err());
    }
}
