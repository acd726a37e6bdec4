//! A hostile collector for the host's tests: `{"mode": "trap"}` panics, `"hang"` loops
//! forever, `"tcp"` connects to `addr` (granted or not) and writes the outcome as a string.
#![allow(missing_docs)]

use clio_sdk::collector::{Collector, Sample};
use clio_sdk::policy::Config;
use clio_sdk::{Error, Result};

#[derive(Debug)]
pub struct Hostile {
    mode: String,
    addr: String,
}

impl Collector for Hostile {
    fn name() -> &'static str {
        "hostile"
    }

    fn configure(config_json: &str) -> Result<Self> {
        let mut c = Config::parse(config_json)?;
        let mode = c.string("mode")?.unwrap_or_default();
        let addr = c.string("addr")?.unwrap_or_default();
        c.finish()?;
        Ok(Hostile { mode, addr })
    }

    fn collect(&mut self, _now: i64) -> Result<Vec<Sample>> {
        match self.mode.as_str() {
            "trap" => panic!("hostile collector trapped on purpose"),
            "hang" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "tcp" => match std::net::TcpStream::connect(self.addr.as_str()) {
                Ok(_) => Ok(vec![Sample::str("hostile tcp", "connected")]),
                Err(e) => Err(Error::Failed(format!("connect {}: {e}", self.addr))),
            },
            _ => Ok(vec![Sample::num("hostile ok", 1.0)]),
        }
    }
}

clio_sdk::export_collector!(Hostile);
