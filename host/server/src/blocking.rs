//! Long synchronous passes run from a request's task without holding a runtime worker.

/// Runs `f`, a pass that may take many milliseconds (a walk over a million series), so that
/// the other requests queued on this runtime worker do not wait for it: on a multi-thread
/// runtime through [`tokio::task::block_in_place`], which hands the worker's queue to another
/// thread for the duration; elsewhere (a current-thread runtime, no runtime) in place.
///
/// `block_in_place` rather than `spawn_blocking`: the passes borrow the request's context.
/// Calls may nest (a SHOW statement around [`Gate::visit_series`](crate::door::Gate)): the
/// inner one finds the worker handed off already and runs in place.
pub(crate) fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a multi-thread runtime with one worker, a task spawned by the task running the pass
    /// runs while the pass does; run in place, it would wait for the worker.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_worker_serves_other_tasks_during_the_pass() {
        // The test's own body runs outside the runtime's workers: the pass runs in a task.
        let ran = tokio::spawn(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let other = tokio::spawn(async move {
                let _ = tx.send(());
            });
            let ran = off_worker(|| rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok());
            other.await.unwrap();
            ran
        })
        .await
        .unwrap();
        assert!(ran, "the other task did not run during the pass");
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime_the_pass_runs_in_place() {
        let here = std::thread::current().id();
        assert_eq!(off_worker(|| std::thread::current().id()), here);
    }

    #[test]
    fn without_a_runtime_the_pass_runs_in_place() {
        assert_eq!(off_worker(|| 7), 7);
    }
}
