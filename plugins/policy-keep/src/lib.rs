//! Retention policy `keep`: every series keeps `keep_history_days` of raw points and
//! `keep_trends_days` of trends (ALEPIZ's per-counter settings, set with
//! `PUT /api/v1/series/{id}`). `keep_history_days = 0` keeps no raw points at all, as in
//! ALEPIZ. Decides exactly as the host's built-in `KeepPolicy`.
//!
//! Configuration: `{}` (there is nothing to configure; any key is an error).
#![deny(missing_docs)]

use clio_sdk::Result;
use clio_sdk::policy::{Config, Decision, RetentionPolicy, SeriesUsage, StoreUsage, keep_decision};

/// The per-series keep rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep;

impl RetentionPolicy for Keep {
    fn name() -> &'static str {
        "keep"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(config_json: &str) -> Result<Self> {
        Config::parse(config_json)?.finish()?;
        Ok(Keep)
    }

    fn decide(&self, series: &SeriesUsage, store: &StoreUsage, now: i64) -> Result<Decision> {
        Ok(keep_decision(series, store, now))
    }
}

clio_sdk::export_policy!(Keep);

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::policy::{DAY_MS, PolicyInstance};
    use clio_sdk::testing::{decide, series_usage, store_usage};

    const NOW: i64 = 1_700_000_000_000;
    const H: i64 = 3_600_000;

    fn run(series: &SeriesUsage, intervals: &[i64]) -> Decision {
        decide::<Keep>("{}", series, &store_usage(intervals), NOW).unwrap()
    }

    #[test]
    fn cuts_at_exact_days() {
        let d = run(&series_usage(None, 7, 365, Some(0)), &[600_000, H, DAY_MS]);
        assert_eq!(
            d,
            Decision {
                raw_before: Some(NOW - 7 * DAY_MS),
                trends_before: vec![
                    (600_000, NOW - 365 * DAY_MS),
                    (H, NOW - 365 * DAY_MS),
                    (DAY_MS, NOW - 365 * DAY_MS),
                ],
            }
        );
        // As the host's test: now = day 100, keep 7 → day 93.
        let d = decide::<Keep>(
            "{}",
            &series_usage(None, 7, 365, Some(0)),
            &store_usage(&[H]),
            100 * DAY_MS,
        )
        .unwrap();
        assert_eq!(d.raw_before, Some(93 * DAY_MS));
        assert_eq!(d.trends_before, vec![(H, 100 * DAY_MS - 365 * DAY_MS)]);
    }

    #[test]
    fn keep_zero_deletes_every_raw_point_but_not_by_itself_trends() {
        let d = run(&series_usage(None, 0, 30, Some(NOW - 1)), &[H]);
        assert_eq!(d.raw_before, Some(i64::MAX));
        assert_eq!(d.trends_before, vec![(H, NOW - 30 * DAY_MS)]);
        // keep_trends_days = 0 cuts every trend bucket that started before now.
        let d = run(&series_usage(None, 0, 0, None), &[H]);
        assert_eq!(d.trends_before, vec![(H, NOW)]);
    }

    #[test]
    fn first_ts_decides_whether_raw_needs_a_cut() {
        let cut = NOW - 7 * DAY_MS;
        // Data starting exactly at the cut, or after it: nothing to delete.
        assert_eq!(
            run(&series_usage(None, 7, 30, Some(cut)), &[]).raw_before,
            None
        );
        assert_eq!(
            run(&series_usage(None, 7, 30, Some(cut + 1)), &[]).raw_before,
            None
        );
        // One ms older than the cut: cut.
        assert_eq!(
            run(&series_usage(None, 7, 30, Some(cut - 1)), &[]).raw_before,
            Some(cut)
        );
        // Unknown start (nothing flushed yet): cut anyway.
        assert_eq!(
            run(&series_usage(None, 7, 30, None), &[]).raw_before,
            Some(cut)
        );
    }

    #[test]
    fn no_intervals_no_trend_cuts() {
        let d = run(&series_usage(Some("cpu,host=a usage"), 7, 30, None), &[]);
        assert_eq!(d.trends_before, Vec::<(i64, i64)>::new());
        assert_eq!(d.raw_before, Some(NOW - 7 * DAY_MS));
    }

    #[test]
    fn huge_settings_saturate() {
        let d = decide::<Keep>(
            "{}",
            &series_usage(None, u32::MAX, u32::MAX, None),
            &store_usage(&[H]),
            -NOW,
        )
        .unwrap();
        assert_eq!(d.raw_before, Some(-NOW - i64::from(u32::MAX) * DAY_MS));
        assert_eq!(
            d.trends_before,
            vec![(H, -NOW - i64::from(u32::MAX) * DAY_MS)]
        );
    }

    #[test]
    fn configuration_is_empty() {
        assert_eq!(Keep::configure("{}"), Ok(Keep));
        assert_eq!(Keep::configure(""), Ok(Keep));
        let e = Keep::configure(r#"{"days": 3}"#).unwrap_err();
        assert_eq!(e.to_string(), "bad argument `days`: unknown key");
        assert!(Keep::configure("[]").is_err());
        // Decide without configure behaves as configure("{}").
        let mut p = PolicyInstance::<Keep>::new();
        let d = p
            .decide(&series_usage(None, 1, 1, None), &store_usage(&[]), NOW)
            .unwrap();
        assert_eq!(d.raw_before, Some(NOW - DAY_MS));
        assert_eq!(Keep::name(), "keep");
        assert_eq!(Keep::version(), env!("CARGO_PKG_VERSION"));
    }
}
