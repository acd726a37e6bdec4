//! `clio import --alepiz FILE --db DB [--retention CSV]`: an ALEPIZ installation's history
//! brought over offline.
//!
//! ALEPIZ keeps one SQLite file per history database with `objects` (one row per OCID),
//! `numbers` and `strings` (one row per value, duplicates allowed) and `trends10min`/`30min`/
//! `60min` (reference: `alepiz-history-behaviour.md` §7.1). Every object becomes the numeric
//! series of its OCID, with its numbers and strings; Clio's own trend buckets are rebuilt from
//! those raw points by the backend as they are written. ALEPIZ's trend tables are not
//! imported: they hold a moving average (α = ½ per record) stamped half an interval ahead,
//! not bucket aggregates, so no Clio bucket could be made from them. Retention (Keep history,
//! Keep trends) lives in ALEPIZ's main database, not in the history file; it comes from an
//! optional CSV.
//!
//! Clio keeps one value per series and millisecond; where ALEPIZ has several, the row written
//! last wins (strings after numbers), and the summary counts the others.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clio_core::{DirLock, KEY_ID_BASE};
use clio_storage::prelude::*;
use clio_storage::{NewSeries, Point, SeriesId, SeriesSettings, SeriesUpdate, Value};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::import::{ImportArgs, take_batch};

/// Rows of a value that cannot be stored, printed in full; the rest are only counted.
const SHOWN_ERRORS: usize = 10;

/// Retention of one object, from the CSV.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Keep {
    history_days: u32,
    trends_days: u32,
}

/// Runs the import of an ALEPIZ history file and prints its summary.
pub fn run(args: &ImportArgs, file: &Path) -> Result<()> {
    let retention = match &args.retention {
        Some(csv) => read_retention(csv)?,
        None => HashMap::new(),
    };
    let source = open_source(file)?;
    let dir = match args.db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let _lock = DirLock::acquire(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(import(args, file, &source, &retention))
}

/// Opens the ALEPIZ file read-only and checks that it has ALEPIZ's tables.
fn open_source(file: &Path) -> Result<Connection> {
    if !file.is_file() {
        bail!("ALEPIZ history file {} does not exist", file.display());
    }
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", file.display()))?;
    for table in ["objects", "numbers", "strings"] {
        if !has_table(&conn, table)
            .with_context(|| format!("{} is not an SQLite database", file.display()))?
        {
            bail!(
                "{} is not an ALEPIZ history file: it has no `{table}` table",
                file.display()
            );
        }
    }
    Ok(conn)
}

fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Reads `OCID,keep_history_days,keep_trends_days` lines; a first line that does not start
/// with a number is a header; blank lines and lines starting with `#` are skipped.
fn read_retention(path: &Path) -> Result<HashMap<u64, Keep>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read retention CSV {}", path.display()))?;
    parse_retention(&text).with_context(|| format!("in retention CSV {}", path.display()))
}

fn parse_retention(text: &str) -> Result<HashMap<u64, Keep>> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        if i == 0 && fields[0].parse::<u64>().is_err() {
            continue; // header
        }
        let n = i + 1;
        if fields.len() != 3 {
            bail!(
                "line {n}: expected OCID,keep_history_days,keep_trends_days, got {} fields",
                fields.len()
            );
        }
        let ocid: u64 = fields[0]
            .parse()
            .ok()
            .filter(|o| (1..KEY_ID_BASE).contains(o))
            .with_context(|| {
                format!(
                    "line {n}: OCID `{}` is not an id from 1 to 2^48-1",
                    fields[0]
                )
            })?;
        let days = |f: &str, what: &str| -> Result<u32> {
            f.parse()
                .with_context(|| format!("line {n}: {what} `{f}` is not a whole number of days"))
        };
        let keep = Keep {
            history_days: days(fields[1], "keep_history_days")?,
            trends_days: days(fields[2], "keep_trends_days")?,
        };
        if out.insert(ocid, keep).is_some() {
            bail!("line {n}: OCID {ocid} is given twice");
        }
    }
    Ok(out)
}

/// What the import found, for the summary.
#[derive(Debug, Default)]
struct Tally {
    objects: u64,
    empty_objects: u64,
    numbers: u64,
    strings: u64,
    rejected: u64,
    bad_ids: u64,
}

async fn import(
    args: &ImportArgs,
    file: &Path,
    src: &Connection,
    retention: &HashMap<u64, Keep>,
) -> Result<()> {
    let started = Instant::now();
    let backend = Arc::new(
        SqliteBackend::open(SqliteOptions::new(&args.db))
            .with_context(|| format!("cannot open {}", args.db.display()))?,
    );
    let existing: HashMap<SeriesId, SeriesSettings> = backend
        .load_catalog()
        .await?
        .into_iter()
        .map(|s| (s.id, s.settings))
        .collect();
    let points_before = backend.totals().await?.points;

    let total_rows: u64 = src.query_row(
        "SELECT (SELECT count(*) FROM numbers) + (SELECT count(*) FROM strings)",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;
    let bar = ProgressBar::new(total_rows).with_style(ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} rows {per_sec} eta {eta} {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(200));

    // Every OCID that has an object row or values (ALEPIZ's writer turns foreign keys on,
    // other writers may not have).
    let mut ids: Vec<i64> = src
        .prepare(
            "SELECT id FROM objects UNION SELECT objectID FROM numbers \
             UNION SELECT objectID FROM strings ORDER BY 1",
        )?
        .query_map([], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.dedup();
    let mut numbers = src.prepare(
        "SELECT timestamp, data FROM numbers WHERE objectID = ?1 ORDER BY timestamp, id",
    )?;
    let mut strings = src.prepare(
        "SELECT timestamp, data FROM strings WHERE objectID = ?1 ORDER BY timestamp, id",
    )?;

    let mut tally = Tally::default();
    let mut buf: HashMap<SeriesId, Vec<Point>> = HashMap::new();
    let mut buffered = 0usize;
    let mut pending_new: Vec<NewSeries> = Vec::new();
    let mut updates: Vec<(SeriesId, SeriesUpdate)> = Vec::new();
    let mut in_flight: Option<tokio::task::JoinHandle<Result<()>>> = None;
    let mut shown = 0usize;
    let mut complain = |bar: &ProgressBar, msg: String| {
        if shown < SHOWN_ERRORS {
            bar.suspend(|| eprintln!("{msg}"));
        }
        shown += 1;
    };

    for &raw_id in &ids {
        let ocid = match u64::try_from(raw_id) {
            Ok(o) if (1..KEY_ID_BASE).contains(&o) => o,
            _ => {
                let skipped: i64 = src.query_row(
                    "SELECT (SELECT count(*) FROM numbers WHERE objectID = ?1) + \
                     (SELECT count(*) FROM strings WHERE objectID = ?1)",
                    [raw_id],
                    |r| r.get(0),
                )?;
                complain(
                    &bar,
                    format!(
                        "object {raw_id}: not an OCID from 1 to 2^48-1; its {skipped} rows were skipped"
                    ),
                );
                tally.bad_ids += 1;
                tally.rejected += skipped as u64;
                bar.inc(skipped as u64);
                continue;
            }
        };
        let id = SeriesId(ocid);
        tally.objects += 1;
        let keep = retention.get(&ocid);
        if existing.contains_key(&id) {
            if let Some(k) = keep {
                updates.push((
                    id,
                    SeriesUpdate {
                        keep_history_days: Some(k.history_days),
                        keep_trends_days: Some(k.trends_days),
                        metadata: None,
                    },
                ));
            }
        } else {
            let mut settings = SeriesSettings::default();
            if let Some(k) = keep {
                settings.keep_history_days = k.history_days;
                settings.keep_trends_days = k.trends_days;
            }
            pending_new.push(NewSeries {
                id,
                key: None,
                settings,
            });
        }
        let mut rows_of_object = 0u64;
        // Numbers first, then strings: at a shared millisecond the later (the string) wins.
        for (stmt, is_string) in [(&mut numbers, false), (&mut strings, true)] {
            let mut rows = stmt.query([raw_id])?;
            while let Some(row) = rows.next()? {
                rows_of_object += 1;
                bar.inc(1);
                let ts: i64 = match row.get_ref(0)? {
                    ValueRef::Integer(t) => t,
                    ValueRef::Real(t) if t.fract() == 0.0 && t.abs() < 9.0e15 => t as i64,
                    other => {
                        tally.rejected += 1;
                        complain(
                            &bar,
                            format!("object {ocid}: timestamp {other:?} is not whole milliseconds"),
                        );
                        continue;
                    }
                };
                let value = match to_value(row.get_ref(1)?) {
                    Ok(v) => v,
                    Err(why) => {
                        tally.rejected += 1;
                        complain(&bar, format!("object {ocid} at {ts}: {why}"));
                        continue;
                    }
                };
                if is_string {
                    tally.strings += 1;
                } else {
                    tally.numbers += 1;
                }
                buf.entry(id).or_default().push(Point { ts, value });
                buffered += 1;
                if buffered >= args.batch_points {
                    if let Some(h) = in_flight.take() {
                        h.await??;
                    }
                    in_flight = Some(spawn_write(
                        &backend,
                        std::mem::take(&mut pending_new),
                        std::mem::take(&mut updates),
                        take_batch(&mut buf),
                    ));
                    buffered = 0;
                }
            }
        }
        if rows_of_object == 0 {
            tally.empty_objects += 1;
        }
    }
    if let Some(h) = in_flight.take() {
        h.await??;
    }
    spawn_write(&backend, pending_new, updates, take_batch(&mut buf)).await??;
    bar.finish_and_clear();
    backend.checkpoint().await?;
    let totals = backend.totals().await?;
    backend.close().await?;

    let alepiz_trends = alepiz_trend_rows(src)?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let rows = tally.numbers + tally.strings;
    let stored = totals.points.saturating_sub(points_before);
    let source_bytes = std::fs::metadata(file).map_or(0, |m| m.len());
    let file_bytes = std::fs::metadata(&args.db).map_or(0, |m| m.len());
    println!(
        "imported {rows} rows ({} numbers, {} strings) of {} objects ({} without values) in {elapsed:.1} s ({:.0} rows/s)",
        tally.numbers,
        tally.strings,
        tally.objects,
        tally.empty_objects,
        rows as f64 / elapsed
    );
    println!(
        "stored: {stored} new points{}; {} trend buckets rebuilt from the raw points",
        if rows > stored {
            format!(
                " ({} rows shared a millisecond with a later row of the same object; the later was kept)",
                rows - stored
            )
        } else {
            String::new()
        },
        totals.trend_buckets
    );
    if alepiz_trends > 0 {
        println!(
            "not imported: {alepiz_trends} rows of ALEPIZ's trends10min/30min/60min: they are moving averages \
             (each record averaged into the last, stamped half an interval ahead), not bucket aggregates"
        );
    }
    let unmatched = retention
        .keys()
        .filter(|o| i64::try_from(**o).is_ok_and(|o| ids.binary_search(&o).is_err()))
        .count();
    if !retention.is_empty() {
        println!(
            "retention: {} objects from the CSV{}",
            retention.len() - unmatched,
            if unmatched > 0 {
                format!(", {unmatched} CSV lines name an OCID the file does not have")
            } else {
                String::new()
            }
        );
    }
    println!(
        "size: {source_bytes} bytes in ALEPIZ's file, {file_bytes} bytes in Clio's ({:.2} bytes/point)",
        if totals.points == 0 {
            0.0
        } else {
            file_bytes as f64 / totals.points as f64
        }
    );
    if tally.rejected > 0 {
        bail!(
            "{} rows could not be imported ({} objects with an id that is no OCID; the first {} problems are shown above); the rest was imported",
            tally.rejected,
            tally.bad_ids,
            shown.min(SHOWN_ERRORS)
        );
    }
    Ok(())
}

/// One batch: new series, settings from the CSV for series that existed, then points.
fn spawn_write(
    backend: &Arc<SqliteBackend>,
    new: Vec<NewSeries>,
    updates: Vec<(SeriesId, SeriesUpdate)>,
    batch: Vec<clio_storage::SeriesPoints>,
) -> tokio::task::JoinHandle<Result<()>> {
    let backend = backend.clone();
    tokio::spawn(async move {
        if !new.is_empty() {
            backend.create_series(&new).await?;
        }
        for (id, u) in &updates {
            backend.update_series(*id, u).await?;
        }
        if !batch.is_empty() {
            backend.write(&batch).await?;
        }
        Ok(())
    })
}

/// A stored ALEPIZ value as Clio's: numbers stay numbers, text stays text (ALEPIZ stored a
/// numeric-looking string in `numbers` already).
fn to_value(v: ValueRef<'_>) -> std::result::Result<Value, String> {
    match v {
        ValueRef::Integer(i) => Ok(Value::Num(i as f64)),
        ValueRef::Real(f) => Value::number(f).map_err(|e| e.to_string()),
        ValueRef::Text(t) => Ok(Value::Str(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Null => Err("the value is NULL".into()),
        ValueRef::Blob(_) => Err("the value is a BLOB, neither number nor text".into()),
    }
}

/// Rows in ALEPIZ's trend tables (absent tables count 0).
fn alepiz_trend_rows(src: &Connection) -> Result<u64> {
    let mut n = 0u64;
    for t in ["trends10min", "trends30min", "trends60min"] {
        if has_table(src, t)? {
            n += src.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })? as u64;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_csv_with_header_comments_and_errors() {
        let m = parse_retention(
            "OCID,keep_history_days,keep_trends_days\n# x\n\n7, 30, 365\n\"9\",0,10\n",
        )
        .unwrap();
        assert_eq!(
            m.get(&7),
            Some(&Keep {
                history_days: 30,
                trends_days: 365
            })
        );
        assert_eq!(m.get(&9).map(|k| k.history_days), Some(0));
        let e = parse_retention("1,2\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("2 fields"), "{e}");
        let e = format!("{:#}", parse_retention("1,2,x\n").unwrap_err());
        assert!(e.contains("keep_trends_days `x`"), "{e}");
        let e = format!("{:#}", parse_retention("0,2,3\n").unwrap_err());
        assert!(e.contains("OCID `0`"), "{e}");
        let e = format!("{:#}", parse_retention("5,1,1\n5,2,2\n").unwrap_err());
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn values_keep_their_kind_and_bad_ones_are_named() {
        assert_eq!(to_value(ValueRef::Integer(3)), Ok(Value::Num(3.0)));
        assert_eq!(to_value(ValueRef::Real(2.5)), Ok(Value::Num(2.5)));
        assert_eq!(
            to_value(ValueRef::Text(b"{\"a\":1}")),
            Ok(Value::Str("{\"a\":1}".into()))
        );
        assert!(to_value(ValueRef::Null).unwrap_err().contains("NULL"));
        assert!(to_value(ValueRef::Real(f64::INFINITY)).is_err());
    }
}
