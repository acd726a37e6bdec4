//! `/api/v1/housekeeper` and `/api/v1/registry`: retention status, runs on demand, and the
//! declared set of live series for zombie removal.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clio_storage::{SeriesId, SeriesKey};
use serde_json::{Value as JsonValue, json};

use super::{finish, read_body};
use crate::door::Gate;
use crate::error::ApiError;

/// `GET /api/v1/housekeeper`.
pub(super) async fn status(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate.housekeeper_status().map(|status| Json(json!(status)));
    finish(&gate, "housekeeper_status", started, r)
}

/// `POST /api/v1/housekeeper/run`: starts a run now (or right after the one in progress).
pub(super) async fn run(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate
        .housekeeper_admin("housekeeper.run")
        .map(|housekeeper| {
            let running = housekeeper.status().running;
            housekeeper.request_run();
            (
                StatusCode::ACCEPTED,
                Json(json!({"requested": true, "already_running": running})),
            )
        });
    finish(&gate, "housekeeper_run", started, r)
}

/// `PUT /api/v1/housekeeper/policy`: `{"policy": "disk-budget", "config": {...}}` switches
/// the retention policy from the next run on, without a restart. The plugin must be loaded
/// and must accept the configuration (it is configured once here to check); otherwise 400
/// with its reason, and the current policy stays. Not persisted: a restart goes back to the
/// configuration file.
pub(super) async fn set_policy(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let housekeeper = gate.housekeeper_admin("housekeeper.policy")?;
        let host = gate.policy_host()?;
        let body = read_body(gate.state(), &headers, body).await?;
        let doc: JsonValue = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))?;
        let JsonValue::Object(o) = doc else {
            return Err(ApiError::bad(
                "expected an object with `policy` and `config`",
            ));
        };
        if let Some(k) = o.keys().find(|k| *k != "policy" && *k != "config") {
            return Err(ApiError::bad(format!(
                "unknown field `{k}` (expected policy, config)"
            )));
        }
        let name = o
            .get("policy")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| ApiError::bad("`policy` must name a policy plugin"))?
            .to_string();
        let config = o.get("config").cloned().unwrap_or_else(|| json!({}));
        if !config.is_object() {
            return Err(ApiError::bad("`config` must be an object"));
        }
        let loaded = host.policies();
        if !loaded.contains(&name) {
            return Err(ApiError::bad(format!(
                "no policy plugin `{name}` is loaded (loaded: {})",
                loaded.join(", ")
            )));
        }
        let policy = Arc::new(clio_plugins::WasmPolicy::new(
            host,
            &name,
            config.to_string(),
        ));
        // Configure it once now (on a blocking thread: it is Wasm) so that a bad
        // configuration is refused here rather than skipping the next run.
        let trial = Arc::clone(&policy);
        let checked = tokio::task::spawn_blocking(move || {
            use clio_housekeeper::RetentionPolicy;
            let r = trial.begin_run();
            trial.end_run();
            r
        })
        .await
        .map_err(|e| ApiError::Internal(format!("policy check failed: {e}")))?;
        checked.map_err(|e| ApiError::bad(e.to_string()))?;
        housekeeper.set_policy(policy);
        tracing::info!(policy = %name, "retention policy switched");
        Ok(Json(json!({"policy": name, "config": config})))
    }
    .await;
    finish(&gate, "housekeeper_policy", started, r)
}

/// `PUT /api/v1/registry`: `{"ids": [...], "keys": ["m,t=v f", ...]}` declares the live
/// series; from the next run on, every other series is removed with its data.
pub(super) async fn registry(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let housekeeper = gate.housekeeper_admin("housekeeper.registry")?;
        let body = read_body(gate.state(), &headers, body).await?;
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
                match gate.series_id(&key)? {
                    Some(id) => live.push(id),
                    None => unknown_keys += 1,
                }
            }
        }
        let n = housekeeper
            .declare_registry(live)
            .map_err(|e| ApiError::Internal(format!("cannot save the registry: {e}")))?;
        Ok(Json(json!({"live": n, "unknown_keys": unknown_keys})))
    }
    .await;
    finish(&gate, "registry", started, r)
}
