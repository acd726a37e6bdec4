//! The guest SDK for Clio's WebAssembly plugins. It hides WIT: a history function is an
//! ordinary Rust function over the [`History`] trait, marked with
//! [`#[history_function]`](history_function), and the macro generates the component glue.
//!
//! ```
//! use clio_sdk::{Args, History, Result, Value};
//!
//! /// Mean of the numeric values in the window.
//! #[clio_sdk::history_function(
//!     name = "avg",
//!     description = "Mean of the numeric values",
//!     params = ["num: #N, a duration or a timestamp", "shift?: how far back the window ends"],
//! )]
//! fn avg(h: &dyn History, args: &Args) -> Result<Option<Value>> {
//!     let Some(points) = args.window(0, 1)?.fetch(h)? else {
//!         return Ok(None); // a strict window that is not well covered
//!     };
//!     let v = points.numbers();
//!     Ok((!v.is_empty()).then(|| Value::Num(v.iter().sum::<f64>() / v.len() as f64)))
//! }
//!
//! // Natively testable against an in-memory history:
//! use clio_sdk::testing::{MemHistory, num};
//! let h = MemHistory::new(10_000).with_points([(1_000, 1.0), (2_000, 3.0)]);
//! assert_eq!(num(avg, &h, "#2"), Some(2.0));
//! assert_eq!(DESCRIPTOR.name, "avg");
//! ```
//!
//! Built with `cargo build --target wasm32-wasip2 --release`, the crate (a `cdylib`) becomes a
//! component of the `history-function` world in `wit/`.
//!
//! Retention policies (world `housekeeping-policy`) are written the same way: a type
//! implementing [`policy::RetentionPolicy`], exported with [`export_policy!`].
#![deny(missing_docs)]

mod args;
pub mod builtin_bodies;
pub mod collector;
mod error;
mod history;
pub mod http;
mod key;
pub mod modbus;
mod points;
pub mod policy;
pub mod stats;
pub mod testing;
mod value;
mod window;

pub use args::Args;
pub use clio_sdk_macro::{collector, history_function};
pub use error::{Error, Result, bad_argument};
pub use history::{History, SeriesInfo, Trends};
pub use key::{SeriesKey, parse_series_key};
pub use points::{Iter, Numeric, Points, Timestamp};
/// serde, for collectors' typed configuration (`#[serde(crate = "clio_sdk::serde")]`).
pub use serde;
/// serde_json, for policies that read their configuration beyond [`policy::Config`].
pub use serde_json;
pub use value::{Value, ValueRef, format_number, parse_number};
pub use window::{
    CHUNK, Coverage, Span, TIMESTAMP_THRESHOLD, Term, Window, count_well_covered, parse_duration,
    parse_iso8601, parse_term, time_well_covered,
};
/// wit-bindgen, for plugins that want to reach the raw bindings.
pub use wit_bindgen;

/// The former name of [`builtin_bodies`], kept so that `clio_sdk::shared::…` still resolves.
pub use builtin_bodies as shared;

/// A function's self-description, as `GET /api/v1/functions` lists it. The macro emits one
/// as `DESCRIPTOR` next to the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The name callers use (`avg`, `timeLeft`).
    pub name: &'static str,
    /// One line for humans.
    pub description: &'static str,
    /// The plugin's version (its crate version).
    pub version: &'static str,
    /// The parameters, in order.
    pub params: &'static [ParamInfo],
}

/// One parameter of a [`FunctionInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo {
    /// Its name (`num`, `shift`, ...).
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// False when it may be left empty.
    pub required: bool,
}

/// The host's output rule: NaN and infinities never leave a plugin; they become "no data".
pub(crate) fn finite(v: Value) -> Option<Value> {
    match v {
        Value::Num(x) if !x.is_finite() => None,
        other => Some(other),
    }
}

/// The generated WIT bindings of the `history-function` world. Plugins normally never touch
/// these; the macro wires them up.
#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "history-function",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_history_function",
        default_bindings_module: "::clio_sdk::bindings",
    });
}

/// The export macro wit-bindgen generated, re-exported where the attribute macro finds it.
#[doc(hidden)]
pub use bindings::__export_history_function;

/// The generated WIT bindings of the `housekeeping-policy` world, sharing the `types` of
/// [`bindings`] so one SDK build serves both worlds. [`export_policy!`] wires them up.
///
/// Each `generate!` with `pub_export_macro` puts only its world's imports in the library's
/// custom section; the exports are described by the export macro where a plugin expands it.
/// So a policy plugin does not have to export `function`, nor a function plugin `policy`.
#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod policy_bindings {
    wit_bindgen::generate!({
        world: "housekeeping-policy",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_housekeeping_policy",
        default_bindings_module: "::clio_sdk::policy_bindings",
        with: {
            "clio:plugin/types@0.2.2": crate::bindings::clio::plugin::types,
        },
    });
}

/// The generated WIT bindings of the `collector-plugin` world, sharing the `types` of
/// [`bindings`]. [`export_collector!`] wires them up.
#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod collector_bindings {
    wit_bindgen::generate!({
        world: "collector-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_collector_plugin",
        default_bindings_module: "::clio_sdk::collector_bindings",
        with: {
            "clio:plugin/types@0.2.2": crate::bindings::clio::plugin::types,
        },
    });
}

/// The collector world's export macro, where [`export_collector!`] finds it.
#[doc(hidden)]
pub use collector_bindings::__export_collector_plugin;

/// The policy world's export macro, where [`export_policy!`] finds it.
#[doc(hidden)]
pub use policy_bindings::__export_housekeeping_policy;

/// Glue [`export_policy!`] expands to; not a stable API.
#[doc(hidden)]
pub mod __private_policy {
    use std::cell::RefCell;

    use crate::bindings::clio::plugin::types as wt;
    use crate::policy::{PolicyInstance, RetentionPolicy, SeriesUsage, StoreUsage};
    pub use crate::policy_bindings::exports::clio::plugin::policy::{
        Decision as WitDecision, Guest, SeriesUsage as WitSeriesUsage, StoreUsage as WitStoreUsage,
    };
    use crate::{Error, Timestamp};

    /// The WIT error type.
    pub type WitError = wt::Error;

    /// `name` of the export.
    pub fn name<P: RetentionPolicy>() -> String {
        P::name().to_owned()
    }

    /// `configure` of the export.
    pub fn configure<P: RetentionPolicy>(
        slot: &RefCell<PolicyInstance<P>>,
        config_json: &str,
    ) -> Result<(), WitError> {
        // A component instance is single-threaded and never re-enters an export, so the
        // borrow always succeeds; an error beats a panic if that ever changes.
        let mut p = slot.try_borrow_mut().map_err(busy)?;
        p.configure(config_json)
            .map_err(crate::__private::to_wit_error)
    }

    /// `decide` of the export.
    pub fn decide<P: RetentionPolicy>(
        slot: &RefCell<PolicyInstance<P>>,
        series: WitSeriesUsage,
        store: WitStoreUsage,
        now: Timestamp,
    ) -> Result<WitDecision, WitError> {
        let mut p = slot.try_borrow_mut().map_err(busy)?;
        let series = SeriesUsage {
            info: crate::__private::from_wit_info(series.info),
            points: series.points,
            bytes: series.bytes,
            first_ts: series.first_ts,
            last_ts: series.last_ts,
        };
        let store = StoreUsage {
            series: store.series,
            bytes: store.bytes,
            points: store.points,
            first_ts: store.first_ts,
            last_ts: store.last_ts,
            bytes_by_day: store.bytes_by_day,
            trend_intervals: store.trend_intervals,
        };
        let d = p
            .decide(&series, &store, now)
            .map_err(crate::__private::to_wit_error)?;
        Ok(WitDecision {
            raw_before: d.raw_before,
            trends_before: d.trends_before,
        })
    }

    fn busy(_: std::cell::BorrowMutError) -> WitError {
        crate::__private::to_wit_error(Error::Failed("policy instance re-entered".into()))
    }
}

/// Glue [`export_collector!`] expands to; not a stable API.
#[doc(hidden)]
pub mod __private_collector {
    use std::cell::RefCell;

    use crate::bindings::clio::plugin::types as wt;
    use crate::collector::{Collector, CollectorInstance};
    pub use crate::collector_bindings::exports::clio::plugin::collector::{
        Guest, Sample as WitSample,
    };
    use crate::{Error, Value};

    /// The WIT error type.
    pub type WitError = wt::Error;

    fn busy<T>(_: T) -> WitError {
        crate::__private::to_wit_error(Error::Failed("collector instance re-entered".into()))
    }

    /// `configure` of the export.
    pub fn configure<C: Collector>(
        slot: &RefCell<CollectorInstance<C>>,
        config_json: &str,
    ) -> Result<(), WitError> {
        let mut s = slot.try_borrow_mut().map_err(busy)?;
        s.0 = Some(C::configure(config_json).map_err(crate::__private::to_wit_error)?);
        Ok(())
    }

    /// `collect` of the export.
    pub fn collect<C: Collector>(
        slot: &RefCell<CollectorInstance<C>>,
        now: i64,
    ) -> Result<Vec<WitSample>, WitError> {
        let mut s = slot.try_borrow_mut().map_err(busy)?;
        let c = s.0.as_mut().ok_or_else(|| {
            crate::__private::to_wit_error(Error::Failed("collect before configure".into()))
        })?;
        let samples = c.collect(now).map_err(crate::__private::to_wit_error)?;
        Ok(samples
            .into_iter()
            .map(|x| {
                let (num, str) = match x.value {
                    Value::Num(v) => (Some(v), None),
                    Value::Str(t) => (None, Some(t)),
                };
                WitSample {
                    key: x.key,
                    ts: x.ts,
                    num,
                    str,
                }
            })
            .collect())
    }
}

/// Glue the macro expands to; not a stable API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::clio::plugin::history as wit;
    use crate::bindings::clio::plugin::types as wt;
    pub use crate::bindings::exports::clio::plugin::function::{Descriptor, Guest, Param};
    use crate::{
        Args, Error, FunctionInfo, History, Points, Result, SeriesInfo, Timestamp, Trends, Value,
    };

    /// [`History`] over the host's `history` import.
    #[derive(Debug, Clone, Copy)]
    pub struct HostHistory;

    fn from_wit_error(e: wt::Error) -> Error {
        match e {
            wt::Error::BadArgument(s) => Error::BadArgument {
                name: String::new(),
                why: s,
            },
            wt::Error::NotFound(s) => Error::NotFound(s),
            wt::Error::Failed(s) => Error::Failed(s),
        }
    }

    fn from_wit_columns(c: wt::Columns) -> Result<Points> {
        let (kinds, strs) = c
            .strings
            .map_or_else(Default::default, |s| (s.kinds, s.strs));
        Points::from_columns(c.ts, c.nums, strs, kinds, c.truncated)
    }

    pub(crate) fn from_wit_info(i: wt::SeriesInfo) -> SeriesInfo {
        SeriesInfo {
            id: i.id,
            key: i.key,
            keep_history_days: i.keep_history_days,
            keep_trends_days: i.keep_trends_days,
            metadata: i.metadata,
        }
    }

    impl History for HostHistory {
        fn now(&self) -> Timestamp {
            wit::now()
        }

        fn series(&self) -> SeriesInfo {
            from_wit_info(wit::series())
        }

        fn series_id(&self) -> u64 {
            wit::series_id()
        }

        fn series_by_id(&self, id: u64) -> Option<SeriesInfo> {
            wit::series_by_id(id).map(from_wit_info)
        }

        fn series_by_key(&self, key: &str) -> Option<SeriesInfo> {
            wit::series_by_key(key).map(from_wit_info)
        }

        fn read_last(&self, series: u64, n: u64, skip: u64, before: Timestamp) -> Result<Points> {
            // The `columns` form: a window of numbers crosses as two lists, not four.
            from_wit_columns(
                wit::read_last_columns(series, n, skip, before).map_err(from_wit_error)?,
            )
        }

        fn read_range(
            &self,
            series: u64,
            from: Timestamp,
            to: Timestamp,
            limit: u64,
        ) -> Result<Points> {
            from_wit_columns(
                wit::read_range_columns(series, from, to, limit).map_err(from_wit_error)?,
            )
        }

        fn read_trends(
            &self,
            series: u64,
            interval_ms: i64,
            from: Timestamp,
            to: Timestamp,
        ) -> Result<Trends> {
            let t = wit::read_trends(series, interval_ms, from, to).map_err(from_wit_error)?;
            Ok(Trends {
                interval_ms: t.interval_ms,
                start: t.start,
                count: t.count,
                sum: t.sum,
                sum_sq: t.sum_sq,
                min: t.min,
                max: t.max,
                first: t.first,
                last: t.last,
            })
        }
    }

    /// `describe` of the export.
    pub fn describe(info: &FunctionInfo) -> Descriptor {
        Descriptor {
            name: info.name.to_owned(),
            description: info.description.to_owned(),
            version: info.version.to_owned(),
            params: info
                .params
                .iter()
                .map(|p| Param {
                    name: p.name.to_owned(),
                    description: p.description.to_owned(),
                    required: p.required,
                })
                .collect(),
        }
    }

    /// `evaluate` of the export: runs the body on the host's history and converts the result.
    pub fn evaluate(
        body: crate::testing::FunctionBody,
        params: Vec<String>,
    ) -> core::result::Result<wt::Value, wt::Error> {
        match body(&HostHistory, &Args::new(params)) {
            Ok(v) => Ok(match v.and_then(crate::finite) {
                None => wt::Value::None,
                Some(Value::Num(x)) => wt::Value::Num(x),
                Some(Value::Str(s)) => wt::Value::Str(s),
            }),
            Err(e) => Err(to_wit_error(e)),
        }
    }

    /// An SDK error as the WIT error; a `BadArgument` becomes `"name: why"`.
    pub(crate) fn to_wit_error(e: Error) -> wt::Error {
        match e {
            Error::BadArgument { name, why } if name.is_empty() => wt::Error::BadArgument(why),
            Error::BadArgument { name, why } => wt::Error::BadArgument(format!("{name}: {why}")),
            Error::NotFound(s) => wt::Error::NotFound(s),
            Error::Failed(s) => wt::Error::Failed(s),
        }
    }
}
