//! Model quality metrics on a schedule (`[glass.quality]`): every `every`, for each period
//! length, the current period (aligned to the Unix epoch) and the `lookback` periods before
//! it are computed again for each model ([`clio_glass::Glass::refresh_quality`]), replacing
//! the rows an earlier run wrote for the same model and period: a period has one row per
//! metric however often it is computed, and late actual results reach it.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use clio_glass::Glass;
use clio_storage::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// The schedule's figures for an operator (`/metrics`).
#[derive(Debug, Clone, Default)]
pub struct QualityMetrics {
    /// Finished runs.
    pub runs: Counter,
    /// Rows written into `quality_metrics`.
    pub rows: Counter,
    /// (model, period) computations that failed.
    pub failures: Counter,
    /// When the last run finished (Unix seconds; 0 before the first).
    pub last_run: Gauge<f64, AtomicU64>,
    /// Rows the last run wrote.
    pub last_rows: Gauge,
}

impl QualityMetrics {
    /// Registers every figure in `registry` (prefixed `clio_` by the registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "glass_quality_runs",
            "Runs of the model quality schedule ([glass.quality])",
            self.runs.clone(),
        );
        registry.register(
            "glass_quality_rows_written",
            "Rows written into quality_metrics by the schedule",
            self.rows.clone(),
        );
        registry.register(
            "glass_quality_failures",
            "Quality computations (one model, one period) that failed",
            self.failures.clone(),
        );
        registry.register(
            "glass_quality_last_run_timestamp_seconds",
            "When the last quality run finished (Unix time)",
            self.last_run.clone(),
        );
        registry.register(
            "glass_quality_last_run_rows",
            "Rows the last quality run wrote",
            self.last_rows.clone(),
        );
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// (model, period) pairs computed.
    pub computed: u64,
    /// Rows written.
    pub rows: u64,
    /// Rows of earlier runs replaced.
    pub replaced: u64,
    /// Failures.
    pub failures: u64,
}

/// The schedule.
#[derive(Debug, Clone)]
pub struct QualitySchedule {
    glass: Glass,
    every: Duration,
    periods: Vec<i64>,
    lookback: u32,
    models: Vec<String>,
    metrics: QualityMetrics,
}

impl QualitySchedule {
    /// The schedule of `config` over `glass`, counting into `metrics`.
    pub fn new(
        glass: Glass,
        config: &clio_config::GlassQualityConfig,
        metrics: QualityMetrics,
    ) -> Self {
        QualitySchedule {
            glass,
            every: Duration::from_millis(config.every_ms().max(1) as u64),
            periods: config.periods_ms(),
            lookback: config.lookback,
            models: config.models.clone(),
            metrics,
        }
    }

    /// One run as of `now` (ms).
    pub async fn run_once(&self, now: Timestamp) -> RunOutcome {
        let mut out = RunOutcome::default();
        for &period in &self.periods {
            let current = now.div_euclid(period).saturating_mul(period);
            for back in 0..=i64::from(self.lookback) {
                let from = current.saturating_sub(back.saturating_mul(period));
                let to = from.saturating_add(period);
                let models = if self.models.is_empty() {
                    match self.glass.prediction_models(from, to).await {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(from, to, error = %e, "quality schedule: cannot list the models");
                            out.failures += 1;
                            continue;
                        }
                    }
                } else {
                    self.models.clone()
                };
                for model in models {
                    match self.glass.refresh_quality(&model, from, to).await {
                        Ok((replaced, answer)) => {
                            out.computed += 1;
                            out.replaced += replaced;
                            out.rows += answer["metrics"].as_array().map_or(0, |m| m.len() as u64);
                        }
                        Err(e) => {
                            tracing::warn!(model, from, to, error = %e, "quality schedule: computation failed");
                            out.failures += 1;
                        }
                    }
                }
            }
        }
        self.metrics.runs.inc();
        self.metrics.rows.inc_by(out.rows);
        self.metrics.failures.inc_by(out.failures);
        self.metrics.last_rows.set(out.rows as i64);
        self.metrics
            .last_run
            .set(clio_core::now_ms() as f64 / 1000.0);
        tracing::info!(
            computed = out.computed,
            rows = out.rows,
            replaced = out.replaced,
            failures = out.failures,
            "quality schedule run finished"
        );
        out
    }

    /// Runs at once, then every `every`, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            self.run_once(clio_core::now_ms()).await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
