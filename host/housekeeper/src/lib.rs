//! Clio's housekeeper: applies a retention policy to every series (raw points older than the
//! decision, trend buckets per interval), removes zombie series, and does it exactly and
//! cheaply: whole chunks are dropped and only boundary chunks rewritten (the backend's
//! `delete_points`), series are processed in batches with pauses so ingest and queries keep
//! going, and a run resumes after a restart from a durable cursor keyed by series id.
//!
//! Policies implement [`RetentionPolicy`] (the shapes of the WIT `policy` interface); the
//! built-in ones are [`KeepPolicy`] (per-series `keep_history_days`/`keep_trends_days`, the
//! default) and [`TieredPolicy`] (by measurement or tag, e.g. Glass AI's 30/180/365 days).
#![deny(missing_docs)]

mod policy;
mod runner;
mod state;

pub use policy::{
    Decision, KeepPolicy, PolicyError, RetentionPolicy, SeriesUsage, StoreUsage, Tier, TieredPolicy,
};
pub use runner::{Housekeeper, HousekeeperOptions, RunReport, Status};
pub use state::{Persisted, Progress, StateFile};
