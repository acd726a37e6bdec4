//! Threads that own SQLite connections. rusqlite connections are not `Sync`, and SQLite calls
//! block, so each connection lives on its own thread and async callers send it closures.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use clio_storage::{Result, StorageError};
use rusqlite::Connection;
use tokio::sync::{Semaphore, oneshot};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Queue capacity per thread; callers beyond it wait (asynchronously) for a slot.
const QUEUE_PER_THREAD: usize = 64;

/// A set of threads, each owning one connection, serving jobs from one shared queue.
#[derive(Debug)]
pub(crate) struct Pool {
    name: &'static str,
    tx: crossbeam_channel::Sender<Job>,
    slots: Arc<Semaphore>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts one thread per connection.
    pub(crate) fn start(name: &'static str, conns: Vec<Connection>) -> Result<Pool> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let slots = Arc::new(Semaphore::new(QUEUE_PER_THREAD * conns.len().max(1)));
        let mut threads = Vec::with_capacity(conns.len());
        for (i, mut conn) in conns.into_iter().enumerate() {
            let rx = rx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("clio-sqlite-{name}-{i}"))
                .spawn(move || {
                    for job in rx.iter() {
                        // A panicking job drops its reply sender, so its caller gets an
                        // error; the thread and its connection keep serving.
                        if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                            tracing::error!(pool = name, "sqlite job panicked");
                        }
                    }
                })
                .map_err(|e| StorageError::Other(format!("cannot start sqlite thread: {e}")))?;
            threads.push(handle);
        }
        Ok(Pool {
            name,
            tx,
            slots,
            threads,
        })
    }

    /// Runs `f` on one of the pool's connections.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed(self.name))?;
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = f(conn);
            drop(permit);
            let _ = reply.send(out);
        });
        self.tx.send(job).map_err(|_| closed(self.name))?;
        rx.await.map_err(|_| {
            StorageError::Other(format!("sqlite {} job failed (see log)", self.name))
        })?
    }

    /// Stops taking jobs; queued jobs still run.
    pub(crate) fn close(&self) {
        self.slots.close();
    }

    /// Whether [`Pool::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.slots.is_closed()
    }

    /// Number of threads.
    pub(crate) fn size(&self) -> usize {
        self.threads.len()
    }
}

fn closed(name: &str) -> StorageError {
    StorageError::Unavailable(format!("sqlite {name} pool is closed"))
}
