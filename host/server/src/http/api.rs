//! Clio's own JSON API under `/api/v1`, plus `/health` and `/metrics`.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clio_storage::{SeriesFilter, SeriesId, SeriesUpdate};
use serde_json::{Value as JsonValue, json};

use super::{finish, num_param, param, params, read_body};
use crate::door::{AppState, Gate};
use crate::error::ApiError;
use crate::requests::{self, PointsQuery};

/// A series id from a path: a number up to 2^64 - 1, with an error that says which limit a
/// bad one misses.
pub(super) fn series_id(raw: &str) -> Result<SeriesId, ApiError> {
    raw.trim().parse::<u64>().map(SeriesId).map_err(|e| {
        if *e.kind() == std::num::IntErrorKind::PosOverflow {
            ApiError::bad(format!(
                "series id `{raw}` is out of range: the largest is {}",
                u64::MAX
            ))
        } else {
            ApiError::bad(format!("series id `{raw}` is not a non-negative integer"))
        }
    })
}

/// `POST /api/v1/points`: a JSON array of `{"series"|"key", "ts", "value"}`.
pub(super) async fn post_points(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        // Refuse before reading a body nobody may write.
        gate.require(crate::auth::Role::Write)?;
        let body = read_body(gate.state(), &headers, body).await?;
        let points = requests::parse_points_json(&body)?;
        let report = requests::write_points(&gate, points).await?;
        Ok(Json(json!(report)))
    }
    .await;
    finish(&gate, "points_write", started, r)
}

/// `GET /api/v1/series?measurement=&field=&<tag>=<value>&limit=&cursor=`: one page.
pub(super) async fn list_series(gate: Gate, RawQuery(q): RawQuery) -> Response {
    let started = Instant::now();
    let r = (|| {
        let p = params(q)?;
        let mut filter = SeriesFilter::default();
        let mut limit = None;
        let mut cursor = None;
        for (k, v) in p {
            match k.as_str() {
                "measurement" => filter.measurement = Some(v),
                "field" => filter.field = Some(v),
                "limit" => {
                    limit = Some(v.parse::<u64>().map_err(|_| {
                        ApiError::bad(format!("limit `{v}` is not a positive integer"))
                    })?)
                }
                "cursor" => cursor = Some(v),
                _ => filter.tags.push((k, v)),
            }
        }
        let page = requests::list_series(&gate, &filter, limit, cursor.as_deref())?;
        Ok(Json(page))
    })();
    finish(&gate, "series_list", started, r)
}

/// `GET /api/v1/series/{id}`.
pub(super) async fn get_series(gate: Gate, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let r = (|| {
        let id = series_id(&id)?;
        let info = gate
            .series(id)?
            .ok_or_else(|| ApiError::NotFound(format!("series {id} not found")))?;
        Ok(Json(json!(requests::series_json(&info))))
    })();
    finish(&gate, "series_get", started, r)
}

/// `PUT /api/v1/series/{id}`: `keep_history_days`, `keep_trends_days`, `metadata`.
pub(super) async fn put_series(
    gate: Gate,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let r = async {
        let id = series_id(&id)?;
        let body = read_body(gate.state(), &headers, body).await?;
        let update: SeriesUpdate = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("invalid series settings: {e}")))?;
        let info = gate.update_series(id, &update).await?;
        Ok(Json(json!(requests::series_json(&info))))
    }
    .await;
    finish(&gate, "series_update", started, r)
}

/// `DELETE /api/v1/series/{id}`: removes the series and all its data.
pub(super) async fn delete_series(gate: Gate, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let id = series_id(&id)?;
        if !gate.delete_series(id).await? {
            return Err(ApiError::NotFound(format!("series {id} not found")));
        }
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    finish(&gate, "series_delete", started, r)
}

/// `GET /api/v1/series/{id}/points?last=N&skip=K` or `?from=&to=` (+ `resolution`, `cursor`,
/// `at`).
pub(super) async fn get_points(
    gate: Gate,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let started = Instant::now();
    let r = async {
        let id = series_id(&id)?;
        let query = points_query(&params(q)?)?;
        let r = requests::read_points(&gate, id, &query).await?;
        Ok(Json(requests::ReadAnswer(r)))
    }
    .await;
    finish(&gate, "points_read", started, r)
}

/// The parameters of a point query (`last`, `skip`, `from`, `to`, `at`, `resolution`,
/// `cursor`); any other is a 400.
pub(super) fn points_query(p: &[(String, String)]) -> Result<PointsQuery, ApiError> {
    for (k, _) in p {
        if !matches!(
            k.as_str(),
            "last" | "skip" | "from" | "to" | "at" | "resolution" | "cursor"
        ) {
            return Err(ApiError::bad(format!(
                "unknown parameter `{k}` (expected last, skip, from, to, at, resolution, cursor)"
            )));
        }
    }
    Ok(PointsQuery {
        last: num_param(p, "last")?,
        skip: num_param(p, "skip")?,
        from: num_param(p, "from")?,
        to: num_param(p, "to")?,
        at: num_param(p, "at")?,
        resolution: param(p, "resolution").map(str::to_owned),
        cursor: param(p, "cursor").map(str::to_owned),
    })
}

/// `GET /api/v1/last?series=1,2,3`.
pub(super) async fn last(gate: Gate, RawQuery(q): RawQuery) -> Response {
    let started = Instant::now();
    let r = async {
        let p = params(q)?;
        let list = param(&p, "series")
            .ok_or_else(|| ApiError::bad("parameter `series` is missing (e.g. series=1,2,3)"))?;
        let ids = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(series_id)
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(ApiError::bad("parameter `series` names no series"));
        }
        let map = requests::last_values(&gate, &ids).await?;
        let obj: serde_json::Map<String, JsonValue> =
            map.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Ok(Json(JsonValue::Object(obj)))
    }
    .await;
    finish(&gate, "last", started, r)
}

/// `GET /health`: 200 `ok` when the engine and every backend answer; 200 `degraded` (with
/// the reasons) while a replica fails or the primary is down but writes are still being
/// acknowledged into the log; 503 when the primary fails and nothing was ever flushed to it.
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let (stats, status) = crate::door::health(&state).await;
    let mut reasons: Vec<String> = Vec::new();
    if let Some(e) = &status.wal_failing {
        reasons.push(format!("the write-ahead log cannot be written: {e}"));
    }
    if let Some(e) = &status.flush_failing {
        reasons.push(format!("flushes to storage fail: {e}"));
    }
    reasons.extend(
        status
            .backends
            .iter()
            .filter(|b| !b.health.up || b.state == "down")
            .map(|b| {
                format!(
                    "{} `{}` is down: {}",
                    b.role,
                    b.name,
                    b.health.last_error.as_deref().unwrap_or("not open")
                )
            }),
    );
    let primary = status.backends.first();
    Json(json!({
        "status": status.status,
        "reasons": reasons,
        "storage": primary.map(|p| format!("{} `{}`", p.kind, p.name)),
        "backends": status.backends.len(),
        "series": stats.series,
        "unflushed_points": stats.cache.dirty_points,
        "wal_bytes": stats.wal_bytes,
    }))
    .into_response()
}

/// `GET /api/v1/storage`: every backend with its role, health, applied log position and lag.
pub(super) async fn storage(gate: Gate) -> Response {
    let started = Instant::now();
    let r = gate.storage_status().map(Json);
    finish(&gate, "storage", started, r)
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(gate: Gate) -> Response {
    match gate.metrics_text() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
