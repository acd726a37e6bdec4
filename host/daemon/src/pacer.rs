//! The load generator's clock: one tick every `period`, to the microsecond.
//!
//! tokio's timers fire on a 1 ms wheel, so a generator pacing 5,000 requests a second with
//! them sends bursts of five each millisecond, and the server sees five requests at once
//! where the schedule asked for one every 200 µs. A periodic `timerfd` registered with the
//! runtime's reactor fires on the kernel's high-resolution timer instead, on the thread
//! that also sends the requests and reads the answers.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A periodic timer whose first tick comes one period after [`Pacer::start`].
pub struct Pacer {
    fd: AsyncFd<OwnedFd>,
}

impl Pacer {
    /// Starts ticking now (inside a tokio runtime with IO enabled).
    pub fn start(period: Duration) -> io::Result<Pacer> {
        if period.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the pacing period must be positive",
            ));
        }
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        let every = Timespec {
            tv_sec: i64::try_from(period.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(period.subsec_nanos()),
        };
        timerfd_settime(
            &fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: every,
                it_value: every,
            },
        )?;
        // SAFETY: the `OwnedFd` is moved into the `AsyncFd`, which owns it until it is
        // dropped: the descriptor stays open and its `as_raw_fd` never changes meanwhile.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Pacer { fd })
    }

    /// Waits for the next tick; returns how many periods ended since the last call (more
    /// than one when the caller was late).
    pub async fn tick(&mut self) -> io::Result<u64> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut count = [0u8; 8];
            let read = ready
                .try_io(|fd| rustix::io::read(fd.get_ref(), &mut count).map_err(io::Error::from));
            match read {
                Ok(Ok(8)) => return Ok(u64::from_ne_bytes(count)),
                Ok(Ok(n)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("timerfd read returned {n} bytes instead of 8"),
                    ));
                }
                Ok(Err(e)) => return Err(e),
                // Spurious readiness: the reactor cleared it; wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test(flavor = "current_thread")]
    async fn ticks_count_the_periods_that_ended() {
        let period = Duration::from_micros(500);
        let started = Instant::now();
        let mut pacer = Pacer::start(period).unwrap();
        let mut ticks = 0;
        while ticks < 20 {
            ticks += pacer.tick().await.unwrap();
        }
        // 20 periods cannot end before 10 ms have passed.
        assert!(started.elapsed() >= period * 20, "{:?}", started.elapsed());
        // A late reader is told how many periods it missed.
        std::thread::sleep(Duration::from_millis(5));
        let missed = pacer.tick().await.unwrap();
        assert!(missed >= 9, "{missed} periods after sleeping 10 of them");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_zero_period_is_refused() {
        let err = Pacer::start(Duration::ZERO).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
