//! `type = "influxdb"` in `[[storage.backends]]`, built by the registry and opened against a
//! real `influxd`, with the password taken from a file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clio_config::Config;
use clio_registry::Registry;
use clio_storage::{NewSeries, Point, SeriesId, SeriesPoints, Timestamp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_opens_an_influxdb_backend_from_config() {
    let server = common::shared();
    let db = common::fresh_database("registry");
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("influx.password");
    // Auth is off on the test server: the credentials are sent and ignored, but they must
    // be read and accepted.
    std::fs::write(&pw, "secret\n").unwrap();
    let toml = format!(
        "[[storage.backends]]\nname = \"influx\"\ntype = \"influxdb\"\nurl = \"{}\"\n\
         database = \"{db}\"\nretention_policy = \"clio\"\nretention_duration = \"INF\"\n\
         username = \"clio\"\npassword_file = \"{}\"\nbatch_size = 100\ntimeout = 5000\n\
         gzip = true\nretries = 2\n",
        server.url(),
        pw.display()
    );
    let cfg = Config::from_toml(&toml).unwrap();
    let topology = Registry::builtin().topology(&cfg).unwrap();
    assert_eq!(topology.primary.kind, "influxdb");
    let b = (topology.primary.open)().await.unwrap();
    assert!(b.describe().contains(&db), "{}", b.describe());
    b.create_series(&[NewSeries {
        id: SeriesId(1),
        key: Some("line,cell=3 speed".parse().unwrap()),
        settings: Default::default(),
    }])
    .await
    .unwrap();
    // 250 points in 100-line requests, gzipped.
    let pts: Vec<Point> = (0..250)
        .map(|i| Point::new(1_700_000_000_000 + i * 1000, i as f64 * 0.5))
        .collect();
    clio_storage::write_points(
        &*b,
        &[SeriesPoints {
            series: SeriesId(1),
            points: pts.clone(),
        }],
    )
    .await
    .unwrap();
    let got = b
        .read_range(SeriesId(1), Timestamp::MIN, Timestamp::MAX, usize::MAX)
        .await
        .unwrap();
    assert_eq!(got, pts);
}
