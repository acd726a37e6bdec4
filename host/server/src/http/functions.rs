//! History functions and plugins over HTTP: `GET /api/v1/series/{id}/fn/{name}`,
//! `POST /api/v1/fn`, `GET /api/v1/functions`, `GET /api/v1/plugins`,
//! `POST /api/v1/plugins/reload`.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use clio_plugins::{FnValue, PluginError, split_args};
use clio_storage::{SeriesId, Timestamp};
use serde_json::{Value as JsonValue, json};

use super::{finish, num_param, param, params, read_body};
use crate::door::{CallError, FnCall, Gate};
use crate::error::ApiError;
use crate::requests;

/// Most evaluations in one `POST /api/v1/fn`.
pub const MAX_BATCH: usize = 10_000;

pub(super) fn value_json(v: FnValue) -> JsonValue {
    json!({ "value": v })
}

/// The error object of one failed evaluation in a batch.
fn error_json(e: &PluginError) -> JsonValue {
    json!({ "error": e.to_string(), "kind": e.kind(), "status": e.status() })
}

/// `GET /api/v1/series/{id}/fn/{name}?args=<ALEPIZ-style parameters>&at=<ms>` →
/// `{"value": number|string|null}`.
pub(super) async fn get_fn(
    gate: Gate,
    Path((id, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let started = Instant::now();
    let r = async {
        let id: u64 = super::api::series_id(&id)?.0;
        let p = params(q)?;
        for (k, _) in &p {
            if !matches!(k.as_str(), "args" | "at") {
                return Err(ApiError::bad(format!(
                    "unknown parameter `{k}` (expected args, at)"
                )));
            }
        }
        let at: Option<Timestamp> = num_param(&p, "at")?;
        let args = split_args(param(&p, "args").unwrap_or(""));
        let _slot = gate.query_slot().await?;
        let v = gate.evaluate(SeriesId(id), &name, args, at).await?;
        Ok(Json(value_json(v)))
    }
    .await;
    finish(&gate, "fn", started, r)
}

fn parse_call(i: usize, v: &JsonValue) -> Result<FnCall, ApiError> {
    let what = |f: &str| format!("item {i}: `{f}`");
    let JsonValue::Object(o) = v else {
        return Err(ApiError::bad(format!(
            "item {i} must be an object with series, function, args, at"
        )));
    };
    for k in o.keys() {
        if !matches!(k.as_str(), "series" | "function" | "args" | "at") {
            return Err(ApiError::bad(format!(
                "item {i}: unknown field `{k}` (expected series, function, args, at)"
            )));
        }
    }
    let series = requests::json_series_id(
        o.get("series")
            .ok_or_else(|| ApiError::bad(format!("{} is missing", what("series"))))?,
        &|| what("series"),
    )?;
    let function = match o.get("function") {
        Some(JsonValue::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::bad(format!(
                "{} must be a string",
                what("function")
            )));
        }
    };
    let args = match o.get("args") {
        None | Some(JsonValue::Null) => Vec::new(),
        Some(JsonValue::String(s)) => split_args(s),
        Some(JsonValue::Array(a)) => a
            .iter()
            .map(|x| match x {
                JsonValue::String(s) => Ok(s.trim().to_string()),
                JsonValue::Number(n) => Ok(n.to_string()),
                _ => Err(ApiError::bad(format!(
                    "{} items must be strings",
                    what("args")
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad(format!("{} must be a string", what("args")))),
    };
    let at = match o.get("at") {
        None | Some(JsonValue::Null) => None,
        Some(v) => Some(requests::json_ts(v, &|| what("at"))?),
    };
    Ok(FnCall {
        series,
        function,
        args,
        at,
    })
}

/// `POST /api/v1/fn`: a JSON array of `{"series", "function", "args", "at"}` → an array,
/// in order, of `{"value": ...}` or `{"error", "kind", "status"}`. One failing evaluation
/// does not fail the others; a malformed request is a 400.
pub(super) async fn post_fn(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let body = read_body(gate.state(), &headers, body).await?;
        let doc: JsonValue = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))?;
        let JsonValue::Array(items) = doc else {
            return Err(ApiError::bad(
                "the body must be a JSON array of {series, function, args, at}",
            ));
        };
        if items.len() > MAX_BATCH {
            return Err(ApiError::TooLarge(format!(
                "{} evaluations in one request; at most {MAX_BATCH}",
                items.len()
            )));
        }
        let calls = items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_call(i, v))
            .collect::<Result<Vec<_>, _>>()?;
        let _slot = gate.query_slot().await?;
        // One blocking task for the whole batch: no per-item thread hop.
        let out = gate
            .evaluate_batch(calls)
            .await?
            .into_iter()
            .map(|r| match r {
                Ok(v) => value_json(v),
                Err(CallError::Plugin(e)) => error_json(&e),
                Err(CallError::Refused(e)) => {
                    json!({ "error": e.to_string(), "kind": "forbidden", "status": e.status() })
                }
            })
            .collect::<Vec<_>>();
        Ok(Json(JsonValue::Array(out)))
    }
    .await;
    finish(&gate, "fn_batch", started, r)
}

/// `GET /api/v1/functions`: name, description, version, parameters of every function.
pub(super) async fn list_functions(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate.functions().map(|f| Json(json!(f)));
    finish(&gate, "functions", started, r)
}

/// `GET /api/v1/plugins`: every plugin file with version, hash, load time, counters.
pub(super) async fn list_plugins(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate
        .plugins()
        .map(|(allocator, plugins)| Json(json!({ "allocator": allocator, "plugins": plugins })));
    finish(&gate, "plugins", started, r)
}

/// `POST /api/v1/plugins/reload`: rescans the plugin directories now.
pub(super) async fn reload_plugins(gate: Gate) -> Response {
    let started = Instant::now();
    let r = async {
        let report = gate.reload_plugins().await?;
        Ok(Json(json!(report)))
    }
    .await;
    finish(&gate, "plugins_reload", started, r)
}
