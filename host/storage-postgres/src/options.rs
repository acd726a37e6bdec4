//! How to reach the database, and how the backend lays out its data.

use std::fmt;

use clio_storage::{DEFAULT_TREND_INTERVALS, TrendInterval};

use crate::PgError;

/// TLS towards the server, named as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP or a unix socket.
    #[default]
    Disable,
    /// TLS when the server offers it.
    Prefer,
    /// TLS or no connection, without checking the certificate.
    Require,
    /// TLS with a certificate signed by a trusted authority.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// Parses `disable`, `prefer`, `require`, `verify-ca` or `verify-full`.
    pub fn parse(s: &str) -> Result<Self, PgError> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(PgError::Config(format!(
                "sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
            ))),
        }
    }
}

/// Connection settings and layout of the PostgreSQL backend.
#[derive(Clone)]
pub struct PgOptions {
    /// Host name, IP address, or a directory holding the server's unix socket.
    pub host: String,
    /// TCP port (also names the unix socket file).
    pub port: u16,
    /// Database name.
    pub database: String,
    /// User name.
    pub username: String,
    /// Password, if the server asks for one.
    pub password: Option<String>,
    /// Connections in the pool (default 20).
    pub pool_size: usize,
    /// The schema holding Clio's tables (default `clio`).
    pub schema: String,
    /// TLS mode.
    pub sslmode: SslMode,
    /// PEM file of the authorities trusted by `verify-ca`/`verify-full` (default: the
    /// bundled Mozilla roots).
    pub sslrootcert: Option<std::path::PathBuf>,
    /// Open without creating or migrating anything and with every session read-only: for a
    /// Clio that reads a PostgreSQL hot standby (default false).
    pub read_only: bool,
    /// Trend intervals to maintain.
    pub trend_intervals: Vec<TrendInterval>,
    /// Most points in one chunk row (default 2048, as in SQLite).
    pub max_chunk_points: usize,
    /// Days covered by one partition of `chunks` (default 30).
    pub partition_days: u32,
    /// Partitions created ahead of the current one (default 3).
    pub partitions_ahead: u32,
    /// Hours of recent points also kept as plain rows for the `points` view (default 24;
    /// 0 turns the view's table off).
    pub plain_rows_hours: u32,
}

// The password stays out of logs.
impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .field("schema", &self.schema)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("read_only", &self.read_only)
            .field("trend_intervals", &self.trend_intervals)
            .field("max_chunk_points", &self.max_chunk_points)
            .field("partition_days", &self.partition_days)
            .field("partitions_ahead", &self.partitions_ahead)
            .field("plain_rows_hours", &self.plain_rows_hours)
            .finish()
    }
}

impl PgOptions {
    /// Default pool size, as in the Glass AI seed.
    pub const DEFAULT_POOL_SIZE: usize = 20;
    /// Default schema.
    pub const DEFAULT_SCHEMA: &'static str = "clio";
    /// Default most points per chunk.
    pub const DEFAULT_MAX_CHUNK_POINTS: usize = 2048;
    /// Default days per partition.
    pub const DEFAULT_PARTITION_DAYS: u32 = 30;
    /// Default partitions made ahead of time.
    pub const DEFAULT_PARTITIONS_AHEAD: u32 = 3;
    /// Default hours of plain rows.
    pub const DEFAULT_PLAIN_ROWS_HOURS: u32 = 24;

    /// Options for `host:port/database` as `username`, with defaults for the rest.
    pub fn new(host: &str, port: u16, database: &str, username: &str) -> Self {
        PgOptions {
            host: host.to_owned(),
            port,
            database: database.to_owned(),
            username: username.to_owned(),
            password: None,
            pool_size: Self::DEFAULT_POOL_SIZE,
            schema: Self::DEFAULT_SCHEMA.to_owned(),
            sslmode: SslMode::Disable,
            sslrootcert: None,
            read_only: false,
            trend_intervals: DEFAULT_TREND_INTERVALS.to_vec(),
            max_chunk_points: Self::DEFAULT_MAX_CHUNK_POINTS,
            partition_days: Self::DEFAULT_PARTITION_DAYS,
            partitions_ahead: Self::DEFAULT_PARTITIONS_AHEAD,
            plain_rows_hours: Self::DEFAULT_PLAIN_ROWS_HOURS,
        }
    }

    /// Options from a `postgresql://user:password@host:port/database` URL (libpq's URI form;
    /// `?host=/socket/dir` names a unix socket directory, `?sslmode=` the TLS mode,
    /// `?sslrootcert=` the trusted authorities).
    pub fn from_url(url: &str) -> Result<Self, PgError> {
        // tokio-postgres knows no verify-* modes nor sslrootcert: take them out before it
        // parses.
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut sslmode = SslMode::Disable;
        let mut sslrootcert = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => sslmode = SslMode::parse(v)?,
                Some(("sslrootcert", v)) => sslrootcert = Some(std::path::PathBuf::from(v)),
                _ => rest.push(pair),
            }
        }
        let cleaned = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let c: tokio_postgres::Config = cleaned
            .parse()
            .map_err(|e| PgError::Config(format!("url: {e}")))?;
        let host = match c.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        let username = c
            .get_user()
            .ok_or_else(|| PgError::Config("url: no user name".into()))?;
        let database = c.get_dbname().unwrap_or(username);
        let mut o = PgOptions::new(&host, port, database, username);
        o.password = c
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        o.sslmode = sslmode;
        o.sslrootcert = sslrootcert;
        Ok(o)
    }

    /// Checks what a connection cannot: the schema is a plain identifier (it is spliced into
    /// DDL), the pool is not empty, and the layout numbers are usable.
    pub fn validate(&self) -> Result<(), PgError> {
        let ident_ok = !self.schema.is_empty()
            && self.schema.len() <= 40
            && self
                .schema
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && self
                .schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ident_ok {
            return Err(PgError::Config(format!(
                "schema {:?}: use lowercase letters, digits and '_' (at most 40, not starting with a digit)",
                self.schema
            )));
        }
        if self.pool_size == 0 {
            return Err(PgError::Config("pool_size must be at least 1".into()));
        }
        if !(1..=clio_codec::MAX_CHUNK_POINTS).contains(&self.max_chunk_points) {
            return Err(PgError::Config(
                "max_chunk_points must be between 1 and 1048576".into(),
            ));
        }
        if !(1..=3660).contains(&self.partition_days) {
            return Err(PgError::Config(
                "partition_days must be between 1 and 3660".into(),
            ));
        }
        if self.partitions_ahead > 120 {
            return Err(PgError::Config(
                "partitions_ahead must be at most 120".into(),
            ));
        }
        if self.trend_intervals.is_empty() {
            return Err(PgError::Config(
                "at least one trend interval is needed".into(),
            ));
        }
        Ok(())
    }

    /// Milliseconds covered by one partition.
    pub fn partition_ms(&self) -> i64 {
        i64::from(self.partition_days) * 86_400_000
    }

    /// The tokio-postgres configuration.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(&self.username)
            .application_name("clio")
            .connect_timeout(std::time::Duration::from_secs(10))
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(30));
        if let Some(p) = &self.password {
            c.password(p);
        }
        if self.read_only {
            // The server refuses any write of such a session, as a standby would.
            c.options("-c default_transaction_read_only=on");
        }
        // verify-ca/verify-full are `require` to tokio-postgres; the certificate checks are
        // the TLS connector's (tls.rs).
        c.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        c
    }
}
