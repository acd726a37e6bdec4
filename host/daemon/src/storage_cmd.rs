//! `clio storage status`: the backends of a running server, with replica lag.

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
}

/// Runs the command.
pub fn run(args: &StorageArgs) -> Result<()> {
    let client = args.server.client()?;
    let Action::Status = args.action;
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
