//! Page maps and page deltas of the primary's snapshot: what makes a backup incremental.
//!
//! The embedded store's snapshot is a page-for-page copy of its SQLite file (SQLite's online
//! backup API), so a page keeps its number from one snapshot to the next and an unchanged
//! page has unchanged bytes. A backup stores the snapshot's *page map* (a 16-byte hash per
//! page); the next backup, made incremental on it, compares its own snapshot's pages with
//! that map and stores only the pages that differ (a *page delta*). A restore writes the
//! full backup's file, applies each delta of the chain in order, cuts the file to the last
//! delta's page count and checks the result against the SHA-256 of the snapshot the last
//! backup was taken from: a chain restores to exactly the bytes a full backup would hold.
//!
//! Formats (little-endian):
//! - page map: `CLIOPMAP`, `u32` page size, `u64` page count, then 16 bytes per page (the
//!   first half of the page's SHA-256);
//! - page delta: `CLIOPDEL`, `u32` page size, `u64` page count of the new file, then records
//!   of `u64` page index (from 0) and the page's bytes, in ascending page order.

use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{BackupError, Result};

/// The largest unit a page map hashes: a page of the file, or a 4 KiB part of a larger one.
/// "Page" below means this unit.
pub const BLOCK: u32 = 4096;
/// Bytes of one page's hash in a page map.
pub const HASH_LEN: usize = 16;
const MAP_MAGIC: &[u8; 8] = b"CLIOPMAP";
const DELTA_MAGIC: &[u8; 8] = b"CLIOPDEL";
/// SQLite allows 512..=65536.
const MIN_PAGE: u32 = 512;
const MAX_PAGE: u32 = 65536;

/// The pages of one snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMap {
    /// Bytes per page.
    pub page_size: u32,
    /// One hash per page.
    pub hashes: Vec<[u8; HASH_LEN]>,
}

/// What [`scan`] read of a snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Its page map.
    pub map: PageMap,
    /// Its length in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

fn io_err(what: String) -> impl FnOnce(io::Error) -> BackupError {
    move |source| BackupError::Io { what, source }
}

/// The page size a SQLite file's header declares.
pub fn sqlite_page_size(path: &Path) -> Result<u32> {
    let mut head = [0u8; 100];
    let mut f = fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    f.read_exact(&mut head)
        .map_err(io_err(format!("reading the header of {}", path.display())))?;
    if &head[..16] != b"SQLite format 3\0" {
        return Err(BackupError::Invalid(format!(
            "{} is not a SQLite file: only the embedded store's snapshots can be backed up incrementally",
            path.display()
        )));
    }
    let raw = u32::from(u16::from_be_bytes([head[16], head[17]]));
    let size = if raw == 1 { 65536 } else { raw };
    check_page_size(size, &path.display().to_string())?;
    Ok(size)
}

fn check_page_size(size: u32, what: &str) -> Result<()> {
    if !(MIN_PAGE..=MAX_PAGE).contains(&size) || !size.is_power_of_two() {
        return Err(BackupError::corrupt(
            what,
            &format!("page size {size} is not valid"),
        ));
    }
    Ok(())
}

/// Reads a snapshot file once: its page map, length and SHA-256.
pub fn scan(path: &Path, page_size: u32) -> Result<Scanned> {
    let f = fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut page = vec![0u8; page_size as usize];
    let mut whole = Sha256::new();
    let mut hashes = Vec::new();
    let mut bytes = 0u64;
    loop {
        let n =
            read_full(&mut r, &mut page).map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        whole.update(&page[..n]);
        bytes += n as u64;
        // A short last page (not written by SQLite, but possible in a damaged file) is
        // hashed as it is; the file's SHA-256 catches any difference on restore.
        hashes.push(page_hash(&page[..n]));
        if n < page.len() {
            break;
        }
    }
    Ok(Scanned {
        map: PageMap { page_size, hashes },
        bytes,
        sha256: crate::seal::hex(&whole.finalize()),
    })
}

fn page_hash(page: &[u8]) -> [u8; HASH_LEN] {
    let d = Sha256::digest(page);
    let mut h = [0u8; HASH_LEN];
    h.copy_from_slice(&d[..HASH_LEN]);
    h
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl PageMap {
    /// The map's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.hashes.len() * HASH_LEN);
        out.extend_from_slice(MAP_MAGIC);
        out.extend_from_slice(&self.page_size.to_le_bytes());
        out.extend_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Reads a map written by [`PageMap::encode`]; `what` names it in errors.
    pub fn decode(bytes: &[u8], what: &str) -> Result<PageMap> {
        let bad = |why: &str| BackupError::corrupt(what, why);
        if bytes.len() < 20 || &bytes[..8] != MAP_MAGIC {
            return Err(bad("not a page map"));
        }
        let page_size = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        check_page_size(page_size, what)?;
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[12..20]);
        let count = u64::from_le_bytes(n);
        let body = &bytes[20..];
        if (body.len() as u64) != count.saturating_mul(HASH_LEN as u64) {
            return Err(bad("its length does not match its page count"));
        }
        let hashes = body
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(PageMap { page_size, hashes })
    }
}

/// Writes to `out` the pages of the snapshot file `image` (scanned as `new`) that differ
/// from `base`; returns how many pages it wrote.
pub fn write_delta(image: &Path, new: &PageMap, base: &PageMap, out: &Path) -> Result<u64> {
    if new.page_size != base.page_size {
        return Err(BackupError::Invalid(format!(
            "the page size changed from {} to {} since the base backup: take a full backup",
            base.page_size, new.page_size
        )));
    }
    let ps = new.page_size as usize;
    let f = fs::File::open(image).map_err(io_err(format!("opening {}", image.display())))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let o = fs::File::create(out).map_err(io_err(format!("creating {}", out.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, o);
    let werr = || io_err(format!("writing {}", out.display()));
    w.write_all(DELTA_MAGIC).map_err(werr())?;
    w.write_all(&new.page_size.to_le_bytes()).map_err(werr())?;
    w.write_all(&(new.hashes.len() as u64).to_le_bytes())
        .map_err(werr())?;
    let mut page = vec![0u8; ps];
    let mut written = 0u64;
    for (i, h) in new.hashes.iter().enumerate() {
        let n =
            read_full(&mut r, &mut page).map_err(io_err(format!("reading {}", image.display())))?;
        if n != ps {
            return Err(BackupError::Invalid(format!(
                "{} changed while it was backed up (page {i} is short)",
                image.display()
            )));
        }
        if base.hashes.get(i) == Some(h) {
            continue;
        }
        w.write_all(&(i as u64).to_le_bytes()).map_err(werr())?;
        w.write_all(&page).map_err(werr())?;
        written += 1;
    }
    let o = w.into_inner().map_err(|e| BackupError::Io {
        what: format!("writing {}", out.display()),
        source: e.into_error(),
    })?;
    o.sync_all().map_err(werr())?;
    Ok(written)
}

/// Applies a page delta read from `delta` (named `what` in errors) to the file `target`,
/// then cuts or extends it to the delta's page count. Returns the pages written.
pub fn apply_delta(delta: &mut impl Read, what: &str, target: &Path) -> Result<u64> {
    let rerr = |e: io::Error| {
        if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
            BackupError::corrupt(what, &e.to_string())
        } else {
            BackupError::Io {
                what: format!("reading {what}"),
                source: e,
            }
        }
    };
    let mut head = [0u8; 20];
    delta.read_exact(&mut head).map_err(rerr)?;
    if &head[..8] != DELTA_MAGIC {
        return Err(BackupError::corrupt(what, "not a page delta"));
    }
    let page_size = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    check_page_size(page_size, what)?;
    let mut n = [0u8; 8];
    n.copy_from_slice(&head[12..20]);
    let count = u64::from_le_bytes(n);
    let ps = u64::from(page_size);
    let len = count
        .checked_mul(ps)
        .ok_or_else(|| BackupError::corrupt(what, "its page count is out of range"))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(io_err(format!("opening {}", target.display())))?;
    let werr = || io_err(format!("writing {}", target.display()));
    let mut page = vec![0u8; page_size as usize];
    let mut written = 0u64;
    let mut last: Option<u64> = None;
    loop {
        let mut idx = [0u8; 8];
        let got = read_full(delta, &mut idx).map_err(rerr)?;
        if got == 0 {
            break;
        }
        if got != 8 {
            return Err(BackupError::corrupt(what, "it ends inside a record"));
        }
        let i = u64::from_le_bytes(idx);
        if i >= count || last.is_some_and(|l| i <= l) {
            return Err(BackupError::corrupt(
                what,
                "its page numbers are out of order",
            ));
        }
        last = Some(i);
        delta.read_exact(&mut page).map_err(rerr)?;
        f.seek(SeekFrom::Start(i * ps)).map_err(werr())?;
        f.write_all(&page).map_err(werr())?;
        written += 1;
    }
    f.set_len(len).map_err(werr())?;
    f.sync_all().map_err(werr())?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(pages: &[u8], ps: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("img");
        let mut bytes = Vec::new();
        for &b in pages {
            bytes.extend(std::iter::repeat_n(b, ps));
        }
        fs::write(&p, bytes).unwrap();
        (d, p)
    }

    #[test]
    fn a_delta_holds_changed_and_new_pages_and_rebuilds_the_file() {
        let ps = 512;
        let (_a, old) = file_of(&[1, 2, 3, 4], ps);
        let (_b, new) = file_of(&[1, 9, 3, 4, 5, 6], ps);
        let base = scan(&old, ps as u32).unwrap().map;
        let s = scan(&new, ps as u32).unwrap();
        assert_eq!(PageMap::decode(&s.map.encode(), "m").unwrap(), s.map);
        let d = tempfile::tempdir().unwrap();
        let delta = d.path().join("delta");
        assert_eq!(write_delta(&new, &s.map, &base, &delta).unwrap(), 3);
        let target = d.path().join("t");
        fs::copy(&old, &target).unwrap();
        let mut r = fs::File::open(&delta).unwrap();
        assert_eq!(apply_delta(&mut r, "delta", &target).unwrap(), 3);
        assert_eq!(fs::read(&target).unwrap(), fs::read(&new).unwrap());

        // Shrinking: the delta cuts the file to its page count.
        let base2 = s.map;
        let (_c, small) = file_of(&[1, 9], ps);
        let s2 = scan(&small, ps as u32).unwrap();
        let delta2 = d.path().join("delta2");
        assert_eq!(write_delta(&small, &s2.map, &base2, &delta2).unwrap(), 0);
        let mut r = fs::File::open(&delta2).unwrap();
        apply_delta(&mut r, "delta2", &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), fs::read(&small).unwrap());
    }

    #[test]
    fn damaged_maps_and_deltas_are_named() {
        let e = PageMap::decode(
            b"CLIOPMAP\x00\x02\x00\x00\x01\0\0\0\0\0\0\0",
            "x/primary.pagemap",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x/primary.pagemap"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("t");
        fs::write(&target, vec![0u8; 1024]).unwrap();
        let mut bad: &[u8] = b"CLIOPDEL\x00\x02\x00\x00\x02\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0";
        let e = apply_delta(&mut bad, "x/primary.pages", &target)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x/primary.pages") && e.contains("out of order"),
            "{e}"
        );
    }
}
