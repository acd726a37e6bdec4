//! TLS for the front ends (rustls with the ring provider): the acceptor built from
//! `[tls]`'s PEM files, swapped for a new one when the files change (certificate renewal
//! without a restart; a pair that fails to load is logged and the previous one stays).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Why a certificate and key do not load.
#[derive(Debug, thiserror::Error)]
#[error("TLS {what} {path}: {why}")]
pub struct TlsError {
    what: &'static str,
    path: PathBuf,
    why: String,
}

type Stamp = Option<(SystemTime, SystemTime)>;

/// The current acceptor of one certificate and key pair.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(TlsAcceptor, Stamp)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

/// Builds an acceptor from PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let err = |what, path: &Path, why: String| TlsError {
        what,
        path: path.to_owned(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err("certificate", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(err(
            "certificate",
            cert,
            "no certificate in the file".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| err("key", key, e.to_string()))?;
    #[allow(
        deprecated,
        reason = "ring lacks post-quantum key exchange; aws-lc-rs would add a cmake build"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("certificate", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| err("certificate", cert, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Tls {
    /// Loads the pair (an error stops the start).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Tls>, TlsError> {
        let a = acceptor(cert, key)?;
        Ok(Arc::new(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new((a, stamp(cert, key))),
        }))
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().0.clone()
    }

    /// Reloads the pair when either file changed.
    pub fn refresh(&self) {
        let now = stamp(&self.cert, &self.key);
        if now.is_none() || now == self.current.read().1 {
            return;
        }
        match acceptor(&self.cert, &self.key) {
            Ok(a) => {
                *self.current.write() = (a, now);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                // Keep serving with the old pair; say so once per change.
                self.current.write().1 = now;
                tracing::warn!(error = %e, "cannot reload the TLS certificate; keeping the previous one");
            }
        }
    }

    /// Checks the files every `every` until `stop`.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => self.refresh(),
            }
        }
    }
}
