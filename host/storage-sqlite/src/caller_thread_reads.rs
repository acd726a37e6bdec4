//! Read-only connections that run a read on the caller's own thread.
//!
//! The reader pool serves async callers: a read is a closure sent to a pool thread and an
//! answer sent back, two thread hand-offs that cost more than a small read itself (a 10-point
//! read is ~40 µs through the pool on a VM, most of it waking threads). A caller that may
//! block anyway (a plugin's host import runs on a blocking thread) takes one of these
//! connections instead and runs the query where it stands.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clio_storage::sealing::Keyring;
use clio_storage::{Result, StorageError};
use rusqlite::{Connection, OpenFlags};

use crate::error::sql;
use crate::schema;

/// Idle read-only connections for reads on the caller's thread, opened on first demand, at
/// most `max` at once.
#[derive(Debug)]
pub(crate) struct InlineReaders {
    path: PathBuf,
    busy_timeout: Duration,
    max: usize,
    keys: Arc<Keyring>,
    idle: Mutex<Vec<Connection>>,
    /// Connections in existence (idle or lent out).
    open: AtomicUsize,
    closed: AtomicBool,
}

impl InlineReaders {
    /// No connection is opened until the first read.
    pub(crate) fn new(
        path: PathBuf,
        busy_timeout: Duration,
        max: usize,
        keys: Arc<Keyring>,
    ) -> Self {
        InlineReaders {
            path,
            busy_timeout,
            max,
            keys,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `f` in a read transaction on an idle connection, on this thread. `None` when
    /// every connection is lent out and no more may be opened: the caller goes through the
    /// pool instead (it never waits here).
    pub(crate) fn try_read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Option<Result<T>> {
        if self.closed.load(Ordering::Acquire) {
            return Some(Err(StorageError::Unavailable(
                "sqlite backend is closed".into(),
            )));
        }
        let mut conn = match self.take() {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Some(Err(e)),
            None => return None,
        };
        // A panic inside the query must not take the caller's thread down with a half-used
        // connection: the connection is dropped (rolled back) and the caller gets an error.
        match catch_unwind(AssertUnwindSafe(|| crate::query::in_read_tx(&mut conn, f))) {
            Ok(out) => {
                self.give_back(conn);
                Some(out)
            }
            Err(_) => {
                drop(conn);
                self.open.fetch_sub(1, Ordering::AcqRel);
                tracing::error!("sqlite inline read panicked");
                Some(Err(StorageError::Other(
                    "sqlite read failed (see log)".into(),
                )))
            }
        }
    }

    /// Drops the idle connections and refuses further reads (lent-out ones are dropped when
    /// they come back).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let idle = std::mem::take(&mut *self.lock());
        self.open.fetch_sub(idle.len(), Ordering::AcqRel);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The list stays consistent whatever a panicking holder did (push/pop only).
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, or a new one while under `max`; `None` at the limit.
    fn take(&self) -> Option<Result<Connection>> {
        if let Some(c) = self.lock().pop() {
            return Some(Ok(c));
        }
        let reserved = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            return None;
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)
        .and_then(|c| schema::configure_reader(&c, self.busy_timeout).map(|()| c))
        .and_then(|c| crate::sealing::register(&c, &self.keys).map(|()| c));
        if conn.is_err() {
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
        Some(conn)
    }

    fn give_back(&self, conn: Connection) {
        if self.closed.load(Ordering::Acquire) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        self.lock().push(conn);
    }

    /// Connections in existence (for tests).
    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn readers(max: usize) -> (tempfile::TempDir, InlineReaders) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (7);")
            .unwrap();
        (
            dir,
            InlineReaders::new(path, Duration::from_secs(1), max, Arc::default()),
        )
    }

    fn read_x(c: &Connection) -> Result<i64> {
        c.query_row("SELECT x FROM t", [], |r| r.get(0))
            .map_err(sql)
    }

    #[test]
    fn reuses_one_connection_and_never_exceeds_max() {
        let (_d, r) = readers(1);
        for _ in 0..3 {
            assert_eq!(r.try_read(read_x).unwrap().unwrap(), 7);
        }
        assert_eq!(r.open_count(), 1);
        // While the only connection is lent out, a second reader is told to go elsewhere.
        let inner = r
            .try_read(|_| Ok(r.try_read(read_x).is_none()))
            .unwrap()
            .unwrap();
        assert!(inner, "a second connection was opened beyond max");
        assert_eq!(r.open_count(), 1);
    }

    #[test]
    fn a_failed_query_keeps_the_connection_and_a_panic_drops_it() {
        let (_d, r) = readers(2);
        let err = r
            .try_read(|c| c.execute_batch("SELECT nope FROM missing").map_err(sql))
            .unwrap();
        assert!(err.is_err());
        assert_eq!(r.open_count(), 1);
        let err = r.try_read(|_| -> Result<()> { panic!("boom") }).unwrap();
        assert!(err.unwrap_err().to_string().contains("see log"));
        assert_eq!(r.open_count(), 0);
        assert_eq!(r.try_read(read_x).unwrap().unwrap(), 7);
    }

    #[test]
    fn closed_refuses_and_a_missing_file_is_an_error() {
        let (_d, r) = readers(2);
        assert_eq!(r.try_read(read_x).unwrap().unwrap(), 7);
        r.close();
        assert_eq!(r.open_count(), 0);
        assert!(r.try_read(read_x).unwrap().is_err());
        let missing = InlineReaders::new(
            "/nonexistent/dir/x.db".into(),
            Duration::from_secs(1),
            1,
            Arc::default(),
        );
        assert!(missing.try_read(read_x).unwrap().is_err());
        assert_eq!(missing.open_count(), 0);
    }
}
