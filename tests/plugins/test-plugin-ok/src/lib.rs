//! A small, well-behaved history function for the host's tests: `testavg`.
//!
//! `testavg(#N)` averages the N newest points; `testavg(<ms>)` averages `[now - ms, now)`;
//! `testavg(last)` returns the newest value as it is (number or string); `testavg(key)`
//! returns the series key; `testavg(bykey=<key>)` the id of the series with that key (or
//! none); `testavg(repeat=<import>,<n>)` makes one import `n` times and returns `n` (for
//! measuring what one import costs: `now`, `series-id`, `empty-read`, `one-read`,
//! `empty-columns`, `one-columns`). Anything else is a bad argument naming `num`.

#![allow(missing_docs, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    world: "history-function",
    path: "../../../wit",
});

use clio::plugin::history;
use clio::plugin::types::{Error, Value};
use exports::clio::plugin::function::{Descriptor, Guest, Param};

struct Component;

fn avg(nums: &[f64]) -> Value {
    if nums.is_empty() {
        return Value::None;
    }
    Value::Num(nums.iter().sum::<f64>() / nums.len() as f64)
}

impl Guest for Component {
    fn describe() -> Descriptor {
        Descriptor {
            name: "testavg".into(),
            description: "average of a window (test guest)".into(),
            version: "1.0.0".into(),
            params: vec![Param {
                name: "num".into(),
                description: "#N or a period in ms".into(),
                required: true,
            }],
        }
    }

    fn evaluate(params: Vec<String>) -> Result<Value, Error> {
        let now = history::now();
        let p0 = params.first().map(String::as_str).unwrap_or("");
        if p0 == "key" {
            return Ok(history::series().key.map_or(Value::None, Value::Str));
        }
        // Since contract 0.2.0: the id without the whole series-info.
        let id = history::series_id();
        if let Some(import) = p0.strip_prefix("repeat=") {
            let n: u64 = params
                .get(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::BadArgument("n".into()))?;
            for _ in 0..n {
                match import {
                    "now" => {
                        core::hint::black_box(history::now());
                    }
                    "series-id" => {
                        core::hint::black_box(history::series_id());
                    }
                    "empty-read" => {
                        core::hint::black_box(history::read_last(id, 0, 0, now)?);
                    }
                    "one-read" => {
                        core::hint::black_box(history::read_last(id, 1, 0, now)?);
                    }
                    // Since contract 0.2.1: the same reads answered as `columns`.
                    "empty-columns" => {
                        core::hint::black_box(history::read_last_columns(id, 0, 0, now)?);
                    }
                    "one-columns" => {
                        core::hint::black_box(history::read_last_columns(id, 1, 0, now)?);
                    }
                    _ => return Err(Error::BadArgument("import".into())),
                }
            }
            return Ok(Value::Num(n as f64));
        }
        if let Some(key) = p0.strip_prefix("bykey=") {
            // Since contract 0.2.0.
            return Ok(history::series_by_key(key).map_or(Value::None, |s| Value::Num(s.id as f64)));
        }
        if p0 == "last" {
            let p = history::read_last(id, 1, 0, now)?;
            if p.kinds.first() == Some(&1) {
                return Ok(p.strs.into_iter().next().map_or(Value::None, Value::Str));
            }
            return Ok(p.nums.first().map_or(Value::None, |v| Value::Num(*v)));
        }
        if let Some(n) = p0.strip_prefix('#') {
            let n: u64 = n.parse().map_err(|_| Error::BadArgument("num".into()))?;
            // The `columns` form (0.2.1), as the SDK reads; ranges below use `points`.
            let c = history::read_last_columns(id, n, 0, now)?;
            if c.truncated {
                return Err(Error::Failed("window truncated".into()));
            }
            return Ok(avg(&c.nums));
        }
        let ms: i64 = p0.parse().map_err(|_| Error::BadArgument("num".into()))?;
        let p = history::read_range(id, now - ms, now, u64::MAX)?;
        if p.truncated {
            return Err(Error::Failed("window truncated".into()));
        }
        Ok(avg(&p.nums))
    }
}

export!(Component);
