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
