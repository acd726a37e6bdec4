//! Series the writer has just created and not written to since. A flush of new series
//! writes each one's first points right after creating it, and for such a series a write
//! asks storage once whether it holds anything of it ([`stores_any`]: one statement, two
//! index seeks) instead of looking for the chunk to append to and for the newest trend
//! chunk of each interval (five statements). That is about a fifth of the writer's time per
//! new series (BENCHMARKS.md, session 25).
//!
//! The set is a hint, never trusted alone: every use is checked by [`stores_any`], so an
//! entry that outlived a rolled-back transaction, or an id whose rows came from elsewhere,
//! costs one probe and changes nothing.

use std::collections::BTreeMap;

use clio_storage::{Result, SeriesId};
use rusqlite::Connection;

use crate::error::sql;
use crate::query::id_sql;

/// Most runs of consecutive ids kept: ids are handed out in order, so a flush of a million
/// new series is one run; past this many (ids created out of order and never written) new
/// ones are not noted, which only costs the lookups the set saves.
const MAX_RUNS: usize = 65_536;

/// Ids as runs of consecutive ones: first id → last id (inclusive).
#[derive(Debug, Default)]
pub(crate) struct Fresh {
    runs: BTreeMap<u64, u64>,
}

impl Fresh {
    /// Notes a series just created.
    pub(crate) fn insert(&mut self, id: SeriesId) {
        let id = id.0;
        let before = self.runs.range(..=id).next_back().map(|(&s, &l)| (s, l));
        if let Some((_, last)) = before
            && last >= id
        {
            return;
        }
        let after = id
            .checked_add(1)
            .and_then(|next| self.runs.get(&next).map(|&l| (next, l)));
        match (before, after) {
            (Some((start, last)), Some((next, next_last))) if last.checked_add(1) == Some(id) => {
                self.runs.remove(&next);
                self.runs.insert(start, next_last);
            }
            (Some((start, last)), None) if last.checked_add(1) == Some(id) => {
                self.runs.insert(start, id);
            }
            (_, Some((next, next_last))) => {
                self.runs.remove(&next);
                self.runs.insert(id, next_last);
            }
            _ if self.runs.len() < MAX_RUNS => {
                self.runs.insert(id, id);
            }
            _ => {}
        }
    }

    /// Whether `id` was noted; forgets it either way.
    pub(crate) fn take(&mut self, id: SeriesId) -> bool {
        let id = id.0;
        let Some((start, last)) = self.runs.range(..=id).next_back().map(|(&s, &l)| (s, l)) else {
            return false;
        };
        if last < id {
            return false;
        }
        self.runs.remove(&start);
        // Taking from the middle splits the run; at the bound the rest is forgotten instead
        // (forgetting is always safe), so takes in any order cannot grow the set either.
        if start < id && self.runs.len() < MAX_RUNS {
            self.runs.insert(start, id - 1);
        }
        if id < last && self.runs.len() < MAX_RUNS {
            self.runs.insert(id + 1, last);
        }
        true
    }
}

/// Whether storage holds any point chunk or trend chunk of `series`.
pub(crate) fn stores_any(conn: &Connection, series: SeriesId) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM chunks WHERE series_id = ?1)
             OR EXISTS (SELECT 1 FROM trend_chunks WHERE series_id = ?1)",
    )
    .map_err(sql)?
    .query_row([id_sql(series)], |r| r.get(0))
    .map_err(sql)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    fn ids(f: &mut Fresh) -> Vec<(u64, u64)> {
        f.runs.iter().map(|(&s, &l)| (s, l)).collect()
    }

    #[test]
    fn consecutive_ids_make_one_run_and_leave_it_one_by_one() {
        let mut f = Fresh::default();
        for i in 10..20 {
            f.insert(SeriesId(i));
        }
        f.insert(SeriesId(15));
        assert_eq!(ids(&mut f), [(10, 19)]);
        assert!(f.take(SeriesId(10)));
        assert!(!f.take(SeriesId(10)), "taken once");
        assert!(f.take(SeriesId(14)));
        assert!(f.take(SeriesId(19)));
        assert_eq!(ids(&mut f), [(11, 13), (15, 18)]);
        assert!(!f.take(SeriesId(9)));
        assert!(!f.take(SeriesId(20)));
        // Filling the hole joins the runs again; ids before and after extend them.
        f.insert(SeriesId(14));
        f.insert(SeriesId(10));
        f.insert(SeriesId(19));
        assert_eq!(ids(&mut f), [(10, 19)]);
        f.insert(SeriesId(30));
        f.insert(SeriesId(29));
        assert_eq!(ids(&mut f), [(10, 19), (29, 30)]);
    }

    #[test]
    fn the_largest_ids_do_not_overflow() {
        let mut f = Fresh::default();
        f.insert(SeriesId(u64::MAX));
        f.insert(SeriesId(u64::MAX - 1));
        f.insert(SeriesId(0));
        assert_eq!(ids(&mut f), [(0, 0), (u64::MAX - 1, u64::MAX)]);
        assert!(f.take(SeriesId(u64::MAX)));
        assert!(f.take(SeriesId(0)));
        assert_eq!(ids(&mut f), [(u64::MAX - 1, u64::MAX - 1)]);
    }

    #[test]
    fn scattered_ids_stop_being_noted_at_the_bound() {
        let mut f = Fresh::default();
        for i in 0..(MAX_RUNS as u64 + 10) {
            f.insert(SeriesId(i * 2));
        }
        assert_eq!(f.runs.len(), MAX_RUNS);
        assert!(f.take(SeriesId(0)));
        assert!(!f.take(SeriesId(MAX_RUNS as u64 * 2)));
        // Splitting runs at the bound does not grow the set past it.
        f.insert(SeriesId(1));
        f.insert(SeriesId(3));
        assert_eq!(f.runs.len(), MAX_RUNS - 2, "1..=4 joined into one run");
        assert!(f.take(SeriesId(2)));
        assert!(f.take(SeriesId(6)) && f.take(SeriesId(8)));
        let mut f = Fresh::default();
        f.insert(SeriesId(10));
        for i in 0..MAX_RUNS as u64 - 1 {
            f.insert(SeriesId(1_000 + i * 2));
        }
        f.insert(SeriesId(11));
        f.insert(SeriesId(12));
        assert_eq!(f.runs.len(), MAX_RUNS);
        assert!(f.take(SeriesId(11)));
        assert!(f.runs.len() <= MAX_RUNS, "{} runs", f.runs.len());
    }
}
