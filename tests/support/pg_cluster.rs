//! A throwaway PostgreSQL cluster for the tests: `initdb` and `pg_ctl` in a temp dir on a
//! free port, its unix socket in the same dir, run as the `postgres` user when the tests run
//! as root, stopped when the test binary's cluster is dropped. One cluster per test binary;
//! each test makes its own database. Shared by the tests of `clio-storage-postgres` and
//! `clio-glass` (`#[path]`-included; it needs `tempfile` and `clio-storage-postgres`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use clio_storage_postgres::PgOptions;

/// The running cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    bin: PathBuf,
    as_postgres: bool,
}

pub fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql); run scripts/test-all.sh")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The directory of `psql`, `pg_ctl` and the other tools.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// `pg_ctl stop` (fast mode): connections are cut, the server stays down until
    /// [`Cluster::start_server`].
    pub fn stop(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn start() -> Cluster {
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("clio-pg-")
            .tempdir()
            .unwrap();
        if as_postgres {
            let st = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(st.success(), "chown the cluster dir");
        }
        let user = if as_postgres {
            "postgres".to_owned()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "postgres".into())
        };
        let c = Cluster {
            dir,
            port: free_port(),
            user,
            bin: bin_dir(),
            as_postgres,
        };
        let data = c.data();
        let data = data.to_str().unwrap();
        c.run(
            "initdb",
            &[
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                &c.user,
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        c.start_server();
        c.watch();
        c
    }

    /// Statics are never dropped, so a watchdog shell stops the cluster and removes its
    /// directory once this test process has exited.
    fn watch(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!(
                "runuser -u postgres -- {} -D {}/data -m immediate -w stop",
                pg_ctl.display(),
                self.dir.path().display()
            )
        } else {
            format!(
                "{} -D {}/data -m immediate -w stop",
                pg_ctl.display(),
                self.dir.path().display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        // The watchdog must outlive this process, so it is never waited for.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the cluster watchdog");
    }

    pub fn start_server(&self) {
        let data = self.data();
        let opts = format!(
            "-p {} -k {} -c listen_addresses='' -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-l",
                &format!("{}/log", self.dir.path().display()),
                "start",
            ],
        );
    }

    /// `pg_ctl restart` (fast mode).
    pub fn restart(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "restart"],
        );
    }

    /// Creates a fresh database and returns options for it.
    pub fn new_database(&self, prefix: &str) -> PgOptions {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("{prefix}_{}", N.fetch_add(1, Ordering::Relaxed));
        let port = self.port.to_string();
        self.run(
            "createdb",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &port,
                "-U",
                &self.user,
                &name,
            ],
        );
        PgOptions::new(
            self.dir.path().to_str().unwrap(),
            self.port,
            &name,
            &self.user,
        )
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd
            .args([
                "-D",
                data.to_str().unwrap_or(""),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

/// The cluster of this test binary, started on first use; its watchdog stops it when the
/// test process ends.
pub fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(Cluster::start)
}
