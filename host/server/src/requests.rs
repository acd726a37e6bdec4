//! The requests both front ends serve (point writes, line-protocol writes, point reads, last
//! values, the series catalog) and the JSON they take and return, so that HTTP and TCP
//! answer the same way.

use std::collections::BTreeMap;

use clio_core::{
    Cursor, Data, IncomingPoint, NewText, ReadRequest, ReadResult, Resolution, SeriesRef,
    TextLookup, Window, WriteReport,
};
use clio_lineproto::{Parser, Precision};
use clio_storage::{
    Point, SeriesFilter, SeriesId, SeriesInfo, SeriesKey, Timestamp, TrendBucket, Value,
};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::door::Gate;
use crate::error::ApiError;

/// A JSON value as a point value: numbers (finite) and strings.
pub fn json_value(v: &Json, what: &dyn Fn() -> String) -> Result<Value, ApiError> {
    match v {
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Value::Num(f)),
            _ => Err(ApiError::bad(format!(
                "{}: number {n} is out of range",
                what()
            ))),
        },
        Json::String(s) => Ok(Value::Str(s.clone())),
        other => Err(ApiError::bad(format!(
            "{}: value must be a number or a string, not {}",
            what(),
            json_type(other)
        ))),
    }
}

/// The JSON type name, for error messages.
pub fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A series id given as a JSON number or numeric string.
pub fn json_series_id(v: &Json, what: &dyn Fn() -> String) -> Result<SeriesId, ApiError> {
    match v {
        Json::Number(n) => n.as_u64().map(SeriesId),
        Json::String(s) => s.trim().parse().ok().map(SeriesId),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::bad(format!(
            "{}: series id must be a non-negative integer, got {v}",
            what()
        ))
    })
}

/// A timestamp in ms given as a JSON integer (or a float with no fraction).
pub fn json_ts(v: &Json, what: &dyn Fn() -> String) -> Result<Timestamp, ApiError> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::bad(format!(
            "{}: timestamp must be integer milliseconds, got {v}",
            what()
        ))
    })
}

/// Parses `[{"series"|"key", "ts", "value"}, ...]`.
pub fn parse_points_json(body: &[u8]) -> Result<Vec<IncomingPoint>, ApiError> {
    let doc: Json = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))?;
    let Json::Array(items) = doc else {
        return Err(ApiError::bad(format!(
            "request body must be a JSON array of points, not {}",
            json_type(&doc)
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let what = || format!("point {i}");
        let Json::Object(o) = item else {
            return Err(ApiError::bad(format!("{}: must be an object", what())));
        };
        for k in o.keys() {
            if !matches!(k.as_str(), "series" | "key" | "ts" | "value") {
                return Err(ApiError::bad(format!(
                    "{}: unknown field `{k}` (expected series or key, ts, value)",
                    what()
                )));
            }
        }
        let series = match (o.get("series"), o.get("key")) {
            (Some(s), None) => SeriesRef::Id(json_series_id(s, &what)?),
            (None, Some(Json::String(k))) => SeriesRef::Key(
                k.parse::<SeriesKey>()
                    .map_err(|e| ApiError::bad(format!("{}: invalid key `{k}`: {e}", what())))?,
            ),
            (None, Some(_)) => {
                return Err(ApiError::bad(format!("{}: key must be a string", what())));
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(format!(
                    "{}: give series or key, not both",
                    what()
                )));
            }
            (None, None) => {
                return Err(ApiError::bad(format!(
                    "{}: series or key is missing",
                    what()
                )));
            }
        };
        let ts = match o.get("ts") {
            None | Some(Json::Null) => None,
            Some(t) => Some(json_ts(t, &what)?),
        };
        let value = json_value(
            o.get("value")
                .ok_or_else(|| ApiError::bad(format!("{}: value is missing", what())))?,
            &what,
        )?;
        out.push(IncomingPoint { series, ts, value });
    }
    Ok(out)
}

/// Writes points through the engine.
pub async fn write_points(
    gate: &Gate,
    points: Vec<IncomingPoint>,
) -> Result<WriteReport, ApiError> {
    let n = points.len() as u64;
    let report = gate.write(points).await?;
    gate.state().metrics().points_received.inc_by(n);
    Ok(report)
}

/// What a line-protocol write did: InfluxDB writes the good lines and reports the first bad
/// one (a "partial write").
#[derive(Debug)]
pub struct LineWrite {
    /// The engine's report for the good lines.
    pub report: WriteReport,
    /// Lines read.
    pub lines: usize,
    /// Bad lines.
    pub rejected: usize,
    /// The first bad line's error, InfluxDB style.
    pub first_error: Option<String>,
}

/// Parses and writes a line-protocol body. Series keys are looked up by their text exactly as
/// written (measurement, tags and field) in the engine's [`clio_core::KeyTexts`], so that
/// known series cost one hash lookup and no key canonicalisation; new keys go through the
/// engine, which assigns their ids and learns their texts in the same write.
pub async fn write_line_protocol(
    gate: &Gate,
    body: &[u8],
    precision: Precision,
) -> Result<LineWrite, ApiError> {
    let now = clio_core::now_ms();
    // A line must hold the longest string value the engine accepts: escaped (each `"` or
    // `\` doubled) beside the longest key InfluxDB allows and the rest of the line.
    let longest_line = gate
        .state()
        .config()
        .ingest
        .max_string_bytes
        .saturating_mul(2)
        .saturating_add(65_535 + 4096)
        .max(clio_lineproto::DEFAULT_MAX_LINE_LEN);
    let parser = Parser::new(precision, now)
        .with_max_errors(1)
        .with_max_line_len(longest_line);
    let mut points = Vec::new();
    let mut texts: Vec<NewText> = Vec::new();
    let mut key_error: Option<String> = None;
    let mut raw = String::new();
    let parsed = {
        let known = gate.key_texts()?;
        parser.parse_lines(body, |line| {
            for (i, (field, value)) in line.fields.iter().enumerate() {
                raw.clear();
                raw.push_str(line.raw_key);
                raw.push(' ');
                raw.push_str(field);
                let series = match known.lookup(raw.as_str()) {
                    TextLookup::Known(id) => SeriesRef::Id(id),
                    TextLookup::Unknown(hash) => match line.series_key(i) {
                        Some(Ok(key)) => {
                            // The point pushed below, at this index.
                            texts.push(NewText {
                                point: points.len(),
                                hash,
                                text: raw.clone(),
                            });
                            SeriesRef::Key(key)
                        }
                        Some(Err(e)) => {
                            key_error.get_or_insert_with(|| {
                                format!("line {}: invalid series key: {e}", line.line)
                            });
                            continue;
                        }
                        None => continue,
                    },
                };
                points.push(IncomingPoint {
                    series,
                    ts: Some(line.ts),
                    value: value.to_value(),
                });
            }
        })
    };
    let rejected = parsed.error_count + usize::from(key_error.is_some());
    gate.state()
        .metrics()
        .lines_rejected
        .inc_by(rejected as u64);
    let first_error = parsed.first_error().map(|e| e.to_string()).or(key_error);
    let report = if points.is_empty() {
        WriteReport::default()
    } else {
        let n = points.len() as u64;
        let limits = gate.state().config().line_protocol_time_limits();
        // The engine learns the new texts once it holds their series.
        let report = gate.write_learning(points, now, limits, texts).await?;
        gate.state().metrics().points_received.inc_by(n);
        report
    };
    Ok(LineWrite {
        report,
        lines: parsed.lines,
        rejected,
        first_error,
    })
}

/// A point query as both front ends express it.
#[derive(Debug, Clone, Default)]
pub struct PointsQuery {
    /// Newest N.
    pub last: Option<usize>,
    /// With `last`: skip the K newest.
    pub skip: Option<usize>,
    /// Range start.
    pub from: Option<Timestamp>,
    /// Range end (exclusive).
    pub to: Option<Timestamp>,
    /// Evaluation time for `last`.
    pub at: Option<Timestamp>,
    /// raw | auto | interval.
    pub resolution: Option<String>,
    /// Continuation of a truncated answer.
    pub cursor: Option<String>,
}

/// Runs a point query.
pub async fn read_points(
    gate: &Gate,
    id: SeriesId,
    q: &PointsQuery,
) -> Result<ReadResult, ApiError> {
    let window = match (q.last, q.from, q.to) {
        (Some(n), None, None) => {
            if n == 0 {
                return Err(ApiError::bad("last must be at least 1"));
            }
            Window::Last {
                n,
                skip: q.skip.unwrap_or(0),
                at: q.at,
            }
        }
        (None, Some(from), Some(to)) => {
            if q.skip.is_some() {
                return Err(ApiError::bad("skip goes with last, not with from/to"));
            }
            if from >= to {
                return Err(ApiError::bad(format!(
                    "from ({from}) must be before to ({to})"
                )));
            }
            Window::Range { from, to }
        }
        (Some(_), _, _) => return Err(ApiError::bad("give either last or from and to, not both")),
        (None, _, _) => return Err(ApiError::bad("give last=N, or from and to (ms)")),
    };
    let resolution: Resolution = match &q.resolution {
        None => Resolution::Raw,
        Some(r) => r.parse().map_err(ApiError::BadRequest)?,
    };
    let cursor = match &q.cursor {
        None => None,
        Some(c) if c.is_empty() => None,
        Some(c) => Some(c.parse::<Cursor>().map_err(ApiError::bad)?),
    };
    let req = ReadRequest {
        series: id,
        window,
        resolution,
        cursor,
    };
    let _slot = gate.query_slot().await?;
    gate.read(&req).await
}

/// A point value as JSON.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Num(n) => json!(n),
        Value::Str(s) => json!(s),
    }
}

/// The answer of a point query, as Clio's TCP messages and the Glass endpoints return it
/// (the same text as [`ReadAnswer`]).
pub fn read_result_json(r: &ReadResult) -> Json {
    // Serialising into a `Json` fails only for map keys that are not strings; these are.
    serde_json::to_value(ReadView(r)).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

/// The answer of a point query as the HTTP API sends it: serialised straight from the
/// result, without a [`Json`] tree between (the hot read path; ~25 allocations fewer for
/// last=10).
#[derive(Debug)]
pub struct ReadAnswer(pub ReadResult);

impl Serialize for ReadAnswer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ReadView(&self.0).serialize(s)
    }
}

/// The one definition of a read answer's JSON. Keys come in the order a `serde_json::Map`
/// kept them when the answer was built as one (sorted), so the text did not change.
struct ReadView<'a>(&'a ReadResult);

impl Serialize for ReadView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let next = r.next.map(|c| c.to_string());
        let mut m = s.serialize_map(None)?;
        match &r.data {
            Data::Points(points) => {
                m.serialize_entry("next", &next)?;
                m.serialize_entry("points", &PointsView(points))?;
            }
            Data::Trends { interval, .. } => {
                m.serialize_entry("interval", &interval.to_string())?;
                m.serialize_entry("next", &next)?;
            }
        }
        m.serialize_entry("series", &r.series.0)?;
        if let Some(replica) = &r.served_by {
            // Read failover: the primary failed and this caught-up replica answered.
            m.serialize_entry("served_by", replica)?;
        }
        if let Data::Trends { buckets, .. } = &r.data {
            m.serialize_entry("trends", &BucketsView(buckets))?;
        }
        m.serialize_entry("truncated", &r.truncated)?;
        m.end()
    }
}

/// `[[ts, value], ...]`.
struct PointsView<'a>(&'a [Point]);

impl Serialize for PointsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| match &p.value {
            Value::Num(n) => (p.ts, NumOrStr::Num(*n)),
            Value::Str(t) => (p.ts, NumOrStr::Str(t)),
        }))
    }
}

/// A point's value: a number (non-finite ones as `null`, as serde_json writes them) or a
/// string.
#[derive(Serialize)]
#[serde(untagged)]
enum NumOrStr<'a> {
    Num(f64),
    Str(&'a str),
}

/// Trend buckets with their derived average and standard deviation.
struct BucketsView<'a>(&'a [TrendBucket]);

impl Serialize for BucketsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// One bucket, fields in sorted order (see [`ReadView`]).
        #[derive(Serialize)]
        struct Bucket {
            avg: f64,
            count: u64,
            first: f64,
            last: f64,
            max: f64,
            min: f64,
            start: Timestamp,
            stddev: f64,
            sum: f64,
        }
        s.collect_seq(self.0.iter().map(|b| Bucket {
            avg: b.avg(),
            count: b.count,
            first: b.first,
            last: b.last,
            max: b.max,
            min: b.min,
            start: b.start,
            stddev: b.stddev(),
            sum: b.sum,
        }))
    }
}

/// The newest value of each series (ALEPIZ `getLastValues`): `{id: {ts, value}}`, series
/// without data map to `null`.
pub async fn last_values(gate: &Gate, ids: &[SeriesId]) -> Result<BTreeMap<u64, Json>, ApiError> {
    let _slot = gate.query_slot().await?;
    let mut out = BTreeMap::new();
    for &id in ids {
        let read = gate
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
        let r = match read {
            Ok(r) => r,
            // A series that was never written has no last value; that is not an error.
            Err(ApiError::NotFound(_)) => {
                out.insert(id.0, Json::Null);
                continue;
            }
            Err(e) => return Err(e),
        };
        let v = match r.data {
            Data::Points(p) => p.last().map_or(
                Json::Null,
                |p| json!({"ts": p.ts, "value": value_json(&p.value)}),
            ),
            Data::Trends { .. } => Json::Null,
        };
        out.insert(id.0, v);
    }
    Ok(out)
}

/// A catalog entry as JSON.
#[derive(Debug, Serialize)]
pub struct SeriesJson<'a> {
    /// Id.
    pub id: u64,
    /// Key text.
    pub key: Option<String>,
    /// Measurement, tags and field, when keyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement: Option<&'a str>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<&'a str, &'a str>>,
    /// Field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// Retention.
    pub keep_history_days: u32,
    /// Trend retention.
    pub keep_trends_days: u32,
    /// Metadata.
    pub metadata: &'a BTreeMap<String, String>,
    /// Creation time, ms.
    pub created: Timestamp,
}

/// JSON form of a catalog entry.
pub fn series_json(s: &SeriesInfo) -> SeriesJson<'_> {
    SeriesJson {
        id: s.id.0,
        key: s.key.as_ref().map(|k| k.to_string()),
        measurement: s.key.as_ref().map(|k| k.measurement()),
        tags: s.key.as_ref().map(|k| k.tags().collect()),
        field: s.key.as_ref().map(|k| k.field()),
        keep_history_days: s.settings.keep_history_days,
        keep_trends_days: s.settings.keep_trends_days,
        metadata: &s.settings.metadata,
        created: s.created,
    }
}

/// Entries per listing page when the request names no `limit`.
pub const DEFAULT_LIST_LIMIT: usize = 1000;
/// Most entries one listing page returns.
pub const MAX_LIST_LIMIT: usize = 100_000;

/// One page of the series passing `filter`, after the series `cursor` names, as both front
/// ends answer it: `{"series": [...], "next": "<id>" | null}`.
pub fn list_series(
    gate: &Gate,
    filter: &SeriesFilter,
    limit: Option<u64>,
    cursor: Option<&str>,
) -> Result<Json, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIST_LIMIT,
        Some(n) if n >= 1 && n <= MAX_LIST_LIMIT as u64 => n as usize,
        Some(n) => {
            return Err(ApiError::bad(format!(
                "limit {n} is out of range: give 1 to {MAX_LIST_LIMIT}"
            )));
        }
    };
    let after = match cursor {
        None | Some("") => None,
        Some(c) => Some(SeriesId(c.parse::<u64>().map_err(|_| {
            ApiError::bad(format!(
                "invalid cursor `{c}`: pass the next of the previous page"
            ))
        })?)),
    };
    let page = gate.list_series_page(filter, after, limit)?;
    Ok(json!({
        "series": page.series.iter().map(series_json).collect::<Vec<_>>(),
        "next": page.next.map(|id| id.0.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use clio_storage::DEFAULT_TREND_INTERVALS;

    use super::*;

    /// The answer as it was built before [`ReadAnswer`]: a `Json` tree, whose map sorts its
    /// keys. The direct serialisation must give the same text.
    fn as_tree(r: &ReadResult) -> String {
        let mut o = serde_json::Map::new();
        o.insert("series".into(), json!(r.series.0));
        match &r.data {
            Data::Points(p) => {
                let points: Vec<Json> = p
                    .iter()
                    .map(|p| json!([p.ts, value_json(&p.value)]))
                    .collect();
                o.insert("points".into(), Json::Array(points));
            }
            Data::Trends { interval, buckets } => {
                o.insert("interval".into(), json!(interval.to_string()));
                let buckets: Vec<Json> = buckets
                    .iter()
                    .map(|b| {
                        json!({"start": b.start, "count": b.count, "avg": b.avg(), "min": b.min,
                               "max": b.max, "sum": b.sum, "first": b.first, "last": b.last,
                               "stddev": b.stddev()})
                    })
                    .collect();
                o.insert("trends".into(), Json::Array(buckets));
            }
        }
        o.insert("truncated".into(), json!(r.truncated));
        if let Some(replica) = &r.served_by {
            o.insert("served_by".into(), json!(replica));
        }
        o.insert(
            "next".into(),
            r.next.map_or(Json::Null, |c| json!(c.to_string())),
        );
        Json::Object(o).to_string()
    }

    fn bucket(start: Timestamp, values: &[f64]) -> TrendBucket {
        TrendBucket {
            start,
            count: values.len() as u64,
            sum: values.iter().sum(),
            sum_sq: values.iter().map(|v| v * v).sum(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            first: values[0],
            last: values[values.len() - 1],
            first_ts: start,
            last_ts: start + 1,
        }
    }

    #[test]
    fn read_answers_serialise_as_the_json_tree_did() {
        let points = vec![
            Point {
                ts: 1_700_000_000_000,
                value: Value::Num(21.5),
            },
            Point {
                ts: 1_700_000_001_000,
                value: Value::Num(-0.125),
            },
            Point {
                ts: 1_700_000_002_000,
                value: Value::Str("door \"open\"\n".into()),
            },
            Point {
                ts: 1_700_000_003_000,
                value: Value::Num(f64::NAN),
            },
            Point {
                ts: -5,
                value: Value::Num(1e300),
            },
        ];
        let results = [
            ReadResult {
                series: SeriesId(7),
                data: Data::Points(points.clone()),
                truncated: false,
                next: None,
                served_by: None,
            },
            ReadResult {
                series: SeriesId(u64::MAX),
                data: Data::Points(Vec::new()),
                truncated: true,
                next: Some(Cursor::Skip(5000)),
                served_by: Some("replica-1".into()),
            },
            ReadResult {
                series: SeriesId(3),
                data: Data::Trends {
                    interval: DEFAULT_TREND_INTERVALS[0],
                    buckets: vec![
                        bucket(600_000, &[1.0, 2.5, 4.0]),
                        bucket(1_200_000, &[-3.25]),
                    ],
                },
                truncated: true,
                next: Some(Cursor::Before(600_000)),
                served_by: Some("pg".into()),
            },
            ReadResult {
                series: SeriesId(3),
                data: Data::Trends {
                    interval: DEFAULT_TREND_INTERVALS[3],
                    buckets: Vec::new(),
                },
                truncated: false,
                next: None,
                served_by: None,
            },
        ];
        for r in results {
            let direct = serde_json::to_string(&ReadAnswer(r.clone())).unwrap();
            assert_eq!(direct, as_tree(&r));
            assert_eq!(read_result_json(&r).to_string(), direct);
        }
    }
}
