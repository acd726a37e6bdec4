//! OAuth2 / OIDC bearer tokens: JWTs signed by the issuer named in `[auth.jwt]`, verified
//! against its public keys (a JWKS from a file or a URL, refreshed), their roles and scope
//! taken from claims. Only asymmetric algorithms are accepted (the configured subset of
//! RS*/PS*/ES*/EdDSA): a shared secret (HS*) would let anyone holding the verification key
//! mint tokens, and `none` carries no signature at all.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use clio_config::JwtConfig;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use super::{Principal, PrincipalKind, Role, Scope};

/// Why a JWT cannot be used; safe to log (it never contains the token).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The key set cannot be read or fetched.
    #[error("JWKS {source_name}: {why}")]
    Unavailable {
        /// The file or URL.
        source_name: String,
        /// Why.
        why: String,
    },
}

/// The verification keys in force.
#[derive(Default)]
struct Keys {
    /// By key id.
    by_kid: HashMap<String, (DecodingKey, Option<String>)>,
    /// Keys without a `kid` (used only when the set holds exactly one key).
    anonymous: Vec<(DecodingKey, Option<String>)>,
    /// The file's modification time and length when read (file sources).
    stamp: Option<(SystemTime, u64)>,
    /// Whether a key set was ever loaded.
    loaded: bool,
}

/// Where the keys come from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Url(String),
}

/// Verifies JWTs for one issuer.
pub struct JwtVerifier {
    cfg: JwtConfig,
    algorithms: Vec<Algorithm>,
    source: Source,
    keys: RwLock<Keys>,
    last_check: Mutex<Instant>,
    /// When a token named an unknown key: the URL refresher fetches again (rate-limited).
    refetch: tokio::sync::Notify,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.cfg.issuer)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The shortest time between two fetches caused by unknown key ids.
const REFETCH_MIN: Duration = Duration::from_secs(10);
/// The largest JWKS document fetched.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Whether `text` looks like a JWT (three base64url parts), so that it is verified as one
/// rather than looked up as a Clio token.
pub fn looks_like_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl JwtVerifier {
    /// A verifier for `[auth.jwt]` (which must be enabled). A JWKS file is read now (an
    /// error stops the start); a URL is fetched by [`JwtVerifier::run_refresh`].
    pub fn new(cfg: &JwtConfig) -> Result<Arc<Self>, JwksError> {
        let algorithms = cfg
            .algorithms
            .iter()
            .filter_map(|a| a.parse::<Algorithm>().ok())
            .collect();
        let source = if cfg.jwks_file.is_empty() {
            Source::Url(cfg.jwks_url.clone())
        } else {
            Source::File(PathBuf::from(&cfg.jwks_file))
        };
        let me = Arc::new(JwtVerifier {
            cfg: cfg.clone(),
            algorithms,
            source,
            keys: RwLock::new(Keys::default()),
            last_check: Mutex::new(Instant::now()),
            refetch: tokio::sync::Notify::new(),
        });
        if let Source::File(path) = &me.source {
            me.load_file(path)?;
        }
        Ok(me)
    }

    /// Whether the keys come from a URL (then [`JwtVerifier::run_refresh`] must run).
    pub fn fetches(&self) -> bool {
        matches!(self.source, Source::Url(_))
    }

    fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    }

    fn load_file(&self, path: &std::path::Path) -> Result<(), JwksError> {
        let stamp = Self::file_stamp(path);
        let text = std::fs::read(path).map_err(|e| JwksError::Unavailable {
            source_name: path.display().to_string(),
            why: e.to_string(),
        })?;
        self.install(&text, &path.display().to_string(), stamp)
    }

    /// Parses a JWKS document and puts its usable keys in force.
    fn install(
        &self,
        text: &[u8],
        source_name: &str,
        stamp: Option<(SystemTime, u64)>,
    ) -> Result<(), JwksError> {
        let unavailable = |why: String| JwksError::Unavailable {
            source_name: source_name.to_string(),
            why,
        };
        let set: JwkSet =
            serde_json::from_slice(text).map_err(|e| unavailable(format!("not a JWKS: {e}")))?;
        let mut keys = Keys {
            stamp,
            loaded: true,
            ..Keys::default()
        };
        for jwk in &set.keys {
            // Keys of other kinds (HMAC secrets, encryption keys) are skipped, not fatal:
            // an issuer's set often holds more than signing keys.
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            if matches!(key.family(), jsonwebtoken::AlgorithmFamily::Hmac) {
                continue;
            }
            let alg = jwk.common.key_algorithm.map(|a| format!("{a:?}"));
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), (key, alg));
                }
                None => keys.anonymous.push((key, alg)),
            }
        }
        if keys.by_kid.is_empty() && keys.anonymous.is_empty() {
            return Err(unavailable("no usable signing key".into()));
        }
        tracing::info!(
            source = source_name,
            keys = keys.by_kid.len() + keys.anonymous.len(),
            "JWT verification keys loaded"
        );
        *self.keys.write() = keys;
        Ok(())
    }

    /// Re-reads a JWKS file that changed (looked at once a second at most).
    fn refresh_file(&self) {
        let Source::File(path) = &self.source else {
            return;
        };
        {
            let mut last = self.last_check.lock();
            if last.elapsed() < Duration::from_secs(1) {
                return;
            }
            *last = Instant::now();
        }
        if Self::file_stamp(path) != self.keys.read().stamp
            && let Err(e) = self.load_file(path)
        {
            tracing::warn!(error = %e, "cannot reload the JWKS; keeping the previous keys");
        }
    }

    /// Fetches the JWKS URL every `jwks_refresh_sec` (sooner, at most every 10 s, when a
    /// token names an unknown key) until `stop`. Failures are logged; the previous
    /// keys stay in force.
    pub async fn run_refresh(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let Source::Url(url) = self.source.clone() else {
            return;
        };
        let every = Duration::from_secs(self.cfg.jwks_refresh_sec.max(1));
        // The start fetched once already ([`JwtVerifier::fetch_now`]).
        let mut fetched = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
                _ = self.refetch.notified() => {
                    let wait = REFETCH_MIN.saturating_sub(fetched.elapsed());
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            match fetch(&url).await {
                Ok(body) => {
                    if let Err(e) = self.install(&body, &url, None) {
                        tracing::warn!(error = %e, "JWKS refused; keeping the previous keys");
                    }
                }
                Err(why) => tracing::warn!(url = %url, error = %why, "cannot fetch the JWKS"),
            }
            fetched = Instant::now();
        }
    }

    /// Fetches the URL once (for the start: the first tokens need keys).
    pub async fn fetch_now(&self) -> Result<(), JwksError> {
        let Source::Url(url) = &self.source else {
            return Ok(());
        };
        let body = fetch(url).await.map_err(|why| JwksError::Unavailable {
            source_name: url.clone(),
            why,
        })?;
        self.install(&body, url, None)
    }

    /// The principal a JWT proves, or why not (a reason safe to log and to answer).
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        self.refresh_file();
        let (alg, kid) = header(token)?;
        let Some(algorithm) = alg
            .parse::<Algorithm>()
            .ok()
            .filter(|a| self.algorithms.contains(a))
        else {
            return Err(if alg.eq_ignore_ascii_case("none") {
                "JWT: alg `none` (unsigned) is never accepted".into()
            } else {
                format!(
                    "JWT: algorithm `{}` is not accepted (auth.jwt.algorithms)",
                    clip(&alg)
                )
            });
        };
        let keys = self.keys.read();
        if !keys.loaded {
            self.refetch.notify_one();
            return Err("JWT: the issuer's keys are not loaded yet".into());
        }
        let entry = match &kid {
            Some(k) => keys.by_kid.get(k),
            None if keys.by_kid.len() + keys.anonymous.len() == 1 => keys
                .anonymous
                .first()
                .or_else(|| keys.by_kid.values().next()),
            None => return Err("JWT: no key id (kid) and the issuer has several keys".into()),
        };
        let Some((key, key_alg)) = entry else {
            self.refetch.notify_one();
            return Err(format!(
                "JWT: unknown key id `{}`",
                clip(kid.as_deref().unwrap_or(""))
            ));
        };
        if key_alg.as_deref().is_some_and(|a| a != alg) {
            return Err(format!(
                "JWT: key `{}` is not for `{alg}`",
                clip(kid.as_deref().unwrap_or(""))
            ));
        }
        let mut v = Validation::new(algorithm);
        v.algorithms = vec![algorithm];
        v.leeway = self.cfg.leeway_sec;
        v.validate_nbf = true;
        v.validate_exp = true;
        v.set_issuer(&[&self.cfg.issuer]);
        v.set_audience(&self.cfg.audience);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, key, &v).map_err(|e| {
            let why = match e.kind() {
                ErrorKind::InvalidSignature => "bad signature".to_string(),
                ErrorKind::ExpiredSignature => "expired (exp)".to_string(),
                ErrorKind::ImmatureSignature => "not yet valid (nbf)".to_string(),
                ErrorKind::InvalidAudience => "wrong audience (aud)".to_string(),
                ErrorKind::InvalidIssuer => "wrong issuer (iss)".to_string(),
                ErrorKind::MissingRequiredClaim(c) => format!("missing claim `{}`", clip(c)),
                ErrorKind::InvalidAlgorithm => "algorithm does not match the key".to_string(),
                ErrorKind::InvalidClaimFormat(c) => format!("malformed claim `{}`", clip(c)),
                _ => "malformed token".to_string(),
            };
            format!("JWT: {why}")
        })?;
        drop(keys);
        self.principal(&data.claims)
    }

    /// Roles, scope and name from verified claims.
    fn principal(&self, claims: &Value) -> Result<Principal, String> {
        let mut role = None;
        for v in claim_strings(claim(claims, &self.cfg.roles_claim)) {
            let r = match self.cfg.role_map.get(&v) {
                Some(mapped) => mapped.parse::<Role>().ok(),
                None => v.parse::<Role>().ok(),
            };
            role = role.max(r);
        }
        let mut scope = Scope::default();
        match claim(claims, &self.cfg.scope_claim) {
            None | Some(Value::Null) => {}
            Some(Value::Object(_)) => {
                let c = claim(claims, &self.cfg.scope_claim)
                    .cloned()
                    .unwrap_or_default();
                scope = serde_json::from_value(c)
                    .map_err(|e| format!("JWT: scope claim is not a scope: {e}"))?;
            }
            Some(other) => {
                let rules = claim_strings(Some(other));
                if rules.is_empty() {
                    // Fail closed: a scope claim that says nothing usable is not "everything".
                    return Err("JWT: scope claim is not a list of rules".into());
                }
                for rule in rules {
                    scope
                        .add_rule(&rule)
                        .map_err(|e| format!("JWT: scope claim: {e}"))?;
                }
            }
        }
        let subject = claim(claims, &self.cfg.subject_claim)
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "unknown".into());
        Ok(Principal {
            name: format!("jwt:{}", clip(&subject)),
            kind: PrincipalKind::Jwt,
            role,
            scope,
        })
    }
}

/// The header's `alg` and `kid`, read before any key is chosen (so that `none` and
/// unlisted algorithms are named in the refusal).
fn header(token: &str) -> Result<(String, Option<String>), String> {
    let first = token.split('.').next().unwrap_or("");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| "JWT: malformed header".to_string())?;
    let h: Value = serde_json::from_slice(&raw).map_err(|_| "JWT: malformed header".to_string())?;
    let alg = h
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("JWT: the header names no algorithm")?
        .to_string();
    let kid = h.get("kid").and_then(Value::as_str).map(str::to_string);
    Ok((alg, kid))
}

/// A claim by dotted path (`realm_access.roles`).
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

/// A claim's strings: an array's string items, or a space-separated string's words.
fn claim_strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Text from a token cut to something safe to log: printable, at most 64 characters.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// GETs a JWKS over HTTP or HTTPS (web PKI roots), bounded in time and size.
async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    tokio::time::timeout(Duration::from_secs(10), fetch_inner(url))
        .await
        .map_err(|_| "timed out after 10 s".to_string())?
}

async fn fetch_inner(url: &str) -> Result<Vec<u8>, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("the URL names no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, host.as_str())
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = if https {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[allow(
            deprecated,
            reason = "ring lacks post-quantum key exchange; aws-lc-rs would add a cmake build"
        )]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("bad host name: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(hyper_util::rt::TokioIo::new(stream), req).await?
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), req).await?
    };
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    Ok(body.to_bytes().to_vec())
}

async fn send<T>(
    io: T,
    req: hyper::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        // The connection ends with the one request; its error shows in the request's.
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape_and_claims() {
        assert!(looks_like_jwt("eyJhbGciOiJub25lIn0.eyJ9.sig-_"));
        assert!(!looks_like_jwt("clio_0123"));
        assert!(!looks_like_jwt("eyJ.a.b.c"));
        let c: Value =
            serde_json::json!({"realm_access": {"roles": ["x", "write"]}, "scope": "a b"});
        assert_eq!(
            claim_strings(claim(&c, "realm_access.roles")),
            ["x", "write"]
        );
        assert_eq!(claim_strings(claim(&c, "scope")), ["a", "b"]);
        assert!(claim(&c, "nope.x").is_none());
        assert_eq!(clip("a\nb"), "ab");
    }

    #[test]
    fn header_names_alg_and_kid() {
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","kid":"k1"}"#);
        assert_eq!(
            header(&format!("{h}.e30.")).unwrap(),
            ("none".to_string(), Some("k1".to_string()))
        );
        assert!(header("!!.e30.").is_err());
    }
}
