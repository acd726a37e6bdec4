//! Both clients against the real server, started in-process on ephemeral ports.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use clio_client::{
    Error, HttpClient, PointsQuery, Precision, ReadData, TcpClient, TcpOptions, WritePoint,
};
use clio_storage::{Point, SeriesFilter, SeriesId, SeriesKey, SeriesUpdate, Value};
use serde_json::json;

struct Live {
    running: clio_server::Running,
    http: HttpClient,
    tcp_addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start() -> Live {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = clio_config::Config {
        data_dir: dir.path().join("data"),
        ..clio_config::Config::default()
    };
    cfg.server.http_address = "127.0.0.1:0".into();
    cfg.server.tcp_address = "127.0.0.1:0".into();
    let topology = clio_registry::Registry::builtin().topology(&cfg).unwrap();
    let running = clio_server::start(cfg, topology).await.unwrap();
    let http = HttpClient::new(&format!("http://{}", running.http_addr.unwrap())).unwrap();
    let tcp_addr = running.tcp_addr.unwrap();
    Live {
        running,
        http,
        tcp_addr,
        _dir: dir,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_covers_the_api() {
    let live = start().await;
    let c = &live.http;
    let t = now() - 10_000;

    c.ping().await.unwrap();
    let h = c.health().await.unwrap();
    assert_eq!(h.status, "ok");

    // Line protocol, ms precision; a partly bad body is a 400 naming the bad line, and the
    // good line is written anyway.
    c.write_lp(
        "db",
        Precision::Ms,
        format!(
            "cpu,host=a usage=1.5 {t}\ncpu,host=a usage=2.5 {}\n",
            t + 1000
        ),
    )
    .await
    .unwrap();
    let e = c
        .write_lp(
            "db",
            Precision::Ms,
            format!("garbage\ncpu,host=b usage=9 {t}\n"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(e.to_string().contains("garbage"), "{e}");
    c.write_lp_v2("bucket", Precision::Ms, format!("cpu,host=c usage=4 {t}\n"))
        .await
        .unwrap();

    // JSON points by id and key.
    let key: SeriesKey = "mem,host=a used".parse().unwrap();
    let r = c
        .write_points(&[
            WritePoint::id(500, Some(t), 1.0),
            WritePoint::id(500, Some(t + 1), "text"),
            WritePoint::key(key.clone(), Some(t), 42.0),
        ])
        .await
        .unwrap();
    assert_eq!((r.points, r.created_series), (3, 2));

    // Catalog.
    let cpu = c
        .list_series(&SeriesFilter {
            measurement: Some("cpu".into()),
            ..SeriesFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(cpu.len(), 3, "{cpu:?}");
    let a_key: SeriesKey = "cpu,host=a usage".parse().unwrap();
    let a = c
        .find_series(&a_key)
        .await
        .unwrap()
        .expect("cpu,host=a usage");
    assert_eq!(a.key.as_ref(), Some(&a_key));
    assert!(
        c.find_series(&"cpu,host=zz usage".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let info = c.get_series(SeriesId(500)).await.unwrap();
    assert_eq!(info.key, None);
    let updated = c
        .update_series(
            SeriesId(500),
            &SeriesUpdate {
                keep_history_days: Some(3),
                ..SeriesUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.settings.keep_history_days, 3);

    // Reads.
    let got = c.read_points(a.id, &PointsQuery::last(10)).await.unwrap();
    assert_eq!(
        got.data,
        ReadData::Points(vec![Point::new(t, 1.5), Point::new(t + 1000, 2.5)])
    );
    assert!(!got.truncated);
    let got = c
        .read_points(a.id, &PointsQuery::range(t, t + 1000))
        .await
        .unwrap();
    assert_eq!(
        got.data,
        ReadData::Points(vec![Point::new(t, 1.5)]),
        "[from, to)"
    );
    let got = c
        .read_points(a.id, &PointsQuery::last(1).skip(1))
        .await
        .unwrap();
    assert_eq!(got.data, ReadData::Points(vec![Point::new(t, 1.5)]));
    let got = c
        .read_points(
            a.id,
            &PointsQuery::range(t - 86_400_000, t + 86_400_000).resolution("1d"),
        )
        .await
        .unwrap();
    let ReadData::Trends { interval, buckets } = got.data else {
        panic!("expected trends")
    };
    assert_eq!(interval, "1d");
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 2);
    let e = c
        .read_points(a.id, &PointsQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");

    let last = c.last(&[a.id, SeriesId(500)]).await.unwrap();
    assert_eq!(last[&a.id], Some(Point::new(t + 1000, 2.5)));
    assert_eq!(
        last[&SeriesId(500)],
        Some(Point::new(t + 1, Value::Str("text".into())))
    );

    // Delete, then the series is gone.
    c.delete_series(SeriesId(500)).await.unwrap();
    assert!(
        c.get_series(SeriesId(500))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        c.delete_series(SeriesId(500))
            .await
            .unwrap_err()
            .is_not_found()
    );

    let metrics = c.metrics().await.unwrap();
    assert!(metrics.contains("clio_"), "{metrics}");
    let e = c.get_json("/no/such/endpoint").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");

    live.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_client_pipelines_against_the_server() {
    let live = start().await;
    let opts = TcpOptions {
        max_in_flight: 16,
        ..TcpOptions::default()
    };
    let c = Arc::new(TcpClient::connect_with(live.tcp_addr, opts).await.unwrap());
    assert_eq!(c.ping().await.unwrap(), json!("pong"));
    let t = now() - 10_000;

    // 200 concurrent writes on one connection, 16 in flight at a time.
    let mut tasks = Vec::new();
    for i in 0..200i64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.write_points(&[WritePoint::id(7, Some(t + i), i as f64)])
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().points, 1);
    }
    let got = c.read(SeriesId(7), &PointsQuery::last(1000)).await.unwrap();
    let ReadData::Points(points) = &got.data else {
        panic!("expected points")
    };
    assert_eq!(points.len(), 200);
    assert_eq!(points[199], Point::new(t + 199, 199.0));

    // The same answer over HTTP.
    let over_http = live
        .http
        .read_points(SeriesId(7), &PointsQuery::last(1000))
        .await
        .unwrap();
    assert_eq!(over_http, got);

    // Line protocol with one bad line: a report, not an error.
    let rep = c
        .write_lp(&format!("bad\nnet,if=eth0 rx=5 {t}\n"), Precision::Ms)
        .await
        .unwrap();
    assert_eq!((rep.points, rep.lines, rep.rejected), (1, 2, 1), "{rep:?}");
    assert!(rep.error.is_some());
    let key: SeriesKey = "net,if=eth0 rx".parse().unwrap();
    let got = c.read_key(&key, &PointsQuery::last(5)).await.unwrap();
    assert_eq!(got.data, ReadData::Points(vec![Point::new(t, 5.0)]));

    let last = c.last(&[SeriesId(7)]).await.unwrap();
    assert_eq!(last[&SeriesId(7)], Some(Point::new(t + 199, 199.0)));

    // Refusals carry the server's message and status.
    let e = c.request(&json!({"msg": "nope"})).await.unwrap_err();
    assert!(
        matches!(&e, Error::Server { status: 400, message } if message.contains("unknown message")),
        "{e}"
    );
    let e = c
        .read(SeriesId(123_456), &PointsQuery::last(1))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");

    // An id-0 notification gets no reply but is applied before the next request.
    c.notify(&json!({"msg": "add", "id": 8, "record": {"timestamp": t, "data": 3}}))
        .await
        .unwrap();
    let last = c.last(&[SeriesId(8)]).await.unwrap();
    assert_eq!(last[&SeriesId(8)], Some(Point::new(t, 3.0)));

    drop(c);
    live.running.shutdown().await.unwrap();
}
