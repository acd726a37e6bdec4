//! The messages of the TCP protocol (`docs/protocol.md`): ALEPIZ's (`add`, `del`,
//! `getLastValues`, `getByIdx`, `getByTime`, `getByValue`) with the semantics of
//! semantics.md, and Clio's own (`write`, `writeLp`, `read`, `last`, `series.*`, `ping`).
//!
//! A request is parsed completely into a [`Message`] before it runs, so every client mistake
//! becomes an error reply naming the message and the field, and nothing half-runs.

use std::collections::BTreeMap;

use clio_core::{
    Data, IncomingPoint, ReadRequest, ReadResult, Resolution, SeriesRef, Window, now_ms,
};
use clio_lineproto::Precision;
use clio_storage::{Point, SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, Timestamp, Value};
use serde_json::{Map, Value as Json, json};

use crate::error::ApiError;
use crate::ops::{self, PointsQuery};
use crate::state::AppState;

/// Values at or above this are timestamps, below it durations (semantics.md section 2:
/// 2000-01-01T00:00:00Z; ALEPIZ used 2016-10-23 and so misread older timestamps).
pub const ABSOLUTE_TS_MIN: Timestamp = 946_684_800_000;

/// `getByValue` gives up (with an error) after scanning this many points without a match,
/// so one request cannot walk years of raw data.
pub const GET_BY_VALUE_SCAN_LIMIT: usize = 1_000_000;

/// A parsed request.
#[derive(Debug, Clone)]
pub enum Message {
    /// ALEPIZ `add`: points of one series.
    Add {
        /// The points.
        points: Vec<IncomingPoint>,
    },
    /// ALEPIZ `del`: delete whole series.
    Del {
        /// The series.
        ids: Vec<SeriesId>,
    },
    /// ALEPIZ `getLastValues`.
    GetLastValues {
        /// The series.
        ids: Vec<SeriesId>,
    },
    /// ALEPIZ `getByIdx`: the `cnt` newest records after skipping `skip`.
    GetByIdx {
        /// The series.
        id: SeriesId,
        /// Newest records to skip (ALEPIZ `last`).
        skip: usize,
        /// Records wanted (ALEPIZ `cnt`).
        cnt: usize,
        /// Thin the answer to about this many records (0 or 1: no thinning).
        max_records: usize,
        /// Evaluation time: records at or after it are invisible.
        at: Option<Timestamp>,
    },
    /// ALEPIZ `getByTime`.
    GetByTime {
        /// The series.
        id: SeriesId,
        /// ALEPIZ `time` (the shift, or a timestamp).
        time: i64,
        /// ALEPIZ `interval` (the period, or a timestamp).
        interval: i64,
        /// Thin the answer to about this many records (0 or 1: no thinning).
        max_records: usize,
        /// Evaluation time ("now"); the server's clock when absent.
        at: Option<Timestamp>,
    },
    /// ALEPIZ `getByValue`: the timestamp of the newest record holding `value`.
    GetByValue {
        /// The series.
        id: SeriesId,
        /// The value looked for.
        value: Value,
    },
    /// Clio `write`: points of any series, by id or key.
    Write {
        /// The points.
        points: Vec<IncomingPoint>,
    },
    /// Clio `writeLp`: InfluxDB line protocol.
    WriteLp {
        /// The lines.
        lp: String,
        /// Timestamp precision.
        precision: Precision,
    },
    /// Clio `read`: the HTTP API's point query.
    Read {
        /// The series.
        series: SeriesRef,
        /// The window and options.
        query: PointsQuery,
    },
    /// Clio `last`: the newest point of each series.
    Last {
        /// The series.
        ids: Vec<SeriesId>,
    },
    /// Clio `series.list`.
    SeriesList {
        /// Which series.
        filter: SeriesFilter,
    },
    /// Clio `series.get`.
    SeriesGet {
        /// The series.
        id: SeriesId,
    },
    /// Clio `series.update`.
    SeriesUpdate {
        /// The series.
        id: SeriesId,
        /// The change.
        update: SeriesUpdate,
    },
    /// Clio `series.delete`.
    SeriesDelete {
        /// The series.
        id: SeriesId,
    },
    /// Clio `ping`.
    Ping,
    /// Clio `fn`: evaluates a history function (a plugin) on one series.
    Fn {
        /// The series.
        series: SeriesId,
        /// The function's name.
        function: String,
        /// ALEPIZ-style parameters, split on commas.
        args: Vec<String>,
        /// Evaluation time; the server's clock when absent.
        at: Option<Timestamp>,
    },
}

/// Every `msg` the server understands.
pub const MESSAGES: &[&str] = &[
    "add",
    "del",
    "getLastValues",
    "getByIdx",
    "getByTime",
    "getByValue",
    "write",
    "writeLp",
    "read",
    "last",
    "series.list",
    "series.get",
    "series.update",
    "series.delete",
    "ping",
    "fn",
];

impl Message {
    /// The operation name, as in `msg` (and the metrics label).
    pub fn op(&self) -> &'static str {
        match self {
            Message::Add { .. } => "add",
            Message::Del { .. } => "del",
            Message::GetLastValues { .. } => "getLastValues",
            Message::GetByIdx { .. } => "getByIdx",
            Message::GetByTime { .. } => "getByTime",
            Message::GetByValue { .. } => "getByValue",
            Message::Write { .. } => "write",
            Message::WriteLp { .. } => "writeLp",
            Message::Read { .. } => "read",
            Message::Last { .. } => "last",
            Message::SeriesList { .. } => "series.list",
            Message::SeriesGet { .. } => "series.get",
            Message::SeriesUpdate { .. } => "series.update",
            Message::SeriesDelete { .. } => "series.delete",
            Message::Ping => "ping",
            Message::Fn { .. } => "fn",
        }
    }

    /// True for messages that change data. A connection applies them in the order they
    /// arrived, and a read waits for the changes sent before it on the same connection.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Message::Add { .. }
                | Message::Del { .. }
                | Message::Write { .. }
                | Message::WriteLp { .. }
                | Message::SeriesUpdate { .. }
                | Message::SeriesDelete { .. }
        )
    }

    /// Parses the `data` object of a request envelope.
    pub fn parse(data: &Json) -> Result<Message, ApiError> {
        let Json::Object(obj) = data else {
            return Err(ApiError::bad(format!(
                "`data` must be an object with a `msg` field, not {}",
                ops::json_type(data)
            )));
        };
        let msg = match obj.get("msg") {
            Some(Json::String(m)) => m.as_str(),
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "`msg` must be a string, not {}",
                    ops::json_type(other)
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
                let value = ops::json_value(v, &|| format!("{name}: `value`"))?;
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
                let points = ops::parse_points_json(&body)
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
                f.only(&["measurement", "field", "tags"])?;
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

    /// Runs the message and returns the reply's `data`.
    pub async fn execute(self, state: &AppState) -> Result<Json, ApiError> {
        match self {
            Message::Add { points } | Message::Write { points } => {
                let r = ops::write_points(state, points).await?;
                Ok(json!({"points": r.points, "restamped": r.restamped,
                          "created_series": r.created_series}))
            }
            Message::Del { ids } => {
                let mut deleted = 0;
                for id in ids {
                    if state.delete_series(id).await? {
                        deleted += 1;
                    }
                }
                Ok(json!({ "deleted": deleted }))
            }
            Message::GetLastValues { ids } => get_last_values(state, &ids).await,
            Message::GetByIdx {
                id,
                skip,
                cnt,
                max_records,
                at,
            } => get_by_idx(state, id, skip, cnt, max_records, at).await,
            Message::GetByTime {
                id,
                time,
                interval,
                max_records,
                at,
            } => get_by_time(state, id, time, interval, max_records, at).await,
            Message::GetByValue { id, value } => get_by_value(state, id, &value).await,
            Message::WriteLp { lp, precision } => {
                let w = ops::write_line_protocol(state, lp.as_bytes(), precision).await?;
                Ok(
                    json!({"points": w.report.points, "restamped": w.report.restamped,
                          "created_series": w.report.created_series, "lines": w.lines,
                          "rejected": w.rejected, "error": w.first_error}),
                )
            }
            Message::Read { series, query } => {
                let id = resolve(state, &series)?;
                let r = ops::read_points(state, id, &query).await?;
                Ok(ops::read_result_json(&r))
            }
            Message::Last { ids } => {
                let map = ops::last_values(state, &ids).await?;
                Ok(Json::Object(
                    map.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                ))
            }
            Message::SeriesList { filter } => {
                let list = ops::list_series(state, &filter);
                Ok(Json::Array(list.iter().map(series_json).collect()))
            }
            Message::SeriesGet { id } => state
                .store()
                .series(id)
                .map(|s| series_json(&s))
                .ok_or_else(|| ApiError::NotFound(format!("series {id} not found"))),
            Message::SeriesUpdate { id, update } => {
                let s = state.store().update_series(id, &update).await?;
                Ok(series_json(&s))
            }
            Message::SeriesDelete { id } => {
                let deleted = state.delete_series(id).await?;
                Ok(json!({ "deleted": deleted }))
            }
            Message::Ping => Ok(json!("pong")),
            Message::Fn {
                series,
                function,
                args,
                at,
            } => {
                let host = state.plugins()?.clone();
                let v = host.evaluate(series, &function, args, at).await?;
                Ok(json!({ "value": v }))
            }
        }
    }
}

/// A short description for the slow-request log: the operation and its main parameters
/// (never whole payloads).
impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = self.op();
        match self {
            Message::Add { points } | Message::Write { points } => {
                write!(f, "{op} ({} points)", points.len())
            }
            Message::Del { ids } | Message::GetLastValues { ids } | Message::Last { ids } => {
                write!(f, "{op} ({} series)", ids.len())
            }
            Message::GetByIdx { id, skip, cnt, .. } => {
                write!(f, "{op} series {id} last {skip} cnt {cnt}")
            }
            Message::GetByTime {
                id, time, interval, ..
            } => write!(f, "{op} series {id} time {time} interval {interval}"),
            Message::GetByValue { id, .. }
            | Message::SeriesGet { id }
            | Message::SeriesUpdate { id, .. }
            | Message::SeriesDelete { id } => write!(f, "{op} series {id}"),
            Message::WriteLp { lp, .. } => write!(f, "{op} ({} bytes)", lp.len()),
            Message::Read { series, query } => write!(
                f,
                "{op} series {series} last {:?} from {:?} to {:?}",
                query.last, query.from, query.to
            ),
            Message::SeriesList { .. } | Message::Ping => f.write_str(op),
            Message::Fn {
                series, function, ..
            } => write!(f, "{op} {function} on series {series}"),
        }
    }
}

fn series_json(s: &clio_storage::SeriesInfo) -> Json {
    serde_json::to_value(ops::series_json(s)).unwrap_or(Json::Null)
}

fn resolve(state: &AppState, series: &SeriesRef) -> Result<SeriesId, ApiError> {
    match series {
        SeriesRef::Id(id) => Ok(*id),
        SeriesRef::Key(k) => state
            .store()
            .series_id(k)
            .ok_or_else(|| ApiError::NotFound(format!("series `{k}` not found"))),
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
            Some(t) => Some(ops::json_ts(t, &|| format!("add: `{field}.timestamp`"))?),
        };
        let value = match o.get("data") {
            None => return Err(f.bad(&format!("{field}.data"), "is missing")),
            Some(d) => alepiz_value(d).ok_or_else(|| {
                f.bad(
                    &format!("{field}.data"),
                    &format!(
                        "must be a number, string or boolean, not {}",
                        ops::json_type(d)
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
        other => SeriesRef::Id(ops::json_series_id(other, &|| "read: `series`".into())?),
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
        ops::json_series_id(v, &|| format!("{}: `{field}`", self.msg))
    }

    fn id_list(&self, field: &str) -> Result<Vec<SeriesId>, ApiError> {
        match self.req(field)? {
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| ops::json_series_id(v, &|| format!("{}: `{field}[{i}]`", self.msg)))
                .collect(),
            other => Err(self.bad(
                field,
                &format!(
                    "must be an array of series ids, not {}",
                    ops::json_type(other)
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
                    ops::json_type(other)
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
            .map(|v| ops::json_ts(v, &|| format!("{}: `{field}`", self.msg)))
            .transpose()
    }

    fn string_opt(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.opt(field) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(
                field,
                &format!("must be a string, not {}", ops::json_type(other)),
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
                        &format!("must be a string, not {}", ops::json_type(other)),
                    )),
                })
                .collect(),
            other => Err(self.bad(
                field,
                &format!(
                    "must be an object of strings, not {}",
                    ops::json_type(other)
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
        Some((from, to)) if max_records > 1 => thin(points, max_records, from, to),
        _ => points,
    };
    let records: Vec<Json> = points
        .iter()
        .map(|p| record(p.ts, ops::value_json(&p.value)))
        .collect();
    json!({"records": records, "all": !r.truncated})
}

/// Thins `points` for a chart of about `max` records: `[from, to)` is cut into `max` equal
/// steps; the numbers of each step become one record (their mean value at their mean time);
/// strings are kept as they are. Nothing changes when there are at most `max` points.
pub fn thin(points: Vec<Point>, max: usize, from: Timestamp, to: Timestamp) -> Vec<Point> {
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

async fn get_by_idx(
    state: &AppState,
    id: SeriesId,
    skip: usize,
    cnt: usize,
    max_records: usize,
    at: Option<Timestamp>,
) -> Result<Json, ApiError> {
    // A series never written reads as empty (semantics.md section 1), not as an error.
    if state.store().series(id).is_none() {
        return Ok(json!({"records": [], "all": true}));
    }
    let req = ReadRequest {
        series: id,
        window: Window::Last { n: cnt, skip, at },
        resolution: Resolution::Raw,
        cursor: None,
    };
    let _slot = state.query_slot().await?;
    let r = state.store().read(&req).await?;
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

async fn get_by_time(
    state: &AppState,
    id: SeriesId,
    time: i64,
    interval: i64,
    max_records: usize,
    at: Option<Timestamp>,
) -> Result<Json, ApiError> {
    if state.store().series(id).is_none() {
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
    let _slot = state.query_slot().await?;
    let r = state.store().read(&req).await?;
    Ok(records_reply(&r, max_records, span))
}

/// `getLastValues`: `{"<id>": {timestamp, data}}`; a series without data (or unknown)
/// maps to `{"err": "no data"}`, the shape ALEPIZ used for a failed entry.
async fn get_last_values(state: &AppState, ids: &[SeriesId]) -> Result<Json, ApiError> {
    let _slot = state.query_slot().await?;
    let mut out = Map::new();
    for &id in ids {
        let entry = if state.store().series(id).is_none() {
            None
        } else {
            let r = state
                .store()
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
                }) => p.last().map(|p| record(p.ts, ops::value_json(&p.value))),
                Ok(_) => None,
                // Deleted between the check and the read.
                Err(clio_core::Error::SeriesNotFound(_)) => None,
                Err(e) => return Err(e.into()),
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
async fn get_by_value(state: &AppState, id: SeriesId, value: &Value) -> Result<Json, ApiError> {
    if state.store().series(id).is_none() {
        return Ok(Json::Null);
    }
    let _slot = state.query_slot().await?;
    let mut cursor = None;
    let mut scanned = 0usize;
    loop {
        let r = state
            .store()
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
        let t = thin(pts.clone(), 10, 0, 100);
        assert_eq!(t.len(), 10);
        assert_eq!(t[0], Point::new(5, 4.5)); // mean of 0..=9 at ts 4.5 → 5 (round)
        assert_eq!(t[9].value, Value::Num(94.5));
        // Small inputs are untouched.
        assert_eq!(thin(pts[..5].to_vec(), 10, 0, 100), pts[..5].to_vec());
        let mut mixed = pts[..20].to_vec();
        mixed.insert(3, Point::new(3, "s"));
        let t = thin(mixed, 2, 0, 20);
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
