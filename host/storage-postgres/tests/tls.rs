//! TLS towards PostgreSQL (rustls): a throwaway cluster with `ssl = on`, a certificate made
//! by `openssl` here, and a pg_hba.conf that lets TCP clients in over TLS only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::Command;

use clio_storage_postgres::{PgOptions, SslMode, open_pool};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA in `dir` (`<name>.crt`, `<name>.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// `server.crt`/`server.key` for DNS name `localhost` only, signed by CA `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
}

async fn try_open(o: &PgOptions) -> Result<bool, String> {
    let pool = open_pool(o).await.map_err(|e| e.to_string())?;
    let c = pool.get().await.map_err(|e| e.to_string())?;
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    Ok(ssl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_connect_verify_and_refuse_clearly() {
    let c = common::Cluster::start();
    let db = c.create_database("tls");
    let certs = tempfile::tempdir().unwrap();
    make_ca(certs.path(), "ca");
    make_ca(certs.path(), "other");
    make_server_cert(certs.path(), "ca");
    let crt = c.write_private(
        "server.crt",
        &std::fs::read(certs.path().join("server.crt")).unwrap(),
    );
    let key = c.write_private(
        "server.key",
        &std::fs::read(certs.path().join("server.key")).unwrap(),
    );
    c.stop();
    c.set_hba("local all all trust\nhostssl all all 127.0.0.1/32 trust\n");
    c.start_server_with(&format!(
        "-c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        crt.display(),
        key.display()
    ));
    let opts = |host: &str, mode: &str, ca: Option<&str>| {
        let mut o = PgOptions::new(host, c.port, &db, &c.user);
        o.pool_size = 2;
        o.sslmode = SslMode::parse(mode).unwrap();
        o.sslrootcert = ca.map(|n| certs.path().join(format!("{n}.crt")));
        o
    };

    // Encrypted without a check, and with the right CA (name checked or not).
    assert_eq!(
        try_open(&opts("localhost", "require", None)).await,
        Ok(true)
    );
    assert_eq!(try_open(&opts("localhost", "prefer", None)).await, Ok(true));
    assert_eq!(
        try_open(&opts("localhost", "verify-full", Some("ca"))).await,
        Ok(true)
    );
    assert_eq!(
        try_open(&opts("127.0.0.1", "verify-ca", Some("ca"))).await,
        Ok(true)
    );
    // The url form carries both settings.
    let url = format!(
        "postgresql://{}@localhost:{}/{db}?sslmode=verify-full&sslrootcert={}",
        c.user,
        c.port,
        certs.path().join("ca.crt").display()
    );
    let mut o = PgOptions::from_url(&url).unwrap();
    o.pool_size = 2;
    assert_eq!(try_open(&o).await, Ok(true));

    // A certificate from another CA, or not naming the host, is refused by name.
    let e = try_open(&opts("localhost", "verify-full", Some("other")))
        .await
        .unwrap_err();
    println!("wrong CA: {e}");
    assert!(
        e.contains("certificate") && e.contains("UnknownIssuer"),
        "{e}"
    );
    let e = try_open(&opts("localhost", "verify-ca", Some("other")))
        .await
        .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = try_open(&opts("127.0.0.1", "verify-full", Some("ca")))
        .await
        .unwrap_err();
    println!("wrong name: {e}");
    assert!(e.contains("certificate not valid for name"), "{e}");
    // The bundled public roots do not trust a private CA.
    let e = try_open(&opts("localhost", "verify-full", None))
        .await
        .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");

    // Without TLS the server's hostssl-only pg_hba.conf refuses, and says so.
    let e = try_open(&opts("localhost", "disable", None))
        .await
        .unwrap_err();
    println!("disable: {e}");
    assert!(
        e.contains("pg_hba.conf") && e.contains("no encryption"),
        "{e}"
    );
}
