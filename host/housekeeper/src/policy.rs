//! What a retention policy sees and decides. The same shapes as the WIT `policy` interface
//! (`wit/housekeeping.wit`), so that a policy plugin and a native policy are interchangeable.

use clio_storage::{SeriesInfo, Timestamp, TrendInterval};

/// Size and span of one series' stored data.
#[derive(Debug, Clone)]
pub struct SeriesUsage {
    /// Catalog entry (id, key, settings).
    pub info: SeriesInfo,
    /// Stored raw points.
    pub points: u64,
    /// Bytes of stored raw data.
    pub bytes: u64,
    /// Oldest stored point.
    pub first_ts: Option<Timestamp>,
    /// Newest stored point.
    pub last_ts: Option<Timestamp>,
}

/// Store-wide figures, for budget policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Series in the catalog.
    pub series: u64,
    /// Bytes of raw data over all series.
    pub bytes: u64,
    /// Raw points over all series.
    pub points: u64,
    /// Oldest stored point over all series.
    pub first_ts: Option<Timestamp>,
    /// Newest stored point over all series.
    pub last_ts: Option<Timestamp>,
    /// Bytes of raw data per UTC day, oldest first, `(day start, bytes)`: each series' bytes
    /// spread evenly over its span (an estimate; days without data are left out).
    pub bytes_by_day: Vec<(Timestamp, u64)>,
}

impl StoreUsage {
    /// Sums the figures of every series, and spreads each series' bytes evenly over the days
    /// its data spans for [`StoreUsage::bytes_by_day`].
    pub fn from_series<'a>(series: impl IntoIterator<Item = &'a SeriesUsage>) -> StoreUsage {
        let mut u = StoreUsage::default();
        let mut days: std::collections::BTreeMap<Timestamp, f64> = Default::default();
        for s in series {
            u.series += 1;
            u.bytes += s.bytes;
            u.points += s.points;
            u.first_ts = min_opt(u.first_ts, s.first_ts);
            u.last_ts = match (u.last_ts, s.last_ts) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let (Some(first), Some(last)) = (s.first_ts, s.last_ts) else {
                continue;
            };
            if s.bytes == 0 {
                continue;
            }
            if last.saturating_sub(first) / DAY_MS > 40_000 {
                // Absurd span (a stray timestamp): attribute it all to the oldest day rather
                // than walking a century day by day. A budget policy then cuts cautiously.
                *days.entry(first.div_euclid(DAY_MS) * DAY_MS).or_default() += s.bytes as f64;
                continue;
            }
            // Share of the span (ms, inclusive of the newest point) in each day.
            let span = (last.saturating_sub(first) as f64) + 1.0;
            let mut day = first.div_euclid(DAY_MS) * DAY_MS;
            while day <= last {
                let lo = day.max(first);
                let hi = day.saturating_add(DAY_MS).min(last.saturating_add(1));
                let share = (hi.saturating_sub(lo)) as f64 / span;
                *days.entry(day).or_default() += share * s.bytes as f64;
                day = day.saturating_add(DAY_MS);
            }
        }
        u.bytes_by_day = days
            .into_iter()
            .map(|(d, b)| (d, b.round() as u64))
            .filter(|&(_, b)| b > 0)
            .collect();
        u
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What to delete from one series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Delete raw points stamped before this time.
    pub raw_before: Option<Timestamp>,
    /// Delete trend buckets of an interval starting before the given time.
    pub trends_before: Vec<(TrendInterval, Timestamp)>,
}

impl Decision {
    /// True when nothing is to be deleted.
    pub fn is_empty(&self) -> bool {
        self.raw_before.is_none() && self.trends_before.is_empty()
    }
}

/// A policy failed; the run is skipped and nothing is deleted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("retention policy `{policy}` failed: {message}")]
pub struct PolicyError {
    /// The policy's name.
    pub policy: String,
    /// Why.
    pub message: String,
}

/// A retention policy: decides, per series, what to delete at `now`.
pub trait RetentionPolicy: Send + Sync + std::fmt::Debug {
    /// Name for logs and status.
    fn name(&self) -> String;

    /// Called once before the decisions of a run (a plugin policy takes its instance and
    /// configuration here, so that a reload takes effect at the next run). An error skips
    /// the run.
    fn begin_run(&self) -> Result<(), PolicyError> {
        Ok(())
    }

    /// Called when the decisions of a run are made (or the run was skipped).
    fn end_run(&self) {}

    /// The decision for one series.
    fn decide(
        &self,
        series: &SeriesUsage,
        store: &StoreUsage,
        now: Timestamp,
        intervals: &[TrendInterval],
    ) -> Result<Decision, PolicyError>;
}

const DAY_MS: i64 = 86_400_000;

/// `Some(cut)` unless the stored data is known to start at or after it. Unflushed points are
/// not in the storage figures, so an unknown start still cuts (the engine's delete also
/// covers the cache).
fn needs_cut(s: &SeriesUsage, cut: Timestamp) -> Option<Timestamp> {
    match s.first_ts {
        Some(first) if first >= cut => None,
        _ => Some(cut),
    }
}

/// The default policy: each series keeps `keep_history_days` of raw points and
/// `keep_trends_days` of trends (ALEPIZ's per-counter settings). `keep_history_days = 0` keeps
/// no raw points at all, as in ALEPIZ; trends keep their own setting.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepPolicy;

impl RetentionPolicy for KeepPolicy {
    fn name(&self) -> String {
        "keep".into()
    }

    fn decide(
        &self,
        s: &SeriesUsage,
        _store: &StoreUsage,
        now: Timestamp,
        intervals: &[TrendInterval],
    ) -> Result<Decision, PolicyError> {
        let settings = &s.info.settings;
        let raw_before = match settings.keep_history_days {
            0 => Timestamp::MAX,
            d => now.saturating_sub(i64::from(d).saturating_mul(DAY_MS)),
        };
        let trends_cut =
            now.saturating_sub(i64::from(settings.keep_trends_days).saturating_mul(DAY_MS));
        Ok(Decision {
            raw_before: needs_cut(s, raw_before),
            trends_before: intervals.iter().map(|&i| (i, trends_cut)).collect(),
        })
    }
}

/// One rule of a [`TieredPolicy`]: series matching `measurement` (and every tag in `tags`)
/// keep raw points for `raw_days` and each trend interval for its own number of days.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Measurement to match; `None` matches every measurement.
    #[serde(default)]
    pub measurement: Option<String>,
    /// Tags that must all match.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Days of raw points.
    pub raw_days: u32,
    /// Days per trend interval, e.g. `{"1h" = 180, "1d" = 365}`; intervals not listed keep
    /// `raw_days`.
    #[serde(default)]
    pub trend_days: std::collections::BTreeMap<TrendInterval, u32>,
}

/// Tiered retention by measurement or tag (Glass AI: raw 30 days, hourly 180 days, daily 365
/// days). The first matching tier wins; series that match none fall back to [`KeepPolicy`].
#[derive(Debug, Clone, Default)]
pub struct TieredPolicy {
    /// The tiers, in order.
    pub tiers: Vec<Tier>,
}

impl RetentionPolicy for TieredPolicy {
    fn name(&self) -> String {
        "tiered".into()
    }

    fn decide(
        &self,
        s: &SeriesUsage,
        store: &StoreUsage,
        now: Timestamp,
        intervals: &[TrendInterval],
    ) -> Result<Decision, PolicyError> {
        let tier = self.tiers.iter().find(|t| {
            let Some(key) = &s.info.key else {
                return t.measurement.is_none() && t.tags.is_empty();
            };
            t.measurement
                .as_deref()
                .is_none_or(|m| m == key.measurement())
                && t.tags.iter().all(|(k, v)| key.tag(k) == Some(v.as_str()))
        });
        let Some(tier) = tier else {
            return KeepPolicy.decide(s, store, now, intervals);
        };
        let cut = |days: u32| now.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        let raw_before = cut(tier.raw_days);
        Ok(Decision {
            raw_before: needs_cut(s, raw_before),
            trends_before: intervals
                .iter()
                .map(|&i| {
                    (
                        i,
                        cut(tier.trend_days.get(&i).copied().unwrap_or(tier.raw_days)),
                    )
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_storage::{SeriesId, SeriesSettings};

    fn usage(key: Option<&str>, keep: u32, first: i64) -> SeriesUsage {
        SeriesUsage {
            info: SeriesInfo {
                id: SeriesId(1),
                key: key.map(|k| k.parse().unwrap()),
                settings: SeriesSettings {
                    keep_history_days: keep,
                    ..Default::default()
                },
                created: 0,
            },
            points: 10,
            bytes: 10,
            first_ts: Some(first),
            last_ts: Some(first + 1),
        }
    }

    #[test]
    fn store_usage_spreads_bytes_over_days() {
        let mut a = usage(None, 7, 0);
        a.bytes = 300;
        a.last_ts = Some(3 * DAY_MS - 1);
        let mut b = usage(None, 7, DAY_MS / 2);
        b.bytes = 100;
        b.last_ts = Some(DAY_MS - 1);
        let u = StoreUsage::from_series([&a, &b]);
        assert_eq!((u.series, u.bytes, u.points), (2, 400, 20));
        assert_eq!((u.first_ts, u.last_ts), (Some(0), Some(3 * DAY_MS - 1)));
        assert_eq!(
            u.bytes_by_day,
            vec![(0, 200), (DAY_MS, 100), (2 * DAY_MS, 100)]
        );
        assert_eq!(StoreUsage::from_series([]), StoreUsage::default());
    }

    #[test]
    fn keep_policy_cuts_at_exact_days_and_zero_means_nothing() {
        let now = 100 * DAY_MS;
        let i = [TrendInterval::from_ms(3_600_000).unwrap()];
        let d = KeepPolicy
            .decide(&usage(None, 7, 0), &StoreUsage::default(), now, &i)
            .unwrap();
        assert_eq!(d.raw_before, Some(93 * DAY_MS));
        assert_eq!(d.trends_before, vec![(i[0], now - 365 * DAY_MS)]);
        let d = KeepPolicy
            .decide(&usage(None, 0, 0), &StoreUsage::default(), now, &i)
            .unwrap();
        assert_eq!(d.raw_before, Some(i64::MAX));
        // Nothing old enough: no raw deletion at all.
        let d = KeepPolicy
            .decide(
                &usage(None, 7, 99 * DAY_MS),
                &StoreUsage::default(),
                now,
                &i,
            )
            .unwrap();
        assert_eq!(d.raw_before, None);
    }

    #[test]
    fn tiers_match_by_measurement_and_tag() {
        let h = TrendInterval::from_ms(3_600_000).unwrap();
        let d1 = TrendInterval::from_ms(DAY_MS).unwrap();
        let p = TieredPolicy {
            tiers: vec![Tier {
                measurement: Some("sensor".into()),
                tags: vec![("site".into(), "a".into())],
                raw_days: 30,
                trend_days: [(h, 180), (d1, 365)].into_iter().collect(),
            }],
        };
        let now = 1000 * DAY_MS;
        let d = p
            .decide(
                &usage(Some("sensor,site=a t"), 90, 0),
                &StoreUsage::default(),
                now,
                &[h, d1],
            )
            .unwrap();
        assert_eq!(d.raw_before, Some(now - 30 * DAY_MS));
        assert_eq!(
            d.trends_before,
            vec![(h, now - 180 * DAY_MS), (d1, now - 365 * DAY_MS)]
        );
        // Another site falls back to the per-series keep policy.
        let d = p
            .decide(
                &usage(Some("sensor,site=b t"), 90, 0),
                &StoreUsage::default(),
                now,
                &[h],
            )
            .unwrap();
        assert_eq!(d.raw_before, Some(now - 90 * DAY_MS));
    }
}
