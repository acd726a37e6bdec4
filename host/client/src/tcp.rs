//! The TCP client: Clio's JSON messages in ALEPIZ frames, pipelined over one connection.
//!
//! Requests are numbered 2, 4, 6, … (even, as ALEPIZ clients do; the server numbers its own
//! requests odd) and written by one writer task, which flushes once per burst so that many
//! small requests share a packet. One reader task hands each reply to the request with the
//! same id, so replies may come in any order. A semaphore bounds the requests in flight: a
//! caller past the bound waits for a slot instead of piling up memory.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clio_lineproto::Precision;
use clio_storage::{Point, SeriesId, SeriesKey};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

use crate::error::{Error, Result};
use crate::frame::{FrameDecoder, RawFrame, header, payload_len};
use crate::types::{LineWriteReport, PointsQuery, ReadAnswer, WritePoint, WriteReport, parse_last};

/// Settings of a [`TcpClient`].
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Requests sent and not yet answered, at most (at least 1).
    pub max_in_flight: usize,
    /// How long a request waits for its reply; `None` waits as long as the connection lives.
    pub request_timeout: Option<Duration>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// Largest reply payload accepted, in bytes.
    pub max_reply_bytes: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_in_flight: 256,
            request_timeout: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(10),
            max_reply_bytes: 256 << 20,
        }
    }
}

/// What the reader hands to a waiting request: the reply payload, or why none will come.
type Reply = Result<Bytes>;

/// Requests waiting for their reply, and whether the connection is gone. One lock covers
/// both so that a request can never be registered after the reader has failed everyone.
#[derive(Debug, Default)]
struct Pending {
    waiters: HashMap<u32, oneshot::Sender<Reply>>,
    closed: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent (every critical
        // section is a single insert/remove), so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection closed and fails every waiting request with `reason`.
    fn close(&self, reason: String) {
        let mut p = self.lock();
        if p.closed.is_none() {
            p.closed = Some(reason.clone());
        }
        for (_, w) in p.waiters.drain() {
            let _ = w.send(Err(Error::Closed(reason.clone())));
        }
    }
}

/// One frame for the writer task.
#[derive(Debug)]
struct Outgoing {
    id: u32,
    payload: Bytes,
}

/// A pipelined connection to Clio's TCP port (default `127.0.0.1:10163`).
///
/// Share it between tasks through an `Arc`; every method takes `&self`. Dropping it closes
/// the connection.
#[derive(Debug)]
pub struct TcpClient {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    slots: Arc<Semaphore>,
    next_id: AtomicU32,
    options: TcpOptions,
    peer: SocketAddr,
    reader: JoinHandle<()>,
}

impl TcpClient {
    /// Connects with default [`TcpOptions`].
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Self> {
        Self::connect_with(addr, TcpOptions::default()).await
    }

    /// Connects with `options`.
    pub async fn connect_with(addr: impl ToSocketAddrs, options: TcpOptions) -> Result<Self> {
        let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout(options.connect_timeout))?
            .map_err(|e| Error::Transport(e.to_string()))?;
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let (read_half, write_half) = stream.into_split();
        let shared = Arc::new(Shared::default());
        let max_in_flight = options.max_in_flight.max(1);
        // The channel never holds more than the in-flight bound, since a request takes its
        // slot before it queues its frame.
        let (tx, rx) = mpsc::channel(max_in_flight);
        // The writer ends by itself once the client (the channel's only sender) is dropped,
        // after sending what is queued.
        tokio::spawn(write_loop(write_half, rx, shared.clone()));
        let reader = tokio::spawn(read_loop(
            read_half,
            FrameDecoder::new(options.max_reply_bytes),
            shared.clone(),
        ));
        Ok(TcpClient {
            shared,
            outgoing: tx,
            slots: Arc::new(Semaphore::new(max_in_flight)),
            next_id: AtomicU32::new(2),
            options,
            peer,
            reader,
        })
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The next even request id (2, 4, …, wrapping past 2³² and skipping 0, which means "no
    /// reply expected").
    fn next_id(&self) -> u32 {
        take_id(&self.next_id)
    }

    /// Sends `data` as `{"data": data, "err": null}` and returns the reply's `data`; a reply
    /// with `err` set becomes [`Error::Server`] (or [`Error::Remote`] without a code).
    pub async fn request(&self, data: &Json) -> Result<Json> {
        let payload = json!({"data": data, "err": null}).to_string();
        self.request_raw(Bytes::from(payload)).await
    }

    /// Like [`TcpClient::request`] with a pre-serialised payload: the complete
    /// `{"data": …, "err": null}` JSON text. Load generators use it to build their frames once.
    pub async fn request_raw(&self, payload: Bytes) -> Result<Json> {
        let reply = self.round_trip(payload).await?;
        parse_reply(&reply)
    }

    async fn round_trip(&self, payload: Bytes) -> Result<Bytes> {
        payload_len(payload.len())?;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| Error::Closed("client shut down".into()))?;
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.shared.lock();
            if let Some(reason) = &p.closed {
                return Err(Error::Closed(reason.clone()));
            }
            p.waiters.insert(id, tx);
        }
        if self.outgoing.send(Outgoing { id, payload }).await.is_err() {
            self.shared.lock().waiters.remove(&id);
            return Err(Error::Closed("the writer stopped".into()));
        }
        let reply = match self.options.request_timeout {
            None => rx.await,
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => {
                    // A late reply finds no waiter and is dropped by the reader.
                    self.shared.lock().waiters.remove(&id);
                    return Err(Error::Timeout(t));
                }
            },
        };
        reply.map_err(|_| Error::Closed("the reader stopped".into()))?
    }

    /// Sends `data` with message id 0, which asks for no reply (ALEPIZ's `add`). Returns
    /// once the frame is queued for sending; delivery is not confirmed.
    pub async fn notify(&self, data: &Json) -> Result<()> {
        let payload = Bytes::from(json!({"data": data, "err": null}).to_string());
        payload_len(payload.len())?;
        if let Some(reason) = &self.shared.lock().closed {
            return Err(Error::Closed(reason.clone()));
        }
        self.outgoing
            .send(Outgoing { id: 0, payload })
            .await
            .map_err(|_| Error::Closed("the writer stopped".into()))
    }

    /// `{"msg": "ping"}`: a round trip that touches no data.
    pub async fn ping(&self) -> Result<Json> {
        self.request(&json!({"msg": "ping"})).await
    }

    /// `{"msg": "write", "points": [...]}`: points by series id or key.
    pub async fn write_points(&self, points: &[WritePoint]) -> Result<WriteReport> {
        let points: Vec<Json> = points.iter().map(WritePoint::to_json).collect();
        let reply = self
            .request(&json!({"msg": "write", "points": points}))
            .await?;
        serde_json::from_value(reply).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `{"msg": "writeLp", "lp": "...", "precision": "ms"}`: line protocol over TCP. Bad lines
    /// do not fail the request: the report counts them and names the first.
    pub async fn write_lp(&self, lp: &str, precision: Precision) -> Result<LineWriteReport> {
        let reply = self
            .request(&json!({"msg": "writeLp", "lp": lp, "precision": precision.to_string()}))
            .await?;
        serde_json::from_value(reply).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `{"msg": "read", "series": id, ...query}`: the same answer as the HTTP point query.
    pub async fn read(&self, id: SeriesId, query: &PointsQuery) -> Result<ReadAnswer> {
        self.read_series(json!(id.0), query).await
    }

    /// [`TcpClient::read`] of the series with `key`.
    pub async fn read_key(&self, key: &SeriesKey, query: &PointsQuery) -> Result<ReadAnswer> {
        self.read_series(json!(key.to_string()), query).await
    }

    async fn read_series(&self, series: Json, query: &PointsQuery) -> Result<ReadAnswer> {
        let mut msg = query.json_fields();
        msg.insert("msg".into(), json!("read"));
        msg.insert("series".into(), series);
        let reply = self.request(&Json::Object(msg)).await?;
        ReadAnswer::from_json(&reply)
    }

    /// `{"msg": "last", "series": [ids]}`: the newest point of each series.
    pub async fn last(&self, ids: &[SeriesId]) -> Result<BTreeMap<SeriesId, Option<Point>>> {
        let ids: Vec<u64> = ids.iter().map(|i| i.0).collect();
        let reply = self.request(&json!({"msg": "last", "series": ids})).await?;
        parse_last(&reply)
    }
}

impl Drop for TcpClient {
    fn drop(&mut self) {
        // The reader would otherwise wait for the server forever.
        self.reader.abort();
    }
}

/// Takes the next id from `counter`; 0 is skipped because it means "no reply expected".
fn take_id(counter: &AtomicU32) -> u32 {
    loop {
        let id = counter.fetch_add(2, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// `{"data": …, "err": null}` → the data; `{"err": "...", "code": 400}` → an error.
fn parse_reply(payload: &[u8]) -> Result<Json> {
    let mut v: Json = serde_json::from_slice(payload).map_err(|e| {
        Error::Decode(format!(
            "reply is not JSON ({e}): {}",
            String::from_utf8_lossy(&payload[..payload.len().min(200)])
        ))
    })?;
    let Some(o) = v.as_object_mut() else {
        return Err(Error::Decode("a reply must be a JSON object".into()));
    };
    match o.get("err") {
        None | Some(Json::Null) => Ok(o.remove("data").unwrap_or(Json::Null)),
        Some(err) => {
            let message = match err {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            match o.get("code").and_then(Json::as_u64) {
                Some(code) => Err(Error::Server {
                    status: u16::try_from(code).unwrap_or(500),
                    message,
                }),
                None => Err(Error::Remote(message)),
            }
        }
    }
}

async fn write_loop(half: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>, shared: Arc<Shared>) {
    let mut w = BufWriter::with_capacity(64 << 10, half);
    let result: std::io::Result<()> = async {
        while let Some(first) = rx.recv().await {
            write_frame(&mut w, &first).await?;
            // Everything already queued goes out in the same flush.
            while let Ok(next) = rx.try_recv() {
                write_frame(&mut w, &next).await?;
            }
            w.flush().await?;
        }
        w.shutdown().await
    }
    .await;
    if let Err(e) = result {
        shared.close(format!("cannot send: {e}"));
    }
}

async fn write_frame(w: &mut BufWriter<OwnedWriteHalf>, f: &Outgoing) -> std::io::Result<()> {
    // Lengths were checked when the request was made.
    let len = u32::try_from(f.payload.len()).unwrap_or(u32::MAX);
    w.write_all(&header(f.id, len)).await?;
    w.write_all(&f.payload).await
}

async fn read_loop(mut half: OwnedReadHalf, mut decoder: FrameDecoder, shared: Arc<Shared>) {
    let mut buf = BytesMut::with_capacity(64 << 10);
    let reason = loop {
        match decoder.decode(&mut buf) {
            Err(e) => break e.to_string(),
            Ok(Some(RawFrame { id, payload })) => {
                // Replies to requests that timed out, and requests the server starts itself
                // (odd ids), have no waiter: they are dropped.
                let waiter = shared.lock().waiters.remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(Ok(payload));
                }
            }
            Ok(None) => match half.read_buf(&mut buf).await {
                Ok(0) => match decoder.decode_eof(&mut buf) {
                    Err(e) => break e.to_string(),
                    _ => break "the server closed the connection".to_owned(),
                },
                Ok(_) => {}
                Err(e) => break format!("cannot receive: {e}"),
            },
        }
    };
    shared.close(reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode;
    use tokio::net::TcpListener;

    /// A fake server: reads `n` requests, then answers them in reverse order, echoing each
    /// request's data under `data` (or an error for `{"fail": true}`).
    async fn reverse_server(n: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            for _ in 0..n {
                let mut h = [0u8; 13];
                s.read_exact(&mut h).await.unwrap();
                assert_eq!(&h[..5], b"AlPz\x01");
                let len = u32::from_le_bytes(h[5..9].try_into().unwrap()) as usize;
                let id = u32::from_le_bytes(h[9..13].try_into().unwrap());
                let mut p = vec![0u8; len];
                s.read_exact(&mut p).await.unwrap();
                got.push((id, serde_json::from_slice::<Json>(&p).unwrap()));
            }
            for (id, req) in got.into_iter().rev() {
                let data = &req["data"];
                let reply = if data["fail"] == json!(true) {
                    json!({"data": null, "err": "no such thing", "code": 404})
                } else {
                    json!({"data": {"echo": data, "id": id}, "err": null})
                };
                s.write_all(&encode(id, reply.to_string().as_bytes()).unwrap())
                    .await
                    .unwrap();
            }
            // Keep the socket open until the client is done.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        addr
    }

    #[tokio::test]
    async fn pipelined_replies_reach_their_requests_in_any_order() {
        let addr = reverse_server(20).await;
        let c = Arc::new(TcpClient::connect(addr).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..20 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                if i == 7 {
                    c.request(&json!({"fail": true})).await
                } else {
                    c.request(&json!({"n": i})).await
                }
            }));
        }
        let mut ids = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            if i == 7 {
                let e = r.unwrap_err();
                assert_eq!(e.status(), Some(404));
                assert!(e.to_string().contains("no such thing"));
            } else {
                let v = r.unwrap();
                assert_eq!(v["echo"], json!({"n": i}));
                ids.push(v["id"].as_u64().unwrap());
            }
        }
        assert!(ids.iter().all(|id| id % 2 == 0 && *id > 0), "{ids:?}");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 19, "every request had its own id");
    }

    #[tokio::test]
    async fn a_closed_connection_fails_waiting_and_later_requests() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut h = [0u8; 13];
            s.read_exact(&mut h).await.unwrap();
            // Close without answering.
        });
        let c = TcpClient::connect(addr).await.unwrap();
        let e = c.ping().await.unwrap_err();
        assert!(matches!(e, Error::Closed(_)), "{e}");
        let e = c.ping().await.unwrap_err();
        assert!(matches!(e, Error::Closed(_)), "{e}");
    }

    #[tokio::test]
    async fn garbage_from_the_server_is_a_protocol_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut h = [0u8; 13];
            s.read_exact(&mut h).await.unwrap();
            s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .await
                .unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        let c = TcpClient::connect(addr).await.unwrap();
        let e = c.ping().await.unwrap_err();
        assert!(e.to_string().contains("bad magic"), "{e}");
    }

    #[tokio::test]
    async fn requests_time_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        let opts = TcpOptions {
            request_timeout: Some(Duration::from_millis(50)),
            ..TcpOptions::default()
        };
        let c = TcpClient::connect_with(addr, opts).await.unwrap();
        assert!(matches!(c.ping().await, Err(Error::Timeout(_))));
        assert!(c.shared.lock().waiters.is_empty(), "the waiter was removed");
    }

    #[test]
    fn replies_parse() {
        assert_eq!(
            parse_reply(br#"{"data":"pong","err":null}"#).unwrap(),
            json!("pong")
        );
        assert_eq!(parse_reply(br#"{"data":1}"#).unwrap(), json!(1));
        assert!(matches!(
            parse_reply(br#"{"data":null,"err":"boom"}"#),
            Err(Error::Remote(m)) if m == "boom"
        ));
        assert!(matches!(
            parse_reply(br#"{"data":null,"err":"bad","code":400}"#),
            Err(Error::Server { status: 400, .. })
        ));
        assert!(matches!(parse_reply(b"[1]"), Err(Error::Decode(_))));
        assert!(matches!(parse_reply(b"nope"), Err(Error::Decode(_))));
    }

    #[test]
    fn ids_are_even_and_skip_zero() {
        let next = AtomicU32::new(2);
        assert_eq!(take_id(&next), 2);
        assert_eq!(take_id(&next), 4);
        let next = AtomicU32::new(u32::MAX - 1);
        assert_eq!(take_id(&next), u32::MAX - 1);
        assert_eq!(take_id(&next), 2, "0 is skipped after the wrap");
    }
}
