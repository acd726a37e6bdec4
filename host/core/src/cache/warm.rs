//! What the cache carries over a restart: the series readers used, so that the next start
//! loads their newest points from storage before clients ask (`store/warm.rs`).
//!
//! ALEPIZ writes its whole cache to a JSON dump at a graceful stop and loads it before it
//! serves. Clio writes only a list, `<data_dir>/cache-warm.bin`: series id, how many
//! points its readers keep in memory, and when one last read it. The points themselves come
//! from storage again, which is always right, where a dump of points could disagree with a
//! storage changed meanwhile (a restore, another node of a shared PostgreSQL). A series
//! deleted since is skipped; a missing or damaged list only means a cold start.
//!
//! The file (docs/file-format.md, "The warm-up list"): `CLIOWRM1`, the entry count (u64
//! LE), each entry as id (u64 LE), target (u32 LE) and read time (u32 LE, seconds since the
//! Unix epoch), most recently read first, then a CRC-32 of everything before it.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clio_storage::SeriesId;

use super::{COVER_ALL, COVER_NONE, Cache, SeriesCache, count32, in_steps};
use crate::error::{Error, Result};
use crate::framed;

/// The file's first bytes: name and format version.
const MAGIC: &[u8; 8] = b"CLIOWRM1";

/// Bytes of one entry.
const ENTRY: usize = 16;

/// The list's file name in the data directory.
pub(crate) const FILE_NAME: &str = "cache-warm.bin";

/// Where the list lives.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// One series a reader used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WarmEntry {
    pub id: SeriesId,
    /// Points the cache keeps for its readers (at least `init_cached_records`).
    pub target: u32,
    /// Seconds since the Unix epoch of the last read.
    pub read_at: u32,
}

/// Now, in the cache's read times: seconds since the Unix epoch (a u32 lasts until 2106).
pub(crate) fn now_secs() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl Cache {
    /// The series a reader asked for, most recently read first (ties by id).
    pub(crate) fn warm_list(&self) -> Vec<WarmEntry> {
        let mut out = Vec::new();
        for shard in &self.shards {
            in_steps(shard, |shard, ids| {
                out.extend(ids.iter().filter_map(|&id| {
                    let sc = shard.get(id)?;
                    (sc.read_at != 0).then_some(WarmEntry {
                        id,
                        target: sc.target,
                        read_at: sc.read_at,
                    })
                }));
            });
        }
        out.sort_unstable_by_key(|e| (std::cmp::Reverse(e.read_at), e.id));
        out
    }

    /// Takes over what the last run knew of a series' readers: its target (so that the next
    /// flush keeps that many points) and its read time (so that it stays on the list). Then,
    /// when memory lacks the series' newest `target` points (as [`Cache::last`] would find,
    /// though not counted as a hit or a miss: no reader asked), the epoch for the
    /// [`Cache::fill`] that loads them.
    pub(crate) fn restore_reader(&self, e: &WarmEntry) -> Option<u64> {
        let init = self.opts.init_cached_records;
        let mut shard = self.shard(e.id).lock();
        let sc = shard.get_or_insert_with(e.id, || SeriesCache::new(COVER_NONE, init));
        sc.target = sc.target.max(e.target).max(count32(init));
        sc.read_at = sc.read_at.max(e.read_at);
        let covered = sc.points.range(sc.cover_from..).len();
        (sc.cover_from != COVER_ALL && covered < e.target as usize).then_some(sc.epoch)
    }
}

/// The list's bytes.
pub(crate) fn encode(entries: &[WarmEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + entries.len() * ENTRY + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.id.0.to_le_bytes());
        out.extend_from_slice(&e.target.to_le_bytes());
        out.extend_from_slice(&e.read_at.to_le_bytes());
    }
    framed::seal(&mut out);
    out
}

/// Reads what [`encode`] wrote; the error says what is wrong.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<Vec<WarmEntry>, String> {
    let (_, body) = framed::open(bytes, &[MAGIC], "a warm-up list")?;
    let (count, entries) = body
        .split_first_chunk::<8>()
        .ok_or("the entry count is missing")?;
    let count = u64::from_le_bytes(*count);
    if count.checked_mul(ENTRY as u64) != Some(entries.len() as u64) {
        return Err(format!(
            "{count} entries do not take the {} bytes that follow",
            entries.len()
        ));
    }
    Ok(entries
        .chunks_exact(ENTRY)
        .map(|e| WarmEntry {
            id: SeriesId(u64::from_le_bytes(array(&e[..8]))),
            target: u32::from_le_bytes(array(&e[8..12])),
            read_at: u32::from_le_bytes(array(&e[12..])),
        })
        .collect())
}

/// The bytes of a field whose length the entry layout fixes.
fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(b);
    a
}

/// Writes the list atomically (a temporary file renamed over it). No fsync: the list is a
/// hint, and a lost one only means a cold start.
pub(crate) fn save(path: &Path, entries: &[WarmEntry]) -> Result<()> {
    let tmp = path.with_extension("bin.tmp");
    let write = || -> std::io::Result<()> {
        File::create(&tmp)?.write_all(&encode(entries))?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Reads the list; empty when there is none.
pub(crate) fn load(path: &Path) -> Result<Vec<WarmEntry>> {
    Ok(framed::load(path, decode)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheOptions;

    fn entry(id: u64, target: u32, read_at: u32) -> WarmEntry {
        WarmEntry {
            id: SeriesId(id),
            target,
            read_at,
        }
    }

    #[test]
    fn the_list_round_trips_and_damage_is_named() {
        let list = vec![entry(7, 100, 1_800_000_000), entry(u64::MAX, 5, 1)];
        let bytes = encode(&list);
        assert_eq!(bytes.len(), 8 + 8 + 2 * ENTRY + 4);
        assert_eq!(decode(&bytes), Ok(list));
        assert_eq!(decode(&encode(&[])), Ok(Vec::new()));
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        assert!(decode(&bytes[..10]).unwrap_err().contains("too short"));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(decode(&magic).unwrap_err().contains("magic"));
        // A count that disagrees with the length, under a valid checksum.
        let mut body = bytes[..bytes.len() - 4].to_vec();
        body[8] = 3;
        framed::seal(&mut body);
        assert!(decode(&body).unwrap_err().contains("3 entries"));
    }

    #[test]
    fn a_missing_list_is_empty_and_a_saved_one_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path());
        assert_eq!(load(&p).unwrap(), Vec::new());
        let list = vec![entry(1, 10, 3)];
        save(&p, &list).unwrap();
        assert_eq!(load(&p).unwrap(), list);
        fs::write(&p, b"garbage").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME) && e.contains("too short"), "{e}");
    }

    /// Only series a reader asked for are listed, most recently read first, with the count
    /// their readers keep; a restored entry is listed again as it was.
    #[test]
    fn the_list_holds_read_series_newest_read_first() {
        let c = Cache::new(CacheOptions {
            init_cached_records: 5,
            memory_budget: 1 << 30,
        });
        c.mark_new(&[SeriesId(1), SeriesId(2), SeriesId(3)]);
        c.note_demand(SeriesId(2), 40);
        let listed = c.warm_list();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!((listed[0].id, listed[0].target), (SeriesId(2), 40));
        assert!(listed[0].read_at >= now_secs() - 1);
        // Read long ago (as loaded from a list) ranks after a read now.
        assert_eq!(
            c.restore_reader(&entry(3, 2, 1_000)),
            None,
            "a new series: all in memory"
        );
        let listed = c.warm_list();
        let ids: Vec<u64> = listed.iter().map(|e| e.id.0).collect();
        assert_eq!(ids, [2, 3]);
        // Never below init_cached_records.
        assert_eq!(listed[1], entry(3, 5, 1_000));
    }
}
