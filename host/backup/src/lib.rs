//! Clio's backups: a consistent set of files (taken by the engine, see
//! `clio_core::Store::snapshot_files`) packed into a backup directory, each file compressed
//! with zstd and, with a key, encrypted; a manifest with what the backup holds (Clio
//! version, log position, every file's size and SHA-256); listing, verification and restore
//! into an empty data directory, all or nothing.
//!
//! A backup directory `DEST/<id>/` holds `manifest.json` and one stored file per file of the
//! snapshot (`primary.db.zst`, `wal/00000000000000000003.wal.zst`, …; `.enc` appended when
//! encrypted). It is written as `DEST/.<id>.partial` and renamed when complete, so a listed
//! backup is always whole.
#![deny(missing_docs)]

mod error;
mod key;
mod seal;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::{BackupError, Result};
pub use key::{KEY_ENV, Key};

/// The manifest's format version.
pub const FORMAT: u32 = 1;
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path in the snapshot (and in the restored data directory, except the primary's
    /// snapshot, restored under the primary's file name).
    pub name: String,
    /// Bytes of the original.
    pub bytes: u64,
    /// SHA-256 of the original, hex.
    pub sha256: String,
    /// The stored file, relative to the backup directory.
    pub stored: String,
    /// Bytes as stored.
    pub stored_bytes: u64,
    /// SHA-256 of the stored file, hex.
    pub stored_sha256: String,
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The backup's name, e.g. `clio-20261205T120000.123Z`.
    pub id: String,
    /// `full` (incremental backups will say `incremental` and name their base).
    pub kind: String,
    /// The Clio version that wrote it.
    pub clio_version: String,
    /// When it was taken, ms since the epoch.
    pub created_ms: i64,
    /// `online` (through a running server) or `offline` (from a data directory).
    pub source: String,
    /// The log position the backup holds everything before: (segment, offset).
    pub position: (u64, u64),
    /// The last log segment held in full by the primary's snapshot.
    pub flushed_upto: u64,
    /// Milliseconds the server's flushes waited for the copy.
    pub flush_pause_ms: u64,
    /// `zstd`.
    pub compression: String,
    /// With encryption: the cipher and the key's id ([`Key::id`]).
    pub encryption: Option<Encryption>,
    /// The files.
    pub files: Vec<FileEntry>,
}

/// How a backup is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// `chacha20poly1305-stream`.
    pub cipher: String,
    /// The key's public id.
    pub key_id: String,
}

impl Manifest {
    /// Bytes of the originals.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
    /// Bytes as stored.
    pub fn stored_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.stored_bytes).sum()
    }
}

/// What [`pack`] is told about the snapshot it packs.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    /// `online` or `offline`.
    pub source: String,
    /// See [`Manifest::position`].
    pub position: (u64, u64),
    /// See [`Manifest::flushed_upto`].
    pub flushed_upto: u64,
    /// See [`Manifest::flush_pause_ms`].
    pub flush_pause_ms: u64,
    /// The time the backup is named after, ms since the epoch.
    pub created_ms: i64,
}

/// Packs every file under `staging` into a new backup under `dest` and returns its
/// manifest. `staging` is left as it was.
pub fn pack(
    staging: &Path,
    dest: &Path,
    info: &SnapshotInfo,
    key: Option<&Key>,
    level: i32,
) -> Result<Manifest> {
    let id = backup_id(info.created_ms);
    let partial = dest.join(format!(".{id}.partial"));
    let done = dest.join(&id);
    if done.exists() {
        return Err(BackupError::Invalid(format!(
            "{} exists already",
            done.display()
        )));
    }
    mkdir(&partial)?;
    let result = (|| {
        let mut files = Vec::new();
        for name in walk(staging)? {
            let suffix = if key.is_some() { ".zst.enc" } else { ".zst" };
            let stored = format!("{name}{suffix}");
            let to = partial.join(&stored);
            if let Some(parent) = to.parent() {
                mkdir(parent)?;
            }
            let s = seal::seal(&staging.join(&name), &to, key, level)?;
            files.push(FileEntry {
                name,
                bytes: s.bytes,
                sha256: s.sha256,
                stored,
                stored_bytes: s.stored_bytes,
                stored_sha256: s.stored_sha256,
            });
        }
        let manifest = Manifest {
            format: FORMAT,
            id: id.clone(),
            kind: "full".into(),
            clio_version: env!("CARGO_PKG_VERSION").into(),
            created_ms: info.created_ms,
            source: info.source.clone(),
            position: info.position,
            flushed_upto: info.flushed_upto,
            flush_pause_ms: info.flush_pause_ms,
            compression: "zstd".into(),
            encryption: key.map(|k| Encryption {
                cipher: "chacha20poly1305-stream".into(),
                key_id: k.id(),
            }),
            files,
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| BackupError::Invalid(format!("cannot write the manifest: {e}")))?;
        write_synced(&partial.join(MANIFEST), &text)?;
        fs::rename(&partial, &done).map_err(|e| BackupError::Io {
            what: format!("renaming {} to {}", partial.display(), done.display()),
            source: e,
        })?;
        sync_dir(dest);
        Ok(manifest)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    result
}

/// The manifest of the backup in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::NotABackup(dir.to_owned()));
        }
        Err(e) => {
            return Err(BackupError::Io {
                what: format!("reading {}", path.display()),
                source: e,
            });
        }
    };
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::corrupt(&path.display().to_string(), &e.to_string()))?;
    if m.format > FORMAT {
        return Err(BackupError::Invalid(format!(
            "{} is backup format {}, newer than this Clio reads ({FORMAT})",
            dir.display(),
            m.format
        )));
    }
    Ok(m)
}

/// The complete backups under `dest`, oldest first (a missing `dest` has none).
pub fn list(dest: &Path) -> Result<Vec<Manifest>> {
    let rd = match fs::read_dir(dest) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(BackupError::Io {
                what: format!("reading {}", dest.display()),
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !ent.path().join(MANIFEST).is_file() {
            continue;
        }
        out.push(read_manifest(&ent.path())?);
    }
    out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(out)
}

/// What [`verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Files checked.
    pub files: usize,
    /// Original bytes read back (0 when only stored checksums were checked).
    pub bytes: u64,
    /// True when the originals were read back (decrypted, decompressed) and their
    /// checksums compared; false when only the stored files' checksums were (an encrypted
    /// backup without its key).
    pub deep: bool,
}

/// Checks a backup: every stored file's checksum, and, when it can read them (not encrypted,
/// or encrypted and `key` given), every original's size and checksum.
pub fn verify(dir: &Path, key: Option<&Key>) -> Result<Verified> {
    let m = read_manifest(dir)?;
    let key = usable_key(&m, key, false)?;
    let deep = m.encryption.is_none() || key.is_some();
    let mut bytes = 0;
    for f in &m.files {
        let stored = dir.join(&f.stored);
        let mut r = seal::TallyRead::new(fs::File::open(&stored).map_err(|e| BackupError::Io {
            what: format!("opening {}", stored.display()),
            source: e,
        })?);
        io::copy(&mut r, &mut io::sink()).map_err(|e| BackupError::Io {
            what: format!("reading {}", stored.display()),
            source: e,
        })?;
        let (n, sum) = r.finish();
        if n != f.stored_bytes || sum != f.stored_sha256 {
            return Err(BackupError::corrupt(
                &f.stored,
                "its checksum does not match the manifest: the file was changed or damaged",
            ));
        }
        if deep {
            let (n, sum) = read_original(dir, f, key)?;
            check_original(f, n, &sum)?;
            bytes += n;
        }
    }
    Ok(Verified {
        files: m.files.len(),
        bytes,
        deep,
    })
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The backup restored.
    pub id: String,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Restores the backup in `dir` into `data_dir`, which must not exist or be empty. The
/// primary's snapshot becomes `primary_file` (relative to `data_dir`, e.g. `clio.db`).
/// Everything is written and checked in a sibling directory first and renamed into place:
/// a failed restore leaves `data_dir` as it was.
pub fn restore(
    dir: &Path,
    data_dir: &Path,
    primary_file: &str,
    key: Option<&Key>,
) -> Result<Restored> {
    let m = read_manifest(dir)?;
    let key = usable_key(&m, key, true)?;
    if data_dir.exists() {
        let empty = fs::read_dir(data_dir)
            .map_err(|e| BackupError::Io {
                what: format!("reading {}", data_dir.display()),
                source: e,
            })?
            .next()
            .is_none();
        if !empty {
            return Err(BackupError::Invalid(format!(
                "{} is not empty: restore only into a new or empty directory",
                data_dir.display()
            )));
        }
    }
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    mkdir(&parent)?;
    let leaf = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let tmp = parent.join(format!(".{leaf}.restoring-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    mkdir(&tmp)?;
    let result = (|| {
        let mut bytes = 0;
        for f in &m.files {
            let target = if f.name == "primary.db" {
                primary_file.to_owned()
            } else {
                f.name.clone()
            };
            let to = tmp.join(&target);
            if let Some(p) = to.parent() {
                mkdir(p)?;
            }
            let mut input = seal::TallyRead::new(seal::open(&dir.join(&f.stored), key, &f.stored)?);
            let mut out = fs::File::create(&to).map_err(|e| BackupError::Io {
                what: format!("creating {}", to.display()),
                source: e,
            })?;
            io::copy(&mut input, &mut out).map_err(|e| read_error(&f.stored, e))?;
            out.sync_all().map_err(|e| BackupError::Io {
                what: format!("syncing {}", to.display()),
                source: e,
            })?;
            let (n, sum) = input.finish();
            check_original(f, n, &sum)?;
            bytes += n;
        }
        if data_dir.exists() {
            fs::remove_dir(data_dir).map_err(|e| BackupError::Io {
                what: format!("replacing the empty {}", data_dir.display()),
                source: e,
            })?;
        }
        fs::rename(&tmp, data_dir).map_err(|e| BackupError::Io {
            what: format!("renaming {} to {}", tmp.display(), data_dir.display()),
            source: e,
        })?;
        sync_dir(&parent);
        Ok(Restored {
            id: m.id.clone(),
            files: m.files.len(),
            bytes,
        })
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Removes all but the newest `keep` backups under `dest`; returns the ids removed.
pub fn prune(dest: &Path, keep: usize) -> Result<Vec<String>> {
    let all = list(dest)?;
    let n = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for m in all.into_iter().take(n) {
        let path = dest.join(&m.id);
        fs::remove_dir_all(&path).map_err(|e| BackupError::Io {
            what: format!("removing {}", path.display()),
            source: e,
        })?;
        removed.push(m.id);
    }
    Ok(removed)
}

fn usable_key<'k>(m: &Manifest, key: Option<&'k Key>, needed: bool) -> Result<Option<&'k Key>> {
    match (&m.encryption, key) {
        (None, _) => Ok(None),
        (Some(e), Some(k)) if e.key_id == k.id() => Ok(Some(k)),
        (Some(e), Some(k)) => Err(BackupError::Key(format!(
            "backup {} was encrypted with key {}, not with the key given ({})",
            m.id,
            e.key_id,
            k.id()
        ))),
        (Some(e), None) if needed => Err(BackupError::Key(format!(
            "backup {} is encrypted (key {}): give --key-file or {KEY_ENV}",
            m.id, e.key_id
        ))),
        (Some(_), None) => Ok(None),
    }
}

fn read_original(dir: &Path, f: &FileEntry, key: Option<&Key>) -> Result<(u64, String)> {
    let mut r = seal::TallyRead::new(seal::open(&dir.join(&f.stored), key, &f.stored)?);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(&f.stored, e)),
        }
    }
    Ok(r.finish())
}

fn check_original(f: &FileEntry, n: u64, sum: &str) -> Result<()> {
    if n != f.bytes || sum != f.sha256 {
        return Err(BackupError::corrupt(
            &f.stored,
            "what it holds does not match the manifest's checksum",
        ));
    }
    Ok(())
}

fn read_error(file: &str, e: io::Error) -> BackupError {
    if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
        BackupError::corrupt(file, &e.to_string())
    } else {
        BackupError::Io {
            what: format!("reading {file}"),
            source: e,
        }
    }
}

/// Every file under `root`, relative, `/`-separated, sorted.
fn walk(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = fs::read_dir(&dir).map_err(|e| BackupError::Io {
            what: format!("reading {}", dir.display()),
            source: e,
        })?;
        for ent in rd {
            let ent = ent.map_err(|e| BackupError::Io {
                what: format!("reading {}", dir.display()),
                source: e,
            })?;
            let r = rel.join(ent.file_name());
            let ft = ent.file_type().map_err(|e| BackupError::Io {
                what: format!("reading {}", dir.display()),
                source: e,
            })?;
            if ft.is_dir() {
                stack.push(r);
            } else if ft.is_file() {
                let parts: Vec<String> = r
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| BackupError::Io {
        what: format!("creating {}", p.display()),
        source: e,
    })
}

fn write_synced(p: &Path, data: &[u8]) -> Result<()> {
    let io = |e| BackupError::Io {
        what: format!("writing {}", p.display()),
        source: e,
    };
    let mut f = fs::File::create(p).map_err(io)?;
    io::Write::write_all(&mut f, data).map_err(io)?;
    f.sync_all().map_err(io)
}

fn sync_dir(p: &Path) {
    if let Ok(f) = fs::File::open(p) {
        let _ = f.sync_all();
    }
}

/// `clio-YYYYMMDDTHHMMSS.mmmZ` for a time in ms since the epoch (UTC).
pub fn backup_id(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "clio-{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{milli:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Sizes by file kind, for summaries: `primary`, `log`, `other`.
pub fn sizes_by_kind(m: &Manifest) -> BTreeMap<&'static str, (u64, u64)> {
    let mut out: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for f in &m.files {
        let kind = if f.name == "primary.db" {
            "primary"
        } else if f.name.starts_with("wal/") {
            "log"
        } else {
            "other"
        };
        let e = out.entry(kind).or_default();
        e.0 += f.bytes;
        e.1 += f.stored_bytes;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("primary.db"), vec![3u8; 100_000]).unwrap();
        fs::create_dir(d.path().join("wal")).unwrap();
        fs::write(d.path().join("wal/00000000000000000001.wal"), b"log one").unwrap();
        fs::write(d.path().join("catalog.json"), b"[]").unwrap();
        d
    }

    fn info(ms: i64) -> SnapshotInfo {
        SnapshotInfo {
            source: "offline".into(),
            position: (1, 7),
            flushed_upto: 0,
            flush_pause_ms: 0,
            created_ms: ms,
        }
    }

    #[test]
    fn ids_are_utc_times() {
        assert_eq!(backup_id(0), "clio-19700101T000000.000Z");
        assert_eq!(backup_id(1_764_936_000_123), "clio-20251205T120000.123Z");
    }

    #[test]
    fn pack_list_verify_restore_prune() {
        let s = staging();
        let dest = tempfile::tempdir().unwrap();
        let key = Key::generate();
        let a = pack(s.path(), dest.path(), &info(1000), None, 3).unwrap();
        let b = pack(s.path(), dest.path(), &info(2000), Some(&key), 3).unwrap();
        assert_eq!(a.files.len(), 3);
        assert!(a.stored_bytes() < a.bytes());
        let ids: Vec<_> = list(dest.path())
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec![a.id.clone(), b.id.clone()]);
        assert!(verify(&dest.path().join(&a.id), None).unwrap().deep);
        assert!(!verify(&dest.path().join(&b.id), None).unwrap().deep);
        assert!(verify(&dest.path().join(&b.id), Some(&key)).unwrap().deep);
        let e = verify(&dest.path().join(&b.id), Some(&Key::generate()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not with the key given"), "{e}");

        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("data");
        let e = restore(&dest.path().join(&b.id), &target, "clio.db", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is encrypted"), "{e}");
        assert!(!target.exists(), "nothing half-restored");
        let r = restore(&dest.path().join(&b.id), &target, "clio.db", Some(&key)).unwrap();
        assert_eq!(r.files, 3);
        assert_eq!(
            fs::read(target.join("clio.db")).unwrap(),
            vec![3u8; 100_000]
        );
        assert_eq!(
            fs::read(target.join("wal/00000000000000000001.wal")).unwrap(),
            b"log one"
        );
        let e = restore(&dest.path().join(&a.id), &target, "clio.db", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not empty"), "{e}");

        // A damaged file: named by verify, and a restore leaves nothing behind.
        let stored = dest
            .path()
            .join(&a.id)
            .join("wal/00000000000000000001.wal.zst");
        let mut bytes = fs::read(&stored).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&stored, &bytes).unwrap();
        let e = verify(&dest.path().join(&a.id), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wal/00000000000000000001.wal.zst") && e.contains("checksum"),
            "{e}"
        );
        let t2 = out.path().join("again");
        assert!(restore(&dest.path().join(&a.id), &t2, "clio.db", None).is_err());
        assert!(!t2.exists());
        let leftovers: Vec<_> = fs::read_dir(out.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");

        assert_eq!(prune(dest.path(), 1).unwrap(), vec![a.id.clone()]);
        assert_eq!(list(dest.path()).unwrap().len(), 1);
        let e = read_manifest(out.path()).unwrap_err().to_string();
        assert!(e.contains("not a Clio backup"), "{e}");
    }
}
