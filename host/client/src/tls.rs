//! TLS for `https://` servers: rustls with the `ring` provider (as the server side), checking
//! the server's certificate against a CA file (a private authority, a self-signed
//! certificate) or the system's CA store.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::{Error, Result};

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    #[expect(
        deprecated,
        reason = "ring lacks post-quantum key exchange; aws-lc-rs would add a cmake build"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidRequest(format!("tls: {e}")))
}

/// The configuration for `https` servers: trust `ca_file`'s certificates (PEM), or the
/// system's CA store when `None`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad =
                |why: String| Error::InvalidRequest(format!("ca file {}: {why}", path.display()));
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| bad(format!("a certificate is not usable: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::InvalidRequest(
                    "https: the system's CA store gave no certificate; give a CA file".into(),
                ));
            }
        }
    }
    Ok(builder()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A configuration for `http` servers, where TLS is never used (the connector needs one).
pub(crate) fn unused_config() -> Result<ClientConfig> {
    Ok(builder()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}
