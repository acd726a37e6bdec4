//! Reading the log from a position, as a replica does, while the log thread appends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::wal::record::{self, Entry};
use crate::wal::{list_segments, segment_path};

/// One entry and the position right after it.
pub(super) struct Read1 {
    pub(super) entry: Entry,
    /// `(segment, offset after the magic)` just past this entry.
    pub(super) end: (u64, u64),
}

pub(super) enum ReadOutcome {
    /// Entries after the position (none: nothing new yet).
    Entries(Vec<Read1>),
    /// The segment of the position was removed: the replica must be refilled.
    Gone,
}

pub(super) struct LogReader {
    dir: PathBuf,
    keys: std::sync::Arc<clio_storage::sealing::Keyring>,
}

/// Most bytes read in one go.
const READ_BYTES: u64 = 16 << 20;

impl LogReader {
    pub(super) fn new(dir: PathBuf, keys: std::sync::Arc<clio_storage::sealing::Keyring>) -> Self {
        LogReader { dir, keys }
    }

    /// Entries after `pos`, moving on to newer segments when a segment is finished.
    pub(super) fn read(&self, mut pos: (u64, u64)) -> Result<ReadOutcome> {
        let segments = list_segments(&self.dir)?;
        let Some(&(first, _)) = segments.first() else {
            return Ok(ReadOutcome::Entries(Vec::new()));
        };
        if pos.0 < first {
            // Segment 0 is "before the first": start at the oldest kept segment.
            if pos.0 == 0 && pos.1 == 0 {
                pos = (first, 0);
            } else {
                return Ok(ReadOutcome::Gone);
            }
        }
        loop {
            let newer = segments.iter().any(|(n, _)| *n > pos.0);
            let exists = segments.iter().any(|(n, _)| *n == pos.0);
            if !exists {
                return Ok(match segments.iter().find(|(n, _)| *n > pos.0) {
                    // A segment number skipped: only possible right after a resync cursor.
                    Some(&(next, _)) if pos.1 == 0 => {
                        pos = (next, 0);
                        continue;
                    }
                    Some(_) => ReadOutcome::Gone,
                    None => ReadOutcome::Entries(Vec::new()),
                });
            }
            let entries = self.read_segment(pos)?;
            if !entries.is_empty() {
                return Ok(ReadOutcome::Entries(entries));
            }
            if !newer {
                return Ok(ReadOutcome::Entries(Vec::new()));
            }
            // A closed segment read to its end (or to a damaged tail, which replay ignores
            // too): the next one.
            let next = segments
                .iter()
                .find(|(n, _)| *n > pos.0)
                .map_or(pos.0 + 1, |(n, _)| *n);
            pos = (next, 0);
        }
    }

    fn read_segment(&self, pos: (u64, u64)) -> Result<Vec<Read1>> {
        let path = segment_path(&self.dir, pos.0);
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let magic = record::MAGIC.len() as u64;
        let mut want = READ_BYTES;
        loop {
            f.seek(SeekFrom::Start(magic + pos.1)).map_err(io)?;
            let mut buf = Vec::new();
            (&mut f).take(want).read_to_end(&mut buf).map_err(io)?;
            let full = buf.len() as u64 == want;
            let d = record::decode_all_with(&buf, &self.keys);
            if let Some(why) = d.fatal {
                return Err(Error::InvalidRequest(format!("{}: {why}", path.display())));
            }
            if d.entries.is_empty() && full {
                // One record larger than the read: read more.
                want = want.saturating_mul(4);
                continue;
            }
            return Ok(d
                .entries
                .into_iter()
                .zip(d.ends)
                .map(|(entry, end)| Read1 {
                    entry,
                    end: (pos.0, pos.1 + end as u64),
                })
                .collect());
        }
    }
}
