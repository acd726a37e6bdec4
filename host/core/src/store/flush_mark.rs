//! `<data_dir>/flushed`: the last log segment a flush committed to the primary, so that a
//! restart need not replay into memory the points of a log kept long for a lagging replica.
//! Only a shortcut: the flush marks in the log say the same, and a missing or stale file
//! costs a longer replay, never data.

use std::path::Path;

const FILE: &str = "flushed";

/// The segment recorded, or 0.
pub(crate) fn load(data_dir: &Path) -> u64 {
    std::fs::read_to_string(data_dir.join(FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Records `seg` (atomically: a temporary file renamed over the old one).
pub(crate) fn save(data_dir: &Path, seg: u64) {
    let tmp = data_dir.join("flushed.tmp");
    let done = std::fs::write(&tmp, format!("{seg}\n"))
        .and_then(|()| std::fs::rename(&tmp, data_dir.join(FILE)));
    if let Err(e) = done {
        tracing::debug!(error = %e, "cannot record the flush mark; the next start replays more");
    }
}
