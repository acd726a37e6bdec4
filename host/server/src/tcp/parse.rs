//! Parsing a request's `data` object into a [`Message`]: one parser per message, and
//! `Fields`, typed field access whose errors name the message and the field.

use std::collections::BTreeMap;

use clio_core::{IncomingPoint, SeriesRef};
use clio_lineproto::Precision;
use clio_storage::{SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, Timestamp, Value};
use serde_json::{Map, Value as Json};

use super::message::{MESSAGES, Message};
use crate::error::ApiError;
use crate::requests::{self, PointsQuery};

impl Message {
    /// Parses the `data` object of a request envelope.
    pub fn parse(data: &Json) -> Result<Message, ApiError> {
        let Json::Object(obj) = data else {
            return Err(ApiError::bad(format!(
                "`data` must be an object with a `msg` field, not {}",
                requests::json_type(data)
            )));
        };
        let msg = match obj.get("msg") {
            Some(Json::String(m)) => m.as_str(),
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "`msg` must be a string, not {}",
                    requests::json_type(other)
                )));
            }
            None => return Err(ApiError::bad("`msg` is missing")),
        };
        let Some(&name) = MESSAGES.iter().find(|m| **m == msg) else {
            return Err(ApiError::bad(format!(
                "unknown message `{msg}` (expected one of {})",
                MESSAGES.join(", ")
            )));
        };
        let f = Fields { msg: name, obj };
        match name {
            "add" => parse_add(&f),
            "del" => Ok(Message::Del {
                ids: f.id_list("IDs")?,
            }),
            "getLastValues" => Ok(Message::GetLastValues {
                ids: f.id_list("IDs")?,
            }),
            "getByIdx" => {
                f.records_type()?;
                let cnt = f.usize_req("cnt")?;
                if cnt == 0 {
                    return Err(f.bad("cnt", "must be at least 1"));
                }
                Ok(Message::GetByIdx {
                    id: f.series_id("id")?,
                    skip: f.usize_opt("last")?.unwrap_or(0),
                    cnt,
                    max_records: f.usize_opt("maxRecordsCnt")?.unwrap_or(0),
                    at: f.ts_opt("at")?,
                })
            }
            "getByTime" => {
                f.records_type()?;
                Ok(Message::GetByTime {
                    id: f.series_id("id")?,
                    time: f.duration_or_ts("time")?,
                    interval: f.duration_or_ts("interval")?,
                    max_records: f.usize_opt("maxRecordsCnt")?.unwrap_or(0),
                    at: f.ts_opt("at")?,
                })
            }
            "getByValue" => {
                let v = f.req("value")?;
                let value = requests::json_value(v, &|| format!("{name}: `value`"))?;
                Ok(Message::GetByValue {
                    id: f.series_id("id")?,
                    value,
                })
            }
            "write" => {
                f.only(&["points"])?;
                let points = f.req("points")?;
                // The same parser as HTTP's JSON write, so both accept the same points.
                let body = serde_json::to_vec(points)
                    .map_err(|e| ApiError::Internal(format!("cannot re-encode points: {e}")))?;
                let points = requests::parse_points_json(&body)
                    .map_err(|e| ApiError::bad(format!("write: `points`: {e}")))?;
                Ok(Message::Write { points })
            }
            "writeLp" => {
                f.only(&["lp", "precision"])?;
                let lp = f.string_req("lp")?.to_owned();
                let precision = match f.string_opt("precision")? {
                    None => Precision::Ns,
                    Some(p) => p.parse().map_err(|e| f.bad("precision", &format!("{e}")))?,
                };
                Ok(Message::WriteLp { lp, precision })
            }
            "read" => parse_read(&f),
            "last" => {
                f.only(&["series"])?;
                Ok(Message::Last {
                    ids: f.id_list("series")?,
                })
            }
            "series.list" => {
                f.only(&["measurement", "field", "tags", "limit", "cursor"])?;
                let tags = match f.opt("tags") {
                    None => Vec::new(),
                    Some(_) => f.string_map("tags")?.into_iter().collect(),
                };
                Ok(Message::SeriesList {
                    filter: SeriesFilter {
                        measurement: f.string_opt("measurement")?.map(str::to_owned),
                        tags,
                        field: f.string_opt("field")?.map(str::to_owned),
                    },
                    limit: f.u64_opt("limit")?,
                    cursor: f.string_opt("cursor")?.map(str::to_owned),
                })
            }
            "series.get" => {
                f.only(&["id"])?;
                Ok(Message::SeriesGet {
                    id: f.series_id("id")?,
                })
            }
            "series.update" => {
                f.only(&["id", "keep_history_days", "keep_trends_days", "metadata"])?;
                let update = SeriesUpdate {
                    keep_history_days: f.u32_opt("keep_history_days")?,
                    keep_trends_days: f.u32_opt("keep_trends_days")?,
                    metadata: match f.opt("metadata") {
                        None => None,
                        Some(_) => Some(f.string_map("metadata")?),
                    },
                };
                Ok(Message::SeriesUpdate {
                    id: f.series_id("id")?,
                    update,
                })
            }
            "series.delete" => {
                f.only(&["id"])?;
                Ok(Message::SeriesDelete {
                    id: f.series_id("id")?,
                })
            }
            "ping" => {
                f.only(&[])?;
                Ok(Message::Ping)
            }
            "fn" => {
                f.only(&["series", "function", "args", "at"])?;
                Ok(Message::Fn {
                    series: f.series_id("series")?,
                    function: f.string_req("function")?.to_owned(),
                    args: clio_plugins::split_args(f.string_opt("args")?.unwrap_or("")),
                    at: f.ts_opt("at")?,
                })
            }
            // `MESSAGES` and this match list the same names.
            other => Err(ApiError::Internal(format!(
                "message `{other}` has no parser"
            ))),
        }
    }
}

/// `add`: `{id, record: {timestamp, data}}` or `{id, records: [...]}`.
fn parse_add(f: &Fields<'_>) -> Result<Message, ApiError> {
    let id = f.series_id("id")?;
    let one = |field: &str, r: &Json| -> Result<IncomingPoint, ApiError> {
        let Json::Object(o) = r else {
            return Err(f.bad(field, "must be an object {timestamp, data}"));
        };
        let ts = match o.get("timestamp") {
            None | Some(Json::Null) => None,
            Some(t) => Some(requests::json_ts(t, &|| {
                format!("add: `{field}.timestamp`")
            })?),
        };
        let value = match o.get("data") {
            None => return Err(f.bad(&format!("{field}.data"), "is missing")),
            Some(d) => alepiz_value(d).ok_or_else(|| {
                f.bad(
                    &format!("{field}.data"),
                    &format!(
                        "must be a number, string or boolean, not {}",
                        requests::json_type(d)
                    ),
                )
            })?,
        };
        Ok(IncomingPoint {
            series: SeriesRef::Id(id),
            ts,
            value,
        })
    };
    let points = match (f.opt("record"), f.opt("records")) {
        (Some(r), None) => vec![one("record", r)?],
        (None, Some(Json::Array(rs))) => {
            if rs.is_empty() {
                return Err(f.bad("records", "is empty"));
            }
            rs.iter()
                .enumerate()
                .map(|(i, r)| one(&format!("records[{i}]"), r))
                .collect::<Result<_, _>>()?
        }
        (None, Some(_)) => return Err(f.bad("records", "must be an array")),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad("add: give `record` or `records`, not both"));
        }
        (None, None) => return Err(ApiError::bad("add: `record` is missing")),
    };
    Ok(Message::Add { points })
}

/// A record's `data` as ALEPIZ stored it: numbers and strings as they are, booleans as 1/0,
/// objects and arrays as their JSON text. `null` (which ALEPIZ's client never sends) and
/// numbers outside f64 are refused.
fn alepiz_value(d: &Json) -> Option<Value> {
    match d {
        Json::Number(n) => n.as_f64().filter(|v| v.is_finite()).map(Value::Num),
        Json::String(s) => Some(Value::Str(s.clone())),
        Json::Bool(b) => Some(Value::Num(if *b { 1.0 } else { 0.0 })),
        Json::Array(_) | Json::Object(_) => Some(Value::Str(d.to_string())),
        Json::Null => None,
    }
}

fn parse_read(f: &Fields<'_>) -> Result<Message, ApiError> {
    f.only(&[
        "series",
        "last",
        "skip",
        "from",
        "to",
        "at",
        "resolution",
        "cursor",
    ])?;
    let series = match f.req("series")? {
        Json::String(s) if s.trim().parse::<u64>().is_err() => SeriesRef::Key(
            s.parse::<SeriesKey>()
                .map_err(|e| f.bad("series", &format!("invalid key `{s}`: {e}")))?,
        ),
        other => SeriesRef::Id(requests::json_series_id(other, &|| {
            "read: `series`".into()
        })?),
    };
    let query = PointsQuery {
        last: f.usize_opt("last")?,
        skip: f.usize_opt("skip")?,
        from: f.ts_opt("from")?,
        to: f.ts_opt("to")?,
        at: f.ts_opt("at")?,
        resolution: f.string_opt("resolution")?.map(str::to_owned),
        cursor: f.string_opt("cursor")?.map(str::to_owned),
    };
    Ok(Message::Read { series, query })
}

/// Typed access to the fields of one message, with errors naming message and field.
struct Fields<'a> {
    msg: &'static str,
    obj: &'a Map<String, Json>,
}

impl Fields<'_> {
    fn bad(&self, field: &str, what: &str) -> ApiError {
        ApiError::bad(format!("{}: `{field}` {what}", self.msg))
    }

    /// Clio's own messages refuse unknown fields, so a typo is an error, not a default.
    /// (ALEPIZ's messages accept extra fields: its clients send some we do not use.)
    fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for k in self.obj.keys() {
            if k != "msg" && !allowed.contains(&k.as_str()) {
                let expected = if allowed.is_empty() {
                    "no fields".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::bad(format!(
                    "{}: unknown field `{k}` (expected {expected})",
                    self.msg
                )));
            }
        }
        Ok(())
    }

    /// A present, non-null field.
    fn opt(&self, field: &str) -> Option<&Json> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn req(&self, field: &str) -> Result<&Json, ApiError> {
        self.opt(field).ok_or_else(|| self.bad(field, "is missing"))
    }

    fn series_id(&self, field: &str) -> Result<SeriesId, ApiError> {
        let v = self.req(field)?;
        requests::json_series_id(v, &|| format!("{}: `{field}`", self.msg))
    }

    fn id_list(&self, field: &str) -> Result<Vec<SeriesId>, ApiError> {
        match self.req(field)? {
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    requests::json_series_id(v, &|| format!("{}: `{field}[{i}]`", self.msg))
                })
                .collect(),
            other => Err(self.bad(
                field,
                &format!(
                    "must be an array of series ids, not {}",
                    requests::json_type(other)
                ),
            )),
        }
    }

    fn u64_opt(&self, field: &str) -> Result<Option<u64>, ApiError> {
        match self.opt(field) {
            None => Ok(None),
            Some(Json::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                        .map(|f| f as u64)
                })
                .map(Some)
                .ok_or_else(|| {
                    self.bad(field, &format!("must be a non-negative integer, got {n}"))
                }),
            Some(Json::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                self.bad(
                    field,
                    &format!("must be a non-negative integer, got \"{s}\""),
                )
            }),
            Some(other) => Err(self.bad(
                field,
                &format!(
                    "must be a non-negative integer, not {}",
                    requests::json_type(other)
                ),
            )),
        }
    }

    fn usize_opt(&self, field: &str) -> Result<Option<usize>, ApiError> {
        self.u64_opt(field)?
            .map(|v| usize::try_from(v).map_err(|_| self.bad(field, "is too large")))
            .transpose()
    }

    fn usize_req(&self, field: &str) -> Result<usize, ApiError> {
        self.req(field)?;
        self.usize_opt(field)?
            .ok_or_else(|| self.bad(field, "is missing"))
    }

    fn u32_opt(&self, field: &str) -> Result<Option<u32>, ApiError> {
        self.u64_opt(field)?
            .map(|v| u32::try_from(v).map_err(|_| self.bad(field, "is too large")))
            .transpose()
    }

    fn ts_opt(&self, field: &str) -> Result<Option<Timestamp>, ApiError> {
        self.opt(field)
            .map(|v| requests::json_ts(v, &|| format!("{}: `{field}`", self.msg)))
            .transpose()
    }

    fn string_opt(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.opt(field) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(
                field,
                &format!("must be a string, not {}", requests::json_type(other)),
            )),
        }
    }

    fn string_req(&self, field: &str) -> Result<&str, ApiError> {
        self.req(field)?;
        self.string_opt(field)?
            .ok_or_else(|| self.bad(field, "is missing"))
    }

    fn string_map(&self, field: &str) -> Result<BTreeMap<String, String>, ApiError> {
        match self.req(field)? {
            Json::Object(o) => o
                .iter()
                .map(|(k, v)| match v {
                    Json::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(self.bad(
                        &format!("{field}.{k}"),
                        &format!("must be a string, not {}", requests::json_type(other)),
                    )),
                })
                .collect(),
            other => Err(self.bad(
                field,
                &format!(
                    "must be an object of strings, not {}",
                    requests::json_type(other)
                ),
            )),
        }
    }

    /// ALEPIZ's `recordsType`: 0, 1, 2 or null. The server never filtered by it (the client
    /// converted values afterwards), and neither do we; it is only checked.
    fn records_type(&self) -> Result<(), ApiError> {
        match self.u64_opt("recordsType")? {
            None | Some(0..=2) => Ok(()),
            Some(n) => Err(self.bad("recordsType", &format!("must be 0, 1, 2 or null, got {n}"))),
        }
    }

    /// A duration (ms, or text with a unit `s m h d w`) or a timestamp (ms): `getByTime`'s
    /// `time` and `interval`. Negative values are refused.
    fn duration_or_ts(&self, field: &str) -> Result<i64, ApiError> {
        let v = self.req(field)?;
        let ms = match v {
            Json::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            }),
            Json::String(s) => parse_duration_ms(s),
            _ => None,
        }
        .ok_or_else(|| {
            self.bad(
                field,
                &format!("must be integer milliseconds or a duration such as \"5m\", got {v}"),
            )
        })?;
        if ms < 0 {
            return Err(self.bad(field, &format!("must not be negative, got {ms}")));
        }
        Ok(ms)
    }
}

/// `"300000"`, `"5m"`, `"1.5h"`, `"2d"`, `"1w"` → ms; `None` when not a whole number of ms.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_lowercase()),
        _ => return t.parse::<i64>().ok(),
    };
    let scale: f64 = match unit {
        's' => 1e3,
        'm' => 60e3,
        'h' => 3600e3,
        'd' => 86_400e3,
        'w' => 604_800e3,
        _ => return None,
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let ms = num.parse::<f64>().ok()? * scale;
    (ms.is_finite() && ms.fract() == 0.0 && ms < 9.2e18).then_some(ms as i64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Json) -> Result<Message, ApiError> {
        Message::parse(&v)
    }

    fn err(v: Json) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn add_accepts_record_and_records() {
        let m = parse(json!({"msg": "add", "id": 5, "record": {"timestamp": 1000, "data": 1.5}}))
            .unwrap();
        let Message::Add { points } = m else {
            panic!("not an add: {m:?}")
        };
        assert_eq!(
            points,
            vec![IncomingPoint {
                series: SeriesRef::Id(SeriesId(5)),
                ts: Some(1000),
                value: Value::Num(1.5)
            }]
        );
        let Message::Add { points } = parse(json!({"msg": "add", "id": "6", "records": [
            {"timestamp": 1, "data": "up"}, {"data": true}, {"timestamp": 3, "data": {"a": 1}}
        ]}))
        .unwrap() else {
            panic!("not an add")
        };
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].value, Value::Str("up".into()));
        assert_eq!(points[1].ts, None);
        assert_eq!(points[1].value, Value::Num(1.0));
        assert_eq!(points[2].value, Value::Str("{\"a\":1}".into()));
    }

    #[test]
    fn mistakes_name_the_field() {
        assert!(err(json!({"msg": "add", "record": {"data": 1}})).contains("`id`"));
        assert!(err(json!({"msg": "add", "id": 1})).contains("`record`"));
        assert!(
            err(json!({"msg": "add", "id": 1, "record": {"timestamp": 1}})).contains("record.data")
        );
        assert!(
            err(json!({"msg": "add", "id": 1, "record": {"data": null}})).contains("record.data")
        );
        assert!(err(json!({"msg": "add", "id": 1, "records": [{"data": 1}, {"timestamp": "x", "data": 1}]}))
            .contains("records[1].timestamp"));
        assert!(err(json!({"msg": "add", "id": -1, "record": {"data": 1}})).contains("`id`"));
        assert!(err(json!({"msg": "getByIdx", "id": 1})).contains("`cnt`"));
        assert!(err(json!({"msg": "getByIdx", "id": 1, "cnt": 0})).contains("`cnt`"));
        assert!(err(json!({"msg": "getByIdx", "id": 1, "cnt": 2, "last": -1})).contains("`last`"));
        assert!(
            err(json!({"msg": "getByIdx", "id": 1, "cnt": 2, "recordsType": 7}))
                .contains("recordsType")
        );
        assert!(err(json!({"msg": "getByTime", "id": 1, "time": 0})).contains("`interval`"));
        assert!(
            err(json!({"msg": "getByTime", "id": 1, "time": -5, "interval": 10}))
                .contains("`time`")
        );
        assert!(
            err(json!({"msg": "getByTime", "id": 1, "time": 1.5, "interval": 10}))
                .contains("`time`")
        );
        assert!(err(json!({"msg": "getLastValues", "IDs": 3})).contains("`IDs`"));
        assert!(err(json!({"msg": "getLastValues", "IDs": [1, "x"]})).contains("`IDs[1]`"));
        assert!(err(json!({"msg": "getByValue", "id": 1})).contains("`value`"));
        assert!(err(json!({"msg": "read", "series": 1, "lats": 5})).contains("`lats`"));
        assert!(err(json!({"msg": "read", "series": "cpu"})).contains("`series`"));
        assert!(
            err(json!({"msg": "writeLp", "lp": "x", "precision": "fortnight"}))
                .contains("precision")
        );
        assert!(err(json!({"msg": "write", "points": [{"series": 1}]})).contains("value"));
        assert!(
            err(json!({"msg": "series.update", "id": 1, "keep_history_days": 5e10}))
                .contains("keep_history_days")
        );
        assert!(err(json!({"msg": "series.list", "tags": {"host": 1}})).contains("tags.host"));
        assert!(err(json!({"msg": "nope"})).contains("unknown message `nope`"));
        assert!(err(json!({"msg": 5})).contains("`msg`"));
        assert!(err(json!({"nomsg": 5})).contains("`msg`"));
        assert!(err(json!([1])).contains("`data`"));
        assert!(err(json!({"msg": "ping", "x": 1})).contains("`x`"));
    }

    #[test]
    fn alepiz_messages_ignore_extra_fields() {
        let m = parse(json!({"msg": "getByIdx", "id": 1, "last": 0, "cnt": 3,
                             "maxRecordsCnt": 0, "recordsType": 0, "extra": true}))
        .unwrap();
        assert!(
            matches!(
                m,
                Message::GetByIdx {
                    id: SeriesId(1),
                    skip: 0,
                    cnt: 3,
                    max_records: 0,
                    at: None
                }
            ),
            "{m:?}"
        );
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ms("300000"), Some(300_000));
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("1.5m"), Some(90_000));
        assert_eq!(parse_duration_ms("2H"), Some(7_200_000));
        assert_eq!(parse_duration_ms("1w"), Some(604_800_000));
        assert_eq!(parse_duration_ms("0.0001s"), None);
        assert_eq!(parse_duration_ms("5x"), None);
        assert_eq!(parse_duration_ms("m"), None);
        assert_eq!(parse_duration_ms(""), None);
        assert_eq!(parse_duration_ms("-5m"), None);
    }
}
