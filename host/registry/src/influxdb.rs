//! `type = "influxdb"`: InfluxDB over its v1 HTTP API (1.x natively, 2.x and 3.x through
//! their v1 compatibility endpoints); see docs/influxdb.md. Keys: `url`, `ca_file`, `database` (or
//! `bucket`), `retention_policy`, `retention_duration`, `catalog_retention_policy`,
//! `create_database`, `username`, `password` / `password_env` / `password_file`, `token` /
//! `token_env` / `token_file`, `batch_size`, `timeout` (ms), `gzip`, `retries`.

use std::path::PathBuf;
use std::time::Duration;

use clio_config::{Config, ResolvedBackend};
use clio_core::BackendSpec;
use clio_storage_influxdb::{InfluxAuth, InfluxBackend, InfluxOptions};
use serde::Deserialize;

use crate::{RegistryError, secret, settings};

/// An InfluxDB entry's keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InfluxSettings {
    url: Option<String>,
    ca_file: Option<PathBuf>,
    database: Option<String>,
    bucket: Option<String>,
    retention_policy: Option<String>,
    retention_duration: Option<String>,
    catalog_retention_policy: Option<String>,
    create_database: Option<bool>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    token: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    batch_size: Option<usize>,
    timeout: Option<u64>,
    gzip: Option<bool>,
    retries: Option<u32>,
}

fn options(s: InfluxSettings, config: &Config) -> Result<InfluxOptions, String> {
    let url = s
        .url
        .filter(|u| !u.trim().is_empty())
        .ok_or("url is required, e.g. url = \"http://localhost:8086\"")?;
    let database = match (s.database, s.bucket) {
        (Some(d), None) | (None, Some(d)) if !d.trim().is_empty() => d,
        (Some(_), Some(_)) => return Err("give database or bucket, not both".into()),
        _ => return Err("database is required (or bucket, for InfluxDB 2.x and 3.x)".into()),
    };
    let password = secret("password", &s.password, &s.password_env, &s.password_file)?;
    let token = secret("token", &s.token, &s.token_env, &s.token_file)?;
    let auth = match (s.username, password, token) {
        (None, None, None) => InfluxAuth::None,
        (Some(username), Some(password), None) => InfluxAuth::Basic { username, password },
        (None, None, Some(t)) => InfluxAuth::Token(t),
        (Some(_), None, None) => return Err("username needs a password".into()),
        (None, Some(_), None) => return Err("password needs a username".into()),
        _ => {
            return Err(
                "give a token or username/password, not both (InfluxDB 2.x: any username with the token as password also works)"
                    .into(),
            );
        }
    };
    let mut o = InfluxOptions::new(url.trim(), database);
    o.ca_file = s.ca_file;
    o.retention_policy = s.retention_policy.filter(|r| !r.is_empty());
    if s.retention_duration.is_some() && o.retention_policy.is_none() {
        return Err("retention_duration needs retention_policy (the policy to create)".into());
    }
    o.retention_duration = s.retention_duration;
    o.catalog_retention_policy = s.catalog_retention_policy.filter(|r| !r.is_empty());
    if let Some(c) = s.create_database {
        o.create_database = c;
    }
    o.auth = auth;
    if let Some(n) = s.batch_size {
        if n == 0 {
            return Err("batch_size must be at least 1".into());
        }
        o.batch_size = n;
    }
    if let Some(ms) = s.timeout {
        if ms == 0 {
            return Err("timeout must be at least 1 ms".into());
        }
        o.timeout = Duration::from_millis(ms);
    }
    if let Some(g) = s.gzip {
        o.gzip = g;
    }
    if let Some(r) = s.retries {
        o.retries = r;
    }
    o.trend_intervals = config.storage.trend_intervals.clone();
    Ok(o)
}

pub(crate) fn factory(b: &ResolvedBackend, config: &Config) -> Result<BackendSpec, RegistryError> {
    let s: InfluxSettings = settings(b)?;
    let o = options(s, config).map_err(|detail| crate::invalid(b, detail))?;
    Ok(crate::async_spec(b, "influxdb", o, InfluxBackend::open))
}

#[cfg(test)]
mod tests {
    use crate::Registry;
    use clio_config::Config;

    fn entry(keys: &str) -> Result<clio_core::Topology, crate::RegistryError> {
        let cfg = Config::from_toml(&format!(
            "[[storage.backends]]\nname = \"influx\"\ntype = \"influxdb\"\n{keys}\n"
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
    fn a_full_entry_is_accepted() {
        let t = entry(
            "url = \"http://localhost:8086\"\ndatabase = \"plant\"\nretention_policy = \"clio\"\n\
             retention_duration = \"52w\"\nusername = \"clio\"\npassword = \"secret\"\n\
             batch_size = 1000\ntimeout = 5000\ngzip = false\nretries = 5",
        )
        .expect("topology");
        assert_eq!(
            (t.primary.kind.as_str(), t.primary.name.as_str()),
            ("influxdb", "influx")
        );
        entry("url = \"http://h:8086\"\nbucket = \"b\"\ntoken = \"t\"").expect("token entry");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error("database = \"d\"").contains("url is required"));
        assert!(error("url = \"http://h:8086\"").contains("database is required"));
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\ndatbase = \"x\"").contains("datbase")
        );
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\ntoken = \"t\"\nusername = \"u\"\npassword = \"p\"")
                .contains("not both")
        );
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\nusername = \"u\"\npassword_env = \"CLIO_TEST_SURELY_UNSET\"")
                .contains("CLIO_TEST_SURELY_UNSET")
        );
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\npassword = \"p\"\npassword_file = \"/x\"\nusername = \"u\"")
                .contains("not several")
        );
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\nbatch_size = 0")
                .contains("batch_size")
        );
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\nretention_duration = \"4w\"")
                .contains("retention_policy")
        );
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").expect("write");
        entry(&format!(
            "url = \"http://h:8086\"\ndatabase = \"d\"\nusername = \"u\"\npassword_file = \"{}\"",
            f.display()
        ))
        .expect("password_file");
        assert!(
            error("url = \"http://h:8086\"\ndatabase = \"d\"\ntoken_file = \"/nonexistent/token\"")
                .contains("token_file")
        );
    }
}
