//! `clio migrate status|up|down [--to N]`: the Glass AI tables' schema migrations
//! (docs/glass-ai.md), offline, on the database `[glass]` names: `glass.db` in the data
//! directory, or the PostgreSQL database of `glass.url`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use clio_config::Config;

/// Arguments of `clio migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    action: Action,
    /// The data directory (SQLite: its glass.db).
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// A config file; its `data_dir` and `[glass]` name the database.
    #[arg(long, global = true, env = "CLIO_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// The version the database is at and every step this build knows.
    Status,
    /// Apply steps up to --to (default: this build's newest).
    Up {
        /// Target version.
        #[arg(long, value_name = "N")]
        to: Option<i64>,
    },
    /// Revert steps down to --to (default: one step back; 0 drops every table).
    Down {
        /// Target version.
        #[arg(long, value_name = "N")]
        to: Option<i64>,
    },
}

/// Runs the command.
pub fn run(args: &MigrateArgs) -> Result<()> {
    let mut cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    let target = clio_server::glass_target(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let glass = clio_glass::Glass::connect(&target)
            .await
            .context("cannot reach the Glass AI database")?;
        match args.action {
            Action::Status => {}
            Action::Up { to } => {
                let v = glass.migrate_up(to).await?;
                if !args.json {
                    println!("glass schema at version {v}");
                }
            }
            Action::Down { to } => {
                let v = glass.migrate_down(to).await?;
                if !args.json {
                    println!("glass schema at version {v}");
                }
            }
        }
        let st = glass.migration_status().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&st)?);
        } else if matches!(args.action, Action::Status) {
            println!(
                "glass schema version {} (this build: {})",
                st.current, st.latest
            );
            for s in &st.steps {
                println!(
                    "{:>4}  {:<7} {:<8} {}",
                    s.version,
                    if s.applied_at.is_some() {
                        "applied"
                    } else {
                        "pending"
                    },
                    format!("{:?}", s.kind).to_lowercase(),
                    s.name
                );
            }
        }
        Ok(())
    })
}
