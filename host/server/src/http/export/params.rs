//! The parameters of `GET /api/v1/export`, checked before the first byte is sent: every
//! mistake is a 400 whose message starts with the parameter's name.

use clio_storage::{SeriesFilter, SeriesId, SeriesKey, Timestamp, TrendBucket};

use crate::error::ApiError;

/// The body's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `series,key,ts,value` (RFC 4180 quoting), a header line first.
    Csv,
    /// InfluxDB line protocol.
    Lp,
}

/// How one bucket of a `step` is summed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Agg {
    Avg,
    Min,
    Max,
    First,
    Last,
    Sum,
    Count,
}

impl Agg {
    fn parse(s: &str) -> Result<Agg, ApiError> {
        Ok(match s {
            "avg" | "mean" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "first" => Agg::First,
            "last" => Agg::Last,
            "sum" => Agg::Sum,
            "count" => Agg::Count,
            other => {
                return Err(ApiError::bad(format!(
                    "agg: `{other}` is not an aggregate (expected avg, min, max, first, last, sum, count)"
                )));
            }
        })
    }

    /// The name, as the CSV header's value column.
    pub(super) fn name(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::First => "first",
            Agg::Last => "last",
            Agg::Sum => "sum",
            Agg::Count => "count",
        }
    }

    /// The aggregate of a bucket holding at least one value.
    pub(super) fn of(self, b: &TrendBucket) -> f64 {
        match self {
            Agg::Avg => b.sum / b.count as f64,
            Agg::Min => b.min,
            Agg::Max => b.max,
            Agg::First => b.first,
            Agg::Last => b.last,
            Agg::Sum => b.sum,
            Agg::Count => b.count as f64,
        }
    }
}

/// The series an export names or selects, before the scope and catalog are asked.
#[derive(Debug, Default)]
pub(super) struct Selection {
    /// `series=1,2,3` (repeatable).
    pub ids: Vec<SeriesId>,
    /// `key=<key>` (repeatable; a key holds commas, so one per parameter).
    pub keys: Vec<SeriesKey>,
    /// `sensor=<sensor_id or row id>` (repeatable).
    pub sensors: Vec<String>,
    /// `measurement=`, `field=`, `tag.<name>=<value>`: a pattern over the catalog.
    pub pattern: Option<SeriesFilter>,
}

/// Everything an export was asked for.
#[derive(Debug)]
pub(super) struct ExportQuery {
    pub format: Format,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Bucket width (ms) when aggregated.
    pub step: Option<i64>,
    pub agg: Agg,
    /// Line protocol: the timestamp's unit as a multiple of ms (`ms` 1, `us` 1000, `ns` 1e6).
    pub lp_factor: i64,
    pub select: Selection,
}

/// A time parameter: integer ms since the epoch, or RFC 3339.
fn time(name: &str, v: &str) -> Result<Timestamp, ApiError> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    clio_glass::parse_time(v).map_err(|_| {
        ApiError::bad(format!(
            "{name}: `{v}` is not a time (ms since the epoch or RFC 3339)"
        ))
    })
}

/// A step: `500ms`, `30s`, `10m`, `2h`, `1d`, or a plain number of ms.
pub(super) fn step(v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    let bad = || {
        ApiError::bad(format!(
            "step: `{v}` is not a duration (e.g. 60000, 500ms, 30s, 10m, 1h, 1d)"
        ))
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let ms = n.checked_mul(unit_ms).ok_or_else(bad)?;
    if ms <= 0 {
        return Err(ApiError::bad(format!("step: `{v}` must be positive")));
    }
    Ok(ms)
}

fn series_ids(v: &str) -> Result<Vec<SeriesId>, ApiError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>().map(SeriesId).map_err(|_| {
                ApiError::bad(format!(
                    "series: `{s}` is not a series id (e.g. series=1,2,3)"
                ))
            })
        })
        .collect()
}

/// Parses the query string's pairs (the door's `u` and `p` already removed).
pub(super) fn parse(p: &[(String, String)]) -> Result<ExportQuery, ApiError> {
    let mut format = Format::Csv;
    let (mut from, mut to, mut step_ms, mut agg, mut precision) = (None, None, None, None, None);
    let mut select = Selection::default();
    let mut filter = SeriesFilter::default();
    let mut patterned = false;
    for (k, v) in p {
        match k.as_str() {
            "format" => {
                format = match v.as_str() {
                    "csv" => Format::Csv,
                    "lp" | "line" => Format::Lp,
                    other => {
                        return Err(ApiError::bad(format!(
                            "format: `{other}` is not a format (expected csv or lp)"
                        )));
                    }
                }
            }
            "from" => from = Some(time("from", v)?),
            "to" => to = Some(time("to", v)?),
            "step" => step_ms = Some(step(v)?),
            "agg" => agg = Some(Agg::parse(v)?),
            "precision" => {
                precision = Some(match v.as_str() {
                    "ms" => 1,
                    "us" | "u" => 1000,
                    "ns" | "n" => 1_000_000,
                    other => {
                        return Err(ApiError::bad(format!(
                            "precision: `{other}` is not a precision (expected ms, us, ns)"
                        )));
                    }
                })
            }
            "series" => select.ids.extend(series_ids(v)?),
            "key" => select.keys.push(
                v.parse()
                    .map_err(|e| ApiError::bad(format!("key: `{v}` is not a series key: {e}")))?,
            ),
            "sensor" => {
                if v.trim().is_empty() {
                    return Err(ApiError::bad("sensor: empty (give a sensor_id or row id)"));
                }
                select.sensors.push(v.clone())
            }
            "measurement" => {
                filter.measurement = Some(v.clone());
                patterned = true;
            }
            "field" => {
                filter.field = Some(v.clone());
                patterned = true;
            }
            other => match other.strip_prefix("tag.") {
                Some(tag) if !tag.is_empty() => {
                    filter.tags.push((tag.to_string(), v.clone()));
                    patterned = true;
                }
                _ => {
                    // Unlike the series listing, a name that is not a parameter is not a tag
                    // here: a mistyped `from` must not export everything as an empty pattern.
                    return Err(ApiError::bad(format!(
                        "{other}: unknown parameter (expected series, key, sensor, measurement, \
                         field, tag.<name>, from, to, step, agg, format, precision)"
                    )));
                }
            },
        }
    }
    if patterned {
        select.pattern = Some(filter);
    }
    if select.ids.is_empty()
        && select.keys.is_empty()
        && select.sensors.is_empty()
        && select.pattern.is_none()
    {
        return Err(ApiError::bad(
            "series: no series chosen (give series, key, sensor, or measurement/field/tag.<name>)",
        ));
    }
    let from = from.ok_or_else(|| ApiError::bad("from: required (ms or RFC 3339)"))?;
    let to = to.ok_or_else(|| ApiError::bad("to: required (ms or RFC 3339)"))?;
    if from >= to {
        return Err(ApiError::bad(format!(
            "from: must be before to ({from} >= {to})"
        )));
    }
    if agg.is_some() && step_ms.is_none() {
        return Err(ApiError::bad("agg: goes with step (e.g. step=10m&agg=max)"));
    }
    if precision.is_some() && format != Format::Lp {
        return Err(ApiError::bad("precision: goes with format=lp"));
    }
    let lp_factor = precision.unwrap_or(1);
    // Every timestamp of the answer lies in [from, to) widened to whole steps: check once that
    // it fits the chosen precision, so that no line fails half way.
    let widest = to.saturating_add(step_ms.unwrap_or(0));
    if from.checked_mul(lp_factor).is_none() || widest.checked_mul(lp_factor).is_none() {
        return Err(ApiError::bad(
            "precision: the time range does not fit 64-bit timestamps at this precision",
        ));
    }
    Ok(ExportQuery {
        format,
        from,
        to,
        step: step_ms,
        agg: agg.unwrap_or(Agg::Avg),
        lp_factor,
        select,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<ExportQuery, ApiError> {
        let p: Vec<(String, String)> = serde_urlencoded::from_str(s).unwrap();
        parse(&p)
    }

    fn msg(s: &str) -> String {
        q(s).unwrap_err().to_string()
    }

    #[test]
    fn steps_parse_with_units() {
        assert_eq!(step("60000").unwrap(), 60_000);
        assert_eq!(step("500ms").unwrap(), 500);
        assert_eq!(step("30s").unwrap(), 30_000);
        assert_eq!(step("10m").unwrap(), 600_000);
        assert_eq!(step("2h").unwrap(), 7_200_000);
        assert_eq!(step("1d").unwrap(), 86_400_000);
        for bad in ["", "0", "0s", "m", "10x", "-5", "99999999999999999999d"] {
            assert!(step(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_query_parses() {
        let e = q("series=1,2&series=3&key=cpu,host%3Da%20usage&sensor=T-1&measurement=m&tag.host=a&from=0&to=2000-01-01T00:00:00Z&step=10m&agg=max&format=lp&precision=ns").unwrap();
        assert_eq!(e.select.ids, vec![SeriesId(1), SeriesId(2), SeriesId(3)]);
        assert_eq!(e.select.keys[0].to_string(), "cpu,host=a usage");
        assert_eq!(e.select.sensors, vec!["T-1".to_string()]);
        let f = e.select.pattern.unwrap();
        assert_eq!(f.measurement.as_deref(), Some("m"));
        assert_eq!(f.tags, vec![("host".to_string(), "a".to_string())]);
        assert_eq!((e.from, e.to), (0, 946_684_800_000));
        assert_eq!(
            (e.step, e.agg, e.format),
            (Some(600_000), Agg::Max, Format::Lp)
        );
        assert_eq!(e.lp_factor, 1_000_000);
    }

    #[test]
    fn mistakes_name_their_parameter() {
        assert!(msg("from=0&to=1").starts_with("series:"));
        assert!(msg("series=1&to=1").starts_with("from:"));
        assert!(msg("series=1&from=0").starts_with("to:"));
        assert!(msg("series=1&from=5&to=5").starts_with("from:"));
        assert!(msg("series=x&from=0&to=1").starts_with("series:"));
        assert!(msg("series=1&from=yesterday&to=1").starts_with("from:"));
        assert!(msg("series=1&from=0&to=1&format=json").starts_with("format:"));
        assert!(msg("series=1&from=0&to=1&step=fast").starts_with("step:"));
        assert!(msg("series=1&from=0&to=1&step=1m&agg=median").starts_with("agg:"));
        assert!(msg("series=1&from=0&to=1&agg=max").starts_with("agg:"));
        assert!(msg("series=1&from=0&to=1&precision=ns").starts_with("precision:"));
        assert!(msg("series=1&from=0&to=1&format=lp&precision=s").starts_with("precision:"));
        assert!(msg("series=1&from=0&to=1&frm=2").starts_with("frm:"));
        assert!(msg("key=cpu&from=0&to=1").starts_with("key:"));
        assert!(
            msg("series=1&from=0&to=9223372036854775000&format=lp&precision=ns")
                .starts_with("precision:")
        );
    }
}
