//! Read planning: how a window is read, found from its newest end (whole from the first
//! answer, pieces of known size, a walk by count or a scan by time).

use super::strict::Tracker;
use super::{CHUNK, Span, Window};
use crate::error::{Error, Result};
use crate::history::History;
use crate::points::{Points, Timestamp};

impl Window {
    /// Where the window lies, read as far as needed to know how to visit it oldest first.
    /// `exact`: a large time-form window is split into pieces of known size (what `fetch`
    /// needs to allocate once) rather than scanned by slices of time (cheaper).
    pub(super) fn plan(
        &self,
        h: &dyn History,
        series: u64,
        exact: bool,
    ) -> Result<(Plan, Tracker)> {
        // A count window that ends at the evaluation time does not need to know it: the
        // host caps every read at `now()` anyway, so one import fewer per call.
        let now = if self.ends_now() {
            Timestamp::MAX
        } else {
            h.now()
        };
        Ok(match self.span(now) {
            Span::Last { n, skip, before } => (
                plan_last(h, series, n, skip, before, !exact)?,
                Tracker::count(n),
            ),
            Span::Range { from, to } => {
                (plan_range(h, series, from, to, exact)?, Tracker::time(from))
            }
            Span::Anchored { skip, period } => {
                let anchor = h.read_last(series, 1, skip, now)?;
                match anchor.timestamps().last() {
                    // Nothing left after the skip: an empty window (never well covered).
                    None => (Plan::Whole(Points::new()), Tracker::time(Timestamp::MIN)),
                    Some(&t) => {
                        let from = t.saturating_sub(period).saturating_add(1);
                        let plan = plan_range(h, series, from, t.saturating_add(1), exact)?;
                        (plan, Tracker::time(from))
                    }
                }
            }
        })
    }
}

/// How a window is read: whole from the first answer, or as pieces planned from its newest end.
#[derive(Debug)]
pub(super) enum Plan {
    /// The first read held the whole window.
    Whole(Points),
    /// Pieces, newest first (the walk pops them, so it visits them oldest first).
    Pieces(Vec<Piece>),
    /// A streamed count window: the `rest` records older than the newest answer (already
    /// read while planning, kept and visited last), read oldest first by count, `step` at a
    /// time, each piece addressed by how many newer records it skips (`skip_from` and up).
    /// No probes: the host passes over skipped chunks by their counts, so every record is
    /// decoded about once. A streaming visit holds the newest answer and one piece (≈ 2 MiB).
    CountThen {
        rest: u64,
        skip_from: u64,
        step: u64,
        before: Timestamp,
        newest: Points,
    },
    /// Every point of `[from, to)`, read oldest first in slices of time whose width follows
    /// the density seen so far, aiming at half an answer (`step` points) per slice.
    Scan {
        from: Timestamp,
        to: Timestamp,
        width: i64,
        step: u64,
    },
}

/// Every point of `[from, to)`, which held at most `len` points when it was planned (exactly
/// `len`, except for the oldest piece of a window).
#[derive(Debug, Clone, Copy)]
pub(super) struct Piece {
    pub(super) from: Timestamp,
    pub(super) to: Timestamp,
    pub(super) len: u64,
}

/// An answer that contradicts the read that asked for it (a point outside the requested
/// range, or "truncated" with nothing older left): an error, never a loop or a panic.
pub(super) fn out_of_order() -> Error {
    Error::Failed("history answered outside the requested range".into())
}

/// The largest `skip` the host accepts in `read-last` (the contract's limit).
pub(crate) const MAX_SKIP: u64 = 10_000_000;

/// Plans a count-form window: the `n` newest records before `before` after skipping `skip`.
/// `keep_newest` (streaming): hold on to the first (newest) answer, visit it last and read
/// the older records by count ([`Plan::CountThen`]); `fetch` does not, to allocate its result
/// once at its exact size and stay within result + one chunk.
fn plan_last(
    h: &dyn History,
    series: u64,
    n: u64,
    skip: u64,
    before: Timestamp,
    keep_newest: bool,
) -> Result<Plan> {
    let want = n.min(CHUNK);
    let first = h.read_last(series, want, skip, before)?;
    let got = first.len() as u64;
    let full = got >= want || first.truncated();
    let (Some(&oldest), Some(&newest)) = (first.timestamps().first(), first.timestamps().last())
    else {
        return Ok(Plan::Whole(first));
    };
    if got >= n || !full {
        return Ok(Plan::Whole(first));
    }
    let rest = n - got;
    // Streaming: the older records by count. Every skip must stay within the host's limit
    // (beyond it, windows of tens of millions of records, the probe plan below serves
    // streaming as well). Each piece is read with up to two records of overlap: when the host
    // cut the first answer (`got` is its answer size), pieces of `got - 2` keep those reads
    // within it.
    if keep_newest && got > 2 && skip.saturating_add(n) <= MAX_SKIP {
        let step = if first.truncated() { got - 2 } else { got };
        let mut newest = first;
        newest.set_truncated(false);
        return Ok(Plan::CountThen {
            rest,
            skip_from: skip + got,
            step,
            before,
            newest,
        });
    }
    // Probes: note where the first answer lies (the records between its oldest and newest are
    // exactly its records, timestamps being unique) and walk towards older records one
    // answer's worth (`got`, the host's effective answer size) at a time, asking only for the
    // oldest record of each step.
    let step = got;
    drop(first);
    let mut pieces = vec![Piece {
        from: oldest,
        to: newest.saturating_add(1),
        len: got,
    }];
    let mut remaining = rest;
    let mut bound = oldest;
    while remaining > 0 {
        let want = remaining.min(step);
        let probe = h.read_last(series, 1, want - 1, bound)?;
        match probe.timestamps().first() {
            Some(&t) if t < bound => {
                pieces.push(Piece {
                    from: t,
                    to: bound,
                    len: want,
                });
                remaining -= want;
                bound = t;
            }
            Some(_) => return Err(out_of_order()),
            None => {
                // Fewer than `want` records are left before `bound`: all of them belong.
                pieces.push(Piece {
                    from: Timestamp::MIN,
                    to: bound,
                    len: want,
                });
                break;
            }
        }
    }
    Ok(Plan::Pieces(pieces))
}

/// Plans a time-form window `[from, to)`: pieces of known size when `exact`, else a scan.
fn plan_range(
    h: &dyn History,
    series: u64,
    from: Timestamp,
    to: Timestamp,
    exact: bool,
) -> Result<Plan> {
    if from >= to {
        return Ok(Plan::Whole(Points::new()));
    }
    let first = h.read_range(series, from, to, CHUNK)?;
    if !first.truncated() {
        return Ok(Plan::Whole(first));
    }
    if exact {
        return split_range(h, series, from, to, &first).map(Plan::Pieces);
    }
    // The newest answer's worth spans [oldest, to): slices half that wide hold about half an
    // answer where the density is the same. No probes: the window is read once, plus this
    // first answer.
    let oldest = match first.timestamps().first() {
        Some(&t) if t > from && t < to => t,
        _ => return Err(out_of_order()),
    };
    Ok(Plan::Scan {
        from,
        to,
        width: (to.saturating_sub(oldest) / 2).max(1),
        step: first.len() as u64,
    })
}

/// Splits `[from, to)` into pieces of at most one answer each, given `first`: the host's
/// truncated answer for the whole range (its newest points). The pieces are newest first.
pub(super) fn split_range(
    h: &dyn History,
    series: u64,
    from: Timestamp,
    to: Timestamp,
    first: &Points,
) -> Result<Vec<Piece>> {
    let step = first.len() as u64;
    // Truncated means older points exist in [from, oldest): so oldest > from, which also
    // guarantees every split makes progress.
    let oldest = match first.timestamps().first() {
        Some(&t) if t > from && t < to => t,
        _ => return Err(out_of_order()),
    };
    let mut pieces = vec![Piece {
        from: oldest,
        to,
        len: step,
    }];
    let mut bound = oldest;
    while from < bound {
        let probe = h.read_last(series, 1, step - 1, bound)?;
        match probe.timestamps().first() {
            Some(&t) if t >= from && t < bound => {
                pieces.push(Piece {
                    from: t,
                    to: bound,
                    len: step,
                });
                bound = t;
            }
            Some(&t) if t >= bound => return Err(out_of_order()),
            // Fewer than `step` points are left in [from, bound) (perhaps none).
            _ => {
                pieces.push(Piece {
                    from,
                    to: bound,
                    len: step,
                });
                break;
            }
        }
    }
    Ok(pieces)
}
