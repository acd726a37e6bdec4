//! Which backups to keep: the newest N, the newest of each of the last D days and of each of
//! the last W weeks (UTC, weeks from Monday), and every backup a kept incremental one needs.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::{BackupError, Manifest, Result, list};

/// How many backups [`prune_with`] keeps. A backup kept by any rule stays, and so does the
/// chain it builds on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// The newest `last` backups.
    pub last: usize,
    /// The newest backup of each of the newest `daily` days that have one.
    pub daily: usize,
    /// The newest backup of each of the newest `weekly` weeks that have one.
    pub weekly: usize,
}

const DAY_MS: i64 = 86_400_000;

/// Removes all but the newest `keep` backups under `dest` (and what they build on); returns
/// the ids removed.
pub fn prune(dest: &Path, keep: usize) -> Result<Vec<String>> {
    prune_with(
        dest,
        Retention {
            last: keep,
            ..Retention::default()
        },
    )
}

/// Removes the backups under `dest` that `keep` does not keep; returns the ids removed,
/// oldest first. Refuses a retention that keeps nothing.
pub fn prune_with(dest: &Path, keep: Retention) -> Result<Vec<String>> {
    if keep.last == 0 && keep.daily == 0 && keep.weekly == 0 {
        return Err(BackupError::Invalid(
            "a retention that keeps no backup: give --keep, --keep-daily or --keep-weekly".into(),
        ));
    }
    let all = list(dest)?;
    let kept = kept(&all, keep);
    let mut removed = Vec::new();
    for m in all.into_iter().filter(|m| !kept.contains(&m.id)) {
        let path = dest.join(&m.id);
        fs::remove_dir_all(&path).map_err(|e| BackupError::Io {
            what: format!("removing {}", path.display()),
            source: e,
        })?;
        removed.push(m.id);
    }
    Ok(removed)
}

/// The ids `keep` keeps of `all` (oldest first), bases of kept incrementals included.
fn kept(all: &[Manifest], keep: Retention) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let newest_first: Vec<&Manifest> = all.iter().rev().collect();
    out.extend(newest_first.iter().take(keep.last).map(|m| m.id.clone()));
    let mut by_period = |period_ms: i64, offset_ms: i64, n: usize| {
        let mut seen = BTreeSet::new();
        for m in &newest_first {
            if seen.len() >= n {
                break;
            }
            if seen.insert((m.created_ms + offset_ms).div_euclid(period_ms)) {
                out.insert(m.id.clone());
            }
        }
    };
    by_period(DAY_MS, 0, keep.daily);
    // 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday.
    by_period(7 * DAY_MS, 3 * DAY_MS, keep.weekly);
    // A kept incremental backup keeps its chain.
    let mut todo: Vec<String> = out.iter().cloned().collect();
    while let Some(id) = todo.pop() {
        let base = all.iter().find(|m| m.id == id).and_then(|m| m.base.clone());
        if let Some(b) = base
            && out.insert(b.clone())
        {
            todo.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, created_ms: i64, base: Option<&str>) -> Manifest {
        Manifest {
            format: crate::FORMAT,
            id: id.into(),
            kind: if base.is_some() {
                "incremental"
            } else {
                "full"
            }
            .into(),
            base: base.map(str::to_owned),
            image: None,
            clio_version: String::new(),
            created_ms,
            source: "offline".into(),
            position: (0, 0),
            flushed_upto: 0,
            flush_pause_ms: 0,
            compression: "zstd".into(),
            encryption: None,
            files: vec![],
            external_primary: None,
        }
    }

    #[test]
    fn daily_and_weekly_keep_the_newest_of_each_period_and_chains_stay_whole() {
        // 2025-12-01, 00:00 UTC, a Monday.
        let mon = 1_764_547_200_000;
        let all = vec![
            m("a", mon - 3 * DAY_MS, None),    // Friday of the week before
            m("b", mon - 2 * DAY_MS, None),    // Saturday
            m("c", mon + 1000, None),          // Monday, full
            m("d", mon + 2000, Some("c")),     // Monday, incremental on c
            m("e", mon + DAY_MS, Some("d")),   // Tuesday, incremental on d
            m("f", mon + DAY_MS + 5000, None), // Tuesday, newest
        ];
        let k = kept(
            &all,
            Retention {
                last: 1,
                daily: 0,
                weekly: 0,
            },
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), vec!["f"]);
        // Two days: Tuesday's newest (f) and Monday's newest (d, which needs c).
        let k = kept(
            &all,
            Retention {
                last: 0,
                daily: 2,
                weekly: 0,
            },
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), vec!["c", "d", "f"]);
        // Two weeks: this week's newest (f) and last week's (b).
        let k = kept(
            &all,
            Retention {
                last: 0,
                daily: 0,
                weekly: 2,
            },
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), vec!["b", "f"]);
        // e kept by "last 2" keeps d and c.
        let k = kept(
            &all,
            Retention {
                last: 2,
                daily: 0,
                weekly: 0,
            },
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), vec!["c", "d", "e", "f"]);
    }
}
