//! The HTTP side of the door: a middleware that gives every request an id (kept from
//! `X-Request-Id` or generated, returned in the answer, in a tracing span around the whole
//! request), applies the rate limits, authenticates the credentials (`Authorization:
//! Token|Bearer|Basic`, or InfluxDB's `u`/`p` parameters) and leaves a [`RequestContext`]
//! for the [`Gate`] extractor.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{AppState, Gate, RequestContext, accept_request_id};
use crate::auth::{AuthFailure, Credentials, parse_authorization};
use crate::error::ApiError;
use crate::metrics::AuthLabels;

/// The client's address, put into each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The response header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The credentials of a request: the `Authorization` header, else InfluxDB's `u`/`p`
/// query parameters (`p` alone, or any `u`, with a token as the password).
fn credentials(req: &Request) -> Result<Credentials, &'static str> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let text = v.to_str().map_err(|_| "malformed Authorization header")?;
        return parse_authorization(text)
            .ok_or("malformed Authorization header (Token, Bearer or Basic)");
    }
    let Some(q) = req.uri().query() else {
        return Ok(Credentials::None);
    };
    if !q.contains("p=") {
        return Ok(Credentials::None);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match get("p") {
        Some(password) if !password.is_empty() => Ok(Credentials::Password {
            user: get("u").unwrap_or_default(),
            password,
        }),
        _ => Ok(Credentials::None),
    }
}

/// The middleware (install with `axum::middleware::from_fn_with_state`).
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = accept_request_id(req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()));
    let span = tracing::info_span!("request", request_id = %request_id);
    let id_header = HeaderValue::from_str(&request_id).ok();
    // Scripts (the page at `/`) ask for their own credentials: a Basic challenge would make
    // the browser open its own login box over them, so they get none.
    let from_script = req.headers().contains_key("x-requested-with");
    let mut resp = admit(state, req, next, request_id).instrument(span).await;
    if let Some(v) = id_header {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    if resp.status() == StatusCode::UNAUTHORIZED && !from_script {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"clio\", charset=\"UTF-8\""),
        );
    }
    resp
}

async fn admit(state: AppState, mut req: Request, next: Next, request_id: String) -> Response {
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let ip = peer.map(|p| p.ip());
    let auth = state.auth();
    let refuse = |status: StatusCode, reason: &'static str, msg: &str| {
        if status == StatusCode::TOO_MANY_REQUESTS {
            state
                .metrics()
                .rate_limited
                .get_or_create(&AuthLabels {
                    proto: "http",
                    reason,
                })
                .inc();
        } else {
            state.note_auth_failure("http", reason);
        }
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    };
    if !auth.address_allowed(ip) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "address",
            "rate limit of this address exceeded (auth.rate_limit_per_address)",
        );
    }
    // With auth off, credentials are not even parsed: clients that send some (Telegraf
    // configured for InfluxDB, a proxy's header) keep working as before.
    let creds = if !auth.enabled() {
        Ok(Credentials::None)
    } else {
        credentials(&req)
    };
    let creds = match creds {
        Ok(c) => c,
        Err(why) => {
            auth.audit
                .record("unknown", "authenticate", "failed", ip, &request_id, why);
            return refuse(StatusCode::UNAUTHORIZED, "invalid", why);
        }
    };
    let principal = match auth.authenticate(&creds, ip) {
        Ok(p) => p,
        Err(failure) => {
            let who = match &creds {
                Credentials::Password { user, .. } if !user.is_empty() => format!("user:{user}"),
                _ => "unknown".into(),
            };
            return match failure {
                AuthFailure::Invalid(why) => {
                    auth.audit
                        .record(&who, "authenticate", "failed", ip, &request_id, &why);
                    refuse(StatusCode::UNAUTHORIZED, "invalid", &why)
                }
                AuthFailure::Throttled(why) => {
                    auth.audit
                        .record(&who, "authenticate", "throttled", ip, &request_id, why);
                    refuse(StatusCode::TOO_MANY_REQUESTS, "throttled", why)
                }
                AuthFailure::Store(e) => {
                    ApiError::Internal(format!("token store: {e}")).into_response()
                }
            };
        }
    };
    if !auth.principal_allowed(&principal) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "token",
            "rate limit of this token exceeded (auth.rate_limit_per_token)",
        );
    }
    req.extensions_mut().insert(Arc::new(RequestContext {
        request_id,
        peer,
        proto: "http",
        principal,
    }));
    next.run(req).await
}

impl FromRequestParts<AppState> for Gate {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Without the middleware there is no context: refuse rather than guess (fail closed).
        let ctx = parts
            .extensions
            .get::<Arc<RequestContext>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("the request has no context".into()))?;
        Ok(Gate {
            state: state.clone(),
            ctx,
        })
    }
}
