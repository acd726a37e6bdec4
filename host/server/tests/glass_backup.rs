//! The Glass AI tables (`glass.db`) and the camera images in backups: a full backup and an
//! encrypted incremental one on top of it, taken while the server holds the tables open,
//! verified and restored into empty directories: the rows and the image bytes are equal;
//! an image deleted after the full backup is back in its restore, gone in the incremental's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use clio_core::{EngineOptions, Store};
use clio_glass::images::{ImageOptions, Images};
use clio_glass::{Glass, Target};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use serde_json::{Value as Json, json};

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

async fn open_glass(data: &Path) -> Glass {
    Glass::open(&Target::Sqlite(data.join("glass.db")))
        .await
        .unwrap()
        .with_images(ImageOptions {
            dir: data.join("images"),
            max_bytes: 20 << 20,
        })
        .unwrap()
}

async fn put(im: &Images, camera: &str, data: &[u8]) -> i64 {
    let meta = im
        .metadata(&[("camera".into(), camera.into())], Some("image/jpeg"))
        .unwrap();
    let mut up = im.begin_upload().await.unwrap();
    for piece in data.chunks(1 << 20) {
        up.write(piece).await.unwrap();
    }
    im.store(up, &meta).await.unwrap()["id"].as_i64().unwrap()
}

async fn read(im: &Images, id: i64) -> Vec<u8> {
    let mut c = im.open(id).await.unwrap();
    let mut out = Vec::new();
    while let Some(b) = c.reader.next_chunk().await.unwrap() {
        out.extend_from_slice(&b);
    }
    out
}

/// Every row of the tables the test writes, and every image's row, as JSON.
async fn rows(g: &Glass) -> Json {
    let lines = g.list("production_lines", &[]).await.unwrap().items;
    let defects = g.list("defects", &[]).await.unwrap().items;
    let images = g.images().unwrap().list(&[]).await.unwrap().items;
    json!({"lines": lines, "defects": defects, "images": images})
}

async fn restored(backup: &Path, to: &Path, key: Option<&clio_backup::Key>) -> Glass {
    clio_backup::verify(backup, key).unwrap();
    clio_backup::restore(backup, to, "clio.db", key).unwrap();
    assert!(to.join("glass.db").is_file());
    open_glass(to).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_rows_and_images_survive_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backend = SqliteBackend::open(SqliteOptions::new(data.join("clio.db"))).unwrap();
    let (store, _) = Store::open(EngineOptions::new(&data), Arc::new(backend))
        .await
        .unwrap();
    let g = open_glass(&data).await;
    let im = g.images().unwrap();
    let line = g
        .create("production_lines", &json!({"name": "Float line 1"}))
        .await
        .unwrap()["id"]
        .clone();
    g.create(
        "defects",
        &json!({"timestamp": 1_700_000_000_000i64, "type": "bubble", "production_line_id": line}),
    )
    .await
    .unwrap();
    let big = bytes(3_000_000, 1);
    let small = bytes(70_000, 2);
    let a = put(&im, "MIK-1-A", &big).await;
    let b = put(&im, "MIK-1-B", &small).await;
    let dest = dir.path().join("backups");

    let full = clio_server::backup::take(&store, &data, &dest, None, "online", None, Some(&g))
        .await
        .unwrap();
    assert!(full.files.iter().any(|f| f.name == "glass.db"));
    assert_eq!(
        full.files
            .iter()
            .filter(|f| f.name.starts_with("images/"))
            .count(),
        2
    );
    let before = rows(&g).await;

    // After the full backup: one image deleted, one added, one more line.
    im.delete(a).await.unwrap();
    let c = put(&im, "MIK-1-C", &bytes(1_500_000, 3)).await;
    g.create("production_lines", &json!({"name": "Float line 2"}))
        .await
        .unwrap();
    let key = clio_backup::Key::generate();
    let incr = clio_server::backup::take(
        &store,
        &data,
        &dest,
        Some(key.clone()),
        "online",
        Some(&full.id),
        Some(&g),
    )
    .await
    .unwrap();
    assert_eq!(incr.kind, "incremental");
    assert!(incr.encryption.is_some());
    let after = rows(&g).await;

    // The full backup brings back the first state, bytes included.
    let r1 = restored(&dest.join(&full.id), &dir.path().join("r1"), None).await;
    assert_eq!(rows(&r1).await, before);
    let im1 = r1.images().unwrap();
    assert!(read(&im1, a).await == big);
    assert!(read(&im1, b).await == small);

    // The encrypted incremental one: the second state.
    let r2 = restored(&dest.join(&incr.id), &dir.path().join("r2"), Some(&key)).await;
    assert_eq!(rows(&r2).await, after);
    let im2 = r2.images().unwrap();
    assert!(matches!(
        im2.open(a).await,
        Err(clio_glass::GlassError::NotFound(_))
    ));
    assert!(read(&im2, b).await == small);
    assert!(read(&im2, c).await == bytes(1_500_000, 3));
    store.close().await.unwrap();
}
