//! Reading a window through [`History`]: whole ([`Window::fetch`]) or one chunk at a time
//! ([`Window::for_each_chunk`]), both over the same plan and the same strict rule.

use super::walk::walk;
use super::{Coverage, Window};
use crate::error::Result;
use crate::history::History;
use crate::points::Points;

impl Window {
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
    ///
    /// [`CHUNK`]: super::CHUNK
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
    ///
    /// [`CHUNK`]: super::CHUNK
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
}
