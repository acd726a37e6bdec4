//! `/api/v1/housekeeper` and `/api/v1/registry`: retention status, runs on demand, and the
//! declared set of live series for zombie removal.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clio_housekeeper::Housekeeper;
use clio_storage::{SeriesId, SeriesKey};
use serde_json::{Value as JsonValue, json};

use super::{finish, read_body};
use crate::error::ApiError;
use crate::state::AppState;

fn housekeeper(state: &AppState) -> Result<Arc<Housekeeper>, ApiError> {
    state.housekeeper().cloned().ok_or_else(|| {
        ApiError::Unavailable("the housekeeper is disabled (housekeeper.enabled = false)".into())
    })
}

/// `GET /api/v1/housekeeper`.
pub(super) async fn status(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let r = housekeeper(&state).map(|hk| Json(json!(hk.status())));
    finish(&state, "housekeeper_status", started, r)
}

/// `POST /api/v1/housekeeper/run`: starts a run now (or right after the one in progress).
pub(super) async fn run(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let r = housekeeper(&state).map(|hk| {
        let running = hk.status().running;
        hk.request_run();
        (
            StatusCode::ACCEPTED,
            Json(json!({"requested": true, "already_running": running})),
        )
    });
    finish(&state, "housekeeper_run", started, r)
}

/// `PUT /api/v1/registry`: `{"ids": [...], "keys": ["m,t=v f", ...]}` declares the live
/// series; from the next run on, every other series is removed with its data.
pub(super) async fn registry(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let r = async {
        let hk = housekeeper(&state)?;
        let body = read_body(&state, &headers, body).await?;
        let doc: JsonValue = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))?;
        let JsonValue::Object(o) = doc else {
            return Err(ApiError::bad(
                "registry must be an object with `ids` and/or `keys`",
            ));
        };
        if let Some(k) = o.keys().find(|k| *k != "ids" && *k != "keys") {
            return Err(ApiError::bad(format!(
                "unknown field `{k}` (expected ids, keys)"
            )));
        }
        let mut live = Vec::new();
        if let Some(ids) = o.get("ids") {
            let arr = ids
                .as_array()
                .ok_or_else(|| ApiError::bad("`ids` must be an array"))?;
            for (i, v) in arr.iter().enumerate() {
                let id = v
                    .as_u64()
                    .ok_or_else(|| ApiError::bad(format!("ids[{i}]: {v} is not a series id")))?;
                live.push(SeriesId(id));
            }
        }
        let mut unknown_keys = 0;
        if let Some(keys) = o.get("keys") {
            let arr = keys
                .as_array()
                .ok_or_else(|| ApiError::bad("`keys` must be an array"))?;
            for (i, v) in arr.iter().enumerate() {
                let text = v
                    .as_str()
                    .ok_or_else(|| ApiError::bad(format!("keys[{i}] must be a string")))?;
                let key: SeriesKey = text
                    .parse()
                    .map_err(|e| ApiError::bad(format!("keys[{i}]: invalid key `{text}`: {e}")))?;
                match state.store().series_id(&key) {
                    Some(id) => live.push(id),
                    None => unknown_keys += 1,
                }
            }
        }
        let n = hk
            .declare_registry(live)
            .map_err(|e| ApiError::Internal(format!("cannot save the registry: {e}")))?;
        Ok(Json(json!({"live": n, "unknown_keys": unknown_keys})))
    }
    .await;
    finish(&state, "registry", started, r)
}
