//! Notifications: every transition is logged, and with a webhook configured, POSTed as JSON
//! from a bounded queue by one worker that retries with exponential backoff.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::metrics::{AlertMetrics, NotifyLabels};
use super::state::{Alert, AlertState};

/// The longest delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The webhook's settings.
#[derive(Debug, Clone)]
pub(crate) struct WebhookOptions {
    pub url: hyper::Uri,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

/// The JSON body of a notification.
pub(crate) fn body(a: &Alert, at: i64) -> serde_json::Value {
    json!({
        "rule": a.rule,
        "kind": a.kind.as_str(),
        "state": a.state.as_str(),
        "series": a.series,
        "key": a.key,
        "value": a.value,
        "threshold": a.threshold,
        "op": a.op,
        "severity": a.severity,
        "summary": a.summary,
        "detail": a.detail,
        "since": a.since,
        "at": at,
    })
}

/// Logs a transition: firing as a warning, the others as information.
pub(crate) fn log(a: &Alert) {
    let subject = a.key.as_deref().unwrap_or(&a.subject);
    match a.state {
        AlertState::Firing => tracing::warn!(
            alert = %a.rule, subject, value = ?a.value, threshold = ?a.threshold, op = %a.op,
            severity = %a.severity, detail = ?a.detail, "alert firing"
        ),
        AlertState::Pending => tracing::info!(
            alert = %a.rule, subject, value = ?a.value, threshold = ?a.threshold, op = %a.op,
            "alert pending"
        ),
        AlertState::Resolved => tracing::info!(
            alert = %a.rule, subject, value = ?a.value, "alert resolved"
        ),
    }
}

/// The sending side of the queue.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    tx: Option<mpsc::Sender<serde_json::Value>>,
    metrics: AlertMetrics,
}

impl Notifier {
    /// A notifier without a webhook: transitions are only logged.
    pub fn log_only(metrics: AlertMetrics) -> Self {
        Notifier { tx: None, metrics }
    }

    /// Starts the webhook worker; it stops when `shutdown` is cancelled.
    pub fn start(
        opts: WebhookOptions,
        queue: usize,
        metrics: AlertMetrics,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let task = tokio::spawn(worker(opts, rx, metrics.clone(), shutdown));
        (
            Notifier {
                tx: Some(tx),
                metrics,
            },
            task,
        )
    }

    /// Logs a transition and queues it for the webhook; a full queue drops it (counted).
    pub fn send(&self, a: &Alert, at: i64) {
        log(a);
        let Some(tx) = &self.tx else { return };
        if tx.try_send(body(a, at)).is_err() {
            self.metrics
                .notifications
                .get_or_create(&NotifyLabels { outcome: "dropped" })
                .inc();
            tracing::warn!(alert = %a.rule, state = a.state.as_str(), "alert notification dropped: the webhook queue is full");
        }
    }
}

async fn worker(
    opts: WebhookOptions,
    mut rx: mpsc::Receiver<serde_json::Value>,
    metrics: AlertMetrics,
    shutdown: CancellationToken,
) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(opts.timeout));
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = shutdown.cancelled() => return,
        };
        let payload = Bytes::from(msg.to_string());
        let mut delay = opts.backoff;
        let mut attempt = 0u32;
        loop {
            match post(&client, &opts, payload.clone()).await {
                Ok(()) => {
                    metrics
                        .notifications
                        .get_or_create(&NotifyLabels { outcome: "sent" })
                        .inc();
                    break;
                }
                Err(e) => {
                    metrics.webhook_failures.inc();
                    if attempt >= opts.retries {
                        metrics
                            .notifications
                            .get_or_create(&NotifyLabels { outcome: "failed" })
                            .inc();
                        tracing::error!(url = %opts.url, error = %e, attempts = attempt + 1, alert = %msg["rule"], state = %msg["state"], "alert webhook failed; notification given up");
                        break;
                    }
                    tracing::warn!(url = %opts.url, error = %e, retry_in_ms = delay.as_millis() as u64, "alert webhook failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    attempt += 1;
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    opts: &WebhookOptions,
    payload: Bytes,
) -> Result<(), String> {
    let req = hyper::Request::post(opts.url.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "clio-alerts")
        .body(Full::new(payload))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(opts.timeout, client.request(req))
        .await
        .map_err(|_| format!("no answer within {} ms", opts.timeout.as_millis()))?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}
