//! `clio housekeeper status|run`: the housekeeper of a running server.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use clio_client::Method;

use crate::server_conn::{ServerArg, block_on};

/// Arguments of `clio housekeeper`.
#[derive(Debug, Args)]
pub struct HousekeeperArgs {
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
    /// Show whether a run is in progress, the last run and the totals.
    Status,
    /// Start a run now.
    Run,
}

/// Runs the command.
pub fn run(args: &HousekeeperArgs) -> Result<()> {
    let client = args.server.client()?;
    let (method, path) = match args.action {
        Action::Status => (Method::GET, "/api/v1/housekeeper"),
        Action::Run => (Method::POST, "/api/v1/housekeeper/run"),
    };
    let (status, body) = block_on(client.send(method, path, None, Bytes::new()))??;
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("the server's answer is not JSON")?;
    if !status.is_success() {
        bail!("{}", v["error"].as_str().unwrap_or("request failed"));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match args.action {
        Action::Run => println!(
            "housekeeper run requested{}",
            if v["already_running"].as_bool() == Some(true) {
                " (one is in progress; the next starts after it)"
            } else {
                ""
            }
        ),
        Action::Status => {
            println!("running      {}", v["running"]);
            println!("policy       {}", v["policy"].as_str().unwrap_or("?"));
            println!(
                "registry     {}",
                if v["registry_declared"] == true {
                    "declared"
                } else {
                    "none (no zombie removal)"
                }
            );
            let d = &v["deleted"];
            println!(
                "since start  {} runs, {} points, {} trend buckets, {} zombies",
                d["runs"], d["points"], d["buckets"], d["zombies"]
            );
            if let Some(l) = v["last_run"].as_object() {
                println!(
                    "last run     {} series, {} points, {} buckets, {} zombies{}",
                    l["series"],
                    l["deleted_points"],
                    l["deleted_buckets"],
                    l["zombies"],
                    l.get("error")
                        .and_then(|e| e.as_str())
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
            }
            if let Some(p) = v["progress"].as_object() {
                println!("in progress  done through series {}", p["done_through"]);
            }
            if let Some(n) = v["next_run"].as_i64() {
                println!("next run     {}", crate::timearg::format_time(n));
            }
        }
    }
    Ok(())
}
