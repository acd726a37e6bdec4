//! The HTTP front end: InfluxDB-compatible writes (`/write`, `/api/v2/write`, `/ping`,
//! `/query` answering InfluxQL), Clio's JSON API under `/api/v1`, `/health` and
//! `/metrics`. Every client mistake is a 4xx with a JSON body naming the problem.

mod alerts;
mod api;
mod backups;
mod collectors;
mod export;
mod functions;
mod glass;
mod housekeeper;
mod images;
pub(crate) use images::retention as images_retention;
mod influx;
mod influxql;
pub(crate) mod serve;
mod tokens;
mod ui;

use std::io::Read;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;

use crate::door::{AppState, Gate};
use crate::error::ApiError;

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/", get(ui::index))
        .route("/ui/uPlot.iife.min.js", get(ui::uplot_js))
        .route("/ui/uPlot.min.css", get(ui::uplot_css))
        .route("/write", post(influx::write_v1))
        .route("/api/v2/write", post(influx::write_v2))
        .route("/ping", get(influx::ping).head(influx::ping))
        .route("/query", get(influxql::query).post(influxql::query))
        .route("/api/v1/points", post(api::post_points))
        .route("/api/v1/series", get(api::list_series))
        .route(
            "/api/v1/series/{id}",
            get(api::get_series)
                .put(api::put_series)
                .delete(api::delete_series),
        )
        .route("/api/v1/series/{id}/points", get(api::get_points))
        .route("/api/v1/last", get(api::last))
        .route("/api/v1/export", get(export::export))
        .route("/api/v1/series/{id}/fn/{name}", get(functions::get_fn))
        .route("/api/v1/fn", post(functions::post_fn))
        .route("/api/v1/functions", get(functions::list_functions))
        .route("/api/v1/plugins", get(functions::list_plugins))
        .route("/api/v1/plugins/reload", post(functions::reload_plugins))
        .route("/api/v1/housekeeper", get(housekeeper::status))
        .route("/api/v1/housekeeper/run", post(housekeeper::run))
        .route(
            "/api/v1/housekeeper/policy",
            axum::routing::put(housekeeper::set_policy),
        )
        .route(
            "/api/v1/registry",
            axum::routing::put(housekeeper::registry),
        )
        .route("/api/v1/collectors", get(collectors::list))
        .route("/api/v1/collectors/{name}", get(collectors::get))
        .route("/api/v1/collectors/{name}/start", post(collectors::start))
        .route("/api/v1/collectors/{name}/stop", post(collectors::stop))
        .route("/api/v1/collectors/{name}/run", post(collectors::run))
        .route("/health", get(api::health))
        .route("/api/v1/storage", get(api::storage))
        .route(
            "/api/v1/backups",
            get(backups::status).post(backups::create),
        )
        .route("/api/v1/alerts", get(alerts::list))
        .route(
            "/api/v1/alerts/rules",
            get(alerts::list_rules).post(alerts::add_rule),
        )
        .route(
            "/api/v1/alerts/rules/{name}",
            axum::routing::delete(alerts::delete_rule),
        )
        .route("/metrics", get(api::metrics))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke));
    images::routes(glass::routes(router))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The one door's HTTP side: request id, rate limits, authentication.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::door::http::authenticate,
        ))
        .with_state(state)
}

async fn not_found() -> Response {
    error_response(&ApiError::NotFound("no such endpoint".into()))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({"error": "method not allowed on this endpoint"})),
    )
        .into_response()
}

/// `{"error": "..."}` with the error's status.
pub(crate) fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({"error": e.to_string()}))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}

/// Reads a request body up to the configured limit, gunzipping `Content-Encoding: gzip`
/// (the limit applies to the decompressed size too).
pub(crate) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let limit = state.max_request_bytes();
    let too_large = || {
        ApiError::TooLarge(format!(
            "request body exceeds the limit of {} MiB (server.max_request_mb)",
            limit >> 20
        ))
    };
    let body_timeout = Duration::from_secs(state.config().server.http_body_timeout);
    let collected = tokio::time::timeout(
        body_timeout,
        http_body_util::Limited::new(body, limit).collect(),
    )
    .await
    .map_err(|_| {
        state
            .metrics()
            .http_timeouts
            .get_or_create(&crate::metrics::TimeoutLabels { kind: "body" })
            .inc();
        ApiError::Timeout(format!(
            "request body not received within {} s (server.http_body_timeout)",
            body_timeout.as_secs()
        ))
    })?;
    let raw = collected
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ApiError::bad(format!("cannot read request body: {e}"))
            }
        })?
        .to_bytes();
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad(format!("request body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        other => Err(ApiError::bad(format!(
            "unsupported Content-Encoding `{other}` (supported: gzip, identity)"
        ))),
    }
}

/// Query-string parameters as ordered pairs; a malformed query string is a 400.
pub(crate) fn params(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    match raw {
        None => Ok(Vec::new()),
        Some(q) => serde_urlencoded::from_str(&q)
            .map_err(|e| ApiError::bad(format!("malformed query string: {e}"))),
    }
}

/// The value of one parameter.
pub(crate) fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Parses an optional numeric parameter, naming it on failure.
pub(crate) fn num_param<T: std::str::FromStr>(
    p: &[(String, String)],
    name: &str,
) -> Result<Option<T>, ApiError> {
    match param(p, name) {
        None | Some("") => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| {
                ApiError::bad(format!("parameter `{name}`: `{v}` is not a valid number"))
            })
        }
    }
}

/// Times a handler and records its outcome.
pub(crate) fn finish<T: IntoResponse>(
    gate: &Gate,
    op: &'static str,
    started: Instant,
    r: Result<T, ApiError>,
) -> Response {
    match r {
        Ok(v) => {
            gate.observe(op, started, Ok(()), &op);
            v.into_response()
        }
        Err(e) => {
            gate.observe(op, started, Err(&e), &e);
            error_response(&e)
        }
    }
}
