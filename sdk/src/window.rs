//! ALEPIZ-style windows (`num`, `shift`) per semantics.md section 2, and reading a window
//! through [`History`]: whole ([`Window::fetch`]) or one chunk at a time
//! ([`Window::for_each_chunk`]).

use crate::error::{Error, Result, bad_argument};
use crate::history::History;
use crate::points::{Points, Timestamp};

/// Values at or above this (2000-01-01T00:00:00Z in ms) are absolute timestamps, below it
/// durations.
pub const TIMESTAMP_THRESHOLD: i64 = 946_684_800_000;

/// How many points one host call asks for. Windows larger than this are read in several
/// calls, so a function always sees its whole window.
pub const CHUNK: u64 = 65_536;

/// One parsed `num` or `shift` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// `#N`: a number of records (for `num`) or of newest records to skip (for `shift`).
    Count(u64),
    /// A duration in ms (`300000`, `5m`, `1.5h`).
    Duration(i64),
    /// An absolute time: a number ≥ [`TIMESTAMP_THRESHOLD`] or an ISO-8601 date-time.
    Timestamp(Timestamp),
}

/// A window: which records of the series a function computes on. Build it with
/// [`Window::parse`] (or [`Args::window`](crate::Args::window)) and read it with
/// [`Window::fetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    num: Term,
    shift: Term,
    strict: bool,
}

/// Where a window lies once `now` is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The `n` newest records before `before` after skipping `skip` (count form; strict mode
    /// needs ≥ 90 % of `n`).
    Last {
        /// Records wanted.
        n: u64,
        /// Newest records skipped.
        skip: u64,
        /// Exclusive upper time bound.
        before: Timestamp,
    },
    /// Every record of `[from, to)` (time form; strict mode needs ≥ 2 records and the first
    /// within 1.2 median gaps of `from`).
    Range {
        /// Inclusive start.
        from: Timestamp,
        /// Exclusive end.
        to: Timestamp,
    },
    /// `f(period, #K)`: skip the `skip` newest records; the window is the `period` ending with,
    /// and including, the newest record left.
    Anchored {
        /// Newest records skipped.
        skip: u64,
        /// Period in ms.
        period: i64,
    },
}

impl Window {
    /// Parses `num` and `shift` (either may be `None` or empty: an empty `shift` is 0, an
    /// empty `num` is an error naming `num`). A `!` before or after `num`'s `#` (`!#20`,
    /// `#!20`, `!5m`) makes the window strict.
    pub fn parse(num: Option<&str>, shift: Option<&str>) -> Result<Window> {
        let num = num.map(str::trim).filter(|s| !s.is_empty());
        let Some(num) = num else {
            return Err(bad_argument(
                "num",
                "required: #N, a duration (5m) or a timestamp",
            ));
        };
        let (num_text, strict) = strip_strict(num);
        let num = parse_term(&num_text, "num")?;
        if num == Term::Count(0) {
            return Err(bad_argument("num", "#0 selects nothing; use #1 or more"));
        }
        if let Term::Duration(d) = num
            && d < 0
        {
            return Err(bad_argument("num", "a period cannot be negative"));
        }
        let shift = match shift.map(str::trim).filter(|s| !s.is_empty()) {
            None => Term::Duration(0),
            Some(s) => {
                if s.contains('!') {
                    return Err(bad_argument(
                        "shift",
                        "the strict marker `!` belongs on num (`!#20`, `!5m`)",
                    ));
                }
                let t = parse_term(s, "shift")?;
                if let Term::Duration(d) = t
                    && d < 0
                {
                    return Err(bad_argument("shift", "a shift cannot be negative"));
                }
                t
            }
        };
        if let Term::Timestamp(_) = num {
            match shift {
                Term::Timestamp(_) | Term::Duration(0) => {}
                _ => {
                    return Err(bad_argument(
                        "shift",
                        "after a timestamp num, shift must be a second timestamp (or empty)",
                    ));
                }
            }
        }
        Ok(Window { num, shift, strict })
    }

    /// A window of the `n` newest records (`#n`).
    pub fn last(n: u64) -> Window {
        Window {
            num: Term::Count(n),
            shift: Term::Duration(0),
            strict: false,
        }
    }

    /// True for a strict (`!`) window.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The parsed `num`.
    pub fn num(&self) -> Term {
        self.num
    }

    /// The parsed `shift`.
    pub fn shift(&self) -> Term {
        self.shift
    }

    /// True when the window is a count of records ending at the evaluation time (`#N`,
    /// `#N,#K`, `0,#K`): its [`Span::Last`] has `before: now` and nothing else depends on it.
    fn ends_now(&self) -> bool {
        matches!(
            (self.num, self.shift),
            (Term::Count(_), Term::Count(_) | Term::Duration(0))
                | (Term::Duration(0), Term::Count(_))
        )
    }

    /// Where the window lies at evaluation time `now`.
    pub fn span(&self, now: Timestamp) -> Span {
        // "At or before t" as an exclusive bound, never past `now` (points at `now` are
        // invisible).
        let at_or_before = |t: Timestamp| t.saturating_add(1).min(now);
        match (self.num, self.shift) {
            (Term::Count(n), Term::Count(k)) => Span::Last {
                n,
                skip: k,
                before: now,
            },
            (Term::Count(n), Term::Duration(s)) => Span::Last {
                n,
                skip: 0,
                before: now.saturating_sub(s),
            },
            (Term::Count(n), Term::Timestamp(t)) => Span::Last {
                n,
                skip: 0,
                before: t.min(now),
            },
            // Period 0: the newest record at or before now − shift (ALEPIZ's "0 = newest").
            (Term::Duration(0), Term::Count(k)) => Span::Last {
                n: 1,
                skip: k,
                before: now,
            },
            (Term::Duration(0), Term::Duration(s)) => Span::Last {
                n: 1,
                skip: 0,
                before: at_or_before(now.saturating_sub(s)),
            },
            (Term::Duration(0), Term::Timestamp(t)) => Span::Last {
                n: 1,
                skip: 0,
                before: at_or_before(t),
            },
            (Term::Duration(p), Term::Count(k)) => Span::Anchored { skip: k, period: p },
            (Term::Duration(p), Term::Duration(s)) => {
                let to = now.saturating_sub(s);
                Span::Range {
                    from: to.saturating_sub(p),
                    to,
                }
            }
            (Term::Duration(p), Term::Timestamp(t)) => Span::Range {
                from: t,
                to: t.saturating_add(p),
            },
            (Term::Timestamp(a), Term::Timestamp(b)) => Span::Range {
                from: a.min(b),
                to: a.max(b),
            },
            // `parse` only lets an empty shift through here: from the timestamp until now.
            (Term::Timestamp(a), _) => Span::Range { from: a, to: now },
        }
    }

    /// Reads the whole window from the current series into one [`Points`], oldest first.
    /// `Ok(None)` means a strict window that is not well covered ("no data").
    ///
    /// A window of at most [`CHUNK`] points costs one host read. A larger one is first
    /// planned, so that its size is known before any of it is kept: walking from the window's
    /// newest end, one-point reads that each skip a chunk's worth of points find where every
    /// chunk starts (the host reads those points but does not hand them over; the window is
    /// read about 1.5 times in all). The result is then allocated once at its final size and
    /// filled chunk by chunk, oldest first, so at no time does more than the result plus one
    /// chunk (about 16 bytes per numeric point, plus 1 MiB) live in memory. Functions that
    /// need only one pass over the values should use [`Window::for_each_chunk`] instead,
    /// which holds one chunk at a time whatever the window's size.
    pub fn fetch(&self, h: &dyn History) -> Result<Option<Points>> {
        let series = h.series_id();
        let (plan, mut tracker) = self.plan(h, series, true)?;
        let mut all: Option<Points> = None;
        walk(h, series, plan, |chunk, still_expected| {
            tracker.add(chunk.timestamps());
            match all.as_mut() {
                Some(all) => all.extend(chunk),
                None => {
                    let mut first = chunk;
                    // The plan knows how many points follow: grow once, to the final size.
                    first.reserve_exact(usize::try_from(still_expected).unwrap_or(0));
                    all = Some(first);
                }
            }
            Ok(())
        })?;
        if !tracker.well_covered(self.strict) {
            return Ok(None);
        }
        let mut all = all.unwrap_or_default();
        // Every piece was read whole, so the joined answer is the whole window.
        all.set_truncated(false);
        Ok(Some(all))
    }

    /// Visits the window chunk by chunk, **oldest chunk first** (and, as always, oldest point
    /// first within a chunk), calling `f` once per non-empty chunk of at most [`CHUNK`]
    /// points. Only the chunk being visited is held in memory, so a function that needs one
    /// pass over the values (a sum, a count, a minimum) works on windows of any size within
    /// the default plugin memory.
    ///
    /// Returns `Ok(None)` when the window is strict and not well covered ("no data"), with the
    /// same rule as [`Window::fetch`]; since that can only be known once every point has been
    /// seen, `f` has then already been called, and the caller discards what it computed.
    /// Otherwise `Ok(Some(coverage))` says how many points were visited. An error from `f`
    /// stops the walk and is returned.
    ///
    /// The window and its strict rule are exactly those of [`Window::fetch`], for every form:
    /// the points `f` sees, in order, are the points `fetch` would return, so a fold over
    /// them gives the same result bit for bit. The strict time rule (median gap) is decided
    /// on the fly in constant memory: no timestamps are kept.
    ///
    /// Cost: a window of at most [`CHUNK`] points is one host read, as with `fetch`. A larger
    /// one needs more, because the host answers with the *newest* points of a request while
    /// the visit goes oldest first:
    /// - time form (a period, timestamps, `P, #K`): read oldest first in slices of time, sized
    ///   from the density of the newest chunk and adapted as the data thins or thickens (a
    ///   slice that overflows is read again half as wide); about one read of the window in all;
    /// - count form (`#N`): the newest answer is kept and visited last; the older records are
    ///   read oldest first by count (each piece addressed by how many newer records it skips,
    ///   which the host passes over without decoding them), with one record of overlap that
    ///   shows whether a write moved the counts meanwhile (then the rest is read by time);
    ///   about one read of the window in all, and no probes.
    pub fn for_each_chunk(
        &self,
        h: &dyn History,
        mut f: impl FnMut(&Points) -> Result<()>,
    ) -> Result<Option<Coverage>> {
        let series = h.series_id();
        let (plan, mut tracker) = self.plan(h, series, false)?;
        walk(h, series, plan, |chunk, _| {
            tracker.add(chunk.timestamps());
            f(&chunk)
        })?;
        Ok(tracker.well_covered(self.strict).then_some(Coverage {
            points: tracker.points,
        }))
    }

    /// Where the window lies, read as far as needed to know how to visit it oldest first.
    /// `exact`: a large time-form window is split into pieces of known size (what `fetch`
    /// needs to allocate once) rather than scanned by slices of time (cheaper).
    fn plan(&self, h: &dyn History, series: u64, exact: bool) -> Result<(Plan, Tracker)> {
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

/// What [`Window::for_each_chunk`] visited in a window that passed the strict rule (or was not
/// strict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Points visited (records of any kind, numbers and strings).
    pub points: u64,
}

/// How a window is read: whole from the first answer, or as pieces planned from its newest end.
#[derive(Debug)]
enum Plan {
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
struct Piece {
    from: Timestamp,
    to: Timestamp,
    len: u64,
}

/// An answer that contradicts the read that asked for it (a point outside the requested
/// range, or "truncated" with nothing older left): an error, never a loop or a panic.
fn out_of_order() -> Error {
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
fn split_range(
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

/// Reads a plan oldest first, handing each non-empty chunk to `visit` with the number of
/// points the plan still expects after it (an upper bound, for reserving memory).
fn walk(
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

/// The strict rule, decided while the window's points go by, oldest first, in constant memory.
///
/// The time form needs the median gap `m` between neighbours and asks whether
/// `first ≤ from + 1.2·m` (in `f64`, as [`time_well_covered`] computes it). That test is
/// monotone in `m`, so once the first timestamp is known each gap either passes it on its own
/// or fails it, and the failing gaps are exactly the smallest ones. With `c` failing gaps out
/// of `g`, the middle gap (odd `g`) passes iff `c ≤ g/2`; for even `g` the median is the mean
/// of the two middle gaps, which passes when both do (`c < g/2`), fails when both fail
/// (`c > g/2`), and otherwise is the mean of the largest failing and the smallest passing gap.
#[derive(Debug)]
struct Tracker {
    /// `Some(n)`: the count form, `#n`; `None`: the time form.
    wanted: Option<u64>,
    from: Timestamp,
    points: u64,
    first: Option<Timestamp>,
    prev: Option<Timestamp>,
    failing: u64,
    max_failing: Option<i64>,
    min_passing: Option<i64>,
}

impl Tracker {
    fn count(n: u64) -> Self {
        Self::new(Some(n), Timestamp::MIN)
    }

    fn time(from: Timestamp) -> Self {
        Self::new(None, from)
    }

    fn new(wanted: Option<u64>, from: Timestamp) -> Self {
        Tracker {
            wanted,
            from,
            points: 0,
            first: None,
            prev: None,
            failing: 0,
            max_failing: None,
            min_passing: None,
        }
    }

    /// The time-form test for a median of `m`: the same expression as [`time_well_covered`].
    fn passes(&self, first: Timestamp, m: f64) -> bool {
        (first as f64) <= self.from as f64 + 1.2 * m
    }

    fn add(&mut self, ts: &[Timestamp]) {
        self.points += ts.len() as u64;
        if self.wanted.is_some() {
            return;
        }
        for &t in ts {
            let Some(prev) = self.prev.replace(t) else {
                self.first = Some(t);
                continue;
            };
            let Some(first) = self.first else { continue };
            let gap = t.saturating_sub(prev);
            if self.passes(first, gap as f64) {
                self.min_passing = Some(self.min_passing.map_or(gap, |m| m.min(gap)));
            } else {
                self.failing += 1;
                self.max_failing = Some(self.max_failing.map_or(gap, |m| m.max(gap)));
            }
        }
    }

    fn well_covered(&self, strict: bool) -> bool {
        if !strict {
            return true;
        }
        if let Some(n) = self.wanted {
            return count_well_covered(usize::try_from(self.points).unwrap_or(usize::MAX), n);
        }
        let Some(first) = self.first else {
            return false;
        };
        if self.points < 2 {
            return false;
        }
        let gaps = self.points - 1;
        let mid = gaps / 2;
        if gaps % 2 == 1 {
            return self.failing <= mid;
        }
        if self.failing < mid {
            return true;
        }
        if self.failing > mid {
            return false;
        }
        match (self.max_failing, self.min_passing) {
            (Some(a), Some(b)) => self.passes(first, (a as f64 + b as f64) / 2.0),
            // Unreachable with 0 < failing = mid < gaps; "not covered" is the safe answer.
            _ => false,
        }
    }
}

/// Strict count form: at least 90 % of the requested records.
pub fn count_well_covered(got: usize, wanted: u64) -> bool {
    // Integer form of got ≥ 0.9·wanted, exact for any size.
    (got as u128) * 10 >= (wanted as u128) * 9
}

/// Strict time form: at least 2 records, and the first no later than
/// `from + 1.2 × (median gap between records)`.
pub fn time_well_covered(ts: &[Timestamp], from: Timestamp) -> bool {
    if ts.len() < 2 {
        return false;
    }
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let median = if gaps.len() % 2 == 1 {
        gaps[mid] as f64
    } else {
        (gaps[mid - 1] as f64 + gaps[mid] as f64) / 2.0
    };
    (ts[0] as f64) <= from as f64 + 1.2 * median
}

/// Splits a leading `!`, or a `!` right after `#`, off a `num` parameter.
fn strip_strict(s: &str) -> (String, bool) {
    if let Some(rest) = s.strip_prefix('!') {
        return (rest.trim_start().to_owned(), true);
    }
    if let Some(rest) = s.strip_prefix("#!") {
        return (format!("#{rest}"), true);
    }
    (s.to_owned(), false)
}

/// Parses one `num`/`shift` term; `name` goes into errors.
pub fn parse_term(s: &str, name: &str) -> Result<Term> {
    let s = s.trim();
    if let Some(count) = s.strip_prefix('#') {
        let n = count.trim().parse::<u64>().map_err(|_| {
            bad_argument(
                name,
                format!("`{s}`: a count is # followed by a whole number (#10)"),
            )
        })?;
        return Ok(Term::Count(n));
    }
    if looks_like_iso(s) {
        return parse_iso8601(s)
            .map(Term::Timestamp)
            .ok_or_else(|| bad_argument(name, format!("`{s}` is not a valid ISO-8601 date-time")));
    }
    let bare = s
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    let ms = parse_duration(s).ok_or_else(|| {
        bad_argument(
            name,
            format!(
                "`{s}`: expected #N, a duration (ms or with s m h d w: 5m, 1.5h) or a timestamp"
            ),
        )
    })?;
    if bare && ms >= TIMESTAMP_THRESHOLD {
        Ok(Term::Timestamp(ms))
    } else {
        Ok(Term::Duration(ms))
    }
}

/// Parses a duration: a decimal number of ms, or with a unit suffix `s m h d w` (any case).
/// The result must be a whole number of ms (`1.5m` = 90000, `0.5` is an error). A sign is
/// allowed (callers reject negatives where they make no sense).
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (number, unit): (&str, i128) = match s.as_bytes().last()? {
        b's' | b'S' => (&s[..s.len() - 1], 1_000),
        b'm' | b'M' => (&s[..s.len() - 1], 60_000),
        b'h' | b'H' => (&s[..s.len() - 1], 3_600_000),
        b'd' | b'D' => (&s[..s.len() - 1], 86_400_000),
        b'w' | b'W' => (&s[..s.len() - 1], 604_800_000),
        _ => (s, 1),
    };
    let (negative, digits) = match number.trim_end().as_bytes().first()? {
        b'-' => (true, &number.trim_end()[1..]),
        b'+' => (false, &number.trim_end()[1..]),
        _ => (false, number.trim_end()),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Exact decimal arithmetic: mantissa · unit / 10^scale must be whole.
    let frac_part = frac_part.trim_end_matches('0');
    if int_part.len() + frac_part.len() > 30 {
        return None;
    }
    let mantissa: i128 = format!("{int_part}{frac_part}").parse().unwrap_or(0);
    let scale = 10_i128.checked_pow(u32::try_from(frac_part.len()).ok()?)?;
    let scaled = mantissa.checked_mul(unit)?;
    if scaled % scale != 0 {
        return None;
    }
    let ms = scaled / scale;
    let ms = if negative { -ms } else { ms };
    i64::try_from(ms).ok()
}

/// `YYYY-MM-DD...`: the start of an ISO-8601 date.
fn looks_like_iso(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// Parses `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM|±HHMM]` to epoch ms (no offset = UTC).
pub fn parse_iso8601(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let date = s.get(..10)?;
    let year = num(date.get(..4)?)?;
    if date.as_bytes().get(4) != Some(&b'-') || date.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let month = num(date.get(5..7)?)?;
    let day = num(date.get(8..10)?)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    // Split off the zone designator.
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, z) = rest.split_at(pos);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = z[1..].replace(':', "");
        if z.len() != 4 {
            return None;
        }
        let hh = num(&z[..2])?;
        let mm = num(&z[2..])?;
        if hh > 23 || mm > 59 {
            return None;
        }
        (t, sign * (hh * 3_600_000 + mm * 60_000))
    } else {
        (rest, 0)
    };
    let mut parts = time.splitn(3, ':');
    let hh = num(parts.next()?)?;
    let mm = num(parts.next()?)?;
    let (ss, frac_ms) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let frac_ms = if frac.is_empty() {
                0
            } else {
                // Milliseconds: the first three digits, padded.
                let mut f: String = frac.chars().take(3).collect();
                while f.len() < 3 {
                    f.push('0');
                }
                if !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                num(&f)?
            };
            (num(whole)?, frac_ms)
        }
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    ms += hh * 3_600_000 + mm * 60_000 + ss * 1000 + frac_ms;
    Some(ms - offset_ms)
}

/// Days of a month in the proleptic Gregorian calendar.
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Trends;
    use crate::testing::MemHistory;
    use crate::value::Value;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300000"), Some(300_000));
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("5M"), Some(300_000));
        assert_eq!(parse_duration("1.5m"), Some(90_000));
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000));
        assert_eq!(parse_duration("1w"), Some(604_800_000));
        assert_eq!(parse_duration("0.001s"), Some(1));
        assert_eq!(parse_duration("-10m"), Some(-600_000));
        assert_eq!(parse_duration("0"), Some(0));
        for bad in [
            "", "0.5", "1.5", "m", "5x", "1e3", "abc", "0.0001s", "--5", "5 m m",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(parse_iso8601("2023-11-14T22:13:20Z"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14T22:13:20.000Z"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14 22:13:20"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-15T00:13:20+02:00"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14T21:13:20-0100"), Some(NOW));
        assert_eq!(parse_iso8601("2023-11-14T22:13:20.5Z"), Some(NOW + 500));
        assert_eq!(parse_iso8601("2000-01-01"), Some(TIMESTAMP_THRESHOLD));
        assert_eq!(parse_iso8601("2024-02-29T00:00Z"), Some(1_709_164_800_000));
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-11-14T25:00Z",
            "2023-11-14X",
            "2023-1-1",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn term_kinds() {
        assert_eq!(parse_term("#10", "num").unwrap(), Term::Count(10));
        assert_eq!(parse_term("5m", "num").unwrap(), Term::Duration(300_000));
        assert_eq!(
            parse_term("946684799999", "num").unwrap(),
            Term::Duration(946_684_799_999)
        );
        assert_eq!(
            parse_term("946684800000", "num").unwrap(),
            Term::Timestamp(TIMESTAMP_THRESHOLD)
        );
        assert_eq!(
            parse_term("2023-11-14T22:13:20Z", "num").unwrap(),
            Term::Timestamp(NOW)
        );
        let err = parse_term("#5m", "num").unwrap_err();
        assert!(err.to_string().contains("`num`"), "{err}");
        assert!(parse_term("#-1", "shift").is_err());
        assert!(parse_term("1.5", "shift").is_err());
    }

    #[test]
    fn strict_markers() {
        for s in ["!#20", "#!20", "! #20"] {
            let w = Window::parse(Some(s), None).unwrap();
            assert!(w.is_strict(), "{s}");
            assert_eq!(w.num(), Term::Count(20));
        }
        let w = Window::parse(Some("!5m"), None).unwrap();
        assert!(w.is_strict());
        assert_eq!(w.num(), Term::Duration(300_000));
        assert!(!Window::parse(Some("#20"), None).unwrap().is_strict());
        assert!(Window::parse(Some("#20"), Some("!#1")).is_err());
    }

    #[test]
    fn parse_errors_name_the_parameter() {
        let e = Window::parse(None, None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
        let e = Window::parse(Some("#0"), None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
        let e = Window::parse(Some("-5m"), None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
        let e = Window::parse(Some("5m"), Some("-1m")).unwrap_err();
        assert!(e.to_string().contains("`shift`"));
        let e = Window::parse(Some("1700000000000"), Some("5m")).unwrap_err();
        assert!(e.to_string().contains("`shift`"));
        let e = Window::parse(Some("1700000000000"), Some("#2")).unwrap_err();
        assert!(e.to_string().contains("`shift`"));
        let e = Window::parse(Some("abc"), None).unwrap_err();
        assert!(e.to_string().contains("`num`"));
    }

    #[test]
    fn spans() {
        let w = |n: &str, s: &str| Window::parse(Some(n), Some(s)).unwrap().span(NOW);
        assert_eq!(
            w("#10", ""),
            Span::Last {
                n: 10,
                skip: 0,
                before: NOW
            }
        );
        assert_eq!(
            w("#10", "#3"),
            Span::Last {
                n: 10,
                skip: 3,
                before: NOW
            }
        );
        assert_eq!(
            w("#10", "1m"),
            Span::Last {
                n: 10,
                skip: 0,
                before: NOW - 60_000
            }
        );
        assert_eq!(
            w("5m", ""),
            Span::Range {
                from: NOW - 300_000,
                to: NOW
            }
        );
        assert_eq!(
            w("5m", "1m"),
            Span::Range {
                from: NOW - 360_000,
                to: NOW - 60_000
            }
        );
        assert_eq!(
            w("1.5m", "0"),
            Span::Range {
                from: NOW - 90_000,
                to: NOW
            }
        );
        let t = NOW - 1_000_000;
        assert_eq!(
            w("5m", &t.to_string()),
            Span::Range {
                from: t,
                to: t + 300_000
            }
        );
        assert_eq!(
            w(&t.to_string(), &(t + 10).to_string()),
            Span::Range {
                from: t,
                to: t + 10
            }
        );
        assert_eq!(
            w(&(t + 10).to_string(), &t.to_string()),
            Span::Range {
                from: t,
                to: t + 10
            }
        );
        assert_eq!(w(&t.to_string(), ""), Span::Range { from: t, to: NOW });
        assert_eq!(
            w("0", ""),
            Span::Last {
                n: 1,
                skip: 0,
                before: NOW
            }
        );
        assert_eq!(
            w("!0", "1m"),
            Span::Last {
                n: 1,
                skip: 0,
                before: NOW - 60_000 + 1
            }
        );
        assert_eq!(
            w("0", "#2"),
            Span::Last {
                n: 1,
                skip: 2,
                before: NOW
            }
        );
        assert_eq!(
            w("5m", "#2"),
            Span::Anchored {
                skip: 2,
                period: 300_000
            }
        );
        assert_eq!(
            w("#3", &t.to_string()),
            Span::Last {
                n: 3,
                skip: 0,
                before: t
            }
        );
    }

    /// One point a minute, values 1..=10, the newest one minute before NOW.
    fn minutes() -> MemHistory {
        MemHistory::new(NOW).with_points((1..=10).map(|i| (NOW - (11 - i) * 60_000, i as f64)))
    }

    fn values(p: &Points) -> Vec<f64> {
        p.numbers()
    }

    fn fetch(h: &MemHistory, num: &str, shift: &str) -> Option<Vec<f64>> {
        Window::parse(Some(num), Some(shift))
            .unwrap()
            .fetch(h)
            .unwrap()
            .map(|p| values(&p))
    }

    #[test]
    fn fetch_forms() {
        let h = minutes();
        assert_eq!(fetch(&h, "#3", ""), Some(vec![8.0, 9.0, 10.0]));
        assert_eq!(fetch(&h, "#3", "#2"), Some(vec![6.0, 7.0, 8.0]));
        // The 2 newest records older than now − 2m: 10 is at now−1m, 9 at now−2m (not older).
        assert_eq!(fetch(&h, "#2", "2m"), Some(vec![7.0, 8.0]));
        // [now−3m, now): records at now−3m, −2m, −1m.
        assert_eq!(fetch(&h, "3m", ""), Some(vec![8.0, 9.0, 10.0]));
        assert_eq!(fetch(&h, "3m", "2m"), Some(vec![6.0, 7.0, 8.0]));
        // Period 0: newest at or before now − 2m includes the record exactly at now − 2m.
        assert_eq!(fetch(&h, "0", "2m"), Some(vec![9.0]));
        assert_eq!(fetch(&h, "0", ""), Some(vec![10.0]));
        assert_eq!(fetch(&h, "0", "#1"), Some(vec![9.0]));
        // f(period, #K): skip 2 → anchor is 8 at now−3m; (t − 2m, t] holds 7 and 8.
        assert_eq!(fetch(&h, "2m", "#2"), Some(vec![7.0, 8.0]));
        // Absolute, either order.
        let a = (NOW - 5 * 60_000).to_string();
        let b = (NOW - 3 * 60_000).to_string();
        assert_eq!(fetch(&h, &a, &b), Some(vec![6.0, 7.0]));
        assert_eq!(fetch(&h, &b, &a), Some(vec![6.0, 7.0]));
        assert_eq!(fetch(&h, "2m", &a), Some(vec![6.0, 7.0]));
        assert_eq!(
            fetch(&h, "2023-11-14T22:08:20Z", "2023-11-14T22:10:20Z"),
            Some(vec![6.0, 7.0])
        );
        // Empty windows are empty, not errors.
        assert_eq!(fetch(&h, "30s", ""), Some(vec![]));
        assert_eq!(fetch(&h, "#3", "#20"), Some(vec![]));
        assert_eq!(fetch(&h, "2m", "#20"), Some(vec![]));
    }

    #[test]
    fn evaluation_time_hides_the_future() {
        // Evaluated 3.5 minutes ago, the series ends with 7.
        let h = minutes().at(NOW - 210_000);
        assert_eq!(fetch(&h, "#2", ""), Some(vec![6.0, 7.0]));
        assert_eq!(fetch(&h, "0", ""), Some(vec![7.0]));
        assert_eq!(fetch(&h, "10m", ""), Some((1..=7).map(f64::from).collect()));
    }

    #[test]
    fn strict_count_needs_ninety_percent() {
        let h = minutes();
        assert_eq!(fetch(&h, "!#11", "").map(|v| v.len()), Some(10)); // 10 of 11 is 90.9 %
        assert_eq!(fetch(&h, "#!12", ""), None); // 10 of 12 is 83 %
        assert_eq!(fetch(&h, "#12", "").map(|v| v.len()), Some(10));
        assert!(count_well_covered(9, 10));
        assert!(!count_well_covered(8, 10));
        assert!(!count_well_covered(0, 1));
    }

    #[test]
    fn strict_time_needs_coverage() {
        let h = minutes();
        // 15 minutes over 10 one-minute records: the first is 5 min after `from` (> 72 s).
        assert_eq!(fetch(&h, "!15m", ""), None);
        assert_eq!(fetch(&h, "15m", "").map(|v| v.len()), Some(10));
        // 10 minutes: the first record is exactly at `from`.
        assert_eq!(fetch(&h, "!10m", "").map(|v| v.len()), Some(10));
        // 11 minutes: first record 60 s after from ≤ 72 s.
        assert_eq!(fetch(&h, "!11m", "").map(|v| v.len()), Some(10));
        // One record is never enough.
        assert_eq!(fetch(&h, "!1m", ""), None);
        assert!(time_well_covered(&[100, 200, 300], 0)); // 100 ≤ 0 + 120
        assert!(!time_well_covered(&[130, 200, 300], 0));
        // The median ignores one long gap.
        assert!(!time_well_covered(&[500, 510, 520, 530, 2000], 480));
        assert!(time_well_covered(&[500, 510, 520, 530, 2000], 490));
    }

    #[test]
    fn strict_anchored_empty_is_no_data() {
        let h = minutes();
        assert_eq!(fetch(&h, "!2m", "#20"), None);
    }

    #[test]
    fn big_windows_are_read_whole_in_chunks() {
        // The host answers at most 1000 points per call; windows of 250k points still arrive
        // whole, by count and by time.
        let n = 250_000_i64;
        let h = MemHistory::new(NOW)
            .with_points((0..n).map(|i| (NOW - (n - i) * 10, i as f64)))
            .with_answer_cap(1000);
        let p = Window::parse(Some("#250000"), None)
            .unwrap()
            .fetch(&h)
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), n as usize);
        assert!(p.timestamps().windows(2).all(|w| w[0] < w[1]));
        assert!(!p.truncated());
        let p = Window::parse(Some(&format!("{}", n * 10)), None)
            .unwrap()
            .fetch(&h)
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), n as usize);
        assert_eq!(p.numbers()[0], 0.0);
        assert_eq!(p.numbers()[n as usize - 1], (n - 1) as f64);
        // More than CHUNK through the real chunk size, uncapped host.
        let h = MemHistory::new(NOW).with_points((0..n).map(|i| (NOW - (n - i) * 10, 1.0)));
        let p = Window::parse(Some("#200000"), Some("#10"))
            .unwrap()
            .fetch(&h)
            .unwrap()
            .unwrap();
        assert_eq!(p.len(), 200_000);
        assert_eq!(*p.timestamps().last().unwrap(), NOW - 11 * 10);
    }

    /// The pre-streaming `fetch`: newest chunk first, joined at the end. The reference the
    /// planned reads must agree with, point for point.
    fn reference_fetch(w: &Window, h: &dyn History) -> Option<Points> {
        let series = h.series_id();
        let join = |mut chunks: Vec<Points>| {
            let mut all = chunks.pop().unwrap_or_default();
            while let Some(newer) = chunks.pop() {
                all.extend(newer);
            }
            all.set_truncated(false);
            all
        };
        let last = |n: u64, mut skip: u64, mut before: Timestamp| {
            let (mut chunks, mut remaining) = (Vec::new(), n);
            while remaining > 0 {
                let want = remaining.min(CHUNK);
                let c = h.read_last(series, want, skip, before).unwrap();
                let full = c.len() as u64 >= want || c.truncated();
                let Some(&oldest) = c.timestamps().first() else {
                    break;
                };
                remaining = remaining.saturating_sub(c.len() as u64);
                (skip, before) = (0, oldest);
                chunks.push(c);
                if !full {
                    break;
                }
            }
            join(chunks)
        };
        let range = |from: Timestamp, mut to: Timestamp| {
            let mut chunks = Vec::new();
            while from < to {
                let c = h.read_range(series, from, to, CHUNK).unwrap();
                let more = c.truncated();
                let Some(&oldest) = c.timestamps().first() else {
                    break;
                };
                to = oldest;
                chunks.push(c);
                if !more {
                    break;
                }
            }
            join(chunks)
        };
        match w.span(h.now()) {
            Span::Last { n, skip, before } => {
                let p = last(n, skip, before);
                (!w.is_strict() || count_well_covered(p.len(), n)).then_some(p)
            }
            Span::Range { from, to } => {
                let p = range(from, to);
                (!w.is_strict() || time_well_covered(p.timestamps(), from)).then_some(p)
            }
            Span::Anchored { skip, period } => {
                let anchor = h.read_last(series, 1, skip, h.now()).unwrap();
                let Some(&t) = anchor.timestamps().last() else {
                    return (!w.is_strict()).then(Points::new);
                };
                let from = t.saturating_sub(period).saturating_add(1);
                let p = range(from, t.saturating_add(1));
                (!w.is_strict() || time_well_covered(p.timestamps(), from)).then_some(p)
            }
        }
    }

    /// What `for_each_chunk` visits, joined, and the sizes of the chunks it handed over.
    fn streamed(w: &Window, h: &dyn History) -> (Option<Points>, Vec<usize>) {
        let mut all = Points::new();
        let mut sizes = Vec::new();
        let cov = w
            .for_each_chunk(h, |c| {
                assert!(!c.is_empty(), "empty chunks are not visited");
                sizes.push(c.len());
                all.extend(c.clone());
                Ok(())
            })
            .unwrap();
        if let Some(cov) = cov {
            assert_eq!(cov.points, all.len() as u64);
        }
        (cov.map(|_| all), sizes)
    }

    /// A series of `n` points 10 ms apart ending 10 ms before NOW, with a few irregular gaps
    /// and strings, so that windows cut anywhere and kinds mix across chunks.
    fn irregular(n: i64) -> MemHistory {
        MemHistory::new(NOW).with_points((0..n).map(|i| {
            let ts = NOW - (n - i) * 10 - if i % 97 == 0 { 3 } else { 0 };
            let v = if i % 41 == 0 {
                Value::from(format!("s{i}"))
            } else {
                Value::Num(i as f64 * 0.1)
            };
            (ts, v)
        }))
    }

    /// Every window form, strict or not, as parameter text.
    fn forms(n: i64) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let t = NOW - n * 10;
        for strict in ["", "!"] {
            for (num, shift) in [
                (format!("#{}", n / 2), String::new()),
                (format!("#{}", n - 3), String::new()),
                (format!("#{}", n + 50), String::new()),
                (format!("#{}", n / 3), format!("#{}", n / 5)),
                (format!("#{}", n / 3), "1s".to_owned()),
                (format!("#{}", n / 4), (t + n * 5).to_string()),
                ("0".to_owned(), "#7".to_owned()),
                (format!("{}", n * 10), String::new()),
                (format!("{}", n * 10 + 700), String::new()),
                (format!("{}", n * 7), "2s".to_owned()),
                (format!("{}", n * 4), format!("#{}", n / 7)),
                (format!("{}", n * 30), format!("#{}", n / 7)),
                (t.to_string(), String::new()),
                ((t + 1234).to_string(), (t + n * 6).to_string()),
                (format!("{}", n * 3), (t + 99).to_string()),
                ("5s".to_owned(), format!("#{}", n * 2)),
            ] {
                v.push((format!("{strict}{num}"), shift));
            }
        }
        v
    }

    #[test]
    fn streaming_and_fetch_see_exactly_the_reference_window() {
        let n = 5_000;
        for cap in [u64::MAX, 1000, 333, 7] {
            let h = irregular(n).with_answer_cap(cap);
            for (num, shift) in forms(n) {
                let w = Window::parse(Some(&num), Some(&shift)).unwrap();
                let want = reference_fetch(&w, &h);
                let what = format!("cap {cap}, ({num}, {shift})");
                assert_eq!(w.fetch(&h).unwrap(), want, "fetch {what}");
                let (got, sizes) = streamed(&w, &h);
                assert_eq!(got, want, "stream {what}");
                let limit = usize::try_from(cap.min(CHUNK)).unwrap();
                assert!(sizes.iter().all(|&s| s <= limit), "{what}: {sizes:?}");
                if cap == 7 && want.as_ref().is_some_and(|p| p.len() > 100) {
                    assert!(sizes.len() > 10, "{what}: several chunks expected");
                }
            }
        }
    }

    #[test]
    fn the_real_chunk_size_splits_windows() {
        // No cap: the host answers CHUNK points. A count window of 2.5 chunks comes in 3
        // (the oldest, partial one first); a time window in slices of half a chunk, sized from
        // the density of the newest chunk.
        let c = CHUNK as usize;
        let n = 2 * CHUNK as i64 + CHUNK as i64 / 2;
        let h = MemHistory::new(NOW).with_points((0..n).map(|i| (NOW - (n - i), i as f64 * 0.3)));
        for (num, shift, want) in [
            (format!("#{n}"), "", vec![c / 2, c, c]),
            (format!("#{}", n - 10), "#5", vec![c / 2 - 10, c, c]),
            (format!("{n}"), "", vec![c / 2; 5]),
        ] {
            let w = Window::parse(Some(&num), Some(shift)).unwrap();
            let (got, sizes) = streamed(&w, &h);
            assert_eq!(got, reference_fetch(&w, &h), "{num}");
            assert_eq!(sizes, want, "{num}");
        }
    }

    /// Counts the reads of a [`MemHistory`].
    fn counting(h: MemHistory) -> LateWrites {
        LateWrites {
            inner: std::cell::RefCell::new(h),
            reads: std::cell::Cell::new(0),
            after: u32::MAX,
            late: Vec::new(),
        }
    }

    #[test]
    fn scans_adapt_to_sparse_and_dense_stretches() {
        // A sparse past (20 points a day apart) before a dense present (5000 points 1 ms
        // apart), answers of at most 100: the slices start 50 ms wide, grow across the sparse
        // days in a few doublings, shrink where the data turns dense, and every point is
        // visited once, in order, in far fewer reads than one per millisecond.
        let day = 86_400_000;
        let sparse = (0..20).map(|i| (NOW - 10_000 - (20 - i) * day, 1.0));
        let dense = (0..5000).map(|i| (NOW - 5000 + i, 2.0));
        let h = counting(
            MemHistory::new(NOW)
                .with_points(sparse.chain(dense))
                .with_answer_cap(100),
        );
        let w = Window::parse(Some("30d"), None).unwrap();
        let (got, sizes) = streamed(&w, &h);
        assert_eq!(got, reference_fetch(&w, &*h.inner.borrow()));
        assert_eq!(got.map(|p| p.len()), Some(5020));
        assert!(sizes.iter().all(|&s| s <= 100), "{sizes:?}");
        let reads = h.reads.get();
        eprintln!("sparse then dense: {reads} reads");
        assert!((100..250).contains(&reads), "{reads} reads");

        // The other way round: a dense past under a sparse present. The first slice, sized
        // from the sparse newest answer, overflows and is read again narrower.
        let dense = (0..5000).map(|i| (NOW - 10 * day + i, 2.0));
        let sparse = (0..200).map(|i| (NOW - (200 - i) * 1_000_000, 1.0));
        let h = counting(
            MemHistory::new(NOW)
                .with_points(dense.chain(sparse))
                .with_answer_cap(100),
        );
        let w = Window::parse(Some("11d"), None).unwrap();
        let (got, sizes) = streamed(&w, &h);
        assert_eq!(got, reference_fetch(&w, &*h.inner.borrow()));
        assert_eq!(got.map(|p| p.len()), Some(5200));
        assert!(sizes.iter().all(|&s| s <= 100), "{sizes:?}");
        let reads = h.reads.get();
        eprintln!("dense then sparse: {reads} reads");
        assert!((104..250).contains(&reads), "{reads} reads");
    }

    #[test]
    fn fetch_allocates_the_result_once() {
        let n = 10_000;
        let h = MemHistory::new(NOW)
            .with_points((0..n).map(|i| (NOW - (n - i) * 10, i as f64)))
            .with_answer_cap(999);
        for (num, len) in [
            ("#9000", 9000),
            ("#20000", 10_000),
            ("95000", 9500),
            ("#10000", 10_000),
        ] {
            let w = Window::parse(Some(num), None).unwrap();
            let p = w.fetch(&h).unwrap().unwrap();
            assert_eq!(p.len(), len, "{num}");
            assert_eq!(
                p.capacity(),
                p.len(),
                "{num}: reserved exactly, never regrown"
            );
        }
    }

    /// A history that writes late points into the past after a given number of reads, as a
    /// live store may while a function runs.
    /// A host whose series changes after its `after`-th read: each `(ts, Some(v))` of `late`
    /// is written, each `(ts, None)` deleted.
    struct LateWrites {
        inner: std::cell::RefCell<MemHistory>,
        reads: std::cell::Cell<u32>,
        after: u32,
        late: Vec<(Timestamp, Option<f64>)>,
    }

    impl LateWrites {
        fn tick(&self) {
            self.reads.set(self.reads.get() + 1);
            if self.reads.get() == self.after {
                let mut h = self.inner.borrow_mut();
                for &(t, v) in &self.late {
                    match v {
                        Some(v) => h.push(t, v),
                        None => {
                            h.remove(t);
                        }
                    }
                }
            }
        }
    }

    impl History for LateWrites {
        fn now(&self) -> Timestamp {
            self.inner.borrow().now()
        }
        fn series(&self) -> crate::SeriesInfo {
            self.inner.borrow().series()
        }
        fn series_by_id(&self, id: u64) -> Option<crate::SeriesInfo> {
            self.inner.borrow().series_by_id(id)
        }
        fn series_by_key(&self, key: &str) -> Option<crate::SeriesInfo> {
            self.inner.borrow().series_by_key(key)
        }
        fn read_last(&self, s: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
            self.tick();
            self.inner.borrow().read_last(s, n, skip, before)
        }
        fn read_range(&self, s: u64, from: Timestamp, to: Timestamp, l: u64) -> Result<Points> {
            self.tick();
            self.inner.borrow().read_range(s, from, to, l)
        }
        fn read_trends(&self, s: u64, i: i64, from: Timestamp, to: Timestamp) -> Result<Trends> {
            self.inner.borrow().read_trends(s, i, from, to)
        }
    }

    #[test]
    fn a_piece_that_grew_after_planning_is_split_again() {
        // 100 points 10 ms apart, answers of at most 10: the plan is 1 read + 9 probes, then
        // 10 pieces are read oldest first. After the 12th read (the oldest pieces are done),
        // 25 points land between the newest ones: that piece comes back truncated, is split,
        // and every point is still visited exactly once, in order.
        let base = MemHistory::new(NOW)
            .with_points((0..100).map(|i| (NOW - 1000 + i * 10, 1.0)))
            .with_answer_cap(10);
        let late: Vec<_> = (0..25).map(|i| (NOW - 99 + i * 2, Some(2.0))).collect();
        let h = LateWrites {
            inner: std::cell::RefCell::new(base),
            reads: std::cell::Cell::new(0),
            after: 12,
            late,
        };
        let w = Window::parse(Some("1000"), None).unwrap();
        let (got, _) = streamed(&w, &h);
        let got = got.unwrap();
        assert_eq!(got.len(), 125);
        assert!(got.timestamps().windows(2).all(|p| p[0] < p[1]));
        assert_eq!(got.numbers().iter().sum::<f64>(), 150.0);
        assert!(h.reads.get() > 20, "the split took extra reads");
    }

    #[test]
    fn streamed_count_windows_read_by_count_without_probes() {
        // 100 points, answers of at most 10. `#95`: the newest answer (kept, visited last),
        // then 85 older records in 11 pieces read oldest first: 12 reads, none a probe.
        let base = MemHistory::new(NOW)
            .with_points((0..100).map(|i| (NOW - 1000 + i * 10, i as f64)))
            .with_answer_cap(10);
        let w = Window::parse(Some("#95"), None).unwrap();
        let h = counting(base.clone());
        let (got, sizes) = streamed(&w, &h);
        assert_eq!(got, reference_fetch(&w, &base));
        // Pieces of 8: each read carries up to two records of overlap.
        assert_eq!(sizes, [5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 10]);
        assert_eq!(h.reads.get(), 12);
        // More records asked for than exist: the oldest pieces come back short or empty.
        let w = Window::parse(Some("#150"), Some("#3")).unwrap();
        let h = counting(base.clone());
        let (got, sizes) = streamed(&w, &h);
        assert_eq!(got, reference_fetch(&w, &base));
        assert_eq!(got.as_ref().map(Points::len), Some(97));
        assert_eq!(sizes, [7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 10]);
        assert_eq!(h.reads.get(), 19);
        // Strict: 97 of 150 is not well covered.
        let w = Window::parse(Some("!#150"), Some("#3")).unwrap();
        assert_eq!(streamed(&w, &base).0, None);
    }

    #[test]
    fn late_writes_between_count_pieces_never_repeat_or_reorder_records() {
        // After the n-th read, 30 points land among records already visited and records not
        // yet read: the counts shift, and the pieces read afterwards would repeat records
        // and miss others; each record is still visited once, in order, and none that was
        // in the window all along is missed.
        for after in 2..=10 {
            let base = MemHistory::new(NOW)
                .with_points((0..100).map(|i| (NOW - 1000 + i * 10, 1.0)))
                .with_answer_cap(10);
            let late: Vec<_> = (0..30).map(|i| (NOW - 995 + i * 30, Some(2.0))).collect();
            let late_ts: Vec<i64> = late.iter().map(|&(t, _)| t).collect();
            let h = LateWrites {
                inner: std::cell::RefCell::new(base),
                reads: std::cell::Cell::new(0),
                after,
                late,
            };
            let w = Window::parse(Some("#100"), None).unwrap();
            let (got, _) = streamed(&w, &h);
            let got = got.unwrap();
            let ts = got.timestamps();
            assert!(ts.windows(2).all(|p| p[0] < p[1]), "after {after}: {ts:?}");
            assert!(got.len() <= 130, "after {after}: {}", got.len());
            // Every record in the window both before and after the late write is visited.
            let old: Vec<i64> = (0..100).map(|i| NOW - 1000 + i * 10).collect();
            let mut all: Vec<i64> = old.iter().copied().chain(late_ts.clone()).collect();
            all.sort_unstable();
            let newest_after = &all[all.len() - 100..];
            for t in old.iter().filter(|t| newest_after.contains(t)) {
                assert!(ts.contains(t), "after {after}: {t} missed: {ts:?}");
            }
            // The newest answer was read first, before any late write.
            assert_eq!(ts.last(), Some(&(NOW - 10)));
        }
    }

    #[test]
    fn deletions_between_count_pieces_never_repeat_or_reorder_records() {
        // After the n-th read, 30 records are deleted: the oldest of the window (as
        // retention would), or every fifth one (spread over records already visited and
        // records not yet read). The counts shift the other way than with late writes:
        // pieces read afterwards land on older records. Each record is still visited at most
        // once, in order; none that stayed in the window all along is missed; nothing older
        // than the window at either moment is visited.
        let base: Vec<i64> = (0..150).map(|i| NOW - 1500 + i * 10).collect();
        let oldest_of_window: Vec<i64> = base[50..80].to_vec();
        let spread: Vec<i64> = base[50..].iter().copied().step_by(5).take(30).collect();
        for (name, deleted) in [("oldest", &oldest_of_window), ("spread", &spread)] {
            for after in 2..=10 {
                let h = LateWrites {
                    inner: std::cell::RefCell::new(
                        MemHistory::new(NOW)
                            .with_points(base.iter().map(|&t| (t, 1.0)))
                            .with_answer_cap(10),
                    ),
                    reads: std::cell::Cell::new(0),
                    after,
                    late: deleted.iter().map(|&t| (t, None)).collect(),
                };
                let w = Window::parse(Some("#100"), None).unwrap();
                let (got, _) = streamed(&w, &h);
                let got = got.unwrap();
                let ts = got.timestamps();
                let at = format!("{name}, after read {after}");
                assert!(ts.windows(2).all(|p| p[0] < p[1]), "{at}: {ts:?}");
                let before_window = &base[50..];
                let kept: Vec<i64> = base
                    .iter()
                    .copied()
                    .filter(|t| !deleted.contains(t))
                    .collect();
                let after_window = &kept[kept.len() - 100..];
                // Stayed in the window all along: visited.
                for t in before_window.iter().filter(|t| after_window.contains(t)) {
                    assert!(ts.contains(t), "{at}: {t} missed: {ts:?}");
                }
                // Nothing from outside both windows.
                let oldest = before_window[0].min(after_window[0]);
                assert!(
                    ts[0] >= oldest,
                    "{at}: {} is older than both windows",
                    ts[0]
                );
                assert!(got.len() <= 130, "{at}: {}", got.len());
                assert_eq!(ts.last(), Some(&(NOW - 10)), "{at}");
            }
        }
    }

    /// A host that claims every answer was cut.
    struct AlwaysTruncated(MemHistory);

    impl History for AlwaysTruncated {
        fn now(&self) -> Timestamp {
            self.0.now()
        }
        fn series(&self) -> crate::SeriesInfo {
            self.0.series()
        }
        fn series_by_id(&self, id: u64) -> Option<crate::SeriesInfo> {
            self.0.series_by_id(id)
        }
        fn series_by_key(&self, key: &str) -> Option<crate::SeriesInfo> {
            self.0.series_by_key(key)
        }
        fn read_last(&self, s: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
            self.0.read_last(s, n, skip, before)
        }
        fn read_range(&self, s: u64, from: Timestamp, to: Timestamp, l: u64) -> Result<Points> {
            let (ts, nums, strs, kinds, _) = self.0.read_range(s, from, to, l)?.into_columns();
            Points::from_columns(ts, nums, strs, kinds, true)
        }
        fn read_trends(&self, s: u64, i: i64, from: Timestamp, to: Timestamp) -> Result<Trends> {
            self.0.read_trends(s, i, from, to)
        }
    }

    /// A host that counts `now()` calls.
    struct CountsNow(MemHistory, std::cell::Cell<u32>);

    impl History for CountsNow {
        fn now(&self) -> Timestamp {
            self.1.set(self.1.get() + 1);
            self.0.now()
        }
        fn series(&self) -> crate::SeriesInfo {
            self.0.series()
        }
        fn series_by_id(&self, id: u64) -> Option<crate::SeriesInfo> {
            self.0.series_by_id(id)
        }
        fn series_by_key(&self, key: &str) -> Option<crate::SeriesInfo> {
            self.0.series_by_key(key)
        }
        fn read_last(&self, s: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
            self.0.read_last(s, n, skip, before)
        }
        fn read_range(&self, s: u64, from: Timestamp, to: Timestamp, l: u64) -> Result<Points> {
            self.0.read_range(s, from, to, l)
        }
        fn read_trends(&self, s: u64, i: i64, from: Timestamp, to: Timestamp) -> Result<Trends> {
            self.0.read_trends(s, i, from, to)
        }
    }

    /// Count windows that end at the evaluation time leave `now` to the host's cap (one
    /// import fewer), and still never see a point at or after `now`; every other form asks.
    #[test]
    fn count_windows_ending_now_do_not_ask_for_now() {
        // Points on both sides of now, 1 s apart: values are their offsets from now in s.
        let mem =
            || MemHistory::new(NOW).with_points((-50..50).map(|i| (NOW + i * 1000, i as f64)));
        for (num, shift, ends_now, want) in [
            ("#3", None, true, vec![-3.0, -2.0, -1.0]),
            ("#3", Some("#2"), true, vec![-5.0, -4.0, -3.0]),
            ("0", Some("#1"), true, vec![-2.0]),
            ("#2", Some("10s"), false, vec![-12.0, -11.0]),
            ("3s", None, false, vec![-3.0, -2.0, -1.0]),
            ("0", Some("5s"), false, vec![-5.0]),
        ] {
            let w = Window::parse(Some(num), shift).unwrap();
            assert_eq!(w.ends_now(), ends_now, "{num} {shift:?}");
            let h = CountsNow(mem(), std::cell::Cell::new(0));
            let got = w.fetch(&h).unwrap().unwrap();
            assert_eq!(got.numbers(), want, "{num} {shift:?}");
            let asked = h.1.get();
            assert_eq!(
                asked == 0,
                ends_now,
                "{num} {shift:?}: now() asked {asked} times"
            );
            let h = CountsNow(mem(), std::cell::Cell::new(0));
            let mut seen = Vec::new();
            w.for_each_chunk(&h, |c| {
                seen.extend(c.numbers());
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, want, "{num} {shift:?} streamed");
            assert_eq!(h.1.get() == 0, ends_now);
        }
    }

    #[test]
    fn a_host_that_contradicts_itself_is_an_error_not_a_loop() {
        let h = AlwaysTruncated(minutes());
        let w = Window::parse(Some("10m"), None).unwrap();
        assert!(matches!(w.fetch(&h), Err(Error::Failed(_))));
        assert!(matches!(
            w.for_each_chunk(&h, |_| Ok(())),
            Err(Error::Failed(_))
        ));
    }

    #[test]
    fn errors_from_the_visitor_stop_the_walk() {
        let h = minutes().with_answer_cap(2);
        let w = Window::parse(Some("#10"), None).unwrap();
        let mut calls = 0;
        let r = w.for_each_chunk(&h, |_| {
            calls += 1;
            Err(Error::Failed("stop".into()))
        });
        assert!(matches!(r, Err(Error::Failed(m)) if m == "stop"));
        assert_eq!(calls, 1);
    }

    #[test]
    fn strict_streaming_matches_fetch_on_small_windows() {
        let h = minutes();
        for (num, cov) in [
            ("!#11", Some(10)),
            ("#!12", None),
            ("!15m", None),
            ("!11m", Some(10)),
            ("!1m", None),
            ("!2m", Some(2)),
            ("15m", Some(10)),
        ] {
            let w = Window::parse(Some(num), None).unwrap();
            let got = w.for_each_chunk(&h, |_| Ok(())).unwrap();
            assert_eq!(got, cov.map(|points| Coverage { points }), "{num}");
        }
        let empty = MemHistory::new(NOW);
        let w = Window::parse(Some("#5"), None).unwrap();
        assert_eq!(
            w.for_each_chunk(&empty, |_| panic!("nothing to visit")),
            Ok(Some(Coverage { points: 0 }))
        );
    }

    proptest::proptest! {
        #[test]
        fn durations_parse_exactly(n in -1_000_000_i64..1_000_000, unit in 0_usize..6, tenths in 0_i64..10) {
            let (suffix, ms) = [("", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)][unit];
            proptest::prop_assert_eq!(parse_duration(&format!("{n}{suffix}")), Some(n * ms));
            // One decimal: whole ms exactly when ms·tenths is a multiple of 10.
            let text = format!("{}.{tenths}{suffix}", n.abs());
            let want = (ms * tenths % 10 == 0).then(|| n.abs() * ms + ms * tenths / 10);
            proptest::prop_assert_eq!(parse_duration(&text), want);
        }
    }

    proptest::proptest! {
        /// The constant-memory strict time rule agrees with `time_well_covered` exactly,
        /// however the timestamps are cut into chunks.
        #[test]
        fn streamed_time_rule_matches(
            gaps in proptest::collection::vec(1_i64..50, 0..40),
            start in 0_i64..200,
            from in 0_i64..150,
            cut in 1_usize..7,
        ) {
            let mut ts = Vec::new();
            let mut t = start;
            for g in std::iter::once(0).chain(gaps) {
                t += g;
                ts.push(t);
            }
            let mut tracker = Tracker::time(from);
            for chunk in ts.chunks(cut) {
                tracker.add(chunk);
            }
            proptest::prop_assert_eq!(tracker.well_covered(true), time_well_covered(&ts, from));
            proptest::prop_assert!(tracker.well_covered(false));
        }
    }
}
