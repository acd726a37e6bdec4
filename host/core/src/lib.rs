//! Clio's engine: the write-ahead log, the adaptive cache, the series catalog index and the
//! cache service, in front of a primary [`clio_storage::StorageBackend`] and its replicas.
//!
//! A write is validated, appended to the log (fsynced per [`SyncMode`], with group commit),
//! applied to the cache, then acknowledged. The cache service flushes unflushed points to
//! the backend (which also maintains trends) and then truncates the log. Reads merge the
//! cache with storage. See ARCHITECTURE.md for the invariants.
#![deny(missing_docs)]

mod apply;
mod cache;
mod catalog;
mod error;
mod lock;
mod options;
mod query;
mod replica;
mod store;
mod topology;
mod wal;

pub use cache::{CacheOptions, CacheStats};
pub use catalog::KEY_ID_BASE;
pub use error::{Error, Result};
pub use lock::DirLock;
pub use options::EngineOptions;
pub use query::{Cursor, Data, ReadRequest, ReadResult, Resolution, Window};
pub use replica::{ReplicaState, ReplicaStatus};
pub use store::status::{BackendStatus, StorageStatus};
pub use store::{EngineStats, FlushReport, IncomingPoint, SeriesRef, Store, WriteReport, now_ms};
pub use topology::{BackendSpec, OpenFuture, Opener, SlotHealth, Topology};
pub use wal::{ReplayReport, SyncMode};
