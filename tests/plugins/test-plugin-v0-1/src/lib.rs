//! A history function built against the frozen contract `clio:plugin@0.1.0`
//! (`wit/compat/0.1.0`), as a plugin compiled before the contract grew would be: the host
//! must keep serving it unchanged.
//!
//! `compat01(#N)` averages the N newest points; `compat01(key)` returns the series key.

#![allow(missing_docs, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    world: "history-function",
    path: "../../../wit/compat/0.1.0",
});

use clio::plugin::history;
use clio::plugin::types::{Error, Value};
use exports::clio::plugin::function::{Descriptor, Guest, Param};

struct Component;

impl Guest for Component {
    fn describe() -> Descriptor {
        Descriptor {
            name: "compat01".into(),
            description: "average of the N newest points (built against contract 0.1.0)".into(),
            version: "0.1.0-fixture".into(),
            params: vec![Param {
                name: "num".into(),
                description: "#N, or `key`".into(),
                required: true,
            }],
        }
    }

    fn evaluate(params: Vec<String>) -> Result<Value, Error> {
        let me = history::series();
        let p0 = params.first().map(String::as_str).unwrap_or("");
        if p0 == "key" {
            return Ok(me.key.map_or(Value::None, Value::Str));
        }
        let n: u64 = p0
            .strip_prefix('#')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::BadArgument("num".into()))?;
        let p = history::read_last(me.id, n, 0, history::now())?;
        if p.nums.is_empty() {
            return Ok(Value::None);
        }
        Ok(Value::Num(p.nums.iter().sum::<f64>() / p.nums.len() as f64))
    }
}

export!(Component);
