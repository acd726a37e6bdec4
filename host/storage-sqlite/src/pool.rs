//! Threads that own SQLite connections. rusqlite connections are not `Sync`, and SQLite calls
//! block, so each connection lives on its own thread and async callers send it closures.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use clio_storage::priority::Priority;
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
    /// Starts one thread per connection, each at `priority`.
    pub(crate) fn start(
        name: &'static str,
        conns: Vec<Connection>,
        priority: Priority,
    ) -> Result<Pool> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let slots = Arc::new(Semaphore::new(QUEUE_PER_THREAD * conns.len().max(1)));
        let mut threads = Vec::with_capacity(conns.len());
        for (i, mut conn) in conns.into_iter().enumerate() {
            let rx = rx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("clio-sqlite-{name}-{i}"))
                .spawn(move || {
                    if let Err(e) = clio_storage::priority::set_current_thread(priority) {
                        tracing::warn!(pool = name, ?priority, error = %e, "sqlite thread keeps its priority");
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The priority a pool thread runs its jobs at (`SqliteOptions::writer_priority`).
    async fn priority_inside(priority: Priority) -> (i32, bool) {
        let conn = Connection::open_in_memory().unwrap();
        let pool = Pool::start("prio", vec![conn], priority).unwrap();
        pool.call(|_| {
            clio_storage::priority::current_thread().map_err(|e| StorageError::Other(e.to_string()))
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_pool_runs_its_jobs_at_its_priority() {
        let (mine, _) = clio_storage::priority::current_thread().unwrap();
        assert_eq!(priority_inside(Priority::Normal).await, (mine, false));
        let (nice, idle) = priority_inside(Priority::Low).await;
        assert!(
            nice >= clio_storage::priority::LOW_NICE && !idle,
            "{nice} {idle}"
        );
        assert!(priority_inside(Priority::Idle).await.1, "SCHED_IDLE");
    }
}
