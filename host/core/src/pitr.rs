//! Point-in-time restore, the log's half: a restored backup's log is continued with the
//! archived segments that follow it and cut at a time, so that starting the engine on the
//! directory replays exactly what was committed up to then.
//!
//! The log carries clock records while archiving is on (each group of records starts with
//! the time it was assembled, when that time moved), so the cut is at the first clock record
//! later than the target: every write acknowledged by the target time stays, and at most the
//! group being committed at that moment (a few milliseconds of writes) is kept with it.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::wal::record::{self, Entry};
use crate::wal::{list_segments, segment_path};

/// What [`prepare`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PitrReport {
    /// Segments taken from the archive (the backup's last, partial copy replaced by the
    /// whole archived segment), in order.
    pub archived_segments: Vec<u64>,
    /// Where the log was cut: segment and byte offset; `None` when nothing was cut.
    pub cut_at: Option<(u64, u64)>,
    /// The first segment missing from the archive although later ones are there: the
    /// restore cannot go past it.
    pub missing_segment: Option<u64>,
    /// Segments removed after the cut.
    pub segments_dropped: u64,
    /// The latest clock record kept (ms since the epoch).
    pub last_kept_time: Option<i64>,
    /// True when the log reaches past the target time (the restore ends exactly there);
    /// false when it ends before (the restore ends with the last archived write).
    pub reached: bool,
}

/// Continues the log of the restored data directory `data_dir` (whose backup ends at log
/// position `from`) with the segments of `archive`, then, with `to_time`, cuts it at that
/// time (ms since the epoch).
pub fn prepare(
    data_dir: &Path,
    archive: Option<&Path>,
    from: (u64, u64),
    to_time: Option<i64>,
) -> Result<PitrReport> {
    let wal = data_dir.join("wal");
    fs::create_dir_all(&wal).map_err(|e| Error::io(format!("creating {}", wal.display()), e))?;
    let mut report = PitrReport::default();
    if let Some(archive) = archive {
        report.archived_segments = continue_from_archive(&wal, archive, from.0)?;
        let next = report.archived_segments.last().map_or(from.0, |n| n + 1);
        if list_segments(archive)?.iter().any(|(k, _)| *k > next) {
            report.missing_segment = Some(next);
        }
    }
    let Some(to) = to_time else {
        return Ok(report);
    };
    let mut seen_clock = false;
    let segments = list_segments(&wal)?;
    for (idx, (n, path)) in segments.iter().enumerate() {
        let data =
            fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if data.len() < record::MAGIC.len() || &data[..record::MAGIC.len()] != record::MAGIC {
            continue;
        }
        let decoded = record::decode_all(&data[record::MAGIC.len()..]);
        for (i, e) in decoded.entries.iter().enumerate() {
            let Entry::Clock(t) = e else { continue };
            seen_clock = true;
            if *t <= to {
                report.last_kept_time = Some(*t);
                continue;
            }
            let start = if i == 0 { 0 } else { decoded.ends[i - 1] };
            let offset = (record::MAGIC.len() + start) as u64;
            let f = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            f.set_len(offset)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io(format!("cutting {}", path.display()), e))?;
            for (_, later) in &segments[idx + 1..] {
                fs::remove_file(later)
                    .map_err(|e| Error::io(format!("removing {}", later.display()), e))?;
                report.segments_dropped += 1;
            }
            report.cut_at = Some((*n, offset));
            report.reached = true;
            return Ok(report);
        }
    }
    if !seen_clock {
        return Err(Error::InvalidRequest(
            "the log holds no clock records, so it cannot be cut at a time: point-in-time restores need [backup] archive_dir set while the log is written".into(),
        ));
    }
    Ok(report)
}

/// Copies the archived segments from `first` on, as long as they follow one another, into
/// `wal`; a segment the backup holds in part must be the start of the archived one.
fn continue_from_archive(wal: &Path, archive: &Path, first: u64) -> Result<Vec<u64>> {
    let mut added = Vec::new();
    let mut n = first;
    loop {
        let from = segment_path(archive, n);
        if !from.is_file() {
            break;
        }
        let to = segment_path(wal, n);
        if to.is_file() {
            let ours =
                fs::read(&to).map_err(|e| Error::io(format!("reading {}", to.display()), e))?;
            let theirs =
                fs::read(&from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
            if !theirs.starts_with(&ours) {
                return Err(Error::InvalidRequest(format!(
                    "archived segment {} does not continue the backup's copy of it: the archive belongs to another history",
                    from.display()
                )));
            }
        }
        let bytes =
            fs::read(&from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        // An archived segment was closed before it was copied: it must be whole.
        let whole =
            bytes.len() >= record::MAGIC.len() && &bytes[..record::MAGIC.len()] == record::MAGIC;
        let stopped = whole
            .then(|| record::decode_all(&bytes[record::MAGIC.len()..]).stopped)
            .flatten();
        if !whole || stopped.is_some() {
            return Err(Error::InvalidRequest(format!(
                "archived segment {} is damaged ({}): the restore cannot go past it",
                from.display(),
                stopped.as_deref().unwrap_or("no log header")
            )));
        }
        fs::write(&to, &bytes)
            .and_then(|()| fs::File::open(&to)?.sync_all())
            .map_err(|e| Error::io(format!("copying {}", from.display()), e))?;
        added.push(n);
        n += 1;
    }
    if added.is_empty() {
        // Something later than the backup, but not what follows it: a gap.
        let later = list_segments(archive)?.into_iter().any(|(k, _)| k > first);
        if later {
            return Err(Error::InvalidRequest(format!(
                "the archive {} lacks log segment {first}, which follows the backup: it cannot continue it",
                archive.display()
            )));
        }
    }
    Ok(added)
}
