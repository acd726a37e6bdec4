//! `/api/v1/collectors`: status of every collector instance, and start, stop and run-now.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use clio_plugins::CollectorError;
use serde_json::json;

use super::finish;
use crate::error::ApiError;
use crate::state::AppState;

fn api_error(e: CollectorError) -> ApiError {
    match e {
        CollectorError::NotFound(_) => ApiError::NotFound(e.to_string()),
        CollectorError::Gone(_) => ApiError::Unavailable(e.to_string()),
    }
}

/// `GET /api/v1/collectors`.
pub(super) async fn list(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let r = state
        .collectors()
        .map(|c| Json(json!({"collectors": c.list()})));
    finish(&state, "collectors", started, r)
}

/// `GET /api/v1/collectors/{name}`.
pub(super) async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = state
        .collectors()
        .and_then(|c| c.get(&name).map_err(api_error))
        .map(Json);
    finish(&state, "collector", started, r)
}

/// `POST /api/v1/collectors/{name}/start`: schedules the instance again.
pub(super) async fn start(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let c = state.collectors()?;
        c.start_one(&name).await.map_err(api_error).map(Json)
    }
    .await;
    finish(&state, "collector_start", started, r)
}

/// `POST /api/v1/collectors/{name}/stop`: stops scheduling it (a run in progress finishes).
pub(super) async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let c = state.collectors()?;
        c.stop_one(&name).await.map_err(api_error).map(Json)
    }
    .await;
    finish(&state, "collector_stop", started, r)
}

/// `POST /api/v1/collectors/{name}/run`: runs it now (after a run in progress) and answers
/// with the run's report. A run stuck in a host call is answered with 503 after a minute.
pub(super) async fn run(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let c = state.collectors()?;
        match tokio::time::timeout(Duration::from_secs(60), c.run_now(&name)).await {
            Ok(r) => r.map_err(api_error).map(Json),
            Err(_) => Err(ApiError::Unavailable(format!(
                "collector `{name}` did not finish a run within 60 s"
            ))),
        }
    }
    .await;
    finish(&state, "collector_run", started, r)
}
