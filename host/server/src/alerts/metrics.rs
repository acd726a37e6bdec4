//! What an operator watches of the alerts: how many fire, what an evaluation round costs,
//! and whether notifications get through.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the notification counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// `sent` (the webhook took it), `failed` (retries exhausted) or `dropped` (queue full).
    pub outcome: &'static str,
}

/// The alert metrics; cheap to clone (each metric is shared).
#[derive(Debug, Clone)]
pub struct AlertMetrics {
    /// Alerts firing now.
    pub firing: Gauge,
    /// Alerts pending now.
    pub pending: Gauge,
    /// Duration of one evaluation round (every rule).
    pub evaluation_seconds: Histogram,
    /// Evaluations that failed (a function error, a series, a disk probe).
    pub evaluation_errors: Counter,
    /// Webhook attempts that failed (each retry counts).
    pub webhook_failures: Counter,
    /// Notifications by outcome.
    pub notifications: Family<NotifyLabels, Counter>,
}

impl Default for AlertMetrics {
    fn default() -> Self {
        AlertMetrics {
            firing: Gauge::default(),
            pending: Gauge::default(),
            // 100 µs .. ~50 s.
            evaluation_seconds: Histogram::new(exponential_buckets(0.000_1, 2.5, 15)),
            evaluation_errors: Counter::default(),
            webhook_failures: Counter::default(),
            notifications: Family::default(),
        }
    }
}

impl AlertMetrics {
    /// Registers every alert metric in `registry` (prefixed `clio_` by the registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("alerts_firing", "Alerts firing now", self.firing.clone());
        registry.register("alerts_pending", "Alerts pending now", self.pending.clone());
        registry.register(
            "alert_evaluation_duration_seconds",
            "Duration of one alert evaluation round (every rule)",
            self.evaluation_seconds.clone(),
        );
        registry.register(
            "alert_evaluation_errors",
            "Alert evaluations that failed (function errors, disk probes)",
            self.evaluation_errors.clone(),
        );
        registry.register(
            "alert_webhook_failures",
            "Webhook attempts that failed, each retry counted",
            self.webhook_failures.clone(),
        );
        registry.register(
            "alert_notifications",
            "Alert notifications by outcome (sent, failed after retries, dropped: queue full)",
            self.notifications.clone(),
        );
    }
}
