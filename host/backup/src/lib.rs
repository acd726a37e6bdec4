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
pub mod pages;
mod prune;
mod seal;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::{BackupError, Result};
pub use key::{KEY_ENV, Key};
pub use prune::{Retention, prune, prune_with};

/// The manifest's format version. 2 added page maps, incremental backups (`base`, `image`).
pub const FORMAT: u32 = 2;
/// The name of the primary's snapshot in a snapshot directory and a backup.
pub const PRIMARY: &str = "primary.db";
/// The page map of the primary's snapshot, kept in every backup of format 2.
pub const PAGE_MAP: &str = "primary.pagemap";
/// The pages of the primary's snapshot that changed since the base (incremental backups).
pub const PAGE_DELTA: &str = "primary.pages";
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
    /// `full`, or `incremental` (holding the primary's pages changed since `base`).
    pub kind: String,
    /// The backup an incremental one builds on (itself full or incremental).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The primary's snapshot as taken: what a restore must rebuild, byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
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
    /// Set when the primary is a database server that backs up its history itself: the
    /// backup then holds no snapshot of it, only Clio's own files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_primary: Option<ExternalPrimary>,
}

/// A primary whose history this backup does not hold (PostgreSQL, InfluxDB): restore it
/// with the database's own tools to a moment at or after `pair_after_ms`, then this backup's
/// log, replayed at Clio's start, brings back what the database had not received by then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalPrimary {
    /// Its name in the configuration.
    pub name: String,
    /// Its type (`postgres`, `influxdb`).
    pub kind: String,
    /// The log was copied at this time (ms since the epoch, Clio's clock) while flushes
    /// waited: the database restored to any moment from then on holds every segment this
    /// backup's flush marks call flushed. Restoring it to an earlier moment loses the points
    /// flushed in between.
    pub pair_after_ms: i64,
    /// The same in words, for whoever opens the manifest.
    pub note: String,
}

impl ExternalPrimary {
    /// The entry for a primary `name` of type `kind` whose log was copied at `pair_after_ms`.
    pub fn new(name: &str, kind: &str, pair_after_ms: i64) -> ExternalPrimary {
        let tool = match kind {
            "postgres" => "pg_basebackup and WAL archiving",
            "influxdb" => "influxd backup -portable",
            _ => "the database's own backup tools",
        };
        ExternalPrimary {
            name: name.to_owned(),
            kind: kind.to_owned(),
            pair_after_ms,
            note: format!(
                "the history lives in the {kind} backend `{name}`, not in this backup: back it up with {tool} (a base backup taken after this one, or an older one with its archive), and restore it to a moment at or after pair_after_ms before starting Clio on this backup; Clio's log replay then brings back every point acknowledged before this backup"
            ),
        }
    }
}

/// The primary's snapshot file a backup was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Bytes per page.
    pub page_size: u32,
    /// Pages.
    pub pages: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Pages stored in this backup (all of them in a full one).
    pub pages_stored: u64,
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
    /// See [`Manifest::external_primary`].
    pub external_primary: Option<ExternalPrimary>,
}

/// Packs every file under `staging` into a new full backup under `dest` and returns its
/// manifest. `staging` is left as it was.
pub fn pack(
    staging: &Path,
    dest: &Path,
    info: &SnapshotInfo,
    key: Option<&Key>,
    level: i32,
) -> Result<Manifest> {
    pack_inner(staging, dest, info, key, level, None)
}

/// Packs `staging` into a new backup under `dest` that holds, of the primary's snapshot,
/// only the pages that changed since the backup `base` (an id under `dest`, full or itself
/// incremental); every other file is stored whole. Restoring it needs the whole chain.
pub fn pack_incremental(
    staging: &Path,
    dest: &Path,
    info: &SnapshotInfo,
    key: Option<&Key>,
    level: i32,
    base: &str,
) -> Result<Manifest> {
    pack_inner(staging, dest, info, key, level, Some(base))
}

/// The id of the newest backup under `dest` that a new one can be incremental on (one with
/// a page map).
pub fn latest_base(dest: &Path) -> Result<String> {
    list(dest)?
        .into_iter()
        .rev()
        .find(|m| m.files.iter().any(|f| f.name == PAGE_MAP))
        .map(|m| m.id)
        .ok_or_else(|| {
            BackupError::Invalid(format!(
                "{} holds no backup to build an incremental one on: take a full backup first",
                dest.display()
            ))
        })
}

fn pack_inner(
    staging: &Path,
    dest: &Path,
    info: &SnapshotInfo,
    key: Option<&Key>,
    level: i32,
    base: Option<&str>,
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
    if let (Some(_), Some(x)) = (base, &info.external_primary) {
        return Err(BackupError::Invalid(format!(
            "incremental backups hold the embedded store's changed pages; with the {} primary `{}` take full backups (they hold only Clio's log and state, and the database's own tools back up its history)",
            x.kind, x.name
        )));
    }
    // The base's page map, read (and checked) before anything is written.
    let base_map = match base {
        Some(b) => Some(base_page_map(dest, b, key)?),
        None => None,
    };
    mkdir(&partial)?;
    let suffix = if key.is_some() { ".zst.enc" } else { ".zst" };
    let result = (|| {
        let mut files = Vec::new();
        let mut image = None;
        let add = |name: &str, from: &Path, files: &mut Vec<FileEntry>| -> Result<()> {
            let stored = format!("{name}{suffix}");
            let to = partial.join(&stored);
            if let Some(parent) = to.parent() {
                mkdir(parent)?;
            }
            let s = seal::seal(from, &to, key, level)?;
            files.push(FileEntry {
                name: name.to_owned(),
                bytes: s.bytes,
                sha256: s.sha256,
                stored,
                stored_bytes: s.stored_bytes,
                stored_sha256: s.stored_sha256,
            });
            Ok(())
        };
        for name in walk(staging)? {
            let from = staging.join(&name);
            if name != PRIMARY {
                add(&name, &from, &mut files)?;
                continue;
            }
            let page_size = match (pages::sqlite_page_size(&from), &base_map) {
                // Blocks of at most 4 KiB: a change to one cell of a large page (the store
                // uses 16 KiB) leaves most of that page's bytes where they were.
                (Ok(ps), _) => Some(ps.min(pages::BLOCK)),
                // Only the embedded store's snapshot has pages to compare.
                (Err(e), Some(_)) => return Err(e),
                (Err(_), None) => None,
            };
            let Some(page_size) = page_size else {
                add(&name, &from, &mut files)?;
                continue;
            };
            let scanned = pages::scan(&from, page_size)?;
            let map_tmp = partial.join(".pagemap.tmp");
            write_synced(&map_tmp, &scanned.map.encode())?;
            add(PAGE_MAP, &map_tmp, &mut files)?;
            let _ = fs::remove_file(&map_tmp);
            let pages_stored = match &base_map {
                None => {
                    add(PRIMARY, &from, &mut files)?;
                    scanned.map.hashes.len() as u64
                }
                Some(bm) => {
                    let delta_tmp = partial.join(".pages.tmp");
                    let n = pages::write_delta(&from, &scanned.map, bm, &delta_tmp)?;
                    add(PAGE_DELTA, &delta_tmp, &mut files)?;
                    let _ = fs::remove_file(&delta_tmp);
                    n
                }
            };
            image = Some(Image {
                page_size,
                pages: scanned.map.hashes.len() as u64,
                bytes: scanned.bytes,
                sha256: scanned.sha256,
                pages_stored,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let manifest = Manifest {
            format: FORMAT,
            id: id.clone(),
            kind: if base.is_some() {
                "incremental"
            } else {
                "full"
            }
            .into(),
            base: base.map(str::to_owned),
            image,
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
            external_primary: info.external_primary.clone(),
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

/// Reads and checks the page map of the backup `id` under `dest`.
fn base_page_map(dest: &Path, id: &str, key: Option<&Key>) -> Result<pages::PageMap> {
    let dir = dest.join(id);
    let m = match read_manifest(&dir) {
        Err(BackupError::NotABackup(_)) => {
            return Err(BackupError::Invalid(format!(
                "the base backup {id} is not in {}",
                dest.display()
            )));
        }
        r => r?,
    };
    let key = usable_key(&m, key, true)?;
    let Some(f) = m.files.iter().find(|f| f.name == PAGE_MAP) else {
        return Err(BackupError::Invalid(format!(
            "backup {id} has no page map (made before incremental backups, or not of the embedded store): take a full backup first"
        )));
    };
    let bytes = read_checked(&dir, f, key)?;
    pages::PageMap::decode(&bytes, &f.stored)
}

/// A stored file's original, read whole and checked against the manifest.
fn read_checked(dir: &Path, f: &FileEntry, key: Option<&Key>) -> Result<Vec<u8>> {
    let mut r = seal::TallyRead::new(seal::open(&dir.join(&f.stored), key, &f.stored)?);
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| read_error(&f.stored, e))?;
    let (n, sum) = r.finish();
    check_original(f, n, &sum)?;
    Ok(out)
}

/// The backups an incremental one builds on, the full one first; empty for a full backup.
/// A missing link is an error naming it.
pub fn chain(dir: &Path, m: &Manifest) -> Result<Vec<(PathBuf, Manifest)>> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let mut out: Vec<(PathBuf, Manifest)> = Vec::new();
    let mut cur = m.clone();
    while let Some(base) = cur.base.clone() {
        if out.len() > 100_000 {
            return Err(BackupError::Invalid(format!(
                "backup {} has a chain without end",
                m.id
            )));
        }
        let d = parent.join(&base);
        let bm = match read_manifest(&d) {
            Err(BackupError::NotABackup(_)) => {
                return Err(BackupError::Invalid(format!(
                    "backup {} builds on {base}, which is missing from {}: the chain is broken",
                    cur.id,
                    parent.display()
                )));
            }
            r => r?,
        };
        if bm.created_ms >= cur.created_ms {
            return Err(BackupError::corrupt(
                &format!("{}/{MANIFEST}", cur.id),
                &format!("its base {base} is not older than itself"),
            ));
        }
        out.push((d, bm.clone()));
        cur = bm;
    }
    out.reverse();
    Ok(out)
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
    /// The backups an incremental one builds on, the full one first (each present).
    pub chain: Vec<String>,
}

/// Checks a backup: every stored file's checksum, and, when it can read them (not encrypted,
/// or encrypted and `key` given), every original's size and checksum.
pub fn verify(dir: &Path, key: Option<&Key>) -> Result<Verified> {
    let m = read_manifest(dir)?;
    let links = chain(dir, &m)?;
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
        chain: links.into_iter().map(|(_, l)| l.id).collect(),
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
    restore_with(dir, data_dir, primary_file, key, &mut |_| Ok(()))
}

/// [`restore`], with `prepare` called on the restored files (in the sibling directory)
/// before they are renamed into place: a point-in-time restore adds archived log segments
/// and cuts the log there. An error from `prepare` leaves nothing behind.
pub fn restore_with(
    dir: &Path,
    data_dir: &Path,
    primary_file: &str,
    key: Option<&Key>,
    prepare: &mut dyn FnMut(&Path) -> Result<()>,
) -> Result<Restored> {
    let m = read_manifest(dir)?;
    let key = usable_key(&m, key, true)?;
    let links = chain(dir, &m)?;
    for (_, l) in &links {
        usable_key(l, key, true)?;
    }
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
            if f.name == PAGE_MAP || f.name == PAGE_DELTA {
                continue;
            }
            let target = if f.name == PRIMARY {
                primary_file.to_owned()
            } else {
                f.name.clone()
            };
            bytes += unpack_to(dir, f, key, &tmp.join(&target))?;
        }
        if let Some((full_dir, full)) = links.first() {
            // An incremental backup: the full backup's snapshot, then every delta in order.
            let to = tmp.join(primary_file);
            let Some(f) = full.files.iter().find(|f| f.name == PRIMARY) else {
                return Err(BackupError::corrupt(
                    &format!("{}/{MANIFEST}", full.id),
                    "the chain's full backup holds no primary snapshot",
                ));
            };
            unpack_to(full_dir, f, usable_key(full, key, true)?, &to)?;
            for (d, l) in links[1..]
                .iter()
                .chain(std::iter::once(&(dir.to_path_buf(), m.clone())))
            {
                let Some(f) = l.files.iter().find(|f| f.name == PAGE_DELTA) else {
                    return Err(BackupError::corrupt(
                        &format!("{}/{MANIFEST}", l.id),
                        "an incremental backup without its page delta",
                    ));
                };
                let mut input = seal::TallyRead::new(seal::open(
                    &d.join(&f.stored),
                    usable_key(l, key, true)?,
                    &f.stored,
                )?);
                let what = format!("{}/{}", l.id, f.stored);
                pages::apply_delta(&mut input, &what, &to)?;
                let (n, sum) = input.finish();
                check_original(f, n, &sum)?;
            }
            let Some(img) = &m.image else {
                return Err(BackupError::corrupt(
                    &format!("{}/{MANIFEST}", m.id),
                    "an incremental backup without its image's checksum",
                ));
            };
            let got = pages::scan(&to, img.page_size)?;
            if got.bytes != img.bytes || got.sha256 != img.sha256 {
                return Err(BackupError::corrupt(
                    &format!("{}/{MANIFEST}", m.id),
                    "the snapshot rebuilt from the chain does not match the one backed up",
                ));
            }
            bytes += got.bytes;
        }
        prepare(&tmp)?;
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

/// Writes the original of the stored file `f` of the backup in `dir` to `to`, checked;
/// returns its bytes.
fn unpack_to(dir: &Path, f: &FileEntry, key: Option<&Key>, to: &Path) -> Result<u64> {
    if let Some(p) = to.parent() {
        mkdir(p)?;
    }
    let mut input = seal::TallyRead::new(seal::open(&dir.join(&f.stored), key, &f.stored)?);
    let mut out = fs::File::create(to).map_err(|e| BackupError::Io {
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
    Ok(n)
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
        let kind = if f.name == PRIMARY || f.name == PAGE_MAP || f.name == PAGE_DELTA {
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
            external_primary: None,
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

    #[test]
    fn a_backup_without_the_primarys_history_says_where_it_is_and_takes_no_increments() {
        let s = staging();
        fs::remove_file(s.path().join("primary.db")).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut i = info(1000);
        i.external_primary = Some(ExternalPrimary::new("pg", "postgres", 1001));
        let m = pack(s.path(), dest.path(), &i, None, 3).unwrap();
        assert!(m.image.is_none());
        assert_eq!(m.files.len(), 2);
        let read = read_manifest(&dest.path().join(&m.id)).unwrap();
        let x = read.external_primary.unwrap();
        assert_eq!((x.kind.as_str(), x.pair_after_ms), ("postgres", 1001));
        assert!(x.note.contains("pg_basebackup"), "{}", x.note);
        i.created_ms = 2000;
        let e = pack_incremental(s.path(), dest.path(), &i, None, 3, &m.id)
            .unwrap_err()
            .to_string();
        assert!(e.contains("take full backups"), "{e}");
        // A manifest written before the field existed still reads.
        let mut v: serde_json::Value =
            serde_json::from_slice(&fs::read(dest.path().join(&m.id).join(MANIFEST)).unwrap())
                .unwrap();
        v.as_object_mut().unwrap().remove("external_primary");
        let old: Manifest = serde_json::from_value(v).unwrap();
        assert!(old.external_primary.is_none());
        let out = tempfile::tempdir().unwrap();
        restore(
            &dest.path().join(&m.id),
            &out.path().join("d"),
            "clio.db",
            None,
        )
        .unwrap();
        assert!(out.path().join("d/catalog.json").exists());
        assert!(!out.path().join("d/clio.db").exists());
    }

    /// A file shaped like a SQLite database with 512-byte pages, page i filled with `fill[i]`.
    fn sqlite_like(path: &Path, fill: &[u8]) {
        let mut bytes = Vec::new();
        for &b in fill {
            bytes.extend(std::iter::repeat_n(b, 512));
        }
        bytes[..16].copy_from_slice(b"SQLite format 3\0");
        bytes[16..18].copy_from_slice(&512u16.to_be_bytes());
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn an_incremental_chain_restores_the_exact_snapshot_and_a_broken_one_nothing() {
        let s = staging();
        let dest = tempfile::tempdir().unwrap();
        let key = Key::generate();
        let primary = s.path().join("primary.db");
        sqlite_like(&primary, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let full = pack(s.path(), dest.path(), &info(1000), Some(&key), 3).unwrap();
        assert_eq!(full.image.as_ref().unwrap().pages_stored, 8);
        sqlite_like(&primary, &[1, 2, 9, 4, 5, 6, 7, 8, 10]);
        let base = latest_base(dest.path()).unwrap();
        assert_eq!(base, full.id);
        let inc1 =
            pack_incremental(s.path(), dest.path(), &info(2000), Some(&key), 3, &base).unwrap();
        // Page 0 (the header page here) is unchanged in this fake; pages 2 and 8 are new.
        assert_eq!(inc1.image.as_ref().unwrap().pages_stored, 2);
        assert_eq!(inc1.base.as_deref(), Some(full.id.as_str()));
        sqlite_like(&primary, &[1, 2, 9, 11, 5, 6]);
        let inc2 =
            pack_incremental(s.path(), dest.path(), &info(3000), Some(&key), 3, &inc1.id).unwrap();
        assert_eq!(inc2.image.as_ref().unwrap().pages_stored, 1);
        assert!(inc2.stored_bytes() < full.stored_bytes());
        let v = verify(&dest.path().join(&inc2.id), Some(&key)).unwrap();
        assert_eq!(v.chain, vec![full.id.clone(), inc1.id.clone()]);

        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("data");
        restore(&dest.path().join(&inc2.id), &target, "clio.db", Some(&key)).unwrap();
        assert_eq!(
            fs::read(target.join("clio.db")).unwrap(),
            fs::read(&primary).unwrap()
        );
        assert!(!target.join("primary.pagemap").exists());

        // A missing link: named, and nothing restored.
        fs::remove_dir_all(dest.path().join(&inc1.id)).unwrap();
        let t2 = out.path().join("again");
        let e = restore(&dest.path().join(&inc2.id), &t2, "clio.db", Some(&key))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&inc1.id) && e.contains("missing"), "{e}");
        assert!(!t2.exists());
        let e = verify(&dest.path().join(&inc2.id), Some(&key))
            .unwrap_err()
            .to_string();
        assert!(e.contains("chain is broken"), "{e}");
        // Not on a backup without a page map.
        let e = pack_incremental(s.path(), dest.path(), &info(4000), Some(&key), 3, "nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in"), "{e}");
    }
}
