//! Camera images over HTTP (docs/glass-ai.md), through the door (`Gate::glass_read` /
//! `glass_write`):
//!
//! - `POST /api/v1/images?camera=&line=&captured_at=&defect_id=`: the raw image as the body
//!   (what a camera gateway sends: no multipart framing to build or parse), its
//!   `Content-Type` kept; streamed to a temporary file while hashed, 413 naming
//!   `glass.images.max_bytes` past the limit (at once from `Content-Length`); 201 with the
//!   catalog row.
//! - `GET /api/v1/images?camera=&line=&from=&to=&sort=&limit=&cursor=`: catalog rows.
//! - `GET /api/v1/images/{id}`: the bytes, streamed, with `Content-Type`, `Content-Length`
//!   and `ETag` (the SHA-256); `If-None-Match` answers 304.
//! - `GET /api/v1/images/{id}/meta`: the catalog row. `DELETE /api/v1/images/{id}`: 204.
//!
//! [`retention`] deletes images older than `[glass.images] keep_days` in the background.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clio_config::GlassImagesConfig;
use clio_glass::images::{ImageReader, Images};
use http_body_util::BodyExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{finish, params};
use crate::door::Gate;
use crate::error::ApiError;

/// The query string without the door's credential parameters (`u`, `p`).
fn query(q: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    Ok(params(q)?
        .into_iter()
        .filter(|(k, _)| k != "u" && k != "p")
        .collect())
}

fn image_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::bad(format!("id: `{raw}` is not an integer")))
}

/// `POST /api/v1/images`.
async fn upload(gate: Gate, RawQuery(q): RawQuery, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        let images = gate.glass_write()?.images()?;
        let ct = headers
            .get(header::CONTENT_TYPE)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::bad("content_type: not ASCII"))
            })
            .transpose()?;
        let meta = images.metadata(&query(q)?, ct)?;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > images.max_bytes()) {
            return Err(clio_glass::images::too_large(images.max_bytes()).into());
        }
        // The whole body within `server.http_body_timeout`, as every other body.
        let limit = Duration::from_secs(gate.state().config().server.http_body_timeout);
        let deadline = tokio::time::Instant::now() + limit;
        let mut up = images.begin_upload().await?;
        let mut body = body;
        loop {
            let frame = tokio::time::timeout_at(deadline, body.frame())
                .await
                .map_err(|_| {
                    ApiError::Timeout(format!(
                        "image not received within {} s (server.http_body_timeout)",
                        limit.as_secs()
                    ))
                })?;
            match frame {
                None => break,
                Some(Err(e)) => return Err(ApiError::bad(format!("body: {e}"))),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        up.write(&data).await?;
                    }
                }
            }
        }
        let row = images.store(up, &meta).await?;
        Ok((StatusCode::CREATED, Json(row)))
    }
    .await;
    finish(&gate, "images_upload", started, r)
}

/// `GET /api/v1/images`.
async fn list(gate: Gate, RawQuery(q): RawQuery) -> Response {
    let started = Instant::now();
    let r = async {
        let p = query(q)?;
        let images = gate.glass_read()?.images()?;
        let _slot = gate.query_slot().await?;
        Ok(Json(json!(images.list(&p).await?)))
    }
    .await;
    finish(&gate, "images_list", started, r)
}

/// The reader as a body stream; an error ends the body early (the client sees fewer bytes
/// than `Content-Length`).
fn body_of(reader: ImageReader) -> Body {
    let stream = futures_util::stream::unfold(Some(reader), |r| async move {
        let mut r = r?;
        match r.next_chunk().await {
            Ok(Some(b)) => Some((Ok::<_, std::io::Error>(b), Some(r))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "image read failed while sending");
                Some((Err(std::io::Error::other(e)), None))
            }
        }
    });
    Body::from_stream(stream)
}

/// `GET /api/v1/images/{id}`.
async fn fetch(gate: Gate, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let r = async {
        let id = image_id(&id)?;
        let images = gate.glass_read()?.images()?;
        let c = images.open(id).await?;
        let etag = HeaderValue::from_str(&format!("\"{}\"", c.hash))
            .map_err(|e| ApiError::Internal(format!("etag: {e}")))?;
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .map(|t| t.trim().trim_start_matches("W/"))
                    .any(|t| t == "*" || etag.to_str().is_ok_and(|e| e == t))
            });
        if fresh {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
        }
        let ct = HeaderValue::from_str(&c.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        Ok((
            [
                (header::CONTENT_TYPE, ct),
                (header::CONTENT_LENGTH, HeaderValue::from(c.size)),
                (header::ETAG, etag),
            ],
            body_of(c.reader),
        )
            .into_response())
    }
    .await;
    finish(&gate, "images_fetch", started, r)
}

/// `GET /api/v1/images/{id}/meta`.
async fn meta(gate: Gate, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let id = image_id(&id)?;
        Ok(Json(gate.glass_read()?.images()?.get(id).await?))
    }
    .await;
    finish(&gate, "images_meta", started, r)
}

/// `DELETE /api/v1/images/{id}`.
async fn delete(gate: Gate, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let r = async {
        let id = image_id(&id)?;
        gate.glass_write()?.images()?.delete(id).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    finish(&gate, "images_delete", started, r)
}

/// Deletes images older than `keep_days` every `retention_interval_secs` until `stop`.
pub(crate) async fn retention(images: Images, cfg: GlassImagesConfig, stop: CancellationToken) {
    let every = Duration::from_secs(cfg.retention_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        match images.expire(cfg.keep_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, keep_days = cfg.keep_days, "images expired"),
            Err(e) => tracing::warn!(error = %e, "image retention failed"),
        }
    }
}

/// The routes.
pub(super) fn routes(
    router: axum::Router<crate::door::AppState>,
) -> axum::Router<crate::door::AppState> {
    use axum::routing::{get, post};
    router
        .route("/api/v1/images", post(upload).get(list))
        .route("/api/v1/images/{id}", get(fetch).delete(delete))
        .route("/api/v1/images/{id}/meta", get(meta))
}
