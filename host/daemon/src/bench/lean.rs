//! The read modes' lean HTTP client (`--client lean`, and `auto`'s choice for `http://`
//! servers): the generator must cost the shared machine as little as it can, so that what
//! it measures is the server.
//!
//! hyper's pooled client spends, per request, a spawned task, a trip through the pool and
//! the connection's own task, and a timer; on this project's 2-vCPU machine that was as much
//! CPU as the server's whole answer (BENCHMARKS.md, session 27). Here one task paces,
//! sends and reads: each request's bytes are built before the clock starts, a request in
//! flight is a future polled by that task (no spawn, no wake-up across tasks), and the answer
//! is read on its keep-alive connection and parsed by `httparse` (the parser inside hyper)
//! only as far as its status and length. One request at a time per connection (no
//! pipelining); a request due while every connection is busy opens another, up to
//! `--max-in-flight`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ReadRun, Sample, Schedule, Tally};
use crate::pacer::Pacer;

/// How long one request may take, answer included (as the pooled client's default).
const REQUEST_TIMEOUT: Duration = clio_client::DEFAULT_HTTP_REQUEST_TIMEOUT;

/// Answers larger than this are refused (a read answer is a few kilobytes).
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The most header lines an answer may have.
const MAX_HEADERS: usize = 64;

/// Where the requests go: the address to connect to, and the bytes of each request.
pub(super) struct Target {
    addr: SocketAddr,
    /// `Host:` as the base URL gives it.
    host: String,
    /// The base URL's path prefix, without the trailing slash (usually empty).
    prefix: String,
}

impl Target {
    /// Resolves `base_url` (`http://host:port[/prefix]`, as `--server` after the pooled
    /// client's checks). `https://` is refused: the lean client speaks plain HTTP only.
    pub(super) async fn resolve(base_url: &str) -> Result<Target> {
        let Some(rest) = base_url.strip_prefix("http://") else {
            bail!("--client lean speaks plain http:// only; use --client hyper for `{base_url}`");
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        // A bracketed IPv6 address keeps its colons; a port follows the last `]:` or `:`.
        let has_port = match authority.rfind(']') {
            Some(end) => authority[end..].contains(':'),
            None => authority.contains(':'),
        };
        let connect_to = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(&connect_to)
            .await
            .with_context(|| format!("cannot resolve `{authority}`"))?
            .next()
            .with_context(|| format!("`{authority}` resolves to no address"))?;
        Ok(Target {
            addr,
            host: authority.to_owned(),
            prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }

    /// The bytes of `GET path` on a keep-alive connection, with `Authorization: Token` when
    /// a token is given.
    pub(super) fn request(&self, path: &str, token: Option<&str>) -> Result<Vec<u8>> {
        let text = |s: &str, what: &str| {
            if s.bytes().any(|b| b.is_ascii_control()) {
                bail!("the {what} holds a control character and cannot be sent in a header");
            }
            Ok(())
        };
        text(path, "request path")?;
        let mut req = format!(
            "GET {}{path} HTTP/1.1\r\nHost: {}\r\n",
            self.prefix, self.host
        );
        if let Some(token) = token {
            text(token, "token")?;
            req.push_str("Authorization: Token ");
            req.push_str(token);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        Ok(req.into_bytes())
    }
}

/// One keep-alive connection, carrying one request at a time.
struct Conn {
    stream: TcpStream,
    /// The answer being read (kept between requests for its capacity).
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        // Requests are small and latency matters more than packet count.
        stream
            .set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(8 << 10),
        })
    }

    /// Sends `request` and reads its whole answer. `Ok(true)`: a 2xx, and the connection
    /// can carry another request; `Ok(false)`: a 2xx after which the server closes.
    async fn exchange(&mut self, request: &[u8]) -> Result<bool, String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        self.buf.clear();
        let mut answer: Option<Head> = None;
        loop {
            if answer.is_none() {
                answer = parse_head(&self.buf)?;
            }
            if let Some(head) = &answer {
                let whole = head.len + head.body;
                if self.buf.len() >= whole {
                    if self.buf.len() > whole {
                        return Err("the server sent more bytes than its answer holds".into());
                    }
                    if !(200..300).contains(&head.status) {
                        let body = String::from_utf8_lossy(&self.buf[head.len..]);
                        return Err(format!("HTTP {}: {}", head.status, body.trim()));
                    }
                    return Ok(head.keep_alive);
                }
            }
            let read = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            if read == 0 {
                return Err("the server closed the connection before its answer ended".into());
            }
        }
    }
}

/// What an answer's head says.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes of the head, blank line included.
    len: usize,
    /// Bytes of the body (`Content-Length`).
    body: usize,
    keep_alive: bool,
}

/// Parses the head at the start of `buf`: `None` while it is incomplete. An answer without
/// `Content-Length` (chunked) is refused: Clio and the servers compared with it send one.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > 64 << 10 => {
            return Err("the answer's head exceeds 64 KiB".into());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed answer: {e}")),
    };
    let mut body = None;
    let mut keep_alive = resp.version != Some(0);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("the answer's Content-Length is not a number")?;
            body = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(
                "the answer is chunked, which --client lean does not read; use --client hyper"
                    .into(),
            );
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let body = body.ok_or("the answer has no Content-Length")?;
    if body > MAX_ANSWER_BYTES {
        return Err(format!(
            "the answer's body of {body} bytes exceeds {MAX_ANSWER_BYTES}"
        ));
    }
    Ok(Some(Head {
        status: resp.code.unwrap_or(0),
        len,
        body,
        keep_alive,
    }))
}

/// A finished request: its connection back (when it can carry another), when it was due
/// and sent, and its outcome.
struct Done {
    conn: Option<Conn>,
    due: Instant,
    sent: Instant,
    result: Result<(), String>,
}

/// One request on `conn` (or on a new connection), within [`REQUEST_TIMEOUT`].
async fn one(conn: Option<Conn>, addr: SocketAddr, request: &[u8], due: Instant) -> Done {
    let sent = Instant::now();
    let exchange = async {
        let mut conn = match conn {
            Some(c) => c,
            None => Conn::open(addr).await?,
        };
        let keep = conn.exchange(request).await?;
        Ok::<_, String>(keep.then_some(conn))
    };
    let (conn, result) = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(Ok(conn)) => (conn, Ok(())),
        Ok(Err(e)) => (None, Err(e)),
        Err(_) => (
            None,
            Err(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())),
        ),
    };
    Done {
        conn,
        due,
        sent,
        result,
    }
}

/// Sends `requests` round-robin at the schedule's rate (open loop: request i is due at
/// start + i / rate whatever happened to the others) and waits for the last answer.
pub(super) async fn run(target: &Target, requests: &[Vec<u8>], plan: &Schedule) -> Result<ReadRun> {
    if requests.is_empty() {
        bail!("no request to send");
    }
    let period = plan.period;
    let total = plan.requests();
    let mut tally = Tally::new()?;
    let mut samples = Vec::with_capacity(if plan.samples {
        usize::try_from(total).unwrap_or(0).min(100_000_000)
    } else {
        0
    });
    let mut idle: Vec<Conn> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    // Requests due while `--max-in-flight` were in flight, in the order they were due.
    let mut backlog: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut delayed = 0u64;
    let mut pacer = Pacer::start(period).context("cannot start the pacing timer")?;
    let started = Instant::now();
    // Request i goes once i of the pacer's periods have ended.
    let mut ticked: u64 = 0;
    let mut next: u64 = 0;
    loop {
        while next < total && next <= ticked {
            let due = started + period.mul_f64(next as f64);
            if in_flight.len() < plan.max_in_flight {
                let request = &requests[(next % requests.len() as u64) as usize];
                in_flight.push(one(idle.pop(), target.addr, request, due));
            } else {
                delayed += 1;
                backlog.push_back((next, due));
            }
            next += 1;
        }
        if next >= total && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            // Answers first: reading them is what frees connections for the next ticks.
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let lag = done.sent.saturating_duration_since(done.due);
                if plan.samples {
                    samples.push(Sample {
                        due: done.due.duration_since(started),
                        lag,
                        latency: done.sent.elapsed(),
                        ok: done.result.is_ok(),
                    });
                }
                tally.record(done.sent, done.result.map(|()| 0));
                tally.record_lag(lag);
                if let Some(conn) = done.conn {
                    idle.push(conn);
                }
                if let Some((i, due)) = backlog.pop_front() {
                    let request = &requests[(i % requests.len() as u64) as usize];
                    in_flight.push(one(idle.pop(), target.addr, request, due));
                }
            }
            ticks = pacer.tick(), if next < total => {
                ticked += ticks.context("the pacing timer failed")?;
            }
        }
    }
    Ok(ReadRun {
        tally,
        samples,
        delayed,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_read_for_status_length_and_keep_alive() {
        let ok =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\nhello";
        let head = parse_head(ok).unwrap().unwrap();
        assert_eq!(
            head,
            Head {
                status: 200,
                len: ok.len() - 5,
                body: 5,
                keep_alive: true
            }
        );
        // Incomplete: wait for more bytes.
        assert_eq!(parse_head(&ok[..20]).unwrap(), None);
        let close = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let head = parse_head(close).unwrap().unwrap();
        assert_eq!((head.status, head.keep_alive), (404, false));
        // HTTP/1.0 closes unless it says otherwise.
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_head(old).unwrap().unwrap().keep_alive);
    }

    #[test]
    fn answers_it_cannot_read_are_named() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).unwrap_err().contains("chunked"));
        let no_len = b"HTTP/1.1 200 OK\r\n\r\n";
        assert!(parse_head(no_len).unwrap_err().contains("Content-Length"));
        let bad_len = b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n";
        assert!(parse_head(bad_len).unwrap_err().contains("not a number"));
        assert!(
            parse_head(b"SMTP ready\r\n\r\n")
                .unwrap_err()
                .contains("malformed")
        );
    }

    #[tokio::test]
    async fn targets_keep_the_prefix_and_refuse_https() {
        let t = Target::resolve("http://127.0.0.1:10164/clio")
            .await
            .unwrap();
        assert_eq!(t.addr, "127.0.0.1:10164".parse().unwrap());
        let req = t.request("/api/v1/last?series=1", Some("s3cret")).unwrap();
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "GET /clio/api/v1/last?series=1 HTTP/1.1\r\nHost: 127.0.0.1:10164\r\n\
             Authorization: Token s3cret\r\n\r\n"
        );
        let bare = Target::resolve("http://127.0.0.1").await.unwrap();
        assert_eq!(bare.addr.port(), 80);
        let v6 = Target::resolve("http://[::1]:9").await.unwrap();
        assert_eq!(v6.addr, "[::1]:9".parse().unwrap());
        assert!(t.request("/x\r\nEvil: 1", None).is_err());
        let err = Target::resolve("https://127.0.0.1:1").await.err().unwrap();
        assert!(err.to_string().contains("--client hyper"), "{err}");
    }

    /// A real exchange with a server on a socket: two keep-alive answers on one connection,
    /// then a refusal, whose text reaches the error.
    #[tokio::test]
    async fn exchanges_run_over_one_keep_alive_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for answer in [
                &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"[..],
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo",
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 6\r\n\r\nbusy! ",
            ] {
                let n = s.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"GET /p HTTP/1.1\r\n"));
                // The answer in two writes, split inside the head.
                s.write_all(&answer[..10]).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.write_all(&answer[10..]).await.unwrap();
            }
        });
        let target = Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
        };
        let req = target.request("/p", None).unwrap();
        let mut conn = Conn::open(addr).await.unwrap();
        assert_eq!(conn.exchange(&req).await, Ok(true));
        assert_eq!(conn.exchange(&req).await, Ok(true));
        assert_eq!(
            conn.exchange(&req).await,
            Err("HTTP 503: busy!".to_string())
        );
        server.await.unwrap();
    }
}
