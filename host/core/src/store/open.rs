//! Opening the engine: catalog, log replay, deletions re-applied.

use super::flush::cache_service;
use super::*;

impl Store {
    /// Opens the engine: loads the catalog, replays the log into the cache, re-applies
    /// logged deletions to storage, and starts the cache service. Must run inside a tokio
    /// runtime.
    pub async fn open(
        opts: EngineOptions,
        backend: Arc<dyn StorageBackend>,
    ) -> Result<(Store, ReplayReport)> {
        let lock = DirLock::acquire(&opts.data_dir)?;
        let catalog = Catalog::new(backend.load_catalog().await?);
        let cache = Arc::new(Cache::new(opts.cache.clone()));
        let replaying = Arc::new(AtomicBool::new(true));
        let replayed: Arc<Mutex<ReplayLog>> = Arc::default();
        let apply = {
            let cache = Arc::clone(&cache);
            let replaying = Arc::clone(&replaying);
            let replayed = Arc::clone(&replayed);
            Arc::new(move |seg: u64, entry: &Entry| {
                let during_replay = replaying.load(Ordering::Relaxed);
                match entry {
                    Entry::Points(points) => {
                        cache.apply_points(seg, points);
                        if during_replay {
                            let mut r = replayed.lock();
                            for (id, _) in points {
                                r.entry(*id).or_default().deleted = false;
                            }
                        }
                    }
                    Entry::DeleteSeries(id) => {
                        cache.remove_series(*id);
                        if during_replay {
                            replayed.lock().insert(
                                *id,
                                Replayed {
                                    deleted: true,
                                    ..Default::default()
                                },
                            );
                        }
                    }
                    Entry::DeleteRange { series, from, to } => {
                        cache.remove_range(*series, *from, *to);
                        if during_replay {
                            replayed
                                .lock()
                                .entry(*series)
                                .or_default()
                                .ranges
                                .push((*from, *to));
                        }
                    }
                    Entry::Expire(batch) => {
                        for e in batch {
                            if let Some(before) = e.raw_before {
                                cache.remove_range(e.series, Timestamp::MIN, before);
                            }
                        }
                        if during_replay {
                            let mut r = replayed.lock();
                            for e in batch {
                                let s = r.entry(e.series).or_default();
                                if let Some(before) = e.raw_before {
                                    s.raw_before = s.raw_before.max(Some(before));
                                }
                                for &(interval, before) in &e.trends_before {
                                    let cut = s.trends_before.entry(interval).or_insert(before);
                                    *cut = (*cut).max(before);
                                }
                            }
                        }
                    }
                }
            })
        };
        let wal_opts = WalOptions {
            dir: opts.data_dir.join("wal"),
            sync: opts.wal_sync,
            sync_interval: opts.wal_sync_interval,
            segment_bytes: opts.wal_segment_bytes,
        };
        let (wal, report) = Wal::open(wal_opts, apply)?;
        replaying.store(false, Ordering::Relaxed);
        let mut catalog = catalog;
        // A deletion that was logged may not have reached storage before a crash.
        let replayed = std::mem::take(&mut *replayed.lock());
        let mut expiries = Vec::new();
        for (id, r) in replayed {
            if r.deleted {
                backend.delete_series(id).await?;
                catalog.remove(id);
                continue;
            }
            for (from, to) in r.ranges {
                backend.delete_points(id, from, to).await?;
            }
            if r.raw_before.is_some() || !r.trends_before.is_empty() {
                expiries.push(Expiry {
                    series: id,
                    raw_before: r.raw_before,
                    trends_before: r.trends_before.into_iter().collect(),
                });
            }
        }
        // Retention is idempotent: re-applying a cut that did reach storage finds nothing.
        // A failure here is logged rather than fatal: the data it would remove is old data
        // the next housekeeper run cuts again, and refusing to start over it (say, one damaged
        // chunk) would be worse.
        expiries.sort_by_key(|e| e.series);
        for batch in expiries.chunks(REPLAY_EXPIRE_BATCH) {
            if let Err(e) = backend.expire(batch).await {
                warn!(series = batch.len(), error = %e, "re-applying logged retention failed; the next housekeeper run repeats it");
            }
        }
        // Points of series missing from the catalog cannot be flushed anywhere meaningful.
        for id in cache.series_ids() {
            if !catalog.contains(id) {
                warn!(series = %id, "log held points of a series missing from the catalog; dropped");
                cache.remove_series(id);
            }
        }
        if report.segments > 0 {
            info!(
                segments = report.segments,
                points = report.points,
                bytes = report.bytes,
                millis = report.elapsed.as_millis() as u64,
                "write-ahead log replayed"
            );
        }
        let store = Store {
            inner: Arc::new(Inner {
                opts,
                backend,
                catalog: RwLock::new(catalog),
                create_lock: tokio::sync::Mutex::new(()),
                cache,
                wal,
                flush_lock: tokio::sync::Mutex::new(()),
                flush_seq: AtomicU64::new(0),
                flush_wanted: Notify::new(),
                flushed: Notify::new(),
                closed: AtomicBool::new(false),
                service: Mutex::new(None),
                counters: Counters::default(),
                lock: Mutex::new(Some(lock)),
            }),
        };
        let handle = tokio::spawn(cache_service(Arc::downgrade(&store.inner)));
        *store.inner.service.lock() = Some(handle);
        if store.flush_due() {
            store.inner.flush_wanted.notify_one();
        }
        Ok((store, report))
    }
}
