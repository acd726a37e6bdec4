//! The read path: cache and storage merged without seams, columnar reads for plugins.

use super::in_flight::{BATCH_WAIT, Before};
use super::*;

/// Most points in memory a trend read aggregates on the runtime worker it runs on (about half a
/// millisecond of work); past it the pass moves to a blocking thread.
const DIRTY_TRENDS_INLINE: usize = 65_536;

impl Store {
    /// Answers a read (semantics.md section 2): merges cache and storage, applies the
    /// result caps, and hands out a cursor for the older part when it truncates.
    pub async fn read(&self, req: &ReadRequest) -> Result<ReadResult> {
        // A replica answering (read failover) is noted by `read_backend` while the read runs.
        super::status::SERVED_BY
            .scope(std::cell::RefCell::new(None), async {
                let mut r = self.read_inner(req).await;
                if let Ok(r) = &mut r {
                    r.served_by = super::status::SERVED_BY.with(|c| c.borrow_mut().take());
                }
                r
            })
            .await
    }

    async fn read_inner(&self, req: &ReadRequest) -> Result<ReadResult> {
        if !self.inner.catalog.read().contains(req.series) {
            return Err(Error::SeriesNotFound(req.series));
        }
        match req.window {
            Window::Last { n, skip, at } => {
                if req.resolution != Resolution::Raw {
                    return Err(Error::InvalidRequest(
                        "a resolution other than raw applies to time ranges only".into(),
                    ));
                }
                let skip = match req.cursor {
                    None => skip,
                    Some(Cursor::Skip(s)) => s,
                    Some(c) => {
                        return Err(Error::InvalidRequest(format!(
                            "cursor `{c}` belongs to a range read"
                        )));
                    }
                };
                self.read_last(req.series, n, skip, at).await
            }
            Window::Range { from, to } => {
                let to = match req.cursor {
                    None => to,
                    Some(Cursor::Before(t)) => to.min(t),
                    Some(c) => {
                        return Err(Error::InvalidRequest(format!(
                            "cursor `{c}` belongs to a last-N read"
                        )));
                    }
                };
                match req.resolution {
                    Resolution::Raw => self.read_range(req.series, from, to).await,
                    Resolution::Trend(i) => self.read_trend_page(req.series, i, from, to).await,
                    Resolution::Auto => {
                        let raw = self.read_range(req.series, from, to).await?;
                        if !raw.truncated {
                            return Ok(raw);
                        }
                        let interval = self.auto_interval(from, to);
                        match interval {
                            Some(i) => self.read_trend_page(req.series, i, from, to).await,
                            None => Ok(raw),
                        }
                    }
                }
            }
        }
    }

    /// The finest configured trend interval whose bucket count over the range fits the cap.
    fn auto_interval(&self, from: Timestamp, to: Timestamp) -> Option<TrendInterval> {
        let intervals = &self.inner.opts.trend_intervals;
        let span = to.saturating_sub(from).max(0) as u128;
        let cap = self.inner.opts.query_max_result_numbers as u128;
        intervals
            .iter()
            .copied()
            .find(|i| span / (i.ms() as u128) < cap)
            .or_else(|| intervals.iter().copied().max())
    }

    /// A whole window as columns, for plugins: no answer caps and no paging (the caller
    /// bounds `limit`), cache and storage merged as in [`Store::read`], and storage read as
    /// columns so that no `Point` is built per stored row. Returns the points (ascending) and
    /// whether more existed than `limit` (then the newest `limit` are kept).
    ///
    /// `Last { n, skip, at }` gives the `n` newest points before `at` after skipping the
    /// `skip` newest; `Range { from, to }` every point of `[from, to)`.
    pub async fn read_columns(
        &self,
        id: SeriesId,
        window: Window,
        limit: usize,
    ) -> Result<(PointColumns, bool)> {
        let plan = self.plan_columns(id, window, limit)?;
        let backend = self.read_backend()?;
        let backend = &*backend;
        let stored = match plan.storage {
            Some(r) => Some(r.read(backend, id).await?),
            None => None,
        };
        self.fill_from(id, plan.fill, stored.as_ref());
        let stored = match cut_past_at(plan.past_at, stored) {
            Ok(stored) => stored,
            Err(exact) => Some(exact.read(backend, id).await?),
        };
        Ok(plan.finish(stored))
    }

    /// [`Store::read_columns`] for a caller that may block (a plugin's host import): the
    /// storage part runs on this thread when the backend can
    /// ([`StorageBackend::read_range_columns_inline`]), else through `rt`. Same answer.
    pub fn read_columns_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        id: SeriesId,
        window: Window,
        limit: usize,
    ) -> Result<(PointColumns, bool)> {
        let plan = self.plan_columns(id, window, limit)?;
        let backend = self.read_backend()?;
        let backend = &*backend;
        let read = |r: StorageRead| match r.read_inline(backend, id) {
            Some(answer) => answer,
            None => rt.block_on(r.read(backend, id)),
        };
        let stored = match plan.storage {
            Some(r) => Some(read(r)?),
            None => None,
        };
        self.fill_from(id, plan.fill, stored.as_ref());
        let stored = match cut_past_at(plan.past_at, stored) {
            Ok(stored) => stored,
            Err(exact) => Some(read(exact)?),
        };
        Ok(plan.finish(stored))
    }

    /// Read-through for columnar reads: a function that keeps asking for the newest N
    /// finds them in memory from its second call on, as last-N readers do, instead of only
    /// once N newer points have been written.
    fn fill_from(
        &self,
        id: SeriesId,
        fill: Option<ReadThroughFill>,
        stored: Option<&PointColumns>,
    ) {
        if let (Some(f), Some(stored)) = (fill, stored) {
            let points = stored.clone().into_points();
            let complete = points.len() < f.want;
            self.inner.cache.fill(id, f.epoch, &points, complete);
        }
    }

    /// The memory part of a columnar read, and what it still needs from storage.
    fn plan_columns(&self, id: SeriesId, window: Window, limit: usize) -> Result<ColumnsPlan> {
        let inner = &self.inner;
        if !inner.catalog.read().contains(id) {
            return Err(Error::SeriesNotFound(id));
        }
        Ok(match window {
            Window::Last { n, skip, at } => {
                let capped = n > limit;
                let n = n.min(limit);
                let k = skip.saturating_add(n);
                let at_ts = at.unwrap_or(Timestamp::MAX);
                // Functions that keep asking for the newest N teach the cache to keep them,
                // as readers of last-N points do (bounded like them).
                inner
                    .cache
                    .note_demand(id, k.min(inner.opts.query_max_result_numbers));
                let snap = inner.cache.last(id, k, at_ts);
                // Only windows the cache would keep anyway fill it.
                let cacheable = k <= inner.opts.query_max_result_numbers;
                let fills = cacheable && snap.storage_answer_fills(at_ts);
                let epoch = snap.epoch;
                let fill = |want: usize| fills.then_some(ReadThroughFill { epoch, want });
                // The cache does not know where its coverage starts (after a restart, until
                // a read fills it) and the window ends before it: only a read past `at` can
                // fill it (see `LearnCoverage`).
                let learn = !snap.hit
                    && cacheable
                    && snap.coverage_unknown()
                    && !snap.storage_answer_fills(at_ts);
                let mut memory = snap.points;
                memory.reverse();
                if snap.hit {
                    ColumnsPlan {
                        storage: None,
                        memory,
                        finish: Assemble::Last { k, skip, n, capped },
                        fill: None,
                        past_at: None,
                    }
                } else if learn && (skip == 0 || !memory.is_empty()) {
                    // Coverage unknown: ask storage for its newest k points whatever their
                    // stamps, fill the cache with them, and cut at `at` afterwards.
                    ColumnsPlan {
                        storage: Some(StorageRead::Range {
                            from: Timestamp::MIN,
                            to: Timestamp::MAX,
                            limit: k,
                        }),
                        memory,
                        finish: Assemble::Last { k, skip, n, capped },
                        fill: Some(ReadThroughFill { epoch, want: k }),
                        past_at: Some(LearnCoverage {
                            at: at_ts,
                            want: k,
                            exact: StorageRead::Range {
                                from: Timestamp::MIN,
                                to: at_ts,
                                limit: k,
                            },
                        }),
                    }
                } else if memory.is_empty() {
                    // Memory holds nothing before `at`: storage alone answers, skip included
                    // (it can pass over skipped chunks without decoding them).
                    ColumnsPlan {
                        storage: Some(StorageRead::Last {
                            before: at_ts,
                            n,
                            skip,
                        }),
                        memory,
                        finish: Assemble::Last {
                            k: n,
                            skip: 0,
                            n,
                            capped,
                        },
                        // Skipped points are not in the answer: it would leave a hole.
                        fill: if skip == 0 { fill(n) } else { None },
                        past_at: None,
                    }
                } else if !snap.uncovered && snap.cover_from < at_ts {
                    // Memory holds exactly the points of `[cover_from, at)` (fewer than k) and
                    // nothing older: the skip splits between them and storage's points before
                    // `cover_from`, so storage gets its share of the skip and can pass over
                    // whole chunks instead of reading `skip + n` points.
                    let c = memory.len();
                    let from_memory = c.saturating_sub(skip).min(n);
                    memory.truncate(c - skip.min(c));
                    memory.drain(..memory.len() - from_memory);
                    let storage_skip = skip.saturating_sub(c);
                    ColumnsPlan {
                        storage: Some(StorageRead::Last {
                            before: snap.cover_from,
                            n: n - from_memory,
                            skip: storage_skip,
                        }),
                        memory,
                        finish: Assemble::Last {
                            k: n,
                            skip: 0,
                            n,
                            capped,
                        },
                        // Storage's points end right before `cover_from` unless it skipped.
                        fill: if storage_skip == 0 {
                            fill(n - from_memory)
                        } else {
                            None
                        },
                        past_at: None,
                    }
                } else {
                    ColumnsPlan {
                        storage: Some(StorageRead::Range {
                            from: Timestamp::MIN,
                            to: at_ts,
                            limit: k,
                        }),
                        memory,
                        finish: Assemble::Last { k, skip, n, capped },
                        fill: fill(k),
                        past_at: None,
                    }
                }
            }
            Window::Range { from, to } => {
                // The newest `limit` and one more: enough to tell that the range has more.
                let snap = inner.cache.range(id, from, to, limit.saturating_add(1));
                let from_memory = from >= snap.cover_from || from >= to;
                ColumnsPlan {
                    storage: (!from_memory).then(|| StorageRead::Range {
                        from,
                        to: to.min(snap.cover_from),
                        limit: limit.saturating_add(1),
                    }),
                    memory: snap.points,
                    finish: Assemble::Range { limit },
                    fill: None,
                    past_at: None,
                }
            }
        })
    }

    async fn read_last(
        &self,
        id: SeriesId,
        n: usize,
        skip: usize,
        at: Option<Timestamp>,
    ) -> Result<ReadResult> {
        let inner = &self.inner;
        let opts = &inner.opts;
        let wanted = n.min(opts.query_max_result_numbers);
        let k = skip.saturating_add(wanted);
        let at_ts = at.unwrap_or(Timestamp::MAX);
        // Demand drives the cache size, within reason: one huge request should not pin
        // millions of points in memory.
        inner
            .cache
            .note_demand(id, k.min(opts.query_max_result_numbers));
        let snap = inner.cache.last(id, k, at_ts);
        let newest_first: Vec<Point> = if snap.hit {
            snap.points
        } else {
            let stored = self.read_backend()?.read_last(id, k, at_ts).await?;
            if snap.storage_answer_fills(at_ts) {
                inner.cache.fill(id, snap.epoch, &stored, stored.len() < k);
            }
            let mut memory = snap.points;
            memory.reverse();
            let mut merged = merge_overlay(stored, memory);
            let drop = merged.len().saturating_sub(k);
            merged.drain(..drop);
            merged.reverse();
            merged
        };
        let after_skip: Vec<Point> = newest_first.into_iter().skip(skip).collect();
        let got = after_skip.len();
        let (points, capped) = cap_points(
            after_skip,
            opts.query_max_result_numbers,
            opts.query_max_result_strings,
        );
        let truncated = capped || (n > wanted && got == wanted);
        Ok(ReadResult {
            series: id,
            next: truncated.then(|| Cursor::Skip(skip + points.len())),
            data: Data::Points(points),
            truncated,
            served_by: None,
        })
    }

    async fn read_range(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> Result<ReadResult> {
        let inner = &self.inner;
        let opts = &inner.opts;
        // The cap's worth of the newest and one more: all that `cap_points` looks at.
        let snap = inner.cache.range(
            id,
            from,
            to,
            opts.query_max_result_numbers.saturating_add(1),
        );
        let merged = if from >= snap.cover_from || from >= to {
            snap.points
        } else {
            let stored = self
                .read_backend()?
                .read_range(
                    id,
                    from,
                    to.min(snap.cover_from),
                    opts.query_max_result_numbers + 1,
                )
                .await?;
            merge_overlay(stored, snap.points)
        };
        let mut newest_first = merged;
        newest_first.reverse();
        let (points, truncated) = cap_points(
            newest_first,
            opts.query_max_result_numbers,
            opts.query_max_result_strings,
        );
        Ok(ReadResult {
            series: id,
            next: if truncated {
                points.first().map(|p| Cursor::Before(p.ts))
            } else {
                None
            },
            data: Data::Points(points),
            truncated,
            served_by: None,
        })
    }

    async fn read_trend_page(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<ReadResult> {
        let mut buckets = self.read_trends(id, interval, from, to).await?;
        let cap = self.inner.opts.query_max_result_numbers;
        let truncated = buckets.len() > cap;
        if truncated {
            buckets.drain(..buckets.len() - cap);
        }
        Ok(ReadResult {
            series: id,
            next: if truncated {
                buckets.first().map(|b| Cursor::Before(b.start))
            } else {
                None
            },
            data: Data::Trends { interval, buckets },
            truncated,
            served_by: None,
        })
    }

    /// Trend buckets starting in `[from, to)`: stored buckets merged with the aggregates of
    /// points not flushed yet.
    pub async fn read_trends(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        let (pfrom, pto) = self.trend_point_span(interval, from, to)?;
        let in_flight = &self.inner.in_flight;
        let deadline = Instant::now() + BATCH_WAIT;
        loop {
            let mark = match in_flight.before(id) {
                Before::Clear(mark) => mark,
                Before::Busy => {
                    if !in_flight.wait_for(id, deadline).await {
                        return Err(flush_too_slow(id));
                    }
                    continue;
                }
            };
            let dirty = self
                .dirty_trends_off_runtime(id, interval, pfrom, pto)
                .await?;
            let stored = self
                .read_backend()?
                .read_trends(id, interval, from, to)
                .await?;
            if in_flight.unmoved(id, mark) {
                return Ok(merge_trends(stored, dirty, from, to));
            }
            if Instant::now() >= deadline {
                return Err(flush_too_slow(id));
            }
        }
    }

    /// [`Cache::dirty_trends`](crate::cache::Cache::dirty_trends) for an async caller. Over
    /// a long span of points in memory (a year of 10-s points not flushed yet: 3 M points,
    /// ~20 ms) it runs on a blocking thread, so that the requests queued on this runtime
    /// worker do not wait for it; a short span stays here, where a thread hand-off would
    /// cost more than the pass.
    async fn dirty_trends_off_runtime(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        let cache = &self.inner.cache;
        if cache.span_len(id, from, to) <= DIRTY_TRENDS_INLINE {
            return Ok(cache.dirty_trends(id, interval, from, to));
        }
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || inner.cache.dirty_trends(id, interval, from, to))
            .await
        {
            Ok(buckets) => Ok(buckets),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Closed),
        }
    }

    /// [`Store::read_trends`] for a caller that may block (a plugin's host import): the
    /// storage part runs on this thread when the backend can
    /// ([`clio_storage::BlockingReads::read_trends_inline`]), else through `rt`. Same answer.
    pub fn read_trends_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        let (pfrom, pto) = self.trend_point_span(interval, from, to)?;
        let inner = &self.inner;
        let stored = || -> Result<Vec<TrendBucket>> {
            let backend = self.read_backend()?;
            let inline = backend
                .blocking_reads()
                .and_then(|b| b.read_trends_inline(id, interval, from, to));
            Ok(match inline {
                Some(answer) => answer?,
                None => rt.block_on(backend.read_trends(id, interval, from, to))?,
            })
        };
        let deadline = Instant::now() + BATCH_WAIT;
        loop {
            let mark = match inner.in_flight.before(id) {
                Before::Clear(mark) => mark,
                Before::Busy => {
                    if !inner.in_flight.wait_for_blocking(id, deadline) {
                        return Err(flush_too_slow(id));
                    }
                    continue;
                }
            };
            let dirty = inner.cache.dirty_trends(id, interval, pfrom, pto);
            let stored = stored()?;
            if inner.in_flight.unmoved(id, mark) {
                return Ok(merge_trends(stored, dirty, from, to));
            }
            if Instant::now() >= deadline {
                return Err(flush_too_slow(id));
            }
        }
    }

    /// Checks that `interval` is kept, and widens `[from, to)` to the span of the points
    /// whose buckets start in it (aligned outward).
    fn trend_point_span(
        &self,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Timestamp, Timestamp)> {
        let kept = &self.inner.opts.trend_intervals;
        if !kept.contains(&interval) {
            let known: Vec<String> = kept.iter().map(|i| i.to_string()).collect();
            return Err(Error::InvalidRequest(format!(
                "trend interval {interval} is not kept (kept: {})",
                known.join(", ")
            )));
        }
        let pfrom = interval.bucket_start(from);
        let pto = interval
            .bucket_start(to.saturating_sub(1))
            .saturating_add(interval.ms());
        Ok((pfrom, pto))
    }
}

/// A trend read that waited [`BATCH_WAIT`] for the flush batch holding its series. Never an
/// answer without the series' unflushed points: that would leave acknowledged points out.
fn flush_too_slow(id: SeriesId) -> Error {
    Error::Overloaded(format!(
        "trend read of series {id}: a flush has been writing its points for over {} s; try again",
        BATCH_WAIT.as_secs()
    ))
}

/// Adds the aggregates of unflushed points to the stored buckets of `[from, to)`.
fn merge_trends(
    stored: Vec<TrendBucket>,
    dirty: Vec<TrendBucket>,
    from: Timestamp,
    to: Timestamp,
) -> Vec<TrendBucket> {
    if dirty.is_empty() {
        return stored;
    }
    let mut by_start: std::collections::BTreeMap<Timestamp, TrendBucket> =
        stored.into_iter().map(|b| (b.start, b)).collect();
    for d in dirty {
        if d.start < from || d.start >= to {
            continue;
        }
        by_start
            .entry(d.start)
            .and_modify(|b| b.merge(&d))
            .or_insert(d);
    }
    by_start.into_values().collect()
}

/// A columnar read split at its storage part ([`Store::read_columns`] and its blocking twin).
struct ColumnsPlan {
    /// What storage must still answer; `None` when memory covers the window.
    storage: Option<StorageRead>,
    /// The cache's points of the window, ascending.
    memory: Vec<Point>,
    finish: Assemble,
    /// Whether storage's answer may fill the cache (read-through), see [`ReadThroughFill`].
    fill: Option<ReadThroughFill>,
    /// Storage was asked past the window's end, see [`LearnCoverage`].
    past_at: Option<LearnCoverage>,
}

/// A last-N read asked of storage past its `at`, because the cache does not know where its
/// coverage starts (after a restart, until a read fills it): storage's newest `want` points
/// fill the cache as a read without `at` does, and are then cut at `at`. When that leaves
/// fewer than `want` while storage had more (points stamped at or after `at` exist in
/// storage), `exact` is read as well.
#[derive(Clone, Copy)]
struct LearnCoverage {
    at: Timestamp,
    want: usize,
    exact: StorageRead,
}

/// Cuts an answer read past `at` back to the window ([`LearnCoverage`]); `Err` with the exact read
/// when the cut left too few points while storage had more.
fn cut_past_at(
    past_at: Option<LearnCoverage>,
    stored: Option<PointColumns>,
) -> std::result::Result<Option<PointColumns>, StorageRead> {
    match (past_at, stored) {
        (Some(p), Some(mut s)) => {
            let full = s.len() >= p.want;
            s.drop_from(p.at);
            if full && s.len() < p.want {
                return Err(p.exact);
            }
            Ok(Some(s))
        }
        (_, stored) => Ok(stored),
    }
}

/// A read-through fill after a columnar last-N read: storage answered the newest `want`
/// points before a time at or after the cache's coverage start, with no skip, so its answer
/// joins the covered region without a gap ([`Cache::fill`] checks `epoch`). Fewer than
/// `want` points means storage holds nothing older: the cache then covers everything.
#[derive(Clone, Copy)]
struct ReadThroughFill {
    epoch: u64,
    want: usize,
}

/// What a columnar read asks of storage.
#[derive(Clone, Copy)]
enum StorageRead {
    /// The newest `limit` points of `[from, to)`.
    Range {
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    },
    /// The `n` newest points before `before` after skipping the `skip` newest.
    Last {
        before: Timestamp,
        n: usize,
        skip: usize,
    },
}

impl StorageRead {
    /// Asks `backend` (async: through its own threads).
    async fn read(
        self,
        backend: &dyn StorageBackend,
        id: SeriesId,
    ) -> std::result::Result<PointColumns, StorageError> {
        match self {
            StorageRead::Range { from, to, limit } => {
                backend.read_range_columns(id, from, to, limit).await
            }
            StorageRead::Last { before, n, skip } => {
                backend.read_last_columns(id, before, n, skip).await
            }
        }
    }

    /// Asks `backend` on this thread; `None` when it cannot right now.
    fn read_inline(
        self,
        backend: &dyn StorageBackend,
        id: SeriesId,
    ) -> Option<std::result::Result<PointColumns, StorageError>> {
        match self {
            StorageRead::Range { from, to, limit } => {
                backend.read_range_columns_inline(id, from, to, limit)
            }
            StorageRead::Last { before, n, skip } => {
                backend.read_last_columns_inline(id, before, n, skip)
            }
        }
    }
}

enum Assemble {
    Last {
        k: usize,
        skip: usize,
        n: usize,
        capped: bool,
    },
    Range {
        limit: usize,
    },
}

impl ColumnsPlan {
    /// Merges memory over what storage answered and applies the window's cuts.
    fn finish(self, stored: Option<PointColumns>) -> (PointColumns, bool) {
        let cols = match stored {
            Some(stored) => stored.merge_overlay(self.memory),
            None => PointColumns::from_points(self.memory),
        };
        match self.finish {
            Assemble::Last { k, skip, n, capped } => {
                let mut cols = cols;
                cols.keep_newest(k);
                cols.drop_newest(skip);
                // `n` was capped at `limit`: when that many came back, more may exist.
                let truncated = capped && cols.len() == n;
                (cols, truncated)
            }
            Assemble::Range { limit } => {
                let mut cols = cols;
                let truncated = cols.len() > limit;
                cols.keep_newest(limit);
                (cols, truncated)
            }
        }
    }
}
