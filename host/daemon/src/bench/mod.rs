//! `clio bench`: a load generator for a running server (or, for `ingest-http`, an InfluxDB
//! 1.x, whose `/write` is the same).
//!
//! * `ingest-http`: line protocol `POST /write?precision=ms`, C workers, B lines a request;
//! * `ingest-tcp`: Clio TCP `write` messages, C connections, B points a message, P requests
//!   in flight per connection;
//! * `query`: last-N point queries over HTTP at a fixed rate R (open loop), over S series
//!   written before; `fn`: history function evaluations the same way. Over `http://` they
//!   go through the lean client of [`lean`], over `https://` through hyper's pooled client.
//!
//! The generator must measure the server, not itself: request bodies are built before the
//! clock starts, as templates whose timestamp digits are patched in place for each request
//! (a memcpy and 13 bytes a line), and replies are not parsed beyond their status.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use clio_client::Method;
use clio_client::{HttpClient, PointsQuery, TcpClient, TcpOptions};
use clio_storage::{SeriesFilter, SeriesId};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::pacer::Pacer;
use crate::timearg::now_ms;

mod lean;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Line-protocol writes over HTTP (`POST /write`).
    IngestHttp,
    /// Clio TCP `write` messages.
    IngestTcp,
    /// Last-N point queries over HTTP at a fixed request rate.
    Query,
    /// History function evaluations over HTTP at a fixed request rate
    /// (`GET /api/v1/series/{id}/fn/{name}?args=...`).
    Fn,
}

impl Mode {
    /// Modes that send reads at a fixed rate (open loop).
    fn is_read(self) -> bool {
        matches!(self, Mode::Query | Mode::Fn)
    }
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::IngestHttp => "ingest-http",
            Mode::IngestTcp => "ingest-tcp",
            Mode::Query => "query",
            Mode::Fn => "fn",
        }
    }
}

/// The HTTP client of the read modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadClient {
    /// `lean` for an `http://` server, `hyper` for `https://`.
    Auto,
    /// One task paces, sends and reads over keep-alive connections, with no task or timer
    /// per request (plain `http://` only): the generator's own cost kept small.
    Lean,
    /// hyper's pooled client, a task per request (the generator before session 28).
    Hyper,
}

/// Arguments of `clio bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub mode: Mode,
    /// The server's HTTP API (ingest-http, query). An InfluxDB 1.x works for ingest-http.
    #[arg(long, env = "CLIO_SERVER", default_value = clio_client::DEFAULT_HTTP_URL, value_name = "URL")]
    pub server: String,
    /// The server's TCP address (ingest-tcp).
    #[arg(long, env = "CLIO_TCP_SERVER", default_value = clio_client::DEFAULT_TCP_ADDR, value_name = "ADDR")]
    pub tcp: String,
    /// Concurrent connections (ingest modes).
    #[arg(short = 'c', long, default_value_t = 4)]
    pub connections: usize,
    /// Points per request (ingest modes).
    #[arg(short = 'b', long, default_value_t = 1000)]
    pub batch: usize,
    /// Series written (ingest modes) or read (query).
    #[arg(short = 's', long, default_value_t = 1000)]
    pub series: usize,
    /// How long to run: seconds, or a duration such as 500ms or 1m.
    #[arg(short = 'd', long, default_value = "10", value_parser = parse_duration)]
    pub duration: Duration,
    /// Ingest modes: stop after this many points (rounded up to whole requests; 0 = until
    /// --duration), so that two systems get exactly the same data (same --seed, --series,
    /// --batch, --connections).
    #[arg(long, default_value_t = 0)]
    pub points: u64,
    /// ingest-tcp: requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// query: requests per second.
    #[arg(short = 'r', long, default_value_t = 1000.0)]
    pub rate: f64,
    /// query: points per query (last=N).
    #[arg(short = 'n', long, default_value_t = 10)]
    pub last: usize,
    /// fn: the function evaluated.
    #[arg(long, default_value = "avg")]
    pub function: String,
    /// fn: its parameters, written as in ALEPIZ (`#10`, `5m,1m`).
    #[arg(long, default_value = "#10", allow_hyphen_values = true)]
    pub fn_args: String,
    /// query: requests in flight at most (beyond it the schedule slips, and the report says
    /// so).
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// query, fn: the HTTP client that sends the reads (`CLIO_BENCH_CLIENT` sets it for
    /// the bench scripts).
    #[arg(long, env = "CLIO_BENCH_CLIENT", value_enum, default_value_t = ReadClient::Auto)]
    pub client: ReadClient,
    /// Measurement of the line-protocol series (ingest-http writes them, query reads them).
    #[arg(long, default_value = "clio_bench")]
    pub measurement: String,
    /// Database name sent with `/write` (Clio ignores it; InfluxDB needs it to exist, and
    /// the bench creates it).
    #[arg(long, default_value = "clio_bench")]
    pub db: String,
    /// ingest-tcp: the first series id (ids first-id .. first-id+S are written; query falls
    /// back to them when no series of --measurement exists).
    #[arg(long, default_value_t = 1_000_000_000)]
    pub first_id: u64,
    /// Milliseconds between consecutive points of one series. Timestamps start 7 days ago
    /// and advance by this much per point, so every point is new and none is restamped.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: i64,
    /// Generator threads (the machine is shared with the server; one is usually enough).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Seed of the value noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// query, fn: write every request to this CSV file (`due_us,lag_us,latency_us,ok`: when
    /// it was due after the start, how late the generator sent it, how long the answer
    /// took), to see when the slow ones came and whether the generator itself was late.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<std::path::PathBuf>,
    /// For an `https://` --server: trust this CA certificate file (PEM), as for a
    /// self-signed server certificate; without it the system's CA store.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// A file holding the token to send (`Authorization: Token`), for a server with
    /// `[auth] enabled`; without it `CLIO_TOKEN` (never a token on the command line).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

/// The HTTP client of the run: https with --ca-file, the token of --token-file or
/// `CLIO_TOKEN`.
fn bench_client(args: &BenchArgs) -> Result<HttpClient> {
    let client =
        HttpClient::with_ca_file(&args.server, args.ca_file.as_deref()).context("bad --server")?;
    match bench_token(args)? {
        Some(t) => client.with_token(&t).context("bad token"),
        None => Ok(client),
    }
}

/// The token of --token-file, else `CLIO_TOKEN`; `None` when neither gives a non-empty one.
fn bench_token(args: &BenchArgs) -> Result<Option<String>> {
    let token = match &args.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))?,
        ),
        None => std::env::var("CLIO_TOKEN").ok(),
    };
    Ok(token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("duration `{s}` must be positive"));
    }
    humantime::parse_duration(t).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// `clio bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    validate(args)?;
    // A reader on one thread paces, sends and reads its answers on that thread: a second
    // one would add a wake-up across threads to every request, on the cores the server
    // shares, and measure it as the server's latency.
    let rt = if args.mode.is_read() && args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads.max(1))
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        match args.mode {
            Mode::IngestHttp => ingest_http(args).await,
            Mode::IngestTcp => ingest_tcp(args).await,
            Mode::Query | Mode::Fn => query(args).await,
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json(args))?);
    } else {
        report.print(args);
    }
    if report.tally.ok == 0 {
        bail!(
            "no request succeeded{}",
            report
                .tally
                .first_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn validate(args: &BenchArgs) -> Result<()> {
    if args.series == 0 {
        bail!("--series must be at least 1");
    }
    if !args.mode.is_read() {
        if args.connections == 0 || args.batch == 0 || args.pipeline == 0 {
            bail!("--connections, --batch and --pipeline must be at least 1");
        }
        let workers = args.connections
            * if args.mode == Mode::IngestTcp {
                args.pipeline
            } else {
                1
            };
        if args.series < workers {
            // Each worker owns its own series, so that per-series timestamps only go forward.
            bail!(
                "--series ({}) must be at least the number of workers ({workers})",
                args.series
            );
        }
        if args.interval_ms <= 0 {
            bail!("--interval-ms must be positive");
        }
    } else {
        if !(args.rate.is_finite() && args.rate > 0.0) {
            bail!("--rate must be positive");
        }
        if args.last == 0 || args.max_in_flight == 0 {
            bail!("--last and --max-in-flight must be at least 1");
        }
        if args.mode == Mode::Fn
            && (args.function.is_empty()
                || !args
                    .function
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            bail!(
                "--function `{}` is not a function name (letters, digits, _ and - only)",
                args.function
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Results

/// What one worker (or the whole run) measured.
#[derive(Debug)]
struct Tally {
    /// Latencies in microseconds.
    hist: Histogram<u64>,
    /// Read modes: how late the generator sent each request after it was due, in
    /// microseconds (a generator that falls behind its schedule hides the server's wait).
    lag: Histogram<u64>,
    ok: u64,
    failed: u64,
    points: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Result<Self> {
        Ok(Tally {
            // 1 µs .. 1 h at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .context("cannot create a histogram")?,
            lag: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .context("cannot create a histogram")?,
            ok: 0,
            failed: 0,
            points: 0,
            first_error: None,
        })
    }

    fn record(&mut self, started: Instant, result: Result<u64, String>) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.max(1));
        match result {
            Ok(points) => {
                self.ok += 1;
                self.points += points;
            }
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// Read modes: records how late a request was sent.
    fn record_lag(&mut self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.lag.saturating_record(us.max(1));
    }

    fn merge(&mut self, other: Tally) -> Result<()> {
        self.hist.add(&other.hist).context("merging histograms")?;
        self.lag.add(&other.lag).context("merging histograms")?;
        self.ok += other.ok;
        self.failed += other.failed;
        self.points += other.points;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// The result of a run.
#[derive(Debug)]
struct Report {
    tally: Tally,
    elapsed: Duration,
    target: String,
    /// query: requests that had to wait for an in-flight slot (the schedule slipped).
    delayed: u64,
    /// Series written or read.
    series: usize,
}

impl Report {
    fn new(tally: Tally, elapsed: Duration, target: String, delayed: u64, series: usize) -> Self {
        Report {
            tally,
            elapsed,
            target,
            delayed,
            series,
        }
    }

    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.tally.hist.value_at_quantile(q) as f64 / 1000.0
    }

    fn to_json(&self, args: &BenchArgs) -> serde_json::Value {
        let h = &self.tally.hist;
        let mut v = json!({
            "mode": args.mode.name(),
            "target": self.target,
            "duration_s": self.secs(),
            "requests": self.tally.ok,
            "failed": self.tally.failed,
            "first_error": self.tally.first_error,
            "requests_per_s": self.tally.ok as f64 / self.secs(),
            "latency_ms": {
                "mean": h.mean() / 1000.0,
                "p50": self.quantile_ms(0.5),
                "p99": self.quantile_ms(0.99),
                "p999": self.quantile_ms(0.999),
                "max": h.max() as f64 / 1000.0,
            },
            "series": self.series,
        });
        if let Some(o) = v.as_object_mut() {
            match args.mode {
                Mode::Query | Mode::Fn => {
                    o.insert("rate_target".into(), json!(args.rate));
                    if args.mode == Mode::Fn {
                        o.insert("function".into(), json!(args.function));
                        o.insert("args".into(), json!(args.fn_args));
                    } else {
                        o.insert("last".into(), json!(args.last));
                    }
                    o.insert("delayed".into(), json!(self.delayed));
                    let lag = &self.tally.lag;
                    o.insert(
                        "lag_ms".into(),
                        json!({
                            "p50": lag.value_at_quantile(0.5) as f64 / 1000.0,
                            "p99": lag.value_at_quantile(0.99) as f64 / 1000.0,
                            "max": lag.max() as f64 / 1000.0,
                        }),
                    );
                }
                Mode::IngestHttp | Mode::IngestTcp => {
                    o.insert("connections".into(), json!(args.connections));
                    o.insert("batch".into(), json!(args.batch));
                    o.insert("points".into(), json!(self.tally.points));
                    o.insert(
                        "points_per_s".into(),
                        json!(self.tally.points as f64 / self.secs()),
                    );
                    if args.mode == Mode::IngestTcp {
                        o.insert("pipeline".into(), json!(args.pipeline));
                    }
                }
            }
        }
        v
    }

    fn print(&self, args: &BenchArgs) {
        let h = &self.tally.hist;
        println!("mode        {}", args.mode.name());
        println!("target      {}", self.target);
        match args.mode {
            Mode::IngestHttp => println!(
                "load        {} connections, {} lines a request, {} series",
                args.connections, args.batch, args.series
            ),
            Mode::IngestTcp => println!(
                "load        {} connections x {} in flight, {} points a message, {} series",
                args.connections, args.pipeline, args.batch, args.series
            ),
            Mode::Query => println!(
                "load        {} requests/s target, last={} over {} series",
                args.rate, args.last, self.series
            ),
            Mode::Fn => println!(
                "load        {} requests/s target, {}({}) over {} series",
                args.rate, args.function, args.fn_args, self.series
            ),
        }
        println!("duration    {:.2} s", self.secs());
        println!(
            "requests    {} ok, {} failed ({:.0} requests/s)",
            self.tally.ok,
            self.tally.failed,
            self.tally.ok as f64 / self.secs()
        );
        if !args.mode.is_read() {
            println!(
                "points      {} ({:.0} points/s)",
                self.tally.points,
                self.tally.points as f64 / self.secs()
            );
        } else if self.delayed > 0 {
            println!(
                "delayed     {} requests waited for a free in-flight slot (of {}): the server fell behind the schedule at times, and their wait is not in the latencies",
                self.delayed, args.max_in_flight
            );
        }
        println!(
            "latency     p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  (mean {:.3} ms)",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
            h.max() as f64 / 1000.0,
            h.mean() / 1000.0
        );
        if args.mode.is_read() {
            let lag = &self.tally.lag;
            println!(
                "lag         p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  (how late the generator sent requests after they were due)",
                lag.value_at_quantile(0.5) as f64 / 1000.0,
                lag.value_at_quantile(0.99) as f64 / 1000.0,
                lag.max() as f64 / 1000.0
            );
        }
        if let Some(e) = &self.tally.first_error {
            println!("first error {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Body templates

/// A tiny, fast PRNG (xorshift64*) for value noise: deterministic per seed, and cheap enough
/// that generating templates never shows up in a profile.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // SplitMix64 of the seed, so that seeds 0, 1, 2 give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    fn noise(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Digits of every timestamp the bench writes: milliseconds between 2001-09-09 and 2286
/// have 13, so placeholders have a fixed width.
const TS_DIGITS: usize = 13;
const TS_MIN: i64 = 1_000_000_000_000;
const TS_MAX: i64 = 9_999_999_999_999;

/// A request body with a 13-digit timestamp placeholder on every line, and which of the
/// worker's series each line writes.
#[derive(Debug)]
struct Template {
    bytes: Vec<u8>,
    /// (offset of the placeholder, index into the worker's series list), one per point.
    slots: Vec<(usize, usize)>,
}

/// What a worker writes: its series and a ring of templates over them.
#[derive(Debug)]
struct Workload {
    templates: Vec<Template>,
    /// Next timestamp of each of the worker's series.
    next_ts: Vec<i64>,
    interval: i64,
    next_template: usize,
}

/// The shape of one worker's stream.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Series the worker owns.
    n_series: usize,
    /// Points per request.
    batch: usize,
    /// Templates in the ring.
    ring: usize,
    /// Seed of the value noise.
    seed: u64,
    /// First timestamp of every series.
    start_ts: i64,
    /// Step between two points of one series.
    interval: i64,
}

/// The fixed text of a body: before the first point, after each timestamp, after the last
/// point.
#[derive(Debug, Clone, Copy)]
struct Framing<'a> {
    head: &'a [u8],
    after_ts: &'a [u8],
    tail: &'a [u8],
}

impl Workload {
    /// Builds the templates of `plan`, with `line(buf, series_idx, value, is_first)` writing
    /// the text of a point up to its timestamp.
    fn build(
        plan: Plan,
        framing: Framing<'_>,
        mut line: impl FnMut(&mut Vec<u8>, usize, f64, bool),
    ) -> Self {
        let Plan {
            n_series,
            batch,
            ring,
            seed,
            start_ts,
            interval,
        } = plan;
        let Framing {
            head,
            after_ts: after,
            tail,
        } = framing;
        let mut rng = Rng::new(seed);
        // Each series wanders around its own level, like real sensors: a random walk with
        // small steps and a pull back to the level so that it never drifts away.
        let levels: Vec<f64> = (0..n_series).map(|i| 10.0 + (i % 90) as f64).collect();
        let mut values = levels.clone();
        let mut seq = 0usize;
        let mut templates = Vec::with_capacity(ring);
        for _ in 0..ring {
            let mut bytes = Vec::with_capacity(head.len() + batch * 96 + tail.len());
            let mut slots = Vec::with_capacity(batch);
            bytes.extend_from_slice(head);
            for j in 0..batch {
                let s = seq % n_series;
                seq += 1;
                let v = &mut values[s];
                *v += rng.noise() * 0.5 + (levels[s] - *v) * 0.05;
                // Two decimals, as most sensors report.
                let rounded = (*v * 100.0).round() / 100.0;
                line(&mut bytes, s, rounded, j == 0);
                slots.push((bytes.len(), s));
                bytes.extend_from_slice(&[b'0'; TS_DIGITS]);
                bytes.extend_from_slice(after);
            }
            bytes.extend_from_slice(tail);
            templates.push(Template { bytes, slots });
        }
        Workload {
            templates,
            next_ts: vec![start_ts; n_series],
            interval,
            next_template: 0,
        }
    }

    /// The next body: a copy of the next template with fresh timestamps.
    fn next_body(&mut self) -> Bytes {
        let t = &self.templates[self.next_template];
        self.next_template = (self.next_template + 1) % self.templates.len();
        let mut buf = t.bytes.clone();
        for &(at, s) in &t.slots {
            let ts = self.next_ts[s];
            self.next_ts[s] = ts + self.interval;
            write_ts(&mut buf[at..at + TS_DIGITS], ts);
        }
        Bytes::from(buf)
    }
}

/// At least `ring` templates, and enough that every one of `n_series` series is in one
/// (a ring of `batch`-line bodies smaller than the series count never writes the rest:
/// `-s 1000000` made only 640,000 series with 4 connections and 5,000-line bodies).
fn ring_covering(ring: usize, n_series: usize, batch: usize) -> usize {
    ring.max(n_series.div_ceil(batch.max(1)))
}

/// Writes `ts` (13 digits, checked before the run) into `out`.
fn write_ts(out: &mut [u8], ts: i64) {
    let mut v = ts.clamp(TS_MIN, TS_MAX) as u64;
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// How many templates each worker keeps: enough that values do not visibly repeat, few
/// enough that all workers together stay under ~64 MiB.
fn ring_len(workers: usize, batch: usize) -> usize {
    let per_body = batch.saturating_mul(80).max(1);
    (64usize << 20) / per_body / workers.max(1)
}

/// Timestamps start a week back, so that a long run at a small interval still stays in
/// the past (the server restamps points too far in the future).
fn start_ts(args: &BenchArgs) -> Result<i64> {
    let start = now_ms() - 7 * 86_400_000;
    // Guard the fixed-width placeholders against absurd --interval-ms values.
    // Points per series at most: --points spread over the series (plus a request's worth),
    // or without it as many as a run could ever send.
    let per_series = if args.points > 0 {
        let n = args.points.div_ceil(args.series.max(1) as u64) + args.batch as u64;
        i64::try_from(n).unwrap_or(i64::MAX)
    } else {
        1 << 30
    };
    if start < TS_MIN || start.saturating_add(args.interval_ms.saturating_mul(per_series)) > TS_MAX
    {
        bail!("--interval-ms {} is too large", args.interval_ms);
    }
    Ok(start)
}

/// The series indexes (0..S) a worker owns: every `workers`-th one.
fn owned(worker: usize, workers: usize, series: usize) -> Vec<usize> {
    (worker..series).step_by(workers).collect()
}

// ---------------------------------------------------------------------------------------
// ingest-http

async fn ingest_http(args: &BenchArgs) -> Result<Report> {
    let client = bench_client(args)?;
    // InfluxDB needs the database to exist; Clio accepts the statement as a no-op. Any error
    // shows up again on the first write, with the server's message.
    let create = serde_urlencoded::to_string([("q", format!("CREATE DATABASE \"{}\"", args.db))])?;
    let _ = client
        .send(
            Method::POST,
            &format!("/query?{create}"),
            None,
            Bytes::new(),
        )
        .await;
    let path: Arc<str> = format!(
        "/write?{}",
        serde_urlencoded::to_string([("db", args.db.as_str()), ("precision", "ms")])?
    )
    .into();
    let workers = args.connections;
    let start = start_ts(args)?;
    let ring = ring_len(workers, args.batch).clamp(2, 32);
    let mut loads = Vec::with_capacity(workers);
    for w in 0..workers {
        let series = owned(w, workers, args.series);
        let names: Vec<String> = series
            .iter()
            .map(|i| {
                format!(
                    "{},host=h{:03},sensor=s{:06} value=",
                    args.measurement,
                    i % 100,
                    i
                )
            })
            .collect();
        let plan = Plan {
            n_series: series.len(),
            batch: args.batch,
            ring: ring_covering(ring, series.len(), args.batch),
            seed: args.seed.wrapping_add(w as u64),
            start_ts: start,
            interval: args.interval_ms,
        };
        let framing = Framing {
            head: b"",
            after_ts: b"\n",
            tail: b"",
        };
        loads.push(Workload::build(plan, framing, |buf, s, v, _| {
            buf.extend_from_slice(names[s].as_bytes());
            buf.extend_from_slice(clio_storage::format_number(v).as_bytes());
            buf.push(b' ');
        }));
    }
    let batch = args.batch as u64;
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut handles = Vec::with_capacity(workers);
    for (w, mut load) in loads.into_iter().enumerate() {
        let client = client.clone();
        let path = path.clone();
        let mut left = request_share(args, w, workers);
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::new()?;
            while Instant::now() < deadline && left > 0 {
                left -= 1;
                let body = load.next_body();
                let t0 = Instant::now();
                let r = client
                    .send(Method::POST, &path, Some("text/plain; charset=utf-8"), body)
                    .await;
                let failed_to_connect = matches!(r, Err(clio_client::Error::Transport(_)));
                tally.record(t0, r.map(|_| batch).map_err(|e| e.to_string()));
                if failed_to_connect {
                    // Do not spin on a dead server.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Ok::<_, anyhow::Error>(tally)
        }));
    }
    let tally = join(handles).await?;
    Ok(Report::new(
        tally,
        started.elapsed(),
        client.base_url().to_owned(),
        0,
        args.series,
    ))
}

/// The requests worker `w` of `workers` sends under `--points` (`u64::MAX`: no limit). Each
/// worker has its own share, so the points written do not depend on which worker is faster:
/// two runs with the same arguments write the same points.
fn request_share(args: &BenchArgs, w: usize, workers: usize) -> u64 {
    if args.points == 0 {
        return u64::MAX;
    }
    let total = args.points.div_ceil(args.batch.max(1) as u64);
    let workers = workers.max(1) as u64;
    total / workers + u64::from((w as u64) < total % workers)
}

async fn join(handles: Vec<tokio::task::JoinHandle<Result<Tally>>>) -> Result<Tally> {
    let mut total = Tally::new()?;
    for h in handles {
        total.merge(h.await.context("a bench worker failed")??)?;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// ingest-tcp

async fn ingest_tcp(args: &BenchArgs) -> Result<Report> {
    let start = start_ts(args)?;
    let workers = args.connections * args.pipeline;
    let ring = ring_len(workers, args.batch).clamp(2, 32);
    let options = TcpOptions {
        max_in_flight: args.pipeline,
        ..TcpOptions::default()
    };
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let c = TcpClient::connect_with(args.tcp.as_str(), options.clone())
            .await
            .with_context(|| format!("cannot connect to {}", args.tcp))?;
        clients.push(Arc::new(c));
    }
    let mut handles = Vec::with_capacity(workers);
    let mut loads = Vec::with_capacity(workers);
    for w in 0..workers {
        let ids: Vec<u64> = owned(w, workers, args.series)
            .into_iter()
            .map(|i| args.first_id + i as u64)
            .collect();
        let plan = Plan {
            n_series: ids.len(),
            batch: args.batch,
            ring: ring_covering(ring, ids.len(), args.batch),
            seed: args.seed.wrapping_add(w as u64),
            start_ts: start,
            interval: args.interval_ms,
        };
        let framing = Framing {
            head: br#"{"data":{"msg":"write","points":["#,
            after_ts: b"}",
            tail: br#"]},"err":null}"#,
        };
        loads.push(Workload::build(plan, framing, |buf, s, v, first| {
            if !first {
                buf.push(b',');
            }
            buf.extend_from_slice(br#"{"series":"#);
            buf.extend_from_slice(ids[s].to_string().as_bytes());
            buf.extend_from_slice(br#","value":"#);
            buf.extend_from_slice(clio_storage::format_number(v).as_bytes());
            buf.extend_from_slice(br#","ts":"#);
        }));
    }
    let started = Instant::now();
    let deadline = started + args.duration;
    for (w, mut load) in loads.into_iter().enumerate() {
        let client = clients[w % clients.len()].clone();
        let mut left = request_share(args, w, workers);
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::new()?;
            while Instant::now() < deadline && left > 0 {
                left -= 1;
                let body = load.next_body();
                let t0 = Instant::now();
                let r = client.request_raw(body).await;
                let closed = matches!(r, Err(clio_client::Error::Closed(_)));
                let r = r.map_err(|e| e.to_string()).and_then(|reply| {
                    reply
                        .get("points")
                        .and_then(serde_json::Value::as_u64)
                        .ok_or_else(|| format!("unexpected reply {reply}"))
                });
                tally.record(t0, r);
                if closed {
                    // The connection is gone for good; this worker is done.
                    break;
                }
            }
            Ok::<_, anyhow::Error>(tally)
        }));
    }
    let tally = join(handles).await?;
    Ok(Report::new(
        tally,
        started.elapsed(),
        format!("tcp://{}", args.tcp),
        0,
        args.series,
    ))
}

// ---------------------------------------------------------------------------------------
// query

/// The series to read: those of --measurement, else the ids ingest-tcp writes.
async fn query_ids(client: &HttpClient, args: &BenchArgs) -> Result<Vec<SeriesId>> {
    let filter = SeriesFilter {
        measurement: Some(args.measurement.clone()),
        ..SeriesFilter::default()
    };
    let mut ids: Vec<SeriesId> = client
        .list_series(&filter)
        .await
        .context("cannot list series")?
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        match client.get_series(SeriesId(args.first_id)).await {
            Ok(_) => {
                ids = (0..args.series as u64)
                    .map(|i| SeriesId(args.first_id + i))
                    .collect();
            }
            Err(e) if e.is_not_found() => bail!(
                "the server has no series of measurement `{}` nor series {}: run `clio bench ingest-http` (or ingest-tcp) first",
                args.measurement,
                args.first_id
            ),
            Err(e) => return Err(e.into()),
        }
    }
    ids.truncate(args.series);
    Ok(ids)
}

async fn query(args: &BenchArgs) -> Result<Report> {
    let client = bench_client(args)?;
    let lean = match args.client {
        ReadClient::Lean => true,
        ReadClient::Hyper => false,
        ReadClient::Auto => client.base_url().starts_with("http://"),
    };
    // Resolved first, so that a client that cannot talk to --server says so before any
    // request.
    let target = if lean {
        Some(lean::Target::resolve(client.base_url()).await?)
    } else {
        None
    };
    let ids = query_ids(&client, args).await?;
    let paths: Vec<Arc<str>> = if args.mode == Mode::Fn {
        let query = serde_urlencoded::to_string([("args", args.fn_args.as_str())])
            .context("cannot encode --fn-args")?;
        ids.iter()
            .map(|id| {
                Arc::from(format!(
                    "/api/v1/series/{}/fn/{}?{query}",
                    id.0, args.function
                ))
            })
            .collect()
    } else {
        ids.iter()
            .map(|id| HttpClient::points_path(*id, &PointsQuery::last(args.last)).map(Arc::from))
            .collect::<Result<_, _>>()?
    };
    let plan = Schedule {
        period: Duration::from_secs_f64(1.0 / args.rate).max(Duration::from_nanos(1)),
        duration: args.duration,
        max_in_flight: args.max_in_flight,
        samples: args.samples.is_some(),
    };
    let outcome = if let Some(target) = target {
        let token = bench_token(args)?;
        let requests = paths
            .iter()
            .map(|p| target.request(p, token.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        lean::run(&target, &requests, &plan).await?
    } else {
        query_pooled(&client, &paths, &plan).await?
    };
    if let Some(file) = &args.samples {
        write_samples(file, outcome.samples)?;
    }
    Ok(Report::new(
        outcome.tally,
        outcome.elapsed,
        client.base_url().to_owned(),
        outcome.delayed,
        ids.len(),
    ))
}

/// The pace of a read run.
struct Schedule {
    /// Between two requests' due times.
    period: Duration,
    /// Requests are due from the start until this much later.
    duration: Duration,
    /// Requests in flight at most; one due beyond it waits (and is counted as delayed).
    max_in_flight: usize,
    /// Keep every request's [`Sample`].
    samples: bool,
}

impl Schedule {
    /// How many requests fall due within the duration.
    fn requests(&self) -> u64 {
        let n = self
            .duration
            .as_nanos()
            .div_ceil(self.period.as_nanos().max(1));
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// What a read run measured.
struct ReadRun {
    tally: Tally,
    /// Every request's sample when the schedule asked for them.
    samples: Vec<Sample>,
    /// Requests that waited for an in-flight slot.
    delayed: u64,
    elapsed: Duration,
}

/// The reads through hyper's pooled client (`--client hyper`): a spawned task and a timer
/// per request.
async fn query_pooled(client: &HttpClient, paths: &[Arc<str>], plan: &Schedule) -> Result<ReadRun> {
    let slots = Arc::new(tokio::sync::Semaphore::new(plan.max_in_flight));
    let tally = Arc::new(Mutex::new(Tally::new()?));
    let samples = plan.samples.then(|| {
        let expected = usize::try_from(plan.requests())
            .unwrap_or(0)
            .min(100_000_000);
        Arc::new(Mutex::new(Vec::<Sample>::with_capacity(expected)))
    });
    let period = plan.period;
    let total = plan.requests();
    let mut pacer = Pacer::start(period).context("cannot start the pacing timer")?;
    let started = Instant::now();
    let mut delayed = 0u64;
    // Periods the pacer has counted: request i goes once i of them have ended.
    let mut ticked: u64 = 0;
    for i in 0..total {
        // Open loop: request i is due at start + i / rate, whatever happened to the others.
        let due = started + period.mul_f64(i as f64);
        while ticked < i {
            ticked += pacer.tick().await.context("the pacing timer failed")?;
        }
        let slot = match slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                delayed += 1;
                slots
                    .clone()
                    .acquire_owned()
                    .await
                    .context("in-flight slots closed")?
            }
        };
        let path = paths[(i % paths.len() as u64) as usize].clone();
        let client = client.clone();
        let tally = tally.clone();
        let samples = samples.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let r = client.get_raw(&path).await;
            let r = r.map(|_| 0).map_err(|e| e.to_string());
            let lag = t0.saturating_duration_since(due);
            if let Some(samples) = samples {
                let sample = Sample {
                    due: due.duration_since(started),
                    lag,
                    latency: t0.elapsed(),
                    ok: r.is_ok(),
                };
                samples
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(sample);
            }
            let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
            tally.record(t0, r);
            tally.record_lag(lag);
            drop(slot);
        });
    }
    // Wait for the requests still in flight.
    let all = u32::try_from(plan.max_in_flight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    let elapsed = started.elapsed();
    let samples = samples
        .map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(|p| p.into_inner())))
        .unwrap_or_default();
    let tally = std::mem::replace(
        &mut *tally.lock().unwrap_or_else(|p| p.into_inner()),
        Tally::new()?,
    );
    Ok(ReadRun {
        tally,
        samples,
        delayed,
        elapsed,
    })
}

/// One read of `--samples`.
struct Sample {
    /// When it was due, after the start.
    due: Duration,
    /// How long after that the generator sent it.
    lag: Duration,
    /// How long its answer took.
    latency: Duration,
    ok: bool,
}

/// Writes `--samples` in the order the requests were due.
fn write_samples(file: &std::path::Path, mut samples: Vec<Sample>) -> Result<()> {
    use std::io::Write;
    samples.sort_unstable_by_key(|s| s.due);
    let f = std::fs::File::create(file)
        .with_context(|| format!("cannot create the samples file {}", file.display()))?;
    let mut out = std::io::BufWriter::new(f);
    let us = |d: Duration| d.as_micros();
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "due_us,lag_us,latency_us,ok")?;
        for s in &samples {
            writeln!(
                out,
                "{},{},{},{}",
                us(s.due),
                us(s.lag),
                us(s.latency),
                u8::from(s.ok)
            )?;
        }
        out.flush()
    };
    write().with_context(|| format!("cannot write the samples file {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_counts_the_requests_due_within_its_duration() {
        let count = |rate: f64, secs: f64| {
            Schedule {
                period: Duration::from_secs_f64(1.0 / rate),
                duration: Duration::from_secs_f64(secs),
                max_in_flight: 1,
                samples: false,
            }
            .requests()
        };
        assert_eq!(count(200.0, 1.0), 200);
        assert_eq!(count(5000.0, 10.0), 50_000);
        // Due at 0, 1/3 s and 2/3 s, and at 999,999,999 ns: a period of 1/3 s rounds down.
        assert_eq!(count(3.0, 1.0), 4);
        // A run shorter than one period still sends the request due at the start.
        assert_eq!(count(1.0, 0.5), 1);
    }

    #[test]
    fn timestamps_are_patched_and_advance_per_series() {
        let plan = Plan {
            n_series: 3,
            batch: 4,
            ring: 2,
            seed: 7,
            start_ts: 1_700_000_000_000,
            interval: 1000,
        };
        let framing = Framing {
            head: b"[",
            after_ts: b";",
            tail: b"]",
        };
        let mut load = Workload::build(plan, framing, |buf, s, v, _| {
            buf.extend_from_slice(format!("s{s}={v}@").as_bytes());
        });
        let body = String::from_utf8(load.next_body().to_vec()).unwrap();
        let lines: Vec<&str> = body
            .trim_matches(['[', ']'])
            .split_terminator(';')
            .collect();
        assert_eq!(lines.len(), 4);
        // Series 0 appears twice in a batch of 4 over 3 series: its second point is one
        // interval later.
        assert!(
            lines[0].starts_with("s0=") && lines[0].ends_with("@1700000000000"),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("s1=") && lines[1].ends_with("@1700000000000"));
        assert!(
            lines[3].starts_with("s0=") && lines[3].ends_with("@1700000001000"),
            "{}",
            lines[3]
        );
        let body2 = String::from_utf8(load.next_body().to_vec()).unwrap();
        assert!(
            body2.contains("@1700000001000"),
            "series 1 and 2 advance: {body2}"
        );
        assert!(
            body2.contains("@1700000002000"),
            "series 0 advances again: {body2}"
        );
        // The templates themselves are untouched (placeholders), so they can be reused.
        assert!(
            load.templates[0]
                .bytes
                .windows(13)
                .any(|w| w == b"0000000000000")
        );
    }

    #[test]
    fn values_are_noisy_but_stay_near_their_level() {
        let mut values = Vec::new();
        let plan = Plan {
            n_series: 1,
            batch: 2000,
            ring: 1,
            seed: 3,
            start_ts: TS_MIN,
            interval: 1,
        };
        let framing = Framing {
            head: b"",
            after_ts: b"",
            tail: b"",
        };
        Workload::build(plan, framing, |_, _, v, _| values.push(v));
        let distinct: std::collections::BTreeSet<u64> =
            values.iter().map(|v| v.to_bits()).collect();
        assert!(distinct.len() > 50, "values vary");
        assert!(
            values.iter().all(|v| (0.0..20.0).contains(v)),
            "level 10 ± drift"
        );
    }

    #[test]
    fn series_are_split_between_workers() {
        assert_eq!(owned(0, 3, 7), vec![0, 3, 6]);
        assert_eq!(owned(2, 3, 7), vec![2, 5]);
        let all: usize = (0..3).map(|w| owned(w, 3, 7).len()).sum();
        assert_eq!(all, 7);
    }

    #[test]
    fn every_series_is_in_the_ring() {
        let n = 250_000;
        let plan = Plan {
            n_series: n,
            batch: 5000,
            ring: ring_covering(32, n, 5000),
            seed: 1,
            start_ts: 1_000,
            interval: 10,
        };
        let framing = Framing {
            head: b"",
            after_ts: b"\n",
            tail: b"",
        };
        let w = Workload::build(plan, framing, |_, _, _, _| {});
        let mut seen = vec![false; n];
        for t in &w.templates {
            for &(_, s) in &t.slots {
                seen[s] = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "series left out of the ring");
        assert_eq!(ring_covering(32, 1000, 5000), 32);
    }

    #[test]
    fn point_budgets_are_split_into_fixed_shares() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let mut a = <Cli as clap::Parser>::parse_from([
            "bench",
            "ingest-http",
            "-b",
            "1000",
            "--points",
            "10500",
        ])
        .bench;
        let shares: Vec<u64> = (0..4).map(|w| request_share(&a, w, 4)).collect();
        assert_eq!(shares, [3, 3, 3, 2]);
        a.points = 0;
        assert_eq!(request_share(&a, 0, 4), u64::MAX);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn fixed_width_timestamps() {
        let mut b = [0u8; 13];
        write_ts(&mut b, 1_700_000_000_123);
        assert_eq!(&b, b"1700000000123");
    }
}
