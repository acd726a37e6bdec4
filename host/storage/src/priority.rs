//! CPU priority of the threads that do background work: a flush's writes to storage and its
//! passes over the cache. On a machine whose cores are all busy, requests come first and the
//! background work gets what is left, as RocksDB lowers its compaction threads.
//!
//! At the server's priority a flush took both cores of a two-core machine for up to 100 ms
//! at a time (its SQLite writer on one, a pass over a million cached series on the other),
//! and every read waited behind it (issue #25's last-N p99 while a flush runs). A lower
//! priority is a smaller share, not a stop: the background threads get every core nothing
//! else wants, and writers wait for the flush (backpressure) before unflushed points pile up,
//! which frees the cores for it.
//!
//! Linux only, as Clio is (thread ids, per-thread nice values and `SCHED_IDLE`).

use serde::{Deserialize, Serialize};

/// How a background thread shares the CPU with the threads serving requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// The server's own.
    Normal,
    /// Nice 10: about a tenth of a core that a request thread also wants, and all of an
    /// idle one. A request waking up may still wait for the background thread's time slice
    /// to end (a few milliseconds).
    #[default]
    Low,
    /// Linux's `SCHED_IDLE`: only CPU time no other thread wants, and a request waking up
    /// takes the core at once. The background work can starve: on a machine whose cores
    /// other programs keep busy, a flush falls behind until writers wait for it. For a
    /// machine that runs Clio alone, where read latency matters most (BENCHMARKS.md,
    /// session 22).
    Idle,
}

/// The nice value of [`Priority::Low`].
pub const LOW_NICE: i32 = 10;

/// Runs the calling thread at `priority`. Only ever lowers it: a server started under
/// `nice 15` keeps 15 at `Low`, and lowering a thread's own priority needs no privilege. On
/// an error (a system refusing) the thread stays as it was.
pub fn set_current_thread(priority: Priority) -> std::io::Result<()> {
    // On Linux the nice value and the scheduling policy belong to the thread: with a thread
    // id these calls change that thread alone (setpriority(2), "BUGS"; sched_setscheduler(2)).
    let tid = rustix::thread::gettid();
    match priority {
        Priority::Normal => Ok(()),
        Priority::Low => {
            if rustix::process::getpriority_process(Some(tid))? < LOW_NICE {
                rustix::process::setpriority_process(Some(tid), LOW_NICE)?;
            }
            Ok(())
        }
        Priority::Idle => set_idle(tid.as_raw_nonzero().get()),
    }
}

fn set_idle(tid: i32) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid `sched_param` that outlives the call, which only reads it;
    // `tid` is the calling thread's own id, so no other thread's policy changes.
    let rc = unsafe { libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's nice value and whether it runs as `SCHED_IDLE` (tests, diagnostics).
pub fn current_thread() -> std::io::Result<(i32, bool)> {
    let tid = rustix::thread::gettid();
    let nice = rustix::process::getpriority_process(Some(tid))?;
    // SAFETY: a plain query of the calling thread's own policy.
    let idle = unsafe { libc::sched_getscheduler(tid.as_raw_nonzero().get()) } == libc::SCHED_IDLE;
    Ok((nice, idle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_thread(f: impl FnOnce() + Send + 'static) -> (i32, bool) {
        std::thread::spawn(move || {
            f();
            current_thread().unwrap()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_thread_lowers_its_own_priority_only() {
        let (before, was_idle) = current_thread().unwrap();
        assert!(!was_idle);
        let low = in_thread(|| set_current_thread(Priority::Low).unwrap());
        assert_eq!(low, (before.max(LOW_NICE), false));
        let idle = in_thread(|| set_current_thread(Priority::Idle).unwrap());
        assert!(idle.1, "SCHED_IDLE");
        let normal = in_thread(|| set_current_thread(Priority::Normal).unwrap());
        assert_eq!(normal, (before, false));
        assert_eq!(
            current_thread().unwrap(),
            (before, false),
            "the caller's own is unchanged"
        );
    }

    #[test]
    fn low_never_raises_a_lower_priority() {
        let (before, _) = current_thread().unwrap();
        let kept = in_thread(|| {
            let tid = rustix::thread::gettid();
            rustix::process::setpriority_process(Some(tid), 15).unwrap();
            set_current_thread(Priority::Low).unwrap();
        });
        assert_eq!(kept, (before.max(15), false));
    }

    #[test]
    fn config_names() {
        #[derive(Deserialize)]
        struct C {
            p: Priority,
        }
        let p = |s: &str| serde_json::from_str::<C>(&format!("{{\"p\":\"{s}\"}}")).map(|c| c.p);
        assert_eq!(p("idle").unwrap(), Priority::Idle);
        assert_eq!(p("low").unwrap(), Priority::Low);
        assert_eq!(p("normal").unwrap(), Priority::Normal);
        assert!(p("high").is_err());
    }
}
