//! A misbehaving history function for the host's sandbox tests: `hostile(<mode>[, arg])`.
//!
//! Modes: `loop` (spins forever), `bomb` (allocates until refused), `recurse` (unbounded
//! recursion), `trap` (wasm `unreachable`), `panic`, `huge,<bytes>` (returns a string of that
//! many bytes), `imports` (calls a host import in a tight loop forever), `spam` (writes to
//! stdout/stderr forever), `ok` (answers 42).

#![allow(missing_docs, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    world: "history-function",
    path: "../../../wit",
});

use clio::plugin::history;
use clio::plugin::types::{Error, Value};
use exports::clio::plugin::function::{Descriptor, Guest};

struct Component;

#[inline(never)]
#[allow(unconditional_recursion)] // the point of this mode
fn recurse(depth: u64, acc: &mut [u64; 16]) -> u64 {
    acc[(depth % 16) as usize] = depth;
    // Keep the frame alive after the call so it is not turned into a loop.
    recurse(depth + 1, acc) + std::hint::black_box(acc[0])
}

impl Guest for Component {
    fn describe() -> Descriptor {
        Descriptor {
            name: "hostile".into(),
            description: "misbehaves on request (test guest)".into(),
            version: "0.0.1".into(),
            params: vec![],
        }
    }

    fn evaluate(params: Vec<String>) -> Result<Value, Error> {
        let mode = params.first().map(String::as_str).unwrap_or("");
        match mode {
            "ok" => Ok(Value::Num(42.0)),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                loop {
                    keep.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&keep);
                }
            }
            "recurse" => {
                let mut acc = [0u64; 16];
                Ok(Value::Num(recurse(0, &mut acc) as f64))
            }
            "trap" => {
                #[cfg(target_arch = "wasm32")]
                core::arch::wasm32::unreachable();
                #[cfg(not(target_arch = "wasm32"))]
                Err(Error::Failed("not wasm".into()))
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "huge" => {
                let n: usize = params
                    .get(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| Error::BadArgument("size".into()))?;
                Ok(Value::Str("x".repeat(n)))
            }
            "imports" => {
                let id = history::series().id;
                let mut total = 0u64;
                loop {
                    let p = history::read_last(id, 1, 0, history::now())?;
                    total = std::hint::black_box(total + p.ts.len() as u64);
                }
            }
            "spam" => loop {
                println!("spam spam spam spam spam spam spam spam");
                eprintln!("more spam on stderr");
            },
            _ => Err(Error::BadArgument("mode".into())),
        }
    }
}

export!(Component);
