//! `clio query --db FILE`: reads history straight from a database file, without a server
//! (the seed's `directAccessToDBFile`), safely while a server writes to that file. Without
//! `--db` the same arguments go to a running server ([`crate::server_cmds::query`]).

use anyhow::{Context, Result, bail};
use clio_storage::{Point, SeriesId, SeriesKey, TrendBucket, TrendInterval, Value};
use clio_storage_sqlite::DirectReader;
use serde_json::json;

use crate::query_args::QueryArgs;
use crate::timearg::{now_ms, parse_time};

/// What the query returned.
enum Answer {
    Points {
        points: Vec<Point>,
        truncated: bool,
    },
    Trends {
        interval: TrendInterval,
        buckets: Vec<TrendBucket>,
    },
}

/// Reads the query's answer straight from the database file `db` and prints it.
pub fn run(args: &QueryArgs, db: &std::path::Path) -> Result<()> {
    let keys = clio_storage::sealing::Keyring::load(
        args.key_file.as_deref(),
        args.previous_key_file.as_deref(),
    )?;
    let mut reader = DirectReader::open_with_keys(db, std::sync::Arc::new(keys))
        .with_context(|| format!("cannot read {}", db.display()))?;
    let id = match (&args.id, &args.key) {
        (Some(id), _) => SeriesId(*id),
        (None, Some(k)) => {
            let key: SeriesKey = k
                .parse()
                .with_context(|| format!("invalid series key `{k}`"))?;
            reader
                .find_key(&key)?
                .with_context(|| format!("no series with key `{key}` in {}", db.display()))?
                .id
        }
        (None, None) => bail!("give --id or --key"),
    };
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    let answer = if let Some(n) = args.last {
        if args.resolution != "raw" && args.resolution != "auto" {
            bail!("--last reads raw points; use --from/--to for trends");
        }
        let wanted = n.saturating_add(args.skip);
        let mut pts = reader.read_last(id, wanted, i64::MAX)?;
        pts.truncate(pts.len().saturating_sub(args.skip));
        let truncated = pts.len() > args.limit;
        if truncated {
            pts.drain(..pts.len() - args.limit);
        }
        Answer::Points {
            points: pts,
            truncated,
        }
    } else {
        let now = now_ms();
        let from = parse_time(args.from.as_deref().unwrap_or_default(), now)?;
        let to = parse_time(args.to.as_deref().unwrap_or_default(), now)?;
        if from >= to {
            bail!("--from must be before --to");
        }
        range(&mut reader, id, from, to, &args.resolution, args.limit)?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(id, &answer))?);
    } else {
        print_table(&answer);
    }
    Ok(())
}

fn range(
    reader: &mut DirectReader,
    id: SeriesId,
    from: i64,
    to: i64,
    resolution: &str,
    limit: usize,
) -> Result<Answer> {
    let trends = |reader: &mut DirectReader, interval: TrendInterval| -> Result<Answer> {
        Ok(Answer::Trends {
            interval,
            buckets: reader.read_trends(id, interval, from, to)?,
        })
    };
    match resolution {
        "raw" | "auto" => {
            let mut points = reader.read_range(id, from, to, limit.saturating_add(1))?;
            let truncated = points.len() > limit;
            if truncated && resolution == "auto" {
                let span = to.saturating_sub(from);
                let intervals = reader.trend_intervals().to_vec();
                let pick = intervals
                    .iter()
                    .copied()
                    .find(|i| span / i.ms() <= limit as i64)
                    .or_else(|| intervals.last().copied());
                if let Some(i) = pick {
                    return trends(reader, i);
                }
            }
            if truncated {
                points.remove(0);
            }
            Ok(Answer::Points { points, truncated })
        }
        other => {
            let interval: TrendInterval = other
                .parse()
                .with_context(|| format!("invalid --resolution `{other}`"))?;
            if !reader.trend_intervals().contains(&interval) {
                let have: Vec<String> = reader
                    .trend_intervals()
                    .iter()
                    .map(|i| i.to_string())
                    .collect();
                bail!(
                    "the file keeps no {interval} trends (it has: raw, {}, auto)",
                    have.join(", ")
                );
            }
            trends(reader, interval)
        }
    }
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Num(n) => json!(n),
        Value::Str(s) => json!(s),
    }
}

fn to_json(id: SeriesId, a: &Answer) -> serde_json::Value {
    match a {
        Answer::Points { points, truncated } => json!({
            "series": id.0,
            "points": points.iter().map(|p| json!([p.ts, value_json(&p.value)])).collect::<Vec<_>>(),
            "truncated": truncated,
        }),
        Answer::Trends { interval, buckets } => json!({
            "series": id.0,
            "interval": interval.to_string(),
            "trends": buckets,
        }),
    }
}

fn print_table(a: &Answer) {
    match a {
        Answer::Points { points, truncated } => {
            crate::output::print_points(points);
            println!(
                "({} points{})",
                points.len(),
                if *truncated {
                    ", older points left out; raise --limit"
                } else {
                    ""
                }
            );
        }
        Answer::Trends { interval, buckets } => crate::output::print_trends(
            &interval.to_string(),
            buckets
                .iter()
                .map(|b| (b.start, b.count, Some(b.avg()), b.min, b.max, b.last)),
        ),
    }
}
