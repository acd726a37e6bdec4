//! Opening the engine: the catalog (from the primary, or its local copy while the primary is
//! down), log replay, changes the primary may have missed queued for it, replicas started.

use super::changes::Queued;
use super::flush::cache_service;
use super::*;
use crate::catalog::entry_codec::RawEntry;
use crate::catalog::snapshot;
use crate::hashing::FastSet;
use crate::store::flush_mark;
use crate::topology::Topology;
use crate::wal::DecodeHooks;

impl Store {
    /// Opens the engine over one backend (no replicas). Must run inside a tokio runtime.
    pub async fn open(
        opts: EngineOptions,
        backend: Arc<dyn StorageBackend>,
    ) -> Result<(Store, ReplayReport)> {
        Self::open_topology(opts, Topology::single(backend)).await
    }

    /// Opens the engine: loads the catalog, replays the log into the cache, queues the
    /// logged changes for the primary (applied at once when it answers), starts the cache
    /// service and one follower per replica. A primary that cannot be opened or answer does
    /// not stop the start: the catalog then comes from its local copy and the log, and
    /// writes are acknowledged into the log and the cache until it is back. Must run inside
    /// a tokio runtime.
    pub async fn open_topology(
        opts: EngineOptions,
        topology: Topology,
    ) -> Result<(Store, ReplayReport)> {
        let lock = DirLock::acquire(&opts.data_dir)?;
        // The keys must open the log before a backend is opened with them.
        crate::wal::check_keys(&opts.data_dir.join("wal"), &opts.keys)?;
        let primary = Slot::new(topology.primary);
        let snapshot_path = snapshot::path(&opts.data_dir);
        let loaded = match primary.ensure().await {
            Ok(b) => match b.load_catalog().await {
                Ok(c) => Ok(c),
                Err(e) => {
                    primary.failed(&e);
                    Err(e)
                }
            },
            // A backend that refuses its configuration (a missing or wrong data key, a file
            // of a newer format) will not get better by retrying: the start fails, before
            // anything is written to the log.
            Err(e @ clio_storage::StorageError::InvalidInput(_)) => {
                return Err(Error::Storage(e));
            }
            Err(e) => Err(e),
        };
        let mut opts = opts;
        if let Ok(b) = primary.get() {
            // The backend's own list is the truth when it can be asked.
            opts.trend_intervals = b.trend_intervals().to_vec();
        }
        // Whether the catalog is the primary's own list (not the local copy).
        let from_primary = loaded.is_ok();
        let catalog = match loaded {
            Ok(entries) => Catalog::new(entries),
            Err(e) => match snapshot::load(&snapshot_path)? {
                Some(entries) => {
                    warn!(backend = %primary.name, error = %e, series = entries.len(), "primary unavailable at start-up; the catalog comes from its local copy and the log");
                    Catalog::new(entries)
                }
                // Without any copy of the catalog, points in the log could not be told
                // apart from points of series that were deleted: refuse rather than guess.
                None => return Err(Error::Storage(e)),
            },
        };
        let cache = Arc::new(Cache::new(opts.cache.clone()));
        // Points of segments the primary is known to hold are not replayed into memory: the
        // log may be kept long for a lagging replica.
        let known_flushed = flush_mark::load(&opts.data_dir);
        let apply = {
            let cache = Arc::clone(&cache);
            Arc::new(move |seg: u64, entry: &Entry| match entry {
                Entry::Points(points) => {
                    if seg > known_flushed {
                        cache.apply_points(seg, points);
                    }
                }
                Entry::DeleteSeries(id) => cache.remove_series(*id),
                Entry::DeleteRange { series, from, to } => {
                    cache.remove_range(*series, *from, *to);
                }
                Entry::Expire(batch) => {
                    for e in batch {
                        if let Some(before) = e.raw_before {
                            cache.remove_range(e.series, Timestamp::MIN, before);
                        }
                    }
                }
                Entry::CreateSeries(_)
                | Entry::UpdateSeries(..)
                | Entry::Flushed { .. }
                | Entry::Clock(_) => {}
            })
        };
        // Changes other than points, taken from the replay in log order (not copied): the
        // catalog follows the log, and the primary gets every logged change again (they are
        // idempotent), since any of them may not have reached it before a crash. A logged
        // creation the primary's catalog holds already changes nothing; after a stop that
        // left a million in the log, the reading thread drops them before they are parsed
        // (`HeldAtStart`), so that they never pile up here. It reads the catalog meanwhile:
        // the rest is absorbed after the replay.
        let mut changes = Vec::new();
        let mut flushed_upto = 0u64;
        let keep = |_seg: u64, entry: Entry| match entry {
            Entry::Flushed { upto } => flushed_upto = flushed_upto.max(upto),
            entry => changes.extend(Change::from_owned_entry(entry)),
        };
        let wal_opts = WalOptions {
            dir: opts.data_dir.join("wal"),
            sync: opts.wal_sync,
            sync_interval: opts.wal_sync_interval,
            segment_bytes: opts.wal_segment_bytes,
            faults: opts.wal_faults.clone(),
            clock: opts.archive_dir.is_some() || opts.archive_command.is_some(),
            keys: Arc::clone(&opts.keys),
        };
        let mut held = HeldAtStart {
            catalog: from_primary.then_some(&catalog),
            touched: FastSet::default(),
        };
        let (wal, report) = Wal::open_keeping(wal_opts, apply, &mut held, keep)?;
        let mut catalog = catalog;
        let mut pending = VecDeque::new();
        for change in changes {
            if let Some(queued) = absorb(&mut catalog, change, from_primary) {
                Queued::push(&mut pending, queued, true);
            }
        }
        // The primary holds every point of segments up to the last flush mark.
        cache.mark_clean_upto(flushed_upto);
        let flushed_upto = flushed_upto.max(known_flushed);
        // Points of series missing from the catalog cannot be flushed anywhere meaningful
        // (logs written before the engine logged series creation).
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
        // The local copy must hold every catalog change before the log that recorded it is
        // truncated: the first flush that truncates writes it (`catalog_changed`), not the
        // start, which would spend ~0.6 s on it at a million series. Only a data directory
        // without any copy gets one now, so that a restart with the primary down finds one.
        let first_copy = !snapshot_path.exists();
        if first_copy {
            snapshot::save(&snapshot_path, catalog.all())?;
        }
        let replicas = topology
            .replicas
            .into_iter()
            .map(|spec| {
                Follower::new(
                    spec,
                    &opts.data_dir,
                    topology.lag_warn,
                    Arc::clone(&opts.keys),
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>>>()?;
        let pending_len = pending.len() as u64;
        let target = match (&opts.archive_dir, &opts.archive_command) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidRequest(
                    "set archive_dir or archive_command, not both".into(),
                ));
            }
            (Some(dir), None) => Some(super::archive::ArchiveTarget::Dir(dir.clone())),
            (None, Some(c)) => Some(super::archive::ArchiveTarget::Command(c.clone())),
            (None, None) => None,
        };
        let archiver = match target {
            Some(t) => Some(Arc::new(super::archive::Archiver::open(&opts.data_dir, t)?)),
            None => None,
        };
        let background = super::background::Background::start(opts.flush_priority)?;
        let store = Store {
            inner: Arc::new(EngineState {
                opts,
                primary,
                replicas,
                read_failover: topology.read_failover,
                replica_max_log_bytes: topology.replica_max_log_bytes,
                pending: tokio::sync::Mutex::new(pending),
                applying: tokio::sync::Mutex::new(()),
                pending_len: AtomicU64::new(pending_len),
                flushed_upto: AtomicU64::new(flushed_upto),
                held_bytes: AtomicU64::new(0),
                catalog_changed: AtomicBool::new(!first_copy),
                catalog: RwLock::new(catalog),
                key_texts: RwLock::default(),
                create_lock: tokio::sync::Mutex::new(()),
                cache,
                wal,
                flush_lock: tokio::sync::Mutex::new(()),
                in_flight: Default::default(),
                flush_wanted: Notify::new(),
                flushed: Notify::new(),
                closed: AtomicBool::new(false),
                service: Mutex::new(None),
                counters: Counters::default(),
                flush_failing: Mutex::new(None),
                lock: Mutex::new(Some(lock)),
                archiver,
                background,
                warm: Default::default(),
            }),
        };
        // Re-applied at once when the primary answers; otherwise the flush retries.
        if let Err(e) = store.apply_pending().await {
            warn!(error = %e, "logged changes could not reach the primary yet; the flush retries them");
        }
        let handle = tokio::spawn(cache_service(Arc::downgrade(&store.inner)));
        *store.inner.service.lock() = Some(handle);
        for f in &store.inner.replicas {
            f.start(Arc::downgrade(&store.inner));
        }
        store.start_warm_up();
        if store.flush_due() || store.inner.pending_len.load(Ordering::Relaxed) > 0 {
            store.inner.flush_wanted.notify_one();
        }
        Ok((store, report))
    }
}

/// Decides on the replay's reading thread which logged creations the primary's catalog holds
/// already, key and settings: [`absorb`] would skip them, so they are dropped before they
/// are parsed. A million of them were more than half of the reading thread's work (a parse
/// and two allocations each) and cost the applying thread a lookup and two frees each
/// (issue #25's replay rate).
struct HeldAtStart<'c> {
    /// The catalog as loaded, while the replay runs; `None` when it is the local copy,
    /// which the primary may not hold.
    catalog: Option<&'c Catalog>,
    /// Series an entry already handed on may change: the loaded catalog no longer tells
    /// what holds for them, so [`absorb`] judges their creations, in log order (a series
    /// deleted and created again under the same id, say).
    touched: FastSet<SeriesId>,
}

impl DecodeHooks for HeldAtStart<'_> {
    fn held(&mut self, e: &RawEntry<'_>) -> bool {
        self.catalog
            .and_then(|c| c.get(e.id))
            .is_some_and(|c| e.is_held_as(c))
            && !self.touched.contains(&e.id)
    }

    fn passed(&mut self, e: &Entry) {
        if self.catalog.is_none() {
            return;
        }
        match e {
            Entry::CreateSeries(infos) => self.touched.extend(infos.iter().map(|i| i.id)),
            Entry::UpdateSeries(id, _) | Entry::DeleteSeries(id) => {
                self.touched.insert(*id);
            }
            _ => {}
        }
    }
}

/// Applies one replayed change to the catalog; what the primary must get again, if anything.
fn absorb(catalog: &mut Catalog, change: Change, from_primary: bool) -> Option<Queued> {
    Some(match change {
        Change::Create(infos) => {
            // A series the catalog already holds so (key and settings) needs no second
            // creation: the primary said it holds it (or an earlier creation in the log,
            // queued already, makes it so). After a stop that left a million creations in
            // the log this saves a million upserts at start; the replayed copy is dropped at
            // once, and the entry keeps the primary's creation time. The record's lookups go
            // first, none waiting on another: in a catalog of a million entries each is a
            // cache miss, which the processor then overlaps (they were nine tenths of the
            // replaying thread's own time when each waited for the insert before it).
            let held: Vec<bool> = infos
                .iter()
                .map(|i| {
                    from_primary
                        && catalog
                            .get(i.id)
                            .is_some_and(|c| c.key == i.key && c.settings == i.settings)
                })
                .collect();
            let mut ids = Vec::new();
            for (i, held) in infos.into_iter().zip(held) {
                if !held {
                    ids.push(i.id);
                    catalog.insert(i);
                }
            }
            if ids.is_empty() {
                return None;
            }
            Queued::Created(ids)
        }
        Change::Update(id, update) => {
            if let Some(mut info) = catalog.get(id).cloned() {
                update.apply(&mut info.settings);
                catalog.insert(info);
            }
            Queued::Change(Change::Update(id, update))
        }
        Change::DeleteSeries(id) => {
            catalog.remove(id);
            Queued::Change(Change::DeleteSeries(id))
        }
        c @ (Change::DeleteRange { .. } | Change::Expire(_)) => Queued::Change(c),
    })
}
