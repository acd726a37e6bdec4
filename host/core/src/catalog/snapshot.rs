//! The catalog's local copy, `<data_dir>/catalog.bin`: written when the catalog changed,
//! before the log that recorded those changes is truncated, so that the engine can start
//! with the primary down (catalog = this copy + the log).
//!
//! The copy is binary (docs/file-format.md, "The catalog copy"): about 45 bytes for a series
//! with a 40-byte key and default settings, against ~150 in the JSON it replaced
//! (`catalog.json`, still read when no `catalog.bin` exists, and removed once the binary copy
//! is written). At a million series the JSON was 150 MB written at every start and under the
//! catalog's lock at flushes (issue #25).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use clio_codec::varint::Reader;
use clio_storage::SeriesInfo;

use super::entry_codec::{EntryReader, EntryWriter};

use crate::error::{Error, Result};
use crate::framed;

/// The file's first bytes: name and format version. Version 2 writes the entry count after
/// the entries, so that the entries can be encoded a part at a time, each under its own
/// hold of the catalog's lock ([`stage_locked`]).
const MAGIC: &[u8; 8] = b"CLIOCAT2";
/// Version 1 (the count before the entries), still read.
const MAGIC_V1: &[u8; 8] = b"CLIOCAT1";

/// Entries encoded per hold of the catalog's read lock by [`stage_locked`] (~1 ms).
const LOCK_STEP: usize = 4096;

/// The copy's file name in the data directory (and in backups).
pub(crate) const FILE_NAME: &str = "catalog.bin";

/// Where the copy lives.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Where earlier versions kept it (JSON).
fn legacy_path(path: &Path) -> PathBuf {
    path.with_file_name("catalog.json")
}

/// The copy's bytes: entries by ascending id, ids and creation times as deltas, settings only
/// where they differ from the defaults, the entry count, then a CRC-32 of everything before
/// it.
#[cfg(test)]
pub(crate) fn encode<'a>(entries: impl Iterator<Item = &'a SeriesInfo>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = encode_to(&mut out, sorted_visit(entries));
    out
}

/// Hands `entries` on by ascending id.
fn sorted_visit<'a>(
    entries: impl Iterator<Item = &'a SeriesInfo>,
) -> impl FnOnce(&mut dyn FnMut(&SeriesInfo)) {
    let mut sorted: Vec<&SeriesInfo> = entries.collect();
    sorted.sort_unstable_by_key(|e| e.id);
    move |f| sorted.into_iter().for_each(f)
}

/// Writes [`encode`]'s bytes to `w` a few KiB at a time (at a million series the copy is
/// ~45 MB, which a flush does not hold in memory at once). `visit` hands every entry, by
/// ascending id, to the function it is given: it may take a lock for each part of them.
fn encode_to<W: Write>(
    w: &mut W,
    visit: impl FnOnce(&mut dyn FnMut(&SeriesInfo)),
) -> std::io::Result<()> {
    let mut crc = crc32fast::Hasher::new();
    let mut buf = Vec::with_capacity(CHUNK + 1024);
    let emit = |w: &mut W, crc: &mut crc32fast::Hasher, buf: &mut Vec<u8>| {
        crc.update(buf);
        let written = w.write_all(buf);
        buf.clear();
        written
    };
    buf.extend_from_slice(MAGIC);
    let mut entry = EntryWriter::default();
    let mut count = 0u64;
    let mut failed = None;
    visit(&mut |e| {
        if failed.is_some() {
            return;
        }
        entry.put(&mut buf, e);
        count += 1;
        if buf.len() >= CHUNK
            && let Err(e) = emit(w, &mut crc, &mut buf)
        {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    buf.extend_from_slice(&count.to_le_bytes());
    emit(w, &mut crc, &mut buf)?;
    w.write_all(&crc.finalize().to_le_bytes())
}

/// Bytes encoded before they go to the file.
const CHUNK: usize = 64 * 1024;

/// Reads what [`encode`] wrote; the error says what is wrong and where.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<Vec<SeriesInfo>, String> {
    let (magic, body) = framed::open(bytes, &[MAGIC, MAGIC_V1], "a catalog copy")?;
    // The entries' bytes (`body[start..end]`) and their count.
    let (start, end, count) = if magic == MAGIC {
        // The count is the last 8 bytes, after the entries.
        let end = body
            .len()
            .checked_sub(8)
            .ok_or("the entry count is missing")?;
        let mut count = [0; 8];
        count.copy_from_slice(&body[end..]);
        (0, end, u64::from_le_bytes(count))
    } else {
        let mut r = Reader::new(body);
        let count = r.varint("entry count").map_err(|e| e.to_string())?;
        (body.len() - r.remaining(), body.len(), count)
    };
    let mut r = Reader::new(&body[start..end]);
    // Every entry takes at least three bytes: a count beyond that is damage, not a reason
    // to reserve memory.
    if count > ((end - start) / 3) as u64 {
        return Err(format!(
            "{count} entries cannot fit in {} bytes",
            end - start
        ));
    }
    let mut out: Vec<SeriesInfo> = Vec::with_capacity(count as usize);
    let mut reader = EntryReader::default();
    for n in 0..count {
        let at = framed::MAGIC_LEN + end - r.remaining();
        let entry = reader
            .read(&mut r)
            .and_then(|e| match out.last() {
                // Written by ascending id: anything else is damage.
                Some(prev) if prev.id >= e.id => {
                    Err(format!("series id {} after {}", e.id, prev.id))
                }
                _ => Ok(e),
            })
            .map_err(|e| format!("entry {n} at byte {at}: {e}"))?;
        out.push(entry);
    }
    if r.remaining() != 0 {
        return Err(format!("{} bytes after the last entry", r.remaining()));
    }
    Ok(out)
}

/// The copy written to a temporary file, not yet in place: [`Staged::commit`] fsyncs it and
/// renames it over the copy. A flush stages a part at a time under the catalog's lock
/// ([`stage_locked`]) and commits after it, so that writers creating series never wait for
/// the disk.
pub(crate) struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    file: File,
}

/// Writes the copy of the catalog behind `catalog` to `<path>.tmp`, taking its read lock
/// for [`LOCK_STEP`] entries at a time: held for the whole encoding (hundreds of
/// milliseconds at a million series, longer at the flush's low priority), it made a series
/// creation wait, and every read behind that creation (the lock is fair).
///
/// The ids are those of the moment the copy starts, so the copy holds every change the log
/// held by then, which is all that the truncation after it removes (the flush calls this
/// after its segments were closed). An entry changed or deleted meanwhile is copied as it
/// is when its part is encoded, or left out; either way the log still holds that change and
/// replays it over the copy in order.
pub(crate) fn stage_locked(
    path: &Path,
    catalog: &parking_lot::RwLock<super::Catalog>,
) -> Result<Staged> {
    let mut ids: Vec<clio_storage::SeriesId> = catalog.read().ids().collect();
    ids.sort_unstable();
    stage_with(path, |f| {
        for part in ids.chunks(LOCK_STEP) {
            let catalog = catalog.read();
            for id in part {
                if let Some(e) = catalog.get(*id) {
                    f(e);
                }
            }
        }
    })
}

/// Writes the copy of what `visit` hands on (by ascending id) to `<path>.tmp`.
fn stage_with(path: &Path, visit: impl FnOnce(&mut dyn FnMut(&SeriesInfo))) -> Result<Staged> {
    let tmp = path.with_extension("bin.tmp");
    let write = || -> std::io::Result<File> {
        let mut w = std::io::BufWriter::with_capacity(CHUNK, File::create(&tmp)?);
        encode_to(&mut w, visit)?;
        w.into_inner().map_err(|e| e.into_error())
    };
    let file = write().map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    Ok(Staged {
        tmp,
        path: path.to_path_buf(),
        file,
    })
}

impl Staged {
    /// Puts the copy in place atomically (fsync, rename, fsync of the directory), then
    /// removes a JSON copy of an earlier version.
    pub(crate) fn commit(self) -> Result<()> {
        let Staged { tmp, path, file } = self;
        let commit = || -> std::io::Result<()> {
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &path)?;
            match fs::remove_file(legacy_path(&path)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        commit().map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }
}

/// Writes the copy of `entries` and puts it in place ([`Staged::commit`]).
pub(crate) fn save<'a>(path: &Path, entries: impl Iterator<Item = &'a SeriesInfo>) -> Result<()> {
    stage_with(path, sorted_visit(entries))?.commit()
}

/// Reads the copy (or an earlier version's JSON copy beside it); `None` when there is none.
pub(crate) fn load(path: &Path) -> Result<Option<Vec<SeriesInfo>>> {
    if let Some(copy) = framed::load(path, decode)? {
        return Ok(Some(copy));
    }
    framed::load(&legacy_path(path), |json| {
        serde_json::from_slice(json).map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_storage::{SeriesId, SeriesKey, SeriesSettings};

    fn entries() -> Vec<SeriesInfo> {
        let mut custom = SeriesSettings {
            keep_history_days: 7,
            keep_trends_days: 0,
            ..SeriesSettings::default()
        };
        custom.metadata.insert("unit".into(), "°C".into());
        custom.metadata.insert("empty".into(), String::new());
        vec![
            SeriesInfo {
                id: SeriesId(1),
                key: None,
                settings: SeriesSettings::default(),
                created: 5,
            },
            SeriesInfo {
                id: SeriesId(u64::MAX),
                key: None,
                settings: custom,
                created: -3,
            },
            SeriesInfo {
                id: SeriesId(1 << 48),
                key: Some(
                    clio_storage::SeriesKey::new("m m", [("t,=".into(), "v \\ x".into())], "f")
                        .expect("key"),
                ),
                settings: SeriesSettings::default(),
                created: i64::MAX,
            },
        ]
    }

    fn by_id(mut v: Vec<SeriesInfo>) -> Vec<SeriesInfo> {
        v.sort_by_key(|e| e.id);
        v
    }

    /// A copy written by version 1 (the count before the entries) reads as before.
    #[test]
    fn a_version_1_copy_is_still_read() {
        let mut v1 = MAGIC_V1.to_vec();
        let sorted = by_id(entries());
        clio_codec::varint::put_varint(&mut v1, sorted.len() as u64);
        let mut w = EntryWriter::default();
        for e in &sorted {
            w.put(&mut v1, e);
        }
        framed::seal(&mut v1);
        assert_eq!(decode(&v1), Ok(sorted));
        // Damage in a version-1 copy is found as before.
        let last = v1.len() - 5;
        v1[last] ^= 0x41;
        assert!(decode(&v1).is_err());
    }

    /// Staged a part at a time while another thread creates and deletes series: the copy
    /// is whole (its count agrees, ids ascend) and holds every series that was there when
    /// it started and was not deleted.
    #[test]
    fn a_copy_staged_beside_writers_is_whole() {
        let info = |i: u64| SeriesInfo {
            id: SeriesId(i),
            key: None,
            settings: SeriesSettings::default(),
            created: i as i64,
        };
        let n = (LOCK_STEP * 5) as u64;
        let catalog =
            parking_lot::RwLock::new(super::super::Catalog::new((1..=n).map(info).collect()));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                // Deletes the even ids from the top down, creates new ids above n.
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < n / 2 {
                    let mut c = catalog.write();
                    c.remove(SeriesId(n - 2 * i));
                    c.insert(info(n + 1 + i));
                    i += 1;
                }
            });
            for _ in 0..20 {
                stage_locked(&p, &catalog)
                    .expect("stage")
                    .commit()
                    .expect("commit");
                let copy = load(&p).expect("load").expect("a copy");
                assert!(copy.windows(2).all(|w| w[0].id < w[1].id));
                // The writer never deletes an odd id.
                for odd in (1..=n).step_by(2) {
                    assert!(copy.binary_search_by_key(&SeriesId(odd), |e| e.id).is_ok());
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }

    /// How long a series creation waits for the catalog while a flush writes the copy of a
    /// million keyed series: encoded under one hold of the lock (as before) and a part at a
    /// time (BENCHMARKS.md, session 23). A measurement; it checks only that each copy is
    /// whole: `cargo test --release -p clio-core --lib --
    /// --ignored copy_beside_a_creator --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn copy_beside_a_creator() {
        let n = 1_000_000u64;
        let key = |i: u64| {
            format!("clio_bench,host=h{:03},sensor=s{i:07} value", i % 1000)
                .parse::<SeriesKey>()
                .expect("key")
        };
        let catalog = parking_lot::RwLock::new(super::super::Catalog::new(
            (0..n)
                .map(|i| SeriesInfo {
                    id: SeriesId((1 << 48) + i),
                    key: Some(key(i)),
                    settings: SeriesSettings::default(),
                    created: 1_765_000_000_000,
                })
                .collect(),
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        for parts in [false, true] {
            let done = std::sync::atomic::AtomicBool::new(false);
            let started = std::time::Instant::now();
            let waits = std::thread::scope(|s| {
                let creator = s.spawn(|| {
                    let mut waits = Vec::new();
                    let mut i = n;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        let t = std::time::Instant::now();
                        let mut c = catalog.write();
                        waits.push(t.elapsed());
                        c.insert(SeriesInfo {
                            id: SeriesId((1 << 48) + i),
                            key: Some(key(i)),
                            settings: SeriesSettings::default(),
                            created: 1_765_000_000_000,
                        });
                        drop(c);
                        i += 1;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    waits
                });
                let staged = if parts {
                    stage_locked(&p, &catalog)
                } else {
                    let c = catalog.read();
                    stage_with(&p, sorted_visit(c.all()))
                };
                staged.expect("stage").commit().expect("commit");
                done.store(true, std::sync::atomic::Ordering::Relaxed);
                creator.join().expect("creator")
            });
            let copy = load(&p).expect("load").expect("a copy");
            assert!(copy.len() as u64 >= n, "{} entries", copy.len());
            let mut waits = waits;
            waits.sort();
            println!(
                "parts {parts}: copy staged in {:?}; {} creations meanwhile, longest wait {:?}, p99 {:?}",
                started.elapsed(),
                waits.len(),
                waits.last().copied().unwrap_or_default(),
                waits
                    .get(waits.len() * 99 / 100)
                    .copied()
                    .unwrap_or_default()
            );
        }
    }

    #[test]
    fn round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        assert!(load(&p).expect("load").is_none());
        save(&p, entries().iter()).expect("save");
        assert_eq!(load(&p).expect("load"), Some(by_id(entries())));
        save(&p, [].iter()).expect("save");
        assert_eq!(load(&p).expect("load"), Some(vec![]));
    }

    /// Every damage is an error naming the file, never an empty or partial catalog.
    #[test]
    fn damage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        let good = encode(entries().iter());
        for cut in [0, 3, 11, good.len() / 2, good.len() - 1] {
            fs::write(&p, &good[..cut]).expect("write");
            let e = load(&p).expect_err("truncated");
            assert!(e.to_string().contains("catalog.bin"), "{e}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x41;
            assert!(decode(&bad).is_err(), "byte {i} flipped was accepted");
        }
    }

    /// A data directory of an earlier version has `catalog.json`: it is read, and the first
    /// binary copy replaces it.
    #[test]
    fn the_json_copy_of_earlier_versions_is_read_then_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        let json = legacy_path(&p);
        fs::write(&json, serde_json::to_vec(&entries()).expect("json")).expect("write");
        assert_eq!(load(&p).expect("load"), Some(entries()));
        save(&p, entries().iter()).expect("save");
        assert!(!json.exists());
        assert_eq!(load(&p).expect("load"), Some(by_id(entries())));
        fs::write(&json, b"[{").expect("write");
        fs::remove_file(&p).expect("rm");
        assert!(load(&p).is_err(), "a damaged JSON copy is an error too");
    }

    /// The reason for the format: a keyed series with default settings costs its key and a
    /// few bytes.
    #[test]
    fn a_plain_keyed_series_costs_its_key_and_a_few_bytes() {
        let key = |i: u64| {
            format!("clio_bench,host=h{:03},sensor=s{i:06} value", i % 1000)
                .parse::<SeriesKey>()
                .expect("key")
        };
        let n = 10_000u64;
        let list: Vec<SeriesInfo> = (0..n)
            .map(|i| SeriesInfo {
                id: SeriesId((1 << 62) + i),
                key: Some(key(i)),
                settings: SeriesSettings::default(),
                created: 1_765_000_000_000 + (i as i64) * 3,
            })
            .collect();
        let key_bytes: usize = list
            .iter()
            .map(|e| e.key.as_ref().map_or(0, |k| k.to_string().len()))
            .sum();
        let bytes = encode(list.iter()).len();
        let overhead = (bytes - key_bytes) as f64 / n as f64;
        assert!(
            overhead <= 5.0,
            "{overhead} bytes per series besides the key"
        );
        assert_eq!(decode(&encode(list.iter())).expect("decode"), list);
    }
}
