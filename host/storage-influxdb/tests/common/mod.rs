//! A real `influxd` (Debian's 1.x) for tests: a temp config on free ports, waited for on
//! `/ping`, killed on drop, and by a watchdog when the test process ends (a server in a
//! `OnceLock` is never dropped).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clio_storage_influxdb::{InfluxBackend, InfluxOptions};
use tempfile::TempDir;

/// One influxd with its directory.
pub struct Influxd {
    pub dir: TempDir,
    pub http_port: u16,
    rpc_port: u16,
    auth: bool,
    /// Certificate and key files: the server speaks https only.
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Influxd {
    /// Starts a fresh server; panics (the test fails) when `influxd` is missing or does not
    /// come up.
    pub fn start() -> Influxd {
        Self::start_with(false)
    }

    /// A fresh server with `auth-enabled = true` (and no users yet).
    pub fn start_with_auth() -> Influxd {
        Self::start_with(true)
    }

    /// A fresh server speaking https only, with this certificate and key (PEM files).
    pub fn start_with_tls(cert: PathBuf, key: PathBuf) -> Influxd {
        Self::start_full(false, Some((cert, key)))
    }

    fn start_with(auth: bool) -> Influxd {
        Self::start_full(auth, None)
    }

    fn start_full(auth: bool, tls: Option<(PathBuf, PathBuf)>) -> Influxd {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Influxd {
            dir,
            http_port: free_port(),
            rpc_port: free_port(),
            auth,
            tls,
            child: None,
        };
        s.write_config();
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.http_port)
    }

    pub fn options(&self, database: &str) -> InfluxOptions {
        InfluxOptions::new(self.url(), database)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("influxdb.conf")
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let cfg = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  max-row-limit = 0
  auth-enabled = {auth}
{tls}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
"#,
            rpc = self.rpc_port,
            http = self.http_port,
            auth = self.auth,
            tls = match &self.tls {
                Some((cert, key)) => format!(
                    "  https-enabled = true\n  https-certificate = \"{}\"\n  https-private-key = \"{}\"",
                    cert.display(),
                    key.display()
                ),
                None => String::new(),
            }
        );
        std::fs::write(self.config_path(), cfg).unwrap();
    }

    /// Kills the server (SIGKILL: what a crash or a power cut does to it).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same ports and data; waits for `/ping`.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::File::create(self.dir.path().join("influxd.log")).unwrap();
        let child = Command::new("influxd")
            .arg("-config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("influxd is not installed (apt-get install influxdb influxdb-client)");
        // Watchdog: kill influxd when this test process is gone.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill -9 {} 2>/dev/null",
                std::process::id(),
                child.id()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.ping() {
            assert!(
                Instant::now() < deadline,
                "influxd did not answer /ping within 30 s; log: {}",
                std::fs::read_to_string(self.dir.path().join("influxd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        if self.tls.is_some() {
            // curl (installed by scripts/test-all.sh for the TLS tests) speaks https.
            return Command::new("curl")
                .args([
                    "-sk",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "2",
                ])
                .arg(format!("{}/ping", self.url()))
                .output()
                .is_ok_and(|o| o.stdout == b"204");
        }
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.0 204") || answer.starts_with("HTTP/1.1 204")
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server shared by the tests of one test binary.
pub fn shared() -> &'static Influxd {
    static SERVER: OnceLock<Influxd> = OnceLock::new();
    SERVER.get_or_init(Influxd::start)
}

/// A database name no other test of this process uses.
pub fn fresh_database(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A backend on a fresh database of the shared server.
pub async fn fresh_backend(prefix: &str) -> InfluxBackend {
    let o = shared().options(&fresh_database(prefix));
    InfluxBackend::open(o).await.unwrap()
}
