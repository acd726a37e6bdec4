//! TLS to InfluxDB: rustls with the `ring` provider (as the server side), checking the
//! server's certificate against a configured CA file or the system's CA store.

use std::path::Path;
use std::sync::Arc;

use clio_storage::StorageError;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, StorageError> {
    #[expect(
        deprecated,
        reason = "ring lacks post-quantum key exchange; aws-lc-rs would add a cmake build"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::Other(format!("influxdb tls: {e}")))
}

/// The client configuration for `https` urls: trust `ca_file`'s certificates (PEM), or the
/// system's CA store when `None`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, StorageError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |why: String| {
                StorageError::InvalidInput(format!("influxdb ca_file {}: {why}", path.display()))
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<_, _>>()
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
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), |e| e.to_string());
                return Err(StorageError::InvalidInput(format!(
                    "influxdb https: the system's CA store gave no certificate ({why}); set ca_file"
                )));
            }
        }
    }
    Ok(builder()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A configuration for `http` urls, where TLS is never used (the connector needs one).
pub(crate) fn unused_config() -> Result<ClientConfig, StorageError> {
    Ok(builder()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}
