//! InfluxQL on `/query`: the subset Grafana's InfluxDB data source (InfluxQL mode), the
//! `influx` CLI and the client libraries' `query()` send (docs/influxql.md). The language
//! lives in `clio-influxql` (pure); this module runs statements against the engine's catalog,
//! raw points and trend buckets, and answers in InfluxDB's JSON shape:
//! `{"results":[{"statement_id":0,"series":[{"name","tags","columns","values"}]}]}`, with an
//! `error` per failing statement and a top-level `error` (400) for a query that does not parse.

mod agg;
mod meta;
mod schema;
mod select;

use std::time::Instant;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clio_influxql::{Statement, format_rfc3339, parse_query};
use serde_json::{Value as Json, json};

use super::{param, params, read_body};
use crate::auth::Role;
use crate::blocking::off_worker;
use crate::door::Gate;
use crate::error::ApiError;

/// The InfluxDB version Clio answers as (clients look at the header).
pub(super) const INFLUX_VERSION: &str = "1.8.10-clio";

/// How answer times are written: RFC3339 (no `epoch`) or integers in a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epoch {
    Rfc3339,
    Ns,
    Us,
    Ms,
    S,
    M,
    H,
}

impl Epoch {
    fn parse(s: Option<&str>) -> Result<Epoch, String> {
        Ok(match s {
            None | Some("") => Epoch::Rfc3339,
            Some("ns" | "n") => Epoch::Ns,
            Some("u" | "us" | "µ") => Epoch::Us,
            Some("ms") => Epoch::Ms,
            Some("s") => Epoch::S,
            Some("m") => Epoch::M,
            Some("h") => Epoch::H,
            Some(other) => {
                return Err(format!(
                    "invalid epoch `{other}`: expected ns, u, ms, s, m or h"
                ));
            }
        })
    }

    /// A time (ms since the epoch) as the client asked.
    pub(crate) fn time(self, ms: i64) -> Json {
        match self {
            Epoch::Rfc3339 => Json::String(format_rfc3339(ms.saturating_mul(1_000_000))),
            Epoch::Ns => json!(ms.saturating_mul(1_000_000)),
            Epoch::Us => json!(ms.saturating_mul(1_000)),
            Epoch::Ms => json!(ms),
            Epoch::S => json!(ms.div_euclid(1_000)),
            Epoch::M => json!(ms.div_euclid(60_000)),
            Epoch::H => json!(ms.div_euclid(3_600_000)),
        }
    }
}

/// What statements run with.
pub(crate) struct Ctx<'a> {
    pub gate: &'a Gate,
    /// The request's time, ns since the epoch (`now()`).
    pub now_ns: i64,
    pub epoch: Epoch,
}

/// One series of an answer.
#[derive(Debug, Default)]
pub(crate) struct SeriesOut {
    pub name: Option<String>,
    pub tags: Option<Vec<(String, String)>>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Json>>,
}

impl SeriesOut {
    fn to_json(&self) -> Json {
        let mut o = serde_json::Map::new();
        if let Some(n) = &self.name {
            o.insert("name".into(), json!(n));
        }
        if let Some(t) = &self.tags {
            let m: serde_json::Map<String, Json> =
                t.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            o.insert("tags".into(), Json::Object(m));
        }
        o.insert("columns".into(), json!(self.columns));
        if !self.values.is_empty() {
            o.insert("values".into(), json!(self.values));
        }
        Json::Object(o)
    }
}

/// A number as InfluxDB writes it: integral values without a fraction.
pub(crate) fn num_json(x: f64) -> Json {
    if !x.is_finite() {
        return Json::Null;
    }
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return json!(x as i64);
    }
    json!(x)
}

fn with_version(mut r: Response) -> Response {
    r.headers_mut().insert(
        "X-Influxdb-Version",
        HeaderValue::from_static(INFLUX_VERSION),
    );
    r
}

fn top_error(status: StatusCode, msg: String) -> Response {
    with_version((status, axum::Json(json!({ "error": msg }))).into_response())
}

/// `GET|POST /query?q=&db=&rp=&epoch=&chunked=&pretty=` (InfluxDB 1.x), the query also as a
/// form body (`q=...`). Credentials as on every endpoint (`u`/`p`, tokens, Basic).
pub(in crate::http) async fn query(
    gate: Gate,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // InfluxDB answers a query without valid credentials with a top-level 401.
    if let Err(e) = gate.require(Role::Read) {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        return top_error(status, e.to_string());
    }
    let mut p = match params(raw) {
        Ok(p) => p,
        Err(e) => return top_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let body = match read_body(gate.state(), &headers, body).await {
        Ok(b) => b,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return top_error(status, e.to_string());
        }
    };
    if !body.is_empty() {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.starts_with("multipart/") {
            return top_error(
                StatusCode::BAD_REQUEST,
                "multipart query bodies are not supported by Clio; send q= as a form or URL parameter"
                    .into(),
            );
        }
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
            Ok(form) => p.extend(form),
            Err(e) => {
                return top_error(StatusCode::BAD_REQUEST, format!("malformed form body: {e}"));
            }
        }
    }
    let Some(q) = param(&p, "q").filter(|q| !q.trim().is_empty()) else {
        return top_error(
            StatusCode::BAD_REQUEST,
            "missing required parameter \"q\"".into(),
        );
    };
    let epoch = match Epoch::parse(param(&p, "epoch")) {
        Ok(e) => e,
        Err(e) => return top_error(StatusCode::BAD_REQUEST, e),
    };
    let chunked = param(&p, "chunked").is_some_and(|v| v == "true" || v == "1");
    let pretty = param(&p, "pretty").is_some_and(|v| v == "true" || v == "1");
    let statements = match parse_query(q) {
        Ok(s) => s,
        Err(e) => {
            let err = ApiError::BadRequest(e.to_string());
            gate.observe("influxql", started, Err(&err), &q);
            return top_error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    // Clio has one namespace: `db` and `rp` are accepted and remembered for SHOW DATABASES.
    if let Some(db) = param(&p, "db").filter(|d| !d.is_empty()) {
        gate.note_database(db);
    }
    let ctx = Ctx {
        gate: &gate,
        now_ns: clio_core::now_ms().saturating_mul(1_000_000),
        epoch,
    };
    for stmt in &statements {
        if let Err(e) = meta::refuse_beyond_scope(&ctx, stmt) {
            gate.observe("influxql", started, Err(&e), &q);
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN);
            return top_error(status, e.to_string());
        }
    }
    let mut results = Vec::with_capacity(statements.len());
    let mut failed = false;
    for (i, stmt) in statements.iter().enumerate() {
        if failed {
            results.push(json!({"statement_id": i, "error": "not executed"}));
            continue;
        }
        match run(&ctx, stmt).await {
            Ok(series) if series.is_empty() => results.push(json!({ "statement_id": i })),
            Ok(series) => {
                let s: Vec<Json> = series.iter().map(SeriesOut::to_json).collect();
                results.push(json!({"statement_id": i, "series": s}));
            }
            Err(e) => {
                tracing::debug!(statement = i, error = %e, "influxql statement failed");
                failed = true;
                results.push(json!({"statement_id": i, "error": e}));
            }
        }
    }
    gate.observe("influxql", started, Ok(()), &q);
    let encode = |v: &Json| {
        if pretty {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        }
        .unwrap_or_default()
    };
    let text = if chunked {
        // One JSON document per statement, newline-separated, as InfluxDB's chunked answers.
        let mut out = String::new();
        for r in &results {
            out.push_str(&encode(&json!({ "results": [r] })));
            out.push('\n');
        }
        out
    } else {
        encode(&json!({ "results": results }))
    };
    with_version(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// Runs one statement; `Err` is its per-statement error text. The SHOW statements that walk
/// the catalog (a million series: SHOW SERIES took 186 ms) run [`off_worker`].
async fn run(ctx: &Ctx<'_>, stmt: &Statement) -> Result<Vec<SeriesOut>, String> {
    match stmt {
        Statement::Select(s) => {
            let _slot = ctx.gate.query_slot().await.map_err(|e| e.to_string())?;
            select::select(ctx, s).await
        }
        Statement::CreateDatabase { name } => {
            ctx.gate.note_database(name);
            Ok(Vec::new())
        }
        Statement::ShowDatabases => Ok(meta::show_databases(ctx)),
        Statement::ShowRetentionPolicies { .. } => Ok(meta::show_retention_policies()),
        Statement::ShowMeasurements {
            with,
            condition,
            page,
        } => off_worker(|| meta::show_measurements(ctx, with.as_ref(), condition.as_ref(), *page)),
        Statement::ShowTagKeys {
            from,
            condition,
            page,
        } => off_worker(|| meta::show_tag_keys(ctx, from, condition.as_ref(), *page)),
        Statement::ShowTagValues {
            from,
            key,
            condition,
            page,
        } => off_worker(|| meta::show_tag_values(ctx, from, key, condition.as_ref(), *page)),
        Statement::ShowFieldKeys { from, page } => meta::show_field_keys(ctx, from, *page).await,
        Statement::ShowSeries {
            from,
            condition,
            page,
        } => off_worker(|| meta::show_series(ctx, from, condition.as_ref(), *page)),
        Statement::DropSeries { from, condition } => {
            meta::drop_series(ctx, from, condition.as_ref()).await
        }
        Statement::Delete { from, condition } => meta::delete(ctx, from, condition.as_ref()).await,
        Statement::Unsupported { what } => Err(format!(
            "{what} is not supported by Clio (supported: SELECT, SHOW DATABASES, SHOW MEASUREMENTS, \
             SHOW TAG KEYS, SHOW TAG VALUES, SHOW FIELD KEYS, SHOW SERIES, SHOW RETENTION POLICIES, \
             CREATE DATABASE, DROP SERIES, DROP MEASUREMENT, DELETE)"
        )),
    }
}
