//! The arguments of `clio query`, shared by the direct file read and the server read.

use std::path::PathBuf;

use clap::Args;

use crate::server_conn::ServerArg;

/// Arguments of `clio query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Read this database file directly (for example data/clio.db, opened read-only) instead
    /// of asking the server.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// With --db: the file of the store's data key (64 hex digits) when it is encrypted;
    /// without it, `CLIO_DATA_KEY` is used when set.
    #[arg(long, value_name = "FILE", requires = "db")]
    pub key_file: Option<PathBuf>,
    /// With --db: the key before a rotation, for chunks not yet re-sealed.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub previous_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArg,
    /// Series id.
    #[arg(long, conflicts_with = "key", required_unless_present = "key")]
    pub id: Option<u64>,
    /// Series key, such as `cpu,host=a usage_idle`.
    #[arg(long)]
    pub key: Option<String>,
    /// The newest N points.
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    pub last: Option<usize>,
    /// With --last: skip the newest K points first.
    #[arg(long, default_value_t = 0, requires = "last")]
    pub skip: usize,
    /// Range start (inclusive): epoch ms, RFC 3339, or now-<duration>.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Range end (exclusive).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// raw, a trend interval (10m, 30m, 1h, 1d), or auto (trends when raw points would
    /// exceed the result cap).
    #[arg(long, default_value = "raw")]
    pub resolution: String,
    /// Server only: continue a truncated answer with the cursor it printed (`next`), repeating
    /// the same window.
    #[arg(long, conflicts_with = "db")]
    pub cursor: Option<String>,
    /// Server only: evaluate as of this time (points stamped at or after it are invisible).
    #[arg(long, conflicts_with = "db")]
    pub at: Option<String>,
    /// With --db: most points returned (the newest are kept). The server applies its own cap
    /// (query_max_result_numbers).
    #[arg(long, default_value_t = 5000)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
