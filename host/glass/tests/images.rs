//! Camera images on both engines with the same checks: images of several MB round-trip
//! exactly, the same bytes are stored once, list filters and cursors, the size limit, delete,
//! retention, the defect link validated, and the schema step down and up again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

use std::path::Path;

use clio_glass::images::{ImageOptions, Images};
use clio_glass::{Glass, GlassError, Target};
use serde_json::{Value as Json, json};

const MAX: u64 = 20 << 20;

fn pg_target(prefix: &str) -> Target {
    let mut o = {
        let c = pg_cluster::cluster();
        let db = c.create_database(prefix);
        clio_storage_postgres::PgOptions::new(
            c.socket_dir().to_str().unwrap(),
            c.port,
            &db,
            &c.user,
        )
    };
    o.pool_size = 4;
    o.schema = "glass".into();
    Target::Postgres(o)
}

async fn open(target: &Target, dir: &Path, max: u64) -> Glass {
    Glass::open(target)
        .await
        .unwrap()
        .with_images(ImageOptions {
            dir: dir.join("images"),
            max_bytes: max,
        })
        .unwrap()
}

/// Deterministic bytes that do not repeat with a short period (xorshift).
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

fn params(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn upload(
    im: &Images,
    data: &[u8],
    q: &[(&str, &str)],
    ct: &str,
) -> Result<Json, GlassError> {
    let meta = im.metadata(&params(q), Some(ct))?;
    let mut up = im.begin_upload().await?;
    for piece in data.chunks(64 * 1024 + 7) {
        up.write(piece).await?;
    }
    im.store(up, &meta).await
}

async fn read(im: &Images, id: i64) -> Vec<u8> {
    let mut c = im.open(id).await.unwrap();
    let mut out = Vec::with_capacity(c.size as usize);
    while let Some(b) = c.reader.next_chunk().await.unwrap() {
        out.extend_from_slice(&b);
    }
    assert_eq!(out.len() as u64, c.size);
    out
}

/// Files of stored images (not temporary ones).
fn files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("images")).unwrap().flatten() {
        if e.file_name() != "tmp" && e.path().is_dir() {
            n += std::fs::read_dir(e.path()).unwrap().count();
        }
    }
    n
}

fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("images/tmp")).unwrap().count()
}

async fn blobs(target: &Target) -> (i64, i64) {
    let Target::Postgres(o) = target else {
        unreachable!()
    };
    let (client, conn) = o.pg_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let b: i64 = client
        .query_one("SELECT count(*) FROM glass.image_blobs", &[])
        .await
        .unwrap()
        .get(0);
    let c: i64 = client
        .query_one("SELECT count(*) FROM glass.image_chunks", &[])
        .await
        .unwrap()
        .get(0);
    (b, c)
}

/// How many contents are stored: files on SQLite, blob rows on PostgreSQL.
async fn stored(target: &Target, dir: &Path) -> usize {
    match target {
        Target::Sqlite(_) => files(dir),
        Target::Postgres(_) => blobs(target).await.0 as usize,
    }
}

async fn round_trip_dedup_delete(target: &Target, dir: &Path) {
    let g = open(target, dir, MAX).await;
    let im = g.images().unwrap();
    let five = bytes(5_000_000, 5);
    let twelve = bytes(12 * 1024 * 1024 + 3, 12);
    let a = upload(&im, &five, &[("camera", "MIK-1-A")], "image/jpeg")
        .await
        .unwrap();
    let b = upload(&im, &twelve, &[("camera", "MIK-1-B")], "image/png")
        .await
        .unwrap();
    assert_eq!(a["size"], 5_000_000);
    assert_eq!(a["content_type"], "image/jpeg");
    assert_eq!(a["content_hash"].as_str().unwrap().len(), 64);
    let (ida, idb) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    assert!(read(&im, ida).await == five, "5 MB image differs");
    assert!(read(&im, idb).await == twelve, "12 MB image differs");
    // The same bytes again: a second row, stored once.
    let a2 = upload(&im, &five, &[("camera", "MIK-1-C")], "image/jpeg")
        .await
        .unwrap();
    assert_eq!(a2["content_hash"], a["content_hash"]);
    assert_ne!(a2["id"], a["id"]);
    assert_eq!(stored(target, dir).await, 2);
    if let Target::Postgres(_) = target {
        // 5 MB in 5 chunks, 12 MiB + 3 in 13.
        assert_eq!(blobs(target).await, (2, 18));
    }
    // Deleting one row keeps the bytes the other names; deleting both removes them.
    im.delete(ida).await.unwrap();
    assert!(matches!(im.delete(ida).await, Err(GlassError::NotFound(_))));
    assert!(matches!(im.open(ida).await, Err(GlassError::NotFound(_))));
    assert!(read(&im, a2["id"].as_i64().unwrap()).await == five);
    assert_eq!(stored(target, dir).await, 2);
    im.delete(a2["id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(stored(target, dir).await, 1);
    im.delete(idb).await.unwrap();
    assert_eq!(stored(target, dir).await, 0);
    assert_eq!(temp_files(dir), 0);
    if let Target::Postgres(_) = target {
        assert_eq!(blobs(target).await, (0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_images_round_trip_dedup_delete() {
    let dir = tempfile::tempdir().unwrap();
    round_trip_dedup_delete(&Target::Sqlite(dir.path().join("glass.db")), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_images_round_trip_dedup_delete() {
    let dir = tempfile::tempdir().unwrap();
    round_trip_dedup_delete(&pg_target("images_rt"), dir.path()).await;
}

async fn limits_and_validation(target: &Target, dir: &Path) {
    let g = open(target, dir, 1 << 20).await;
    let im = g.images().unwrap();
    // One byte over the limit: 413 naming it, nothing left behind.
    let e = upload(
        &im,
        &bytes((1 << 20) + 1, 1),
        &[("camera", "c")],
        "image/jpeg",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, GlassError::TooLarge(m) if m.contains("glass.images.max_bytes")),
        "{e:?}"
    );
    assert_eq!(temp_files(dir), 0);
    assert_eq!(stored(target, dir).await, 0);
    // Exactly the limit is fine.
    upload(&im, &bytes(1 << 20, 2), &[("camera", "c")], "image/jpeg")
        .await
        .unwrap();
    let field = |e: GlassError| match e {
        GlassError::Invalid { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    let small = bytes(1000, 3);
    // The defect link and the line are foreign keys; the error names the field and leaves
    // no bytes behind.
    let e = upload(
        &im,
        &small,
        &[("camera", "c"), ("defect_id", "999")],
        "image/jpeg",
    )
    .await
    .unwrap_err();
    assert_eq!(field(e), "defect_id");
    let e = upload(
        &im,
        &small,
        &[("camera", "c"), ("line", "999")],
        "image/jpeg",
    )
    .await
    .unwrap_err();
    assert_eq!(field(e), "production_line_id");
    assert_eq!(stored(target, dir).await, 1);
    for (q, f) in [
        (vec![("line", "x")], "line"),
        (vec![("camera", "")], "camera"),
        (vec![("camera", &*"c".repeat(101))], "camera"),
        (
            vec![("camera", "c"), ("captured_at", "yesterday")],
            "captured_at",
        ),
        (vec![("camera", "c"), ("colour", "red")], "colour"),
    ] {
        assert_eq!(field(im.metadata(&params(&q), None).unwrap_err()), f);
    }
    assert_eq!(
        field(
            im.metadata(&params(&[("camera", "c")]), Some("jpeg"))
                .unwrap_err()
        ),
        "content_type"
    );
    let e = upload(&im, &[], &[("camera", "c")], "image/jpeg")
        .await
        .unwrap_err();
    assert_eq!(field(e), "body");
    // A defect that exists: linked; deleting the defect keeps the image, unlinked.
    let line = g
        .create("production_lines", &json!({"name": "L1"}))
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let defect = g
        .create(
            "defects",
            &json!({"timestamp": 1_700_000_000_000i64, "type": "crack", "camera": "MIK-1-A",
                    "production_line_id": line}),
        )
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let d = defect.to_string();
    let l = line.to_string();
    let img = upload(
        &im,
        &small,
        &[("camera", "MIK-1-A"), ("defect_id", &d), ("line", &l)],
        "image/jpeg",
    )
    .await
    .unwrap();
    assert_eq!(img["defect_id"], defect);
    assert_eq!(img["production_line_id"], line);
    g.delete("defects", defect).await.unwrap();
    let id = img["id"].as_i64().unwrap();
    assert_eq!(im.get(id).await.unwrap()["defect_id"], Json::Null);
    assert!(read(&im, id).await == small);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_images_limits_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    limits_and_validation(&Target::Sqlite(dir.path().join("glass.db")), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_images_limits_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    limits_and_validation(&pg_target("images_limits"), dir.path()).await;
}

async fn lists_and_retention(target: &Target, dir: &Path) {
    let g = open(target, dir, MAX).await;
    let im = g.images().unwrap();
    let t0 = 1_700_000_000_000i64;
    // 12 images, 4 cameras, one a minute; 9, 10 and 11 have the bytes of 1, 2 and 3.
    let mut ids = Vec::new();
    for i in 0..12i64 {
        let at = (t0 + i * 60_000).to_string();
        let cam = format!("MIK-1-{}", i % 4);
        let k = if i >= 9 { i - 8 } else { i } as usize;
        let r = upload(
            &im,
            &bytes(2000 + k, k as u64 + 100),
            &[("camera", &cam), ("captured_at", &at)],
            "image/jpeg",
        )
        .await
        .unwrap();
        ids.push(r["id"].as_i64().unwrap());
    }
    let page = im
        .list(&params(&[
            ("camera", "MIK-1-1"),
            ("from", &(t0 + 60_000).to_string()),
            ("to", &(t0 + 9 * 60_000).to_string()),
        ]))
        .await
        .unwrap();
    let got: Vec<i64> = page
        .items
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[1], ids[5]], "half-open [from, to)");
    // Paging by time with a cursor: 12 rows in pages of 5, in capture order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = params(&[("limit", "5")]);
        if let Some(c) = &cursor {
            q.push(("cursor".into(), c.clone()));
        }
        let p = im.list(&q).await.unwrap();
        seen.extend(p.items.iter().map(|r| r["id"].as_i64().unwrap()));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let p = im
        .list(&params(&[("sort", "-captured_at"), ("limit", "2")]))
        .await
        .unwrap();
    assert_eq!(p.items[0]["id"], ids[11]);
    assert!(matches!(
        im.list(&params(&[("colour", "red")])).await,
        Err(GlassError::Invalid { field, .. }) if field == "colour"
    ));
    // Retention: images captured before t0 + 6 min go, with the bytes only they named.
    let before = stored(target, dir).await;
    assert_eq!(before, 9);
    assert_eq!(im.expire_before(t0 + 6 * 60_000).await.unwrap(), 6);
    let left: Vec<i64> = im
        .list(&[])
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(left, ids[6..].to_vec());
    // The bytes of 0, 4 and 5 went; those of 1, 2 and 3 stay for 9, 10 and 11.
    assert_eq!(stored(target, dir).await, 6);
    for id in &ids[6..] {
        assert!(!read(&im, *id).await.is_empty());
    }
    // keep_days = 0 keeps everything.
    assert_eq!(im.expire(0).await.unwrap(), 0);
    // The schema step goes down and up again (the table is dropped: images are files
    // the catalog no longer names).
    assert_eq!(
        g.migrate_down(Some(clio_glass::latest_version() - 1))
            .await
            .unwrap(),
        clio_glass::latest_version() - 1
    );
    assert!(im.list(&[]).await.is_err());
    g.migrate_up(None).await.unwrap();
    assert!(im.list(&[]).await.unwrap().items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_images_lists_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    lists_and_retention(&Target::Sqlite(dir.path().join("glass.db")), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_images_lists_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    lists_and_retention(&pg_target("images_list"), dir.path()).await;
}
