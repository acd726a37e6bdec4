//! Series operations: create, update, delete, point deletion and retention.

use super::*;

impl Store {
    /// Creates a series explicitly (with settings) if it does not exist; returns its entry.
    pub async fn create_series(
        &self,
        series: SeriesRef,
        settings: SeriesSettings,
    ) -> Result<SeriesInfo> {
        let mut report = WriteReport::default();
        let probe = IncomingPoint {
            series,
            ts: None,
            value: Value::Num(0.0),
        };
        let id = self
            .resolve(std::slice::from_ref(&probe), &mut report)
            .await?[0];
        if report.created_series > 0 && settings != SeriesSettings::default() {
            let update = SeriesUpdate {
                keep_history_days: Some(settings.keep_history_days),
                keep_trends_days: Some(settings.keep_trends_days),
                metadata: Some(settings.metadata),
            };
            return self.update_series(id, &update).await;
        }
        self.series(id).ok_or(Error::SeriesNotFound(id))
    }

    /// Changes a series' settings.
    pub async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        let inner = &self.inner;
        // One catalog change at a time, so that the log's order is the catalog's.
        let _guard = inner.create_lock.lock().await;
        let Some(mut info) = inner.catalog.read().get(id).cloned() else {
            return Err(Error::SeriesNotFound(id));
        };
        update.apply(&mut info.settings);
        let bytes: usize = info
            .settings
            .metadata
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if bytes > inner.opts.max_metadata_bytes {
            return Err(Error::InvalidRequest(format!(
                "series {id}: metadata of {bytes} bytes exceeds ingest.max_metadata_bytes ({})",
                inner.opts.max_metadata_bytes
            )));
        }
        inner
            .wal
            .append(Entry::UpdateSeries(id, update.clone()))
            .await?;
        inner.catalog.write().insert(info.clone());
        inner.catalog_changed.store(true, Ordering::Relaxed);
        self.submit_change(Change::Update(id, update.clone())).await;
        Ok(info)
    }

    /// Deletes a series with all its data. False if it did not exist.
    pub async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        let inner = &self.inner;
        if !inner.catalog.read().contains(id) {
            return Ok(false);
        }
        // Logged first, so a crash before storage finished is completed at start-up and
        // replay never resurrects the series' unflushed points.
        let _guard = inner.create_lock.lock().await;
        inner.wal.append(Entry::DeleteSeries(id)).await?;
        {
            let mut cat = inner.catalog.write();
            cat.remove(id);
            inner.key_texts.write().forget(id);
        }
        inner.catalog_changed.store(true, Ordering::Relaxed);
        self.submit_change(Change::DeleteSeries(id)).await;
        inner.cache.remove_series(id);
        Ok(true)
    }

    /// Deletes the points of `[from, to)` of a series (trends are kept). Returns how many
    /// stored points went (unflushed ones are not counted).
    pub async fn delete_points(&self, id: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        let inner = &self.inner;
        if !inner.catalog.read().contains(id) {
            return Err(Error::SeriesNotFound(id));
        }
        if from >= to {
            return Ok(0);
        }
        // Unflushed points were never in storage (or replaced a stored value there: then the
        // point is counted twice, the only inexactness of this count).
        let unflushed = inner.cache.dirty_in_range(id, from, to);
        // Logging the deletion also applies it to the cache.
        inner
            .wal
            .append(Entry::DeleteRange {
                series: id,
                from,
                to,
            })
            .await?;
        let change = Change::DeleteRange {
            series: id,
            from,
            to,
        };
        // While the primary is down the deletion waits in the queue (it is logged, and the
        // cache no longer holds the points): only the unflushed points are counted then.
        let n = self
            .submit_counted(
                change,
                |b| async move { b.delete_points(id, from, to).await },
            )
            .await
            .unwrap_or(0);
        // A read-through fill may have copied doomed points back in meanwhile.
        inner.cache.remove_range(id, from, to);
        Ok(n + unflushed as u64)
    }

    /// Retention for a batch of series (see [`StorageBackend::expire`]): raw points stamped
    /// before each `raw_before` and trend buckets starting before each interval's cut. The
    /// whole batch is one log record and one backend call (one storage transaction with the
    /// SQLite backend), which is what makes retention over many series cheap.
    ///
    /// Returns one outcome per entry, in order. Series not in the catalog are skipped (their
    /// outcome counts nothing). As with [`Store::delete_points`], `points` counts stored
    /// points plus the unflushed ones that were cut from the cache.
    pub async fn expire(&self, batch: &[Expiry]) -> Result<Vec<ExpiryOutcome>> {
        let inner = &self.inner;
        // Positions in `batch` of the entries that can delete something.
        let keep: Vec<usize> = {
            let catalog = inner.catalog.read();
            (0..batch.len())
                .filter(|&i| !batch[i].is_empty() && catalog.contains(batch[i].series))
                .collect()
        };
        let mut out: Vec<ExpiryOutcome> = batch
            .iter()
            .map(|e| ExpiryOutcome::none(e.series))
            .collect();
        if keep.is_empty() {
            return Ok(out);
        }
        let todo: Vec<Expiry> = keep.iter().map(|&i| batch[i].clone()).collect();
        // Counted before logging, which cuts them from the cache (see `delete_points`).
        let unflushed: Vec<u64> = todo
            .iter()
            .map(|e| {
                e.raw_before.map_or(0, |before| {
                    inner.cache.dirty_in_range(e.series, Timestamp::MIN, before) as u64
                })
            })
            .collect();
        inner.wal.append(Entry::Expire(todo.clone())).await?;
        let todo_c = todo.clone();
        let stored = self
            .submit_counted(Change::Expire(todo.clone()), |b| async move {
                b.expire(&todo_c).await
            })
            .await;
        // A read-through fill may have copied doomed points back in meanwhile; the cache
        // follows the cut whether storage succeeded or not (the log re-applies it at start).
        for e in &todo {
            if let Some(before) = e.raw_before {
                inner.cache.remove_range(e.series, Timestamp::MIN, before);
            }
        }
        // Queued while the primary is down: only the unflushed points are counted.
        let stored =
            stored.unwrap_or_else(|| todo.iter().map(|e| ExpiryOutcome::none(e.series)).collect());
        if stored.len() != todo.len() {
            return Err(Error::Storage(StorageError::Other(format!(
                "{} answered {} expiry outcomes for {} series",
                inner.primary.name,
                stored.len(),
                todo.len()
            ))));
        }
        for ((i, s), dirty) in keep.into_iter().zip(stored).zip(unflushed) {
            if let Some(o) = out.get_mut(i) {
                o.points = s.points + dirty;
                o.buckets = s.buckets;
            }
        }
        Ok(out)
    }
}
