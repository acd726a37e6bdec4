//! `/api/v1/collectors`: status of every collector instance, and start, stop and run-now.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Path;
use axum::response::Response;
use clio_plugins::CollectorError;
use serde_json::json;

use super::finish;
use crate::door::Gate;
use crate::error::ApiError;

fn api_error(e: CollectorError) -> ApiError {
    match e {
        CollectorError::NotFound(_) => ApiError::NotFound(e.to_string()),
        CollectorError::Gone(_) => ApiError::Unavailable(e.to_string()),
    }
}

/// `GET /api/v1/collectors`.
pub(super) async fn list(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate
        .collectors_view()
        .map(|c| Json(json!({"collectors": c.list()})));
    finish(&gate, "collectors", started, r)
}

/// `GET /api/v1/collectors/{name}`.
pub(super) async fn get(gate: Gate, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = gate
        .collectors_view()
        .and_then(|c| c.get(&name).map_err(api_error))
        .map(Json);
    finish(&gate, "collector", started, r)
}

/// `POST /api/v1/collectors/{name}/start`: schedules the instance again.
pub(super) async fn start(gate: Gate, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let c = gate.collectors_admin("collector.start", &name)?;
        c.start_one(&name).await.map_err(api_error).map(Json)
    }
    .await;
    finish(&gate, "collector_start", started, r)
}

/// `POST /api/v1/collectors/{name}/stop`: stops scheduling it (a run in progress finishes).
pub(super) async fn stop(gate: Gate, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let c = gate.collectors_admin("collector.stop", &name)?;
        c.stop_one(&name).await.map_err(api_error).map(Json)
    }
    .await;
    finish(&gate, "collector_stop", started, r)
}

/// `POST /api/v1/collectors/{name}/run`: runs it now (after a run in progress) and answers
/// with the run's report. A run stuck in a host call is answered with 503 after a minute.
pub(super) async fn run(gate: Gate, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let c = gate.collectors_admin("collector.run", &name)?;
        match tokio::time::timeout(Duration::from_secs(60), c.run_now(&name)).await {
            Ok(r) => r.map_err(api_error).map(Json),
            Err(_) => Err(ApiError::Unavailable(format!(
                "collector `{name}` did not finish a run within 60 s"
            ))),
        }
    }
    .await;
    finish(&gate, "collector_run", started, r)
}
