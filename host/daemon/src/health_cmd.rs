//! `clio health`: asks a running server's `/health` and answers with the exit status, so a
//! container's `HEALTHCHECK` needs nothing but the binary (no curl in the image).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use clio_client::Method;

use crate::server_conn::{ServerArg, block_on};

/// Arguments of `clio health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Fail on `degraded` too (by default only an unreachable server or a 503 fails: a
    /// degraded server still acknowledges writes into its log).
    #[arg(long)]
    strict: bool,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    timeout: u64,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

/// Exits 0 when the server is healthy (`ok`, or `degraded` without `--strict`).
pub fn run(args: &HealthArgs) -> Result<()> {
    let client = args.server.client()?;
    let answer = block_on(async {
        tokio::time::timeout(
            Duration::from_secs(args.timeout.max(1)),
            client.send(Method::GET, "/health", None, Bytes::new()),
        )
        .await
    })?
    .map_err(|_| {
        anyhow::anyhow!(
            "{} did not answer within {} s",
            client.base_url(),
            args.timeout
        )
    })?
    .with_context(|| format!("cannot reach {}", client.base_url()))?;
    let (status, body) = answer;
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("the server's /health answer is not JSON")?;
    let state = v["status"].as_str().unwrap_or("unknown");
    let reasons = v["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    if !status.is_success() || (args.strict && state != "ok") {
        bail!("{state} (HTTP {}): {reasons}", status.as_u16());
    }
    if !args.quiet {
        if reasons.is_empty() {
            println!("{state}");
        } else {
            println!("{state}: {reasons}");
        }
    }
    Ok(())
}
