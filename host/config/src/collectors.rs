//! `[[collectors]]`: collector plugin instances, their schedules and grants.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::default_true;
use crate::schedule::{Cron, Schedule};

/// One `[[collectors]]` entry: an instance of a collector plugin (docs/plugins.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// The instance name: unique, used in the API (`/api/v1/collectors/{name}`), metrics and
    /// logs.
    pub name: String,
    /// The collector plugin (built in: `simulator`, `http-json`, `prometheus`, `modbus-tcp`).
    pub plugin: String,
    /// Run every interval (`"500ms"`, `"10s"`, `"5m"`, `"1h"`), on the epoch-aligned grid.
    #[serde(default)]
    pub every: Option<String>,
    /// Or on a cron expression (five fields, UTC), e.g. `"*/5 * * * *"`.
    #[serde(default)]
    pub cron: Option<String>,
    /// Hosts the instance may send HTTP requests to: `host` (any port) or `host:port`.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Addresses the instance may open TCP connections to: `ip:port`.
    #[serde(default)]
    pub tcp: Vec<String>,
    /// Start running at start-up (else only after `clio collector start NAME`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Wall-time limit of one run, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Memory limit of the instance, MiB (default: `[plugins] memory_mb`).
    #[serde(default)]
    pub memory_mb: Option<usize>,
    /// Most samples one run may return.
    #[serde(default = "default_max_points")]
    pub max_points: usize,
    /// The collector's own settings, handed to it as a JSON object.
    #[serde(default)]
    pub config: toml::Table,
}

const fn default_timeout_ms() -> u64 {
    5000
}
const fn default_max_points() -> usize {
    100_000
}

/// Parses `500ms`, `10s`, `5m`, `1h` (a whole number and a unit).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let bad = || format!("`{text}` is not an interval such as 500ms, 10s, 5m or 1h");
    let n: u64 = n.parse().map_err(|_| bad())?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(bad()),
    };
    Ok(Duration::from_millis(ms))
}

impl CollectorConfig {
    /// The schedule (`every` or `cron`).
    pub fn schedule(&self) -> Result<Schedule, String> {
        match (&self.every, &self.cron) {
            (Some(e), None) => {
                let d = parse_interval(e)?;
                if d < Duration::from_millis(100) {
                    return Err(format!("every = `{e}` is shorter than 100ms"));
                }
                Ok(Schedule::Every(d))
            }
            (None, Some(c)) => Ok(Schedule::Cron(Cron::parse(c)?)),
            _ => Err("needs exactly one of `every` and `cron`".into()),
        }
    }

    /// The granted HTTP hosts.
    pub fn http_grants(&self) -> Result<Vec<HostGrant>, String> {
        self.http_hosts
            .iter()
            .map(|h| HostGrant::parse(h).map_err(|e| format!("http_hosts: {e}")))
            .collect()
    }

    /// The granted TCP addresses (`localhost:port` grants both loopback addresses).
    pub fn tcp_grants(&self) -> Result<Vec<SocketAddr>, String> {
        let mut out = Vec::new();
        for t in &self.tcp {
            if let Some(port) = t.strip_prefix("localhost:") {
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("tcp: `{t}` is not an address such as 10.0.0.5:502"))?;
                out.push(SocketAddr::from(([127, 0, 0, 1], port)));
                out.push(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
                continue;
            }
            out.push(
                t.parse()
                    .map_err(|_| format!("tcp: `{t}` is not an address such as 10.0.0.5:502"))?,
            );
        }
        Ok(out)
    }

    /// The configuration handed to the plugin: `config` as a JSON object.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }
}

/// Checks every `[[collectors]]` entry.
pub(crate) fn validate(
    collectors: &[CollectorConfig],
    plugins_enabled: bool,
    errs: &mut Vec<String>,
) {
    if !collectors.is_empty() && !plugins_enabled {
        errs.push("[[collectors]] need the plugin host (plugins.enabled = true)".into());
    }
    let mut names = BTreeSet::new();
    for (i, c) in collectors.iter().enumerate() {
        let at = if c.name.is_empty() {
            format!("collectors[{i}]")
        } else {
            format!("collectors `{}`", c.name)
        };
        let name_ok = !c.name.is_empty()
            && c.name.len() <= 64
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !name_ok {
            errs.push(format!(
                "{at}: name must be 1-64 characters of letters, digits, `-`, `_` and `.`"
            ));
        } else if !names.insert(c.name.as_str()) {
            errs.push(format!("{at}: the name is used twice"));
        }
        if c.plugin.is_empty() {
            errs.push(format!("{at}: plugin must name a collector plugin"));
        }
        if let Err(e) = c.schedule() {
            errs.push(format!("{at}: {e}"));
        }
        if let Err(e) = c.http_grants() {
            errs.push(format!("{at}: {e}"));
        }
        if let Err(e) = c.tcp_grants() {
            errs.push(format!("{at}: {e}"));
        }
        if c.timeout_ms == 0 || c.timeout_ms > 600_000 {
            errs.push(format!("{at}: timeout_ms must be between 1 and 600000"));
        }
        if c.memory_mb == Some(0) || c.memory_mb.is_some_and(|m| m > 4096) {
            errs.push(format!("{at}: memory_mb must be between 1 and 4096"));
        }
        if c.max_points == 0 {
            errs.push(format!("{at}: max_points must be at least 1"));
        }
    }
}

/// One granted HTTP host: a name or address, with a port or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGrant {
    /// Lower-cased host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The port, or `None` for any.
    pub port: Option<u16>,
}

impl HostGrant {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<HostGrant, String> {
        let t = text.trim();
        let bad = || format!("`{text}` is not a host or host:port");
        if t.is_empty() || t.contains('/') || t.contains('@') || t.chars().any(char::is_whitespace)
        {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = t.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
                None if after.is_empty() => None,
                None => return Err(bad()),
            };
            (h.to_string(), port)
        } else if let Some((h, p)) = t.rsplit_once(':') {
            if h.contains(':') {
                // A bare IPv6 address: no port.
                (t.to_string(), None)
            } else {
                (h.to_string(), Some(p.parse::<u16>().map_err(|_| bad())?))
            }
        } else {
            (t.to_string(), None)
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(HostGrant {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a request to `host` (lower-cased) and `port` is granted.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(toml_text: &str) -> CollectorConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_interval("10").is_err());
        assert!(parse_interval("s").is_err());
        assert!(parse_interval("1d").is_err());
    }

    #[test]
    fn host_grants_parse() {
        let g = HostGrant::parse("Example.com:8080").unwrap();
        assert_eq!(g.host, "example.com");
        assert_eq!(g.port, Some(8080));
        assert_eq!(HostGrant::parse("10.0.0.1").unwrap().port, None);
        let v6 = HostGrant::parse("[::1]:9").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(9)));
        assert!(HostGrant::parse("http://x").is_err());
        assert!(HostGrant::parse("x:port").is_err());
        assert!(HostGrant::parse("").is_err());
    }

    #[test]
    fn every_problem_is_named() {
        let good = one(
            "name = \"a\"\nplugin = \"simulator\"\nevery = \"10s\"\ntcp = [\"localhost:502\"]\n[config]\nlines = 2",
        );
        let mut errs = Vec::new();
        validate(std::slice::from_ref(&good), true, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(good.tcp_grants().unwrap().len(), 2);
        assert_eq!(good.config_json(), r#"{"lines":2}"#);
        let bad = one(
            "name = \"a b\"\nplugin = \"\"\nevery = \"10s\"\ncron = \"* * * * *\"\nhttp_hosts = [\"http://x\"]\ntcp = [\"host:1\"]\ntimeout_ms = 0",
        );
        let mut errs = Vec::new();
        validate(&[bad, good.clone(), good], false, &mut errs);
        let all = errs.join("\n");
        for needle in [
            "plugin host",
            "name must be",
            "plugin must name",
            "exactly one of",
            "http_hosts",
            "tcp:",
            "timeout_ms",
            "used twice",
        ] {
            assert!(all.contains(needle), "{needle} missing in {all}");
        }
    }
}
