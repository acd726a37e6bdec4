//! Camera images over HTTP, the same tests against SQLite (files under the data directory)
//! and a throwaway PostgreSQL cluster (bytea chunks): several-MB images round-trip exactly
//! with Content-Type, Content-Length and ETag, the same bytes stored once, list filters and
//! cursors, 413 over the limit (declared and chunked), the defect link validated, delete, and
//! the door's roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/glass_db.rs"]
mod glass_db;
#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;
#[path = "support/serve.rs"]
mod serve;

use std::sync::Arc;

use clio_config::Config;
use clio_core::{EngineOptions, Store};
use clio_glass::Glass;
use clio_glass::images::ImageOptions;
use clio_server::AppState;
use clio_server::auth::{Role, Scope, TokenFile};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use glass_db::Db;
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

struct Srv {
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
}

async fn start(db: Db, config: Config, max_bytes: u64) -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(SqliteOptions::new(dir.path().join("clio.db"))).unwrap();
    let (store, _) = Store::open(EngineOptions::new(dir.path()), Arc::new(backend))
        .await
        .unwrap();
    let target = glass_db::target(db, dir.path(), "images_api");
    let mut config = config;
    config.data_dir = dir.path().to_owned();
    let state = AppState::new(store, config, CancellationToken::new());
    let glass = Glass::open(&target)
        .await
        .unwrap()
        .with_images(ImageOptions {
            dir: dir.path().join("images"),
            max_bytes,
        })
        .unwrap();
    state.set_glass(glass);
    let addr = serve::serve(state).await;
    Srv { addr, dir }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or(Json::Null)
    }
}

/// One request; `chunked` sends the body without a Content-Length. The answer's body is
/// taken as is (the server sends Content-Length or closes).
async fn request(
    s: &Srv,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    chunked: bool,
) -> Answer {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    c.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) and close before the whole body is sent.
    let sent = async {
        if chunked {
            for piece in body.chunks(256 * 1024) {
                c.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await?;
                c.write_all(piece).await?;
                c.write_all(b"\r\n").await?;
            }
            c.write_all(b"0\r\n\r\n").await
        } else {
            c.write_all(body).await
        }
    }
    .await;
    let _ = sent;
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(out[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    }
}

async fn get(s: &Srv, path: &str) -> Answer {
    request(s, "GET", path, &[], &[], false).await
}

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

async fn images_api(db: Db) {
    let s = start(db, Config::default(), 20 << 20).await;
    let five = bytes(5_000_000, 5);
    let twelve = bytes(12_000_000, 12);
    let jpeg = [("Content-Type", "image/jpeg")];
    let a = request(
        &s,
        "POST",
        "/api/v1/images?camera=MIK-1-A&captured_at=2023-11-14T22:13:20Z",
        &jpeg,
        &five,
        false,
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.json());
    let a = a.json();
    assert_eq!(a["captured_at"], 1_700_000_000_000i64);
    assert_eq!(a["content_hash"], sha256_hex(&five));
    // Sent chunked (no Content-Length), as a gateway streaming from its camera would.
    let b = request(
        &s,
        "POST",
        "/api/v1/images?camera=MIK-1-B&captured_at=1700000060000",
        &[("Content-Type", "image/png")],
        &twelve,
        true,
    )
    .await;
    assert_eq!(b.status, 201, "{:?}", b.json());
    let b = b.json();
    for (row, data, ct) in [(&a, &five, "image/jpeg"), (&b, &twelve, "image/png")] {
        let r = get(&s, &format!("/api/v1/images/{}", row["id"])).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(ct));
        assert_eq!(
            r.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        let etag = format!("\"{}\"", sha256_hex(data));
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.body == *data, "image bytes differ");
        let r = request(
            &s,
            "GET",
            &format!("/api/v1/images/{}", row["id"]),
            &[("If-None-Match", &etag)],
            &[],
            false,
        )
        .await;
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
    }
    // The same bytes from another camera: a new row, stored once.
    let c = request(
        &s,
        "POST",
        "/api/v1/images?camera=MIK-1-C&captured_at=1700000120000",
        &jpeg,
        &five,
        false,
    )
    .await
    .json();
    assert_eq!(c["content_hash"], a["content_hash"]);
    if let Db::Sqlite = db {
        let h = a["content_hash"].as_str().unwrap();
        let file = s.dir.path().join("images").join(&h[..2]).join(&h[2..]);
        assert_eq!(std::fs::metadata(file).unwrap().len(), 5_000_000);
        let dirs = std::fs::read_dir(s.dir.path().join("images"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != "tmp")
            .map(|e| std::fs::read_dir(e.path()).unwrap().count())
            .sum::<usize>();
        assert_eq!(dirs, 2);
    }
    // Lists: by camera, by time, paged.
    let l = get(&s, "/api/v1/images?camera=MIK-1-B").await.json();
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    assert_eq!(l["items"][0]["id"], b["id"]);
    let l = get(&s, "/api/v1/images?from=1700000060000&to=1700000120001")
        .await
        .json();
    let ids: Vec<&Json> = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, vec![&b["id"], &c["id"]]);
    let p1 = get(&s, "/api/v1/images?limit=2").await.json();
    assert_eq!(p1["items"][0]["id"], a["id"]);
    let cur = p1["next_cursor"].as_str().unwrap();
    let p2 = get(&s, &format!("/api/v1/images?limit=2&cursor={cur}"))
        .await
        .json();
    assert_eq!(p2["items"][0]["id"], c["id"]);
    assert!(p2["next_cursor"].is_null());
    let r = get(&s, "/api/v1/images?colour=red").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().starts_with("colour"));
    // Validation names the field.
    for (q, field) in [
        ("defect_id=999&camera=x", "defect_id"),
        ("line=999&camera=x", "production_line_id"),
        ("captured_at=soon&camera=x", "captured_at"),
        ("line=1", "camera"),
    ] {
        let r = request(
            &s,
            "POST",
            &format!("/api/v1/images?{q}"),
            &jpeg,
            b"abc",
            false,
        )
        .await;
        assert_eq!(r.status, 400, "{q}");
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert!(e.starts_with(field), "{q}: {e}");
    }
    // Metadata of one image; delete; the last row naming the bytes removes them.
    let m = get(&s, &format!("/api/v1/images/{}/meta", b["id"])).await;
    assert_eq!(m.json()["camera"], "MIK-1-B");
    let d = request(
        &s,
        "DELETE",
        &format!("/api/v1/images/{}", a["id"]),
        &[],
        &[],
        false,
    )
    .await;
    assert_eq!(d.status, 204);
    assert_eq!(
        get(&s, &format!("/api/v1/images/{}", a["id"])).await.status,
        404
    );
    let r = get(&s, &format!("/api/v1/images/{}", c["id"])).await;
    assert!(r.body == five);
    assert_eq!(get(&s, "/api/v1/images/x").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_api_on_sqlite() {
    images_api(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_api_on_postgres() {
    images_api(Db::Postgres).await;
}

/// Over `max_bytes`: 413 naming the key, whether the length is declared or not; nothing
/// stored, no temporary file left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_over_the_limit_are_413() {
    let s = start(Db::Sqlite, Config::default(), 1 << 20).await;
    for chunked in [false, true] {
        let r = request(
            &s,
            "POST",
            "/api/v1/images?camera=c",
            &[("Content-Type", "image/jpeg")],
            &bytes((1 << 20) + 1, 9),
            chunked,
        )
        .await;
        assert_eq!(r.status, 413, "chunked {chunked}");
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert!(e.contains("glass.images.max_bytes"), "{e}");
    }
    assert_eq!(
        std::fs::read_dir(s.dir.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );
    let l = get(&s, "/api/v1/images").await.json();
    assert_eq!(l["items"].as_array().unwrap().len(), 0);
    let r = request(
        &s,
        "POST",
        "/api/v1/images?camera=c",
        &[("Content-Type", "image/jpeg")],
        &bytes(1 << 20, 9),
        true,
    )
    .await;
    assert_eq!(r.status, 201);
}

/// Reading needs `read`, uploading and deleting `write`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_go_through_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    let mut tokens = TokenFile::default();
    let (reader, _) = tokens
        .create_token("reader", vec![Role::Read], Scope::default())
        .unwrap();
    let (writer, _) = tokens
        .create_token("writer", vec![Role::Read, Role::Write], Scope::default())
        .unwrap();
    tokens.save(&path).unwrap();
    let mut config = Config::default();
    config.auth.enabled = true;
    config.auth.token_file = path.to_string_lossy().into_owned();
    let s = start(Db::Sqlite, config, 1 << 20).await;
    let post = |token: String| {
        let s = &s;
        async move {
            let auth = format!("Token {token}");
            request(
                s,
                "POST",
                "/api/v1/images?camera=c",
                &[("Authorization", &auth)],
                b"img",
                false,
            )
            .await
            .status
        }
    };
    assert_eq!(get(&s, "/api/v1/images").await.status, 401);
    assert_eq!(post(reader.clone()).await, 403);
    assert_eq!(post(writer.clone()).await, 201);
    let auth = format!("Token {reader}");
    let r = request(
        &s,
        "GET",
        "/api/v1/images/1",
        &[("Authorization", &auth)],
        &[],
        false,
    )
    .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"img"[..]));
    let r = request(
        &s,
        "DELETE",
        "/api/v1/images/1",
        &[("Authorization", &auth)],
        &[],
        false,
    )
    .await;
    assert_eq!(r.status, 403);
}
