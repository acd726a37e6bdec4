//! https to a real `influxd` with a certificate from an authority made by `openssl` here:
//! trusted through `ca_file`, refused with a clear reason when the certificate is unknown, signed for another
//! name, or the url says http.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use clio_storage::prelude::*;
use clio_storage::{NewSeries, Point, SeriesId, SeriesPoints, Timestamp};
use clio_storage_influxdb::{InfluxBackend, InfluxOptions};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is not installed (scripts/test-all.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority `stem` (its certificate and key, PEM) in `dir`.
fn authority(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{stem}-ca.crt"));
    let key = dir.join(format!("{stem}-ca.key"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={stem} test CA"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    (cert, key)
}

/// A server certificate for `san` signed by the authority `ca`; returns (cert, key).
fn server_certificate(
    dir: &Path,
    stem: &str,
    ca: &(PathBuf, PathBuf),
    san: &str,
) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    let csr = dir.join(format!("{stem}.csr"));
    let ext = dir.join(format!("{stem}.ext"));
    std::fs::write(
        &ext,
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=influxd",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        ca.0.to_str().unwrap(),
        "-CAkey",
        ca.1.to_str().unwrap(),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    (cert, key)
}

fn options(url: String, ca: Option<PathBuf>) -> InfluxOptions {
    let mut o = InfluxOptions::new(url, "tls_db");
    o.ca_file = ca;
    o.retries = 0;
    o.timeout = std::time::Duration::from_secs(5);
    o
}

async fn open_error(o: InfluxOptions) -> String {
    match InfluxBackend::open(o).await {
        Ok(_) => panic!("opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_trusted_ca_writes_and_reads_and_anything_else_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority(dir.path(), "plant");
    let (cert, key) = server_certificate(dir.path(), "server", &ca, "DNS:localhost,IP:127.0.0.1");
    let server = common::Influxd::start_with_tls(cert, key);
    let url = server.url();
    assert!(url.starts_with("https://"), "{url}");

    // Trusted through ca_file: a round trip of points.
    let b = InfluxBackend::open(options(url.clone(), Some(ca.0.clone())))
        .await
        .unwrap();
    b.create_series(&[NewSeries {
        id: SeriesId(1),
        key: Some("furnace,line=2 temp".parse().unwrap()),
        settings: Default::default(),
    }])
    .await
    .unwrap();
    let pts: Vec<Point> = (0..100)
        .map(|i| Point::new(1_700_000_000_000 + i * 1000, 1550.0 + i as f64))
        .collect();
    clio_storage::write_points(
        &b,
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

    // The system's CA store does not know the plant's authority.
    let e = open_error(options(url.clone(), None)).await;
    assert!(
        e.contains("certificate") && e.contains("UnknownIssuer"),
        "{e}"
    );
    // Another CA.
    let (other, _) = authority(dir.path(), "other");
    let e = open_error(options(url.clone(), Some(other))).await;
    assert!(
        e.contains("UnknownIssuer") || e.contains("BadSignature"),
        "{e}"
    );
    // The right CA, but the certificate is for another name than the url's.
    let (cert2, key2) = server_certificate(dir.path(), "elsewhere", &ca, "DNS:influx.example");
    let server2 = common::Influxd::start_with_tls(cert2, key2);
    let e = open_error(options(server2.url(), Some(ca.0.clone()))).await;
    assert!(e.contains("not valid for name"), "{e}");
    // http to an https server: InfluxDB answers 400 to plain http on its TLS port.
    let plain = url.replacen("https://", "http://", 1);
    let e = open_error(options(plain.clone(), None)).await;
    assert!(!e.is_empty(), "{e}");
    // ca_file with an http url is a configuration mistake.
    let e = open_error(options(plain, Some(ca.0.clone()))).await;
    assert!(e.contains("ca_file is for https"), "{e}");
    // A ca_file that is not PEM.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = open_error(options(url, Some(junk))).await;
    assert!(
        e.contains("junk.pem") && e.contains("no PEM certificate"),
        "{e}"
    );
}
