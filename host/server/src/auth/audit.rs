//! The audit log: admin actions and authentication failures (who, what, when, from where).
//! Every event goes to the tracing target `clio::audit` and, with `[auth] audit_file`, as one
//! JSON line to that file. Secrets never appear: tokens are named by their public id.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use parking_lot::Mutex;
use serde_json::json;

/// Where audit events go.
#[derive(Debug, Default)]
pub struct Audit {
    file: Option<Mutex<std::fs::File>>,
}

impl Audit {
    /// An audit log, appending to `path` when given.
    pub fn open(path: Option<&Path>) -> std::io::Result<Audit> {
        let file = match path {
            None => None,
            Some(p) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                Some(Mutex::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)?,
                ))
            }
        };
        Ok(Audit { file })
    }

    /// Records an event: `who` did `action` (`outcome` "ok", "denied" or "failed") from
    /// `from`, with a short `detail`.
    pub fn record(
        &self,
        who: &str,
        action: &str,
        outcome: &str,
        from: Option<IpAddr>,
        request_id: &str,
        detail: &str,
    ) {
        let from_text = from
            .map(|a| a.to_string())
            .unwrap_or_else(|| "local".into());
        tracing::info!(target: "clio::audit", who, action, outcome, from = %from_text,
                       request_id, detail, "audit");
        if let Some(f) = &self.file {
            let line = json!({
                "ts": clio_core::now_ms(), "who": who, "action": action, "outcome": outcome,
                "from": from_text, "request_id": request_id, "detail": detail,
            });
            let mut f = f.lock();
            if let Err(e) = writeln!(f, "{line}") {
                tracing::warn!(error = %e, "cannot append to the audit file");
            }
        }
    }
}
