//! Clio's engine: the write-ahead log, the adaptive cache, the series catalog and the flush,
//! in front of a primary [`clio_storage::StorageBackend`] and its replicas.
//!
//! A write is validated, appended to the log (fsynced per [`SyncMode`], with group commit),
//! applied to the cache, then acknowledged. The cache service flushes unflushed points to the
//! primary (with their trend buckets) and truncates the log once every replica has read it.
//! Reads merge the cache with the primary. See ARCHITECTURE.md for the invariants and
//! `docs/storage-topology.md` for replication.
//!
//! Modules:
//! - `wal/`: segment files, the record format, the log thread with group commit, replay.
//! - `cache`: per-series points in shards, sized by reader demand, evicted by a budget;
//!   unflushed points carry their log segment; `warm` lists the series readers used
//!   (`cache-warm.bin`) for the warm-up after a restart.
//! - `catalog/`: the key → id index the engine owns; `snapshot` is its local copy
//!   (`catalog.bin`, binary), which lets the engine start with the primary down.
//! - `store/`: [`Store`] by what it does: `open` (catalog, replay, queued changes), `write`
//!   (validation, series resolution, backpressure), `read` (cache ∪ storage, columnar reads
//!   for plugins, read-through fills), `flush` (and the cache service), `series` (series ops,
//!   deletions, retention), `changes` (the queue for a primary that is down), `status` (read
//!   failover, `/api/v1/storage`), `warm` (the warm-up after a restart), `flush_mark`.
//! - `topology`: [`Topology`] and [`BackendSpec`]: backends handed over unopened, opened and
//!   reopened by the engine, with their health.
//! - `apply`: changes other than points, idempotent, as they reach a backend.
//! - `replica/`: a follower per replica: `reader` reads the log while it is written,
//!   `accumulator` gathers points until a flush mark, `cursor` is the durable position,
//!   `resync` refills from the primary.
//! - `hashing`: the seeded fast hasher of the in-memory maps. `framed`: magic bytes and a
//!   checksum around `catalog.bin` and `cache-warm.bin`.
//! - `query`: windows, resolutions, cursors, result caps. `lock`: one process per data
//!   directory.
#![deny(missing_docs)]

mod apply;
mod cache;
mod catalog;
mod error;
mod framed;
mod hashing;
mod id_map;
mod lock;
mod options;
pub mod pitr;

/// Entry points for the fuzz targets (`clio-fuzz-targets`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::wal::record::{Entry, decode_all_with, encode};

    fn decode_all(body: &[u8]) -> crate::wal::record::Decoded {
        decode_all_with(body, &clio_storage::sealing::Keyring::none())
    }

    /// Decodes a log segment's body (after its magic) as replay does: the number of
    /// records read and the bytes they held. Panics when the records read do not survive
    /// being written again (the invariant the targets check).
    pub fn decode_log_segment(body: &[u8]) -> (usize, usize) {
        let d = decode_all(body);
        let mut again = Vec::new();
        for e in &d.entries {
            encode(e, &mut again);
        }
        let back = decode_all(&again);
        assert!(
            back.stopped.is_none() && back.entries == d.entries,
            "log records do not survive re-encoding: {:?}",
            back.stopped
        );
        (d.entries.len(), d.valid_len)
    }

    /// A segment body with one record of several kinds, for the fuzz corpus.
    pub fn sample_log_segment() -> Vec<u8> {
        use clio_storage::{Point, SeriesId, Value};
        let mut out = Vec::new();
        for e in [
            Entry::Clock(1_700_000_000_000),
            Entry::Points(vec![
                (SeriesId(1), Point::new(1_700_000_000_000, Value::Num(1.5))),
                (
                    SeriesId(2),
                    Point::new(1_700_000_000_001, Value::Str("ok".into())),
                ),
            ]),
            Entry::DeleteSeries(SeriesId(3)),
            Entry::DeleteRange {
                series: SeriesId(1),
                from: 0,
                to: 1_700_000_000_000,
            },
            Entry::Flushed { upto: 7 },
        ] {
            encode(&e, &mut out);
        }
        out
    }
}

mod query;
mod replica;
mod store;
mod str_table;
mod topology;
mod wal;

pub use cache::{CacheOptions, CacheStats};
pub use catalog::KEY_ID_BASE;
pub use error::{Error, Result};
pub use lock::DirLock;
pub use options::{ArchiveCommand, EngineOptions};
pub use query::{Cursor, Data, ReadRequest, ReadResult, Resolution, Window};
pub use replica::{ReplicaState, ReplicaStatus};
pub use store::status::{BackendStatus, StorageStatus};
pub use store::{
    ArchiveStatus, EngineStats, FlushReport, IncomingPoint, KeyTexts, NewText, SeriesPage,
    SeriesRef, SnapshotReport, Store, TextHash, TextLookup, TimeLimits, WriteReport, now_ms,
};
pub use topology::{BackendSpec, OpenFuture, Opener, SlotHealth, Topology};
pub use wal::{ReplayReport, SyncMode};
#[doc(hidden)]
pub use wal::{WalFault, WalFaults};
