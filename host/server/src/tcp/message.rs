//! The messages of the TCP protocol (`docs/protocol.md`): ALEPIZ's (`add`, `del`,
//! `getLastValues`, `getByIdx`, `getByTime`, `getByValue`) with the semantics of
//! semantics.md, and Clio's own (`write`, `writeLp`, `read`, `last`, `series.*`, `ping`):
//! what each carries, its name, and how it runs.
//!
//! A request is parsed completely into a [`Message`] (`super::parse`) before it runs, so every
//! client mistake becomes an error reply naming the message and the field, and nothing
//! half-runs.

use clio_core::{IncomingPoint, SeriesRef};
use clio_lineproto::Precision;
use clio_storage::{SeriesFilter, SeriesId, SeriesUpdate, Timestamp, Value};
use serde_json::{Value as Json, json};

use super::query::{get_by_idx, get_by_time, get_by_value, get_last_values};
use crate::door::Gate;
use crate::error::ApiError;
use crate::requests::{self, PointsQuery};

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
        /// Entries per page (default 1000).
        limit: Option<u64>,
        /// The previous page's `next`.
        cursor: Option<String>,
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
    "auth",
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

    /// Runs the message and returns the reply's `data`.
    pub async fn execute(self, gate: &Gate) -> Result<Json, ApiError> {
        match self {
            Message::Add { points } | Message::Write { points } => {
                let r = requests::write_points(gate, points).await?;
                Ok(json!({"points": r.points, "restamped": r.restamped,
                          "created_series": r.created_series, "merged": r.merged}))
            }
            Message::Del { ids } => {
                let mut deleted = 0;
                for id in ids {
                    if gate.delete_series(id).await? {
                        deleted += 1;
                    }
                }
                Ok(json!({ "deleted": deleted }))
            }
            Message::GetLastValues { ids } => get_last_values(gate, &ids).await,
            Message::GetByIdx {
                id,
                skip,
                cnt,
                max_records,
                at,
            } => get_by_idx(gate, id, skip, cnt, max_records, at).await,
            Message::GetByTime {
                id,
                time,
                interval,
                max_records,
                at,
            } => get_by_time(gate, id, time, interval, max_records, at).await,
            Message::GetByValue { id, value } => get_by_value(gate, id, &value).await,
            Message::WriteLp { lp, precision } => {
                let w = requests::write_line_protocol(gate, lp.as_bytes(), precision).await?;
                Ok(
                    json!({"points": w.report.points, "restamped": w.report.restamped,
                          "created_series": w.report.created_series, "merged": w.report.merged, "lines": w.lines,
                          "rejected": w.rejected, "error": w.first_error}),
                )
            }
            Message::Read { series, query } => {
                let id = resolve(gate, &series)?;
                let r = requests::read_points(gate, id, &query).await?;
                Ok(requests::read_result_json(&r))
            }
            Message::Last { ids } => {
                let map = requests::last_values(gate, &ids).await?;
                Ok(Json::Object(
                    map.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                ))
            }
            Message::SeriesList {
                filter,
                limit,
                cursor,
            } => requests::list_series(gate, &filter, limit, cursor.as_deref()),
            Message::SeriesGet { id } => gate
                .series(id)?
                .map(|s| series_json(&s))
                .ok_or_else(|| ApiError::NotFound(format!("series {id} not found"))),
            Message::SeriesUpdate { id, update } => {
                let s = gate.update_series(id, &update).await?;
                Ok(series_json(&s))
            }
            Message::SeriesDelete { id } => {
                let deleted = gate.delete_series(id).await?;
                Ok(json!({ "deleted": deleted }))
            }
            Message::Ping => Ok(json!("pong")),
            Message::Fn {
                series,
                function,
                args,
                at,
            } => {
                let v = gate.evaluate(series, &function, args, at).await?;
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
    serde_json::to_value(requests::series_json(s)).unwrap_or(Json::Null)
}

fn resolve(gate: &Gate, series: &SeriesRef) -> Result<SeriesId, ApiError> {
    match series {
        SeriesRef::Id(id) => Ok(*id),
        SeriesRef::Key(k) => gate
            .series_id(k)?
            .ok_or_else(|| ApiError::NotFound(format!("series `{k}` not found"))),
    }
}
