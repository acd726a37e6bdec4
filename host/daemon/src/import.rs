//! `clio import --db FILE INPUT`: loads InfluxDB line protocol into a database file offline,
//! straight into the storage backend (no write-ahead log: an interrupted import is simply run
//! again, since rewriting a point replaces it). `--alepiz FILE` loads an ALEPIZ history file
//! instead (see [`crate::import_alepiz`]).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use clio_core::{DirLock, KEY_ID_BASE};
use clio_lineproto::{Parser, Precision};
use clio_storage::prelude::*;
use clio_storage::{
    NewSeries, Point, SeriesId, SeriesKey, SeriesPoints, SeriesSettings, StorageBackend,
};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `clio import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The database file to load into (created when missing). No server may use its
    /// directory meanwhile.
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Timestamp unit of the input: ns, us, ms or s (also h and m, as InfluxDB 1.x).
    #[arg(long, default_value = "ns")]
    pub precision: String,
    /// Points buffered before they are written (memory grows with it).
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_points: usize,
    /// An ALEPIZ history database (SQLite, `objects`/`numbers`/`strings` tables) to load
    /// instead of line protocol: every object's history under its OCID.
    #[arg(long, value_name = "FILE", conflicts_with = "input")]
    pub alepiz: Option<PathBuf>,
    /// With --alepiz: a CSV of `OCID,keep_history_days,keep_trends_days` (ALEPIZ keeps these
    /// in its main database, not in the history file).
    #[arg(long, value_name = "CSV", requires = "alepiz")]
    pub retention: Option<PathBuf>,
    /// Line protocol to read; `-` reads standard input.
    #[arg(required_unless_present = "alepiz")]
    pub input: Option<String>,
}

/// Bytes read per parse step; lines never straddle two steps.
const BLOCK: usize = 4 << 20;
/// Bad lines printed in full; the rest are only counted.
const SHOWN_ERRORS: usize = 10;

struct Ids {
    by_key: HashMap<SeriesKey, SeriesId>,
    used: std::collections::HashSet<SeriesId>,
    /// The next id to try; `None` once the key range is used up.
    next: Option<u64>,
    pending: Vec<NewSeries>,
}

impl Ids {
    /// The key's id, allocated like the engine does (from 2^48 up, never wrapping).
    fn id_of(&mut self, key: SeriesKey) -> Result<SeriesId> {
        if let Some(id) = self.by_key.get(&key) {
            return Ok(*id);
        }
        let mut next = self.next;
        while let Some(n) = next
            && self.used.contains(&SeriesId(n))
        {
            next = n.checked_add(1);
        }
        let Some(n) = next else {
            self.next = None;
            bail!(
                "no series id is left for the new key `{key}`: every id from {KEY_ID_BASE} up is in use"
            );
        };
        let id = SeriesId(n);
        self.next = n.checked_add(1);
        self.used.insert(id);
        self.by_key.insert(key.clone(), id);
        self.pending.push(NewSeries {
            id,
            key: Some(key),
            settings: SeriesSettings::default(),
        });
        Ok(id)
    }
}

/// Runs the import and prints its summary.
pub fn run(args: &ImportArgs) -> Result<()> {
    let precision: Precision = args
        .precision
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("invalid --precision")?;
    if args.batch_points == 0 {
        bail!("--batch-points must be at least 1");
    }
    let input = match (&args.alepiz, &args.input) {
        (Some(file), _) => return crate::import_alepiz::run(args, file),
        (None, Some(input)) => input.as_str(),
        (None, None) => bail!("give a line-protocol INPUT (or - for stdin), or --alepiz FILE"),
    };
    let dir = match args.db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let _lock = DirLock::acquire(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(import(args, input, precision))
}

async fn import(args: &ImportArgs, input: &str, precision: Precision) -> Result<()> {
    let started = Instant::now();
    let backend = Arc::new(
        SqliteBackend::open(SqliteOptions::new(&args.db))
            .with_context(|| format!("cannot open {}", args.db.display()))?,
    );
    let catalog = backend.load_catalog().await?;
    let series_before = catalog.len();
    let mut ids = Ids {
        next: catalog
            .iter()
            .filter(|s| s.key.is_some())
            .map(|s| s.id.0)
            .filter(|&id| id >= KEY_ID_BASE)
            .max()
            .map_or(Some(KEY_ID_BASE), |m| m.checked_add(1)),
        used: catalog.iter().map(|s| s.id).collect(),
        by_key: catalog
            .into_iter()
            .filter_map(|s| s.key.map(|k| (k, s.id)))
            .collect(),
        pending: Vec::new(),
    };

    let (mut input, total): (Box<dyn Read>, Option<u64>) = if input == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(input).with_context(|| format!("cannot open {input}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            )?,
        ),
        None => ProgressBar::new_spinner().with_style(ProgressStyle::with_template(
            "{elapsed_precise} {spinner} {bytes} {binary_bytes_per_sec} {msg}",
        )?),
    };
    bar.enable_steady_tick(Duration::from_millis(200));

    let parser = Parser::new(precision, clio_core::now_ms());
    let mut buf: HashMap<SeriesId, Vec<Point>> = HashMap::new();
    let mut buffered = 0usize;
    let mut next_line = 1usize;
    let mut points = 0u64;
    let mut raw = String::new();
    let mut raw_ids: HashMap<String, SeriesId> = HashMap::new();
    let mut bad_lines = 0usize;
    let mut carry: Vec<u8> = Vec::new();
    let mut block = vec![0u8; BLOCK];
    let mut in_flight: Option<tokio::task::JoinHandle<Result<()>>> = None;
    let mut eof = false;
    while !eof {
        let n = read_full(&mut input, &mut block)?;
        eof = n == 0;
        bar.inc(n as u64);
        carry.extend_from_slice(&block[..n]);
        let mut key_errors = Vec::new();
        let report = parser.parse_chunk(&carry, next_line, eof, |line| {
            for (i, (_, value)) in line.fields.iter().enumerate() {
                // Cache by the key exactly as written: no canonicalisation on the hot path.
                raw.clear();
                raw.push_str(line.raw_key);
                raw.push(' ');
                raw.push_str(&line.fields[i].0);
                let id = match raw_ids.get(raw.as_str()) {
                    Some(id) => *id,
                    None => match line.series_key(i) {
                        Some(Ok(key)) => match ids.id_of(key) {
                            Ok(id) => {
                                raw_ids.insert(raw.clone(), id);
                                id
                            }
                            Err(e) => {
                                key_errors.push(format!("line {}: {e}", line.line));
                                continue;
                            }
                        },
                        Some(Err(e)) => {
                            key_errors.push(format!("line {}: invalid series key: {e}", line.line));
                            continue;
                        }
                        None => continue,
                    },
                };
                buf.entry(id).or_default().push(Point {
                    ts: line.ts,
                    value: value.to_value(),
                });
                buffered += 1;
                points += 1;
            }
        });
        for e in &report.errors {
            if bad_lines < SHOWN_ERRORS {
                bar.suspend(|| eprintln!("line {}: {e}", e.line));
            }
            bad_lines += 1;
        }
        bad_lines += report.error_count.saturating_sub(report.errors.len());
        for e in key_errors {
            if bad_lines < SHOWN_ERRORS {
                bar.suspend(|| eprintln!("{e}"));
            }
            bad_lines += 1;
        }
        next_line += report.lines;
        let mut consumed = report.consumed;
        if consumed == 0 && !eof && carry.len() > parser.max_line_len() {
            // One physical line longer than the limit: report it and skip to its end.
            let end = carry
                .iter()
                .position(|&b| b == b'\n')
                .map_or(carry.len(), |i| i + 1);
            if bad_lines < SHOWN_ERRORS {
                bar.suspend(|| eprintln!("line {next_line}: line too long"));
            }
            bad_lines += 1;
            next_line += 1;
            consumed = end;
        }
        carry.drain(..consumed);
        if buffered >= args.batch_points || (eof && buffered > 0) {
            if let Some(h) = in_flight.take() {
                h.await??;
            }
            let new = std::mem::take(&mut ids.pending);
            let batch = take_batch(&mut buf);
            buffered = 0;
            let backend = backend.clone();
            in_flight = Some(tokio::spawn(async move {
                backend.create_series(&new).await?;
                backend.write(&batch).await?;
                Ok(())
            }));
            bar.set_message(format!("{points} points"));
        }
    }
    if let Some(h) = in_flight.take() {
        h.await??;
    }
    bar.finish_and_clear();
    backend.checkpoint().await?;
    let totals = backend.totals().await?;
    backend.close().await?;
    let elapsed = started.elapsed();
    let file_bytes = std::fs::metadata(&args.db).map_or(0, |m| m.len());
    let per_point = |b: u64| {
        if totals.points == 0 {
            0.0
        } else {
            b as f64 / totals.points as f64
        }
    };
    println!(
        "imported {points} points from {} lines in {:.1} s ({:.0} points/s)",
        next_line - 1,
        elapsed.as_secs_f64(),
        points as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!(
        "series: {} new, {} in the file",
        totals.series.saturating_sub(series_before as u64),
        totals.series
    );
    println!(
        "stored: {} points in {} chunks, {} trend buckets",
        totals.points, totals.chunks, totals.trend_buckets
    );
    println!(
        "size: {:.3} bytes/point in chunks, {:.3} bytes/point for the whole file ({} bytes)",
        per_point(totals.chunk_bytes),
        per_point(file_bytes),
        file_bytes
    );
    if bad_lines > 0 {
        bail!(
            "{bad_lines} lines were rejected (the first {} are shown above); the rest was imported",
            bad_lines.min(SHOWN_ERRORS)
        );
    }
    Ok(())
}

/// Sorts each series' points by time; for a timestamp given twice the later line wins.
pub(crate) fn take_batch(buf: &mut HashMap<SeriesId, Vec<Point>>) -> Vec<SeriesPoints> {
    let mut out: Vec<SeriesPoints> = buf
        .drain()
        .map(|(series, mut points)| {
            points.sort_by_key(|p| p.ts); // stable: equal timestamps keep input order
            let mut dedup: Vec<Point> = Vec::with_capacity(points.len());
            for p in points {
                match dedup.last_mut() {
                    Some(last) if last.ts == p.ts => *last = p,
                    _ => dedup.push(p),
                }
            }
            SeriesPoints {
                series,
                points: dedup,
            }
        })
        .collect();
    out.sort_by_key(|s| s.series);
    out
}

/// Reads until `buf` is full or the input ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("cannot read input"),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_sorted_and_the_last_duplicate_wins() {
        let mut buf = HashMap::new();
        buf.insert(
            SeriesId(2),
            vec![Point::new(5, 1.0), Point::new(1, 2.0), Point::new(5, 3.0)],
        );
        buf.insert(SeriesId(1), vec![Point::new(0, "x")]);
        let b = take_batch(&mut buf);
        assert_eq!(b[0].series, SeriesId(1));
        assert_eq!(b[1].points, vec![Point::new(1, 2.0), Point::new(5, 3.0)]);
        assert!(buf.is_empty());
    }
}
