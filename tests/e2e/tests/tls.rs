//! `[tls]` end to end: HTTPS with curl and the PyPI `influxdb` client (with a token), the
//! TCP front end in TLS (Python's ssl module speaking AlPz), plain requests refused, and a
//! renewed certificate taken without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clio_e2e::harness::clio_bin;

/// A self-signed certificate for 127.0.0.1 named `cn`.
fn make_cert(dir: &Path, cn: &str) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", &format!("/CN={cn}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(dir.join("new.key"))
        .arg("-out")
        .arg(dir.join("new.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Renamed into place, as a certificate manager would.
    std::fs::rename(dir.join("new.key"), dir.join("key.pem")).unwrap();
    std::fs::copy(dir.join("new.pem"), dir.join(format!("{cn}.pem"))).unwrap();
    std::fs::rename(dir.join("new.pem"), dir.join("cert.pem")).unwrap();
}

struct Served(Child, SocketAddr, SocketAddr);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn https_and_tls_tcp_with_tokens_and_certificate_reload() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test-all.sh installs the influxdb package there",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_cert(d, "first");
    let out = Command::new(clio_bin())
        .args([
            "token",
            "create",
            "--role",
            "write",
            "--name",
            "t",
            "--data-dir",
        ])
        .arg(d.join("data"))
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let cfg = d.join("clio.toml");
    std::fs::write(
        &cfg,
        format!(
            "[auth]\nenabled = true\n[plugins]\nenabled = false\n[tls]\ncert_file = \"{c}\"\nkey_file = \"{k}\"\ntcp = true\nreload_sec = 1\n",
            c = d.join("cert.pem").display(),
            k = d.join("key.pem").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(clio_bin())
        .args(["serve", "--config", cfg.to_str().unwrap(), "--data-dir"])
        .arg(d.join("data"))
        .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .env("CLIO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = |name: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    let s = Served(child, addr("http="), addr("tcp="));
    let https = format!("https://127.0.0.1:{}", s.1.port());
    let first = d.join("first.pem");

    // curl over HTTPS, verifying the certificate; a token is needed as over HTTP.
    let (ok, out) = curl(&[
        "--cacert",
        first.to_str().unwrap(),
        &format!("{https}/health"),
    ]);
    assert!(ok && out.contains("\"status\""), "{out}");
    let (ok, out) = curl(&[
        "--cacert",
        first.to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{https}/api/v1/series"),
    ]);
    assert!(ok && out == "401", "{out}");
    // Plain HTTP on the TLS port gets no answer.
    let (ok, out) = curl(&[&format!("http://127.0.0.1:{}/health", s.1.port())]);
    assert!(!ok || !out.contains("\"status\""), "{out}");

    // The PyPI influxdb client over HTTPS with the token as its password.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 5000;
    let script = format!(
        r#"
from influxdb import InfluxDBClient
c = InfluxDBClient(host="127.0.0.1", port={port}, username="u", password="{token}",
                   database="plant", ssl=True, verify_ssl="{ca}")
assert c.write_points([{{"measurement": "boiler", "time": {t}, "fields": {{"temp": 81.5}}}}], time_precision="ms")
print(list(c.query("SHOW MEASUREMENTS").get_points()))
"#,
        port = s.1.port(),
        ca = first.display()
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("boiler"), "{text}");

    // The TCP front end in TLS: authenticate, then read what the HTTPS client wrote.
    let script = format!(
        r#"
import json, socket, ssl, struct
ctx = ssl.create_default_context(cafile="{ca}")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="127.0.0.1")
def call(i, data):
    p = json.dumps({{"data": data, "err": None}}).encode()
    s.sendall(b"AlPz\x01" + struct.pack("<II", len(p), i) + p)
    h = b""
    while len(h) < 13: h += s.recv(13 - len(h))
    n = struct.unpack("<I", h[5:9])[0]
    b = b""
    while len(b) < n: b += s.recv(n - len(b))
    return json.loads(b)
print(call(1, {{"msg": "series.list"}}))
print(call(2, {{"msg": "auth", "token": "{token}"}}))
print(call(3, {{"msg": "series.list"}}))
"#,
        ca = first.display(),
        port = s.2.port()
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("401"), "a listing before auth: {text}");
    assert!(lines[1].contains("authenticated"), "{text}");
    assert!(lines[2].contains("boiler temp"), "{text}");

    // A renewed certificate is served without a restart.
    make_cert(d, "second");
    let second = d.join("second.pem");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, out) = curl(&[
            "--cacert",
            second.to_str().unwrap(),
            &format!("{https}/health"),
        ]);
        if ok && out.contains("\"status\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, _) = curl(&[
        "--cacert",
        first.to_str().unwrap(),
        &format!("{https}/health"),
    ]);
    assert!(!ok, "the old certificate is still served");
}

/// `clio bench` (and so every `clio` command built on the HTTP client) speaks HTTPS: it checks
/// the server against `--ca-file`, sends the token of `--token-file`, and is refused by a
/// server whose certificate it cannot verify.
#[test]
fn clio_bench_speaks_https_with_a_ca_file_and_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // rustls (webpki) takes a self-signed certificate as its own trust anchor only when it
    // is not marked as a CA (openssl's default for -x509).
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=bench"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(d.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(clio_bin())
        .args([
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "b",
            "--data-dir",
        ])
        .arg(d.join("data"))
        .output()
        .unwrap();
    let token_file = d.join("token");
    std::fs::write(&token_file, String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let cfg = d.join("clio.toml");
    std::fs::write(
        &cfg,
        format!(
            "[auth]\nenabled = true\n[plugins]\nenabled = false\n[tls]\ncert_file = \"{c}\"\nkey_file = \"{k}\"\n",
            c = d.join("cert.pem").display(),
            k = d.join("key.pem").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(clio_bin())
        .args(["serve", "--config", cfg.to_str().unwrap(), "--data-dir"])
        .arg(d.join("data"))
        .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .env("CLIO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let http: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no http= in {line:?}"));
    let _served = Served(child, http, http);
    let server = format!("https://127.0.0.1:{}", http.port());
    let bench = |mode: &str, extra: &[&str]| {
        Command::new(clio_bin())
            .args(["bench", mode, "--json", "-d", "1", "-c", "1", "-s", "10"])
            .args(["--server", &server])
            .args(extra)
            .env_remove("CLIO_TOKEN")
            .output()
            .unwrap()
    };
    let ca = d.join("cert.pem");
    let tok = token_file.to_str().unwrap();
    let out = bench(
        "ingest-http",
        &[
            "-b",
            "100",
            "--ca-file",
            ca.to_str().unwrap(),
            "--token-file",
            tok,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let out = bench(
        "query",
        &[
            "-r",
            "50",
            "--ca-file",
            ca.to_str().unwrap(),
            "--token-file",
            tok,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    // The lean read client speaks plain HTTP only, and says so.
    let out = bench("query", &["--client", "lean", "--token-file", tok]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--client hyper"), "{err}");
    // Not trusting the certificate (system roots), or no token: nothing succeeds.
    for extra in [
        vec!["--token-file", tok],
        vec!["--ca-file", ca.to_str().unwrap()],
    ] {
        let mut args = vec!["-b", "100"];
        args.extend(extra);
        let out = bench("ingest-http", &args);
        let ok = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|r| r["requests"].as_u64())
            .unwrap_or(0);
        assert_eq!(ok, 0, "{}", String::from_utf8_lossy(&out.stderr));
    }
}
