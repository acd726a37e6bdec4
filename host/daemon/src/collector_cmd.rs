//! `clio collector list|start|stop|run NAME`: the collector instances of a running server.

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::{Args, Subcommand};
use clio_client::Method;

use crate::server_conn::{ServerArg, block_on};

/// Arguments of `clio collector`.
#[derive(Debug, Args)]
pub struct CollectorArgs {
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
    /// Every instance: state, last run, points, errors.
    List,
    /// Schedule an instance again.
    Start {
        /// The instance name.
        name: String,
    },
    /// Stop scheduling an instance (a run in progress finishes).
    Stop {
        /// The instance name.
        name: String,
    },
    /// Run an instance now and print the run's report.
    Run {
        /// The instance name.
        name: String,
    },
}

fn line(s: &serde_json::Value) -> String {
    let last = &s["last_run"];
    format!(
        "{:<20} {:<12} {:<9} runs {:>6}  errors {:>5}  points {:>9}  last {}{}",
        s["name"].as_str().unwrap_or("?"),
        s["plugin"].as_str().unwrap_or("?"),
        s["state"].as_str().unwrap_or("?"),
        s["runs"],
        s["errors"],
        s["points"],
        if last.is_null() {
            "-".to_string()
        } else {
            format!(
                "{} ({} points, {} ms)",
                last["outcome"].as_str().unwrap_or("?"),
                last["points"],
                last["duration_ms"]
            )
        },
        s["last_error"]
            .as_str()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default()
    )
}

/// Runs the command.
pub fn run(args: &CollectorArgs) -> Result<()> {
    // A run lasts up to the collector's timeout_ms (at most 600 s).
    let client = args
        .server
        .client()?
        .with_timeout(Some(std::time::Duration::from_secs(660)));
    let (method, path) = match &args.action {
        Action::List => (Method::GET, "/api/v1/collectors".to_string()),
        Action::Start { name } => (Method::POST, format!("/api/v1/collectors/{name}/start")),
        Action::Stop { name } => (Method::POST, format!("/api/v1/collectors/{name}/stop")),
        Action::Run { name } => (Method::POST, format!("/api/v1/collectors/{name}/run")),
    };
    let (_, body) = block_on(client.send(method, &path, None, Bytes::new()))??;
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("the server's answer is not JSON")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match &args.action {
        Action::List => {
            let all = v["collectors"].as_array().cloned().unwrap_or_default();
            if all.is_empty() {
                println!("no collectors configured");
            }
            for s in &all {
                println!("{}", line(s));
            }
        }
        Action::Start { .. } | Action::Stop { .. } => println!("{}", line(&v)),
        Action::Run { name } => println!(
            "{name}: {} ({} points, {} ms){}",
            v["outcome"].as_str().unwrap_or("?"),
            v["points"],
            v["duration_ms"],
            v["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    }
    Ok(())
}
