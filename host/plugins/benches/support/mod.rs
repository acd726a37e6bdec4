//! Store set-up shared by the `plugin_call` bench and the `call_loop` example.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clio_core::{EngineOptions, IncomingPoint, SeriesRef, Store};
use clio_storage::{SeriesId, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};

/// The first point's timestamp; points follow every second.
pub const T0: i64 = 1_700_000_000_000;

/// A store in `dir` holding `points` points (values 0, 1, 2, ...) of series `id`, flushed to
/// SQLite; afterwards the cache keeps the newest `cached` of them in memory.
pub fn open_store(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    id: SeriesId,
    points: i64,
    cached: usize,
) -> Store {
    rt.block_on(async {
        let backend =
            Arc::new(SqliteBackend::open(SqliteOptions::new(dir.join("clio.db"))).unwrap());
        let mut o = EngineOptions::new(dir);
        o.timestamp_max_past = None;
        o.timestamp_max_future = None;
        o.cache_service_interval = Duration::from_secs(3600);
        o.cache.init_cached_records = cached;
        let (store, _) = Store::open(o, backend).await.unwrap();
        for chunk in (0..points).collect::<Vec<_>>().chunks(20_000) {
            let pts = chunk
                .iter()
                .map(|&i| IncomingPoint {
                    series: SeriesRef::Id(id),
                    ts: Some(T0 + i * 1000),
                    value: Value::Num(i as f64),
                })
                .collect();
            store.write(pts).await.unwrap();
        }
        store.flush().await.unwrap();
        store
    })
}
