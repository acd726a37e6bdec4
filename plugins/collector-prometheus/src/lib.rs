//! Collector `prometheus`: scrapes a Prometheus text exposition (such as Clio's own
//! `/metrics`) and writes each sample as series `<name>,<label>=<value>,... value`: counters
//! and gauges as they are, histograms as their `_bucket` (with the `le` tag), `_sum` and
//! `_count` series. NaN and infinite values are skipped (Clio stores no NaN); lines that do
//! not parse are logged and skipped.
//!
//! Configuration:
//! - `url`: what to scrape (granted in `http_hosts`);
//! - `include` (optional): metric-name prefixes to keep (default: all);
//! - `exclude` (optional): metric-name prefixes to drop;
//! - `tags` (optional): extra tags for every series, e.g. `{ instance = "clio-1" }`;
//! - `timeout_ms` (default 2000).
#![deny(missing_docs)]

pub mod parse;

use std::collections::BTreeMap;
use std::time::Duration;

use clio_sdk::collector::{Sample, log_warn, series_key};
use clio_sdk::{Result, http};

/// The instance's configuration.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    url: String,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    2000
}

/// The samples of one exposition under `c`'s filters and tags.
pub fn samples(c: &Config, text: &str) -> Vec<Sample> {
    let (parsed, errors) = parse::parse(text);
    if let Some(first) = errors.first() {
        log_warn(&format!(
            "{}: {} line(s) skipped, first {first}",
            c.url,
            errors.len()
        ));
    }
    let wanted = |name: &str| {
        (c.include.is_empty() || c.include.iter().any(|p| name.starts_with(p.as_str())))
            && !c.exclude.iter().any(|p| name.starts_with(p.as_str()))
    };
    parsed
        .into_iter()
        .filter(|s| s.value.is_finite() && wanted(&s.name))
        .map(|s| {
            let tags = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                // Configured tags override a label of the same name.
                .filter(|(k, _)| !c.tags.contains_key(*k))
                .chain(c.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Sample {
                key: series_key(&s.name, tags, "value"),
                ts: s.ts,
                value: clio_sdk::Value::Num(s.value),
            }
        })
        .collect()
}

/// One scrape.
#[clio_sdk::collector(name = "prometheus")]
pub fn collect(c: &Config, _now: i64) -> Result<Vec<Sample>> {
    let resp = http::get(&c.url, Duration::from_millis(c.timeout_ms.max(1)))?;
    Ok(samples(c, resp.text()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clio_sdk::collector::parse_config;

    #[test]
    fn samples_become_series_with_labels_as_tags() {
        let c: Config = parse_config(
            r#"{"url": "http://h/metrics", "exclude": ["go_"], "tags": {"instance": "a b"}}"#,
        )
        .unwrap();
        let text = "# TYPE r counter\nr_total{path=\"/x,y\",instance=\"old\"} 5 1700000000000\n\
                    go_threads 8\nlat_bucket{le=\"+Inf\"} 3\nnan_metric NaN\nbroken{ 1\n";
        let s = samples(&c, text);
        let keys: Vec<&str> = s.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                r"r_total,path=/x\,y,instance=a\ b value",
                r"lat_bucket,le=+Inf,instance=a\ b value"
            ]
        );
        assert_eq!(s[0].ts, Some(1_700_000_000_000));
        assert_eq!(s[0].value, clio_sdk::Value::Num(5.0));
        let only: Config = parse_config(r#"{"url": "u", "include": ["lat"]}"#).unwrap();
        assert_eq!(samples(&only, text).len(), 1);
    }
}
