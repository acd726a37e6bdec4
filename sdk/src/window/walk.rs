//! Reading a plan, oldest first: its pieces, a walk by count that notices writes between
//! reads, and the scan by time whose slices follow the data's density.

use super::CHUNK;
use super::plan::{Plan, out_of_order, split_range};
use crate::error::Result;
use crate::history::History;
use crate::points::{Points, Timestamp};

/// Reads a plan oldest first, handing each non-empty chunk to `visit` with the number of
/// points the plan still expects after it (an upper bound, for reserving memory).
pub(super) fn walk(
    h: &dyn History,
    series: u64,
    plan: Plan,
    mut visit: impl FnMut(Points, u64) -> Result<()>,
) -> Result<()> {
    let mut pieces = match plan {
        Plan::Whole(p) if p.is_empty() => return Ok(()),
        Plan::Whole(p) => return visit(p, 0),
        Plan::Pieces(pieces) => pieces,
        Plan::CountThen {
            rest,
            skip_from,
            step,
            before,
            newest,
        } => return walk_counts(h, series, rest, skip_from, step, before, newest, visit),
        Plan::Scan {
            from,
            to,
            width,
            step,
        } => return scan(h, series, from, to, width, step, visit),
    };
    let mut expected: u64 = pieces.iter().map(|p| p.len).sum();
    while let Some(piece) = pieces.pop() {
        expected = expected.saturating_sub(piece.len);
        let chunk = h.read_range(series, piece.from, piece.to, CHUNK)?;
        if chunk.truncated() {
            // The piece gained points since it was planned (a late write into the past):
            // split it again; its parts go on top of the stack, so the order holds.
            let parts = split_range(h, series, piece.from, piece.to, &chunk)?;
            drop(chunk);
            expected = expected.saturating_add(parts.iter().map(|p| p.len).sum());
            pieces.extend(parts);
            continue;
        }
        if !chunk.is_empty() {
            visit(chunk, expected)?;
        }
    }
    Ok(())
}

/// Visits [`Plan::CountThen`]: the older records piece by piece, oldest first, then the
/// newest answer.
///
/// A write into the past (or a delete) between two reads shifts the counts, so a piece could
/// skip records or repeat them. Each piece is therefore read with one record of overlap: the
/// newest record already visited (and, for the newest piece, also the oldest record of the
/// newest answer). When the overlap is where it should be, nothing moved in between; when a
/// piece starts after the last record visited (or the newest piece ends short of the newest
/// answer) records may have been skipped, and the rest of the way up to the newest answer is
/// read by time instead (a scan from the last record visited). Repeated records are dropped.
/// So every record is visited once, in order, and none present all along is missed.
#[allow(clippy::too_many_arguments)]
fn walk_counts(
    h: &dyn History,
    series: u64,
    rest: u64,
    skip_from: u64,
    step: u64,
    before: Timestamp,
    newest: Points,
    mut visit: impl FnMut(Points, u64) -> Result<()>,
) -> Result<()> {
    let limit = newest
        .timestamps()
        .first()
        .copied()
        .unwrap_or(Timestamp::MAX);
    let mut seen: Option<Timestamp> = None;
    let pieces = rest.div_ceil(step.max(1));
    for i in (0..pieces).rev() {
        let offset = i * step;
        let len = step.min(rest - offset);
        // One record of overlap with what was visited (none before the oldest piece), and
        // for the newest piece one with the newest answer (`skip_from` ≥ 1: it holds a record).
        let older = u64::from(seen.is_some());
        let newer = u64::from(i == 0);
        let skip = skip_from.saturating_add(offset).saturating_sub(newer);
        let chunk = h.read_last(series, len + older + newer, skip, before)?;
        if chunk.is_empty() && seen.is_none() && i > 0 {
            // The window is larger than the series (`#1000000` over a few hundred records):
            // reading on would cost one empty answer per missing piece, rest / step reads of
            // nothing (found by the fuzz target `function_arguments`). Record `offset + 1`
            // is missing: find how many exist with one-record probes (a binary search on the
            // skip) and plan only those; fewer each time, so this ends.
            let exist = existing_older(h, series, offset + 1, skip_from, before)?;
            return walk_counts(h, series, exist, skip_from, step, before, newest, visit);
        }
        if chunk.truncated() {
            // The host answered less than one piece after all: read the rest by time.
            break;
        }
        let ts = chunk.timestamps();
        let (first, last) = (ts.first().copied(), ts.last().copied());
        let gap_before = seen.is_some_and(|s| first.is_none_or(|t| t > s));
        let gap_after = i == 0 && last.is_none_or(|t| t < limit);
        if gap_before {
            // Records may lie between the last one visited and this piece: the counts moved.
            break;
        }
        let chunk = chunk.between(seen, limit);
        if let Some(&t) = chunk.timestamps().last() {
            seen = Some(t);
            visit(chunk, 0)?;
        }
        if gap_after {
            break;
        }
        if i == 0 {
            return visit(newest, 0);
        }
    }
    // The counts moved (or the newest piece fell short of the newest answer): read the rest
    // up to the newest answer by time.
    let from = seen.map_or(Timestamp::MIN, |t| t.saturating_add(1));
    if from < limit {
        let width = limit.saturating_sub(from).max(1);
        scan(h, series, from, limit, width, step, &mut visit)?;
    }
    visit(newest, 0)
}

/// How many records exist after skipping `skip_from` before `before`, knowing that record
/// number `missing` (1-based) does not: about log2(missing) one-record reads. A write
/// meanwhile only shifts which records the pieces hold, which `walk_counts` detects by its
/// overlaps as for any write between two reads.
fn existing_older(
    h: &dyn History,
    series: u64,
    missing: u64,
    skip_from: u64,
    before: Timestamp,
) -> Result<u64> {
    let exists = |k: u64| -> Result<bool> {
        // Record number k (1-based) after the skip.
        Ok(!h
            .read_last(series, 1, skip_from.saturating_add(k - 1), before)?
            .is_empty())
    };
    // Record `lo` exists (0: trivially), record `hi` does not.
    let (mut lo, mut hi) = (0_u64, missing);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if exists(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Reads `[from, to)` oldest first in slices of time. A slice that comes back truncated (more
/// than one answer's worth) is read again half as wide; after a slice under a quarter of
/// `step` points the width doubles, so sparse stretches (or an empty start) cost few reads.
/// A truncated slice always shrinks and a 1 ms slice holds one point at most, so the scan
/// ends.
fn scan(
    h: &dyn History,
    series: u64,
    from: Timestamp,
    to: Timestamp,
    mut width: i64,
    step: u64,
    mut visit: impl FnMut(Points, u64) -> Result<()>,
) -> Result<()> {
    let mut at = from;
    while at < to {
        let end = at.saturating_add(width).min(to);
        let chunk = h.read_range(series, at, end, CHUNK)?;
        if chunk.truncated() {
            // Truncated means older points exist in [at, oldest): oldest > at.
            if !chunk
                .timestamps()
                .first()
                .is_some_and(|&t| t > at && t < end)
            {
                return Err(out_of_order());
            }
            // Halve the slice (`end − at ≤ width`, no overflow). Halving rather than aiming by
            // the answer's density keeps both hard cases logarithmic: an empty stretch before
            // dense data (the slice that overshot is halved, not regrown from a small width
            // each time) and dense data under a sparse newest chunk.
            width = ((end - at) / 2).max(1);
            continue;
        }
        let got = chunk.len() as u64;
        if !chunk.is_empty() {
            visit(chunk, 0)?;
        }
        at = end;
        if got < step / 4 {
            width = width.saturating_mul(2);
        }
    }
    Ok(())
}
