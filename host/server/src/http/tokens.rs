//! `/api/v1/tokens`: tokens for admins over HTTP (the CLI does the same offline).
//! `GET` lists tokens and users (never a secret or a hash), `POST` creates a token and shows
//! it once, `DELETE /api/v1/tokens/{id}` revokes one.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{finish, read_body};
use crate::auth::{Role, Scope, StoreError};
use crate::door::Gate;
use crate::error::ApiError;

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::BadRequest(m),
        other => ApiError::Internal(other.to_string()),
    }
}

/// `GET /api/v1/tokens`.
pub(super) async fn list(gate: Gate) -> Response {
    let started = Instant::now();
    let r = (|| {
        let auth = gate.token_admin("tokens.list", "")?;
        let file = crate::auth::TokenFile::load(auth.path()).map_err(store_error)?;
        Ok(Json(json!({
            "tokens": file.tokens.iter().map(|t| json!({
                "id": t.id, "name": t.name, "roles": t.roles, "scope": t.scope,
                "created": t.created, "revoked": t.revoked,
            })).collect::<Vec<_>>(),
            "users": file.users.iter().map(|u| json!({
                "name": u.name, "roles": u.roles, "scope": u.scope, "created": u.created,
            })).collect::<Vec<_>>(),
        })))
    })();
    finish(&gate, "tokens_list", started, r)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    roles: Vec<Role>,
    #[serde(default)]
    scope: Scope,
}

/// `POST /api/v1/tokens` with `{"name", "roles": ["write"], "scope": {...}}` → 201 with
/// the token (shown this once).
pub(super) async fn create(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        // Refuse before reading anything of the request.
        gate.require(Role::Admin)?;
        let body = read_body(gate.state(), &headers, body).await?;
        let req: NewToken = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(format!("invalid token request: {e}")))?;
        let auth = gate.token_admin("tokens.create", &req.name)?;
        let (token, entry) = auth
            .modify(|f| f.create_token(&req.name, req.roles, req.scope))
            .map_err(store_error)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"token": token, "id": entry.id, "name": entry.name,
                        "roles": entry.roles, "scope": entry.scope})),
        ))
    }
    .await;
    finish(&gate, "tokens_create", started, r)
}

/// `DELETE /api/v1/tokens/{id}` (an id or a name).
pub(super) async fn revoke(gate: Gate, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let r = (|| {
        let auth = gate.token_admin("tokens.revoke", &id)?;
        let revoked = auth.modify(|f| f.revoke(&id)).map_err(store_error)?;
        Ok(Json(json!({
            "revoked": revoked.iter().map(|t| &t.id).collect::<Vec<_>>()
        })))
    })();
    finish(&gate, "tokens_revoke", started, r)
}
