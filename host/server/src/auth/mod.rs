//! Identity: who a request comes from and what it may do. [`Authenticator`] turns the
//! credentials of a request (a token, or a user's name and password) into a [`Principal`]
//! with roles and a scope, reloading the token store when the CLI or the API changes it.
//! The checks themselves live in the one door, [`crate::door::Gate`].

pub mod audit;
pub mod jwt;
pub mod limits;
pub mod scope;
pub mod store;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clio_config::Config;
use parking_lot::{Mutex, RwLock};

pub use audit::Audit;
pub use scope::{IdRange, Role, Scope};
pub use store::{StoreError, TokenEntry, TokenFile, UserEntry};

use limits::{FailureThrottle, RateLimiter};

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// No credentials, with auth enabled: may use nothing that reaches the engine.
    Anonymous,
    /// Auth is off, or a TCP peer from `allow_unauthenticated_from`: everything.
    Trusted,
    /// A token.
    Token,
    /// A user's password.
    User,
    /// A JWT from the `[auth.jwt]` issuer.
    Jwt,
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Principal {
    /// For logs and the audit trail: `token:<id>` (never the token), `user:<name>`,
    /// `anonymous` or `trusted`.
    pub name: String,
    /// How it was established.
    pub kind: PrincipalKind,
    /// Its strongest role (roles grow: admin > write > read); `None` for anonymous.
    pub role: Option<Role>,
    /// Which series.
    pub scope: Scope,
}

impl Principal {
    /// Everything allowed (auth off, or a trusted TCP peer).
    pub fn trusted() -> Self {
        Principal {
            name: "trusted".into(),
            kind: PrincipalKind::Trusted,
            role: Some(Role::Admin),
            scope: Scope::default(),
        }
    }

    /// Nothing allowed.
    pub fn anonymous() -> Self {
        Principal {
            name: "anonymous".into(),
            kind: PrincipalKind::Anonymous,
            role: None,
            scope: Scope::default(),
        }
    }

    /// Whether the principal has `role` (or a stronger one).
    pub fn has(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r >= role)
    }
}

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing.
    None,
    /// A token.
    Token(String),
    /// A name and password (a user's; or any name with a token as the password).
    Password {
        /// The name.
        user: String,
        /// The password or token.
        password: String,
    },
}

/// Why authentication failed; the message is safe to show (it never repeats the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong, unknown or revoked credentials (401).
    Invalid(std::borrow::Cow<'static, str>),
    /// Too many failures from this address, or over the rate limit (429).
    Throttled(&'static str),
    /// The token store cannot be read (500).
    Store(String),
}

/// A verified password, remembered so that a user's every request does not pay for argon2.
type PasswordCache = HashMap<(String, String), ()>;

#[derive(Debug)]
struct Loaded {
    /// Live tokens by hash.
    tokens: HashMap<String, TokenEntry>,
    /// Revoked token hashes (to say "revoked" in the audit log).
    revoked: HashMap<String, TokenEntry>,
    users: HashMap<String, UserEntry>,
    /// The file's modification time and length when read.
    stamp: Option<(SystemTime, u64)>,
}

/// Authentication for the whole server: the token store, throttles and the audit log.
#[derive(Debug)]
pub struct Authenticator {
    enabled: bool,
    path: PathBuf,
    trusted_nets: Vec<(IpAddr, u8)>,
    loaded: RwLock<Loaded>,
    last_check: Mutex<Instant>,
    passwords: Mutex<PasswordCache>,
    per_token: RateLimiter<String>,
    per_address: RateLimiter<IpAddr>,
    failures: FailureThrottle,
    /// JWT verification, when `[auth.jwt]` names an issuer.
    jwt: Option<Arc<jwt::JwtVerifier>>,
    /// The audit log.
    pub audit: Audit,
}

/// How often the token file's stamp is looked at.
const RELOAD_CHECK: Duration = Duration::from_millis(500);

impl Authenticator {
    /// Reads the token store named by `[auth]` (a missing file is an empty store).
    pub fn new(config: &Config) -> Result<Arc<Self>, StoreError> {
        let a = &config.auth;
        let path = a.token_path(&config.data_dir);
        let audit_path = (!a.audit_file.is_empty()).then(|| PathBuf::from(&a.audit_file));
        let audit = Audit::open(audit_path.as_deref()).map_err(|source| StoreError::Io {
            path: audit_path.clone().unwrap_or_default(),
            source,
        })?;
        let me = Authenticator {
            enabled: a.enabled,
            trusted_nets: a
                .allow_unauthenticated_from
                .iter()
                .filter_map(|n| clio_config::parse_cidr(n))
                .collect(),
            loaded: RwLock::new(Loaded {
                tokens: HashMap::new(),
                revoked: HashMap::new(),
                users: HashMap::new(),
                stamp: None,
            }),
            last_check: Mutex::new(Instant::now()),
            passwords: Mutex::new(HashMap::new()),
            per_token: RateLimiter::new(a.rate_limit_per_token, a.rate_limit_burst),
            per_address: RateLimiter::new(a.rate_limit_per_address, a.rate_limit_burst),
            failures: FailureThrottle::new(
                a.failed_login_limit,
                Duration::from_secs(a.failed_login_window_sec),
            ),
            jwt: if a.enabled && a.jwt.enabled() {
                Some(
                    jwt::JwtVerifier::new(&a.jwt)
                        .map_err(|e| StoreError::Invalid(format!("[auth.jwt]: {e}")))?,
                )
            } else {
                None
            },
            audit,
            path,
        };
        if me.enabled {
            me.reload()?;
        }
        Ok(Arc::new(me))
    }

    /// An authenticator that refuses every credential (the token store could not be read):
    /// fails closed; a later readable store is picked up by the usual reload.
    pub fn refusing(config: &Config) -> Arc<Self> {
        let a = &config.auth;
        Arc::new(Authenticator {
            enabled: true,
            path: a.token_path(&config.data_dir),
            trusted_nets: Vec::new(),
            loaded: RwLock::new(Loaded {
                tokens: HashMap::new(),
                revoked: HashMap::new(),
                users: HashMap::new(),
                stamp: None,
            }),
            last_check: Mutex::new(Instant::now()),
            passwords: Mutex::new(HashMap::new()),
            per_token: RateLimiter::new(0, 1),
            per_address: RateLimiter::new(0, 1),
            failures: FailureThrottle::new(0, Duration::from_secs(1)),
            jwt: None,
            audit: Audit::default(),
        })
    }

    /// Whether `[auth] enabled`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The JWT verifier, when `[auth.jwt]` names an issuer (its URL refresher must be run).
    pub fn jwt(&self) -> Option<&Arc<jwt::JwtVerifier>> {
        self.jwt.as_ref()
    }

    /// The token store's file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    }

    /// Reads the token store again.
    pub fn reload(&self) -> Result<(), StoreError> {
        let stamp = self.stamp();
        let file = TokenFile::load(&self.path)?;
        let mut l = self.loaded.write();
        l.tokens.clear();
        l.revoked.clear();
        for t in file.tokens {
            if t.revoked.is_some() {
                l.revoked.insert(t.hash.clone(), t);
            } else {
                l.tokens.insert(t.hash.clone(), t);
            }
        }
        l.users = file
            .users
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
        l.stamp = stamp;
        self.passwords.lock().clear();
        tracing::info!(path = %self.path.display(), tokens = l.tokens.len(), users = l.users.len(),
                       "token store loaded");
        Ok(())
    }

    /// Reloads when the file changed since it was read (looked at twice a second at most).
    fn refresh(&self) {
        {
            let mut last = self.last_check.lock();
            if last.elapsed() < RELOAD_CHECK {
                return;
            }
            *last = Instant::now();
        }
        if self.stamp() != self.loaded.read().stamp
            && let Err(e) = self.reload()
        {
            // The previous contents stay in force: a damaged file locks nobody out.
            tracing::warn!(error = %e, "cannot reload the token store; keeping the previous one");
        }
    }

    /// Whether a TCP peer may skip the `auth` message.
    pub fn trusted_peer(&self, ip: IpAddr) -> bool {
        !self.enabled
            || self
                .trusted_nets
                .iter()
                .any(|n| clio_config::cidr_contains(*n, ip))
    }

    /// Checks the per-address rate limit.
    pub fn address_allowed(&self, ip: Option<IpAddr>) -> bool {
        ip.is_none_or(|ip| self.per_address.allow(&ip))
    }

    /// Checks the per-principal rate limit (trusted and anonymous principals are limited by
    /// address only).
    pub fn principal_allowed(&self, p: &Principal) -> bool {
        match p.kind {
            PrincipalKind::Token | PrincipalKind::User | PrincipalKind::Jwt => {
                self.per_token.allow(&p.name)
            }
            _ => true,
        }
    }

    /// The principal `creds` prove, or why not. Failures are counted per address (and then
    /// refused while over `failed_login_limit`); the caller audits them.
    pub fn authenticate(
        &self,
        creds: &Credentials,
        from: Option<IpAddr>,
    ) -> Result<Principal, AuthFailure> {
        if !self.enabled {
            return Ok(Principal::trusted());
        }
        if matches!(creds, Credentials::None) {
            return Ok(Principal::anonymous());
        }
        if let Some(ip) = from
            && self.failures.blocked(ip)
        {
            return Err(AuthFailure::Throttled(
                "too many failed authentications from this address; try again later",
            ));
        }
        self.refresh();
        let r = match creds {
            Credentials::None => Ok(Principal::anonymous()),
            Credentials::Token(t) => self.by_token(t),
            Credentials::Password { user, password } => {
                if password.starts_with(store::TOKEN_PREFIX) || jwt::looks_like_jwt(password) {
                    self.by_token(password)
                } else {
                    self.by_password(user, password)
                }
            }
        };
        if r.is_err()
            && let Some(ip) = from
        {
            self.failures.fail(ip);
        }
        r
    }

    fn by_token(&self, token: &str) -> Result<Principal, AuthFailure> {
        let token = token.trim();
        if jwt::looks_like_jwt(token) {
            return match &self.jwt {
                Some(v) => v
                    .verify(token)
                    .map_err(|why| AuthFailure::Invalid(why.into())),
                None => Err(AuthFailure::Invalid(
                    "JWTs are not accepted here ([auth.jwt] names no issuer)".into(),
                )),
            };
        }
        let hash = store::token_hash(token.trim());
        let l = self.loaded.read();
        match l.tokens.get(&hash) {
            Some(t) => Ok(Principal {
                name: format!("token:{}", t.id),
                kind: PrincipalKind::Token,
                role: t.roles.iter().copied().max(),
                scope: t.scope.clone(),
            }),
            None if l.revoked.contains_key(&hash) => {
                Err(AuthFailure::Invalid("the token was revoked".into()))
            }
            None => Err(AuthFailure::Invalid("unknown token".into())),
        }
    }

    fn by_password(&self, user: &str, password: &str) -> Result<Principal, AuthFailure> {
        let entry = self.loaded.read().users.get(user).cloned();
        let Some(u) = entry else {
            return Err(AuthFailure::Invalid("wrong user name or password".into()));
        };
        // The cache key holds a hash of the password, never the password.
        let key = (user.to_string(), store::token_hash(password));
        let known = self.passwords.lock().contains_key(&key);
        if !known {
            if !store::verify_password(password, &u.password) {
                return Err(AuthFailure::Invalid("wrong user name or password".into()));
            }
            let mut cache = self.passwords.lock();
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, ());
        }
        Ok(Principal {
            name: format!("user:{}", u.name),
            kind: PrincipalKind::User,
            role: u.roles.iter().copied().max(),
            scope: u.scope.clone(),
        })
    }

    /// Changes the token store (read, change, write atomically) and reloads it.
    pub fn modify<T>(
        &self,
        change: impl FnOnce(&mut TokenFile) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // One change at a time in this process; the CLI writes the same way (rename).
        static LOCK: Mutex<()> = Mutex::new(());
        let _g = LOCK.lock();
        let mut file = TokenFile::load(&self.path)?;
        let out = change(&mut file)?;
        file.save(&self.path)?;
        self.reload()?;
        Ok(out)
    }
}

/// Splits `Authorization` header text into credentials: `Token X`, `Bearer X`,
/// `Basic base64(user:password)`.
pub fn parse_authorization(value: &str) -> Option<Credentials> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" if !rest.is_empty() => Some(Credentials::Token(rest.to_string())),
        "basic" => {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (user, password) = text.split_once(':')?;
            Some(Credentials::Password {
                user: user.to_string(),
                password: password.to_string(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_schemes() {
        assert_eq!(
            parse_authorization("Token abc"),
            Some(Credentials::Token("abc".into()))
        );
        assert_eq!(
            parse_authorization("bearer abc"),
            Some(Credentials::Token("abc".into()))
        );
        // "alice:s3cret:x" — the password may hold colons.
        assert_eq!(
            parse_authorization("Basic YWxpY2U6czNjcmV0Ong="),
            Some(Credentials::Password {
                user: "alice".into(),
                password: "s3cret:x".into()
            })
        );
        assert_eq!(parse_authorization("Basic !!!"), None);
        assert_eq!(parse_authorization("Digest x"), None);
        assert_eq!(parse_authorization("Token"), None);
    }

    fn config(dir: &std::path::Path) -> Config {
        let mut c = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        c.auth.enabled = true;
        c.auth.failed_login_limit = 3;
        c
    }

    #[test]
    fn tokens_roles_revocation_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let auth = Authenticator::new(&cfg).unwrap();
        let token = auth
            .modify(|f| f.create_token("w", vec![Role::Write], Scope::default()))
            .unwrap()
            .0;
        let p = auth
            .authenticate(&Credentials::Token(token.clone()), None)
            .unwrap();
        assert!(p.has(Role::Read) && p.has(Role::Write) && !p.has(Role::Admin));
        assert!(!p.name.contains(&token));
        // Revoked by another process (the CLI): picked up on the next check.
        let mut f = TokenFile::load(auth.path()).unwrap();
        f.revoke("w").unwrap();
        std::thread::sleep(RELOAD_CHECK + Duration::from_millis(50));
        f.save(auth.path()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match auth.authenticate(&Credentials::Token(token.clone()), None) {
                Err(AuthFailure::Invalid(m)) => {
                    assert_eq!(m, "the token was revoked");
                    break;
                }
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                other => panic!("still accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn failures_throttle_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::new(&config(dir.path())).unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(matches!(
                auth.authenticate(&Credentials::Token("nope".into()), Some(ip)),
                Err(AuthFailure::Invalid(_))
            ));
        }
        assert!(matches!(
            auth.authenticate(&Credentials::Token("nope".into()), Some(ip)),
            Err(AuthFailure::Throttled(_))
        ));
        assert_eq!(
            auth.authenticate(&Credentials::None, Some(ip))
                .unwrap()
                .kind,
            PrincipalKind::Anonymous
        );
    }
}
