//! Retention policy `tiered`: retention tiers by measurement or tag (Glass AI: raw points 30
//! days, hourly trends 180 days, daily trends 365 days). The first tier that matches a series
//! decides; a series that matches none falls back to the per-series keep rule. Decides exactly
//! as the host's built-in `TieredPolicy`.
//!
//! Configuration (`[[housekeeper.tiers]]` rendered as JSON):
//!
//! ```json
//! {"tiers": [{"measurement": "sensor", "tags": [["site", "a"]], "raw_days": 30,
//!             "trend_days": {"1h": 180, "1d": 365}}]}
//! ```
//!
//! `measurement` (optional) must equal the series' measurement; every `[name, value]` pair of
//! `tags` (optional) must be a tag of the series; `raw_days` (required) is the raw retention;
//! `trend_days` (optional) maps interval names (`10m`, `1h`, `1d`, or ms) to days, and
//! intervals not listed keep `raw_days`. A series without a key matches only a tier with
//! neither `measurement` nor `tags`.
#![deny(missing_docs)]

use clio_sdk::policy::{
    Config, Decision, RetentionPolicy, SeriesUsage, StoreUsage, days_before, json_string, json_u32,
    keep_decision, needs_cut, parse_interval,
};
use clio_sdk::serde_json::Value;
use clio_sdk::{Error, Result, SeriesKey, bad_argument};

/// One tier: which series it covers and how long they keep their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Measurement to match; `None` matches every measurement.
    pub measurement: Option<String>,
    /// Tags that must all match.
    pub tags: Vec<(String, String)>,
    /// Days of raw points.
    pub raw_days: u32,
    /// Days per trend interval (ms), by interval.
    pub trend_days: Vec<(i64, u32)>,
}

impl Tier {
    fn matches(&self, key: Option<&SeriesKey>) -> bool {
        let Some(key) = key else {
            return self.measurement.is_none() && self.tags.is_empty();
        };
        self.measurement
            .as_deref()
            .is_none_or(|m| m == key.measurement)
            && self
                .tags
                .iter()
                .all(|(k, v)| key.tag(k) == Some(v.as_str()))
    }

    fn days_for(&self, interval_ms: i64) -> u32 {
        self.trend_days
            .iter()
            .find(|(i, _)| *i == interval_ms)
            .map_or(self.raw_days, |(_, d)| *d)
    }

    fn from_config(mut c: Config) -> Result<Tier> {
        let measurement = c.string("measurement")?;
        let tags_path = c.path("tags");
        let tags = c
            .array("tags")?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, v)| tag_pair(&format!("{tags_path}[{i}]"), v))
            .collect::<Result<Vec<_>>>()?;
        let raw_days = c.u32("raw_days")?.ok_or_else(|| c.missing("raw_days"))?;
        let mut trend_days: Vec<(i64, u32)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        if let Some(mut m) = c.object("trend_days")? {
            for (path, name, v) in m.drain() {
                let ms = parse_interval(&name).ok_or_else(|| {
                    bad_argument(
                        &path,
                        "not a trend interval: expected a whole number with s, m, h or d \
                         (10m, 1h, 1d) or of ms",
                    )
                })?;
                let days = json_u32(&path, &v)?;
                // `1h` and `60m` are the same interval: which one wins would be a guess.
                if let Some(j) = trend_days.iter().position(|(i, _)| *i == ms) {
                    return Err(bad_argument(
                        &path,
                        format!("the same interval as `{}`", names[j]),
                    ));
                }
                trend_days.push((ms, days));
                names.push(name);
            }
        }
        c.finish()?;
        trend_days.sort_unstable();
        Ok(Tier {
            measurement,
            tags,
            raw_days,
            trend_days,
        })
    }
}

/// A `[name, value]` pair of strings.
fn tag_pair(path: &str, v: Value) -> Result<(String, String)> {
    match v {
        Value::Array(a) if a.len() == 2 => {
            let mut it = a.into_iter();
            match (it.next(), it.next()) {
                (Some(k), Some(v)) => Ok((
                    json_string(&format!("{path}[0]"), k)?,
                    json_string(&format!("{path}[1]"), v)?,
                )),
                _ => Err(bad_argument(path, "expected a [name, value] pair")),
            }
        }
        _ => Err(bad_argument(path, "expected a [name, value] pair")),
    }
}

/// Tiered retention: the tiers in order, first match wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiered {
    /// The tiers, in order.
    pub tiers: Vec<Tier>,
}

impl RetentionPolicy for Tiered {
    fn name() -> &'static str {
        "tiered"
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(config_json: &str) -> Result<Self> {
        let mut c = Config::parse(config_json)?;
        let tiers = c.objects("tiers")?.ok_or_else(|| c.missing("tiers"))?;
        c.finish()?;
        if tiers.is_empty() {
            return Err(bad_argument("tiers", "needs at least one tier"));
        }
        let tiers = tiers
            .into_iter()
            .map(Tier::from_config)
            .collect::<Result<Vec<_>>>()?;
        Ok(Tiered { tiers })
    }

    fn decide(&self, series: &SeriesUsage, store: &StoreUsage, now: i64) -> Result<Decision> {
        let key = match &series.info.key {
            Some(k) => Some(SeriesKey::parse(k).map_err(|e| {
                // The host hands over canonical keys; a malformed one is its bug, not config.
                Error::Failed(format!("series {}: {e}", series.info.id))
            })?),
            None => None,
        };
        let Some(tier) = self.tiers.iter().find(|t| t.matches(key.as_ref())) else {
            return Ok(keep_decision(series, store, now));
        };
        Ok(Decision {
            raw_before: needs_cut(series, days_before(now, tier.raw_days)),
            trends_before: store
                .trend_intervals
                .iter()
                .map(|&i| (i, days_before(now, tier.days_for(i))))
                .collect(),
        })
    }
}

clio_sdk::export_policy!(Tiered);

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::policy::{DAY_MS, PolicyInstance};
    use clio_sdk::testing::{decide, series_usage, store_usage};

    const NOW: i64 = 1000 * DAY_MS;
    const M10: i64 = 600_000;
    const H: i64 = 3_600_000;

    const GLASS: &str = r#"{"tiers": [
        {"measurement": "sensor", "tags": [["site", "a"]], "raw_days": 30,
         "trend_days": {"1h": 180, "1d": 365}},
        {"measurement": "sensor", "raw_days": 10},
        {"tags": [["env", "test"]], "raw_days": 1, "trend_days": {"600000": 2}}
    ]}"#;

    fn run(config: &str, key: Option<&str>, first: Option<i64>, intervals: &[i64]) -> Decision {
        decide::<Tiered>(
            config,
            &series_usage(key, 90, 400, first),
            &store_usage(intervals),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn glass_ai_tier_by_measurement_and_tag() {
        let d = run(GLASS, Some("sensor,site=a t"), Some(0), &[M10, H, DAY_MS]);
        assert_eq!(
            d,
            Decision {
                raw_before: Some(NOW - 30 * DAY_MS),
                // 10m is not listed: it keeps raw_days.
                trends_before: vec![
                    (M10, NOW - 30 * DAY_MS),
                    (H, NOW - 180 * DAY_MS),
                    (DAY_MS, NOW - 365 * DAY_MS),
                ],
            }
        );
        // Extra tags on the series do not matter; the order of tags in the key neither.
        let d = run(GLASS, Some("sensor,host=x,site=a t"), Some(0), &[H]);
        assert_eq!(d.raw_before, Some(NOW - 30 * DAY_MS));
        assert_eq!(d.trends_before, vec![(H, NOW - 180 * DAY_MS)]);
    }

    #[test]
    fn first_match_wins_and_no_match_falls_back_to_keep() {
        // Another site: the second tier (measurement only).
        let d = run(GLASS, Some("sensor,site=b t"), Some(0), &[H]);
        assert_eq!(d.raw_before, Some(NOW - 10 * DAY_MS));
        assert_eq!(d.trends_before, vec![(H, NOW - 10 * DAY_MS)]);
        // Matches tiers 2 and 3: the first one listed wins.
        let d = run(GLASS, Some("sensor,env=test t"), Some(0), &[M10]);
        assert_eq!(d.raw_before, Some(NOW - 10 * DAY_MS));
        // Tag-only tier, interval given in ms.
        let d = run(GLASS, Some("cpu,env=test usage"), Some(0), &[M10, H]);
        assert_eq!(d.raw_before, Some(NOW - DAY_MS));
        assert_eq!(
            d.trends_before,
            vec![(M10, NOW - 2 * DAY_MS), (H, NOW - DAY_MS)]
        );
        // No tier: keep rule with the series' own settings (90 / 400 days).
        let d = run(GLASS, Some("cpu,env=prod usage"), Some(0), &[H]);
        assert_eq!(d.raw_before, Some(NOW - 90 * DAY_MS));
        assert_eq!(d.trends_before, vec![(H, NOW - 400 * DAY_MS)]);
        // The keep fallback keeps its zero rule.
        let d = decide::<Tiered>(
            GLASS,
            &series_usage(Some("cpu usage"), 0, 400, Some(0)),
            &store_usage(&[]),
            NOW,
        )
        .unwrap();
        assert_eq!(d.raw_before, Some(i64::MAX));
    }

    #[test]
    fn escaped_keys_match_unescaped_tier_values() {
        let cfg =
            r#"{"tiers": [{"measurement": "disk io", "tags": [["path", "C:\\"]], "raw_days": 5}]}"#;
        let d = run(cfg, Some(r"disk\ io,path=C:\\ read"), Some(0), &[]);
        assert_eq!(d.raw_before, Some(NOW - 5 * DAY_MS));
        let d = run(cfg, Some(r"disk\ io,path=D:\\ read"), Some(0), &[]);
        assert_eq!(d.raw_before, Some(NOW - 90 * DAY_MS));
    }

    #[test]
    fn keyless_series_match_only_unfiltered_tiers() {
        let d = run(GLASS, None, Some(0), &[H]);
        assert_eq!(d.raw_before, Some(NOW - 90 * DAY_MS)); // keep fallback
        let catch_all = r#"{"tiers": [{"measurement": "x", "raw_days": 1}, {"raw_days": 3}]}"#;
        let d = run(catch_all, None, Some(0), &[H]);
        assert_eq!(d.raw_before, Some(NOW - 3 * DAY_MS));
        assert_eq!(d.trends_before, vec![(H, NOW - 3 * DAY_MS)]);
    }

    #[test]
    fn raw_cut_edges() {
        // raw_days = 0 cuts at now (unlike keep_history_days = 0, which cuts everything).
        let zero = r#"{"tiers": [{"raw_days": 0}]}"#;
        assert_eq!(run(zero, Some("m f"), None, &[]).raw_before, Some(NOW));
        // Data starting at or after the cut: no raw cut; unknown start: cut.
        let cfg = r#"{"tiers": [{"raw_days": 30}]}"#;
        let cut = NOW - 30 * DAY_MS;
        assert_eq!(run(cfg, Some("m f"), Some(cut), &[]).raw_before, None);
        assert_eq!(
            run(cfg, Some("m f"), Some(cut - 1), &[]).raw_before,
            Some(cut)
        );
        assert_eq!(run(cfg, Some("m f"), None, &[]).raw_before, Some(cut));
        // No intervals in the store: no trend cuts.
        assert!(run(cfg, Some("m f"), None, &[]).trends_before.is_empty());
    }

    #[test]
    fn configuration_is_parsed_exactly() {
        let p = Tiered::configure(GLASS).unwrap();
        assert_eq!(
            p.tiers[0],
            Tier {
                measurement: Some("sensor".into()),
                tags: vec![("site".into(), "a".into())],
                raw_days: 30,
                trend_days: vec![(H, 180), (DAY_MS, 365)],
            }
        );
        assert_eq!(p.tiers[2].trend_days, vec![(M10, 2)]);
    }

    fn err(config: &str) -> String {
        Tiered::configure(config).unwrap_err().to_string()
    }

    #[test]
    fn bad_configurations_name_the_key() {
        assert_eq!(err("{}"), "bad argument `tiers`: missing");
        assert_eq!(
            err(r#"{"tiers": []}"#),
            "bad argument `tiers`: needs at least one tier"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1}], "tier": 1}"#),
            "bad argument `tier`: unknown key"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "raw_dayz": 2}]}"#),
            "bad argument `tiers[0].raw_dayz`: unknown key"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1}, {"measurement": "m"}]}"#),
            "bad argument `tiers[1].raw_days`: missing"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "trend_days": {"1x": 5}}]}"#),
            "bad argument `tiers[0].trend_days.1x`: not a trend interval: expected a whole number \
             with s, m, h or d (10m, 1h, 1d) or of ms"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "trend_days": {"0m": 5}}]}"#),
            "bad argument `tiers[0].trend_days.0m`: not a trend interval: expected a whole number \
             with s, m, h or d (10m, 1h, 1d) or of ms"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "trend_days": {"1h": 5, "60m": 6}}]}"#),
            "bad argument `tiers[0].trend_days.60m`: the same interval as `1h`"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "trend_days": {"1h": -5}}]}"#),
            "bad argument `tiers[0].trend_days.1h`: expected a whole number from 0 to 4294967295, got -5"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "tags": [["site"]]}]}"#),
            "bad argument `tiers[0].tags[0]`: expected a [name, value] pair"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "tags": [["site", 5]]}]}"#),
            "bad argument `tiers[0].tags[0][1]`: expected a string, got a number"
        );
        assert_eq!(
            err(r#"{"tiers": [{"raw_days": 1, "measurement": 5}]}"#),
            "bad argument `tiers[0].measurement`: expected a string, got a number"
        );
        assert_eq!(
            err(r#"{"tiers": {"raw_days": 1}}"#),
            "bad argument `tiers`: expected a list, got an object"
        );
        assert_eq!(
            err(r#"{"tiers": [3]}"#),
            "bad argument `tiers[0]`: expected an object, got a number"
        );
    }

    #[test]
    fn malformed_keys_fail_the_run_and_bad_config_sticks() {
        let e = decide::<Tiered>(
            GLASS,
            &series_usage(Some("sensor"), 90, 400, None),
            &store_usage(&[]),
            NOW,
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::Failed(
                "series 1: bad argument `key`: `sensor`: no field (expected \
                 `measurement[,tag=value...] field`)"
                    .into()
            )
        );
        // Without configure, `{}` is used: no tiers, so every decide fails.
        let mut p = PolicyInstance::<Tiered>::new();
        let e = p
            .decide(&series_usage(None, 1, 1, None), &store_usage(&[]), NOW)
            .unwrap_err();
        assert_eq!(e.to_string(), "bad argument `tiers`: missing");
        assert_eq!(Tiered::name(), "tiered");
    }
}
