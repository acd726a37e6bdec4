//! `[tls]`: TLS on the HTTP and TCP front ends (rustls), from PEM certificate and key files
//! that are reloaded when they change.

use serde::Deserialize;

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first); empty: no TLS.
    #[serde(default)]
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: String,
    /// Serve HTTPS instead of HTTP.
    #[serde(default = "crate::default_true")]
    pub http: bool,
    /// Wrap the TCP (AlPz) front end in TLS too. ALEPIZ's IPC client speaks plain TCP: leave
    /// this off where it connects.
    #[serde(default)]
    pub tcp: bool,
    /// Seconds between checks of the files for a renewed certificate.
    #[serde(default = "default_reload")]
    pub reload_sec: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            http: true,
            tcp: false,
            reload_sec: default_reload(),
        }
    }
}

const fn default_reload() -> u64 {
    10
}

impl TlsConfig {
    /// Whether a certificate is configured.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            errs.push("tls.cert_file and tls.key_file go together".into());
        }
        if self.reload_sec == 0 {
            errs.push("tls.reload_sec must be at least 1".into());
        }
    }
}
