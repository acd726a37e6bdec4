//! The Glass AI tables over HTTP (docs/glass-ai.md), through the door:
//! `GET|POST /api/v1/{table}`, `GET|PATCH|PUT|DELETE /api/v1/{table}/{id}` for every table
//! of `clio_glass::tables::TABLES` (read for GET, write for changes), `POST
//! /api/v1/glass/batch` (all or nothing), `GET /api/v1/glass/migrations` (admin), and the
//! sensors' history: `GET /api/v1/sensors/{sensor}/history` and
//! `GET /api/v1/sensors/{sensor}/fn/{name}`, where `{sensor}` is the row id or `sensor_id`.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clio_glass::BatchOp;
use clio_plugins::split_args;
use clio_storage::{SeriesId, SeriesKey, Timestamp};
use serde_json::{Value as JsonValue, json};

use super::{finish, num_param, param, params, read_body};
use crate::door::Gate;
use crate::error::ApiError;
use crate::requests;

/// The query string without the door's credential parameters (`u`, `p`).
fn list_params(q: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    Ok(params(q)?
        .into_iter()
        .filter(|(k, _)| k != "u" && k != "p")
        .collect())
}

async fn json_body(gate: &Gate, headers: &HeaderMap, body: Body) -> Result<JsonValue, ApiError> {
    let raw = read_body(gate.state(), headers, body).await?;
    serde_json::from_slice(&raw).map_err(|e| ApiError::bad(format!("body is not JSON: {e}")))
}

fn row_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::bad(format!("id: `{raw}` is not an integer")))
}

/// `GET /api/v1/{table}`: filters, `sort`, `limit`, `cursor`.
pub(super) async fn list(gate: Gate, table: &'static str, q: Option<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let p = list_params(q)?;
        let glass = gate.glass_read()?;
        let _slot = gate.query_slot().await?;
        Ok(Json(json!(glass.list(table, &p).await?)))
    }
    .await;
    finish(&gate, "glass_list", started, r)
}

/// `POST /api/v1/{table}`: 201 with the row as stored.
pub(super) async fn create(
    gate: Gate,
    table: &'static str,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let r = async {
        let glass = gate.glass_write()?;
        let data = json_body(&gate, &headers, body).await?;
        let row = glass.create(table, &data).await?;
        Ok((StatusCode::CREATED, Json(row)))
    }
    .await;
    finish(&gate, "glass_create", started, r)
}

/// `GET /api/v1/{table}/{id}`.
pub(super) async fn get(gate: Gate, table: &'static str, id: String) -> Response {
    let started = Instant::now();
    let r = async {
        let id = row_id(&id)?;
        Ok(Json(gate.glass_read()?.get(table, id).await?))
    }
    .await;
    finish(&gate, "glass_get", started, r)
}

/// `PATCH|PUT /api/v1/{table}/{id}`: changes the columns given.
pub(super) async fn update(
    gate: Gate,
    table: &'static str,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let r = async {
        let id = row_id(&id)?;
        let glass = gate.glass_write()?;
        let data = json_body(&gate, &headers, body).await?;
        Ok(Json(glass.update(table, id, &data).await?))
    }
    .await;
    finish(&gate, "glass_update", started, r)
}

/// `DELETE /api/v1/{table}/{id}`: 204.
pub(super) async fn delete(gate: Gate, table: &'static str, id: String) -> Response {
    let started = Instant::now();
    let r = async {
        let id = row_id(&id)?;
        gate.glass_write()?.delete(table, id).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    finish(&gate, "glass_delete", started, r)
}

/// `POST /api/v1/glass/batch` `{"ops": [{"op": "create", "table": .., "data": {..}},
/// {"op": "update", "table": .., "id": .., "data": {..}}, {"op": "delete", ..}]}`: one
/// transaction; the first failure (named `ops[i]...`) rolls every change back.
pub(super) async fn batch(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let glass = gate.glass_write()?;
        let body = json_body(&gate, &headers, body).await?;
        let ops = body
            .get("ops")
            .ok_or_else(|| ApiError::bad("ops: required (an array of changes)"))?;
        let arr = ops
            .as_array()
            .ok_or_else(|| ApiError::bad("ops: expected an array of changes"))?;
        let max = gate.state().config().glass.max_batch_ops;
        if arr.len() > max {
            return Err(ApiError::TooLarge(format!(
                "ops: {} changes, more than glass.max_batch_ops = {max}",
                arr.len()
            )));
        }
        let ops = arr
            .iter()
            .enumerate()
            .map(|(i, o)| {
                serde_json::from_value::<BatchOp>(o.clone())
                    .map_err(|e| ApiError::bad(format!("ops[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let results = glass.batch(&ops).await?;
        Ok(Json(json!({"applied": results.len(), "results": results})))
    }
    .await;
    finish(&gate, "glass_batch", started, r)
}

/// `POST /api/v1/glass/quality` `{"model": .., "from": .., "to": .., "positive": ..}`:
/// computes the model's quality metrics over `[from, to)` into `quality_metrics` (write).
pub(super) async fn quality(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let glass = gate.glass_write()?;
        let b = json_body(&gate, &headers, body).await?;
        if let Some(k) = b
            .as_object()
            .ok_or_else(|| ApiError::bad("body: expected an object"))?
            .keys()
            .find(|k| !matches!(k.as_str(), "model" | "from" | "to" | "positive"))
        {
            return Err(ApiError::bad(format!(
                "{k}: unknown field (expected model, from, to, positive)"
            )));
        }
        let model = b["model"]
            .as_str()
            .ok_or_else(|| ApiError::bad("model: required, a model name"))?;
        let time = |f: &str| -> Result<i64, ApiError> {
            clio_glass::Val::from_json(clio_glass::Kind::Time, &b[f])
                .ok()
                .and_then(|v| match v {
                    clio_glass::Val::Int(ms) => Some(ms),
                    _ => None,
                })
                .ok_or_else(|| ApiError::bad(format!("{f}: required, ms or RFC 3339")))
        };
        let (from, to) = (time("from")?, time("to")?);
        let positive = b.get("positive").filter(|p| !p.is_null());
        Ok(Json(
            glass.compute_quality(model, from, to, positive).await?,
        ))
    }
    .await;
    finish(&gate, "glass_quality", started, r)
}

/// `GET /api/v1/glass/migrations`: the schema version and every step (admin).
pub(super) async fn migrations(gate: Gate) -> Response {
    let started = Instant::now();
    let r = async {
        let glass = gate.glass_admin("glass.migrations")?;
        Ok(Json(json!(glass.migration_status().await?)))
    }
    .await;
    finish(&gate, "glass_migrations", started, r)
}

/// The sensor named by `key` and the id of its series: `series_id`, else the series of
/// `series_key`.
pub(super) async fn sensor_series(
    gate: &Gate,
    key: &str,
) -> Result<(JsonValue, SeriesId), ApiError> {
    let sensor = gate.glass_read()?.sensor(key).await?;
    if let Some(id) = sensor["series_id"].as_i64() {
        return Ok((sensor, SeriesId(id as u64)));
    }
    let Some(text) = sensor["series_key"].as_str() else {
        return Err(ApiError::NotFound(format!(
            "sensor {key:?} is linked to no series (set its series_key or series_id)"
        )));
    };
    let series_key: SeriesKey = text
        .parse()
        .map_err(|e| ApiError::bad(format!("sensor {key:?}: series_key `{text}`: {e}")))?;
    match gate.series_id(&series_key)? {
        Some(id) => Ok((sensor, id)),
        None => Err(ApiError::NotFound(format!(
            "sensor {key:?}: its series `{text}` holds no data yet"
        ))),
    }
}

/// `GET /api/v1/sensors/{sensor}/history`: the points of the sensor's series, with the
/// parameters of `/api/v1/series/{id}/points` (`from`, `to`, `last`, `resolution`, ...).
pub(super) async fn sensor_history(
    gate: Gate,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let started = Instant::now();
    let r = async {
        let query = super::api::points_query(&list_params(q)?)?;
        let (sensor, id) = sensor_series(&gate, &key).await?;
        let r = requests::read_points(&gate, id, &query).await?;
        let mut out = requests::read_result_json(&r);
        if let JsonValue::Object(m) = &mut out {
            m.insert("sensor".into(), sensor);
            m.insert("series_id".into(), json!(id.0));
        }
        Ok(Json(out))
    }
    .await;
    finish(&gate, "sensor_history", started, r)
}

/// `GET /api/v1/sensors/{sensor}/fn/{name}?args=&at=`: a history function over the
/// sensor's series.
pub(super) async fn sensor_fn(
    gate: Gate,
    Path((key, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let started = Instant::now();
    let r = async {
        let p = list_params(q)?;
        for (k, _) in &p {
            if !matches!(k.as_str(), "args" | "at") {
                return Err(ApiError::bad(format!(
                    "unknown parameter `{k}` (expected args, at)"
                )));
            }
        }
        let at: Option<Timestamp> = num_param(&p, "at")?;
        let args = split_args(param(&p, "args").unwrap_or(""));
        let (_, id) = sensor_series(&gate, &key).await?;
        let _slot = gate.query_slot().await?;
        let v = gate.evaluate(id, &name, args, at).await?;
        Ok(Json(super::functions::value_json(v)))
    }
    .await;
    finish(&gate, "sensor_fn", started, r)
}

/// Every table's routes.
pub(super) fn routes(
    mut router: axum::Router<crate::door::AppState>,
) -> axum::Router<crate::door::AppState> {
    use axum::routing::get as get_route;
    for t in clio_glass::tables::TABLES {
        let name: &'static str = t.name;
        router = router
            .route(
                &format!("/api/v1/{name}"),
                get_route(move |gate: Gate, RawQuery(q): RawQuery| list(gate, name, q)).post(
                    move |gate: Gate, headers: HeaderMap, body: Body| {
                        create(gate, name, headers, body)
                    },
                ),
            )
            .route(
                &format!("/api/v1/{name}/{{id}}"),
                get_route(move |gate: Gate, Path(id): Path<String>| get(gate, name, id))
                    .patch(
                        move |gate: Gate,
                              Path(id): Path<String>,
                              headers: HeaderMap,
                              body: Body| {
                            update(gate, name, id, headers, body)
                        },
                    )
                    .put(
                        move |gate: Gate,
                              Path(id): Path<String>,
                              headers: HeaderMap,
                              body: Body| {
                            update(gate, name, id, headers, body)
                        },
                    )
                    .delete(move |gate: Gate, Path(id): Path<String>| delete(gate, name, id)),
            );
    }
    router
        .route("/api/v1/glass/batch", axum::routing::post(batch))
        .route("/api/v1/glass/migrations", get_route(migrations))
        .route("/api/v1/glass/quality", axum::routing::post(quality))
        .route(
            "/api/v1/sensors/{sensor}/history",
            get_route(sensor_history),
        )
        .route("/api/v1/sensors/{sensor}/fn/{name}", get_route(sensor_fn))
}
