//! The token and user store: a JSON file in the data directory, written atomically (temporary
//! file, fsync, rename) by the CLI or the tokens API, and reloaded by a running server when it
//! changes. Secrets are never stored: tokens as SHA-256 of the 256-bit random token, user
//! passwords as argon2id PHC strings.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::scope::{Role, Scope};

/// What the token store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be read or written.
    #[error("token store {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a token store.
    #[error("token store {path} is damaged: {why}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A request the store refuses (duplicate name, unknown token...).
    #[error("{0}")]
    Invalid(String),
}

/// The prefix of every token, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "clio_";

/// One token as stored (its hash, never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Public id (the first 12 hex digits of the hash): what `list` shows and `revoke` takes.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Which series.
    #[serde(default)]
    pub scope: Scope,
    /// Creation time, ms since the epoch.
    pub created: i64,
    /// Revocation time, when revoked (kept so that the audit trail can name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<i64>,
}

/// One user as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name.
    pub name: String,
    /// argon2id PHC string of the password.
    pub password: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Which series.
    #[serde(default)]
    pub scope: Scope,
    /// Creation time, ms since the epoch.
    pub created: i64,
}

/// The file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// Tokens, revoked ones included.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

/// Hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A new random token (256 bits from the operating system's generator).
pub fn new_token() -> String {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    format!("{TOKEN_PREFIX}{}", hex(&secret))
}

fn now_ms() -> i64 {
    clio_core::now_ms()
}

impl TokenFile {
    /// Reads the file; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<TokenFile, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Damaged {
                path: path.to_owned(),
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(source) => Err(StoreError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes the file atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(&text).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Adds a token and returns it with its entry: the only time the token is seen.
    pub fn create_token(
        &mut self,
        name: &str,
        roles: Vec<Role>,
        scope: Scope,
    ) -> Result<(String, TokenEntry), StoreError> {
        check_name(name)?;
        if roles.is_empty() {
            return Err(StoreError::Invalid("give a token at least one role".into()));
        }
        let token = new_token();
        let hash = token_hash(&token);
        let entry = TokenEntry {
            id: hash[..12].to_string(),
            name: name.to_string(),
            hash,
            roles,
            scope,
            created: now_ms(),
            revoked: None,
        };
        self.tokens.push(entry.clone());
        Ok((token, entry))
    }

    /// Revokes the live tokens whose id or name is `which`; returns them.
    pub fn revoke(&mut self, which: &str) -> Result<Vec<TokenEntry>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        for t in &mut self.tokens {
            if t.revoked.is_none() && (t.id == which || t.name == which) {
                t.revoked = Some(now);
                out.push(t.clone());
            }
        }
        if out.is_empty() {
            return Err(StoreError::Invalid(format!(
                "no live token with id or name `{which}`"
            )));
        }
        Ok(out)
    }

    /// Adds a user.
    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        roles: Vec<Role>,
        scope: Scope,
    ) -> Result<(), StoreError> {
        check_name(name)?;
        if name.contains(':') {
            return Err(StoreError::Invalid("a user name cannot contain `:`".into()));
        }
        if self.users.iter().any(|u| u.name == name) {
            return Err(StoreError::Invalid(format!("user `{name}` exists")));
        }
        if roles.is_empty() {
            return Err(StoreError::Invalid("give a user at least one role".into()));
        }
        self.users.push(UserEntry {
            name: name.to_string(),
            password: hash_password(password)?,
            roles,
            scope,
            created: now_ms(),
        });
        Ok(())
    }

    /// Changes a user's password.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), StoreError> {
        let hashed = hash_password(password)?;
        let u = self
            .users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| StoreError::Invalid(format!("no user `{name}`")))?;
        u.password = hashed;
        Ok(())
    }

    /// Removes a user.
    pub fn delete_user(&mut self, name: &str) -> Result<(), StoreError> {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        if self.users.len() == before {
            return Err(StoreError::Invalid(format!("no user `{name}`")));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a name must be 1 to 200 printable characters".into(),
        ));
    }
    Ok(())
}

/// argon2id with the crate's default (OWASP) parameters and a random salt.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    if password.len() < 8 {
        return Err(StoreError::Invalid(
            "a password must have at least 8 characters".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches an argon2 PHC string (a damaged string matches nothing).
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        let mut f = TokenFile::load(&path).unwrap();
        let (token, entry) = f
            .create_token("ci", vec![Role::Write], Scope::default())
            .unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        f.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&token[TOKEN_PREFIX.len()..]),
            "the secret is on disk"
        );
        assert!(text.contains(&token_hash(&token)));
        let mut g = TokenFile::load(&path).unwrap();
        assert_eq!(g.tokens.len(), 1);
        g.revoke(&entry.id).unwrap();
        assert!(g.revoke(&entry.id).is_err(), "revoked twice");
        assert!(g.tokens[0].revoked.is_some());
    }

    #[test]
    fn passwords_verify() {
        let mut f = TokenFile::default();
        f.add_user("alice", "correct horse", vec![Role::Read], Scope::default())
            .unwrap();
        assert!(
            f.add_user("alice", "another one", vec![Role::Read], Scope::default())
                .is_err()
        );
        assert!(
            f.add_user("bob", "short", vec![Role::Read], Scope::default())
                .is_err()
        );
        let phc = &f.users[0].password;
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", phc));
        assert!(!verify_password("wrong horse", phc));
        assert!(!verify_password("x", "not a hash"));
    }
}
