//! Clio's network front ends over one engine: HTTP (InfluxDB-compatible line-protocol writes,
//! Clio's JSON API, health and Prometheus metrics) and TCP with ALEPIZ's framing
//! (`docs/protocol.md`). Both share [`AppState`]: the engine, bounded query admission and
//! metrics.
#![deny(missing_docs)]

pub mod alerts;
pub mod backup;
pub mod error;
pub mod http;
pub mod metrics;
pub mod requests;
pub mod server;
pub mod state;
pub mod tcp;

pub use error::ApiError;
pub use server::{Running, start};
pub use state::AppState;
