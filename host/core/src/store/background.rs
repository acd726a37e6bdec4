//! The flush's own thread, at a lower CPU priority (`[cache] flush_priority`,
//! [`clio_storage::priority`]).
//!
//! A flush's passes over every cached series (a million of them at a time), its catalog copy
//! and its file syncs take milliseconds to seconds. On a runtime worker they held every
//! request queued behind them; on tokio's shared blocking threads they still took a core
//! from the workers at the same priority, for up to 100 ms at a time. Here they run on one
//! thread that yields to the runtime on a busy machine. One thread is enough: one flush runs
//! at a time (`flush_lock`), and its passes run one after the other.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use clio_storage::priority::Priority;
use tokio::sync::oneshot;
use tracing::warn;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs closures handed to it, one at a time, at its own priority.
#[derive(Debug)]
pub(crate) struct Background {
    jobs: mpsc::Sender<Job>,
}

impl Background {
    /// Starts the thread at `priority`. It ends when the `Background` is dropped, after the
    /// jobs already handed to it.
    pub(crate) fn start(priority: Priority) -> Result<Background> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("clio-flush".into())
            .spawn(move || {
                if let Err(e) = clio_storage::priority::set_current_thread(priority) {
                    warn!(?priority, error = %e, "the flush thread keeps the server's priority");
                }
                for job in rx {
                    job();
                }
            })
            .map_err(|e| Error::io("starting the flush thread", e))?;
        Ok(Background { jobs })
    }

    /// Runs `f` on the thread and waits (asynchronously) for it. A panic in `f` is resumed
    /// here, as if `f` had run in the caller; a thread that is gone is [`Error::Closed`].
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(catch_unwind(AssertUnwindSafe(f)));
        });
        self.jobs.send(job).map_err(|_| Error::Closed)?;
        match answer.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(Error::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_one_lowered_thread() {
        let bg = Background::start(Priority::Low).unwrap();
        let caller = std::thread::current().id();
        let mut seen = Vec::new();
        for i in 0..3 {
            let (thread, (nice, _), name) = bg
                .run(|| {
                    let t = std::thread::current();
                    (
                        t.id(),
                        clio_storage::priority::current_thread().unwrap(),
                        t.name().map(str::to_owned),
                    )
                })
                .await
                .unwrap();
            assert_ne!(thread, caller);
            assert!(
                nice >= clio_storage::priority::LOW_NICE,
                "job {i} ran at nice {nice}"
            );
            assert_eq!(name.as_deref(), Some("clio-flush"));
            seen.push(thread);
        }
        seen.dedup();
        assert_eq!(seen.len(), 1, "one thread");
    }

    #[tokio::test]
    async fn a_panic_reaches_the_caller_and_the_thread_serves_on() {
        let bg = Background::start(Priority::Normal).unwrap();
        let bg = std::sync::Arc::new(bg);
        let b = std::sync::Arc::clone(&bg);
        let r = tokio::spawn(async move { b.run(|| panic!("in a flush pass")).await }).await;
        let panic = r.unwrap_err().into_panic();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"in a flush pass"));
        assert_eq!(bg.run(|| 7).await.unwrap(), 7);
    }
}
