//! Retention policies: what the housekeeper asks a `housekeeping-policy` plugin, in plain Rust.
//!
//! A policy is a type implementing [`RetentionPolicy`]; [`export_policy!`](crate::export_policy)
//! turns it into the component's exports. The host calls `configure` once per instance with the
//! `[housekeeper.policy_config]` table rendered as JSON, then `decide` for every series of a
//! run, before it deletes anything.
//!
//! ```
//! use clio_sdk::policy::{Config, Decision, RetentionPolicy, SeriesUsage, StoreUsage, DAY_MS};
//! use clio_sdk::Result;
//!
//! /// Keeps `days` of raw points for every series, trends untouched.
//! struct Flat { days: u32 }
//!
//! impl RetentionPolicy for Flat {
//!     fn name() -> &'static str { "flat" }
//!     fn version() -> &'static str { env!("CARGO_PKG_VERSION") }
//!     fn configure(config_json: &str) -> Result<Self> {
//!         let mut c = Config::parse(config_json)?;
//!         let days = c.u32("days")?.unwrap_or(30);
//!         c.finish()?; // unknown keys are errors naming the key
//!         Ok(Flat { days })
//!     }
//!     fn decide(&self, s: &SeriesUsage, _: &StoreUsage, now: i64) -> Result<Decision> {
//!         let cut = now - i64::from(self.days) * DAY_MS;
//!         Ok(Decision { raw_before: clio_sdk::policy::needs_cut(s, cut), trends_before: vec![] })
//!     }
//! }
//!
//! clio_sdk::export_policy!(Flat);
//!
//! // Natively testable, configured and called as the host would:
//! use clio_sdk::testing::{decide, series_usage, store_usage};
//! let now = 100 * DAY_MS;
//! let d = decide::<Flat>(r#"{"days": 7}"#, &series_usage(None, 90, 365, Some(0)), &store_usage(&[]), now);
//! assert_eq!(d.unwrap().raw_before, Some(93 * DAY_MS));
//! assert!(decide::<Flat>(r#"{"dayz": 7}"#, &series_usage(None, 90, 365, None), &store_usage(&[]), now).is_err());
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{Error, Result, bad_argument};
use crate::history::SeriesInfo;
use crate::points::Timestamp;

/// One day in ms.
pub const DAY_MS: i64 = 86_400_000;
/// One hour in ms.
pub const HOUR_MS: i64 = 3_600_000;

/// Size and span of one series' stored data (WIT `series-usage`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesUsage {
    /// Catalog entry: id, canonical key, `keep_history_days`, `keep_trends_days`, metadata.
    pub info: SeriesInfo,
    /// Stored raw points.
    pub points: u64,
    /// Bytes of stored raw data.
    pub bytes: u64,
    /// Oldest stored point; `None` when unknown (nothing flushed yet).
    pub first_ts: Option<Timestamp>,
    /// Newest stored point.
    pub last_ts: Option<Timestamp>,
}

/// Store-wide figures, for budget policies (WIT `store-usage`).
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
    /// Bytes of raw data per UTC day, oldest day first: `(day start, bytes)`. Estimated by the
    /// host by spreading each series' bytes evenly over its span; days without data are left
    /// out.
    pub bytes_by_day: Vec<(Timestamp, u64)>,
    /// Trend intervals (ms) the store keeps; a decision may only name these.
    pub trend_intervals: Vec<i64>,
}

/// What to delete from one series (WIT `decision`). The default deletes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Delete raw points stamped before this time; `None` keeps them all.
    pub raw_before: Option<Timestamp>,
    /// Delete the trend buckets of each interval (ms) that start before the given time.
    pub trends_before: Vec<(i64, Timestamp)>,
}

impl Decision {
    /// True when nothing is to be deleted.
    pub fn is_empty(&self) -> bool {
        self.raw_before.is_none() && self.trends_before.is_empty()
    }
}

/// A retention policy. The host makes one instance per housekeeper run: [`configure`] once,
/// then [`decide`] for every series. Any error (or a panic, which traps) skips the whole run
/// and deletes nothing.
///
/// [`configure`]: RetentionPolicy::configure
/// [`decide`]: RetentionPolicy::decide
pub trait RetentionPolicy: Sized + 'static {
    /// The name `[housekeeper] policy = "<name>"` selects the plugin by (what the WIT `name`
    /// export returns).
    fn name() -> &'static str;

    /// The plugin's version, usually `env!("CARGO_PKG_VERSION")`.
    fn version() -> &'static str;

    /// Builds the policy from its configuration: the `[housekeeper.policy_config]` table as
    /// JSON, `{}` when absent. Reject what you do not understand with a `bad_argument` that
    /// names the key; [`Config`] does that for you.
    fn configure(config_json: &str) -> Result<Self>;

    /// Decides for one series at time `now` (ms).
    fn decide(&self, series: &SeriesUsage, store: &StoreUsage, now: Timestamp) -> Result<Decision>;
}

/// One policy instance as the host drives it; the [`export_policy!`](crate::export_policy)
/// glue keeps one per component instance. `decide` before `configure` configures with `{}`;
/// after a failed `configure`, every `decide` fails with the same error (a policy never runs
/// on a configuration it rejected).
pub struct PolicyInstance<P> {
    state: State<P>,
}

enum State<P> {
    Unconfigured,
    Ready(P),
    Failed(Error),
}

impl<P> fmt::Debug for PolicyInstance<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Unconfigured => "unconfigured",
            State::Ready(_) => "ready",
            State::Failed(_) => "failed",
        };
        f.debug_struct("PolicyInstance")
            .field("state", &state)
            .finish()
    }
}

impl<P> Default for PolicyInstance<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> PolicyInstance<P> {
    /// An instance that has not been configured yet.
    pub const fn new() -> Self {
        PolicyInstance {
            state: State::Unconfigured,
        }
    }
}

impl<P: RetentionPolicy> PolicyInstance<P> {
    /// Configures (or reconfigures) the instance.
    pub fn configure(&mut self, config_json: &str) -> Result<()> {
        match P::configure(config_json) {
            Ok(p) => {
                self.state = State::Ready(p);
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Decides for one series, configuring with `{}` first if nobody configured the instance.
    pub fn decide(
        &mut self,
        series: &SeriesUsage,
        store: &StoreUsage,
        now: Timestamp,
    ) -> Result<Decision> {
        if matches!(self.state, State::Unconfigured) {
            self.configure("{}")?;
        }
        match &self.state {
            State::Ready(p) => p.decide(series, store, now),
            State::Failed(e) => Err(e.clone()),
            State::Unconfigured => Err(Error::Failed("policy is not configured".into())),
        }
    }
}

/// `now − days`, saturating (a cut far in the past is just a very small timestamp).
pub fn days_before(now: Timestamp, days: u32) -> Timestamp {
    now.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

/// `Some(cut)` unless the series' stored data is known to start at or after `cut`. An unknown
/// start still cuts: unflushed points are not in the storage figures, and the engine's delete
/// also covers its cache.
pub fn needs_cut(series: &SeriesUsage, cut: Timestamp) -> Option<Timestamp> {
    match series.first_ts {
        Some(first) if first >= cut => None,
        _ => Some(cut),
    }
}

/// The raw cut of the per-series keep rule: `now − keep_history_days`, and `i64::MAX` (no raw
/// points at all, as in ALEPIZ) for `keep_history_days = 0`.
pub fn keep_raw_cut(series: &SeriesUsage, now: Timestamp) -> Timestamp {
    match series.info.keep_history_days {
        0 => Timestamp::MAX,
        d => days_before(now, d),
    }
}

/// The per-series keep rule (the host's built-in `keep` policy): raw points older than
/// `keep_history_days` (see [`keep_raw_cut`]; skipped when the series' data is known to start
/// after the cut), and trend buckets older than `keep_trends_days` for every interval in
/// `store.trend_intervals`.
pub fn keep_decision(series: &SeriesUsage, store: &StoreUsage, now: Timestamp) -> Decision {
    let trends_cut = days_before(now, series.info.keep_trends_days);
    Decision {
        raw_before: needs_cut(series, keep_raw_cut(series, now)),
        trends_before: store
            .trend_intervals
            .iter()
            .map(|&i| (i, trends_cut))
            .collect(),
    }
}

/// Parses a trend interval name into ms: `<n>s`, `<n>m`, `<n>h`, `<n>d` (`10m`, `30m`, `1h`,
/// `1d`) or a plain number of ms (`3600000`). Surrounding spaces are ignored; the units are
/// lower case. `None` for anything else, for zero, and on overflow.
pub fn parse_interval(name: &str) -> Option<i64> {
    let s = name.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let mult = match unit {
        "" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => HOUR_MS,
        "d" => DAY_MS,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&ms| ms > 0)
}

/// A policy's JSON configuration object, read key by key. Errors are `bad-argument`s named by
/// the key's path (`tiers[0].raw_days`); [`finish`](Config::finish) rejects the keys nobody
/// read, so a misspelt key never passes silently. A JSON `null` counts as absent.
#[derive(Debug, Clone, Default)]
pub struct Config {
    path: String,
    map: Map<String, Value>,
}

impl Config {
    /// Parses the text `configure` receives. An empty text is `{}`; anything but an object is
    /// an error named `config`.
    pub fn parse(config_json: &str) -> Result<Config> {
        if config_json.trim().is_empty() {
            return Ok(Config::default());
        }
        let v: Value = serde_json::from_str(config_json)
            .map_err(|e| bad_argument("config", format!("invalid JSON: {e}")))?;
        Config::from_value("config", v, "")
    }

    /// A nested object found at `path`; `prefix` is what its keys' paths start with.
    fn from_value(path: &str, v: Value, prefix: &str) -> Result<Config> {
        match v {
            Value::Object(map) => Ok(Config {
                path: prefix.to_owned(),
                map,
            }),
            other => Err(bad_argument(
                path,
                format!("expected an object, got {}", kind(&other)),
            )),
        }
    }

    /// The full path of `key` in this object, as errors name it.
    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Takes the raw value of `key` (`None` when absent or null).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// The error for a required key that is absent.
    pub fn missing(&self, key: &str) -> Error {
        bad_argument(self.path(key), "missing")
    }

    /// A whole number ≥ 0.
    pub fn u64(&mut self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key);
        self.take(key).map(|v| json_u64(&path, &v)).transpose()
    }

    /// A whole number from 0 to 4294967295.
    pub fn u32(&mut self, key: &str) -> Result<Option<u32>> {
        let path = self.path(key);
        self.take(key).map(|v| json_u32(&path, &v)).transpose()
    }

    /// A string.
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        let path = self.path(key);
        self.take(key).map(|v| json_string(&path, v)).transpose()
    }

    /// A list, as raw values (their paths are `key[i]`).
    pub fn array(&mut self, key: &str) -> Result<Option<Vec<Value>>> {
        let path = self.path(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(bad_argument(
                path,
                format!("expected a list, got {}", kind(&other)),
            )),
        }
    }

    /// A nested object.
    pub fn object(&mut self, key: &str) -> Result<Option<Config>> {
        let path = self.path(key);
        self.take(key)
            .map(|v| Config::from_value(&path, v, &path))
            .transpose()
    }

    /// A list of objects (`[[housekeeper.tiers]]`-style tables), each named `key[i]`.
    pub fn objects(&mut self, key: &str) -> Result<Option<Vec<Config>>> {
        let path = self.path(key);
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let p = format!("{path}[{i}]");
                Config::from_value(&p, v, &p)
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Takes every remaining entry as `(path, key, value)`, in key order: for objects whose
    /// keys are data (a map from interval name to days) rather than settings.
    pub fn drain(&mut self) -> Vec<(String, String, Value)> {
        let map = std::mem::take(&mut self.map);
        let mut entries: Vec<_> = map
            .into_iter()
            .map(|(k, v)| (self.path(&k), k, v))
            .collect();
        // serde_json keeps insertion order when some crate enables `preserve_order`; sort so
        // the result never depends on the build.
        entries.sort_by(|a, b| a.1.cmp(&b.1));
        entries
    }

    /// Ends reading: an error naming the first key (in key order) nobody took.
    pub fn finish(self) -> Result<()> {
        match self.map.keys().min() {
            Some(k) => Err(bad_argument(self.path(k), "unknown key")),
            None => Ok(()),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `v` as a whole number ≥ 0; the error names `path`.
pub fn json_u64(path: &str, v: &Value) -> Result<u64> {
    v.as_u64().ok_or_else(|| {
        bad_argument(
            path,
            format!("expected a whole number ≥ 0, got {}", show(v)),
        )
    })
}

/// `v` as a whole number from 0 to 4294967295; the error names `path`.
pub fn json_u32(path: &str, v: &Value) -> Result<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            bad_argument(
                path,
                format!(
                    "expected a whole number from 0 to 4294967295, got {}",
                    show(v)
                ),
            )
        })
}

/// `v` as a string; the error names `path`.
pub fn json_string(path: &str, v: Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(bad_argument(
            path,
            format!("expected a string, got {}", kind(&other)),
        )),
    }
}

/// A value for an error message: numbers and short strings as written, the rest by kind.
fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 40 => format!("\"{s}\""),
        other => kind(other).to_owned(),
    }
}

/// Exports a [`RetentionPolicy`] type as the crate's `housekeeping-policy` component:
/// `clio_sdk::export_policy!(MyPolicy);`, once per crate, at the crate root or in a module.
/// The configured policy lives in a thread-local [`PolicyInstance`] between `configure` and
/// `decide` (a component instance is single-threaded).
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        ::std::thread_local! {
            static __CLIO_POLICY_INSTANCE: ::core::cell::RefCell<
                $crate::policy::PolicyInstance<$policy>,
            > = const { ::core::cell::RefCell::new($crate::policy::PolicyInstance::new()) };
        }

        #[doc(hidden)]
        #[derive(Debug)]
        pub struct __ClioPolicyExport;

        impl $crate::__private_policy::Guest for __ClioPolicyExport {
            fn name() -> ::std::string::String {
                $crate::__private_policy::name::<$policy>()
            }

            fn configure(
                config_json: ::std::string::String,
            ) -> ::core::result::Result<(), $crate::__private_policy::WitError> {
                __CLIO_POLICY_INSTANCE
                    .with(|p| $crate::__private_policy::configure(p, &config_json))
            }

            fn decide(
                series: $crate::__private_policy::WitSeriesUsage,
                store: $crate::__private_policy::WitStoreUsage,
                now: i64,
            ) -> ::core::result::Result<
                $crate::__private_policy::WitDecision,
                $crate::__private_policy::WitError,
            > {
                __CLIO_POLICY_INSTANCE
                    .with(|p| $crate::__private_policy::decide(p, series, store, now))
            }
        }

        $crate::__export_housekeeping_policy!(
            __ClioPolicyExport with_types_in $crate::policy_bindings
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{series_usage, store_usage};

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("10m"), Some(600_000));
        assert_eq!(parse_interval("30m"), Some(1_800_000));
        assert_eq!(parse_interval("1h"), Some(3_600_000));
        assert_eq!(parse_interval("1d"), Some(86_400_000));
        assert_eq!(parse_interval("90s"), Some(90_000));
        assert_eq!(parse_interval(" 2h "), Some(7_200_000));
        assert_eq!(parse_interval("3600000"), Some(3_600_000));
        assert_eq!(parse_interval("1"), Some(1));
        for bad in [
            "",
            "h",
            "0m",
            "0",
            "-1h",
            "+1h",
            "1.5h",
            "1H",
            "1w",
            "1 h",
            "1hh",
            "h1",
            "99999999999999999999",
            "106751991167301d",
        ] {
            assert_eq!(parse_interval(bad), None, "{bad:?}");
        }
        // The largest day count that fits.
        assert_eq!(
            parse_interval("106751991167d"),
            Some(106_751_991_167 * DAY_MS)
        );
    }

    #[test]
    fn keep_rule() {
        let now = 100 * DAY_MS;
        let st = store_usage(&[3_600_000, DAY_MS]);
        let d = keep_decision(&series_usage(None, 7, 30, Some(0)), &st, now);
        assert_eq!(d.raw_before, Some(93 * DAY_MS));
        assert_eq!(
            d.trends_before,
            vec![(3_600_000, 70 * DAY_MS), (DAY_MS, 70 * DAY_MS)]
        );
        let d = keep_decision(&series_usage(None, 0, 30, Some(0)), &st, now);
        assert_eq!(d.raw_before, Some(i64::MAX));
        let d = keep_decision(&series_usage(None, 7, 30, Some(93 * DAY_MS)), &st, now);
        assert_eq!(d.raw_before, None);
        let d = keep_decision(&series_usage(None, 7, 30, None), &store_usage(&[]), now);
        assert_eq!(d.raw_before, Some(93 * DAY_MS));
        assert!(d.trends_before.is_empty());
        assert!(!d.is_empty());
        assert!(Decision::default().is_empty());
        assert_eq!(days_before(i64::MIN + 5, 1), i64::MIN);
    }

    #[test]
    fn config_reads_and_names_keys() {
        let mut c = Config::parse(
            r#"{"n": 5, "s": "x", "tiers": [{"a": 1}, {"b": [1, 2]}], "m": {"1h": 3}, "z": null}"#,
        )
        .unwrap();
        assert_eq!(c.u64("n").unwrap(), Some(5));
        assert_eq!(c.u64("n").unwrap(), None); // taken
        assert_eq!(c.string("s").unwrap(), Some("x".to_owned()));
        let mut tiers = c.objects("tiers").unwrap().unwrap();
        assert_eq!(tiers.len(), 2);
        assert_eq!(tiers[0].u32("a").unwrap(), Some(1));
        tiers[0].clone().finish().unwrap();
        let e = tiers[1].clone().finish().unwrap_err();
        assert_eq!(e.to_string(), "bad argument `tiers[1].b`: unknown key");
        let e = tiers[1].u32("b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad argument `tiers[1].b`: expected a whole number from 0 to 4294967295, got a list"
        );
        let mut m = c.object("m").unwrap().unwrap();
        let entries = m.drain();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, "m.1h");
        assert_eq!(entries[0].1, "1h");
        assert_eq!(json_u32(&entries[0].0, &entries[0].2).unwrap(), 3);
        m.finish().unwrap();
        assert_eq!(c.take("z"), None); // null is absent
        c.finish().unwrap();
        assert_eq!(
            c_err(r#"{"n": -1}"#, "n"),
            "bad argument `n`: expected a whole number ≥ 0, got -1"
        );
        assert_eq!(
            c_err(r#"{"n": 1.5}"#, "n"),
            "bad argument `n`: expected a whole number ≥ 0, got 1.5"
        );
        assert_eq!(
            c_err(r#"{"n": "7"}"#, "n"),
            "bad argument `n`: expected a whole number ≥ 0, got \"7\""
        );
        assert_eq!(
            Config::parse("[1]").unwrap_err().to_string(),
            "bad argument `config`: expected an object, got a list"
        );
        assert!(
            Config::parse("{")
                .unwrap_err()
                .to_string()
                .starts_with("bad argument `config`: invalid JSON")
        );
        Config::parse("").unwrap().finish().unwrap();
        Config::parse(" {} ").unwrap().finish().unwrap();
        let mut c = Config::parse(r#"{"o": 3}"#).unwrap();
        assert_eq!(
            c.object("o").unwrap_err().to_string(),
            "bad argument `o`: expected an object, got a number"
        );
        assert_eq!(c.missing("max").to_string(), "bad argument `max`: missing");
    }

    fn c_err(json: &str, key: &str) -> String {
        let mut c = Config::parse(json).unwrap();
        c.u64(key).unwrap_err().to_string()
    }

    /// A policy that counts its configurations, to watch the instance's state machine.
    struct Days(u32);

    impl RetentionPolicy for Days {
        fn name() -> &'static str {
            "days"
        }
        fn version() -> &'static str {
            "1"
        }
        fn configure(config_json: &str) -> Result<Self> {
            let mut c = Config::parse(config_json)?;
            let d = c.u32("days")?.unwrap_or(1);
            c.finish()?;
            Ok(Days(d))
        }
        fn decide(&self, s: &SeriesUsage, _: &StoreUsage, now: Timestamp) -> Result<Decision> {
            Ok(Decision {
                raw_before: needs_cut(s, days_before(now, self.0)),
                trends_before: Vec::new(),
            })
        }
    }

    #[test]
    fn instance_configures_with_empty_object_and_remembers_failures() {
        let now = 10 * DAY_MS;
        let s = series_usage(None, 1, 1, None);
        let st = store_usage(&[]);
        let mut p = PolicyInstance::<Days>::new();
        assert_eq!(
            format!("{p:?}"),
            "PolicyInstance { state: \"unconfigured\" }"
        );
        assert_eq!(p.decide(&s, &st, now).unwrap().raw_before, Some(9 * DAY_MS));
        p.configure(r#"{"days": 3}"#).unwrap();
        assert_eq!(p.decide(&s, &st, now).unwrap().raw_before, Some(7 * DAY_MS));
        let e = p.configure(r#"{"dayz": 3}"#).unwrap_err();
        assert_eq!(e.to_string(), "bad argument `dayz`: unknown key");
        // No silent fallback to the previous or default configuration.
        assert_eq!(p.decide(&s, &st, now), Err(e));
        assert_eq!(format!("{p:?}"), "PolicyInstance { state: \"failed\" }");
    }
}
