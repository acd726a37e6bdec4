//! `clio storage status`: the backends of a running server, with replica lag.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use clio_client::Method;

use crate::server_conn::{ServerArg, block_on};

/// Arguments of `clio storage`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: ServerArg,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Each backend: role, state, applied log position, lag, last error.
    Status,
    /// Chunk rows of an SQLite file by the id of the data key that sealed them (`plain`:
    /// unsealed). Read-only, no key needed, safe while a server runs. A previous key may be
    /// dropped once no row names it.
    Keys {
        /// The database file (for example data/clio.db).
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
    },
    /// Re-seals every chunk of an SQLite file under the current data key, after a key
    /// rotation. The server must be stopped (the data directory's lock is taken).
    Reseal {
        /// The database file (for example data/clio.db).
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// The current (new) key's file; without it `CLIO_DATA_KEY`.
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        /// The previous key's file.
        #[arg(long, value_name = "FILE")]
        previous_key_file: Option<PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

/// Runs the command.
pub fn run(args: &StorageArgs) -> Result<()> {
    match &args.action {
        Action::Status => status(args),
        Action::Keys { db } => keys(db, args.json),
        Action::Reseal {
            db,
            key_file,
            previous_key_file,
            batch,
        } => reseal(
            db,
            key_file.as_deref(),
            previous_key_file.as_deref(),
            *batch,
        ),
    }
}

fn keys(db: &Path, json: bool) -> Result<()> {
    let rows = clio_storage_sqlite::chunks_by_key_in(db)
        .with_context(|| format!("cannot read {}", db.display()))?;
    if json {
        let v: serde_json::Map<String, serde_json::Value> = rows
            .into_iter()
            .map(|(k, n)| (k, serde_json::Value::from(n)))
            .collect();
        println!("{}", serde_json::Value::Object(v));
        return Ok(());
    }
    println!("{:<18} {:>12}", "key id", "chunks");
    for (k, n) in rows {
        println!("{k:<18} {n:>12}");
    }
    Ok(())
}

fn reseal(db: &Path, key_file: Option<&Path>, previous: Option<&Path>, batch: usize) -> Result<()> {
    let keys = clio_storage::sealing::Keyring::load(key_file, previous)?;
    let Some(current) = keys.current_id() else {
        bail!("no current data key: give --key-file or set CLIO_DATA_KEY");
    };
    if !db.is_file() {
        bail!("{}: no such database file", db.display());
    }
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let _lock =
        clio_core::DirLock::acquire(&dir).context("the server must be stopped for a reseal")?;
    let mut o = clio_storage_sqlite::SqliteOptions::new(db);
    o.keys = std::sync::Arc::new(keys);
    // The file's own trend intervals, so that opening changes nothing else.
    let intervals = clio_storage_sqlite::DirectReader::open_with_keys(db, o.keys.clone())?
        .trend_intervals()
        .to_vec();
    if !intervals.is_empty() {
        o.trend_intervals = intervals;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let n = rt.block_on(async move {
        let b = clio_storage_sqlite::SqliteBackend::open(o)?;
        let n = b.reseal(batch).await;
        let _ = clio_storage::StorageBackend::close(&b).await;
        n
    })?;
    println!("re-sealed {n} chunks under key {current}");
    Ok(())
}

fn status(args: &StorageArgs) -> Result<()> {
    let client = args.server.client()?;
    let (status, body) =
        block_on(client.send(Method::GET, "/api/v1/storage", None, Bytes::new()))??;
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("the server's answer is not JSON")?;
    if !status.is_success() {
        bail!("{}", v["error"].as_str().unwrap_or("request failed"));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "storage {} (read failover {}, {} reads failed over)",
        v["status"].as_str().unwrap_or("?"),
        if v["read_failover"] == true {
            "on"
        } else {
            "off"
        },
        v["failover_reads"]
    );
    println!(
        "{:<12} {:<8} {:<8} {:<10} {:>14} {:>14} {:>10}  error",
        "name", "type", "role", "state", "lag points", "lag bytes", "lag s"
    );
    for b in v["backends"].as_array().into_iter().flatten() {
        let num = |k: &str| b.get(k).map_or("-".to_string(), |x| x.to_string());
        println!(
            "{:<12} {:<8} {:<8} {:<10} {:>14} {:>14} {:>10}  {}",
            b["name"].as_str().unwrap_or("?"),
            b["type"].as_str().unwrap_or("?"),
            b["role"].as_str().unwrap_or("?"),
            b["state"].as_str().unwrap_or("?"),
            if b["role"] == "primary" {
                format!("{} unflushed", num("unflushed_points"))
            } else {
                num("lag_points")
            },
            num("lag_bytes"),
            b.get("lag_seconds")
                .and_then(|x| x.as_f64())
                .map_or("-".into(), |s| format!("{s:.1}")),
            b["last_error"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
