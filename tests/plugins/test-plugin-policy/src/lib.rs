//! A retention policy for the host's tests: `testpolicy`.
//!
//! Configuration `{"mode": M, "raw_days": D}`: mode `ok` (default) cuts raw points older
//! than D days and every trend interval at the same time; `fail` returns an error from
//! `decide`; `fail-config` rejects the configuration; `loop` never returns; `trap` panics;
//! `bad-interval` names a trend interval the store does not keep; `fail-on-id=K` fails only
//! for series K (after the others were decided).

#![allow(missing_docs, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    world: "housekeeping-policy",
    path: "../../../wit",
});

use std::cell::RefCell;

use clio::plugin::types::{Error, Timestamp};
use exports::clio::plugin::policy::{Decision, Guest, SeriesUsage, StoreUsage};

struct Component;

thread_local! {
    static CONFIG: RefCell<(String, i64)> = RefCell::new(("ok".into(), 1));
}

/// The value of `"key": ...` in a flat JSON object (enough for a test guest).
fn field(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_matches('"').to_string())
}

impl Guest for Component {
    fn name() -> String {
        "testpolicy".into()
    }

    fn configure(config_json: String) -> Result<(), Error> {
        let mode = field(&config_json, "mode").unwrap_or_else(|| "ok".into());
        if mode == "fail-config" {
            return Err(Error::BadArgument("mode: fail-config".into()));
        }
        let days = match field(&config_json, "raw_days") {
            None => 1,
            Some(d) => d
                .parse()
                .map_err(|_| Error::BadArgument("raw_days".into()))?,
        };
        CONFIG.with(|c| *c.borrow_mut() = (mode, days));
        Ok(())
    }

    fn decide(series: SeriesUsage, store: StoreUsage, now: Timestamp) -> Result<Decision, Error> {
        let (mode, days) = CONFIG.with(|c| c.borrow().clone());
        let cut = now - days * 86_400_000;
        match mode.as_str() {
            "fail" => return Err(Error::Failed("told to fail".into())),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "trap" => panic!("told to trap"),
            "bad-interval" => {
                return Ok(Decision {
                    raw_before: Some(cut),
                    trends_before: vec![(12_345, cut)],
                });
            }
            m if m
                .strip_prefix("fail-on-id=")
                .is_some_and(|id| id.parse() == Ok(series.info.id)) =>
            {
                return Err(Error::Failed(format!("told to fail on {}", series.info.id)));
            }
            _ => {}
        }
        Ok(Decision {
            raw_before: Some(cut),
            trends_before: store.trend_intervals.iter().map(|&i| (i, cut)).collect(),
        })
    }
}

export!(Component);
