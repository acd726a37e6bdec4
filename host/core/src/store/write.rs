//! The write path: validation, series resolution, backpressure, the log append.

use super::*;

impl Store {
    /// Validates, logs and caches points; returns once they are durable per the log's sync
    /// mode. Either every point of the call is accepted or none is.
    pub async fn write(&self, points: Vec<IncomingPoint>) -> Result<WriteReport> {
        self.write_at(points, now_ms()).await
    }

    /// [`Store::write`] with an explicit receive time (for restamping and missing timestamps).
    pub async fn write_at(
        &self,
        points: Vec<IncomingPoint>,
        now: Timestamp,
    ) -> Result<WriteReport> {
        let limits = self.time_limits();
        self.write_with(points, now, limits).await
    }

    /// The engine's own limits on client timestamps (`timestamp_max_time_diff`,
    /// `timestamp_max_future`), which [`Store::write`] applies.
    pub fn time_limits(&self) -> TimeLimits {
        TimeLimits {
            max_past: self.inner.opts.timestamp_max_past,
            max_future: self.inner.opts.timestamp_max_future,
        }
    }

    /// [`Store::write_at`] with a front end's own limits on client timestamps (InfluxDB
    /// clients backfill history; ALEPIZ collectors have clocks that drift).
    pub async fn write_with(
        &self,
        points: Vec<IncomingPoint>,
        now: Timestamp,
        limits: TimeLimits,
    ) -> Result<WriteReport> {
        self.write_learning(points, now, limits, Vec::new()).await
    }

    /// [`Store::write_with`] for a line-protocol body: `texts` are the key texts, exactly as
    /// written, of its points given by key whose texts [`KeyTexts::lookup`] did not know.
    /// Once the write has resolved their series (created or found), the engine learns
    /// each text as naming its point's series, so that the next write of it costs one
    /// lookup. The caller vouches that each text spells its point's key.
    pub async fn write_learning(
        &self,
        points: Vec<IncomingPoint>,
        now: Timestamp,
        limits: TimeLimits,
        texts: Vec<NewText>,
    ) -> Result<WriteReport> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let opts = &inner.opts;
        let (lo, hi) = accepted_window(now, limits);
        let mut report = WriteReport::default();
        let mut errors = Vec::new();
        let mut bad = 0;
        for p in &points {
            let what = match &p.value {
                Value::Num(v) if !v.is_finite() => Some(format!("{v} is not a finite number")),
                Value::Str(s) if s.len() > opts.max_string_bytes => Some(format!(
                    "string of {} bytes exceeds the limit of {} bytes",
                    s.len(),
                    opts.max_string_bytes
                )),
                _ => None,
            };
            if let Some(what) = what {
                bad += 1;
                if errors.len() < 10 {
                    errors.push(bad_point(&p.series.to_string(), p.ts.unwrap_or(now), &what));
                }
            }
        }
        if bad > 0 {
            let more = if bad > errors.len() {
                format!(" (and {} more)", bad - errors.len())
            } else {
                String::new()
            };
            return Err(Error::InvalidWrite(format!(
                "{bad} invalid point(s), nothing written: {}{more}",
                errors.join("; ")
            )));
        }
        let ids = self.resolve(&points, &mut report).await?;
        // The series exist from here on (logged and in the catalog), whatever becomes of
        // the points.
        self.learn_written_texts(&ids, texts);
        let mut entry = Vec::with_capacity(points.len());
        for (p, id) in points.into_iter().zip(ids) {
            let ts = match p.ts {
                Some(ts) if ts >= lo && ts <= hi => ts,
                Some(_) => {
                    report.restamped += 1;
                    now
                }
                None => now,
            };
            entry.push((id, Point { ts, value: p.value }));
        }
        report.points = entry.len();
        if entry.is_empty() {
            return Ok(report);
        }
        report.merged = merged_points(&entry);
        self.wait_for_room().await?;
        inner.wal.append(Entry::Points(entry)).await?;
        let c = &inner.counters;
        c.points_written
            .fetch_add(report.points as u64, Ordering::Relaxed);
        c.writes.fetch_add(1, Ordering::Relaxed);
        c.restamped
            .fetch_add(report.restamped as u64, Ordering::Relaxed);
        if self.flush_due() {
            inner.flush_wanted.notify_one();
        }
        Ok(report)
    }

    pub(super) fn flush_due(&self) -> bool {
        let i = &self.inner;
        // Log kept for lagging replicas is not the flush's to free.
        i.wal
            .bytes()
            .saturating_sub(i.held_bytes.load(Ordering::Relaxed))
            >= i.opts.flush_wal_bytes
            || i.cache.dirty_points() >= i.opts.flush_dirty_points
    }

    /// Log bytes not yet flushed to the primary (log kept only for replicas excluded).
    fn unflushed_log_bytes(&self) -> u64 {
        let i = &self.inner;
        i.wal
            .bytes()
            .saturating_sub(i.held_bytes.load(Ordering::Relaxed))
    }

    /// Backpressure: while too many points are unflushed, or the log not yet in the primary
    /// is too large (the primary is down), writers wait for the flush.
    async fn wait_for_room(&self) -> Result<()> {
        let i = &self.inner;
        let full = || {
            i.cache.dirty_points() >= i.opts.max_dirty_points
                || self.unflushed_log_bytes() >= i.opts.max_wal_bytes
        };
        if !full() {
            return Ok(());
        }
        let started = Instant::now();
        while full() {
            i.flush_wanted.notify_one();
            let left = i.opts.overload_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                let why = if i.primary.is_down() {
                    format!(
                        " (the primary `{}` is down: {})",
                        i.primary.name,
                        i.primary.health().last_error.unwrap_or_default()
                    )
                } else {
                    String::new()
                };
                return Err(Error::Overloaded(format!(
                    "{} points and {} log bytes wait for the flush to storage{why}",
                    i.cache.dirty_points(),
                    self.unflushed_log_bytes()
                )));
            }
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(100)), i.flushed.notified())
                    .await;
        }
        Ok(())
    }

    /// Maps every point's series to an id, creating missing series in one backend call.
    pub(super) async fn resolve(
        &self,
        points: &[IncomingPoint],
        report: &mut WriteReport,
    ) -> Result<Vec<SeriesId>> {
        let inner = &self.inner;
        // What each point's series was before the creation lock: `None` when unknown.
        let mut found: Vec<Option<SeriesId>> = Vec::with_capacity(points.len());
        {
            let cat = inner.catalog.read();
            for p in points {
                found.push(match &p.series {
                    SeriesRef::Id(id) => cat.contains(*id).then_some(*id),
                    SeriesRef::Key(k) => cat.id_of(k),
                });
            }
        }
        if found.iter().all(Option::is_some) {
            return Ok(found.iter().map(|f| f.unwrap_or(SeriesId(0))).collect());
        }
        // Bounded fan-out: count the series this write would create before creating any
        // (from the lookups above; the creation below looks the unknown ones up again). A
        // write of no more points than the limit cannot pass it: no count, no hashing.
        if let Some(limit) = inner.opts.max_new_series_per_write
            && points.len() > limit
        {
            let mut unknown_ids = crate::hashing::FastSet::default();
            let mut unknown_keys = crate::hashing::FastSet::default();
            for (p, _) in points.iter().zip(&found).filter(|(_, f)| f.is_none()) {
                match &p.series {
                    SeriesRef::Id(sid) => {
                        unknown_ids.insert(*sid);
                    }
                    SeriesRef::Key(k) => {
                        unknown_keys.insert(k);
                    }
                }
            }
            let would_create = unknown_ids.len() + unknown_keys.len();
            if would_create > limit {
                return Err(Error::InvalidWrite(format!(
                    "the write would create {would_create} series, more than \
                     ingest.max_new_series_per_write ({limit}); nothing written"
                )));
            }
        }
        let mut ids = vec![SeriesId(0); points.len()];
        let _guard = inner.create_lock.lock().await;
        // Sized once for the unknown points: a batch of new series otherwise grows (and
        // rehashes) both as it goes.
        let unknown = found.iter().filter(|f| f.is_none()).count();
        // The new series, each with its key's hash in the catalog.
        let mut new: Vec<(SeriesInfo, Option<u64>)> = Vec::with_capacity(unknown);
        let mut new_ids: crate::hashing::FastSet<SeriesId> = Default::default();
        // The batch's new keys as indexes into `new`, by the catalog's hash of the key: a new
        // key is hashed once for its lookups here and its insert below.
        let mut new_keys: hashbrown::HashTable<usize> =
            hashbrown::HashTable::with_capacity(unknown);
        // The engine owns the catalog: the new series are logged before anything else, so
        // the write is acknowledged whether or not the primary answers; the primary gets
        // them from the next flush, before it writes their points.
        let created = now_ms();
        let info = |id, key| SeriesInfo {
            id,
            key,
            settings: SeriesSettings::default(),
            created,
        };
        {
            let mut cat = inner.catalog.write();
            for ((p, id), before) in points.iter().zip(ids.iter_mut()).zip(&found) {
                // A series found above is still there unless it was deleted since (an id
                // once deleted is never a key's again: new keys get new ids).
                if let Some(known) = before
                    && cat.contains(*known)
                {
                    *id = *known;
                    continue;
                }
                match &p.series {
                    SeriesRef::Id(sid) => {
                        *id = *sid;
                        if !cat.contains(*sid) && new_ids.insert(*sid) {
                            Catalog::check_client_id(*sid).map_err(Error::InvalidWrite)?;
                            new.push((info(*sid, None), None));
                        }
                    }
                    SeriesRef::Key(k) => {
                        let h = cat.key_hash(k);
                        let existing = cat.id_of_hashed(h, k).or_else(|| {
                            new_keys
                                .find(h, |&i| new[i].0.key.as_ref() == Some(k))
                                .map(|&i| new[i].0.id)
                        });
                        if let Some(existing) = existing {
                            *id = existing;
                        } else {
                            let sid = cat.allocate_key_id().ok_or_else(|| {
                                Error::InvalidWrite(format!(
                                    "no series id is left for the new key `{k}`: every id from {KEY_ID_BASE} to {} is in use",
                                    u64::MAX
                                ))
                            })?;
                            new_keys.insert_unique(h, new.len(), |&i| new[i].1.unwrap_or(0));
                            new.push((info(sid, Some(k.clone())), Some(h)));
                            *id = sid;
                        }
                    }
                }
            }
        }
        if new.is_empty() {
            return Ok(ids);
        }
        let (infos, hashes): (Vec<SeriesInfo>, Vec<Option<u64>>) = new.into_iter().unzip();
        inner.wal.append_creations(&infos).await?;
        let created_ids: Vec<SeriesId> = infos.iter().map(|i| i.id).collect();
        {
            let mut cat = inner.catalog.write();
            inner.cache.mark_new(&created_ids);
            cat.reserve_ids(&created_ids);
            for (info, h) in infos.into_iter().zip(hashes) {
                cat.insert_hashed(info, h);
                report.created_series += 1;
            }
        }
        inner.catalog_changed.store(true, Ordering::Relaxed);
        self.queue_create(created_ids).await;
        Ok(ids)
    }
}

/// The client timestamps accepted as they are (others are restamped to `now`).
fn accepted_window(now: Timestamp, limits: TimeLimits) -> (Timestamp, Timestamp) {
    // `as i64` of a limit past i64::MAX ms (a huge setting meant as "no limit") would wrap
    // negative and restamp every point.
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let lo = limits
        .max_past
        .map_or(Timestamp::MIN, |d| now.saturating_sub(ms(d)));
    let hi = limits
        .max_future
        .map_or(Timestamp::MAX, |d| now.saturating_add(ms(d)));
    (lo, hi)
}

/// Points of one write that share a series and a millisecond with a later point of the same
/// write (the later one is kept). One sort of packed keys: ~10 ns a point, about 1 % of the
/// write path at full ingest.
fn merged_points(entry: &[(SeriesId, Point)]) -> usize {
    if entry.len() < 2 {
        return 0;
    }
    let mut keys: Vec<u128> = entry
        .iter()
        .map(|(id, p)| (u128::from(id.0) << 64) | u128::from(p.ts as u64))
        .collect();
    keys.sort_unstable();
    keys.windows(2).filter(|w| w[0] == w[1]).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits of any size keep `now` inside the window; a limit past i64::MAX ms used to
    /// wrap negative and put `now` outside, so every point was restamped.
    #[test]
    fn huge_time_limits_mean_no_limit() {
        let now = 1_700_000_000_000;
        let limits = |d: Duration| TimeLimits {
            max_past: Some(d),
            max_future: Some(d),
        };
        for d in [Duration::from_millis(u64::MAX), Duration::MAX] {
            let (lo, hi) = accepted_window(now, limits(d));
            assert!(lo <= 0 && hi == Timestamp::MAX, "{d:?}: {lo}..{hi}");
        }
        assert_eq!(
            accepted_window(now, limits(Duration::from_secs(60))),
            (now - 60_000, now + 60_000)
        );
    }

    #[test]
    fn points_on_one_millisecond_of_one_series_are_counted() {
        let e = |v: &[(u64, i64)]| -> Vec<(SeriesId, Point)> {
            v.iter()
                .map(|&(s, t)| (SeriesId(s), Point::new(t, 1.0)))
                .collect()
        };
        assert_eq!(merged_points(&e(&[])), 0);
        assert_eq!(merged_points(&e(&[(1, 5), (2, 5), (1, 6)])), 0);
        assert_eq!(
            merged_points(&e(&[(1, 5), (1, 5), (2, 5), (1, 6), (1, 6)])),
            2
        );
        // Out of order: the sorted count.
        assert_eq!(
            merged_points(&e(&[(1, 9), (1, 5), (2, 5), (1, 9), (1, 5)])),
            2
        );
    }
}
