//! The key of encrypted backups: 32 bytes, given as 64 hex digits in a file or in the
//! environment (`CLIO_BACKUP_KEY`).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{BackupError, Result};
use crate::seal::hex;

/// The environment variable a key may come from.
pub const KEY_ENV: &str = "CLIO_BACKUP_KEY";

/// A backup key.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

impl Key {
    /// A key from its bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Key(b)
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(BackupError::Key(format!(
                "a backup key is 64 hex digits (32 bytes); got {} characters",
                t.len()
            )));
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)
                .map_err(|_| BackupError::Key("a backup key is 64 hex digits".into()))?;
        }
        Ok(Key(out))
    }

    /// The key from `file` when given, else from [`KEY_ENV`] when set; `None` when neither.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>> {
        if let Some(f) = file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                BackupError::Key(format!("cannot read key file {}: {e}", f.display()))
            })?;
            return Key::from_hex(&text)
                .map(Some)
                .map_err(|e| BackupError::Key(format!("key file {}: {e}", f.display())));
        }
        match std::env::var(KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Key::from_hex(&v)
                .map(Some)
                .map_err(|e| BackupError::Key(format!("{KEY_ENV}: {e}"))),
            _ => Ok(None),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rng().fill_bytes(&mut b);
        Key(b)
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// A public name of the key (a hash, not the key): the manifest records it so that a
    /// wrong key is named before anything is decrypted.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"clio-backup-key-id");
        h.update(self.0);
        hex(&h.finalize()[..8])
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_name_themselves() {
        let k = Key::generate();
        let back = Key::from_hex(&format!("  {}\n", k.to_hex())).unwrap();
        assert_eq!(back.id(), k.id());
        assert_ne!(Key::generate().id(), k.id());
        assert!(
            Key::from_hex("abc")
                .unwrap_err()
                .to_string()
                .contains("64 hex")
        );
        assert!(Key::from_hex(&"g".repeat(64)).is_err());
    }
}
