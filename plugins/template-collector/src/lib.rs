//! A collector in about 30 lines: reads one number from a JSON document over HTTP and writes
//! it to one series. Copy this crate to start your own (docs/plugins.md, "Collectors").
//!
//! ```toml
//! [[collectors]]
//! name = "room"
//! plugin = "json-value"
//! every = "10s"
//! http_hosts = ["127.0.0.1:8080"]      # what the instance may reach
//! [collectors.config]
//! url = "http://127.0.0.1:8080/status.json"
//! pointer = "/sensors/0/temperature"   # RFC 6901 JSON pointer
//! key = "room,site=a temperature"      # the series it is written to
//! ```
use std::time::Duration;

use clio_sdk::collector::Sample;
use clio_sdk::{Error, Result, http};

/// The instance's `[collectors.config]`, parsed once (unknown keys are errors).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    url: String,
    pointer: String,
    key: String,
}

/// One run: GET the document, take the value at the pointer.
#[clio_sdk::collector(name = "json-value")]
pub fn collect(c: &Config, _now: i64) -> Result<Vec<Sample>> {
    let doc = http::get(&c.url, Duration::from_secs(2))?.json()?;
    let v = http::json_number(&doc, &c.pointer)
        .ok_or_else(|| Error::Failed(format!("no number at {} in {}", c.pointer, c.url)))?;
    Ok(vec![Sample::num(&c.key, v)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::collector::Collector;

    #[test]
    fn configuration_is_checked() {
        let ok = r#"{"url": "http://h/", "pointer": "/a", "key": "m f"}"#;
        assert!(__ClioCollector::configure(ok).is_ok());
        assert!(__ClioCollector::configure(r#"{"url": "http://h/"}"#).is_err());
        // Natively there is no wasi:http: the run fails, it does not panic.
        let mut c = __ClioCollector::configure(ok).unwrap();
        assert!(c.collect(0).is_err());
    }
}
