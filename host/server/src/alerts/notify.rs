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
    /// When a dropped notification was last logged (Unix ms): a rule over thousands of
    /// series can overflow the queue in one round, and one warning says it.
    drop_logged: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Notifier {
    /// A notifier without a webhook: transitions are only logged.
    pub fn log_only(metrics: AlertMetrics) -> Self {
        Notifier {
            tx: None,
            metrics,
            drop_logged: Default::default(),
        }
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
                drop_logged: Default::default(),
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
            let now = clio_core::now_ms();
            let last = self.drop_logged.load(std::sync::atomic::Ordering::Relaxed);
            if now - last >= 10_000 {
                self.drop_logged
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(alert = %a.rule, state = a.state.as_str(), "alert notifications dropped: the webhook queue is full (alerts.webhook_queue; counted in clio_alert_notifications{{outcome=\"dropped\"}}, logged at most every 10 s)");
            }
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
            // A request in flight does not hold up shutdown.
            let outcome = tokio::select! {
                r = post(&client, &opts, payload.clone()) => r,
                _ = shutdown.cancelled() => return,
            };
            match outcome {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clio_config::RuleKind;

    fn alert(n: usize) -> Alert {
        Alert {
            rule: format!("r{n}"),
            kind: RuleKind::DiskFree,
            subject: String::new(),
            series: None,
            key: None,
            state: AlertState::Firing,
            value: Some(1.0),
            threshold: Some(10.0),
            op: "<".into(),
            severity: "warning".into(),
            summary: String::new(),
            detail: None,
            since: 0,
            firing_since: Some(0),
            resolved_at: None,
            evaluated_at: 0,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_growing() {
        // A receiver that accepts connections and never answers: the worker is stuck on
        // its first notification for the whole test.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let metrics = AlertMetrics::default();
        let shutdown = CancellationToken::new();
        let (n, task) = Notifier::start(
            WebhookOptions {
                url: url.parse().unwrap(),
                timeout: Duration::from_secs(60),
                retries: 0,
                backoff: Duration::from_secs(60),
            },
            1,
            metrics.clone(),
            shutdown.clone(),
        );
        for i in 0..5 {
            n.send(&alert(i), 0);
        }
        let dropped = metrics
            .notifications
            .get_or_create(&NotifyLabels { outcome: "dropped" })
            .get();
        // One queued, at most one taken by the worker: the rest were dropped.
        assert!((3..=4).contains(&dropped), "{dropped}");
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_body_names_the_rule_state_and_value() {
        let b = body(&alert(1), 42);
        assert_eq!(b["rule"], "r1");
        assert_eq!(b["state"], "firing");
        assert_eq!(b["kind"], "disk_free");
        assert_eq!(b["value"], 1.0);
        assert_eq!(b["at"], 42);
    }
}
