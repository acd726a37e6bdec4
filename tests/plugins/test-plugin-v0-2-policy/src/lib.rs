//! A retention policy built against the frozen contract `clio:plugin@0.2.0`
//! (`wit/compat/0.2.0`): `compat02policy` cuts raw points and every trend interval
//! `raw_days` days (configuration `{"raw_days": D}`, default 1) before the run's time. The
//! host must keep serving it after the contract grew to 0.2.1.

#![allow(missing_docs, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    world: "housekeeping-policy",
    path: "../../../wit/compat/0.2.0",
});

use std::cell::Cell;

use clio::plugin::types::{Error, Timestamp};
use exports::clio::plugin::policy::{Decision, Guest, SeriesUsage, StoreUsage};

struct Component;

thread_local! {
    static DAYS: Cell<i64> = const { Cell::new(1) };
}

impl Guest for Component {
    fn name() -> String {
        "compat02policy".into()
    }

    fn configure(config_json: String) -> Result<(), Error> {
        // `{"raw_days": D}` or `{}`: enough JSON for a fixture.
        let days = match config_json.split_once("\"raw_days\"") {
            None => 1,
            Some((_, rest)) => rest
                .trim_start()
                .trim_start_matches(':')
                .trim()
                .trim_end_matches('}')
                .trim()
                .parse()
                .map_err(|_| Error::BadArgument("raw_days".into()))?,
        };
        DAYS.with(|d| d.set(days));
        Ok(())
    }

    fn decide(_series: SeriesUsage, store: StoreUsage, now: Timestamp) -> Result<Decision, Error> {
        let cut = now - DAYS.with(Cell::get) * 86_400_000;
        Ok(Decision {
            raw_before: Some(cut),
            trends_before: store.trend_intervals.iter().map(|&i| (i, cut)).collect(),
        })
    }
}

export!(Component);
