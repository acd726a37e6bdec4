//! `clio backup create|list|verify|prune|key` and `clio restore`.
//!
//! `create` against a running server asks it to write the backup (`POST /api/v1/backups`;
//! the destination is a path on the server's machine); with `--data-dir` or `--config` it
//! opens the data directory itself (no server may be using it) and writes the same backup.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use clio_backup::Key;
use clio_client::Method;
use clio_config::Config;

use crate::server_conn::{ServerArg, block_on};

/// Arguments of `clio backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Take a backup into a new directory under DEST: through the running server (default),
    /// or offline from --data-dir / --config.
    Create(CreateArgs),
    /// The backups under DEST, oldest first.
    List {
        /// The directory holding backups.
        dest: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a backup's files against its manifest (and, with the key, what they hold).
    Verify {
        /// The backup's directory (DEST/<id>).
        backup: PathBuf,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Remove the backups under DEST that no retention rule keeps (a kept incremental
    /// backup keeps the chain it builds on).
    Prune {
        /// The directory holding backups.
        dest: PathBuf,
        /// Keep the newest N.
        #[arg(long, default_value_t = 0)]
        keep: usize,
        /// Keep the newest backup of each of the last N days that have one (UTC).
        #[arg(long, default_value_t = 0)]
        keep_daily: usize,
        /// Keep the newest backup of each of the last N weeks that have one (from Monday).
        #[arg(long, default_value_t = 0)]
        keep_weekly: usize,
    },
    /// Print a new random key for encrypted backups (64 hex digits).
    Key,
    /// List the records of a log (an archive directory or a data directory's `wal/`) with
    /// their positions and commit times, to pick a `clio restore --to-position` target.
    Log {
        /// The archive directory (`[backup] archive_dir`) or a data directory's `wal/`.
        dir: PathBuf,
        /// Only records committed at or after this time (RFC 3339 or ms since the epoch).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The directory to put the backup under (on the server's machine when online); default
    /// the server's `[backup] dir`.
    dest: Option<PathBuf>,
    /// Back up this data directory offline (no server may use it).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Back up offline the data directory and backends of this configuration.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    server: ServerArg,
    /// Make it incremental on the backup BASE under DEST (an id, or `latest`): of the
    /// primary's snapshot it holds only the pages changed since; restoring needs the chain.
    #[arg(long, value_name = "BASE")]
    incremental: Option<String>,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
}

/// Where the key of encrypted backups comes from.
#[derive(Debug, Args)]
pub struct KeyArg {
    /// File with the key (64 hex digits); default: the CLIO_BACKUP_KEY environment
    /// variable; neither: not encrypted. Online backups use the server's key instead.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

impl KeyArg {
    fn load(&self) -> Result<Option<Key>> {
        Ok(Key::load(self.key_file.as_deref())?)
    }
}

/// Arguments of `clio restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup to restore (DEST/<id>).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The data directory to create (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The file name of the primary SQLite database inside the data directory.
    #[arg(long, default_value = "clio.db")]
    primary_file: String,
    #[command(flatten)]
    key: KeyArg,
    /// Continue the backup's log with the segments archived here (`[backup] archive_dir`).
    #[arg(long, value_name = "DIR")]
    archive: Option<PathBuf>,
    /// Restore to this time (RFC 3339, `2026-12-05T14:00:00Z`, or ms since the epoch): the
    /// log is cut there, so the server starts with what was committed up to then.
    #[arg(long, value_name = "TIME", conflicts_with = "to_position")]
    to_time: Option<String>,
    /// Restore to this log position (`SEGMENT:OFFSET`, as `clio backup log` lists them): the
    /// record that starts there and everything after it are left out.
    #[arg(long, value_name = "SEGMENT:OFFSET")]
    to_position: Option<String>,
}

/// `SEGMENT:OFFSET`.
fn parse_position(text: &str) -> Result<(u64, u64)> {
    let (a, b) = text.split_once(':').with_context(|| {
        format!("--to-position `{text}`: expected SEGMENT:OFFSET, e.g. 12:4096")
    })?;
    let n = |v: &str, what: &str| {
        v.trim()
            .parse::<u64>()
            .with_context(|| format!("--to-position `{text}`: the {what} `{v}` is not a number"))
    };
    Ok((n(a, "segment")?, n(b, "offset")?))
}

/// Runs `clio backup ...`.
pub fn run(args: &BackupArgs) -> Result<()> {
    match &args.action {
        Action::Create(c) => create(c),
        Action::List { dest, json } => {
            let all = clio_backup::list(dest)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            if all.is_empty() {
                println!("no backups under {}", dest.display());
                return Ok(());
            }
            println!(
                "{:<28} {:<11} {:<8} {:>14} {:>14} {:>9}  position  base",
                "id", "kind", "source", "bytes", "stored", "encrypted"
            );
            for m in &all {
                println!(
                    "{:<28} {:<11} {:<8} {:>14} {:>14} {:>9}  {}:{}  {}",
                    m.id,
                    m.kind,
                    m.source,
                    m.bytes(),
                    m.stored_bytes(),
                    if m.encryption.is_some() { "yes" } else { "no" },
                    m.position.0,
                    m.position.1,
                    m.base.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        Action::Verify { backup, key } => {
            let v = clio_backup::verify(backup, key.load()?.as_ref())?;
            if v.deep {
                println!(
                    "ok: {} files, {} bytes read back and matched the manifest",
                    v.files, v.bytes
                );
            }
            if !v.chain.is_empty() {
                println!(
                    "incremental on a chain of {} present backups: {}",
                    v.chain.len(),
                    v.chain.join(" <- ")
                );
            } else {
                println!(
                    "ok: {} stored files match the manifest (encrypted: give the key to check what they hold)",
                    v.files
                );
            }
            Ok(())
        }
        Action::Prune {
            dest,
            keep,
            keep_daily,
            keep_weekly,
        } => {
            let removed = clio_backup::prune_with(
                dest,
                clio_backup::Retention {
                    last: *keep,
                    daily: *keep_daily,
                    weekly: *keep_weekly,
                },
            )?;
            println!("removed {} backups: {}", removed.len(), removed.join(", "));
            Ok(())
        }
        Action::Log { dir, since, json } => {
            let since = match since {
                Some(t) => Some(
                    crate::timearg::parse_time(t, crate::timearg::now_ms())
                        .with_context(|| format!("--since `{t}`"))?,
                ),
                None => None,
            };
            // An encrypted log is read with the key in CLIO_DATA_KEY.
            let keys = clio_storage::sealing::Keyring::load(None, None)?;
            let records: Vec<_> = clio_core::pitr::log_records(dir, &keys)?
                .into_iter()
                .filter(|r| since.is_none_or(|s| r.time.is_some_and(|t| t >= s)))
                .collect();
            if *json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(());
            }
            println!(
                "{:<22} {:<24} {:<14} {:>9}  series",
                "position", "committed", "kind", "count"
            );
            for r in &records {
                println!(
                    "{:<22} {:<24} {:<14} {:>9}  {}",
                    format!("{}:{}", r.segment, r.offset),
                    r.time
                        .map_or_else(|| "-".into(), crate::timearg::format_time),
                    r.kind,
                    r.count,
                    r.series.map_or_else(|| "-".into(), |s| s.to_string())
                );
            }
            Ok(())
        }
        Action::Key => {
            println!("{}", Key::generate().to_hex());
            Ok(())
        }
    }
}

fn create(c: &CreateArgs) -> Result<()> {
    let m = if c.data_dir.is_some() || c.config.is_some() {
        offline(c)?
    } else {
        online(c)?
    };
    if c.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        println!(
            "backup {}: {} files, {} bytes stored ({} before compression){}; log position {}:{}, flushes waited {} ms",
            m.id,
            m.files.len(),
            m.stored_bytes(),
            m.bytes(),
            if m.encryption.is_some() {
                ", encrypted"
            } else {
                ""
            },
            m.position.0,
            m.position.1,
            m.flush_pause_ms
        );
        if let Some(x) = &m.external_primary {
            println!(
                "the history lives in the {} backend `{}`, not in this backup: pair it with a base backup of that database taken after {} (or restore an older one with its WAL archive to a moment after it); see docs/backups.md",
                x.kind,
                x.name,
                crate::timearg::format_time(x.pair_after_ms)
            );
        }
    }
    Ok(())
}

fn online(c: &CreateArgs) -> Result<clio_backup::Manifest> {
    if c.key.key_file.is_some() {
        bail!(
            "--key-file applies to offline backups; a server encrypts with its own [backup] key_file or CLIO_BACKUP_KEY"
        );
    }
    let mut body = match &c.dest {
        // The server resolves paths against its own working directory: send an absolute one.
        Some(d) => serde_json::json!({ "dest": absolute(d)?.display().to_string() }),
        None => serde_json::json!({}),
    };
    if let Some(b) = &c.incremental {
        body["incremental"] = serde_json::json!(b);
    }
    // A backup takes as long as the data needs; the server bounds its own work.
    let client = c.server.client()?.with_timeout(None);
    let (status, answer) = block_on(client.send(
        Method::POST,
        "/api/v1/backups",
        Some("application/json"),
        Bytes::from(body.to_string()),
    ))??;
    let v: serde_json::Value =
        serde_json::from_slice(&answer).context("the server's answer is not JSON")?;
    if !status.is_success() {
        bail!("{}", v["error"].as_str().unwrap_or("backup failed"));
    }
    serde_json::from_value(v).context("the server's answer is not a backup manifest")
}

fn offline(c: &CreateArgs) -> Result<clio_backup::Manifest> {
    let Some(dest) = &c.dest else {
        bail!("name the directory to put the backup under");
    };
    let mut cfg = match &c.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(d) = &c.data_dir {
        cfg.data_dir = d.clone();
    }
    if !cfg.data_dir.is_dir() {
        bail!("data directory {} does not exist", cfg.data_dir.display());
    }
    let key = c.key.load()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let topology = clio_registry::Registry::builtin().topology(&cfg)?;
        let mut engine_options = cfg.engine_options();
        engine_options.keys = std::sync::Arc::new(cfg.storage.data_keys()?);
        let (store, _) = clio_core::Store::open_topology(engine_options, topology)
            .await
            .with_context(|| format!("cannot open {}", cfg.data_dir.display()))?;
        let r = clio_server::backup::take(
            &store,
            &cfg.data_dir,
            dest,
            key,
            "offline",
            c.incremental.as_deref(),
            None,
        )
        .await;
        store.close().await?;
        Ok(r?)
    })
}

/// Runs `clio restore`.
pub fn restore(args: &RestoreArgs) -> Result<()> {
    let m = clio_backup::read_manifest(&args.from)?;
    let to_time = match &args.to_time {
        Some(t) => {
            let ms = crate::timearg::parse_time(t, crate::timearg::now_ms())
                .with_context(|| format!("--to-time `{t}`"))?;
            if ms < m.created_ms {
                bail!(
                    "backup {} was taken at {}: it cannot restore to the earlier {}; use an older backup",
                    m.id,
                    crate::timearg::format_time(m.created_ms),
                    crate::timearg::format_time(ms)
                );
            }
            Some(ms)
        }
        None => None,
    };
    let position = args
        .to_position
        .as_deref()
        .map(parse_position)
        .transpose()?;
    let target = match (to_time, position) {
        (Some(t), _) => Some(clio_core::pitr::RestoreTarget::Time(t)),
        (None, Some((s, o))) => Some(clio_core::pitr::RestoreTarget::Position(s, o)),
        (None, None) => None,
    };
    let mut report = None;
    let pitr = target.is_some() || args.archive.is_some();
    let r = clio_backup::restore_with(
        &args.from,
        &args.data_dir,
        &args.primary_file,
        args.key.load()?.as_ref(),
        &mut |dir| {
            if !pitr {
                return Ok(());
            }
            // An encrypted log is read with the key in CLIO_DATA_KEY.
            let keys = clio_storage::sealing::Keyring::load(None, None)
                .map_err(|e| clio_backup::BackupError::Invalid(e.to_string()))?;
            let r =
                clio_core::pitr::prepare(dir, args.archive.as_deref(), m.position, target, &keys)
                    .map_err(|e| clio_backup::BackupError::Invalid(e.to_string()))?;
            report = Some(r);
            Ok(())
        },
    )?;
    println!(
        "restored backup {} into {}: {} files, {} bytes; start Clio on it to replay the log",
        r.id,
        args.data_dir.display(),
        r.files,
        r.bytes
    );
    if let Some(p) = report {
        if !p.archived_segments.is_empty() {
            println!(
                "log continued with {} archived segments ({}..={})",
                p.archived_segments.len(),
                p.archived_segments.first().copied().unwrap_or(0),
                p.archived_segments.last().copied().unwrap_or(0)
            );
        }
        if let Some(n) = p.missing_segment {
            eprintln!(
                "warning: the archive lacks segment {n} although it holds later ones: the restore ends before it"
            );
        }
        match (target, p.reached, p.last_kept_time) {
            (Some(_), true, _) => {
                let (seg, off) = p.cut_at.unwrap_or_default();
                println!(
                    "log cut at segment {seg}, byte {off}: last commit kept at {}",
                    p.last_kept_time
                        .map_or_else(|| "the backup".into(), crate::timearg::format_time)
                );
            }
            (Some(t), false, last) => eprintln!(
                "warning: the log ends before {} (last commit {}): the restore holds everything archived",
                match t {
                    clio_core::pitr::RestoreTarget::Time(t) => crate::timearg::format_time(t),
                    clio_core::pitr::RestoreTarget::Position(s, o) => format!("position {s}:{o}"),
                },
                last.map_or_else(|| "unknown".into(), crate::timearg::format_time)
            ),
            (None, _, _) => {}
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("cannot read the working directory")?
        .join(p))
}
