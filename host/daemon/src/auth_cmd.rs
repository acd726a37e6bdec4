//! `clio token create|list|revoke` and `clio user add|passwd|del|list`: the token store in
//! the data directory, edited offline (a running server picks the change up within a
//! second). `clio token create --data-dir DIR --role admin --name NAME` bootstraps the first
//! admin token: the token alone goes to stdout, shown this once.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use clio_server::auth::{Role, Scope, TokenFile};

/// Where the token store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The data directory (the store is `<DIR>/auth.json` unless the config names another).
    #[arg(long, env = "CLIO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The server's config file, for `[auth] token_file` and `data_dir`.
    #[arg(long, env = "CLIO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl StoreArgs {
    fn path(&self) -> Result<PathBuf> {
        let mut cfg = match &self.config {
            Some(p) => clio_config::Config::load(p)?,
            None if self.data_dir.is_none() => {
                bail!("name the data directory (--data-dir DIR) or the config (--config FILE)")
            }
            None => clio_config::Config::default(),
        };
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        Ok(cfg.auth.token_path(&cfg.data_dir))
    }
}

/// Who gets what.
#[derive(Debug, Args)]
pub struct Grant {
    /// Role: read, write or admin (write includes read, admin includes both).
    #[arg(long, value_name = "ROLE")]
    pub role: Role,
    /// Limit to some series (repeatable; all must hold): `measurement=NAME` (a trailing `*`
    /// matches a prefix), `tag=KEY=VALUE`, `ids=FROM-TO`.
    #[arg(long = "scope", value_name = "RULE")]
    pub scope: Vec<String>,
}

impl Grant {
    fn scope(&self) -> Result<Scope> {
        let mut s = Scope::default();
        for r in &self.scope {
            s.add_rule(r).map_err(anyhow::Error::msg)?;
        }
        Ok(s)
    }
}

/// `clio token ...`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    cmd: TokenCmd,
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Creates a token and prints it (only this once) on stdout.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// A name for people (and for `revoke`).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        grant: Grant,
    },
    /// Lists tokens (ids, names, roles, scopes; never the tokens).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revokes tokens by id or name.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        /// The token's id (from `list`) or name.
        which: String,
    },
}

/// `clio user ...`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    cmd: UserCmd,
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Adds a user; the password is read from the first line of stdin.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Login name.
        name: String,
        #[command(flatten)]
        grant: Grant,
    },
    /// Changes a user's password (read from the first line of stdin).
    Passwd {
        #[command(flatten)]
        store: StoreArgs,
        /// Login name.
        name: String,
    },
    /// Removes a user.
    Del {
        #[command(flatten)]
        store: StoreArgs,
        /// Login name.
        name: String,
    },
    /// Lists users.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn change<T>(store: &StoreArgs, f: impl FnOnce(&mut TokenFile) -> Result<T>) -> Result<T> {
    let path = store.path()?;
    let mut file = TokenFile::load(&path)?;
    let out = f(&mut file)?;
    file.save(&path)?;
    Ok(out)
}

fn scope_text(s: &Scope) -> String {
    if s.is_unrestricted() {
        "all".into()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn roles_text(r: &[Role]) -> String {
    r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        bail!("give the password on the first line of stdin");
    }
    Ok(pw)
}

/// Runs `clio token ...`.
pub fn token(args: &TokenArgs) -> Result<()> {
    match &args.cmd {
        TokenCmd::Create { store, name, grant } => {
            let scope = grant.scope()?;
            let (token, entry) = change(store, |f| {
                Ok(f.create_token(name, vec![grant.role], scope)?)
            })?;
            eprintln!(
                "token {} ({}, role {}) created; it is shown only now:",
                entry.id, entry.name, grant.role
            );
            println!("{token}");
        }
        TokenCmd::List { store } => {
            let file = TokenFile::load(&store.path()?)?;
            println!(
                "{:<12}  {:<20}  {:<6}  {:<8}  scope",
                "id", "name", "roles", "state"
            );
            for t in &file.tokens {
                let state = if t.revoked.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!(
                    "{:<12}  {:<20}  {:<6}  {:<8}  {}",
                    t.id,
                    t.name,
                    roles_text(&t.roles),
                    state,
                    scope_text(&t.scope)
                );
            }
        }
        TokenCmd::Revoke { store, which } => {
            let revoked = change(store, |f| Ok(f.revoke(which)?))?;
            for t in revoked {
                eprintln!("revoked token {} ({})", t.id, t.name);
            }
        }
    }
    Ok(())
}

/// Runs `clio user ...`.
pub fn user(args: &UserArgs) -> Result<()> {
    match &args.cmd {
        UserCmd::Add { store, name, grant } => {
            let scope = grant.scope()?;
            let pw = read_password()?;
            change(store, |f| {
                Ok(f.add_user(name, &pw, vec![grant.role], scope)?)
            })?;
            eprintln!("user {name} added");
        }
        UserCmd::Passwd { store, name } => {
            let pw = read_password()?;
            change(store, |f| Ok(f.set_password(name, &pw)?))?;
            eprintln!("password of {name} changed");
        }
        UserCmd::Del { store, name } => {
            change(store, |f| Ok(f.delete_user(name)?))?;
            eprintln!("user {name} removed");
        }
        UserCmd::List { store } => {
            let file = TokenFile::load(&store.path()?)?;
            println!("{:<20}  {:<6}  scope", "name", "roles");
            for u in &file.users {
                println!(
                    "{:<20}  {:<6}  {}",
                    u.name,
                    roles_text(&u.roles),
                    scope_text(&u.scope)
                );
            }
        }
    }
    Ok(())
}
