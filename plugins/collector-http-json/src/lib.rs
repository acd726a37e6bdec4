//! Collector `http-json`: polls URLs that answer JSON and maps JSON pointers (RFC 6901) to
//! series keys. Numbers, numeric strings and booleans (1/0) are written as numbers, other
//! strings as strings; a pointer with no value there is skipped and logged.
//!
//! Configuration:
//! - `urls`: a list of `{ url, series = { "<series key>" = "<JSON pointer>", ... },
//!   timestamp = "<pointer to ms since the epoch>" (optional) }`;
//! - `timeout_ms` (default 2000): per request.
//!
//! A run fails when every URL failed (so one unreachable or refused host is an error state);
//! when only some did, their failures are logged and the others' points written.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use clio_sdk::collector::{Sample, log_warn};
use clio_sdk::{Error, Result, http};

/// The instance's configuration.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    urls: Vec<Source>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

/// One polled URL.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    url: String,
    /// Series key → JSON pointer.
    series: BTreeMap<String, String>,
    #[serde(default)]
    timestamp: Option<String>,
}

fn default_timeout_ms() -> u64 {
    2000
}

/// The samples one document gives, and the pointers that were not there.
pub fn samples(src: &Source, doc: &clio_sdk::serde_json::Value) -> (Vec<Sample>, Vec<String>) {
    let ts = src
        .timestamp
        .as_deref()
        .and_then(|p| http::json_number(doc, p))
        .filter(|t| t.fract() == 0.0 && *t > 0.0 && *t < 1e15)
        .map(|t| t as i64);
    let mut out = Vec::with_capacity(src.series.len());
    let mut missing = Vec::new();
    for (key, pointer) in &src.series {
        match http::json_value(doc, pointer) {
            Some(value) => out.push(Sample {
                key: key.clone(),
                ts,
                value,
            }),
            None => missing.push(pointer.clone()),
        }
    }
    (out, missing)
}

/// One run: every URL once.
#[clio_sdk::collector(name = "http-json")]
pub fn collect(c: &Config, _now: i64) -> Result<Vec<Sample>> {
    if c.urls.is_empty() {
        return Err(clio_sdk::bad_argument("urls", "names no URL"));
    }
    let timeout = Duration::from_millis(c.timeout_ms.max(1));
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for src in &c.urls {
        let doc = match http::get(&src.url, timeout).and_then(|r| r.json()) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{}: {e}", src.url));
                continue;
            }
        };
        let (s, missing) = samples(src, &doc);
        if !missing.is_empty() {
            log_warn(&format!("{}: no value at {}", src.url, missing.join(", ")));
        }
        out.extend(s);
    }
    if errors.len() == c.urls.len() {
        return Err(Error::Failed(errors.join("; ")));
    }
    for e in &errors {
        log_warn(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clio_sdk::Value;
    use clio_sdk::collector::{Collector, parse_config};

    #[test]
    fn pointers_become_samples() {
        let c: Config = parse_config(
            r#"{"urls": [{"url": "http://h/x", "timestamp": "/ts",
                "series": {"room,site=a temp": "/t/0", "room,site=a state": "/s", "room gone": "/nope"}}]}"#,
        )
        .unwrap();
        let doc =
            clio_sdk::serde_json::json!({"ts": 1_700_000_000_000_i64, "t": [21.5], "s": "ok"});
        let (s, missing) = samples(&c.urls[0], &doc);
        assert_eq!(missing, ["/nope"]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].key, "room,site=a state");
        assert_eq!(s[0].value, Value::Str("ok".into()));
        assert_eq!(s[1].value, Value::Num(21.5));
        assert_eq!(s[1].ts, Some(1_700_000_000_000));
        // A timestamp that is not whole ms is ignored: the run's time is used.
        let doc = clio_sdk::serde_json::json!({"ts": 1.5, "t": [1]});
        assert_eq!(samples(&c.urls[0], &doc).0[0].ts, None);
    }

    #[test]
    fn configuration_is_checked() {
        assert!(__ClioCollector::configure(r#"{"urls": [{"url": "x"}]}"#).is_err());
        assert!(__ClioCollector::configure(r#"{"urls": [], "x": 1}"#).is_err());
        let mut none = __ClioCollector::configure(r#"{"urls": []}"#).unwrap();
        assert!(none.collect(0).is_err());
        // Natively there is no wasi:http: every URL fails, so the run does.
        let mut c = __ClioCollector::configure(
            r#"{"urls": [{"url": "http://127.0.0.1:1/", "series": {"m f": "/a"}}]}"#,
        )
        .unwrap();
        assert!(c.collect(0).is_err());
    }
}
