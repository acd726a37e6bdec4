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
        http_client(&self.url)
    }
}

/// An HTTP client of `url` sending the token in `CLIO_TOKEN` (a server with `[auth]`
/// enabled); the token is taken from the environment only, never from the command line,
/// so that it stays out of process listings and shell history.
pub(crate) fn http_client(url: &str) -> Result<HttpClient> {
    let client = HttpClient::new(url).context("bad --server")?;
    match std::env::var("CLIO_TOKEN") {
        Ok(token) => client.with_token(&token).context("bad CLIO_TOKEN"),
        Err(_) => Ok(client),
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
