//! A history function built against the frozen contract `clio:plugin@0.2.0`
//! (`wit/compat/0.2.0`), as a plugin compiled before 0.2.1 added the `columns` reads would
//! be: the host must keep serving it unchanged (its imports of `history@0.2.0` resolve to
//! the host's 0.2.1 definitions, its `function@0.2.0` export is found by the 0.2.1 lookup).
//!
//! `compat02(#N)` averages the N newest points (through `series-id` and `read-last`);
//! `compat02(key)` returns the series key (through `series-by-key`'s round trip).

#![allow(missing_docs, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    world: "history-function",
    path: "../../../wit/compat/0.2.0",
});

use clio::plugin::history;
use clio::plugin::types::{Error, Value};
use exports::clio::plugin::function::{Descriptor, Guest, Param};

struct Component;

impl Guest for Component {
    fn describe() -> Descriptor {
        Descriptor {
            name: "compat02".into(),
            description: "average of the N newest points (built against contract 0.2.0)".into(),
            version: "0.2.0-fixture".into(),
            params: vec![Param {
                name: "num".into(),
                description: "#N, or `key`".into(),
                required: true,
            }],
        }
    }

    fn evaluate(params: Vec<String>) -> Result<Value, Error> {
        let p0 = params.first().map(String::as_str).unwrap_or("");
        if p0 == "key" {
            // 0.2.0's `series-by-key`, fed the key `series` reports: the same series back.
            let Some(key) = history::series().key else {
                return Ok(Value::None);
            };
            return Ok(history::series_by_key(&key)
                .map_or(Value::None, |s| Value::Str(s.key.unwrap_or_default())));
        }
        let n: u64 = p0
            .strip_prefix('#')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::BadArgument("num".into()))?;
        let p = history::read_last(history::series_id(), n, 0, history::now())?;
        if p.nums.is_empty() {
            return Ok(Value::None);
        }
        Ok(Value::Num(p.nums.iter().sum::<f64>() / p.nums.len() as f64))
    }
}

export!(Component);
