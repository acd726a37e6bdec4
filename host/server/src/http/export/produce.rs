//! The export's producer: runs on a blocking thread, reads series by series and page by
//! page through the door, formats lines into buffers of [`BUFFER_BYTES`] and hands them to
//! the response body through a bounded channel. A full channel blocks the producer (the
//! client reads slowly: backpressure); a closed one (the client left) stops it. Memory is
//! bounded by one page of points, one buffer and the channel's few buffers, whatever the
//! size of the export.

use bytes::Bytes;
use clio_core::Window;
use clio_storage::{
    KIND_STR, PointColumns, SeriesId, Timestamp, TrendBucket, TrendInterval, parse_numeric_like,
};
use tokio::sync::mpsc;

use super::format::{SeriesLines, error_trailer};
use super::params::{Agg, ExportQuery};
use crate::door::Gate;
use crate::error::ApiError;

/// Bytes gathered before a buffer goes to the body.
pub(super) const BUFFER_BYTES: usize = 64 * 1024;
/// Points asked for per read (one page of one series).
pub(super) const PAGE_POINTS: usize = 16_384;
/// Trend buckets asked for per read.
const PAGE_BUCKETS: i64 = 8_192;

/// Where aggregated buckets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// Raw points (no step, or a step no kept trend interval divides).
    Raw,
    /// The buckets of this trend interval, merged into steps.
    Trend(TrendInterval),
}

impl Source {
    /// The coarsest kept trend interval that divides `step` (fewest buckets to read), else
    /// raw points. A step that is a whole number of a tier's buckets is served from that
    /// tier, as the read path's `auto` resolution serves long ranges from trends.
    pub(super) fn for_step(step: Option<i64>, kept: &[TrendInterval]) -> Source {
        let Some(step) = step else {
            return Source::Raw;
        };
        kept.iter()
            .copied()
            .filter(|i| step % i.ms() == 0)
            .max()
            .map_or(Source::Raw, Source::Trend)
    }

    /// The `X-Clio-Export-Source` header's value.
    pub(super) fn describe(self) -> String {
        match self {
            Source::Raw => "raw".into(),
            Source::Trend(i) => format!("trend {i}"),
        }
    }
}

/// Why the producer stopped early.
enum Stop {
    /// The client went away: nothing more to say.
    Gone,
    /// An error, for the trailer line.
    Failed(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Failed(e)
    }
}

/// What a finished export did, for the request log and metrics.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub series: u64,
    pub lines: u64,
    pub bytes: u64,
    /// Set when the body ended with the error trailer.
    pub error: Option<ApiError>,
    /// The client left before the end.
    pub gone: bool,
}

struct Sink {
    tx: mpsc::Sender<Bytes>,
    buf: String,
    lines: u64,
    bytes: u64,
}

impl Sink {
    fn flush_if_full(&mut self) -> Result<(), Stop> {
        if self.buf.len() >= BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(BUFFER_BYTES + 4096));
        self.bytes += chunk.len() as u64;
        // Blocks while the channel is full: the client's reading speed paces the reads.
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| Stop::Gone)
    }
}

/// Runs one export to its end (on a blocking thread).
pub(super) fn run(
    gate: &Gate,
    rt: &tokio::runtime::Handle,
    q: &ExportQuery,
    ids: &[SeriesId],
    source: Source,
    header: Option<String>,
    tx: mpsc::Sender<Bytes>,
) -> Outcome {
    let mut sink = Sink {
        tx,
        buf: String::with_capacity(BUFFER_BYTES + 4096),
        lines: 0,
        bytes: 0,
    };
    let mut outcome = Outcome::default();
    if let Some(h) = header {
        sink.buf.push_str(&h);
    }
    let mut result = Ok(());
    for &id in ids {
        result = one_series(gate, rt, q, id, source, &mut sink);
        if result.is_err() {
            break;
        }
        outcome.series += 1;
    }
    match result {
        Ok(()) => {
            if sink.flush().is_err() {
                outcome.gone = true;
            }
        }
        Err(Stop::Gone) => outcome.gone = true,
        Err(Stop::Failed(e)) => {
            tracing::warn!(error = %e, "export failed after its first byte; body ends with the error trailer");
            sink.buf.push_str(&error_trailer(&e.to_string()));
            if sink.flush().is_err() {
                outcome.gone = true;
            }
            outcome.error = Some(e);
        }
    }
    outcome.lines = sink.lines;
    outcome.bytes = sink.bytes;
    outcome
}

fn one_series(
    gate: &Gate,
    rt: &tokio::runtime::Handle,
    q: &ExportQuery,
    id: SeriesId,
    source: Source,
    sink: &mut Sink,
) -> Result<(), Stop> {
    // Deleted since the export started: nothing to say about it.
    let Some(info) = gate.series(id)? else {
        return Ok(());
    };
    let lines = SeriesLines::new(q.format, &info, q.lp_factor).map_err(ApiError::Internal)?;
    match (q.step, source) {
        (None, _) => raw_pages(gate, rt, id, q.from, q.to, |cols| {
            let mut nums = cols.nums.iter();
            let mut strs = cols.strs.iter();
            for (i, &ts) in cols.ts.iter().enumerate() {
                if cols.kinds.get(i) == Some(&KIND_STR) {
                    if let Some(s) = strs.next() {
                        lines.text(&mut sink.buf, ts, s);
                    }
                } else if let Some(&v) = nums.next() {
                    lines.num(&mut sink.buf, ts, v);
                }
                sink.lines += 1;
                sink.flush_if_full()?;
            }
            Ok(())
        }),
        (Some(step), Source::Raw) => {
            let (from, to) = widen(q.from, q.to, step);
            let mut open: Option<TrendBucket> = None;
            raw_pages(gate, rt, id, from, to, |cols| {
                let mut nums = cols.nums.iter();
                let mut strs = cols.strs.iter();
                for (i, &ts) in cols.ts.iter().enumerate() {
                    // Strings that read as numbers count, as in the trend buckets.
                    let v = if cols.kinds.get(i) == Some(&KIND_STR) {
                        strs.next().and_then(|s| parse_numeric_like(s))
                    } else {
                        nums.next().copied()
                    };
                    let Some(v) = v else { continue };
                    let start = ts.div_euclid(step).saturating_mul(step);
                    match &mut open {
                        Some(b) if b.start == start => b.merge(&TrendBucket::single(start, ts, v)),
                        _ => {
                            if let Some(done) = open.replace(TrendBucket::single(start, ts, v)) {
                                emit(sink, &lines, q.agg, &done)?;
                            }
                        }
                    }
                }
                Ok(())
            })?;
            if let Some(done) = open {
                emit(sink, &lines, q.agg, &done)?;
            }
            Ok(())
        }
        (Some(step), Source::Trend(interval)) => {
            let (from, to) = widen(q.from, q.to, step);
            // Windows of whole steps, so that no step spans two reads.
            let per_window = (PAGE_BUCKETS.saturating_mul(interval.ms()) / step).max(1);
            let window = step.saturating_mul(per_window);
            let mut a = from;
            while a < to {
                let b = a.saturating_add(window).min(to);
                let buckets = gate.read_trends_blocking(rt, id, interval, a, b)?;
                let mut open: Option<TrendBucket> = None;
                for t in buckets.iter().filter(|t| t.count > 0) {
                    let start = t.start.div_euclid(step).saturating_mul(step);
                    match &mut open {
                        Some(o) if o.start == start => o.merge(t),
                        _ => {
                            let mut fresh = t.clone();
                            fresh.start = start;
                            if let Some(done) = open.replace(fresh) {
                                emit(sink, &lines, q.agg, &done)?;
                            }
                        }
                    }
                }
                if let Some(done) = open {
                    emit(sink, &lines, q.agg, &done)?;
                }
                a = b;
            }
            Ok(())
        }
    }
}

fn emit(sink: &mut Sink, lines: &SeriesLines, agg: Agg, b: &TrendBucket) -> Result<(), Stop> {
    lines.num(&mut sink.buf, b.start, agg.of(b));
    sink.lines += 1;
    sink.flush_if_full()
}

/// `[from, to)` widened to whole steps: every bucket that overlaps the range, whole.
pub(super) fn widen(from: Timestamp, to: Timestamp, step: i64) -> (Timestamp, Timestamp) {
    let a = from.div_euclid(step).saturating_mul(step);
    let last = (to.saturating_sub(1)).div_euclid(step).saturating_mul(step);
    (a, last.saturating_add(step))
}

/// Calls `page` with every point of `[from, to)` in ascending order, a page at a time.
///
/// The engine's range read hands back the *newest* `limit` points of a window, so reading
/// forward goes by windows: a window that holds more than a page is narrowed (to half the
/// span the page covered) and read again; one that fits is passed on, and the next window
/// grows while pages come back small. One page of memory, whatever the series' length.
fn raw_pages(
    gate: &Gate,
    rt: &tokio::runtime::Handle,
    id: SeriesId,
    from: Timestamp,
    to: Timestamp,
    mut page: impl FnMut(&PointColumns) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let mut a = from;
    let mut width = to.saturating_sub(from).max(1);
    while a < to {
        let b = a.saturating_add(width).min(to);
        let (cols, more) =
            gate.read_columns_blocking(rt, id, Window::Range { from: a, to: b }, PAGE_POINTS)?;
        if more {
            // More than a page in [a, b): the page covers [oldest, b); aim at half of it.
            let covered = cols.ts.first().map_or(1, |&t0| b.saturating_sub(t0).max(1));
            let narrower = (covered / 2).min(width / 2).max(1);
            if narrower < width {
                width = narrower;
                continue;
            }
            // A window of 1 ms holds at most one point per series: cannot happen, but never
            // loop on it.
            return Err(Stop::Failed(ApiError::Internal(format!(
                "series {id}: cannot page the range [{a}, {b})"
            ))));
        }
        page(&cols)?;
        if cols.len() < PAGE_POINTS / 4 {
            width = width.saturating_mul(2);
        }
        a = b;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_widen_to_whole_buckets() {
        assert_eq!(widen(0, 600_000, 600_000), (0, 600_000));
        assert_eq!(widen(1, 600_001, 600_000), (0, 1_200_000));
        assert_eq!(widen(-1, 1, 1000), (-1000, 1000));
    }

    #[test]
    fn the_coarsest_dividing_tier_serves_a_step() {
        let kept: Vec<TrendInterval> = clio_storage::DEFAULT_TREND_INTERVALS.to_vec();
        let t = |s: &str| s.parse::<TrendInterval>().unwrap();
        assert_eq!(Source::for_step(None, &kept), Source::Raw);
        assert_eq!(Source::for_step(Some(60_000), &kept), Source::Raw);
        assert_eq!(
            Source::for_step(Some(600_000), &kept),
            Source::Trend(t("10m"))
        );
        assert_eq!(
            Source::for_step(Some(1_200_000), &kept),
            Source::Trend(t("10m"))
        );
        assert_eq!(
            Source::for_step(Some(5_400_000), &kept),
            Source::Trend(t("30m"))
        );
        assert_eq!(
            Source::for_step(Some(7_200_000), &kept),
            Source::Trend(t("60m"))
        );
        assert_eq!(
            Source::for_step(Some(172_800_000), &kept),
            Source::Trend(t("1d"))
        );
    }
}
