//! Refilling a replica from the primary: when it is new, when its cursor is lost, or when it
//! fell further behind than the log kept for it. The cursor is set first (durably, marked
//! "resync") to the first log segment the primary does not hold yet, so that whatever the
//! primary receives during the copy is applied again from the log afterwards.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use clio_storage::prelude::*;
use clio_storage::{NewSeries, SeriesFilter, SeriesPoints, SeriesUpdate, Timestamp};
use tracing::info;

use super::{Cursor, Follower, ReplicaState, cursor};
use crate::error::Result;
use crate::store::EngineState;
use crate::wal::list_segments;

/// Points per page read from the primary.
const PAGE: usize = 65_536;

/// Copies tried with the primary flushing beside them before the last one holds its flushes
/// off. A flush during the copy means the log after the cursor holds points the copy has
/// too; writing them again is harmless for raw points, but a rewritten value makes its trend
/// bucket be rebuilt from raw points, which differs from the primary's bucket where retention
/// removed some of them. The last attempt holds the flush lock for the whole copy: writes are
/// still accepted (into the cache and the log), only the flush waits.
const ATTEMPTS: usize = 3;

pub(super) async fn run(
    f: &Follower,
    inner: &EngineState,
    replica: &dyn StorageBackend,
) -> Result<Cursor> {
    let mut attempt = 1;
    loop {
        let last = attempt == ATTEMPTS;
        let start = copy(f, inner, replica, last).await?;
        let flushed_after = inner.flushed_upto.load(Ordering::Acquire);
        if flushed_after == start.flush || last {
            if last {
                info!(replica = %f.slot.name, "the primary flushed during every refill; the last one held its flushes off");
            }
            let done = Cursor {
                resync: false,
                ..start
            };
            cursor::save(&f.cursor_path, &done)?;
            let mut st = f.state.lock();
            st.cursor = Some(done);
            st.applied_upto = st.applied_upto.max(done.flush);
            return Ok(done);
        }
        info!(replica = %f.slot.name, attempt, "the primary flushed during the refill; copying again");
        attempt += 1;
    }
}

/// One copy of the primary; returns the cursor to follow from (its `flush` is the primary's
/// flush mark when the copy began). With `hold_flushes`, no flush runs until it is done.
async fn copy(
    f: &Follower,
    inner: &EngineState,
    replica: &dyn StorageBackend,
    hold_flushes: bool,
) -> Result<Cursor> {
    f.state.lock().mode = ReplicaState::Resyncing;
    let primary = inner.primary.ensure().await?;
    // No flush may truncate between choosing the position and saving it.
    let flush_guard = inner.flush_lock.lock().await;
    let start = {
        let flushed = inner.flushed_upto.load(Ordering::Acquire);
        let first = list_segments(&inner.opts.data_dir.join("wal"))?
            .into_iter()
            .map(|(n, _)| n)
            .find(|&n| n > flushed)
            .unwrap_or(flushed + 1);
        let c = Cursor {
            segment: first,
            offset: 0,
            resync: true,
            flush: flushed,
        };
        cursor::save(&f.cursor_path, &c)?;
        f.state.lock().cursor = Some(c);
        f.resync_requested.store(false, Ordering::SeqCst);
        c
    };
    let _held = if hold_flushes {
        Some(flush_guard)
    } else {
        drop(flush_guard);
        None
    };
    let started = std::time::Instant::now();
    let wanted = primary.list_series(&SeriesFilter::default()).await?;
    let keep: HashSet<_> = wanted.iter().map(|s| s.id).collect();
    for s in replica.list_series(&SeriesFilter::default()).await? {
        if !keep.contains(&s.id) {
            replica.delete_series(s.id).await?;
        }
    }
    // Two passes: every series' settings and old contents first, then the primary's points
    // and trends. A backend that can only delete whole groups of series (InfluxDB deletes a
    // tag set, then writes the other fields back) then never deletes what this copy already
    // wrote for a sibling series.
    for s in &wanted {
        replica.create_series(&[NewSeries::from(s)]).await?;
        // Same settings, metadata entries the primary lacks removed.
        let mut metadata: BTreeMap<String, String> = s.settings.metadata.clone();
        if let Some(have) = replica.get_series(s.id).await? {
            for k in have.settings.metadata.keys() {
                metadata.entry(k.clone()).or_default();
            }
        }
        replica
            .update_series(
                s.id,
                &SeriesUpdate {
                    keep_history_days: Some(s.settings.keep_history_days),
                    keep_trends_days: Some(s.settings.keep_trends_days),
                    metadata: Some(metadata),
                },
            )
            .await?;
        replica
            .delete_points(s.id, Timestamp::MIN, Timestamp::MAX)
            .await?;
        replica
            .delete_trends(s.id, None, Timestamp::MIN, Timestamp::MAX)
            .await?;
    }
    let mut points = 0u64;
    for s in &wanted {
        let mut to = Timestamp::MAX;
        loop {
            let page = primary.read_range(s.id, Timestamp::MIN, to, PAGE).await?;
            let Some(first) = page.first() else { break };
            to = first.ts;
            let n = page.len();
            points += n as u64;
            clio_storage::write_points(
                replica,
                &[SeriesPoints {
                    series: s.id,
                    points: page,
                }],
            )
            .await?;
            if n < PAGE {
                break;
            }
        }
        // Trends as the primary has them (retention may have removed their raw points).
        replica
            .delete_trends(s.id, None, Timestamp::MIN, Timestamp::MAX)
            .await?;
        for &interval in primary.trend_intervals() {
            let buckets = primary
                .read_trends(s.id, interval, Timestamp::MIN, Timestamp::MAX)
                .await?;
            if !buckets.is_empty() {
                replica.put_trends(s.id, interval, &buckets).await?;
            }
        }
    }
    info!(
        replica = %f.slot.name,
        series = wanted.len(),
        points,
        millis = started.elapsed().as_millis() as u64,
        "replica refilled from the primary; following the log from here"
    );
    Ok(start)
}
