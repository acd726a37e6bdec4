//! `type = "postgres"`: PostgreSQL (docs/postgres.md). Keys: `url`
//! (`postgresql://user:password@host:port/database`) or `host`, `port`, `database`,
//! `username` (the Glass AI seed's keys); `password` / `password_env` / `password_file`;
//! `pool_size`, `schema`, `sslmode`, `sslrootcert`, `partition_days`, `partitions_ahead`,
//! `plain_rows_hours`, `read_only`.

use std::path::PathBuf;

use clio_config::{Config, ResolvedBackend};
use clio_core::BackendSpec;
use clio_storage_postgres::{PgBackend, PgOptions, SslMode};
use serde::Deserialize;

use crate::{RegistryError, secret, settings};

/// A PostgreSQL entry's keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PgSettings {
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    pool_size: Option<usize>,
    schema: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<PathBuf>,
    partition_days: Option<u32>,
    partitions_ahead: Option<u32>,
    plain_rows_hours: Option<u32>,
    read_only: Option<bool>,
}

fn options(s: PgSettings, config: &Config) -> Result<PgOptions, String> {
    let mut o = match (&s.url, &s.host) {
        (Some(_), Some(_)) => return Err("give url or host/port/database, not both".into()),
        (Some(url), None) => {
            if s.port.is_some() || s.database.is_some() || s.username.is_some() {
                return Err("with url, port, database and username belong in the url".into());
            }
            PgOptions::from_url(url.trim()).map_err(|e| e.to_string())?
        }
        (None, host) => {
            let database = s
                .database
                .filter(|d| !d.trim().is_empty())
                .ok_or("database is required (or a url = \"postgresql://user@host:5432/db\")")?;
            let username = s
                .username
                .filter(|u| !u.trim().is_empty())
                .ok_or("username is required")?;
            PgOptions::new(
                host.as_deref().unwrap_or("localhost"),
                s.port.unwrap_or(5432),
                &database,
                &username,
            )
        }
    };
    if let Some(p) = secret("password", &s.password, &s.password_env, &s.password_file)? {
        if o.password.is_some() {
            return Err("the url holds a password already; give it once".into());
        }
        o.password = Some(p);
    }
    if let Some(n) = s.pool_size {
        o.pool_size = n;
    }
    if let Some(schema) = s.schema {
        o.schema = schema;
    }
    if let Some(m) = s.sslmode {
        o.sslmode = SslMode::parse(&m).map_err(|e| e.to_string())?;
    }
    if let Some(ca) = s.sslrootcert {
        if !ca.is_file() {
            return Err(format!("sslrootcert {}: no such file", ca.display()));
        }
        o.sslrootcert = Some(ca);
    }
    if let Some(d) = s.partition_days {
        o.partition_days = d;
    }
    if let Some(a) = s.partitions_ahead {
        o.partitions_ahead = a;
    }
    if let Some(h) = s.plain_rows_hours {
        o.plain_rows_hours = h;
    }
    if let Some(r) = s.read_only {
        o.read_only = r;
    }
    o.trend_intervals = config.storage.trend_intervals.clone();
    o.validate().map_err(|e| e.to_string())?;
    Ok(o)
}

pub(crate) fn factory(b: &ResolvedBackend, config: &Config) -> Result<BackendSpec, RegistryError> {
    let s: PgSettings = settings(b)?;
    let o = options(s, config).map_err(|detail| crate::invalid(b, detail))?;
    Ok(crate::async_spec(b, "postgres", o, PgBackend::open))
}

#[cfg(test)]
mod tests {
    use crate::Registry;
    use clio_config::Config;

    fn entry(keys: &str) -> Result<clio_core::Topology, crate::RegistryError> {
        let cfg = Config::from_toml(&format!(
            "[[storage.backends]]\nname = \"pg\"\ntype = \"postgres\"\n{keys}\n"
        ))
        .expect("valid config");
        Registry::builtin().topology(&cfg)
    }

    fn error(keys: &str) -> String {
        match entry(keys) {
            Ok(_) => panic!("`{keys}` should be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn url_and_seed_keys_are_accepted() {
        let t = entry("url = \"postgresql://clio:secret@db.local:5433/plant\"").expect("url");
        assert_eq!(
            (t.primary.kind.as_str(), t.primary.name.as_str()),
            ("postgres", "pg")
        );
        entry(
            "host = \"db.local\"\nport = 5432\ndatabase = \"plant\"\nusername = \"clio\"\n\
             password = \"p\"\npool_size = 20\nschema = \"history\"\nsslmode = \"disable\"\n\
             partition_days = 7\npartitions_ahead = 4\nplain_rows_hours = 0\nread_only = false",
        )
        .expect("seed keys");
        entry("host = \"/var/run/postgresql\"\ndatabase = \"d\"\nusername = \"u\"")
            .expect("socket");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error("host = \"h\"\nusername = \"u\"").contains("database is required"));
        assert!(error("host = \"h\"\ndatabase = \"d\"").contains("username is required"));
        assert!(error("url = \"postgresql://u@h/d\"\nhost = \"h\"").contains("not both"));
        assert!(error("url = \"postgresql://u@h/d\"\nhots = \"h\"").contains("hots"));
        assert!(error("url = \"postgresql://u@h/d\"\npool_size = 0").contains("pool_size"));
        assert!(error("url = \"postgresql://u@h/d\"\nschema = \"Bad-Name\"").contains("schema"));
        assert!(error("url = \"postgresql://u@h/d\"\nsslmode = \"sometimes\"").contains("sslmode"));
        entry("url = \"postgresql://u@h/d\"\nsslmode = \"require\"").expect("require");
        assert!(
            error("url = \"postgresql://u@h/d\"\nsslmode = \"verify-full\"\nsslrootcert = \"/surely/missing.pem\"")
                .contains("/surely/missing.pem")
        );
        assert!(
            error("url = \"postgresql://u@h/d\"\npassword_env = \"CLIO_TEST_SURELY_UNSET\"")
                .contains("CLIO_TEST_SURELY_UNSET")
        );
        assert!(error("url = \"postgresql://u:p@h/d\"\npassword = \"q\"").contains("once"));
        assert!(
            error("url = \"postgresql://u@h/d\"\npartition_days = 0").contains("partition_days")
        );
    }

    #[test]
    fn passwords_come_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").expect("write");
        entry(&format!(
            "url = \"postgresql://u@h/d\"\npassword_file = \"{}\"",
            f.display()
        ))
        .expect("password_file");
    }
}
