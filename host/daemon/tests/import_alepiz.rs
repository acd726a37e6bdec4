//! `clio import --alepiz`: a history file built with ALEPIZ's schema (strings, mixed objects,
//! an empty object, duplicate timestamps, a large object, ALEPIZ trend rows) loaded through
//! the real binary and read back from Clio's database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step is the failure

use std::path::Path;
use std::process::Command;

use clio_storage::prelude::*;
use clio_storage::{DEFAULT_TREND_INTERVALS, Point, SeriesId, Timestamp};
use clio_storage_sqlite::{SqliteBackend, SqliteOptions};
use rusqlite::{Connection, params};

/// ALEPIZ's history tables, as its writer creates them (§7.1 of the behaviour notes).
const SCHEMA: &str = "
CREATE TABLE objects (id INTEGER PRIMARY KEY, type INTEGER, cachedRecords INTEGER, trends TEXT);
CREATE TABLE numbers (id INTEGER PRIMARY KEY AUTOINCREMENT,
    objectID INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE ON UPDATE CASCADE,
    timestamp INTEGER NOT NULL, data REAL NOT NULL);
CREATE INDEX numbers_objectID_timestamp_index ON numbers (objectID, timestamp);
CREATE TABLE strings (id INTEGER PRIMARY KEY AUTOINCREMENT,
    objectID INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE ON UPDATE CASCADE,
    timestamp INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX strings_objectID_timestamp_index ON strings (objectID, timestamp);
CREATE TABLE trends10min (id INTEGER PRIMARY KEY AUTOINCREMENT, objectID INTEGER NOT NULL,
    timestamp INTEGER NOT NULL, data REAL NOT NULL);
CREATE TABLE trends30min (id INTEGER PRIMARY KEY AUTOINCREMENT, objectID INTEGER NOT NULL,
    timestamp INTEGER NOT NULL, data REAL NOT NULL);
CREATE TABLE trends60min (id INTEGER PRIMARY KEY AUTOINCREMENT, objectID INTEGER NOT NULL,
    timestamp INTEGER NOT NULL, data REAL NOT NULL);
CREATE TABLE config (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, value TEXT);
";

const LARGE: i64 = 1_000_000;
const T0: i64 = 1_700_000_000_000;

fn build_alepiz_file(path: &Path) {
    let mut c = Connection::open(path).unwrap();
    c.execute_batch(SCHEMA).unwrap();
    let tx = c.transaction().unwrap();
    for id in [1i64, 2, 3, 4, 5] {
        tx.execute(
            "INSERT INTO objects (id, type, cachedRecords) VALUES (?1, 0, 10)",
            [id],
        )
        .unwrap();
    }
    {
        let mut num = tx
            .prepare("INSERT INTO numbers (objectID, timestamp, data) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut s = tx
            .prepare("INSERT INTO strings (objectID, timestamp, data) VALUES (?1, ?2, ?3)")
            .unwrap();
        // 1: numbers, three rows on one millisecond (ALEPIZ allows it), written out of order.
        for (ts, v) in [
            (T0 + 2000, 20.0),
            (T0, 1.0),
            (T0, 2.0),
            (T0, 3.0),
            (T0 + 1000, 10.0),
        ] {
            num.execute(params![1, ts, v]).unwrap();
        }
        // 2: strings only, JSON text among them.
        s.execute(params![2, T0, "started"]).unwrap();
        s.execute(params![2, T0 + 60_000, "{\"state\":\"ok\",\"n\":1}"])
            .unwrap();
        // 3: mixed; at T0 + 5000 a number and a string share the millisecond.
        num.execute(params![3, T0, 1.5]).unwrap();
        num.execute(params![3, T0 + 5000, 2.5]).unwrap();
        s.execute(params![3, T0 + 3000, "text"]).unwrap();
        s.execute(params![3, T0 + 5000, "later"]).unwrap();
        // 4: no values. 5: one value a second for a million seconds.
        for i in 0..LARGE {
            num.execute(params![5, T0 + i * 1000, (i % 1000) as f64 * 0.5])
                .unwrap();
        }
        let mut tr = tx
            .prepare("INSERT INTO trends10min (objectID, timestamp, data) VALUES (5, ?1, 1.0)")
            .unwrap();
        for i in 0..7 {
            tr.execute([T0 + i * 600_000]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// `clio import --db DB --alepiz FILE` with `extra` arguments.
fn import(db: &Path, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "import",
        "--db",
        db.to_str().unwrap(),
        "--alepiz",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    clio(&args)
}

fn clio(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clio"))
        .args(args)
        .output()
        .expect("run clio")
}

async fn all_points(b: &SqliteBackend, id: u64) -> Vec<Point> {
    b.read_range(SeriesId(id), Timestamp::MIN, Timestamp::MAX, 10_000_000)
        .await
        .unwrap()
}

#[test]
fn an_alepiz_history_file_comes_over_with_its_objects_values_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("history.db");
    build_alepiz_file(&src);
    let csv = dir.path().join("keep.csv");
    std::fs::write(
        &csv,
        "OCID,keep_history_days,keep_trends_days\n1,7,30\n5,100,1000\n99,1,1\n",
    )
    .unwrap();
    let db = dir.path().join("clio").join("clio.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let out = import(&db, &src, &["--retention", csv.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let rows = 5 + 2 + 4 + LARGE;
    assert!(
        stdout.contains(&format!("imported {rows} rows"))
            && stdout.contains("of 5 objects (1 without values)"),
        "{stdout}"
    );
    // Two rows of object 1 and one of object 3 share a millisecond with a later row.
    assert!(
        stdout.contains(&format!("stored: {} new points (3 rows", rows - 3)),
        "{stdout}"
    );
    assert!(
        stdout.contains("not imported: 7 rows of ALEPIZ's trends"),
        "{stdout}"
    );
    assert!(
        stdout.contains("retention: 2 objects from the CSV, 1 CSV lines name an OCID"),
        "{stdout}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = SqliteBackend::open(SqliteOptions::new(&db)).unwrap();
        let catalog = b.load_catalog().await.unwrap();
        let mut ids: Vec<u64> = catalog.iter().map(|s| s.id.0).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert!(catalog.iter().all(|s| s.key.is_none()));
        let settings = |id: u64| {
            let s = &catalog.iter().find(|s| s.id.0 == id).unwrap().settings;
            (s.keep_history_days, s.keep_trends_days)
        };
        assert_eq!(settings(1), (7, 30));
        assert_eq!(settings(5), (100, 1000));
        assert_eq!(
            settings(2),
            (90, 365),
            "objects without a CSV line keep the defaults"
        );

        assert_eq!(
            all_points(&b, 1).await,
            vec![
                Point::new(T0, 3.0),
                Point::new(T0 + 1000, 10.0),
                Point::new(T0 + 2000, 20.0)
            ]
        );
        assert_eq!(
            all_points(&b, 2).await,
            vec![
                Point::new(T0, "started"),
                Point::new(T0 + 60_000, "{\"state\":\"ok\",\"n\":1}")
            ]
        );
        assert_eq!(
            all_points(&b, 3).await,
            vec![
                Point::new(T0, 1.5),
                Point::new(T0 + 3000, "text"),
                Point::new(T0 + 5000, "later")
            ]
        );
        assert!(all_points(&b, 4).await.is_empty());
        let large = all_points(&b, 5).await;
        assert_eq!(large.len(), LARGE as usize);
        assert_eq!(large[1234], Point::new(T0 + 1_234_000, 234.0 * 0.5));

        // Clio's own trends, rebuilt from the raw points: every point is in one bucket of
        // each interval.
        for interval in DEFAULT_TREND_INTERVALS {
            let buckets = b
                .read_trends(SeriesId(5), interval, Timestamp::MIN, Timestamp::MAX)
                .await
                .unwrap();
            let count: u64 = buckets.iter().map(|t| t.count).sum();
            assert_eq!(count, LARGE as u64, "{interval}");
        }
        b.close().await.unwrap();
    });

    // Run again: rewriting a point replaces it, so nothing doubles.
    let again = import(&db, &src, &[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("stored: 0 new points"));
}

#[test]
fn files_that_are_not_alepiz_history_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clio.db");
    let missing = dir.path().join("nope.db");
    let out = import(&db, &missing, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not exist"),
        "{err}"
    );

    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE objects (id INTEGER PRIMARY KEY); CREATE TABLE numbers (x);")
        .unwrap();
    let out = import(&db, &other, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no `strings` table"), "{err}");

    let text = dir.path().join("text.db");
    std::fs::write(&text, "hello, not a database").unwrap();
    let out = import(&db, &text, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an SQLite database"), "{err}");

    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "1,x,3\n").unwrap();
    let out = import(&db, &other, &["--retention", csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keep_history_days `x`"), "{err}");
}

#[test]
fn rows_that_cannot_be_values_are_counted_and_the_rest_imported() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("h.db");
    let c = Connection::open(&src).unwrap();
    c.execute_batch(SCHEMA).unwrap();
    // SQLite's flexible typing lets other writers put anything in these columns.
    c.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO objects (id) VALUES (1);
         INSERT INTO numbers (objectID, timestamp, data) VALUES (1, 1000, 1.0);
         INSERT INTO numbers (objectID, timestamp, data) VALUES (1, 2000, x'00ff');
         INSERT INTO numbers (objectID, timestamp, data) VALUES (1, 'soon', 3.0);
         INSERT INTO numbers (objectID, timestamp, data) VALUES (-4, 1000, 3.0);",
    )
    .unwrap();
    drop(c);
    let db = dir.path().join("clio.db");
    let out = import(&db, &src, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("BLOB") && err.contains("not whole milliseconds"),
        "{err}"
    );
    assert!(err.contains("object -4: not an OCID"), "{err}");
    assert!(err.contains("3 rows could not be imported"), "{err}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = SqliteBackend::open(SqliteOptions::new(&db)).unwrap();
        assert_eq!(all_points(&b, 1).await, vec![Point::new(1000, 1.0)]);
        b.close().await.unwrap();
    });
}
