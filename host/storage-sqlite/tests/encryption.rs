//! Encryption at rest on the SQLite backend: chunk bodies (points and trends) sealed with the
//! data key, the whole conformance suite on an encrypted store, no plaintext in the file,
//! clear errors without the key or with a wrong one, direct reads with the key, and key
//! rotation with a re-seal.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::sync::Arc;

use clio_storage::sealing::{DataKey, Keyring};
use clio_storage::*;
use clio_storage_sqlite::{DirectReader, SqliteBackend, SqliteOptions, chunks_by_key_in};

/// A string value that must never appear in the file of an encrypted store.
const MARKER: &str = "MARKER-plaintext-7f3a-boiler-pressure-alarm";

fn opts(path: &Path, keys: Keyring) -> SqliteOptions {
    let mut o = SqliteOptions::new(path);
    o.readers = 2;
    o.keys = Arc::new(keys);
    o
}

fn points() -> Vec<Point> {
    (0..500)
        .map(|i| {
            let ts = 1_700_000_000_000 + i * 60_000;
            if i % 10 == 0 {
                Point::new(ts, Value::Str(format!("{MARKER}-{i}")))
            } else {
                Point::new(ts, 4242.125 + i as f64)
            }
        })
        .collect()
}

async fn write(b: &SqliteBackend, series: u64) {
    b.write(&[SeriesPoints {
        series: SeriesId(series),
        points: points(),
    }])
    .await
    .unwrap();
}

/// Every byte of the store: the file, and its SQLite WAL when one is left.
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = std::fs::read(path).unwrap();
    let wal = path.with_extension("db-wal");
    if let Ok(w) = std::fs::read(&wal) {
        all.extend_from_slice(&w);
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_an_encrypted_store() {
    clio_storage::testing::run_all(|| async {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(
            &dir.path().join("clio.db"),
            Keyring::new(DataKey::generate(), vec![]),
        );
        clio_storage::testing::Guarded::new(SqliteBackend::open(o).unwrap(), dir)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_holds_no_plaintext_and_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // The same data in a plain store shows the marker in the file: the check below can fail.
    let plain_path = dir.path().join("plain.db");
    let plain = SqliteBackend::open(opts(&plain_path, Keyring::none())).unwrap();
    write(&plain, 42).await;
    plain.close().await.unwrap();
    assert!(
        contains(&file_bytes(&plain_path), MARKER),
        "the plain store hides the marker: the test proves nothing"
    );

    let path = dir.path().join("clio.db");
    let key = DataKey::generate();
    let b = SqliteBackend::open(opts(&path, Keyring::new(key.clone(), vec![]))).unwrap();
    write(&b, 42).await;
    let back = b
        .read_range(SeriesId(42), i64::MIN, i64::MAX, usize::MAX)
        .await
        .unwrap();
    assert_eq!(back, points());
    let trends = b
        .read_trends(SeriesId(42), DEFAULT_TREND_INTERVALS[0], i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert!(!trends.is_empty());
    b.close().await.unwrap();
    drop(b);
    let bytes = file_bytes(&path);
    assert!(
        !contains(&bytes, MARKER),
        "plaintext string value in the encrypted file"
    );
    assert!(!contains(&bytes, &key.to_hex()), "the key is in the file");
    // Every chunk row (points and trends) is sealed under the key.
    let by_key = chunks_by_key_in(&path).unwrap();
    assert_eq!(by_key.len(), 1, "{by_key:?}");
    assert_eq!(by_key[0].0, key.id());

    // Without the key: a clear error at open, never garbage.
    let e = SqliteBackend::open(opts(&path, Keyring::none()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("encrypted") && e.contains("CLIO_DATA_KEY"),
        "{e}"
    );
    let e = DirectReader::open(&path).unwrap_err().to_string();
    assert!(e.contains("encrypted"), "{e}");
    // A wrong key: named as such.
    let e = SqliteBackend::open(opts(&path, Keyring::new(DataKey::generate(), vec![])))
        .unwrap_err()
        .to_string();
    assert!(e.contains("key id") && e.contains(&key.id()), "{e}");
    // A plain store with data refuses a key.
    let e = SqliteBackend::open(opts(&plain_path, Keyring::new(key.clone(), vec![])))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not encrypted"), "{e}");

    // With the key: direct reads (`clio query --db`) and a reopened backend read the data.
    let mut r =
        DirectReader::open_with_keys(&path, Arc::new(Keyring::new(key.clone(), vec![]))).unwrap();
    assert_eq!(
        r.read_last(SeriesId(42), 3, i64::MAX).unwrap(),
        points()[497..].to_vec()
    );
    let b = SqliteBackend::open(opts(&path, Keyring::new(key, vec![]))).unwrap();
    assert_eq!(
        b.read_last(SeriesId(42), 500, i64::MAX).await.unwrap(),
        points()
    );
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_moved_to_another_series_fails_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clio.db");
    let keys = Keyring::new(DataKey::generate(), vec![]);
    let b = SqliteBackend::open(opts(&path, keys.clone())).unwrap();
    write(&b, 1).await;
    b.close().await.unwrap();
    drop(b);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE chunks SET series_id = 2 WHERE series_id = 1", [])
        .unwrap();
    drop(c);
    let b = SqliteBackend::open(opts(&path, keys)).unwrap();
    let e = b
        .read_range(SeriesId(2), i64::MIN, i64::MAX, 10)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("authentication"), "{e}");
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_everything_readable_and_reseal_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clio.db");
    let old = DataKey::generate();
    let new = DataKey::generate();
    let b = SqliteBackend::open(opts(&path, Keyring::new(old.clone(), vec![]))).unwrap();
    write(&b, 1).await;
    b.close().await.unwrap();
    drop(b);

    // The new key current, the old one previous: old chunks read, new ones sealed anew.
    let rotated = Keyring::new(new.clone(), vec![old.clone()]);
    let b = SqliteBackend::open(opts(&path, rotated.clone())).unwrap();
    assert_eq!(
        b.read_last(SeriesId(1), 500, i64::MAX).await.unwrap(),
        points()
    );
    write(&b, 2).await;
    let ids: Vec<String> = b
        .chunks_by_key()
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        ids.contains(&old.id()) && ids.contains(&new.id()),
        "{ids:?}"
    );
    b.close().await.unwrap();
    drop(b);

    // Without the previous key the old chunks are a clear error, not garbage.
    let b = SqliteBackend::open(opts(&path, Keyring::new(new.clone(), vec![]))).unwrap();
    let e = b
        .read_last(SeriesId(1), 10, i64::MAX)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&old.id()) && e.contains("previous_key_file"),
        "{e}"
    );
    b.close().await.unwrap();
    drop(b);

    // A re-seal moves everything under the new key (in small batches); the old key goes.
    let b = SqliteBackend::open(opts(&path, rotated)).unwrap();
    let n = b.reseal(7).await.unwrap();
    assert!(n > 0);
    assert_eq!(
        b.reseal(7).await.unwrap(),
        0,
        "a second reseal finds nothing"
    );
    b.close().await.unwrap();
    drop(b);
    assert_eq!(
        chunks_by_key_in(&path)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec![new.id()]
    );
    let b = SqliteBackend::open(opts(&path, Keyring::new(new, vec![]))).unwrap();
    assert_eq!(
        b.read_last(SeriesId(1), 500, i64::MAX).await.unwrap(),
        points()
    );
    assert_eq!(
        b.read_last(SeriesId(2), 500, i64::MAX).await.unwrap(),
        points()
    );
    let t = b
        .read_trends(SeriesId(1), DEFAULT_TREND_INTERVALS[0], i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert!(!t.is_empty());
    b.close().await.unwrap();
}
