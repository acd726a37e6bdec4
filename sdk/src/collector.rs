//! Collectors: plugins of the `collector-plugin` world that the host runs on a schedule
//! (`[[collectors]]`) and whose samples it writes.
//!
//! A collector is a type implementing [`Collector`], exported with
//! [`export_collector!`](crate::export_collector). The host calls `configure` once per
//! instance with the instance's `[collectors.config]` table as JSON, then `collect` on every
//! run. The instance is kept between runs (state and connections survive), and is made anew
//! after a trap or a plugin reload.

use crate::error::Result;
use crate::points::Timestamp;
use crate::value::Value;

/// One point to write, addressed by its line-protocol key (`measurement,tag=v field`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series key.
    pub key: String,
    /// Its time in ms; `None` = the run's time.
    pub ts: Option<Timestamp>,
    /// The value.
    pub value: Value,
}

impl Sample {
    /// A number at the run's time.
    pub fn num(key: impl Into<String>, v: f64) -> Sample {
        Sample {
            key: key.into(),
            ts: None,
            value: Value::Num(v),
        }
    }

    /// A string at the run's time.
    pub fn str(key: impl Into<String>, v: impl Into<String>) -> Sample {
        Sample {
            key: key.into(),
            ts: None,
            value: Value::Str(v.into()),
        }
    }
}

/// A collector, in plain Rust.
pub trait Collector: Sized + 'static {
    /// The plugin's name (what `[[collectors]] plugin` names).
    fn name() -> &'static str;
    /// Builds the instance from its configuration (a JSON object); a bad key is a
    /// `bad-argument` naming it.
    fn configure(config_json: &str) -> Result<Self>;
    /// Collects once at `now` (ms).
    fn collect(&mut self, now: Timestamp) -> Result<Vec<Sample>>;
}

/// The instance slot [`export_collector!`](crate::export_collector) keeps.
#[derive(Debug)]
pub struct CollectorInstance<C>(pub(crate) Option<C>);

impl<C: Collector> CollectorInstance<C> {
    /// Empty until configured.
    pub const fn new() -> Self {
        CollectorInstance(None)
    }
}

impl<C: Collector> Default for CollectorInstance<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// Exports a [`Collector`] as the component's `collector` interface.
#[macro_export]
macro_rules! export_collector {
    ($collector:ty) => {
        ::std::thread_local! {
            static __CLIO_COLLECTOR_INSTANCE: ::core::cell::RefCell<
                $crate::collector::CollectorInstance<$collector>,
            > = const { ::core::cell::RefCell::new($crate::collector::CollectorInstance::new()) };
        }

        #[doc(hidden)]
        #[derive(Debug)]
        pub struct __ClioCollectorExport;

        impl $crate::__private_collector::Guest for __ClioCollectorExport {
            fn name() -> ::std::string::String {
                <$collector as $crate::collector::Collector>::name().to_owned()
            }

            fn configure(
                config_json: ::std::string::String,
            ) -> ::core::result::Result<(), $crate::__private_collector::WitError> {
                __CLIO_COLLECTOR_INSTANCE
                    .with(|c| $crate::__private_collector::configure(c, &config_json))
            }

            fn collect(
                now: i64,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::__private_collector::WitSample>,
                $crate::__private_collector::WitError,
            > {
                __CLIO_COLLECTOR_INSTANCE.with(|c| $crate::__private_collector::collect(c, now))
            }
        }

        $crate::__export_collector_plugin!(
            __ClioCollectorExport with_types_in $crate::collector_bindings
        );
    };
}

/// Writes a line to the host's log (at most 100 per run), tagged with the instance name.
/// Outside a collector component (native tests) it does nothing.
pub fn log_info(message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::collector_bindings::clio::plugin::collector_host::log(
        crate::collector_bindings::clio::plugin::collector_host::LogLevel::Info,
        message,
    );
    #[cfg(not(target_arch = "wasm32"))]
    let _ = message;
}

/// Writes a warning to the host's log (at most 100 lines per run), tagged with the instance
/// name: for a partial failure that does not fail the run. Natively it does nothing.
pub fn log_warn(message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::collector_bindings::clio::plugin::collector_host::log(
        crate::collector_bindings::clio::plugin::collector_host::LogLevel::Warn,
        message,
    );
    #[cfg(not(target_arch = "wasm32"))]
    let _ = message;
}

/// A deterministic pseudo-random number in `[-1, 1)` from a seed and coordinates
/// (splitmix64), for simulators that must give the same values for the same time.
pub fn noise(seed: u64, parts: &[u64]) -> f64 {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    for p in parts {
        x = x.wrapping_add(*p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
    }
    (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// A series key (`measurement,tag=v field`) from its parts, escaping `,`, `=`, space and `\`
/// as the host's key parser expects. Tags with an empty name or value are left out.
///
/// ```
/// use clio_sdk::collector::series_key;
/// let k = series_key("http req", [("path", "/a,b"), ("empty", "")], "value");
/// assert_eq!(k, r"http\ req,path=/a\,b value");
/// ```
pub fn series_key<'a>(
    measurement: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    field: &str,
) -> String {
    fn push(out: &mut String, s: &str) {
        for c in s.chars() {
            if matches!(c, ',' | ' ' | '=' | '\\') {
                out.push('\\');
            }
            // A key is one line: control characters become spaces (escaped like one).
            if c.is_control() {
                out.push_str("\\ ");
            } else {
                out.push(c);
            }
        }
    }
    let mut out = String::with_capacity(measurement.len() + field.len() + 16);
    push(&mut out, measurement);
    for (k, v) in tags {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        out.push(',');
        push(&mut out, k);
        out.push('=');
        push(&mut out, v);
    }
    out.push(' ');
    push(&mut out, field);
    out
}

/// Parses a collector's configuration (the instance's `[collectors.config]` table as JSON)
/// into its typed form. A serde error becomes a `bad-argument` naming the key where serde
/// names one (`unknown field`, `missing field`, or a wrong type at a key).
pub fn parse_config<C: serde::de::DeserializeOwned>(config_json: &str) -> Result<C> {
    let text = if config_json.trim().is_empty() {
        "{}"
    } else {
        config_json
    };
    serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_json's messages name the key in backquotes: "unknown field `linez`, expected ...".
        let key = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
            .unwrap_or("config")
            .to_string();
        crate::error::bad_argument(key, msg)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::Error;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        url: String,
        #[serde(default)]
        n: u32,
    }

    #[test]
    fn typed_configuration() {
        let c: Cfg = parse_config(r#"{"url": "http://h/"}"#).unwrap();
        assert_eq!(
            c,
            Cfg {
                url: "http://h/".into(),
                n: 0
            }
        );
        let bad = |json: &str| match parse_config::<Cfg>(json).unwrap_err() {
            Error::BadArgument { name, .. } => name,
            e => panic!("{e}"),
        };
        assert_eq!(bad(r#"{"url": "x", "nn": 1}"#), "nn");
        assert_eq!(bad("{}"), "url");
        assert_eq!(bad(""), "url");
        assert_eq!(bad(r#"{"url": 5}"#), "config");
    }
}
