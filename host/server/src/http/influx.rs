//! InfluxDB-compatible endpoints, so that Telegraf and InfluxDB client libraries write to Clio
//! unchanged. Clio has one namespace: `db`/`bucket` are required as InfluxDB requires them,
//! but they are not part of the series key.

use std::time::Instant;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clio_lineproto::Precision;
use serde_json::json;

use super::influxql::INFLUX_VERSION;
use super::{param, params, read_body};
use crate::door::Gate;
use crate::error::ApiError;
use crate::requests;

/// Set on a successful write when points were restamped: how many (the seed's rule: a
/// timestamp older than `timestamp_max_time_diff` or newer than `timestamp_max_future` by the server's
/// clock is replaced by the receive time).
pub const RESTAMPED_HEADER: &str = "X-Clio-Restamped";
/// Header of a write answer: points that shared a series and millisecond with a later point
/// of the same write (timestamps finer than a millisecond are stored at the millisecond).
pub const MERGED_HEADER: &str = "X-Clio-Merged";

fn with_version(mut r: Response) -> Response {
    r.headers_mut().insert(
        "X-Influxdb-Version",
        HeaderValue::from_static(INFLUX_VERSION),
    );
    r
}

fn v1_error(status: StatusCode, msg: String) -> Response {
    with_version((status, axum::Json(json!({"error": msg}))).into_response())
}

fn v2_error(status: StatusCode, code: &str, msg: String) -> Response {
    with_version((status, axum::Json(json!({"code": code, "message": msg}))).into_response())
}

fn precision(p: Option<&str>, v2: bool) -> Result<Precision, String> {
    match p {
        None | Some("") => Ok(Precision::Ns),
        Some(s) if v2 && !matches!(s, "ns" | "us" | "ms" | "s") => {
            Err(format!("invalid precision `{s}`: expected ns, us, ms or s"))
        }
        Some(s) => s.parse::<Precision>().map_err(|e| e.to_string()),
    }
}

enum Outcome {
    /// Written; the count of points whose timestamps lay outside the accepted range and were
    /// replaced by the receive time.
    Ok {
        restamped: usize,
        merged: usize,
    },
    /// A client mistake: its message and status (400, or 413 for an oversized body).
    Client(String, StatusCode),
    Server(ApiError),
}

fn client(e: &ApiError) -> Outcome {
    Outcome::Client(
        e.to_string(),
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    )
}

async fn write(gate: &Gate, headers: &HeaderMap, body: Body, prec: Precision) -> Outcome {
    // Refuse before reading a body nobody may write.
    if let Err(e) = gate.require(crate::auth::Role::Write) {
        return client(&e);
    }
    let body = match read_body(gate.state(), headers, body).await {
        Ok(b) => b,
        Err(e) if e.is_client_error() => return client(&e),
        Err(e) => return Outcome::Server(e),
    };
    match requests::write_line_protocol(gate, &body, prec).await {
        Ok(w) => match w.first_error {
            None => Outcome::Ok {
                restamped: w.report.restamped,
                merged: w.report.merged,
            },
            // InfluxDB writes the good lines and answers 400 naming the first bad one.
            Some(e) if w.report.points > 0 => Outcome::Client(
                format!("partial write: {e} dropped={}", w.rejected),
                StatusCode::BAD_REQUEST,
            ),
            Some(e) => Outcome::Client(e, StatusCode::BAD_REQUEST),
        },
        Err(e) if e.is_client_error() => client(&e),
        Err(e) => Outcome::Server(e),
    }
}

/// `POST /write?db=&precision=` (InfluxDB 1.x).
pub(super) async fn write_v1(
    gate: Gate,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let p = match params(q) {
        Ok(p) => p,
        Err(e) => return v1_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match param(&p, "db") {
        Some(db) if !db.is_empty() => gate.note_database(db),
        _ => return v1_error(StatusCode::BAD_REQUEST, "database is required".into()),
    }
    let prec = match precision(param(&p, "precision"), false) {
        Ok(v) => v,
        Err(e) => return v1_error(StatusCode::BAD_REQUEST, e),
    };
    let outcome = write(&gate, &headers, body, prec).await;
    respond(&gate, started, outcome, false)
}

/// `POST /api/v2/write?org=&bucket=&precision=` (InfluxDB 2.x).
pub(super) async fn write_v2(
    gate: Gate,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let p = match params(q) {
        Ok(p) => p,
        Err(e) => return v2_error(StatusCode::BAD_REQUEST, "invalid", e.to_string()),
    };
    if param(&p, "bucket").is_none_or(str::is_empty) {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "bucket is required".into(),
        );
    }
    let prec = match precision(param(&p, "precision"), true) {
        Ok(v) => v,
        Err(e) => return v2_error(StatusCode::BAD_REQUEST, "invalid", e),
    };
    let outcome = write(&gate, &headers, body, prec).await;
    respond(&gate, started, outcome, true)
}

fn respond(gate: &Gate, started: Instant, outcome: Outcome, v2: bool) -> Response {
    match outcome {
        Outcome::Ok { restamped, merged } => {
            gate.observe("write", started, Ok(()), &"write");
            let mut r = with_version(StatusCode::NO_CONTENT.into_response());
            // InfluxDB clients expect a bare 204; the header tells a curious client (and the
            // README's example) that some timestamps were out of range and stored as now.
            if restamped > 0 {
                r.headers_mut()
                    .insert(RESTAMPED_HEADER, HeaderValue::from(restamped));
            }
            if merged > 0 {
                r.headers_mut()
                    .insert(MERGED_HEADER, HeaderValue::from(merged));
            }
            r
        }
        Outcome::Client(msg, status) => {
            let e = ApiError::BadRequest(msg.clone());
            gate.observe("write", started, Err(&e), &msg);
            if v2 {
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "request too large"
                } else {
                    "invalid"
                };
                v2_error(status, code, msg)
            } else {
                v1_error(status, msg)
            }
        }
        Outcome::Server(e) => {
            gate.observe("write", started, Err(&e), &e);
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if v2 {
                v2_error(status, "internal error", e.to_string())
            } else {
                v1_error(status, e.to_string())
            }
        }
    }
}

/// `GET|HEAD /ping`: clients probe it before writing.
pub(super) async fn ping() -> Response {
    with_version(StatusCode::NO_CONTENT.into_response())
}
