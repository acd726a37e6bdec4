//! Alerts over HTTP: `GET /api/v1/alerts`, `GET/POST /api/v1/alerts/rules`,
//! `DELETE /api/v1/alerts/rules/{name}`. Reading needs `read` over every series, changing
//! rules `admin` (audited), both through the door.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clio_config::AlertRule;

use super::{finish, read_body};
use crate::door::Gate;
use crate::error::ApiError;

/// `GET /api/v1/alerts`: firing and pending alerts, the newest resolved ones.
pub(super) async fn list(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate.alerts_view().map(|a| Json(a.list_json()));
    finish(&gate, "alerts", started, r)
}

/// `GET /api/v1/alerts/rules`: every rule, with `source` `config` or `api`.
pub(super) async fn list_rules(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate.alerts_view().map(|a| Json(a.rules_json()));
    finish(&gate, "alert_rules", started, r)
}

/// `POST /api/v1/alerts/rules`: one rule as JSON (the keys of `[[alerts.rules]]`) → 201.
pub(super) async fn add_rule(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let body = read_body(gate.state(), &headers, body).await?;
        let rule: AlertRule = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("invalid alert rule: {e}")))?;
        let alerts = gate.alerts_admin("alerts.rule_add", &rule.name)?.clone();
        alerts.add_rule(rule.clone())?;
        Ok((StatusCode::CREATED, Json(rule)))
    }
    .await;
    finish(&gate, "alert_rule_add", started, r)
}

/// `DELETE /api/v1/alerts/rules/{name}`: a rule added through the API → 204 (a configured
/// rule is 409: it lives in the file).
pub(super) async fn delete_rule(gate: Gate, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let r = (|| {
        gate.alerts_admin("alerts.rule_delete", &name)?
            .delete_rule(&name)?;
        Ok(StatusCode::NO_CONTENT)
    })();
    finish(&gate, "alert_rule_delete", started, r)
}
