//! Credentials against a real `influxd` with `auth-enabled = true`: a user and password open
//! the backend; a wrong password is `Unavailable` (the engine keeps the points and retries
//! while an operator fixes it) with words that say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use clio_storage::prelude::*;
use clio_storage::{NewSeries, Point, SeriesId, SeriesPoints, StorageError, Timestamp};
use clio_storage_influxdb::{InfluxAuth, InfluxBackend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_open_and_a_wrong_password_is_unavailable() {
    let server = common::Influxd::start_with_auth();
    // The first admin user may be created without credentials (InfluxDB 1.x).
    let q = "q=CREATE%20USER%20clio%20WITH%20PASSWORD%20%27s3cret%27%20WITH%20ALL%20PRIVILEGES";
    let mut s = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    write!(
        s,
        "POST /query HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{q}",
        q.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(" 200 "), "{answer}");

    let mut o = server.options("secured");
    o.auth = InfluxAuth::Basic {
        username: "clio".into(),
        password: "s3cret".into(),
    };
    let b = InfluxBackend::open(o.clone()).await.unwrap();
    b.create_series(&[NewSeries {
        id: SeriesId(1),
        key: None,
        settings: Default::default(),
    }])
    .await
    .unwrap();
    let pts = vec![Point::new(1_700_000_000_000, 1.5)];
    clio_storage::write_points(
        &b,
        &[SeriesPoints {
            series: SeriesId(1),
            points: pts.clone(),
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        b.read_range(SeriesId(1), Timestamp::MIN, Timestamp::MAX, 10)
            .await
            .unwrap(),
        pts
    );

    o.auth = InfluxAuth::Basic {
        username: "clio".into(),
        password: "wrong".into(),
    };
    match InfluxBackend::open(o.clone()).await {
        Err(StorageError::Unavailable(m)) => assert!(m.contains("not authorised"), "{m}"),
        other => panic!("a wrong password: {other:?}"),
    }
    o.auth = InfluxAuth::None;
    match InfluxBackend::open(o).await {
        Err(StorageError::Unavailable(m)) => assert!(m.contains("not authorised"), "{m}"),
        other => panic!("no credentials: {other:?}"),
    }
}
