//! How to reach the database.

use std::fmt;

use crate::PgError;

/// TLS towards the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP or a unix socket.
    #[default]
    Disable,
    /// TLS when the server offers it (not yet available: TLS through rustls is pending).
    Prefer,
    /// TLS or no connection (not yet available: TLS through rustls is pending).
    Require,
}

impl SslMode {
    /// Parses `disable`, `prefer` or `require`.
    pub fn parse(s: &str) -> Result<Self, PgError> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            other => Err(PgError::Config(format!(
                "sslmode {other:?}: expected disable, prefer or require"
            ))),
        }
    }
}

/// Connection settings of the PostgreSQL backend.
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
            .finish()
    }
}

impl PgOptions {
    /// Default pool size, as in the Glass AI seed.
    pub const DEFAULT_POOL_SIZE: usize = 20;
    /// Default schema.
    pub const DEFAULT_SCHEMA: &'static str = "clio";

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
        }
    }

    /// Checks what a connection cannot: the schema is a plain identifier (it is spliced into
    /// DDL), the pool is not empty, and the TLS mode is one this build supports.
    pub fn validate(&self) -> Result<(), PgError> {
        let ident_ok = !self.schema.is_empty()
            && self.schema.len() <= 63
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
                "schema {:?}: use lowercase letters, digits and '_' (at most 63, not starting with a digit)",
                self.schema
            )));
        }
        if self.pool_size == 0 {
            return Err(PgError::Config("pool_size must be at least 1".into()));
        }
        if self.sslmode != SslMode::Disable {
            return Err(PgError::Config(
                "sslmode prefer/require: TLS is not built into this version yet; use sslmode = \"disable\" (unix socket or a trusted network)".into(),
            ));
        }
        Ok(())
    }

    /// The tokio-postgres configuration.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(&self.username)
            .application_name("clio")
            .connect_timeout(std::time::Duration::from_secs(10));
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }
}
