//! A throwaway PostgreSQL cluster for the tests (shared by clio-storage-postgres's tests and
//! the end-to-end tests, through `#[path]`): `initdb` and `pg_ctl` in a temp dir on a free
//! port, its unix socket in the same dir, run as the `postgres` user when the tests run as
//! root, stopped when the test process ends. One cluster per test binary ([`cluster`]) or one
//! of a test's own ([`Cluster::start`]); each test makes its own database.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

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

    /// Starts a cluster of the caller's own (stopped when the process ends or it is dropped).
    pub fn start() -> Cluster {
        Self::start_configured("")
    }

    /// [`Cluster::start`] with `conf` appended to `postgresql.conf` before the first start
    /// (for example WAL archiving, [`archiving_conf`]).
    pub fn start_configured(conf: &str) -> Cluster {
        let as_postgres = is_root();
        let dir = server_dir("clio-pg-", as_postgres);
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
        c.append_conf(conf);
        c.start_server();
        c.watch();
        c
    }

    /// Appends `text` to the cluster's `postgresql.conf` (read at the next start).
    pub fn append_conf(&self, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .unwrap();
        writeln!(f, "\n{text}").unwrap();
    }

    /// `pg_basebackup -X stream -c fast` of this cluster (while it runs) into a directory of
    /// its own: a base backup to start [`Cluster::recover`] from.
    pub fn base_backup(&self) -> BaseBackup {
        let dir = server_dir("clio-pg-base-", self.as_postgres);
        let port = self.port.to_string();
        let data = dir.path().join("data");
        self.run(
            "pg_basebackup",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &port,
                "-U",
                &self.user,
                "-D",
                data.to_str().unwrap(),
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        BaseBackup {
            dir,
            user: self.user.clone(),
            bin: self.bin.clone(),
            as_postgres: self.as_postgres,
        }
    }

    /// Ends the current WAL segment (`pg_switch_wal()`) and waits until the archiver has
    /// copied it into `archive`: everything committed so far is then in the archive.
    pub fn archive_current_wal(&self, archive: &Path) {
        let file = self.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !archive.join(&file).exists() {
            assert!(
                std::time::Instant::now() < end,
                "WAL segment {file} never reached the archive {}",
                archive.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// A new cluster recovered from `base`: the WAL in the base backup, then the archived
    /// segments in `archive` (`restore_command`), up to `target_time` (PostgreSQL's
    /// `recovery_target_time` syntax, e.g. `2026-12-05 14:30:00.123+00`) or, with `None`, to
    /// the end of the archive; then promoted. Returns once it accepts writes.
    pub fn recover(base: BaseBackup, archive: &Path, target_time: Option<&str>) -> Cluster {
        let c = Cluster {
            dir: base.dir,
            port: free_port(),
            user: base.user,
            bin: base.bin,
            as_postgres: base.as_postgres,
        };
        let target = target_time
            .map(|t| format!("recovery_target_time = '{t}'\nrecovery_target_action = 'promote'"))
            .unwrap_or_default();
        // The recovered cluster archives nothing: the archive holds the old timeline's WAL.
        c.append_conf(&format!(
            "archive_mode = off\nrestore_command = 'cp {}/%f %p'\n{target}",
            archive.display()
        ));
        std::fs::write(c.data().join("recovery.signal"), b"").unwrap();
        if c.as_postgres {
            let st = Command::new("chown")
                .arg("postgres:postgres")
                .arg(c.data().join("recovery.signal"))
                .status()
                .unwrap();
            assert!(st.success(), "chown recovery.signal");
        }
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.start_server()));
        assert!(
            started.is_ok(),
            "the recovered cluster did not start; its log: {}",
            c.log()
        );
        c.watch();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while c.psql("postgres", "SELECT pg_is_in_recovery()") != "f" {
            assert!(
                std::time::Instant::now() < end,
                "the recovered cluster never left recovery; its log: {}",
                std::fs::read_to_string(c.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        c
    }

    /// The server's log file.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
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
        self.start_server_with("-c listen_addresses=''");
    }

    /// Starts the server with `extra` server options (`-c name=value ...`), for example
    /// TCP on 127.0.0.1 and TLS.
    pub fn start_server_with(&self, extra: &str) {
        let data = self.data();
        let opts = format!(
            "-p {} -k {} -c fsync=off -c max_connections=200 {extra}",
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

    /// A restart: `pg_ctl stop -m fast`, then [`Cluster::start_server`]. Not `pg_ctl
    /// restart`, whose server would log into (and so hold open) the pipe this process reads.
    pub fn restart(&self) {
        self.stop();
        self.start_server();
    }

    /// A hot standby of this cluster: `pg_basebackup -R` (streaming replication over the unix
    /// socket) into a directory of its own, started on a port of its own.
    pub fn start_standby(&self) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("clio-pg-standby-")
            .tempdir()
            .unwrap();
        if self.as_postgres {
            let st = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(st.success(), "chown the standby dir");
        }
        let standby = Cluster {
            dir,
            port: free_port(),
            user: self.user.clone(),
            bin: self.bin.clone(),
            as_postgres: self.as_postgres,
        };
        let port = self.port.to_string();
        let data = standby.data();
        self.run(
            "pg_basebackup",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &port,
                "-U",
                &self.user,
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                // An immediate checkpoint: the default spread one takes minutes.
                "-c",
                "fast",
            ],
        );
        standby.start_server();
        standby.watch();
        standby
    }

    /// Writes `name` into the cluster's directory, readable only by the server's user (as
    /// PostgreSQL wants of a key file); its path.
    pub fn write_private(&self, name: &str, contents: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if self.as_postgres {
            let st = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&path)
                .status()
                .unwrap();
            assert!(st.success(), "chown {}", path.display());
        }
        path
    }

    /// Replaces `pg_hba.conf` (read at the next start).
    pub fn set_hba(&self, text: &str) {
        let path = self.data().join("pg_hba.conf");
        std::fs::write(&path, text).unwrap();
    }

    /// Creates a fresh database and returns its name.
    pub fn create_database(&self, prefix: &str) -> String {
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
        name
    }

    /// Runs one SQL command with `psql` on `database` and returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &port,
                "-U",
                &self.user,
                "-d",
                database,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Ends every other connection to `database` with `pg_terminate_backend`; how many.
    pub fn terminate_connections(&self, database: &str) -> usize {
        let n = self.psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            ),
        );
        n.parse().unwrap()
    }

    /// The keys of a `[[storage.backends]]` entry of `type = "postgres"` for `database`
    /// (over the unix socket).
    pub fn backend_toml(&self, database: &str) -> String {
        format!(
            "host = \"{}\"\nport = {}\ndatabase = \"{database}\"\nusername = \"{}\"\n",
            self.dir.path().display(),
            self.port,
            self.user
        )
    }
}

/// A base backup taken by [`Cluster::base_backup`], not started.
#[derive(Debug)]
pub struct BaseBackup {
    dir: tempfile::TempDir,
    user: String,
    bin: PathBuf,
    as_postgres: bool,
}

/// `postgresql.conf` lines for continuous WAL archiving into `archive` (a directory the
/// server's user may write, see [`server_dir`]). The copy is renamed into place: a segment
/// in the archive is always whole (a plain `cp` lets a reader see it half-written).
pub fn archiving_conf(archive: &Path) -> String {
    format!(
        "wal_level = replica\narchive_mode = on\narchive_command = 'test ! -f {0}/%f && cp %p {0}/%f.tmp && mv {0}/%f.tmp {0}/%f'",
        archive.display()
    )
}

/// A new temp directory the server's user owns (`postgres` when the tests run as root).
pub fn server_dir(prefix: &str, as_postgres: bool) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    if as_postgres {
        let st = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "chown {}", dir.path().display());
    }
    dir
}

/// True when the tests run as root (the servers then run as `postgres`).
pub fn is_root() -> bool {
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
