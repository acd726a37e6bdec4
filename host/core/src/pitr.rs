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
use clio_storage::sealing::Keyring;

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

/// Where a point-in-time restore ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTarget {
    /// At this time (ms since the epoch): everything committed by then is kept.
    Time(i64),
    /// At this log position (segment, byte offset of a record's start, as [`log_records`]
    /// lists them): the record starting there and everything after it are dropped.
    Position(u64, u64),
}

/// Continues the log of the restored data directory `data_dir` (whose backup ends at log
/// position `from`) with the segments of `archive`, then, with a `target`, cuts it there.
pub fn prepare(
    data_dir: &Path,
    archive: Option<&Path>,
    from: (u64, u64),
    target: Option<RestoreTarget>,
    keys: &Keyring,
) -> Result<PitrReport> {
    let wal = data_dir.join("wal");
    fs::create_dir_all(&wal).map_err(|e| Error::io(format!("creating {}", wal.display()), e))?;
    let mut report = PitrReport::default();
    if let Some(archive) = archive {
        report.archived_segments = continue_from_archive(&wal, archive, from.0, keys)?;
        let next = report.archived_segments.last().map_or(from.0, |n| n + 1);
        if list_segments(archive)?.iter().any(|(k, _)| *k > next) {
            report.missing_segment = Some(next);
        }
    }
    match target {
        None => Ok(report),
        Some(RestoreTarget::Time(to)) => cut_at_time(&wal, to, report, keys),
        Some(RestoreTarget::Position(seg, off)) => {
            if (seg, off) < from {
                return Err(Error::InvalidRequest(format!(
                    "position {seg}:{off} is before the backup's end ({}:{}): use an older backup",
                    from.0, from.1
                )));
            }
            cut_at_position(&wal, seg, off, report, keys)
        }
    }
}

/// Cuts segment `path` at `offset` and removes the segments after it.
fn cut(
    path: &Path,
    offset: u64,
    later: &[(u64, std::path::PathBuf)],
    report: &mut PitrReport,
) -> Result<()> {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    f.set_len(offset)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(format!("cutting {}", path.display()), e))?;
    for (_, p) in later {
        fs::remove_file(p).map_err(|e| Error::io(format!("removing {}", p.display()), e))?;
        report.segments_dropped += 1;
    }
    Ok(())
}

/// The decoded records of one segment file; `None` when it has no log header.
fn decode(path: &Path, keys: &Keyring) -> Result<Option<record::Decoded>> {
    let data = fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if data.len() < record::MAGIC.len() || &data[..record::MAGIC.len()] != record::MAGIC {
        return Ok(None);
    }
    let decoded = record::decode_all_with(&data[record::MAGIC.len()..], keys);
    if let Some(why) = decoded.fatal {
        return Err(Error::InvalidRequest(format!("{}: {why}", path.display())));
    }
    Ok(Some(decoded))
}

fn cut_at_time(wal: &Path, to: i64, mut report: PitrReport, keys: &Keyring) -> Result<PitrReport> {
    let mut seen_clock = false;
    let segments = list_segments(wal)?;
    for (idx, (n, path)) in segments.iter().enumerate() {
        let Some(decoded) = decode(path, keys)? else {
            continue;
        };
        for (i, e) in decoded.entries.iter().enumerate() {
            let Entry::Clock(t) = e else { continue };
            seen_clock = true;
            if *t <= to {
                report.last_kept_time = Some(*t);
                continue;
            }
            let start = if i == 0 { 0 } else { decoded.ends[i - 1] };
            let offset = (record::MAGIC.len() + start) as u64;
            cut(path, offset, &segments[idx + 1..], &mut report)?;
            report.cut_at = Some((*n, offset));
            report.reached = true;
            return Ok(report);
        }
    }
    if !seen_clock {
        return Err(Error::InvalidRequest(
            "the log holds no clock records, so it cannot be cut at a time: point-in-time restores need [backup] archive_dir or archive_command set while the log is written".into(),
        ));
    }
    Ok(report)
}

fn cut_at_position(
    wal: &Path,
    seg: u64,
    off: u64,
    mut report: PitrReport,
    keys: &Keyring,
) -> Result<PitrReport> {
    let segments = list_segments(wal)?;
    let Some(idx) = segments.iter().position(|(n, _)| *n == seg) else {
        let range = match (segments.first(), segments.last()) {
            (Some((a, _)), Some((b, _))) => format!("segments {a} to {b}"),
            _ => "no segments".into(),
        };
        return Err(Error::InvalidRequest(format!(
            "position {seg}:{off}: the restored log (backup and archive) holds {range}"
        )));
    };
    let path = &segments[idx].1;
    let decoded = decode(path, keys)?.ok_or_else(|| {
        Error::InvalidRequest(format!("segment {seg} has no log header: it cannot be cut"))
    })?;
    let magic = record::MAGIC.len() as u64;
    // Record starts: the first after the header, then where each record ends.
    let starts: Vec<u64> = std::iter::once(magic)
        .chain(decoded.ends.iter().map(|e| magic + *e as u64))
        .collect();
    if !starts.contains(&off) {
        let before = starts.iter().rev().find(|s| **s < off);
        let after = starts.iter().find(|s| **s > off);
        let near: Vec<String> = before
            .into_iter()
            .chain(after)
            .map(|s| format!("{seg}:{s}"))
            .collect();
        return Err(Error::InvalidRequest(format!(
            "position {seg}:{off} is not where a log record starts (nearest: {}); `clio backup log` lists the positions",
            near.join(", ")
        )));
    }
    let kept = starts.iter().position(|s| *s == off).unwrap_or(0);
    report.last_kept_time = decoded.entries[..kept.min(decoded.entries.len())]
        .iter()
        .rev()
        .find_map(|e| match e {
            Entry::Clock(t) => Some(*t),
            _ => None,
        });
    cut(path, off, &segments[idx + 1..], &mut report)?;
    report.cut_at = Some((seg, off));
    report.reached = true;
    Ok(report)
}

/// One record of a log, as [`log_records`] lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    /// The segment holding it.
    pub segment: u64,
    /// Where it starts in the segment (a `--to-position` target).
    pub offset: u64,
    /// The commit time in effect (the latest clock record before it), ms since the epoch.
    pub time: Option<i64>,
    /// `points`, `create_series`, `delete_series`, `delete_range`, `expire`,
    /// `update_series`, `flushed` or `clock`.
    pub kind: &'static str,
    /// Points written, or series created, deleted, expired or updated.
    pub count: u64,
    /// The series a deletion or update names.
    pub series: Option<u64>,
}

/// Every record of the log segments in `dir` (a data directory's `wal/` or an archive), in
/// order, with the position to pass to a restore. Clock records are folded into the
/// following records' `time`.
pub fn log_records(dir: &Path, keys: &Keyring) -> Result<Vec<LogRecord>> {
    let mut out = Vec::new();
    let mut time = None;
    for (n, path) in list_segments(dir)? {
        let Some(decoded) = decode(&path, keys)? else {
            continue;
        };
        let magic = record::MAGIC.len() as u64;
        for (i, e) in decoded.entries.iter().enumerate() {
            let offset = magic
                + if i == 0 {
                    0
                } else {
                    decoded.ends[i - 1] as u64
                };
            let (kind, count, series) = match e {
                Entry::Clock(t) => {
                    time = Some(*t);
                    continue;
                }
                Entry::Points(p) => ("points", p.len() as u64, None),
                Entry::DeleteSeries(id) => ("delete_series", 1, Some(id.0)),
                Entry::DeleteRange { series, .. } => ("delete_range", 1, Some(series.0)),
                Entry::Expire(v) => ("expire", v.len() as u64, None),
                Entry::CreateSeries(v) => ("create_series", v.len() as u64, None),
                Entry::UpdateSeries(id, _) => ("update_series", 1, Some(id.0)),
                Entry::Flushed { .. } => ("flushed", 0, None),
            };
            out.push(LogRecord {
                segment: n,
                offset,
                time,
                kind,
                count,
                series,
            });
        }
    }
    Ok(out)
}

/// Copies the archived segments from `first` on, as long as they follow one another, into
/// `wal`; a segment the backup holds in part must be the start of the archived one.
fn continue_from_archive(
    wal: &Path,
    archive: &Path,
    first: u64,
    keys: &Keyring,
) -> Result<Vec<u64>> {
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
            .then(|| record::decode_all_with(&bytes[record::MAGIC.len()..], keys).stopped)
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
