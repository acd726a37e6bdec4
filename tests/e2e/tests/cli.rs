//! End-to-end tests of the `clio` binary's client commands: a real `clio serve` on
//! ephemeral ports, driven by `clio write`, `clio query`, `clio last`, `clio series` and
//! `clio bench` as separate processes, then stopped with SIGTERM.
//!
//! The binary is not built by this package (`CARGO_BIN_EXE_clio` only exists inside the
//! `clio` package), so it is looked up in the workspace's target directory; the test
//! harness (`scripts/test-all.sh`) runs `cargo build -p clio` first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `clio` binary: `$CLIO_BIN`, else `$CARGO_TARGET_DIR/debug/clio`, else the workspace's
/// `target/debug/clio`.
fn clio_bin() -> PathBuf {
    let path = if let Some(p) = std::env::var_os("CLIO_BIN") {
        PathBuf::from(p)
    } else if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(t).join("debug").join("clio")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/clio")
    };
    assert!(
        path.is_file(),
        "the clio binary is missing at {}: run `cargo build -p clio` first \
         (scripts/test-all.sh does), or point CLIO_BIN at it",
        path.display()
    );
    path
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A running `clio serve`; killed if the test fails before stopping it.
struct Server {
    child: Option<Child>,
    http: String,
    tcp: String,
    data_dir: PathBuf,
    stderr_path: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let stderr_path = tmp.path().join("server.log");
        let mut child = Command::new(clio_bin())
            .args(["serve", "--data-dir"])
            .arg(&data_dir)
            .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .env("CLIO_LOG", "warn")
            .env_remove("CLIO_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("cannot start clio serve");
        // The first stdout line says where it listens: `clio listening http=ADDR tcp=ADDR`.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining so that the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(l))) => l,
            other => {
                let _ = child.kill();
                panic!(
                    "clio serve printed no address line ({other:?}); its log:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in `{line}`"))
                .to_owned()
        };
        assert!(line.starts_with("clio listening "), "{line}");
        let (http, tcp) = (field("http"), field("tcp"));
        assert_ne!(http, "off");
        assert_ne!(tcp, "off");
        Server {
            child: Some(child),
            http: format!("http://{http}"),
            tcp,
            data_dir,
            stderr_path,
            _tmp: tmp,
        }
    }

    /// Runs `clio ARGS` against this server.
    fn clio(&self, args: &[&str]) -> Output {
        clio_with(&self.http, args, None)
    }

    /// Runs `clio ARGS` with `stdin` piped in.
    fn clio_stdin(&self, args: &[&str], stdin: &str) -> Output {
        clio_with(&self.http, args, Some(stdin))
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.clio(args);
        assert!(
            out.status.success(),
            "clio {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail and returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.clio(args);
        assert!(
            !out.status.success(),
            "clio {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// SIGTERM, then the exit status (within 60 s).
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("already stopped");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("clio serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn clio_with(server: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(clio_bin());
    cmd.args(args)
        .env("CLIO_SERVER", server)
        // Error messages without backtraces, whatever the caller's environment.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        None => cmd.stdin(Stdio::null()).output().unwrap(),
        Some(text) => {
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            let mut pipe = child.stdin.take().unwrap();
            let text = text.to_owned();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                pipe.write_all(text.as_bytes()).unwrap();
            });
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            out
        }
    }
}

/// The number after `"name": ` in pretty-printed JSON (the first occurrence).
fn json_num(text: &str, name: &str) -> f64 {
    let pat = format!("\"{name}\": ");
    let at = text
        .find(&pat)
        .unwrap_or_else(|| panic!("no `{name}` in {text}"))
        + pat.len();
    let rest = &text[at..];
    let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("`{name}` is not a number in {text}"))
}

/// The id of the series with `key` in `clio series` table output.
fn id_of(table: &str, key: &str) -> String {
    table
        .lines()
        .find(|l| l.ends_with(key))
        .unwrap_or_else(|| panic!("no series `{key}` in:\n{table}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn write_query_last_and_series_through_a_running_server() {
    let mut server = Server::start();
    let t0 = now_ms() - 60_000;
    let ts = |i: i64| (t0 + i * 1000).to_string();

    // Line protocol from a file, ms precision.
    let tmp = tempfile::tempdir().unwrap();
    let lp = tmp.path().join("points.lp");
    std::fs::write(
        &lp,
        format!(
            "# a comment line\n\
             room,site=lab temp=21.5 {}\n\
             room,site=lab temp=22 {}\n\
             room,site=lab temp=22.75 {}\n\
             room,site=hall temp=18 {}\n\
             door,site=lab state=\"open\" {}\n",
            ts(0),
            ts(1),
            ts(2),
            ts(0),
            ts(1)
        ),
    )
    .unwrap();
    let out = server.ok(&["write", lp.to_str().unwrap(), "--precision", "ms"]);
    assert!(out.contains("sent 5 lines in 1 request\n"), "{out}");

    // Line protocol from stdin; a bad line is reported with the server's message, the good
    // one is written, and the exit status says something went wrong.
    let out = server.clio_stdin(
        &["write", "-", "--precision", "ms"],
        &format!(
            "this is not line protocol\nroom,site=cellar temp=12 {}\n",
            ts(0)
        ),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this is not line protocol"), "{err}");

    // One point by id (number) and one by key (string).
    let out = server.ok(&[
        "write",
        "--series",
        "7001",
        "--value",
        "3.5",
        "--ts",
        &ts(0),
    ]);
    assert!(out.contains("wrote 1 point (new series)"), "{out}");
    server.ok(&["write", "--series", "7001", "--value", "-4", "--ts", &ts(1)]);
    let out = server.ok(&[
        "write",
        "--key",
        "door,site=hall state",
        "--value",
        "closed",
        "--ts",
        &ts(2),
        "--json",
    ]);
    assert_eq!(json_num(&out, "points"), 1.0, "{out}");
    assert_eq!(json_num(&out, "created_series"), 1.0, "{out}");

    // The catalog.
    let all = server.ok(&["series"]);
    assert!(all.contains("(6 series)"), "{all}");
    let lab = id_of(&all, "room,site=lab temp");
    let rooms = server.ok(&["series", "list", "--measurement", "room"]);
    assert!(rooms.contains("(3 series)"), "{rooms}");
    let tagged = server.ok(&["series", "--tag", "site=lab"]);
    assert!(tagged.contains("(2 series)"), "{tagged}");
    assert!(tagged.contains("door,site=lab state") && tagged.contains("room,site=lab temp"));

    // Queries: by id and by key, newest N, range, JSON.
    let out = server.ok(&["query", "--id", &lab, "--last", "2"]);
    assert!(out.contains("22\n") && out.contains("22.75\n"), "{out}");
    // The value, not a time such as 15:04:21.512: values end their line.
    assert!(!out.contains("21.5\n"), "only the 2 newest: {out}");
    assert!(out.contains("(2 points)"), "{out}");
    let out = server.ok(&[
        "query",
        "--key",
        "room,site=lab temp",
        "--last",
        "1",
        "--skip",
        "1",
    ]);
    assert!(out.contains("22\n") && out.contains("(1 points)"), "{out}");
    let out = server.ok(&[
        "query",
        "--key",
        "room,site=lab temp",
        "--from",
        &ts(0),
        "--to",
        &ts(2),
        "--json",
    ]);
    assert!(
        out.contains("21.5") && out.contains("22.0"),
        "range is [from, to): {out}"
    );
    assert!(!out.contains("22.75"), "to is exclusive: {out}");
    assert!(out.contains("\"truncated\": false"), "{out}");
    let out = server.ok(&["query", "--id", "7001", "--from", "now-1h", "--to", "now"]);
    assert!(
        out.contains("3.5") && out.contains("-4") && out.contains("(2 points)"),
        "{out}"
    );
    let out = server.ok(&[
        "query",
        "--id",
        &lab,
        "--from",
        "now-1d",
        "--to",
        "now+1d",
        "--resolution",
        "1d",
    ]);
    assert!(out.contains("START (1d)"), "{out}");
    let err = server.fails(&["query", "--key", "room,site=attic temp", "--last", "1"]);
    assert!(err.contains("no series with key"), "{err}");
    let err = server.fails(&["query", "--id", &lab, "--last", "1", "--resolution", "7m"]);
    assert!(err.contains("400"), "the server's refusal is shown: {err}");

    // Last values.
    let out = server.ok(&["last", &lab, "7001"]);
    assert!(out.contains("22.75") && out.contains("-4"), "{out}");
    let out = server.ok(&["last", "7001", "--json"]);
    assert_eq!(json_num(&out, "value"), -4.0, "{out}");
    assert_eq!(json_num(&out, "ts"), (t0 + 1000) as f64, "{out}");

    // Series settings.
    let out = server.ok(&[
        "series",
        "set",
        "7001",
        "--keep-history-days",
        "30",
        "--meta",
        "unit=C",
    ]);
    assert!(
        out.contains("keep_history_days  30") && out.contains("metadata.unit"),
        "{out}"
    );
    let out = server.ok(&["series", "get", "7001", "--json"]);
    assert_eq!(json_num(&out, "keep_history_days"), 30.0, "{out}");
    assert!(out.contains("\"unit\": \"C\""), "{out}");
    let err = server.fails(&["series", "delete", "7001"]);
    assert!(err.contains("--yes"), "{err}");
    server.ok(&["series", "delete", "7001", "--yes"]);
    let err = server.fails(&["series", "get", "7001"]);
    assert!(err.contains("404"), "{err}");

    // A graceful stop flushes everything to the database file, which the direct mode reads.
    let status = server.stop();
    assert!(
        status.success(),
        "clio serve exited with {status}; log:\n{}",
        server.log()
    );
    let db = server.data_dir.join("clio.db");
    let out = clio_with(
        "http://127.0.0.1:9",
        &[
            "query",
            "--db",
            db.to_str().unwrap(),
            "--key",
            "room,site=lab temp",
            "--last",
            "10",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("21.5") && text.contains("22.75") && text.contains("(3 points)"),
        "{text}"
    );
}

#[test]
fn bench_drives_a_running_server() {
    let mut server = Server::start();
    let out = server.ok(&[
        "bench",
        "ingest-http",
        "-d",
        "2",
        "-c",
        "2",
        "-b",
        "200",
        "-s",
        "50",
        "--json",
    ]);
    assert_eq!(json_num(&out, "failed"), 0.0, "{out}");
    let points = json_num(&out, "points");
    assert!(points >= 200.0, "{out}");
    assert!(json_num(&out, "points_per_s") > 0.0, "{out}");
    assert!(json_num(&out, "p99") >= json_num(&out, "p50"), "{out}");

    // The 50 series exist and hold data: the newest point of one of them is recent bench
    // data.
    let list = server.ok(&["series", "--measurement", "clio_bench"]);
    assert!(list.contains("(50 series)"), "{list}");
    let id = id_of(&list, "clio_bench,host=h007,sensor=s000007 value");
    let out = server.ok(&["query", "--id", &id, "--last", "3", "--json"]);
    assert!(!out.contains("\"points\": []"), "{out}");

    let out = server.ok(&[
        "bench",
        "ingest-tcp",
        "--tcp",
        &server.tcp.clone(),
        "-d",
        "1",
        "-c",
        "2",
        "-b",
        "100",
        "-s",
        "20",
        "--pipeline",
        "2",
        "--json",
    ]);
    assert_eq!(json_num(&out, "failed"), 0.0, "{out}");
    assert!(json_num(&out, "points") >= 100.0, "{out}");

    let out = server.ok(&[
        "bench", "query", "-d", "1", "-r", "200", "-n", "5", "-s", "10",
    ]);
    assert!(out.contains("mode        query"), "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    assert!(out.contains("over 10 series"), "{out}");
    assert!(out.contains("latency     p50"), "{out}");
    assert!(out.contains("lag         p50"), "{out}");
    // The same reads through hyper's pooled client (the lean client is the default over
    // http://).
    let out = server.ok(&[
        "bench", "query", "-d", "1", "-r", "200", "-n", "5", "-s", "10", "--client", "hyper",
    ]);
    assert!(out.contains(" 0 failed"), "{out}");
    assert!(out.contains("over 10 series"), "{out}");

    // Paced at 200 a second for 1 s: about 200 requests, each in the samples file, due
    // 5 ms apart.
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.csv");
    let samples_arg = samples.to_str().unwrap();
    let out = server.ok(&[
        "bench",
        "query",
        "-d",
        "1",
        "-r",
        "200",
        "-n",
        "5",
        "-s",
        "10",
        "--json",
        "--samples",
        samples_arg,
    ]);
    let requests = json_num(&out, "requests");
    assert!((190.0..=210.0).contains(&requests), "{out}");
    // The schedule was kept, not run through at once.
    let took = json_num(&out, "duration_s");
    assert!((0.98..3.0).contains(&took), "{out}");
    let csv = std::fs::read_to_string(&samples).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("due_us,lag_us,latency_us,ok"));
    let due: Vec<u64> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            assert_eq!(f[3], "1", "a failed request: {l}");
            f[0].parse().unwrap()
        })
        .collect();
    assert_eq!(due.len() as f64, requests, "one line per request");
    assert!(
        due.windows(2).all(|w| w[1] - w[0] == 5_000),
        "due every 5 ms: {:?}",
        &due[..due.len().min(10)]
    );

    let status = server.stop();
    assert!(
        status.success(),
        "clio serve exited with {status}; log:\n{}",
        server.log()
    );
}

#[test]
fn commands_say_when_no_server_answers() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["last", "1"],
        vec!["series"],
        vec!["query", "--id", "1", "--last", "1"],
        vec!["write", "--series", "1", "--value", "1"],
    ] {
        let out = clio_with(&url, &args, None);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot reach the server"), "{args:?}: {err}");
    }
    let out = clio_with(&url, &["bench", "query", "-d", "1"], None);
    assert!(!out.status.success());
}
