//! Running the real `clio` binary in tests: start it on free ports, talk HTTP to it with a
//! minimal blocking client, stop it with SIGTERM or SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `clio` binary built by `cargo build -p clio` (the test command builds it first), or
/// the one `CLIO_BIN` names (a benchmark runs the tests against a release build).
pub fn clio_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CLIO_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("clio");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p clio` first (scripts/test-all.sh does)",
        bin.display()
    );
    bin
}

/// A running `clio serve`.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub child: Child,
    /// HTTP address.
    pub http: SocketAddr,
    /// TCP address.
    pub tcp: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its log goes, when not to the test's stderr.
    pub log: Option<PathBuf>,
}

impl Server {
    /// Starts `clio serve` on free ports with data in `data_dir` and extra arguments.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_logging(data_dir, extra, None)
    }

    /// [`Server::start`] writing its log (at `warn`, with `RUST_BACKTRACE=1` so that a panic
    /// or an error report would show its backtrace there) to `log` instead of the test's
    /// stderr.
    pub fn start_logging(data_dir: &Path, extra: &[&str], log: Option<&Path>) -> Server {
        Self::start_with(data_dir, "127.0.0.1:0", extra, log, "warn")
    }

    /// Starts `clio serve` with `config` written to `dir/clio.toml`, its data in `dir/data` and
    /// its log at `dir/server.log` at the `CLIO_LOG` level `filter`.
    pub fn start_configured(dir: &Path, config: &str, filter: &str) -> Server {
        let cfg = dir.join("clio.toml");
        std::fs::write(&cfg, config).expect("cannot write the config");
        let cfg = cfg.to_string_lossy().into_owned();
        Self::start_with(
            &dir.join("data"),
            "127.0.0.1:0",
            &["--config", &cfg],
            Some(&dir.join("server.log")),
            filter,
        )
    }

    /// [`Server::start`] with HTTP on `http` (for a config that must name the server's own
    /// address before it starts, such as a collector scraping its `/metrics`).
    pub fn start_at(data_dir: &Path, http: &str, extra: &[&str]) -> Server {
        Self::start_with(data_dir, http, extra, None, "warn")
    }

    fn start_with(
        data_dir: &Path,
        http: &str,
        extra: &[&str],
        log: Option<&Path>,
        filter: &str,
    ) -> Server {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("cannot create the log file")),
            None => Stdio::inherit(),
        };
        let mut child = Command::new(clio_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http", http, "--tcp", "127.0.0.1:0"])
            .args(extra)
            .env("CLIO_LOG", filter)
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("cannot start clio serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("cannot read the listening line");
        let addr = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| {
                    panic!(
                        "no {name} address in {line:?}; log: {}",
                        log.and_then(|l| std::fs::read_to_string(l).ok())
                            .unwrap_or_default()
                    )
                })
        };
        Server {
            http: addr("http="),
            tcp: addr("tcp="),
            child,
            data_dir: data_dir.to_path_buf(),
            log: log.map(Path::to_path_buf),
        }
    }

    /// Sends SIGKILL and waits: no flush, no close.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status (graceful shutdown).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for clio")
    }

    /// One HTTP request.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Response {
        http_request(self.http, method, path, body, headers)
    }

    /// GET returning parsed JSON, asserting the status.
    pub fn get_json(&self, path: &str, status: u16) -> serde_json::Value {
        let r = self.http("GET", path, b"", &[]);
        assert_eq!(r.status, status, "GET {path}: {}", r.text());
        r.json()
    }

    /// One sample of `/metrics`, named as exposed: `clio_degraded` or
    /// `clio_http_timeouts_total{kind="write"}`; `None` when it is not there.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.http("GET", "/metrics", b"", &[]).text();
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(sample))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

/// Polls `f` every 50 ms until it holds; fails the test naming `what` after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Drop for Server {
    /// A failing test must not leave a server running on a deleted directory.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers (lower-cased names).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Response {
    try_http_request(addr, method, path, body, headers)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`http_request`] that reports connection failures instead of panicking (for requests
/// racing a kill).
pub fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    // A server may answer (e.g. 413) before reading the whole body and close.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(raw)))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = nl + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
}
