//! Encryption at rest: the data keys and the sealing of what holds history (chunk bodies,
//! trend chunks, log records) with ChaCha20-Poly1305.
//!
//! A sealed item is
//!
//! ```text
//! 0xC5 | key id (8 bytes) | nonce (12 bytes, random per seal) | ciphertext | tag (16 bytes)
//! ```
//!
//! The caller's associated data (for a chunk: its series id and start) is authenticated but not
//! stored, so an item moved to another place fails its tag. The key id (the first 8 bytes of a
//! domain-separated SHA-256 of the key, not the key) names the key an item was sealed with, so
//! that after a rotation reads find the old key by id. Plain chunks start with the codec's
//! format version (1), never with `0xC5`.

use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The environment variable the current data key may come from.
pub const DATA_KEY_ENV: &str = "CLIO_DATA_KEY";

/// The first byte of every sealed item.
pub const SEALED_TAG: u8 = 0xC5;
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes a seal adds to an item.
pub const SEAL_OVERHEAD: usize = 1 + ID_LEN + NONCE_LEN + TAG_LEN;

/// Why sealing or opening failed, or a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A key file or the environment variable does not hold a usable key.
    #[error("data key: {0}")]
    Key(String),
    /// The item is sealed but no key is configured.
    #[error(
        "data is encrypted (key id {key_id}) but no data key is configured: set [storage] key_file or {DATA_KEY_ENV}"
    )]
    NoKey {
        /// The id the item names.
        key_id: String,
    },
    /// The item names a key that is not configured.
    #[error(
        "data is encrypted with key id {key_id}, which is neither the current key nor a previous key (configured: {configured}); wrong key, or set [storage] previous_key_file"
    )]
    UnknownKey {
        /// The id the item names.
        key_id: String,
        /// The ids that are configured.
        configured: String,
    },
    /// The tag did not verify: the item was changed, moved, or the key is wrong.
    #[error("sealed data fails authentication (changed, moved to another place, or a wrong key)")]
    Tampered,
    /// The item is shorter than a seal or does not start as one.
    #[error("{0}")]
    Malformed(String),
    /// A plain item where every item must be sealed.
    #[error("found unencrypted data in an encrypted store")]
    Plain,
}

/// A 32-byte data key.
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; 32],
    id: [u8; ID_LEN],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.id())
    }
}

impl DataKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"clio-data-key-id");
        h.update(bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&h.finalize()[..ID_LEN]);
        DataKey { bytes, id }
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(SealError::Key(format!(
                "a data key is 64 hex digits (32 bytes); got {} characters",
                t.len()
            )));
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)
                .map_err(|_| SealError::Key("a data key is 64 hex digits".into()))?;
        }
        Ok(DataKey::from_bytes(out))
    }

    /// The key in `file` (64 hex digits).
    pub fn from_file(file: &Path) -> Result<Self, SealError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| SealError::Key(format!("cannot read key file {}: {e}", file.display())))?;
        DataKey::from_hex(&text)
            .map_err(|e| SealError::Key(format!("key file {}: {e}", file.display())))
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rng().fill_bytes(&mut b);
        DataKey::from_bytes(b)
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.bytes)
    }

    /// The key's public name (16 hex digits of a hash, not the key).
    pub fn id(&self) -> String {
        hex(&self.id)
    }
}

/// The keys of a store: the current one seals, every one opens (found by id). No current key
/// means a plain store.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    current: Option<DataKey>,
    previous: Vec<DataKey>,
}

impl Keyring {
    /// No keys: data is written plain, and sealed data is refused.
    pub fn none() -> Self {
        Keyring::default()
    }

    /// `current` seals; `current` and `previous` open.
    pub fn new(current: DataKey, previous: Vec<DataKey>) -> Self {
        Keyring {
            current: Some(current),
            previous,
        }
    }

    /// The keys as configured: the current key from `key_file` when given, else from
    /// [`DATA_KEY_ENV`] when set; the previous key from `previous_key_file`. Neither: no
    /// keys. A previous key without a current one is an error (nothing would seal).
    pub fn load(
        key_file: Option<&Path>,
        previous_key_file: Option<&Path>,
    ) -> Result<Self, SealError> {
        let current = match key_file {
            Some(f) => Some(DataKey::from_file(f)?),
            None => match std::env::var(DATA_KEY_ENV) {
                Ok(v) if !v.trim().is_empty() => Some(
                    DataKey::from_hex(&v)
                        .map_err(|e| SealError::Key(format!("{DATA_KEY_ENV}: {e}")))?,
                ),
                _ => None,
            },
        };
        let previous = previous_key_file.map(DataKey::from_file).transpose()?;
        match (current, previous) {
            (None, None) => Ok(Keyring::none()),
            (None, Some(_)) => Err(SealError::Key(
                "previous_key_file is set but there is no current key (key_file or CLIO_DATA_KEY)"
                    .into(),
            )),
            (Some(c), p) => Ok(Keyring::new(c, p.into_iter().collect())),
        }
    }

    /// True when data is sealed.
    pub fn is_enabled(&self) -> bool {
        self.current.is_some()
    }

    /// The current key's id.
    pub fn current_id(&self) -> Option<String> {
        self.current.as_ref().map(DataKey::id)
    }

    /// True when a key of this id is configured.
    pub fn knows(&self, id: &str) -> bool {
        self.keys().any(|k| k.id() == id)
    }

    fn keys(&self) -> impl Iterator<Item = &DataKey> {
        self.current.iter().chain(self.previous.iter())
    }

    /// `plain` sealed under the current key with `aad`; `plain` itself without keys.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let Some(key) = &self.current else {
            return plain.to_vec();
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = ChaCha20Poly1305::new((&key.bytes).into());
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.push(SEALED_TAG);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        // Encrypting into memory cannot fail for inputs under 256 GiB (the AEAD's limit).
        match cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad }) {
            Ok(ct) => out.extend_from_slice(&ct),
            Err(_) => out.truncate(0),
        }
        out
    }

    /// The plain bytes of `data`. With keys, `data` must be sealed (under a configured key,
    /// with the same `aad`); without keys it must be plain.
    pub fn open(&self, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, SealError> {
        let sealed = is_sealed(data);
        if !self.is_enabled() {
            return match sealed_key_id(data) {
                Some(key_id) if sealed => Err(SealError::NoKey { key_id }),
                _ => Ok(data.to_vec()),
            };
        }
        if !sealed {
            return Err(SealError::Plain);
        }
        if data.len() < SEAL_OVERHEAD {
            return Err(SealError::Malformed(format!(
                "sealed data of {} bytes is shorter than a seal ({SEAL_OVERHEAD})",
                data.len()
            )));
        }
        let id = &data[1..1 + ID_LEN];
        let Some(key) = self.keys().find(|k| k.id == id) else {
            return Err(SealError::UnknownKey {
                key_id: hex(id),
                configured: self.keys().map(DataKey::id).collect::<Vec<_>>().join(", "),
            });
        };
        let nonce = &data[1 + ID_LEN..1 + ID_LEN + NONCE_LEN];
        let cipher = ChaCha20Poly1305::new((&key.bytes).into());
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &data[1 + ID_LEN + NONCE_LEN..],
                    aad,
                },
            )
            .map_err(|_| SealError::Tampered)
    }
}

/// True when `data` starts as a sealed item.
pub fn is_sealed(data: &[u8]) -> bool {
    data.first() == Some(&SEALED_TAG)
}

/// The key id a sealed item names (`None` for plain or too-short data).
pub fn sealed_key_id(data: &[u8]) -> Option<String> {
    (is_sealed(data) && data.len() > ID_LEN).then(|| hex(&data[1..1 + ID_LEN]))
}

/// The associated data of a point chunk: it belongs to this series at this start.
pub fn chunk_aad(series: u64, start_ts: i64) -> [u8; 17] {
    let mut a = [0u8; 17];
    a[0] = b'p';
    a[1..9].copy_from_slice(&series.to_le_bytes());
    a[9..17].copy_from_slice(&start_ts.to_le_bytes());
    a
}

/// The associated data of a trend chunk: series, interval and start.
pub fn trend_chunk_aad(series: u64, interval_ms: i64, start_ts: i64) -> [u8; 25] {
    let mut a = [0u8; 25];
    a[0] = b't';
    a[1..9].copy_from_slice(&series.to_le_bytes());
    a[9..17].copy_from_slice(&interval_ms.to_le_bytes());
    a[17..25].copy_from_slice(&start_ts.to_le_bytes());
    a
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seals_open_by_id_and_refuse_moves_and_wrong_keys() {
        let old = DataKey::generate();
        let new = DataKey::generate();
        let before = Keyring::new(old.clone(), vec![]);
        let sealed = before.seal(&chunk_aad(7, 100), b"hello 42.5");
        assert!(is_sealed(&sealed));
        assert_eq!(sealed.len(), 10 + SEAL_OVERHEAD);
        assert_eq!(sealed_key_id(&sealed).unwrap(), old.id());
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        assert_eq!(
            before.open(&chunk_aad(7, 100), &sealed).unwrap(),
            b"hello 42.5"
        );
        // Two seals of the same bytes differ (random nonce).
        assert_ne!(before.seal(b"", b"x"), before.seal(b"", b"x"));
        // Moved to another series or start: refused.
        assert_eq!(
            before.open(&chunk_aad(8, 100), &sealed),
            Err(SealError::Tampered)
        );
        assert_eq!(
            before.open(&chunk_aad(7, 101), &sealed),
            Err(SealError::Tampered)
        );
        // After rotation, the old key opens by id.
        let rotated = Keyring::new(new.clone(), vec![old.clone()]);
        assert_eq!(
            rotated.open(&chunk_aad(7, 100), &sealed).unwrap(),
            b"hello 42.5"
        );
        assert_eq!(sealed_key_id(&rotated.seal(b"", b"x")).unwrap(), new.id());
        // A wrong key names both ids; no key says how to give one.
        let wrong = Keyring::new(new.clone(), vec![]);
        let e = wrong.open(&chunk_aad(7, 100), &sealed).unwrap_err();
        assert!(matches!(e, SealError::UnknownKey { .. }), "{e}");
        assert!(e.to_string().contains(&old.id()) && e.to_string().contains(&new.id()));
        let e = Keyring::none()
            .open(&chunk_aad(7, 100), &sealed)
            .unwrap_err();
        assert!(e.to_string().contains("CLIO_DATA_KEY"), "{e}");
        // A plain chunk in an encrypted store is refused; plain passes without keys.
        assert_eq!(before.open(b"", &[1, 2, 3]), Err(SealError::Plain));
        assert_eq!(
            Keyring::none().open(b"", &[1, 2, 3]).unwrap(),
            vec![1, 2, 3]
        );
        // A flipped bit fails the tag.
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            before.open(&chunk_aad(7, 100), &bad),
            Err(SealError::Tampered)
        );
        assert!(matches!(
            before.open(b"", &[SEALED_TAG, 1]),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn keys_load_from_files_and_never_print_themselves() {
        let dir = std::env::temp_dir().join(format!("clio-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let k = DataKey::generate();
        let f = dir.join("k");
        std::fs::write(&f, format!("{}\n", k.to_hex())).unwrap();
        let ring = Keyring::load(Some(&f), None).unwrap();
        assert_eq!(ring.current_id().unwrap(), k.id());
        assert!(!format!("{ring:?}").contains(&k.to_hex()));
        std::fs::write(&f, "abc").unwrap();
        assert!(
            Keyring::load(Some(&f), None)
                .unwrap_err()
                .to_string()
                .contains("64 hex")
        );
        assert!(Keyring::load(Some(&dir.join("missing")), None).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
