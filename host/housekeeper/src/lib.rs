//! Clio's housekeeper: applies a retention policy to every series (raw points older than the
//! decision, trend buckets per interval), removes zombie series, and does it exactly and
//! cheaply: whole chunks are dropped and only boundary chunks rewritten, a batch of series
//! goes in one log record and one storage transaction (`Store::expire`), batches are paced
//! with pauses so ingest and queries keep going, and a run resumes after a restart from a
//! durable cursor keyed by series id.
//!
//! Policies implement [`RetentionPolicy`] (the shapes of the WIT `policy` interface). In the
//! server they are plugins (`clio_plugins::WasmPolicy`: `keep`, `tiered`, `disk-budget` are
//! built in); [`KeepPolicy`] (per-series `keep_history_days`/`keep_trends_days`, the default)
//! and [`TieredPolicy`] (by measurement or tag, e.g. Glass AI's 30/180/365 days) are their
//! native twins, used when the plugin host is off.
#![deny(missing_docs)]

mod policy;
mod runner;
mod state;

pub use policy::{
    Decision, KeepPolicy, PolicyError, RetentionPolicy, SeriesUsage, StoreUsage, Tier, TieredPolicy,
};
pub use runner::{Housekeeper, HousekeeperOptions, RunReport, Status, ZombieSource};
pub use state::{Persisted, Progress, StateFile};
