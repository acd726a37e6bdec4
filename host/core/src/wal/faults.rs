//! Faults injected into the write-ahead log's file operations, for tests of what the engine
//! does when its disk fails in ways a real small filesystem cannot be made to (EIO, a short
//! write, a failing fsync). Production code carries `None` and pays one branch per group.

use std::io;

use parking_lot::Mutex;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalFault {
    /// Writes and segment creation fail with ENOSPC, as on a full disk.
    NoSpace,
    /// Writes and segment creation fail with EIO, as on a failing disk.
    Eio,
    /// A write stores half of its bytes, then the rest fails with ENOSPC (a torn record).
    ShortWrite,
    /// fsync fails with EIO; writes succeed.
    SyncFails,
}

/// The faults the log's file operations see, set and cleared by a test while the engine runs.
#[derive(Debug, Default)]
pub struct WalFaults {
    active: Mutex<Option<WalFault>>,
    injected: std::sync::atomic::AtomicU64,
}

impl WalFaults {
    /// Makes every following operation of the fault's kind fail (until [`WalFaults::clear`]).
    pub fn set(&self, fault: WalFault) {
        *self.active.lock() = Some(fault);
    }

    /// Lets operations succeed again.
    pub fn clear(&self) {
        *self.active.lock() = None;
    }

    /// How many operations failed by injection.
    pub fn injected(&self) -> u64 {
        self.injected.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn hit(&self) {
        self.injected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Before a write of `len` bytes: `Err` to fail it whole, `Ok(Some(n))` to store only `n`
    /// bytes and then fail, `Ok(None)` to write normally.
    pub(crate) fn on_write(&self, len: usize) -> io::Result<Option<usize>> {
        match *self.active.lock() {
            Some(WalFault::NoSpace) => {
                self.hit();
                Err(io::Error::from_raw_os_error(28))
            }
            Some(WalFault::Eio) => {
                self.hit();
                Err(io::Error::from_raw_os_error(5))
            }
            Some(WalFault::ShortWrite) => {
                self.hit();
                Ok(Some(len / 2))
            }
            Some(WalFault::SyncFails) | None => Ok(None),
        }
    }

    /// Before a segment is created.
    pub(crate) fn on_create(&self) -> io::Result<()> {
        match *self.active.lock() {
            Some(WalFault::NoSpace | WalFault::ShortWrite) => {
                self.hit();
                Err(io::Error::from_raw_os_error(28))
            }
            Some(WalFault::Eio) => {
                self.hit();
                Err(io::Error::from_raw_os_error(5))
            }
            Some(WalFault::SyncFails) | None => Ok(()),
        }
    }

    /// Before an fsync.
    pub(crate) fn on_sync(&self) -> io::Result<()> {
        if *self.active.lock() == Some(WalFault::SyncFails) {
            self.hit();
            return Err(io::Error::from_raw_os_error(5));
        }
        Ok(())
    }
}
