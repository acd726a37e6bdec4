//! The TCP front end with ALEPIZ's framing (`docs/protocol.md`).
//!
//! One task per connection reads frames and dispatches them; replies go through a bounded
//! channel to the connection's writer task, matched to requests by message id, so a client
//! may pipeline requests and get the answers in any order. Per connection:
//!
//! * at most [`TcpOptions::max_in_flight`] requests run at once; past that the connection
//!   stops reading, which pushes back on that client only;
//! * data changes (`add`, `del`, `write`, ...) are applied one after another in arrival order
//!   by a write lane that batches consecutive fire-and-forget `add`s into one engine write;
//!   a read waits until the changes sent before it on the same connection are applied, so a
//!   client reads its own writes;
//! * a frame error (bad magic or version, empty or oversized frame, invalid UTF-8 or JSON),
//!   a socket error, a frame stalled mid-way or a reply nobody reads closes that connection
//!   and nothing else, and is counted in `clio_socket_errors`.
//!
//! At most `server.tcp_max_connections` connections are open at once; further ones are
//! closed as soon as they are accepted (logged, counted in `clio_tcp_connections_refused`).
//!
//! When the server's shutdown token is cancelled, [`serve`] stops accepting and reading,
//! lets the requests already read finish and their replies go out, and returns once every
//! connection is closed (or after [`TcpOptions::shutdown_grace`]).

pub mod message;
pub mod parse;
pub mod query;

use std::collections::VecDeque;
use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

pub use clio_protocol::{Frame, FrameCodec, FrameError};

/// The reply frame of a handled request (errors carry their HTTP-like status as `code`).
pub fn reply(id: u32, result: &Result<serde_json::Value, ApiError>) -> Frame {
    match result {
        Ok(data) => Frame::reply(id, Ok(data)),
        Err(e) => Frame::reply(id, Err((&e.to_string(), e.status()))),
    }
}
pub use message::Message;

use crate::auth::{AuthFailure, Credentials, Principal};
use crate::door::{AppState, Gate, RequestContext, new_request_id};
use crate::error::ApiError;
use tracing::Instrument;

/// Tunables of the TCP front end. [`serve`] uses the defaults.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Requests of one connection running at once (default 64; at most 65 536).
    pub max_in_flight: usize,
    /// A connection whose started frame receives no byte for this long is closed (60 s).
    /// Idle connections between frames are never closed (ALEPIZ's idle timeout is off).
    pub stall_timeout: Duration,
    /// A connection whose replies cannot be written for this long is closed (60 s).
    pub write_timeout: Duration,
    /// How long shutdown waits for in-flight requests before closing connections (10 s).
    pub shutdown_grace: Duration,
    /// The window in which socket errors are compared with `max_socket_errors_cnt` (5 min).
    pub error_window: Duration,
    /// Most points per engine write when batching fire-and-forget `add`s (10 000).
    pub add_batch_points: usize,
    /// TLS on every connection (`[tls] tcp = true`); `None`: plain TCP.
    pub tls: Option<Arc<crate::tls::Tls>>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_in_flight: 64,
            stall_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            error_window: Duration::from_secs(300),
            add_batch_points: 10_000,
            tls: None,
        }
    }
}

/// Serves the TCP protocol on `listener` until `state.shutdown()` is cancelled, then lets
/// in-flight requests finish and returns when every connection has closed, or after 10 s.
pub async fn serve(listener: TcpListener, state: AppState) {
    serve_with(listener, state, TcpOptions::default()).await;
}

/// A connection's byte stream, plain or TLS.
type Reader = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
/// A connection's reply stream, plain or TLS.
type Writer = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// [`serve`] with explicit options.
pub async fn serve_with(listener: TcpListener, state: AppState, opts: TcpOptions) {
    let shutdown = state.shutdown().clone();
    let grace = opts.shutdown_grace;
    let shared = Arc::new(Shared {
        errors: SocketErrors::new(
            state.config().server.max_socket_errors_cnt,
            opts.error_window,
        ),
        state,
        opts,
    });
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "tcp front end listening");
    }
    let mut conns = JoinSet::new();
    // Idle connections stay open (ALEPIZ keeps its own), so their number needs a bound of
    // its own: without one, clients could take every file descriptor, HTTP's too.
    let max_conns = shared.state.config().server.tcp_max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max_conns));
    let mut last_warned: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => reap(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        shared.state.metrics().tcp_connections_refused.inc();
                        if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                            last_warned = Some(Instant::now());
                            warn!(limit = max_conns, %peer,
                                  "TCP connection limit reached (server.tcp_max_connections); \
                                   new connections are closed");
                        }
                        drop(stream);
                        continue;
                    };
                    // Replies are small and latency matters more than packet count.
                    if let Err(e) = stream.set_nodelay(true) {
                        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    // Keep-alive every 5 s as ALEPIZ did, so dead peers are noticed.
                    let keepalive = socket2::TcpKeepalive::new()
                        .with_time(std::time::Duration::from_secs(5))
                        .with_interval(std::time::Duration::from_secs(5));
                    if let Err(e) = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive) {
                        debug!(%peer, error = %e, "cannot enable TCP keep-alive");
                    }
                    let shared = Arc::clone(&shared);
                    conns.spawn(async move {
                        connection(stream, peer, shared).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    shared.socket_error(None, &e);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    if !conns.is_empty() {
        info!(
            connections = conns.len(),
            "tcp front end draining connections"
        );
    }
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => {
                warn!(connections = conns.len(), grace_secs = grace.as_secs_f64(),
                      "tcp connections still busy after the shutdown grace period; closing them");
                conns.abort_all();
                while conns.join_next().await.is_some() {}
                break;
            }
            done = conns.join_next() => match done {
                Some(d) => reap(d),
                None => break,
            },
        }
    }
    info!("tcp front end stopped");
}

fn reap(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        error!(error = %e, "tcp connection task panicked");
    }
}

/// What every connection of one listener shares.
#[derive(Debug)]
struct Shared {
    state: AppState,
    opts: TcpOptions,
    errors: SocketErrors,
}

impl Shared {
    /// Counts and logs a socket-level error (the connection it happened on closes).
    fn socket_error(&self, peer: Option<SocketAddr>, err: &dyn Display) {
        match peer {
            Some(peer) => {
                warn!(%peer, error = %err, "tcp connection error; closing the connection")
            }
            None => warn!(error = %err, "tcp accept failed"),
        }
        self.state.metrics().socket_errors.inc();
        self.errors.record();
    }

    /// The rate limits of `[auth]` for one message.
    fn rate_limit(&self, gate: &Gate) -> Result<(), ApiError> {
        let auth = self.state.auth();
        let ctx = gate.context();
        let limit = if !auth.address_allowed(ctx.peer.map(|p| p.ip())) {
            "address"
        } else if !auth.principal_allowed(&ctx.principal) {
            "token"
        } else {
            return Ok(());
        };
        self.state
            .metrics()
            .rate_limited
            .get_or_create(&crate::metrics::AuthLabels {
                proto: "tcp",
                reason: limit,
            })
            .inc();
        Err(ApiError::TooManyRequests(format!(
            "rate limit exceeded (auth.rate_limit_per_{limit})"
        )))
    }

    /// Books a finished request (metrics, logs) and sends its reply unless its id is 0.
    async fn finish(
        &self,
        to: &Replies,
        id: u32,
        op: &'static str,
        started: Instant,
        result: Result<Json, ApiError>,
        detail: &(dyn Display + Sync),
    ) {
        let peer = to.peer;
        self.state
            .observe("tcp", op, started, result.as_ref().map(|_| ()), detail);
        if let Err(e) = &result {
            if id == 0 {
                // Nobody will see a reply: the log is the only place this error shows.
                warn!(%peer, op, error = %e, "fire-and-forget request failed");
            } else {
                debug!(%peer, op, id, error = %e, "request failed");
            }
        }
        if id != 0 {
            // Fails only when the writer is gone (the connection is closing): nothing to do.
            let _ = to.out.send(reply(id, &result)).await;
        }
    }
}

/// Where a connection's replies go.
#[derive(Debug, Clone)]
struct Replies {
    peer: SocketAddr,
    out: mpsc::Sender<Frame>,
}

/// Socket errors of the last `window`, to raise an incident past `max_socket_errors_cnt`.
/// ALEPIZ exited with code 4 at that point; Clio logs and keeps serving.
#[derive(Debug)]
struct SocketErrors {
    max: u64,
    window: Duration,
    inner: Mutex<ErrorLog>,
}

#[derive(Debug, Default)]
struct ErrorLog {
    times: VecDeque<Instant>,
    last_incident: Option<Instant>,
}

impl SocketErrors {
    fn new(max: u64, window: Duration) -> Self {
        SocketErrors {
            max,
            window,
            inner: Mutex::new(ErrorLog::default()),
        }
    }

    fn record(&self) {
        let now = Instant::now();
        let mut log = self.inner.lock();
        log.times.push_back(now);
        while log
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            log.times.pop_front();
        }
        // Only "more than max" matters, so max + 1 entries are enough to remember.
        let keep = usize::try_from(self.max.saturating_add(1)).unwrap_or(usize::MAX);
        while log.times.len() > keep {
            log.times.pop_front();
        }
        let exceeded = log.times.len() as u64 > self.max;
        let quiet = log
            .last_incident
            .is_none_or(|t| now.duration_since(t) >= self.window);
        if exceeded && quiet {
            log.last_incident = Some(now);
            warn!(
                max_socket_errors_cnt = self.max,
                window_secs = self.window.as_secs(),
                "incident: more TCP socket errors than server.max_socket_errors_cnt within the \
                 window; the server keeps running (see clio_socket_errors)"
            );
        }
    }
}

/// Keeps `clio_tcp_connections` right however the connection task ends.
struct ConnectionGauge(prometheus_client::metrics::gauge::Gauge);

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let gauge = shared.state.metrics().tcp_connections.clone();
    gauge.inc();
    let _gauge = ConnectionGauge(gauge);
    debug!(%peer, "tcp connection opened");

    // Bounded so that waiting for all permits at the end (`acquire_many`) is possible.
    let max_in_flight = shared.opts.max_in_flight.clamp(1, 1 << 16);
    let codec = FrameCodec::new(shared.state.max_request_bytes());
    let (rd, wr): (Reader, Writer) = match &shared.opts.tls {
        None => {
            let (rd, wr) = stream.into_split();
            (Box::new(rd), Box::new(wr))
        }
        Some(tls) => {
            // A handshake that stalls is cut off like a stalled frame.
            match tokio::time::timeout(shared.opts.stall_timeout, tls.acceptor().accept(stream))
                .await
            {
                Ok(Ok(s)) => {
                    let (rd, wr) = tokio::io::split(s);
                    (Box::new(rd), Box::new(wr))
                }
                Ok(Err(e)) => {
                    shared.socket_error(Some(peer), &format_args!("TLS handshake failed: {e}"));
                    return;
                }
                Err(_) => {
                    shared.socket_error(Some(peer), &"TLS handshake timed out");
                    return;
                }
            }
        }
    };
    // Cancelled by the writer when the peer stops taking replies.
    let closing = CancellationToken::new();
    let (out_tx, out_rx) = mpsc::channel::<Frame>(max_in_flight);
    let replies = Replies { peer, out: out_tx };
    // Every task of the connection lives in this set, so that when serve gives up on a
    // connection at the end of the grace period (dropping this future), they all stop and
    // the socket closes.
    let mut tasks = JoinSet::new();
    let writer = tasks
        .spawn(write_loop(
            wr,
            codec.clone(),
            out_rx,
            Arc::clone(&shared),
            peer,
            closing.clone(),
        ))
        .id();
    let (lane_tx, lane_rx) = mpsc::channel::<Job>(max_in_flight);
    let (done_tx, done_rx) = watch::channel(0u64);
    let lane = tasks
        .spawn(write_lane(
            lane_rx,
            done_tx,
            Arc::clone(&shared),
            replies.clone(),
        ))
        .id();
    let mut submitted = 0u64;
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let mut reader = FrameReader {
        rd,
        buf: BytesMut::with_capacity(8 * 1024),
        codec,
        stall: shared.opts.stall_timeout,
    };
    let shutdown = shared.state.shutdown().clone();
    // Who this connection acts as: trusted peers (and every peer with auth off) need no
    // `auth` message; others are anonymous until one succeeds.
    let mut principal = if shared.state.auth().trusted_peer(peer.ip()) {
        Principal::trusted()
    } else {
        Principal::anonymous()
    };

    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = closing.cancelled() => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = closing.cancelled() => break,
            f = reader.next() => f,
        };
        let frame = match next {
            Ok(Some(f)) => f,
            Ok(None) => {
                debug!(%peer, "peer closed its side; finishing in-flight requests");
                break;
            }
            Err(e) => {
                shared.socket_error(Some(peer), &e);
                break;
            }
        };
        let started = Instant::now();
        let id = frame.id;
        let payload = match frame.json() {
            Ok(p) => p,
            Err(e) => {
                // The framing held, so the client can still be told why it is cut off.
                shared.socket_error(Some(peer), &e);
                if id != 0 {
                    let why = ApiError::bad(format!("{e}; closing the connection"));
                    let _ = replies.out.send(reply(id, &Err(why))).await;
                }
                break;
            }
        };
        let request_id = new_request_id();
        let span = tracing::info_span!("request", request_id = %request_id);
        let data = envelope_data(&payload);
        if let Ok(d) = data
            && let Some(creds) = auth_message(d)
        {
            let result = match creds {
                Ok(creds) => authenticate(&shared, &creds, peer, &request_id).map(|p| {
                    let reply = json!({"authenticated": p.name, "role": p.role});
                    principal = p;
                    reply
                }),
                Err(e) => Err(e),
            };
            shared
                .finish(&replies, id, "auth", started, result, &"auth")
                .instrument(span)
                .await;
            drop(permit);
            continue;
        }
        let msg = match data.and_then(Message::parse) {
            Ok(m) => m,
            Err(e) => {
                shared
                    .finish(&replies, id, "invalid", started, Err(e), &"invalid request")
                    .instrument(span)
                    .await;
                continue;
            }
        };
        let gate = Gate::new(
            shared.state.clone(),
            RequestContext {
                request_id,
                peer: Some(peer),
                proto: "tcp",
                principal: principal.clone(),
            },
        );
        if let Err(e) = shared.rate_limit(&gate) {
            shared
                .finish(&replies, id, msg.op(), started, Err(e), &msg)
                .instrument(span)
                .await;
            continue;
        }
        if msg.is_write() {
            submitted += 1;
            let job = Job {
                id,
                msg,
                gate,
                span,
                started,
                _permit: permit,
            };
            if lane_tx.send(job).await.is_err() {
                break;
            }
        } else {
            let shared = Arc::clone(&shared);
            let out = replies.clone();
            let mut done = done_rx.clone();
            let need = submitted;
            // Forget finished handlers as we go, so the set stays small.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(
                async move {
                    // Read-your-writes on one connection; an error means the lane is gone,
                    // and then there is nothing left to wait for.
                    if need > 0 {
                        let _ = done.wait_for(|d| *d >= need).await;
                    }
                    let op = msg.op();
                    let detail = msg.to_string();
                    let result = msg.execute(&gate).await;
                    shared.finish(&out, id, op, started, result, &detail).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
    }

    // Stop reading; let what was read finish and be answered, then close.
    drop(lane_tx);
    drop(reader);
    let all = u32::try_from(max_in_flight).unwrap_or(1 << 16);
    let _ = permits.acquire_many(all).await;
    drop(replies);
    // The lane ends once its queue is drained, the writer once every reply is out.
    while let Some(done) = tasks.join_next_with_id().await {
        if let Err(e) = done {
            let which = if e.id() == writer {
                "writer"
            } else if e.id() == lane {
                "write lane"
            } else {
                "request handler"
            };
            error!(%peer, task = which, error = %e, "tcp connection task failed");
        }
    }
    debug!(%peer, "tcp connection closed");
}

/// The credentials of an `auth` message (`{"msg": "auth", "token": "..."}` or
/// `{"msg": "auth", "user": "...", "password": "..."}`); `None` for any other message.
fn auth_message(data: &Json) -> Option<Result<Credentials, ApiError>> {
    let o = data.as_object()?;
    if o.get("msg").and_then(Json::as_str) != Some("auth") {
        return None;
    }
    let text = |k: &str| o.get(k).and_then(Json::as_str).map(str::to_owned);
    Some(match (text("token"), text("user"), text("password")) {
        (Some(token), None, None) => Ok(Credentials::Token(token)),
        (None, Some(user), Some(password)) => Ok(Credentials::Password { user, password }),
        _ => Err(ApiError::bad(
            "auth: give `token`, or `user` and `password`",
        )),
    })
}

/// Authenticates a connection's `auth` message: the principal, or the error reply (401,
/// or 429 while the address is throttled), audited and counted.
fn authenticate(
    shared: &Shared,
    creds: &Credentials,
    peer: SocketAddr,
    request_id: &str,
) -> Result<Principal, ApiError> {
    let auth = shared.state.auth();
    let count = |reason| shared.state.note_auth_failure("tcp", reason);
    let who = match creds {
        Credentials::Password { user, .. } => format!("user:{user}"),
        _ => "unknown".into(),
    };
    match auth.authenticate(creds, Some(peer.ip())) {
        Ok(p) => {
            debug!(%peer, principal = %p.name, "tcp connection authenticated");
            Ok(p)
        }
        Err(AuthFailure::Invalid(why)) => {
            count("invalid");
            auth.audit.record(
                &who,
                "authenticate",
                "failed",
                Some(peer.ip()),
                request_id,
                &why,
            );
            Err(ApiError::Unauthorized(why.into_owned()))
        }
        Err(AuthFailure::Throttled(why)) => {
            count("throttled");
            auth.audit.record(
                &who,
                "authenticate",
                "throttled",
                Some(peer.ip()),
                request_id,
                why,
            );
            Err(ApiError::TooManyRequests(why.into()))
        }
        Err(AuthFailure::Store(e)) => Err(ApiError::Internal(format!("token store: {e}"))),
    }
}

/// The `data` of a request envelope `{"data": ..., "err": ...}`.
fn envelope_data(payload: &Json) -> Result<&Json, ApiError> {
    match payload {
        Json::Object(o) => o.get("data").ok_or_else(|| {
            ApiError::bad(
                "the payload has no `data` field (expected {\"data\": {...}, \"err\": null})",
            )
        }),
        other => Err(ApiError::bad(format!(
            "the payload must be a JSON object {{\"data\": ..., \"err\": null}}, not {}",
            crate::requests::json_type(other)
        ))),
    }
}

/// Reads frames, closing on a frame that stalls mid-way.
struct FrameReader {
    rd: Reader,
    buf: BytesMut,
    codec: FrameCodec,
    stall: Duration,
}

impl FrameReader {
    /// The next frame; `None` at a clean end of stream (between frames). Cancel-safe: bytes
    /// read so far stay in the buffer.
    async fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(f));
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(64 * 1024);
            }
            let n = if self.buf.is_empty() {
                // Between frames a connection may idle for as long as it likes.
                self.rd.read_buf(&mut self.buf).await?
            } else {
                match tokio::time::timeout(self.stall, self.rd.read_buf(&mut self.buf)).await {
                    Ok(r) => r?,
                    Err(_) => return Err(FrameError::Stalled(self.stall)),
                }
            };
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated(self.buf.len()))
                };
            }
        }
    }
}

/// Writes replies as they come, coalescing those that are ready into one write.
async fn write_loop(
    mut wr: Writer,
    mut codec: FrameCodec,
    mut rx: mpsc::Receiver<Frame>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    closing: CancellationToken,
) {
    const COALESCE_BYTES: usize = 256 * 1024;
    let timeout = shared.opts.write_timeout;
    let mut out = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(f) = next.take() {
            let id = f.id;
            if let Err(e) = codec.encode(f, &mut out) {
                error!(%peer, id, error = %e, "cannot encode reply");
                let why = Err(ApiError::Internal(format!("cannot encode the reply: {e}")));
                // A short error reply always encodes.
                let _ = codec.encode(reply(id, &why), &mut out);
            }
            if out.len() < COALESCE_BYTES {
                next = rx.try_recv().ok();
            }
        }
        let written = tokio::time::timeout(timeout, wr.write_all(&out)).await;
        out.clear();
        let failure = match written {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => FrameError::Io(e),
            Err(_) => FrameError::WriteStalled(timeout),
        };
        shared.socket_error(Some(peer), &failure);
        closing.cancel();
        return;
    }
    // Every reply is out: tell the peer we are done (FIN), after a half-close too.
    let _ = tokio::time::timeout(timeout, wr.shutdown()).await;
}

/// A data change waiting in the write lane.
struct Job {
    id: u32,
    msg: Message,
    /// The way in, with the connection's principal at the time the message arrived.
    gate: Gate,
    /// The request's span (its id).
    span: tracing::Span,
    started: Instant,
    /// Released when the job is answered: one of the connection's in-flight slots.
    _permit: OwnedSemaphorePermit,
}

impl Job {
    /// `add` without a reply: can share one engine write with its neighbours.
    fn batchable(&self) -> bool {
        self.id == 0 && matches!(self.msg, Message::Add { .. })
    }

    /// Whether two jobs act as the same principal (so they may share one engine write).
    fn same_principal(&self, other: &Job) -> bool {
        self.gate.context().principal.name == other.gate.context().principal.name
    }

    fn points(&self) -> usize {
        match &self.msg {
            Message::Add { points } => points.len(),
            _ => 0,
        }
    }
}

/// Applies a connection's data changes in arrival order; publishes how many are done so
/// reads sent after them can wait.
async fn write_lane(
    mut rx: mpsc::Receiver<Job>,
    done: watch::Sender<u64>,
    shared: Arc<Shared>,
    out: Replies,
) {
    let mut finished = 0u64;
    let mut held: Option<Job> = None;
    loop {
        let job = match held.take() {
            Some(j) => j,
            None => match rx.recv().await {
                Some(j) => j,
                None => break,
            },
        };
        if job.batchable() {
            let mut points = job.points();
            let mut batch = vec![job];
            while points < shared.opts.add_batch_points {
                match rx.try_recv() {
                    Ok(j) if j.batchable() && j.same_principal(&batch[0]) => {
                        points += j.points();
                        batch.push(j);
                    }
                    Ok(j) => {
                        held = Some(j);
                        break;
                    }
                    Err(_) => break,
                }
            }
            finished += batch.len() as u64;
            add_batch(&shared, batch, &out).await;
        } else {
            finished += 1;
            run_job(&shared, job, &out).await;
        }
        done.send_replace(finished);
    }
}

async fn run_job(shared: &Shared, job: Job, out: &Replies) {
    let op = job.msg.op();
    let detail = job.msg.to_string();
    let span = job.span.clone();
    async {
        let result = job.msg.execute(&job.gate).await;
        shared
            .finish(out, job.id, op, job.started, result, &detail)
            .await;
    }
    .instrument(span)
    .await
}

/// Writes several fire-and-forget `add`s as one engine write (one log append and sync);
/// when the engine refuses the batch because of a client mistake, retries them one by one
/// so that only the bad ones are lost.
async fn add_batch(shared: &Shared, batch: Vec<Job>, out: &Replies) {
    if batch.len() == 1 {
        for job in batch {
            run_job(shared, job, out).await;
        }
        return;
    }
    let points: Vec<_> = batch
        .iter()
        .flat_map(|j| match &j.msg {
            Message::Add { points } => points.clone(),
            _ => Vec::new(),
        })
        .collect();
    let gate = batch[0].gate.clone();
    let span = batch[0].span.clone();
    match crate::requests::write_points(&gate, points)
        .instrument(span)
        .await
    {
        Ok(_) => {
            for job in &batch {
                shared
                    .state
                    .observe("tcp", "add", job.started, Ok(()), &"add (batched)");
            }
        }
        Err(e) if e.is_client_error() => {
            for job in batch {
                run_job(shared, job, out).await;
            }
        }
        Err(e) => {
            warn!(peer = %out.peer, adds = batch.len(), error = %e, "batched add failed");
            for job in &batch {
                shared
                    .state
                    .observe("tcp", "add", job.started, Err(&e), &"add (batched)");
            }
        }
    }
}
