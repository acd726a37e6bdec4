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
    /// `[auth.jwt]`: OAuth2/OIDC bearer tokens (JWTs) signed by a configured issuer.
    #[serde(default)]
    pub jwt: JwtConfig,
}

/// `[auth.jwt]`: accept JWTs signed by one issuer's keys (a JWKS from a file or a URL) as
/// bearer tokens, their roles and scope taken from claims. Off while `issuer` is empty.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The issuer (`iss`) tokens must name; empty: JWTs are not accepted.
    #[serde(default)]
    pub issuer: String,
    /// The audiences (`aud`), one of which a token must name; required when `issuer` is set.
    #[serde(default)]
    pub audience: Vec<String>,
    /// The issuer's public keys as a JWKS file (re-read when it changes).
    #[serde(default)]
    pub jwks_file: String,
    /// The issuer's JWKS URL (`http://` or `https://`), fetched at start and every
    /// `jwks_refresh_sec`, and again (at most every 10 s) when a token names an unknown key.
    #[serde(default)]
    pub jwks_url: String,
    /// Seconds between JWKS fetches or file checks.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_sec: u64,
    /// Accepted signature algorithms: any of RS256, RS384, RS512, PS256, PS384, PS512, ES256,
    /// ES384, EdDSA. Shared-secret (HS*) and `none` are never accepted.
    #[serde(default = "default_jwt_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    #[serde(default = "default_leeway")]
    pub leeway_sec: u64,
    /// The claim holding the roles: an array of strings or a space-separated string (OAuth2's
    /// `scope`); a dotted path reaches into objects (Keycloak's `realm_access.roles`).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim values to Clio roles (`{ "clio-admins" = "admin" }`); values not listed count
    /// only when they are `read`, `write` or `admin` themselves.
    #[serde(default)]
    pub role_map: std::collections::BTreeMap<String, String>,
    /// The claim holding the scope: an array of rules as on the CLI (`measurement=cpu*`,
    /// `tag=site=north`, `ids=1-99`); absent: every series. Dotted path as for roles.
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    /// The claim naming the principal in logs and the audit trail (`jwt:<value>`).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            issuer: String::new(),
            audience: Vec::new(),
            jwks_file: String::new(),
            jwks_url: String::new(),
            jwks_refresh_sec: default_jwks_refresh(),
            algorithms: default_jwt_algorithms(),
            leeway_sec: default_leeway(),
            roles_claim: default_roles_claim(),
            role_map: std::collections::BTreeMap::new(),
            scope_claim: default_scope_claim(),
            subject_claim: default_subject_claim(),
        }
    }
}

/// The algorithms `[auth.jwt] algorithms` may name.
pub const JWT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

const fn default_jwks_refresh() -> u64 {
    300
}
fn default_jwt_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}
const fn default_leeway() -> u64 {
    30
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_scope_claim() -> String {
    "clio_scope".into()
}
fn default_subject_claim() -> String {
    "sub".into()
}

impl JwtConfig {
    /// Whether JWTs are accepted.
    pub fn enabled(&self) -> bool {
        !self.issuer.is_empty()
    }

    fn validate(&self, errs: &mut Vec<String>) {
        for a in &self.algorithms {
            if !JWT_ALGORITHMS.contains(&a.as_str()) {
                errs.push(format!(
                    "auth.jwt.algorithms: `{a}` is not one of {}",
                    JWT_ALGORITHMS.join(", ")
                ));
            }
        }
        for (claim, role) in &self.role_map {
            if !matches!(role.as_str(), "read" | "write" | "admin") {
                errs.push(format!(
                    "auth.jwt.role_map: `{claim}` maps to `{role}`, not read, write or admin"
                ));
            }
        }
        if !self.enabled() {
            return;
        }
        if self.audience.is_empty() {
            errs.push(
                "auth.jwt.audience: name at least one audience (tokens for other \
                       services must not be accepted here)"
                    .into(),
            );
        }
        if self.jwks_file.is_empty() == self.jwks_url.is_empty() {
            errs.push("auth.jwt: set exactly one of jwks_file and jwks_url".into());
        }
        let web = ["http://", "https://"]
            .iter()
            .any(|p| self.jwks_url.starts_with(p));
        if !self.jwks_url.is_empty() && !web {
            errs.push(format!(
                "auth.jwt.jwks_url: `{}` is not an http:// or https:// URL",
                self.jwks_url
            ));
        }
        if self.algorithms.is_empty() {
            errs.push("auth.jwt.algorithms: name at least one algorithm".into());
        }
        if self.jwks_refresh_sec == 0 {
            errs.push("auth.jwt.jwks_refresh_sec must be at least 1".into());
        }
    }
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
            jwt: JwtConfig::default(),
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
        self.jwt.validate(errs);
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

    #[test]
    fn jwt_section_is_checked() {
        let mut errs = Vec::new();
        let jwt = JwtConfig {
            issuer: "https://idp".into(),
            algorithms: vec!["HS256".into(), "none".into()],
            role_map: [("x".to_string(), "root".to_string())].into(),
            jwks_url: "ftp://idp/keys".into(),
            ..JwtConfig::default()
        };
        jwt.validate(&mut errs);
        let all = errs.join("\n");
        for part in ["`HS256`", "`none`", "`root`", "audience", "ftp://"] {
            assert!(all.contains(part), "{part}: {all}");
        }
        errs.clear();
        let ok = JwtConfig {
            issuer: "https://idp".into(),
            audience: vec!["clio".into()],
            jwks_file: "/etc/jwks.json".into(),
            ..JwtConfig::default()
        };
        ok.validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let both = JwtConfig {
            jwks_url: "https://idp/keys".into(),
            ..ok
        };
        both.validate(&mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
    }
}
