//! Clio's InfluxDB storage backend over the v1 HTTP API (`/write` line protocol, `/query`
//! InfluxQL, `/ping`): InfluxDB 1.x serves it natively, 2.x through DBRP mappings with a token
//! as the password, 3.x through its v1 compatibility endpoints. See `docs/influxdb.md`.
//!
//! The mapping (the Glass AI schema): a series key `measurement,tags field` is that
//! measurement, those tags and that field; a series without a key lives in `clio_series`
//! (tag `series_id`, field `value` for numbers, `text` for strings); trend buckets live in
//! `aggregated_data` (tags `aggregation_type`, `parameter`); the catalog in `clio_catalog`.

mod backend;
mod http;
mod options;
mod proto;
mod tls;

pub use backend::{InfluxBackend, MAX_TIMESTAMP, MIN_TIMESTAMP};
pub use options::{InfluxAuth, InfluxOptions};
