//! The TCP front end against a real engine (SQLite backend in a temporary directory), spoken
//! to over real sockets with the frame codec.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use clio_config::Config;
use clio_core::{EngineOptions, Store};
use clio_server::AppState;
use clio_server::tcp::{self, Frame, FrameCodec, TcpOptions};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

/// 2023-11-14T22:13:20Z: well inside "absolute" territory.
const T0: i64 = 1_700_000_000_000;
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    addr: std::net::SocketAddr,
    state: AppState,
    /// The engine, as the composition root holds it (handlers reach it through the door).
    store: Store,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    start_with(Config::default(), TcpOptions::default()).await
}

async fn start_with(config: Config, opts: TcpOptions) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
    let mut eo = EngineOptions::new(dir.path());
    eo.timestamp_max_past = None;
    eo.timestamp_max_future = None;
    let (store, _) = Store::open(eo, Arc::new(backend)).await.unwrap();
    let shutdown = CancellationToken::new();
    let state = AppState::new(store.clone(), config, shutdown.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(tcp::serve_with(listener, state.clone(), opts));
    Server {
        addr,
        state,
        store,
        shutdown,
        handle,
        _dir: dir,
    }
}

struct Client {
    stream: TcpStream,
    buf: BytesMut,
    codec: FrameCodec,
    next_id: u32,
}

impl Client {
    async fn connect(s: &Server) -> Client {
        Client {
            stream: TcpStream::connect(s.addr).await.unwrap(),
            buf: BytesMut::new(),
            codec: FrameCodec::new(usize::MAX >> 1),
            next_id: 0,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, id: u32, data: Json) {
        let mut out = BytesMut::new();
        self.codec
            .encode(Frame::request(id, &data), &mut out)
            .unwrap();
        self.send_raw(&out).await;
    }

    /// The next frame as (id, payload JSON); `None` when the server closed the connection.
    async fn recv(&mut self) -> Option<(u32, Json)> {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf).unwrap() {
                return Some((f.id, f.json().unwrap()));
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("no frame from the server within 10 s")
                .unwrap_or(0);
            if n == 0 {
                assert!(self.buf.is_empty(), "connection closed mid-frame");
                return None;
            }
        }
    }

    /// Sends a request with the next even id and returns the reply envelope.
    async fn call(&mut self, data: Json) -> Json {
        self.next_id += 2;
        let id = self.next_id;
        self.send(id, data).await;
        let (rid, env) = self.recv().await.expect("connection closed");
        assert_eq!(rid, id, "reply id");
        env
    }

    async fn ok(&mut self, data: Json) -> Json {
        let env = self.call(data.clone()).await;
        assert_eq!(env["err"], Json::Null, "request {data} failed: {env}");
        env["data"].clone()
    }

    async fn err(&mut self, data: Json) -> String {
        let env = self.call(data.clone()).await;
        assert_eq!(env["data"], Json::Null, "request {data} should fail: {env}");
        env["err"].as_str().expect("err is a string").to_owned()
    }

    /// Asserts that the server closes the connection (possibly after some frames).
    async fn expect_closed(&mut self) -> Vec<(u32, Json)> {
        let mut frames = Vec::new();
        while let Some(f) = self.recv().await {
            frames.push(f);
        }
        frames
    }
}

fn timestamps(reply: &Json) -> Vec<i64> {
    reply["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect()
}

fn add(id: u64, ts: i64, data: Json) -> Json {
    json!({"msg": "add", "id": id, "record": {"timestamp": ts, "data": data}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alepiz_round_trips() {
    let s = start().await;
    let mut c = Client::connect(&s).await;
    // Ten records one second apart, fire-and-forget as ALEPIZ sends them.
    for i in 0..10 {
        c.send(0, add(7, T0 + i * 1000, json!(i as f64 * 1.5)))
            .await;
    }
    c.send(0, add(8, T0, json!("up"))).await;
    c.send(0, add(8, T0 + 1000, json!(true))).await;

    // getByIdx: newest cnt after skipping `last`; reads see the writes sent before them.
    let r = c
        .ok(json!({"msg": "getByIdx", "id": 7, "last": 0, "cnt": 3, "maxRecordsCnt": 0, "recordsType": 0}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 7000, T0 + 8000, T0 + 9000]);
    assert_eq!(r["all"], json!(true));
    assert_eq!(r["records"][2]["data"], json!(13.5));
    let r = c
        .ok(json!({"msg": "getByIdx", "id": 7, "last": 2, "cnt": 2}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 6000, T0 + 7000]);
    let r = c
        .ok(json!({"msg": "getByIdx", "id": 7, "last": 0, "cnt": 50}))
        .await;
    assert_eq!(timestamps(&r).len(), 10);
    let r = c.ok(json!({"msg": "getByIdx", "id": 8, "cnt": 5})).await;
    assert_eq!(
        r["records"],
        json!([{"timestamp": T0, "data": "up"}, {"timestamp": T0 + 1000, "data": 1.0}])
    );
    // With an evaluation time, later records are invisible.
    let r = c
        .ok(json!({"msg": "getByIdx", "id": 7, "cnt": 2, "at": T0 + 5000}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 3000, T0 + 4000]);
    // Absurd counts are answered, not trusted: nothing is allocated for them.
    let r = c
        .ok(json!({"msg": "getByIdx", "id": 7, "last": 1_000_000_000_000_000u64, "cnt": 1_000_000_000_000_000u64}))
        .await;
    assert_eq!(r, json!({"records": [], "all": true}));
    // A series never written is an empty window, not an error.
    let r = c.ok(json!({"msg": "getByIdx", "id": 999, "cnt": 2})).await;
    assert_eq!(r, json!({"records": [], "all": true}));

    // getByTime with two timestamps: half-open [from, to), in either order.
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": T0 + 2000, "interval": T0 + 5000, "maxRecordsCnt": 0, "recordsType": 0}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 2000, T0 + 3000, T0 + 4000]);
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": T0 + 5000, "interval": T0 + 2000}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 2000, T0 + 3000, T0 + 4000]);
    // A timestamp and a period: [t, t + period).
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": T0 + 8000, "interval": 2000}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 8000, T0 + 9000]);
    // Relative to an evaluation time: [at − time − interval, at − time).
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": 1000, "interval": "3s", "at": T0 + 9500}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 6000, T0 + 7000, T0 + 8000]);
    // Relative to the server clock: all ten records are within the last 1000 weeks (a
    // longer duration would be ≥ 946684800000 and so read as a timestamp).
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": 0, "interval": "1000w"}))
        .await;
    assert_eq!(timestamps(&r).len(), 10);
    // Interval 0: the newest record at or before the time.
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": T0 + 4000, "interval": 0}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 4000]);
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": 2500, "interval": 0, "at": T0 + 6000}))
        .await;
    assert_eq!(timestamps(&r), [T0 + 3000]);
    // Thinning for charts: 10 records into at most 2.
    let r = c
        .ok(json!({"msg": "getByTime", "id": 7, "time": T0, "interval": T0 + 10_000, "maxRecordsCnt": 2}))
        .await;
    assert_eq!(r["records"].as_array().unwrap().len(), 2);
    assert_eq!(r["records"][0]["data"], json!(3.0)); // mean of 0, 1.5, ... 6

    // getLastValues: unknown and empty series answer {"err": "no data"}.
    let r = c
        .ok(json!({"msg": "getLastValues", "IDs": [7, 8, 12345]}))
        .await;
    assert_eq!(
        r,
        json!({"7": {"timestamp": T0 + 9000, "data": 13.5},
               "8": {"timestamp": T0 + 1000, "data": 1.0},
               "12345": {"err": "no data"}})
    );

    // getByValue: the newest record holding the value; numbers match numeric strings.
    c.send(0, add(7, T0 + 10_000, json!(3.0))).await;
    let r = c
        .ok(json!({"msg": "getByValue", "id": 7, "value": 3}))
        .await;
    assert_eq!(r, json!(T0 + 10_000));
    let r = c
        .ok(json!({"msg": "getByValue", "id": 7, "value": "4.5"}))
        .await;
    assert_eq!(r, json!(T0 + 3000));
    let r = c
        .ok(json!({"msg": "getByValue", "id": 8, "value": "up"}))
        .await;
    assert_eq!(r, json!(T0));
    let r = c
        .ok(json!({"msg": "getByValue", "id": 7, "value": 4.25}))
        .await;
    assert_eq!(r, Json::Null);

    // add with a reply id answers with the write report; `records` carries several.
    let r = c
        .ok(json!({"msg": "add", "id": 9, "records": [{"timestamp": T0, "data": 1}, {"timestamp": T0 + 1, "data": 2}]}))
        .await;
    assert_eq!(
        r,
        json!({"points": 2, "restamped": 0, "created_series": 1, "merged": 0})
    );

    // del (fire-and-forget) removes the series completely.
    c.send(0, json!({"msg": "del", "IDs": [7, 9]})).await;
    let r = c
        .ok(json!({"msg": "getLastValues", "IDs": [7, 8, 9]}))
        .await;
    assert_eq!(r["7"], json!({"err": "no data"}));
    assert_eq!(r["9"], json!({"err": "no data"}));
    assert_eq!(r["8"]["timestamp"], json!(T0 + 1000));
    assert!(s.store.series(clio_storage::SeriesId(7)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_fire_and_forget_adds_are_all_applied_in_order() {
    let s = start().await;
    let mut c = Client::connect(&s).await;
    let mut wire = BytesMut::new();
    let mut codec = FrameCodec::new(1 << 20);
    for i in 0..2000 {
        // Series 1 gets every value twice at the same ts; the later one must win.
        codec
            .encode(Frame::request(0, &add(1, T0 + i, json!(i))), &mut wire)
            .unwrap();
        codec
            .encode(Frame::request(0, &add(1, T0 + i, json!(i * 10))), &mut wire)
            .unwrap();
    }
    c.send_raw(&wire).await;
    let r = c.ok(json!({"msg": "getByIdx", "id": 1, "cnt": 5000})).await;
    let recs = r["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2000);
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec["timestamp"], json!(T0 + i as i64));
        assert_eq!(rec["data"], json!(i as f64 * 10.0));
    }
    // One bad add among good ones loses only itself.
    c.send(0, add(2, T0, json!(1))).await;
    c.send(0, json!({"msg": "add", "id": 2, "record": {"timestamp": T0 + 1, "data": "x".repeat(2 << 20)}})).await;
    c.send(0, add(2, T0 + 2, json!(3))).await;
    let r = c.ok(json!({"msg": "getByIdx", "id": 2, "cnt": 10})).await;
    assert_eq!(timestamps(&r), [T0, T0 + 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_matched_by_id() {
    let s = start().await;
    let mut c = Client::connect(&s).await;
    for i in 0..20 {
        c.send(0, add(3, T0 + i * 1000, json!(i))).await;
    }
    // 100 requests before reading any reply.
    let mut wire = BytesMut::new();
    let mut codec = FrameCodec::new(1 << 20);
    for k in 1..=100u32 {
        let data = match k % 4 {
            0 => json!({"msg": "ping"}),
            1 => json!({"msg": "getByIdx", "id": 3, "cnt": k % 7 + 1}),
            2 => json!({"msg": "getByValue", "id": 3, "value": k % 20}),
            _ => json!({"msg": "nope"}),
        };
        codec
            .encode(Frame::request(k * 2, &data), &mut wire)
            .unwrap();
    }
    c.send_raw(&wire).await;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..100 {
        let (id, env) = c.recv().await.expect("reply");
        assert!(seen.insert(id, env).is_none(), "duplicate reply {id}");
    }
    assert_eq!(seen.len(), 100);
    for (id, env) in seen {
        let k = id / 2;
        match k % 4 {
            0 => assert_eq!(env["data"], json!("pong")),
            1 => assert_eq!(
                env["data"]["records"].as_array().unwrap().len() as u32,
                k % 7 + 1
            ),
            2 => assert_eq!(env["data"], json!(T0 + i64::from(k % 20) * 1000)),
            _ => {
                assert!(
                    env["err"]
                        .as_str()
                        .unwrap()
                        .contains("unknown message `nope`")
                );
                assert_eq!(env["code"], json!(400));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clio_messages() {
    let s = start().await;
    let mut c = Client::connect(&s).await;
    assert_eq!(c.ok(json!({"msg": "ping"})).await, json!("pong"));

    let r = c
        .ok(json!({"msg": "write", "points": [
            {"key": "cpu,host=a usage", "ts": T0, "value": 1.5},
            {"key": "cpu,host=a usage", "ts": T0 + 1000, "value": 2.5},
            {"series": 42, "ts": T0, "value": "ok"}
        ]}))
        .await;
    assert_eq!(
        r,
        json!({"points": 3, "restamped": 0, "created_series": 2, "merged": 0})
    );
    let r = c
        .ok(json!({"msg": "writeLp", "lp": "cpu,host=b usage=7 1700000000000\nbad line\n", "precision": "ms"}))
        .await;
    assert_eq!(r["points"], json!(1));
    assert_eq!(r["rejected"], json!(1));
    assert!(r["error"].is_string());

    let list = c
        .ok(json!({"msg": "series.list", "measurement": "cpu", "tags": {"host": "a"}}))
        .await;
    assert_eq!(list["next"], Json::Null);
    let list = list["series"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["key"], json!("cpu,host=a usage"));
    let id = list[0]["id"].as_u64().unwrap();
    let all = c.ok(json!({"msg": "series.list"})).await;
    assert_eq!(all["series"].as_array().unwrap().len(), 3);
    // Pages of two: the cursor carries on where the first page stopped.
    let first = c.ok(json!({"msg": "series.list", "limit": 2})).await;
    assert_eq!(first["series"].as_array().unwrap().len(), 2);
    let cursor = first["next"].as_str().unwrap().to_owned();
    let rest = c
        .ok(json!({"msg": "series.list", "limit": 2, "cursor": cursor}))
        .await;
    assert_eq!(rest["series"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next"], Json::Null);

    let r = c
        .ok(json!({"msg": "read", "series": "cpu,host=a usage", "last": 1}))
        .await;
    assert_eq!(r["points"], json!([[T0 + 1000, 2.5]]));
    assert_eq!(r["truncated"], json!(false));
    let r = c
        .ok(json!({"msg": "read", "series": id, "from": T0, "to": T0 + 1000}))
        .await;
    assert_eq!(r["points"], json!([[T0, 1.5]]));
    let r = c.ok(json!({"msg": "last", "series": [id, 42]})).await;
    assert_eq!(r[id.to_string()], json!({"ts": T0 + 1000, "value": 2.5}));
    assert_eq!(r["42"], json!({"ts": T0, "value": "ok"}));

    let r = c
        .ok(json!({"msg": "series.update", "id": 42, "keep_history_days": 3, "metadata": {"unit": "%"}}))
        .await;
    assert_eq!(r["keep_history_days"], json!(3));
    assert_eq!(r["metadata"], json!({"unit": "%"}));
    let r = c.ok(json!({"msg": "series.get", "id": 42})).await;
    assert_eq!(r["keep_history_days"], json!(3));
    let r = c.ok(json!({"msg": "series.delete", "id": 42})).await;
    assert_eq!(r, json!({"deleted": true}));
    let r = c.ok(json!({"msg": "series.delete", "id": 42})).await;
    assert_eq!(r, json!({"deleted": false}));

    // Client mistakes: error replies naming the problem; the connection stays usable.
    let env = c.call(json!({"msg": "series.get", "id": 42})).await;
    assert_eq!(env["code"], json!(404));
    assert!(env["err"].as_str().unwrap().contains("42"));
    assert!(
        c.err(json!({"msg": "read", "series": 12345, "last": 1}))
            .await
            .contains("12345")
    );
    assert!(
        c.err(json!({"msg": "read", "series": id}))
            .await
            .contains("last")
    );
    assert!(
        c.err(json!({"msg": "read", "series": id, "last": 1, "skp": 1}))
            .await
            .contains("`skp`")
    );
    assert!(
        c.err(json!({"msg": "write", "points": [{"series": 1, "value": null}]}))
            .await
            .contains("point 0")
    );
    assert!(
        c.err(json!({"msg": "write", "points": {}}))
            .await
            .contains("points")
    );
    assert!(
        c.err(json!({"msg": "getByIdx", "id": 1, "cnt": "many"}))
            .await
            .contains("`cnt`")
    );
    assert!(
        c.err(json!({"msg": "getByTime", "id": 1, "time": "soon", "interval": 5}))
            .await
            .contains("`time`")
    );
    assert!(
        c.err(json!({"msg": "ping", "extra": 1}))
            .await
            .contains("`extra`")
    );
    assert!(
        c.err(json!({"msg": "frobnicate"}))
            .await
            .contains("frobnicate")
    );
    assert!(c.err(json!("just a string")).await.contains("`data`"));
    // An envelope without `data`.
    c.next_id += 2;
    let id2 = c.next_id;
    let mut out = BytesMut::new();
    FrameCodec::new(1 << 20)
        .encode(Frame::new(id2, r#"{"dat": 1}"#), &mut out)
        .unwrap();
    c.send_raw(&out).await;
    let (rid, env) = c.recv().await.unwrap();
    assert_eq!(rid, id2);
    assert!(env["err"].as_str().unwrap().contains("`data`"));
    assert_eq!(c.ok(json!({"msg": "ping"})).await, json!("pong"));

    // Id 0 means no reply, errors included: the next frame is the ping's reply.
    c.send(0, json!({"msg": "frobnicate"})).await;
    c.send(0, json!({"msg": "add", "id": "x", "record": {"data": 1}}))
        .await;
    c.send(0, json!({"msg": "ping"})).await;
    assert_eq!(c.ok(json!({"msg": "ping"})).await, json!("pong"));
}

fn header(version: u8, len: u32, id: u32) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_slice(b"AlPz");
    b.put_u8(version);
    b.put_u32_le(len);
    b.put_u32_le(id);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_closes_only_its_connection() {
    let mut config = Config::default();
    config.server.max_request_mb = 1;
    config.server.max_socket_errors_cnt = 2;
    let s = start_with(config, TcpOptions::default()).await;
    let mut good = Client::connect(&s).await;
    assert_eq!(good.ok(json!({"msg": "ping"})).await, json!("pong"));

    let with_payload = |id: u32, payload: &[u8]| {
        let mut b = header(1, payload.len() as u32, id);
        b.put_slice(payload);
        b
    };
    let bad_json = with_payload(6, b"{nope");
    let bad_utf8 = with_payload(8, b"{\"data\":\"\xff\"}");
    let cases: Vec<(&str, BytesMut)> = vec![
        (
            "bad magic",
            BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]),
        ),
        ("bad version", header(2, 2, 2)),
        ("zero length", header(1, 0, 2)),
        ("oversize", header(1, (1 << 20) + 1, 2)),
        ("huge length", header(1, u32::MAX, 2)),
        ("invalid json", bad_json),
        ("invalid utf-8", bad_utf8),
    ];
    let n = cases.len() as i64;
    for (what, bytes) in cases {
        let mut bad = Client::connect(&s).await;
        // A good request first: it is answered before the garbage closes the connection.
        bad.send(4, json!({"msg": "ping"})).await;
        bad.send_raw(&bytes).await;
        let mut frames = bad.expect_closed().await;
        // Replies may come in any order.
        frames.sort_by_key(|f| f.0);
        assert_eq!(frames[0].0, 4, "{what}");
        assert_eq!(frames[0].1["data"], json!("pong"), "{what}");
        if what.starts_with("invalid") {
            // The framing held, so the client is told why before the close.
            assert_eq!(frames.len(), 2, "{what}");
            let err = frames[1].1["err"].as_str().unwrap();
            assert!(
                err.contains(if what == "invalid json" {
                    "JSON"
                } else {
                    "UTF-8"
                }),
                "{what}: {err}"
            );
        } else {
            assert_eq!(frames.len(), 1, "{what}");
        }
        // Meanwhile the other connection works.
        assert_eq!(
            good.ok(json!({"msg": "ping"})).await,
            json!("pong"),
            "{what}"
        );
    }
    assert!(s.state.metrics().socket_errors.get() >= n as u64);
    // More errors than max_socket_errors_cnt are an incident, not an exit.
    let mut again = Client::connect(&s).await;
    assert_eq!(again.ok(json!({"msg": "ping"})).await, json!("pong"));
    assert_eq!(s.state.metrics().tcp_connections.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closed_client_gets_its_replies() {
    let s = start().await;
    let mut c = Client::connect(&s).await;
    for i in 0..5 {
        c.send(0, add(5, T0 + i, json!(i))).await;
    }
    for k in 1..=10u32 {
        c.send(k * 2, json!({"msg": "getByIdx", "id": 5, "cnt": 5}))
            .await;
    }
    c.stream.shutdown().await.unwrap();
    let frames = c.expect_closed().await;
    assert_eq!(frames.len(), 10);
    for (_, env) in frames {
        assert_eq!(env["data"]["records"].as_array().unwrap().len(), 5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_frame_closes_the_connection_but_idle_does_not() {
    let opts = TcpOptions {
        stall_timeout: Duration::from_millis(300),
        ..TcpOptions::default()
    };
    let s = start_with(Config::default(), opts).await;
    let mut idle = Client::connect(&s).await;
    let mut stalled = Client::connect(&s).await;
    // Half a header, then nothing.
    stalled.send_raw(b"AlPz\x01\x10").await;
    let started = std::time::Instant::now();
    assert!(stalled.expect_closed().await.is_empty());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // A connection idle between frames for longer than the stall timeout is fine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(idle.ok(json!({"msg": "ping"})).await, json!("pong"));
    // A slow sender that keeps making progress is fine too.
    let mut wire = BytesMut::new();
    FrameCodec::new(1 << 20)
        .encode(Frame::request(2, &json!({"msg": "ping"})), &mut wire)
        .unwrap();
    for chunk in wire.chunks(8) {
        idle.send_raw(chunk).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (id, env) = idle.recv().await.unwrap();
    assert_eq!((id, env["data"].clone()), (2, json!("pong")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let mut config = Config::default();
    config.server.max_concurrent_queries = 1;
    let s = start_with(config, TcpOptions::default()).await;
    let mut c = Client::connect(&s).await;
    c.send(0, add(1, T0, json!(1))).await;
    assert_eq!(
        c.ok(json!({"msg": "getByIdx", "id": 1, "cnt": 1})).await["records"][0]["data"],
        json!(1.0)
    );
    // Hold the only query slot, so reads stay in flight.
    let slot = s.state.query_slot().await.unwrap();
    for k in 1..=10u32 {
        c.send(k * 2, json!({"msg": "getByIdx", "id": 1, "cnt": 1}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !s.handle.is_finished(),
        "serve must wait for in-flight requests"
    );
    // Requests sent after the shutdown are not read.
    c.send(100, json!({"msg": "ping"})).await;
    drop(slot);
    let frames = c.expect_closed().await;
    let ids: std::collections::BTreeSet<u32> = frames.iter().map(|f| f.0).collect();
    assert_eq!(ids, (1..=10).map(|k| k * 2).collect());
    tokio::time::timeout(WAIT, s.handle).await.unwrap().unwrap();
    assert_eq!(s.state.metrics().tcp_connections.get(), 0);
    assert!(TcpStream::connect(s.addr).await.is_err(), "listener closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_after_the_grace_period() {
    let mut config = Config::default();
    config.server.max_concurrent_queries = 1;
    let opts = TcpOptions {
        shutdown_grace: Duration::from_millis(300),
        ..TcpOptions::default()
    };
    let s = start_with(config, opts).await;
    let mut c = Client::connect(&s).await;
    c.send(0, add(1, T0, json!(1))).await;
    let _slot = s.state.query_slot().await.unwrap();
    c.send(2, json!({"msg": "getByIdx", "id": 1, "cnt": 1}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    s.shutdown.cancel();
    tokio::time::timeout(WAIT, s.handle).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(c.expect_closed().await.is_empty());
    assert_eq!(s.state.metrics().tcp_connections.get(), 0);
}

/// Not a benchmark, but a figure for the report: fire-and-forget `add`s and pipelined reads
/// over one connection (debug build; run with `--nocapture` to see the numbers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_figures() {
    let s = start().await;
    let mut c = Client::connect(&s).await;
    const ADDS: i64 = 20_000;
    let mut wire = BytesMut::new();
    let mut codec = FrameCodec::new(1 << 20);
    for i in 0..ADDS {
        codec
            .encode(
                Frame::request(0, &add(1 + (i % 100) as u64, T0 + i, json!(i))),
                &mut wire,
            )
            .unwrap();
    }
    let started = std::time::Instant::now();
    c.send_raw(&wire).await;
    // The read waits for every add sent before it.
    let r = c.ok(json!({"msg": "getLastValues", "IDs": [100]})).await;
    let took = started.elapsed();
    assert_eq!(r["100"]["timestamp"], json!(T0 + ADDS - 1));
    println!(
        "{ADDS} adds applied in {took:?} ({:.0}/s)",
        ADDS as f64 / took.as_secs_f64()
    );

    const READS: u32 = 2_000;
    let mut wire = BytesMut::new();
    for k in 1..=READS {
        codec
            .encode(
                Frame::request(
                    k * 2,
                    &json!({"msg": "getByIdx", "id": k % 100 + 1, "cnt": 10}),
                ),
                &mut wire,
            )
            .unwrap();
    }
    let started = std::time::Instant::now();
    c.send_raw(&wire).await;
    for _ in 0..READS {
        let (_, env) = c.recv().await.unwrap();
        assert_eq!(env["data"]["records"].as_array().unwrap().len(), 10);
    }
    let took = started.elapsed();
    println!(
        "{READS} pipelined getByIdx answered in {took:?} ({:.0}/s)",
        f64::from(READS) / took.as_secs_f64()
    );
}
