//! What only this backend has, against a real `influxd`: keyed series read exactly their tag
//! set, a delete of one field keeps the other fields of the tag set (also other writers'
//! integers, booleans and strings), reserved measurements are refused, the retention policy is
//! created from the options, the catalog survives a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use clio_storage::prelude::*;
use clio_storage::{NewSeries, Point, SeriesId, SeriesPoints, StorageError, Timestamp};
use clio_storage_influxdb::InfluxBackend;

const T0: Timestamp = 1_700_000_000_000;

fn keyed(id: u64, k: &str) -> NewSeries {
    NewSeries {
        id: SeriesId(id),
        key: Some(k.parse().unwrap()),
        settings: Default::default(),
    }
}

/// A raw HTTP request to the shared server (another writer of the same database).
fn http(method: &str, path_and_query: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", common::shared().http_port)).unwrap();
    write!(
        s,
        "{method} {path_and_query} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn pts(n: i64, v: f64) -> Vec<Point> {
    (0..n)
        .map(|i| Point::new(T0 + i * 1000, v + i as f64))
        .collect()
}

async fn all(b: &InfluxBackend, id: u64) -> Vec<Point> {
    b.read_range(SeriesId(id), Timestamp::MIN, Timestamp::MAX, usize::MAX)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_reads_take_exactly_their_tag_set() {
    let b = common::fresh_backend("exact").await;
    b.create_series(&[
        keyed(1, "m,host=a v"),
        keyed(2, "m,host=a,rack=r1 v"),
        keyed(3, "m v"),
    ])
    .await
    .unwrap();
    for (id, v) in [(1, 100.0), (2, 200.0), (3, 300.0)] {
        clio_storage::write_points(
            &b,
            &[SeriesPoints {
                series: SeriesId(id),
                points: pts(10, v),
            }],
        )
        .await
        .unwrap();
    }
    for (id, v) in [(1, 100.0), (2, 200.0), (3, 300.0)] {
        assert_eq!(all(&b, id).await, pts(10, v), "series {id}");
        assert_eq!(
            b.read_last(SeriesId(id), 3, Timestamp::MAX).await.unwrap(),
            pts(10, v)[7..].to_vec()
        );
        assert_eq!(b.stats(SeriesId(id)).await.unwrap().points, 10);
    }
    // Deleting the tag set `m,host=a` leaves `m,host=a,rack=r1` and `m` alone.
    assert_eq!(
        b.delete_points(SeriesId(1), Timestamp::MIN, Timestamp::MAX)
            .await
            .unwrap(),
        10
    );
    assert!(all(&b, 1).await.is_empty());
    assert_eq!(all(&b, 2).await, pts(10, 200.0));
    assert_eq!(all(&b, 3).await, pts(10, 300.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_keeps_other_writers_fields_of_the_tag_set() {
    let db = common::fresh_database("siblings");
    let b = InfluxBackend::open(common::shared().options(&db))
        .await
        .unwrap();
    b.create_series(&[keyed(1, "pump,site=x flow")])
        .await
        .unwrap();
    clio_storage::write_points(
        &b,
        &[SeriesPoints {
            series: SeriesId(1),
            points: pts(10, 1.0),
        }],
    )
    .await
    .unwrap();
    // Another writer's integer, boolean and string fields in the same tag set.
    let lines: String = (0..10)
        .map(|i| {
            format!(
                "pump,site=x rpm={}i,on={},mode=\"m{i}\" {}\n",
                1000 + i,
                i % 2 == 0,
                T0 + i * 1000
            )
        })
        .collect();
    let answer = http("POST", &format!("/write?db={db}&precision=ms"), &lines);
    assert!(
        answer.starts_with("HTTP/1.0 204") || answer.starts_with("HTTP/1.1 204"),
        "{answer}"
    );

    let n = b.delete_points(SeriesId(1), T0, T0 + 5000).await.unwrap();
    assert_eq!(n, 5);
    assert_eq!(all(&b, 1).await, pts(10, 1.0)[5..].to_vec());
    let q = http(
        "GET",
        &format!("/query?db={db}&epoch=ms&q=SELECT%20rpm%2C%22on%22%2Cmode%20FROM%20pump"),
        "",
    );
    let body = q.split("\r\n\r\n").nth(1).unwrap();
    let j: serde_json::Value = serde_json::from_str(body).unwrap();
    let rows = j["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(rows.len(), 10, "{body}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[1].as_i64(), Some(1000 + i as i64), "{body}");
        assert_eq!(r[2].as_bool(), Some(i % 2 == 0), "{body}");
        assert_eq!(r[3].as_str(), Some(format!("m{i}").as_str()), "{body}");
    }
    // The types survived: an integer written again is still accepted as an integer.
    let answer = http(
        "POST",
        &format!("/write?db={db}&precision=ms"),
        &format!("pump,site=x rpm=1i {}\n", T0),
    );
    assert!(answer.contains(" 204 "), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_measurements_are_refused() {
    let b = common::fresh_backend("reserved").await;
    for k in [
        "aggregated_data,parameter=x avg_value",
        "clio_series v",
        "clio_catalog info",
    ] {
        match b.create_series(&[keyed(1, k)]).await {
            Err(StorageError::InvalidInput(m)) => assert!(m.contains("measurement"), "{m}"),
            other => panic!("{k}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_policy_from_options_and_catalog_across_reopen() {
    let db = common::fresh_database("rp");
    let mut o = common::shared().options(&db);
    o.retention_policy = Some("clio".into());
    o.retention_duration = Some("52w".into());
    let b = InfluxBackend::open(o.clone()).await.unwrap();
    b.create_series(&[keyed(5, "tank,site=y level")])
        .await
        .unwrap();
    // Points older than the policy's duration are refused by InfluxDB, with its words.
    match clio_storage::write_points(
        &b,
        &[SeriesPoints {
            series: SeriesId(5),
            points: pts(3, 7.0),
        }],
    )
    .await
    {
        Err(StorageError::InvalidInput(m)) => assert!(m.contains("retention policy"), "{m}"),
        other => panic!("a point from 2023 in a 52-week policy: {other:?}"),
    }
    let recent: Vec<Point> = (0..3)
        .map(|i| Point::new(clio_core::now_ms() - 3_600_000 + i * 1000, 7.0 + i as f64))
        .collect();
    clio_storage::write_points(
        &b,
        &[SeriesPoints {
            series: SeriesId(5),
            points: recent.clone(),
        }],
    )
    .await
    .unwrap();
    let q = http(
        "GET",
        &format!("/query?db={db}&q=SHOW%20RETENTION%20POLICIES"),
        "",
    );
    assert!(q.contains("\"clio\",\"8736h0m0s\""), "{q}");
    // The points are in that policy, not the default one.
    let q = http(
        "GET",
        &format!("/query?db={db}&q=SELECT%20count(level)%20FROM%20%22clio%22.tank"),
        "",
    );
    assert!(q.contains(",3]"), "{q}");
    // A changed duration is applied at the next open; the catalog is still there.
    o.retention_duration = Some("30d".into());
    let b = InfluxBackend::open(o).await.unwrap();
    let q = http(
        "GET",
        &format!("/query?db={db}&q=SHOW%20RETENTION%20POLICIES"),
        "",
    );
    assert!(q.contains("\"clio\",\"720h0m0s\""), "{q}");
    let cat = b.load_catalog().await.unwrap();
    assert_eq!(cat.len(), 1);
    assert_eq!(
        cat[0].key.as_ref().unwrap().to_string(),
        "tank,site=y level"
    );
    assert_eq!(all(&b, 5).await, recent);
}
