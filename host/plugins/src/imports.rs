//! The `history` import: what a plugin may ask of the engine during a call (its series,
//! other series' settings, windows of points as columns, trend buckets). Every read runs on
//! the calling thread where the backend can ([`clio_core::Store::read_columns_blocking`],
//! [`clio_core::Store::read_trends_blocking`]), within the call's deadline.

use clio_core::Window;
use clio_storage::{PointColumns, SeriesId, TrendInterval};

use crate::runtime::{clio, wit};
use crate::sandbox::HostState;

/// Most points one `read-*` import hands over, whatever the guest asks (the contract's cap).
pub(crate) const MAX_READ_POINTS: u64 = 10_000_000;

impl HostState {
    fn check_deadline(&mut self) -> wasmtime::Result<()> {
        if !self.ctx.reads_allowed {
            return Err(wasmtime::Error::msg(
                "history reads are not allowed in `describe`",
            ));
        }
        if self.ticks.now() >= self.deadline {
            self.import_deadline_hit = true;
            return Err(wasmtime::Error::msg(
                "call deadline passed inside a host import",
            ));
        }
        Ok(())
    }

    /// Whether the caller's scope lets this call see series `id`.
    fn may_read(&self, id: SeriesId) -> bool {
        match &self.ctx.access {
            None => true,
            Some(access) => {
                let info = self.ctx.engine.series(id);
                (access.0)(id, info.as_ref().and_then(|s| s.key.as_ref()))
            }
        }
    }

    fn outside_scope(series: u64) -> wit::Error {
        wit::Error::Failed(format!("series {series} is outside the caller's scope"))
    }

    fn info(&self, id: SeriesId) -> Option<wit::SeriesInfo> {
        if !self.may_read(id) {
            return None;
        }
        let s = self.ctx.engine.series(id)?;
        Some(wit::SeriesInfo {
            id: s.id.0,
            key: s.key.map(|k| k.to_string()),
            keep_history_days: s.settings.keep_history_days,
            keep_trends_days: s.settings.keep_trends_days,
            metadata: s.settings.metadata.into_iter().collect(),
        })
    }

    /// A whole window in one store call, as columns (no `Point` per stored row), at most
    /// `limit` points (callers cap it at what the plugin's memory could hold).
    fn read_columns_limited(
        &mut self,
        series: u64,
        window: Window,
        limit: u64,
    ) -> wasmtime::Result<Result<(PointColumns, bool), wit::Error>> {
        self.check_deadline()?;
        if !self.may_read(SeriesId(series)) {
            return Ok(Err(Self::outside_scope(series)));
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // Imports run on a blocking thread: the store reads on it directly where the backend
        // can, instead of handing the read to its reader threads and waiting.
        let answer =
            self.ctx
                .engine
                .read_columns_blocking(&self.ctx.rt, SeriesId(series), window, limit);
        Ok(match answer {
            Ok(read) => Ok(read),
            Err(e) => not_written_or(e).map(|()| (PointColumns::default(), false)),
        })
    }

    /// The window of `read-last` / `read-last-columns`.
    fn last_window(&self, n: u64, skip: u64, before: wit::Timestamp) -> Result<Window, wit::Error> {
        // The store reads `skip + n` points to answer: an unbounded skip would make it
        // decode a whole series into host memory.
        if skip > MAX_READ_POINTS {
            return Err(wit::Error::BadArgument(format!(
                "skip {skip} exceeds the limit of {MAX_READ_POINTS} points"
            )));
        }
        Ok(Window::Last {
            n: usize::try_from(n).unwrap_or(usize::MAX),
            skip: usize::try_from(skip).unwrap_or(usize::MAX),
            at: Some(before.min(self.ctx.now)),
        })
    }

    fn read_last_raw(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<(PointColumns, bool), wit::Error>> {
        match self.last_window(n, skip, before) {
            Ok(window) => self.read_columns_limited(series, window, self.max_points),
            Err(e) => Ok(Err(e)),
        }
    }

    fn read_range_raw(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<(PointColumns, bool), wit::Error>> {
        let to = to.min(self.ctx.now);
        let limit = limit.min(self.max_points);
        self.read_columns_limited(series, Window::Range { from, to }, limit)
    }
}

/// How an engine error reaches the plugin: a series never written reads as an empty one
/// (`Ok`, semantics.md 1), a request the engine refuses is the plugin's bad argument, the
/// rest is a failure it may report.
fn not_written_or(e: clio_core::Error) -> Result<(), wit::Error> {
    match e {
        clio_core::Error::SeriesNotFound(_) => Ok(()),
        clio_core::Error::InvalidRequest(m) => Err(wit::Error::BadArgument(m)),
        e => Err(wit::Error::Failed(e.to_string())),
    }
}

/// A read as `points` (contract 0.1.0 on): four lists, whatever the values.
fn to_points(read: Result<(PointColumns, bool), wit::Error>) -> Result<wit::Points, wit::Error> {
    read.map(|(c, truncated)| wit::Points {
        ts: c.ts,
        nums: c.nums,
        strs: c.strs,
        kinds: c.kinds,
        truncated,
    })
}

/// A read as `columns` (contract 0.2.1 on): the string lists only when there are strings,
/// so a window of numbers crosses as two lists.
fn to_columns(read: Result<(PointColumns, bool), wit::Error>) -> Result<wit::Columns, wit::Error> {
    read.map(|(c, truncated)| wit::Columns {
        ts: c.ts,
        nums: c.nums,
        strings: (!c.kinds.is_empty()).then_some(wit::StringColumns {
            kinds: c.kinds,
            strs: c.strs,
        }),
        truncated,
    })
}

impl wit::Host for HostState {}

impl clio::plugin::history::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<wit::Timestamp> {
        Ok(self.ctx.now)
    }

    fn series(&mut self) -> wasmtime::Result<wit::SeriesInfo> {
        let id = self.ctx.series;
        // A series never written exists for functions as an empty one (semantics.md 1), with
        // the default settings.
        Ok(self.info(id).unwrap_or_else(|| {
            let d = clio_storage::SeriesSettings::default();
            wit::SeriesInfo {
                id: id.0,
                key: None,
                keep_history_days: d.keep_history_days,
                keep_trends_days: d.keep_trends_days,
                metadata: Vec::new(),
            }
        }))
    }

    fn series_by_id(&mut self, id: u64) -> wasmtime::Result<Option<wit::SeriesInfo>> {
        Ok(self.info(SeriesId(id)))
    }

    fn series_id(&mut self) -> wasmtime::Result<u64> {
        Ok(self.ctx.series.0)
    }

    fn series_by_key(&mut self, key: String) -> wasmtime::Result<Option<wit::SeriesInfo>> {
        // A key that does not parse names no series: `none`, like an unknown one.
        let Ok(key) = key.parse::<clio_storage::SeriesKey>() else {
            return Ok(None);
        };
        Ok(self.ctx.engine.series_id(&key).and_then(|id| self.info(id)))
    }

    fn read_last(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Points, wit::Error>> {
        Ok(to_points(self.read_last_raw(series, n, skip, before)?))
    }

    fn read_range(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<wit::Points, wit::Error>> {
        Ok(to_points(self.read_range_raw(series, from, to, limit)?))
    }

    fn read_last_columns(
        &mut self,
        series: u64,
        n: u64,
        skip: u64,
        before: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Columns, wit::Error>> {
        Ok(to_columns(self.read_last_raw(series, n, skip, before)?))
    }

    fn read_range_columns(
        &mut self,
        series: u64,
        from: wit::Timestamp,
        to: wit::Timestamp,
        limit: u64,
    ) -> wasmtime::Result<Result<wit::Columns, wit::Error>> {
        Ok(to_columns(self.read_range_raw(series, from, to, limit)?))
    }

    fn read_trends(
        &mut self,
        series: u64,
        interval_ms: i64,
        from: wit::Timestamp,
        to: wit::Timestamp,
    ) -> wasmtime::Result<Result<wit::Trends, wit::Error>> {
        self.check_deadline()?;
        let Ok(interval) = TrendInterval::from_ms(interval_ms) else {
            return Ok(Err(wit::Error::BadArgument(format!(
                "trend interval {interval_ms} ms"
            ))));
        };
        if !self.may_read(SeriesId(series)) {
            return Ok(Err(Self::outside_scope(series)));
        }
        let to = to.min(self.ctx.now);
        let answer = self.ctx.engine.read_trends_blocking(
            &self.ctx.rt,
            SeriesId(series),
            interval,
            from,
            to,
        );
        let buckets = match answer {
            Ok(b) => b,
            Err(e) => match not_written_or(e) {
                Ok(()) => Vec::new(),
                Err(e) => return Ok(Err(e)),
            },
        };
        let mut t = wit::Trends {
            interval_ms,
            start: Vec::with_capacity(buckets.len()),
            count: Vec::with_capacity(buckets.len()),
            sum: Vec::with_capacity(buckets.len()),
            sum_sq: Vec::with_capacity(buckets.len()),
            min: Vec::with_capacity(buckets.len()),
            max: Vec::with_capacity(buckets.len()),
            first: Vec::with_capacity(buckets.len()),
            last: Vec::with_capacity(buckets.len()),
        };
        for b in buckets {
            t.start.push(b.start);
            t.count.push(b.count);
            t.sum.push(b.sum);
            t.sum_sq.push(b.sum_sq);
            t.min.push(b.min);
            t.max.push(b.max);
            t.first.push(b.first);
            t.last.push(b.last);
        }
        Ok(Ok(t))
    }
}
