//! `[auth]`: who may use the front ends (tokens, users, roles, scopes), rate limits and the
//! audit log. Off by default so that a local install on 127.0.0.1 works without a token;
//! `Config::validate` refuses a non-loopback listener without auth unless `insecure = true`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a token (or a user's password) on every request that reaches the engine.
    #[serde(default)]
    pub enabled: bool,
    /// Allow listening on a non-loopback address with `enabled = false` (everyone may read,
    /// write and administer). Without it such a configuration refuses to start.
    #[serde(default)]
    pub insecure: bool,
    /// TCP peers in these networks (CIDR, e.g. `127.0.0.1/32`) need no `auth` message: their
    /// connections act as an unrestricted admin, as ALEPIZ's IPC client expects.
    #[serde(default)]
    pub allow_unauthenticated_from: Vec<String>,
    /// The token and user store (JSON); empty: `<data_dir>/auth.json`.
    #[serde(default)]
    pub token_file: String,
    /// Requests per second one token or user may make (token bucket); 0: unlimited.
    #[serde(default)]
    pub rate_limit_per_token: u32,
    /// Requests per second one client address may make; 0: unlimited.
    #[serde(default)]
    pub rate_limit_per_address: u32,
    /// Requests a client may make at once above its rate (the bucket's size).
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
    /// Failed authentications from one address within `failed_login_window_sec` after which
    /// that address is refused (429) for the rest of the window; 0: never.
    #[serde(default = "default_failed_login_limit")]
    pub failed_login_limit: u32,
    /// The window of `failed_login_limit`, seconds.
    #[serde(default = "default_failed_login_window")]
    pub failed_login_window_sec: u64,
    /// Also append the audit log (admin actions, authentication failures) to this file as
    /// JSON lines; empty: the audit events only go to the main log (target `clio::audit`).
    #[serde(default)]
    pub audit_file: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            insecure: false,
            allow_unauthenticated_from: Vec::new(),
            token_file: String::new(),
            rate_limit_per_token: 0,
            rate_limit_per_address: 0,
            rate_limit_burst: default_burst(),
            failed_login_limit: default_failed_login_limit(),
            failed_login_window_sec: default_failed_login_window(),
            audit_file: String::new(),
        }
    }
}

const fn default_burst() -> u32 {
    100
}
const fn default_failed_login_limit() -> u32 {
    10
}
const fn default_failed_login_window() -> u64 {
    60
}

impl AuthConfig {
    /// Where the token store lives.
    pub fn token_path(&self, data_dir: &Path) -> PathBuf {
        if self.token_file.is_empty() {
            data_dir.join("auth.json")
        } else {
            PathBuf::from(&self.token_file)
        }
    }

    /// Checks the section; `listeners` are the configured front-end addresses.
    pub(crate) fn validate(&self, listeners: &[(&str, &str)], errs: &mut Vec<String>) {
        for net in &self.allow_unauthenticated_from {
            if parse_cidr(net).is_none() {
                errs.push(format!(
                    "auth.allow_unauthenticated_from: `{net}` is not a network such as 127.0.0.1/32"
                ));
            }
        }
        if self.rate_limit_burst == 0 {
            errs.push("auth.rate_limit_burst must be at least 1".into());
        }
        if self.failed_login_window_sec == 0 {
            errs.push("auth.failed_login_window_sec must be at least 1".into());
        }
        if self.enabled || self.insecure {
            return;
        }
        for (name, addr) in listeners {
            let Ok(a) = addr.parse::<std::net::SocketAddr>() else {
                continue;
            };
            if !a.ip().is_loopback() {
                errs.push(format!(
                    "{name} `{addr}` is reachable from other machines but [auth] is off: anyone \
                     could read, write and delete history. Set [auth] enabled = true (and create \
                     a token with `clio token create --data-dir DIR --role admin --name NAME`), \
                     or set [auth] insecure = true to accept this"
                ));
            }
        }
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128):
/// its address and prefix length.
pub fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let text = text.trim();
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((ip, len))
}

/// Whether `ip` lies in the network `(net, len)` (an IPv4-mapped IPv6 peer matches IPv4
/// networks).
pub fn cidr_contains(net: (std::net::IpAddr, u8), ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(net.1)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(net.1)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let net = parse_cidr("10.1.0.0/16").unwrap();
        assert!(cidr_contains(net, "10.1.200.3".parse().unwrap()));
        assert!(!cidr_contains(net, "10.2.0.1".parse().unwrap()));
        assert!(cidr_contains(
            parse_cidr("127.0.0.1").unwrap(),
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        assert!(cidr_contains(
            parse_cidr("0.0.0.0/0").unwrap(),
            "8.8.8.8".parse().unwrap()
        ));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("nonsense").is_none());
    }

    #[test]
    fn open_listener_without_auth_is_refused() {
        let mut errs = Vec::new();
        let cfg = AuthConfig::default();
        cfg.validate(&[("server.http_address", "0.0.0.0:80")], &mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.clear();
        cfg.validate(&[("server.http_address", "127.0.0.1:80")], &mut errs);
        assert!(errs.is_empty());
        let insecure = AuthConfig {
            insecure: true,
            ..AuthConfig::default()
        };
        insecure.validate(&[("server.http_address", "0.0.0.0:80")], &mut errs);
        assert!(errs.is_empty());
    }
}
