//! How a command reaches a running server: the `--server` argument and a small runtime to
//! make its requests on.

use std::future::Future;

use anyhow::{Context, Result};
use clap::Args;
use clio_client::HttpClient;

/// Where the server is.
#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The server's HTTP API.
    #[arg(
        long = "server",
        env = "CLIO_SERVER",
        default_value = clio_client::DEFAULT_HTTP_URL,
        value_name = "URL",
        global = true
    )]
    pub url: String,
}

impl ServerArg {
    pub(crate) fn client(&self) -> Result<HttpClient> {
        HttpClient::new(&self.url).context("bad --server")
    }
}

/// Runs `f` to completion on a single-threaded runtime (the client commands make a handful
/// of sequential requests; a thread pool would only cost start-up time).
pub fn block_on<F: Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(rt.block_on(f))
}
