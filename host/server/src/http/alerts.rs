//! Alerts over HTTP: `GET /api/v1/alerts`, `GET/POST /api/v1/alerts/rules`,
//! `DELETE /api/v1/alerts/rules/{name}`.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clio_config::AlertRule;

use super::{finish, read_body};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/alerts`: firing and pending alerts, the newest resolved ones.
pub(super) async fn list(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let r = state.alerts().map(|a| Json(a.list_json()));
    finish(&state, "alerts", started, r)
}

/// `GET /api/v1/alerts/rules`: every rule, with `source` `config` or `api`.
pub(super) async fn list_rules(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let r = state.alerts().map(|a| Json(a.rules_json()));
    finish(&state, "alert_rules", started, r)
}

/// `POST /api/v1/alerts/rules`: one rule as JSON (the keys of `[[alerts.rules]]`) → 201.
pub(super) async fn add_rule(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let r = async {
        let alerts = state.alerts()?.clone();
        let body = read_body(&state, &headers, body).await?;
        let rule: AlertRule = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("invalid alert rule: {e}")))?;
        alerts.add_rule(rule.clone())?;
        Ok((StatusCode::CREATED, Json(rule)))
    }
    .await;
    finish(&state, "alert_rule_add", started, r)
}

/// `DELETE /api/v1/alerts/rules/{name}`: a rule added through the API → 204 (a configured
/// rule is 409: it lives in the file).
pub(super) async fn delete_rule(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let started = Instant::now();
    let r = (|| {
        state.alerts()?.delete_rule(&name)?;
        Ok(StatusCode::NO_CONTENT)
    })();
    finish(&state, "alert_rule_delete", started, r)
}
