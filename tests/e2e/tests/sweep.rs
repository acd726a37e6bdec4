//! Issue 19's sweep ("beyond these cases") against the real binary: resources an interrupted
//! request could leave half-made, and waits on slow clients that had no bound.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use clio_e2e::harness::{Server, try_http_request, wait_until};
use serde_json::json;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Writes `n` points of one series by line protocol, 50 000 per request.
fn write_points(s: &Server, measurement: &str, n: i64) -> i64 {
    let t0 = now_ms() - 3_600_000;
    let mut i = 0;
    while i < n {
        let mut body = String::new();
        for k in i..(i + 50_000).min(n) {
            body.push_str(&format!("{measurement} v={k} {}\n", t0 + k));
        }
        let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
        assert_eq!(r.status, 204, "{}", r.text());
        i += 50_000;
    }
    t0
}

/// A backup whose client goes away mid-way used to be cancelled with its request: its
/// staging copy of the data stayed under the destination, and the status stayed `running`,
/// so every later backup was refused ("a backup is running") until a restart.
#[test]
fn a_backup_whose_client_goes_away_finishes_and_frees_the_slot() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    // About 10 MB of log: the backup takes a second or so in a debug build.
    write_points(&s, "bk", 400_000);
    let dest = dir.path().join("backups");
    let body = json!({"dest": dest.to_str().unwrap()}).to_string();

    // Send the request and hang up while the backup runs (not at once: a request whose
    // client is gone before its handler starts is never begun).
    let mut c = TcpStream::connect(s.http).unwrap();
    write!(
        c,
        "POST /api/v1/backups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.shutdown(Shutdown::Both).unwrap();
    drop(c);

    // The next backup is accepted once the first has ended (never refused for good).
    let mut refused = 0;
    wait_until("a second backup is accepted", 30, || {
        let r = try_http_request(s.http, "POST", "/api/v1/backups", body.as_bytes(), &[]).unwrap();
        match r.status {
            200 => true,
            503 => {
                refused += 1;
                false
            }
            other => panic!("{other}: {}", r.text()),
        }
    });
    println!("second backup accepted after {refused} refusal(s) while the first ran");
    let status = s.get_json("/api/v1/backups", 200);
    assert_eq!(status["running"], json!(false), "{status}");
    // The abandoned backup was finished, not dropped half-way.
    assert_eq!(status["taken"], json!(2), "{status}");
    let left: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        left.is_empty(),
        "staging or partial directories left: {left:?}"
    );
    assert!(s.terminate().success());
}

/// A client that asks for a large answer and never reads it used to hold its connection
/// (one of `http_max_connections`) and the whole response for ever: hyper has no write
/// timeout. Now it is disconnected after `server.http_write_timeout`; a client that reads,
/// however slowly it started, gets everything.
#[test]
fn a_client_that_stops_reading_is_disconnected() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("clio.toml");
    std::fs::write(
        &cfg,
        "[server]\nhttp_write_timeout = 1\n[query]\nquery_max_result_numbers = 2000000\n",
    )
    .unwrap();
    let s = Server::start(
        &tmp.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let n = 400_000;
    write_points(&s, "slow", n);
    let list = s.get_json("/api/v1/series?measurement=slow", 200);
    let id = list["series"][0]["id"].as_u64().unwrap();
    let path = format!("/api/v1/series/{id}/points?last={n}");
    // The whole answer, read at once: about 10 MB, more than the sockets' buffers hold.
    let whole = s.http("GET", &path, b"", &[]);
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert!(whole.body.len() > 8_000_000, "{}", whole.body.len());

    let mut c = TcpStream::connect(s.http).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let started = Instant::now();
    wait_until("the stalled response is cut off", 20, || {
        s.metric("clio_http_timeouts_total{kind=\"write\"}")
            .is_some_and(|v| v >= 1.0)
    });
    let took = started.elapsed();
    println!("a client that stopped reading was disconnected after {took:?}");
    // Only this test's own /metrics request is open now.
    let open = s.metric("clio_http_connections").unwrap();
    assert_eq!(open, 1.0, "connections still open: {open}");
    // What the client can still read ends early: the connection was closed, not finished.
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(
        got.len() < whole.body.len(),
        "{} of {}",
        got.len(),
        whole.body.len()
    );

    // A client that sleeps less than the limit between reads is served in full.
    let mut c = TcpStream::connect(s.http).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert!(got.len() > whole.body.len(), "{}", got.len());
    assert!(s.terminate().success());
}

/// One ALEPIZ frame with id 1; the reply's envelope, or `None` when the connection closes.
fn tcp_call(c: &mut TcpStream, data: serde_json::Value) -> Option<serde_json::Value> {
    let payload = json!({"data": data, "err": null}).to_string();
    let mut frame = b"AlPz\x01".to_vec();
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(payload.as_bytes());
    c.write_all(&frame).ok()?;
    let mut head = [0u8; 13];
    c.read_exact(&mut head).ok()?;
    assert_eq!(&head[..4], b"AlPz");
    let len = u32::from_le_bytes(head[5..9].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).unwrap())
}

fn tcp_connect(s: &Server) -> TcpStream {
    let c = TcpStream::connect(s.tcp).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Idle TCP connections are never closed (ALEPIZ keeps its own open), and there was no
/// bound on their number: enough of them took every file descriptor, and HTTP (`/health`)
/// stopped answering too. Past `server.tcp_max_connections` new ones are now closed at once,
/// logged and counted, and served again as soon as one is free.
#[test]
fn surplus_tcp_connections_are_refused_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("clio.toml");
    std::fs::write(&cfg, "[server]\ntcp_max_connections = 3\n").unwrap();
    let log = tmp.path().join("server.log");
    let s = Server::start_logging(
        &tmp.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
        Some(&log),
    );
    let t = now_ms() - 1000;
    let add = json!({"msg": "add", "id": 7, "records": [{"timestamp": t, "data": 1}]});
    let mut held: Vec<TcpStream> = (0..3).map(|_| tcp_connect(&s)).collect();
    for c in &mut held {
        let r = tcp_call(c, add.clone()).expect("a connection within the limit was closed");
        assert!(r["err"].is_null(), "{r}");
    }
    // The fourth is closed without an answer, at once.
    let started = Instant::now();
    let mut c = tcp_connect(&s);
    assert_eq!(
        tcp_call(&mut c, add.clone()),
        None,
        "a surplus connection was served"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // HTTP is unaffected.
    assert_eq!(s.http("GET", "/health", b"", &[]).status, 200);
    assert!(
        s.metric("clio_tcp_connections_refused_total")
            .is_some_and(|v| v >= 1.0),
        "not counted"
    );
    // One freed (once the server has seen it close): new connections are served again.
    drop(held.pop());
    wait_until("a freed slot serves a new connection", 10, || {
        tcp_call(&mut tcp_connect(&s), add.clone()).is_some()
    });
    assert!(s.terminate().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("TCP connection limit reached"), "{text}");
}
