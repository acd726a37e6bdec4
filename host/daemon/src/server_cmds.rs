//! The commands that talk to a running server over its HTTP API: `clio write`, `clio query`
//! (without `--db`), `clio last` and `clio series`. Tables for people by default, `--json`
//! for scripts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use clio_client::{HttpClient, PointsQuery, Precision, ReadAnswer, ReadData, WritePoint};
use clio_storage::{Point, SeriesFilter, SeriesId, SeriesInfo, SeriesKey, SeriesUpdate, Value};
use serde_json::json;

use crate::output::{print_points, print_trends, show_value};
use crate::query_args::QueryArgs;
use crate::server_conn::{ServerArg, block_on};
use crate::timearg::{format_time, now_ms, parse_time};

/// A number as Clio prints it everywhere (shortest round-trip text, no trailing `.0`), a
/// string quoted.
fn print_json(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// clio write

/// Arguments of `clio write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// A file of InfluxDB line protocol, or `-` for standard input.
    #[arg(value_name = "FILE", conflicts_with_all = ["series", "key", "value", "ts"])]
    pub input: Option<PathBuf>,
    /// With a file: timestamp precision of the lines (ns, us, ms, s, m, h).
    #[arg(long, default_value = "ns")]
    pub precision: String,
    /// With a file: lines per request.
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub batch: usize,
    /// One point: the series id.
    #[arg(long, conflicts_with = "key", value_name = "ID")]
    pub series: Option<u64>,
    /// One point: the series key, such as `cpu,host=a usage_idle`.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// One point: the value. A number unless --string is given or it does not parse as one.
    #[arg(long, allow_hyphen_values = true)]
    pub value: Option<String>,
    /// One point: store --value as a string even if it looks like a number.
    #[arg(long, requires = "value")]
    pub string: bool,
    /// One point: the timestamp (epoch ms, RFC 3339 or now-<duration>); default: the
    /// server's receive time.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub ts: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `clio write`.
pub fn write(args: &WriteArgs) -> Result<()> {
    let client = args.server.client()?;
    match (&args.input, args.series, &args.key) {
        (Some(path), _, _) => block_on(write_file(&client, args, path))?,
        (None, None, None) => bail!(
            "give a line-protocol FILE (or - for stdin), or one point with --series ID|--key KEY --value V"
        ),
        (None, _, _) => block_on(write_one(&client, args))?,
    }
}

async fn write_one(client: &HttpClient, args: &WriteArgs) -> Result<()> {
    let Some(raw) = &args.value else {
        bail!("--value is required with --series/--key");
    };
    let value = if args.string {
        Value::Str(raw.clone())
    } else {
        // Same rule as JSON: finite numbers are numbers; anything else is text. "nan" and
        // "inf" parse as f64 but are not storable numbers, so they stay strings.
        match raw.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Value::Num(n),
            _ => Value::Str(raw.clone()),
        }
    };
    let ts = args
        .ts
        .as_deref()
        .map(|t| parse_time(t, now_ms()))
        .transpose()?;
    let point = match (args.series, &args.key) {
        (Some(id), _) => WritePoint::id(id, ts, value),
        (None, Some(k)) => {
            let key: SeriesKey = k
                .parse()
                .with_context(|| format!("invalid series key `{k}`"))?;
            WritePoint::key(key, ts, value)
        }
        (None, None) => bail!("give --series ID or --key KEY"),
    };
    let report = client.write_points(&[point]).await?;
    if args.json {
        print_json(&json!(report))?;
    } else {
        println!(
            "wrote {} point{}{}{}",
            report.points,
            if report.points == 1 { "" } else { "s" },
            if report.created_series > 0 {
                " (new series)"
            } else {
                ""
            },
            if report.restamped > 0 {
                " (timestamp out of range: the server stamped it with its clock)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

async fn write_file(client: &HttpClient, args: &WriteArgs, path: &Path) -> Result<()> {
    let precision: Precision = args
        .precision
        .parse()
        .with_context(|| format!("invalid --precision `{}`", args.precision))?;
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )
    };
    let mut reader = BufReader::with_capacity(1 << 20, input);
    // Requests stay well under the server's body limit (max_request_mb, 25 MiB by default)
    // whatever the line lengths.
    const MAX_CHUNK_BYTES: usize = 4 << 20;
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut chunk_lines = 0usize;
    let mut line = Vec::new();
    let (mut lines, mut sent, mut requests) = (0usize, 0usize, 0usize);
    let mut errors: Vec<String> = Vec::new();
    let mut first_line_of_chunk = 1usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n > 0 {
            lines += 1;
            let text = line.trim_ascii();
            if !text.is_empty() && !text.starts_with(b"#") {
                chunk.extend_from_slice(text);
                chunk.push(b'\n');
                chunk_lines += 1;
                sent += 1;
            }
        }
        let full = chunk_lines >= args.batch || chunk.len() >= MAX_CHUNK_BYTES;
        if (n == 0 || full) && chunk_lines > 0 {
            requests += 1;
            let body = std::mem::replace(&mut chunk, Vec::with_capacity(1 << 20));
            if let Err(e) = client.write_lp("clio", precision, body).await {
                // A 400 is a partial write: the good lines are in. Keep going, report all.
                match e.status() {
                    Some(400) => errors.push(format!(
                        "lines {first_line_of_chunk}..{lines}: {}",
                        server_message(&e)
                    )),
                    _ => return Err(e).context("write failed"),
                }
            }
            chunk_lines = 0;
            first_line_of_chunk = lines + 1;
        }
        if n == 0 {
            break;
        }
    }
    if args.json {
        print_json(&json!({"lines": sent, "requests": requests, "errors": errors}))?;
    } else {
        println!(
            "sent {sent} line{} in {requests} request{}",
            if sent == 1 { "" } else { "s" },
            if requests == 1 { "" } else { "s" }
        );
        for e in &errors {
            eprintln!("error: {e}");
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} of {requests} requests had bad lines (the other lines were written)",
            errors.len()
        );
    }
    Ok(())
}

fn server_message(e: &clio_client::Error) -> String {
    match e {
        clio_client::Error::Server { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// clio query (server mode)

/// `clio query` without `--db`.
pub fn query(args: &QueryArgs) -> Result<()> {
    let client = args.server.client()?;
    block_on(query_server(&client, args))?
}

async fn query_server(client: &HttpClient, args: &QueryArgs) -> Result<()> {
    let id = match (args.id, &args.key) {
        (Some(id), _) => SeriesId(id),
        (None, Some(k)) => {
            let key: SeriesKey = k
                .parse()
                .with_context(|| format!("invalid series key `{k}`"))?;
            client
                .find_series(&key)
                .await?
                .with_context(|| format!("the server has no series with key `{key}`"))?
                .id
        }
        (None, None) => bail!("give --id or --key"),
    };
    let now = now_ms();
    let mut q = match (args.last, &args.from, &args.to) {
        (Some(n), _, _) => {
            let mut q = PointsQuery::last(n);
            if args.skip > 0 {
                q = q.skip(args.skip);
            }
            q
        }
        (None, Some(from), Some(to)) => {
            PointsQuery::range(parse_time(from, now)?, parse_time(to, now)?)
        }
        _ => bail!("give --last N, or --from and --to"),
    };
    if args.resolution != "raw" {
        q = q.resolution(args.resolution.clone());
    }
    if let Some(c) = &args.cursor {
        q = q.cursor(c.clone());
    }
    if let Some(at) = &args.at {
        q = q.at(parse_time(at, now)?);
    }
    let answer = client.read_points(id, &q).await?;
    if args.json {
        print_json(&answer.to_json())
    } else {
        print_answer(&answer);
        Ok(())
    }
}

fn print_answer(a: &ReadAnswer) {
    match &a.data {
        ReadData::Points(points) => {
            print_points(points);
            println!("({} points)", points.len());
        }
        ReadData::Trends { interval, buckets } => print_trends(
            interval,
            buckets
                .iter()
                .map(|b| (b.start, b.count, b.avg, b.min, b.max, b.last)),
        ),
    }
    if a.truncated {
        match &a.next {
            Some(c) => println!("older data left out; continue with --cursor {c}"),
            None => println!("older data left out"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// clio last

/// Arguments of `clio last`.
#[derive(Debug, Args)]
pub struct LastArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Series ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `clio last`.
pub fn last(args: &LastArgs) -> Result<()> {
    let client = args.server.client()?;
    let ids: Vec<SeriesId> = args.ids.iter().copied().map(SeriesId).collect();
    let values = block_on(client.last(&ids))??;
    if args.json {
        return print_json(&last_json(&values));
    }
    println!("{:<12} {:<26} VALUE", "SERIES", "TIME");
    for id in &ids {
        match values.get(id).and_then(Option::as_ref) {
            Some(p) => println!(
                "{:<12} {:<26} {}",
                id.0,
                format_time(p.ts),
                show_value(&p.value)
            ),
            None => println!("{:<12} {:<26} (no data)", id.0, "-"),
        }
    }
    Ok(())
}

fn last_json(values: &BTreeMap<SeriesId, Option<Point>>) -> serde_json::Value {
    serde_json::Value::Object(
        values
            .iter()
            .map(|(id, p)| {
                let v = p.as_ref().map_or(
                    serde_json::Value::Null,
                    |p| json!({"ts": p.ts, "value": clio_client::value_json(&p.value)}),
                );
                (id.0.to_string(), v)
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------
// clio fn

/// Arguments of `clio fn`.
#[derive(Debug, Args)]
pub struct FnArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// List the loaded functions (name, version, parameters) instead of evaluating one.
    #[arg(long, conflicts_with_all = ["id", "name", "args", "at"])]
    pub list: bool,
    /// Series id.
    #[arg(value_name = "ID", required_unless_present = "list")]
    pub id: Option<u64>,
    /// Function name (`avg`, `count`, ...).
    #[arg(value_name = "NAME", required_unless_present = "list")]
    pub name: Option<String>,
    /// ALEPIZ-style parameters, comma-separated: `#10`, `5m,1m`, `#10,0,15,gt`.
    #[arg(value_name = "ARGS", default_value = "", allow_hyphen_values = true)]
    pub args: String,
    /// Evaluation time (ms since the epoch, an RFC 3339 time, or now-1h); default now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `clio fn`.
pub fn evaluate(args: &FnArgs) -> Result<()> {
    let client = args.server.client()?;
    if args.list {
        let list = block_on(client.functions())??;
        if args.json {
            return print_json(&list);
        }
        println!(
            "{:<14} {:<10} {:<40} DESCRIPTION",
            "NAME", "VERSION", "PARAMETERS"
        );
        for f in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            let params: Vec<String> = f["params"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let name = p["name"].as_str().unwrap_or("?");
                    if p["required"].as_bool() == Some(true) {
                        name.to_string()
                    } else {
                        format!("[{name}]")
                    }
                })
                .collect();
            println!(
                "{:<14} {:<10} {:<40} {}",
                f["name"].as_str().unwrap_or(""),
                f["version"].as_str().unwrap_or(""),
                params.join(", "),
                f["description"].as_str().unwrap_or("")
            );
        }
        return Ok(());
    }
    let (Some(id), Some(name)) = (args.id, args.name.as_deref()) else {
        bail!("name a series id and a function (or use --list)");
    };
    let at = args
        .at
        .as_deref()
        .map(|t| parse_time(t, now_ms()))
        .transpose()?;
    let v = block_on(client.evaluate(SeriesId(id), name, &args.args, at))??;
    if args.json {
        return print_json(&json!({ "value": v }));
    }
    match v {
        serde_json::Value::Null => println!("(no data)"),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) => println!("{}", clio_storage::format_number(f)),
            None => println!("{n}"),
        },
        serde_json::Value::String(s) => println!("{s}"),
        other => println!("{other}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// clio series

/// Arguments of `clio series`: lists series (optionally filtered) unless a subcommand is
/// given.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<SeriesCommand>,
    #[command(flatten)]
    pub filter: ListFilter,
}

/// Filters of `clio series [list]`.
#[derive(Debug, Clone, Default, Args)]
pub struct ListFilter {
    /// Only series of this measurement.
    #[arg(long)]
    pub measurement: Option<String>,
    /// Only series of this field.
    #[arg(long)]
    pub field: Option<String>,
    /// Only series with this tag value (repeatable).
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
}

/// What `clio series` does.
#[derive(Debug, Subcommand)]
pub enum SeriesCommand {
    /// List series, optionally filtered.
    List(ListFilter),
    /// Show one series.
    Get {
        /// Series id.
        id: u64,
    },
    /// Change a series' retention or metadata.
    Set {
        /// Series id.
        id: u64,
        /// Days of raw points to keep (0 keeps none).
        #[arg(long, value_name = "DAYS")]
        keep_history_days: Option<u32>,
        /// Days of trends to keep.
        #[arg(long, value_name = "DAYS")]
        keep_trends_days: Option<u32>,
        /// Set a metadata entry (repeatable); an empty value removes it (`--meta unit=`).
        #[arg(long = "meta", value_name = "NAME=VALUE")]
        meta: Vec<String>,
    },
    /// Delete a series and all its data.
    Delete {
        /// Series id.
        id: u64,
        /// Confirm: the data cannot be recovered.
        #[arg(long)]
        yes: bool,
    },
}

fn split_pair(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("invalid {what} `{s}`: expected NAME=VALUE"),
    }
}

/// `clio series`.
pub fn series(args: &SeriesArgs) -> Result<()> {
    let client = args.server.client()?;
    block_on(series_async(&client, args))?
}

async fn series_async(client: &HttpClient, args: &SeriesArgs) -> Result<()> {
    match &args.command {
        None => list(client, &args.filter, args.json).await,
        Some(SeriesCommand::List(f)) => list(client, f, args.json).await,
        Some(SeriesCommand::Get { id }) => {
            let info = client.get_series(SeriesId(*id)).await?;
            show_series(&info, args.json)
        }
        Some(SeriesCommand::Set {
            id,
            keep_history_days,
            keep_trends_days,
            meta,
        }) => {
            if keep_history_days.is_none() && keep_trends_days.is_none() && meta.is_empty() {
                bail!("nothing to change: give --keep-history-days, --keep-trends-days or --meta");
            }
            let metadata = if meta.is_empty() {
                None
            } else {
                Some(
                    meta.iter()
                        .map(|m| split_pair(m, "--meta"))
                        .collect::<Result<BTreeMap<_, _>>>()?,
                )
            };
            let update = SeriesUpdate {
                keep_history_days: *keep_history_days,
                keep_trends_days: *keep_trends_days,
                metadata,
            };
            let info = client.update_series(SeriesId(*id), &update).await?;
            show_series(&info, args.json)
        }
        Some(SeriesCommand::Delete { id, yes }) => {
            if !yes {
                bail!("deleting series {id} removes all its data for good; add --yes to confirm");
            }
            client.delete_series(SeriesId(*id)).await?;
            if args.json {
                print_json(&json!({"deleted": id}))
            } else {
                println!("deleted series {id}");
                Ok(())
            }
        }
    }
}

async fn list(client: &HttpClient, f: &ListFilter, json_out: bool) -> Result<()> {
    let filter = SeriesFilter {
        measurement: f.measurement.clone(),
        field: f.field.clone(),
        tags: f
            .tags
            .iter()
            .map(|t| split_pair(t, "--tag"))
            .collect::<Result<_>>()?,
    };
    let mut list = client.list_series(&filter).await?;
    list.sort_by_key(|s| s.id);
    if json_out {
        return print_json(&serde_json::Value::Array(
            list.iter().map(series_json).collect(),
        ));
    }
    println!(
        "{:<12} {:>9} {:>8}  {:<24} KEY",
        "ID", "HISTORY", "TRENDS", "CREATED"
    );
    for s in &list {
        println!(
            "{:<12} {:>8}d {:>7}d  {:<24} {}",
            s.id.0,
            s.settings.keep_history_days,
            s.settings.keep_trends_days,
            format_time(s.created),
            s.key
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        );
    }
    println!("({} series)", list.len());
    Ok(())
}

fn series_json(s: &SeriesInfo) -> serde_json::Value {
    json!({
        "id": s.id.0,
        "key": s.key.as_ref().map(ToString::to_string),
        "keep_history_days": s.settings.keep_history_days,
        "keep_trends_days": s.settings.keep_trends_days,
        "metadata": s.settings.metadata,
        "created": s.created,
    })
}

fn show_series(s: &SeriesInfo, json_out: bool) -> Result<()> {
    if json_out {
        return print_json(&series_json(s));
    }
    println!("id                 {}", s.id.0);
    println!(
        "key                {}",
        s.key
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    );
    println!("keep_history_days  {}", s.settings.keep_history_days);
    println!("keep_trends_days   {}", s.settings.keep_trends_days);
    println!("created            {}", format_time(s.created));
    for (k, v) in &s.settings.metadata {
        println!("metadata.{k:<9} {v}");
    }
    Ok(())
}
