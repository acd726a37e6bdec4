//! `clio serve`: runs the server from a TOML config, with flags and environment variables
//! overriding the file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use clio_config::Config;

/// Arguments of `clio serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML; every key is documented in config/default.toml). Without it the
    /// built-in defaults apply, which are those of config/default.toml.
    #[arg(long, env = "CLIO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long, env = "CLIO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Overrides `server.http_address` ("" disables HTTP).
    #[arg(long, env = "CLIO_HTTP", value_name = "ADDR")]
    pub http: Option<String>,
    /// Overrides `server.tcp_address` ("" disables TCP).
    #[arg(long, env = "CLIO_TCP", value_name = "ADDR")]
    pub tcp: Option<String>,
    /// Overrides `auth.enabled`.
    #[arg(long, env = "CLIO_AUTH", value_name = "BOOL")]
    pub auth: Option<bool>,
    /// Overrides `auth.insecure` (serve a non-loopback address without auth).
    #[arg(long, env = "CLIO_INSECURE", value_name = "BOOL")]
    pub insecure: Option<bool>,
    /// Adds a `demo` collector: the built-in furnace simulator (2 lines, 4 sensors of each
    /// kind) every 5 s, so that live data shows up in the first minute. Ignored when the
    /// config already has a collector named `demo`.
    #[arg(long)]
    pub demo: bool,
}

/// The collector `--demo` adds.
fn demo_collector() -> Result<clio_config::CollectorConfig> {
    let text = "name = \"demo\"\nplugin = \"simulator\"\nevery = \"5s\"\n\
                [config]\nlines = 2\nsensors = 4\nseed = 1\n";
    toml::from_str(text).context("the demo collector's configuration")
}

/// Loads the config with overrides applied, then validates the result (not the file alone:
/// a file listening on 0.0.0.0 with auth off is fine with `--auth true`).
pub fn load_config(args: &ServeArgs) -> Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => Config::load_unvalidated(p)?,
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(a) = &args.http {
        cfg.server.http_address = a.clone();
    }
    if let Some(a) = &args.tcp {
        cfg.server.tcp_address = a.clone();
    }
    if let Some(on) = args.auth {
        cfg.auth.enabled = on;
    }
    if let Some(on) = args.insecure {
        cfg.auth.insecure = on;
    }
    if args.demo && !cfg.collectors.iter().any(|c| c.name == "demo") {
        cfg.collectors.push(demo_collector()?);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub fn run(args: &ServeArgs) -> Result<()> {
    let cfg = load_config(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("clio")
        .build()?;
    rt.block_on(async move {
        // Signals are watched before the listening line is printed: a supervisor (or a test)
        // that sends SIGTERM as soon as it reads that line must get a graceful stop, not the
        // default action that kills the process.
        let signals = Signals::watch()?;
        let topology = clio_registry::Registry::builtin().topology(&cfg)?;
        let running = clio_server::start(cfg, topology).await?;
        // One machine-readable line, for scripts and the end-to-end tests.
        println!(
            "clio listening http={} tcp={}",
            running.http_addr.map_or("off".into(), |a| a.to_string()),
            running.tcp_addr.map_or("off".into(), |a| a.to_string())
        );
        signals.next().await;
        tracing::info!("signal received; shutting down");
        // The process ends right after: its memory goes back to the system at once instead
        // of being freed allocation by allocation (seconds with a million series).
        std::mem::forget(running.shutdown_keeping_memory().await?);
        Ok::<_, anyhow::Error>(())
    })?;
    // Tasks still parked on the runtime are not waited for.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    Ok(())
}

/// SIGINT and SIGTERM, registered with the runtime from the moment this is made.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
        })
    }

    /// Waits for the first of the two.
    async fn next(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: PathBuf, auth: Option<bool>) -> ServeArgs {
        ServeArgs {
            config: Some(config),
            data_dir: None,
            http: None,
            tcp: None,
            auth,
            insecure: None,
            demo: false,
        }
    }

    #[test]
    fn command_line_overrides_apply_before_validation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clio.toml");
        std::fs::write(&path, "[server]\nhttp_address = \"0.0.0.0:8086\"\n").unwrap();
        // The file alone listens on every interface with auth off: refused...
        let e = load_config(&args(path.clone(), None)).unwrap_err();
        assert!(format!("{e:#}").contains("[auth] is off"), "{e:#}");
        // ...and `--auth true` makes it valid.
        let cfg = load_config(&args(path.clone(), Some(true))).unwrap();
        assert!(cfg.auth.enabled);
        // Unknown keys are still refused before any override.
        std::fs::write(&path, "colour = 1\n").unwrap();
        assert!(load_config(&args(path, Some(true))).is_err());
    }
}
