//! How to reach InfluxDB and what to create there.

use std::time::Duration;

use clio_storage::{DEFAULT_TREND_INTERVALS, TrendInterval};

/// Credentials for the v1 API.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum InfluxAuth {
    /// No authentication (InfluxDB 1.x with `auth-enabled = false`).
    #[default]
    None,
    /// HTTP Basic: a 1.x user, or for 2.x any user name with a token as the password.
    Basic {
        /// The user name.
        username: String,
        /// The password (or a 2.x/3.x token).
        password: String,
    },
    /// `Authorization: Token …` (2.x and 3.x).
    Token(String),
}

impl std::fmt::Debug for InfluxAuth {
    // Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InfluxAuth::None => f.write_str("None"),
            InfluxAuth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            InfluxAuth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Options of [`crate::InfluxBackend::open`].
#[derive(Debug, Clone)]
pub struct InfluxOptions {
    /// `http://host:8086` or `https://host:8086`, optionally with a path prefix.
    pub url: String,
    /// PEM file of the certificate authorities that `https` servers are checked against;
    /// `None`: the system's CA store.
    pub ca_file: Option<std::path::PathBuf>,
    /// The database (2.x: the database name of a DBRP mapping; 3.x: the database).
    pub database: String,
    /// Retention policy that points and trend buckets go to; `None`: the database's default.
    pub retention_policy: Option<String>,
    /// When set (an InfluxQL duration such as `90d`, `52w` or `INF`), the retention policy is
    /// created with this duration at open, or altered to it (1.x only).
    pub retention_duration: Option<String>,
    /// Retention policy of the catalog (`clio_catalog`, stamped at time 0, so it needs an
    /// infinite duration); `None`: the database's default (1.x `autogen`, infinite).
    pub catalog_retention_policy: Option<String>,
    /// Issue `CREATE DATABASE` at open (1.x; idempotent). Off for 2.x/3.x, where the bucket
    /// and its DBRP mapping are made with their own tools.
    pub create_database: bool,
    /// Credentials.
    pub auth: InfluxAuth,
    /// Lines per `/write` request.
    pub batch_size: usize,
    /// Time limit of one HTTP request (and of connecting).
    pub timeout: Duration,
    /// Gzip the bodies of `/write` requests.
    pub gzip: bool,
    /// Retries of a request that failed to connect, timed out or got a 5xx (backoff 100 ms,
    /// doubling up to 2 s).
    pub retries: u32,
    /// The trend intervals kept in `aggregated_data`.
    pub trend_intervals: Vec<TrendInterval>,
}

impl InfluxOptions {
    /// Defaults for `url` and `database`: no retention policy of its own, no credentials,
    /// 5000 lines per request, 10 s timeout, gzip on, 3 retries, the default trend intervals.
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> Self {
        InfluxOptions {
            url: url.into(),
            ca_file: None,
            database: database.into(),
            retention_policy: None,
            retention_duration: None,
            catalog_retention_policy: None,
            create_database: true,
            auth: InfluxAuth::None,
            batch_size: 5000,
            timeout: Duration::from_secs(10),
            gzip: true,
            retries: 3,
            trend_intervals: DEFAULT_TREND_INTERVALS.to_vec(),
        }
    }
}
