//! `/api/v1/backups`: online backups taken by the server into a directory it can write.

use std::path::PathBuf;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value as JsonValue, json};

use super::{finish, read_body};
use crate::auth::Role;
use crate::door::Gate;
use crate::error::ApiError;

/// `GET /api/v1/backups`: the last backups this server took, and the backups present in
/// `[backup] dir`.
pub(super) async fn status(gate: Gate) -> Response {
    let started = Instant::now();
    let r = (|| {
        let mut v = gate.backup_status()?.json();
        if let Some(dir) = &gate.state().config().backup.dir {
            let list = clio_backup::list(dir).map_err(|e| ApiError::Internal(e.to_string()))?;
            v["dir"] = json!(dir.display().to_string());
            v["backups"] = json!(
                list.iter()
                    .map(
                        |m| json!({"id": m.id, "created_ms": m.created_ms, "kind": m.kind,
                                   "bytes": m.bytes(), "stored_bytes": m.stored_bytes(),
                                   "encrypted": m.encryption.is_some(), "position": m.position,
                                   "base": m.base})
                    )
                    .collect::<Vec<_>>()
            );
        }
        Ok(Json(v))
    })();
    finish(&gate, "backups_status", started, r)
}

/// `POST /api/v1/backups` with `{"dest": "/path"}` (or `{}` with `[backup] dir` set, and
/// `"incremental": "<id>" | "latest"` for an incremental one): takes a backup now and
/// answers its manifest. One at a time (409-like 503 while one runs).
pub(super) async fn create(gate: Gate, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = async {
        // Refuse before reading anything of the request.
        gate.require(Role::Admin)?;
        let body = read_body(gate.state(), &headers, body).await?;
        let doc: JsonValue = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))?
        };
        let JsonValue::Object(o) = doc else {
            return Err(ApiError::bad(
                "expected an object such as {\"dest\": \"/path\"}",
            ));
        };
        if let Some(k) = o.keys().find(|k| *k != "dest" && *k != "incremental") {
            return Err(ApiError::bad(format!(
                "unknown field `{k}` (expected dest, incremental)"
            )));
        }
        let base = match o.get("incremental") {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::String(b)) if !b.is_empty() => Some(b.clone()),
            Some(_) => {
                return Err(ApiError::bad(
                    "`incremental` must be a backup id or \"latest\"",
                ));
            }
        };
        let dest: PathBuf = match (o.get("dest"), &gate.state().config().backup.dir) {
            (Some(JsonValue::String(d)), _) if !d.is_empty() => PathBuf::from(d),
            (Some(_), _) => return Err(ApiError::bad("`dest` must be a non-empty path")),
            (None, Some(dir)) => dir.clone(),
            (None, None) => {
                return Err(ApiError::bad(
                    "name a destination ({\"dest\": \"/path\"}) or set [backup] dir",
                ));
            }
        };
        let key = clio_backup::Key::load(gate.state().config().backup.key_file.as_deref())
            .map_err(|e| ApiError::Internal(format!("backup key: {e}")))?;
        if !gate.state().backups().begin() {
            return Err(ApiError::Unavailable(
                "a backup is running; try again when it ends".into(),
            ));
        }
        // The backup runs as its own task: a client that goes away (or times out) drops this
        // handler, and a backup cancelled half-way would leave its staging copy behind and
        // the status `running` for good, refusing every later backup until a restart.
        let task = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let r = gate.take_backup(&dest, key, base.as_deref()).await;
                gate.state().backups().end(&dest, started, &r);
                gate.state()
                    .metrics()
                    .set_backup(gate.state().backups().last_success().as_ref(), r.is_err());
                match &r {
                    Ok(m) => tracing::info!(id = %m.id, dest = %dest.display(),
                                            bytes = m.stored_bytes(),
                                            seconds = started.elapsed().as_secs_f64(),
                                            "backup taken"),
                    Err(e) => tracing::warn!(dest = %dest.display(), error = %e, "backup failed"),
                }
                r
            })
        };
        task.await
            .map_err(|e| ApiError::Internal(format!("backup task failed: {e}")))?
            .map(Json)
    }
    .await;
    finish(&gate, "backups_create", started, r)
}
