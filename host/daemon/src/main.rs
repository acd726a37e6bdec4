//! `clio`: the Clio history store's server and command-line tools.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod auth_cmd;
mod backup_cmd;
mod bench;
mod collector_cmd;
mod direct_query;
mod health_cmd;
mod housekeeper_cmd;
mod import;
mod import_alepiz;
mod migrate_cmd;
mod output;
mod pacer;
mod query_args;
mod serve;
mod server_cmds;
mod server_conn;
mod storage_cmd;
mod timearg;

/// jemalloc instead of glibc's malloc: with a million series (a few small allocations each,
/// made by several threads, with large transient buffers freed between them) glibc's arenas
/// held ~500 bytes per series more than the heap asked for; jemalloc returns freed pages to
/// the system over time (issue #25, BENCHMARKS.md). Its background purging threads (the
/// `background_threads` feature) were measured and left off: they return idle pages sooner
/// (~90 B per series 20 s after a restart with a million series) but cost 12-15 % of
/// new-series ingest and replay speed.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Clio: a history store for plant and IT monitoring.
#[derive(Debug, Parser)]
#[command(name = "clio", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTP and TCP) from a config file.
    Serve(serve::ServeArgs),
    /// Read history from the server, or with --db straight from a database file (safe while
    /// a server runs).
    Query(query_args::QueryArgs),
    /// Load InfluxDB line protocol or an ALEPIZ history file into a database file, offline.
    Import(import::ImportArgs),
    /// Write to the server: a line-protocol file (or stdin), or one point.
    Write(server_cmds::WriteArgs),
    /// The newest value of each series, from the server.
    Last(server_cmds::LastArgs),
    /// List, show, change or delete series on the server.
    Series(server_cmds::SeriesArgs),
    /// Evaluate a history function (a plugin) on a series, on the server; or list them.
    Fn(server_cmds::FnArgs),
    /// The server's storage backends: primary and replicas, health and replication lag.
    Storage(storage_cmd::StorageArgs),
    /// Status of the server's housekeeper, or start a run.
    Housekeeper(housekeeper_cmd::HousekeeperArgs),
    /// The server's collectors: list, start, stop, run now.
    Collector(collector_cmd::CollectorArgs),
    /// Backups: create (online through the server, or offline), list, verify, prune, key.
    Backup(backup_cmd::BackupArgs),
    /// Restore a backup into a new data directory.
    Restore(backup_cmd::RestoreArgs),
    /// Whether a running server is healthy, as the exit status (the container's
    /// HEALTHCHECK).
    Health(health_cmd::HealthArgs),
    /// Tokens in the data directory's token store: create (shown once), list, revoke.
    Token(auth_cmd::TokenArgs),
    /// Users with passwords in the token store: add, passwd, del, list.
    User(auth_cmd::UserArgs),
    /// The Glass AI tables' schema: status, up, down (offline, on the database `[glass]`
    /// names).
    Migrate(migrate_cmd::MigrateArgs),
    /// Load-test a running server (ingest over HTTP or TCP, or last-N queries).
    Bench(bench::BenchArgs),
}

/// Errors end the process with one line on stderr and status 1, never with a backtrace
/// (anyhow's `Debug` prints one when RUST_BACKTRACE is set).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    // The server logs its life at `[log] level` (info), as `[log] format` says; one-shot
    // tools only warn, as text. CLIO_LOG overrides the level (e.g. CLIO_LOG=debug).
    let (level, json) = match &cli.command {
        Command::Serve(args) => match serve::load_config(args) {
            Ok(cfg) => (cfg.log.filter(), cfg.log.format == "json"),
            // The command itself reports the bad config.
            Err(_) => ("info".to_string(), false),
        },
        _ => ("warn".to_string(), false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().with_current_span(true).init();
    } else {
        logs.init();
    }
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Housekeeper(args) => housekeeper_cmd::run(&args),
        Command::Collector(args) => collector_cmd::run(&args),
        Command::Storage(args) => storage_cmd::run(&args),
        Command::Query(args) => match &args.db {
            Some(db) => direct_query::run(&args, db),
            None => server_cmds::query(&args),
        },
        Command::Import(args) => import::run(&args),
        Command::Write(args) => server_cmds::write(&args),
        Command::Last(args) => server_cmds::last(&args),
        Command::Series(args) => server_cmds::series(&args),
        Command::Fn(args) => server_cmds::evaluate(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Migrate(args) => migrate_cmd::run(&args),
        Command::Health(args) => health_cmd::run(&args),
        Command::Token(args) => auth_cmd::token(&args),
        Command::User(args) => auth_cmd::user(&args),
        Command::Backup(args) => backup_cmd::run(&args),
        Command::Restore(args) => backup_cmd::restore(&args),
    }
}
