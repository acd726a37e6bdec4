//! Clio's network front ends over one engine: HTTP (InfluxDB-compatible line-protocol writes,
//! Clio's JSON API, health and Prometheus metrics) and TCP with ALEPIZ's framing
//! (`docs/protocol.md`). Both reach the engine only through the one door, [`door::Gate`],
//! which holds authorization (`auth`), admission and metrics.
#![deny(missing_docs)]

pub mod alerts;
pub mod auth;
pub mod backup;
mod blocking;
pub mod door;
pub mod error;
pub mod glass_jobs;
pub mod http;
pub mod metrics;
pub mod requests;
pub mod server;
/// The shared server state (kept at its old path).
pub mod state {
    pub use crate::door::AppState;
}
pub mod tcp;
pub mod tls;

pub use door::{AppState, Gate, RequestContext};
pub use error::ApiError;
pub use server::{Running, start};

/// Where `[glass]` puts the Glass AI tables: `glass.db` in the data directory, or the
/// PostgreSQL database of `glass.url` (for the server and `clio migrate`).
pub fn glass_target(config: &clio_config::Config) -> anyhow::Result<clio_glass::Target> {
    let g = &config.glass;
    Ok(clio_glass::Target::from_url(
        &g.url,
        &config.data_dir,
        &g.schema,
        g.pool_size,
        g.password(),
    )?
    .with_partitions(g.partition_days, g.partitions_ahead))
}
