//! Retention policy `disk-budget`: keeps the store's raw data under `max_bytes` by deleting
//! the oldest raw points, on top of the per-series keep rule.
//!
//! Configuration: `{"max_bytes": N, "min_keep_hours": H}`. `max_bytes` is required and > 0;
//! `min_keep_hours` (default 24) protects recent data: the budget never cuts data newer than
//! `now − H` hours.
//!
//! Each series gets the keep rule's decision (as the `keep` policy). When `store.bytes`
//! exceeds `max_bytes`, a store-wide cut time `T` is added: walking `store.bytes_by_day`
//! oldest day first, the bytes are summed until the sum reaches `store.bytes − max_bytes`; `T`
//! is the end of that day (day start + 24 h), and never later than `now − min_keep_hours`. The
//! series' raw cut is the later of the keep cut and `T` (none when its data starts at or after
//! it). Trends follow the keep rule only.
//!
//! The per-day figures are estimates (the host spreads each series' bytes evenly over its
//! span), so one run may delete a little too little, or more than the excess: the next runs
//! see the new, smaller store and cut again until it fits. It converges over successive runs.
//! If the days listed add up to less than the excess, every listed day goes (still within
//! `min_keep_hours`); with no per-day figures at all there is no budget cut.
#![deny(missing_docs)]

use clio_sdk::policy::{
    Config, DAY_MS, Decision, HOUR_MS, RetentionPolicy, SeriesUsage, StoreUsage, keep_decision,
    keep_raw_cut, needs_cut,
};
use clio_sdk::{Result, bad_argument};

/// The budget policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskBudget {
    /// Raw bytes the store may hold.
    pub max_bytes: u64,
    /// Data newer than `now − min_keep_hours` is never cut for the budget.
    pub min_keep_hours: u64,
}

/// `min_keep_hours` when absent.
pub const DEFAULT_MIN_KEEP_HOURS: u64 = 24;

impl DiskBudget {
    /// The store-wide budget cut at `now`, if the store is over budget.
    pub fn budget_cut(&self, store: &StoreUsage, now: i64) -> Option<i64> {
        let excess = store.bytes.checked_sub(self.max_bytes).filter(|&e| e > 0)?;
        let mut days = std::borrow::Cow::Borrowed(&store.bytes_by_day);
        // The contract says oldest first; sorting a list that is not costs little and keeps
        // the walk correct either way.
        if !days.is_sorted_by_key(|(d, _)| *d) {
            days.to_mut().sort_by_key(|(d, _)| *d);
        }
        let mut sum: u64 = 0;
        let mut end = None;
        for &(day, bytes) in days.iter() {
            sum = sum.saturating_add(bytes);
            end = Some(day.saturating_add(DAY_MS));
            if sum >= excess {
                break;
            }
        }
        let newest_allowed = now.saturating_sub(self.min_keep_ms());
        end.map(|t| t.min(newest_allowed))
    }

    fn min_keep_ms(&self) -> i64 {
        i64::try_from(self.min_keep_hours)
            .unwrap_or(i64::MAX)
            .saturating_mul(HOUR_MS)
    }
}

impl RetentionPolicy for DiskBudget {
    fn name() -> &'static str {
        "disk-budget"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(config_json: &str) -> Result<Self> {
        let mut c = Config::parse(config_json)?;
        let max_bytes = c.u64("max_bytes")?.ok_or_else(|| c.missing("max_bytes"))?;
        if max_bytes == 0 {
            return Err(bad_argument("max_bytes", "must be greater than 0"));
        }
        let min_keep_hours = c.u64("min_keep_hours")?.unwrap_or(DEFAULT_MIN_KEEP_HOURS);
        c.finish()?;
        Ok(DiskBudget {
            max_bytes,
            min_keep_hours,
        })
    }

    fn decide(&self, series: &SeriesUsage, store: &StoreUsage, now: i64) -> Result<Decision> {
        let mut d = keep_decision(series, store, now);
        if let Some(t) = self.budget_cut(store, now) {
            d.raw_before = needs_cut(series, keep_raw_cut(series, now).max(t));
        }
        Ok(d)
    }
}

clio_sdk::export_policy!(DiskBudget);

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::policy::PolicyInstance;
    use clio_sdk::testing::{decide, series_usage, store_usage};

    /// 2023-11-14T00:00:00Z, a day start; "now" is noon of that day.
    const D0: i64 = 19_675 * DAY_MS;
    const NOW: i64 = D0 + 12 * HOUR_MS;
    const H: i64 = HOUR_MS;

    /// A store of `bytes` raw bytes over the given days (day index relative to D0, bytes).
    fn store(bytes: u64, days: &[(i64, u64)]) -> StoreUsage {
        StoreUsage {
            bytes,
            bytes_by_day: days.iter().map(|&(i, b)| (D0 + i * DAY_MS, b)).collect(),
            ..store_usage(&[H, DAY_MS])
        }
    }

    fn run(config: &str, series: &SeriesUsage, store: &StoreUsage) -> Decision {
        decide::<DiskBudget>(config, series, store, NOW).unwrap()
    }

    const CFG: &str = r#"{"max_bytes": 1000}"#;

    /// Ten days of 100 bytes each, D0−9 … D0.
    fn ten_days() -> Vec<(i64, u64)> {
        (-9..=0).map(|i| (i, 100)).collect()
    }

    #[test]
    fn under_budget_is_the_keep_rule() {
        let s = series_usage(None, 30, 365, Some(D0 - 40 * DAY_MS));
        let d = run(CFG, &s, &store(1000, &ten_days()));
        assert_eq!(
            d,
            Decision {
                raw_before: Some(NOW - 30 * DAY_MS),
                trends_before: vec![(H, NOW - 365 * DAY_MS), (DAY_MS, NOW - 365 * DAY_MS)],
            }
        );
        // Within the keep window already: nothing.
        let s = series_usage(None, 30, 365, Some(NOW - DAY_MS));
        assert_eq!(run(CFG, &s, &store(999, &ten_days())).raw_before, None);
    }

    #[test]
    fn over_budget_cuts_at_the_end_of_the_day_that_covers_the_excess() {
        let s = series_usage(None, 90, 365, Some(D0 - 9 * DAY_MS));
        // 1250 − 1000 = 250 bytes too many: days −9, −8 give 200, day −7 reaches 300.
        let d = run(CFG, &s, &store(1250, &ten_days()));
        assert_eq!(d.raw_before, Some(D0 - 6 * DAY_MS));
        // Trends keep following the keep rule.
        assert_eq!(
            d.trends_before,
            vec![(H, NOW - 365 * DAY_MS), (DAY_MS, NOW - 365 * DAY_MS)]
        );
        // An excess that one day covers exactly: that day's end.
        let d = run(CFG, &s, &store(1100, &ten_days()));
        assert_eq!(d.raw_before, Some(D0 - 8 * DAY_MS));
        // One byte over: the oldest day goes.
        let d = run(CFG, &s, &store(1001, &ten_days()));
        assert_eq!(d.raw_before, Some(D0 - 8 * DAY_MS));
        // Uneven days with gaps (days without data are left out of the list).
        let days = [(-30, 10), (-12, 500), (-3, 700), (0, 50)];
        let d = run(CFG, &s, &store(1600, &days));
        // excess 600: 10, 510, 1210 → day −3 ends at D0 − 2 days.
        assert_eq!(d.raw_before, Some(D0 - 2 * DAY_MS));
        // A list out of order gives the same answer.
        let shuffled = [(0, 50), (-3, 700), (-30, 10), (-12, 500)];
        assert_eq!(
            run(CFG, &s, &store(1600, &shuffled)).raw_before,
            Some(D0 - 2 * DAY_MS)
        );
    }

    #[test]
    fn the_later_of_keep_and_budget_wins() {
        // keep 3 days cuts at NOW − 3 d = D0 − 2.5 d, later than the budget's D0 − 6 d.
        let s = series_usage(None, 3, 365, Some(D0 - 9 * DAY_MS));
        let d = run(CFG, &s, &store(1250, &ten_days()));
        assert_eq!(d.raw_before, Some(NOW - 3 * DAY_MS));
        // keep 0 keeps nothing at all, budget or not.
        let s = series_usage(None, 0, 365, Some(D0 - 9 * DAY_MS));
        assert_eq!(
            run(CFG, &s, &store(1250, &ten_days())).raw_before,
            Some(i64::MAX)
        );
        assert_eq!(
            run(CFG, &s, &store(10, &ten_days())).raw_before,
            Some(i64::MAX)
        );
    }

    #[test]
    fn series_starting_after_the_cut_are_left_alone() {
        let cut = D0 - 6 * DAY_MS;
        let st = store(1250, &ten_days());
        let at = |first| run(CFG, &series_usage(None, 90, 365, first), &st).raw_before;
        assert_eq!(at(Some(cut)), None);
        assert_eq!(at(Some(cut + 1)), None);
        assert_eq!(at(Some(cut - 1)), Some(cut));
        // Unknown start: cut.
        assert_eq!(at(None), Some(cut));
    }

    #[test]
    fn min_keep_hours_clamps_the_budget_cut() {
        let s = series_usage(None, 90, 365, None);
        // Everything is excess: the walk reaches day 0, whose end (D0 + 1 d) is after now;
        // the default 24 h clamp gives NOW − 24 h.
        let d = run(CFG, &s, &store(100_000, &ten_days()));
        assert_eq!(d.raw_before, Some(NOW - 24 * H));
        // A 48 h clamp.
        let cfg = r#"{"max_bytes": 1000, "min_keep_hours": 48}"#;
        assert_eq!(
            run(cfg, &s, &store(100_000, &ten_days())).raw_before,
            Some(NOW - 48 * H)
        );
        // 0 h: cut up to now at most (the end of day 0 lies after now).
        let cfg = r#"{"max_bytes": 1000, "min_keep_hours": 0}"#;
        assert_eq!(
            run(cfg, &s, &store(100_000, &ten_days())).raw_before,
            Some(NOW)
        );
        // Not clamped when the day's end is older than now − H.
        let cfg = r#"{"max_bytes": 1000, "min_keep_hours": 1}"#;
        assert_eq!(
            run(cfg, &s, &store(1250, &ten_days())).raw_before,
            Some(D0 - 6 * DAY_MS)
        );
        // A huge clamp saturates instead of overflowing.
        let cfg = r#"{"max_bytes": 1000, "min_keep_hours": 18446744073709551615}"#;
        let d = run(cfg, &s, &store(100_000, &ten_days()));
        // The budget cut lies ~292 million years back; the keep cut (90 days) wins.
        assert_eq!(d.raw_before, Some(NOW - 90 * DAY_MS));
    }

    #[test]
    fn estimates_short_of_the_excess_and_no_estimates() {
        let s = series_usage(None, 90, 365, None);
        // The days add up to 300 but 500 are too many: every listed day goes.
        let days = [(-9, 100), (-8, 100), (-7, 100)];
        assert_eq!(
            run(CFG, &s, &store(1500, &days)).raw_before,
            Some(D0 - 6 * DAY_MS)
        );
        // No per-day figures: the keep rule only.
        assert_eq!(
            run(CFG, &s, &store(1500, &[])).raw_before,
            Some(NOW - 90 * DAY_MS)
        );
    }

    #[test]
    fn policy_state_is_store_wide() {
        let p = DiskBudget {
            max_bytes: 1000,
            min_keep_hours: 24,
        };
        assert_eq!(p.budget_cut(&store(1000, &ten_days()), NOW), None);
        assert_eq!(p.budget_cut(&store(0, &ten_days()), NOW), None);
        assert_eq!(
            p.budget_cut(&store(1250, &ten_days()), NOW),
            Some(D0 - 6 * DAY_MS)
        );
    }

    fn err(config: &str) -> String {
        DiskBudget::configure(config).unwrap_err().to_string()
    }

    #[test]
    fn configuration() {
        assert_eq!(
            DiskBudget::configure(r#"{"max_bytes": 5}"#),
            Ok(DiskBudget {
                max_bytes: 5,
                min_keep_hours: 24
            })
        );
        assert_eq!(
            DiskBudget::configure(r#"{"max_bytes": 5, "min_keep_hours": 0}"#),
            Ok(DiskBudget {
                max_bytes: 5,
                min_keep_hours: 0
            })
        );
        assert_eq!(err("{}"), "bad argument `max_bytes`: missing");
        assert_eq!(
            err(r#"{"max_bytes": 0}"#),
            "bad argument `max_bytes`: must be greater than 0"
        );
        assert_eq!(
            err(r#"{"max_bytes": -1}"#),
            "bad argument `max_bytes`: expected a whole number ≥ 0, got -1"
        );
        assert_eq!(
            err(r#"{"max_bytes": "1GB"}"#),
            "bad argument `max_bytes`: expected a whole number ≥ 0, got \"1GB\""
        );
        assert_eq!(
            err(r#"{"max_bytes": 5, "min_keep_hours": 1.5}"#),
            "bad argument `min_keep_hours`: expected a whole number ≥ 0, got 1.5"
        );
        assert_eq!(
            err(r#"{"max_bytes": 5, "max_byte": 5}"#),
            "bad argument `max_byte`: unknown key"
        );
        // Decide without configure means `{}`: max_bytes is missing, so it fails.
        let mut p = PolicyInstance::<DiskBudget>::new();
        let e = p
            .decide(&series_usage(None, 1, 1, None), &store_usage(&[]), NOW)
            .unwrap_err();
        assert_eq!(e.to_string(), "bad argument `max_bytes`: missing");
        assert_eq!(DiskBudget::name(), "disk-budget");
    }
}
