//! `[auth]` end to end on the real binary: every HTTP endpoint and TCP message refuses a
//! missing, wrong or revoked token (401), a token of too weak a role (403) and a series
//! outside the token's scope (403), and nothing is written or leaked; listings and `SHOW`
//! answers are filtered; InfluxDB clients write with a token as the password; tokens and
//! passwords never reach the logs; failures are audited, counted and throttled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use clio_e2e::harness::{Response, Server, clio_bin, http_request};
use serde_json::{Value, json};

/// A server started with auth on, its log going to a file.
/// Debug: the most the server ever logs, for the no-secrets check.
const LOG_FILTER: &str = "debug,hyper=info,wasmtime=info,cranelift=info";

fn start(dir: &Path, config: &str) -> Server {
    Server::start_configured(dir, config, LOG_FILTER)
}

/// `clio token create` against the data directory: the token on stdout.
fn create_token(dir: &Path, name: &str, role: &str, scope: &[&str]) -> String {
    let mut cmd = Command::new(clio_bin());
    cmd.args(["token", "create", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--name", name, "--role", role]);
    for s in scope {
        cmd.args(["--scope", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("clio_"), "{token}");
    token
}

fn cli(dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(clio_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn req(s: &Server, method: &str, path: &str, body: &str, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Token {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    http_request(s.http, method, path, body.as_bytes(), &headers)
}

fn admin_json(s: &Server, admin: &str, path: &str) -> Value {
    let r = req(s, "GET", path, "", Some(admin));
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every series the admin sees: (id, key).
fn all_series(s: &Server, admin: &str) -> Vec<(u64, String)> {
    admin_json(s, admin, "/api/v1/series")["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_u64().unwrap(),
                e["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A TCP client speaking the AlPz framing.
struct Tcp(TcpStream);

impl Tcp {
    fn connect(addr: SocketAddr) -> Tcp {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Tcp(s)
    }

    /// Sends `data` with id 1 and returns the reply envelope.
    fn call(&mut self, data: Value) -> Value {
        let payload = json!({"data": data, "err": null}).to_string();
        let mut frame = b"AlPz\x01".to_vec();
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&1u32.to_le_bytes());
        frame.extend_from_slice(payload.as_bytes());
        self.0.write_all(&frame).unwrap();
        let mut head = [0u8; 13];
        self.0.read_exact(&mut head).unwrap();
        assert_eq!(&head[..4], b"AlPz");
        let len = u32::from_le_bytes(head[5..9].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The reply's error code (`None` when it succeeded).
    fn code(&mut self, data: Value) -> Option<u64> {
        self.call(data)["code"].as_u64()
    }
}

const CONFIG: &str = r#"
[auth]
enabled = true
failed_login_limit = 0
audit_file = "AUDIT"
"#;

#[test]
fn every_front_end_refuses_what_the_token_does_not_allow() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    // Bootstrap offline, before the server runs.
    let admin = create_token(dir.path(), "root", "admin", &[]);
    let s = start(
        dir.path(),
        &CONFIG.replace("AUDIT", audit.to_str().unwrap()),
    );
    let writer = create_token(dir.path(), "cpu-writer", "write", &["measurement=cpu"]);
    let reader = create_token(dir.path(), "cpu-reader", "read", &["measurement=cpu"]);
    let revoked = create_token(dir.path(), "gone", "admin", &[]);
    cli(dir.path(), &["token", "revoke", "gone"], "");
    let wrong = format!("clio_{}", "0".repeat(64));

    // Public: health and ping; the request id comes back.
    assert_eq!(req(&s, "GET", "/health", "", None).status, 200);
    assert_eq!(req(&s, "GET", "/ping", "", None).status, 204);
    let r = http_request(
        s.http,
        "GET",
        "/health",
        b"",
        &[("X-Request-Id", "trace-42")],
    );
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    assert!(
        req(&s, "GET", "/health", "", None)
            .header("x-request-id")
            .is_some()
    );

    // The admin writes one cpu and one mem series.
    let t = now_ms() - 10_000;
    let lp = format!("cpu,host=a usage=1 {t}\nmem,host=a used=2 {t}\n");
    let r = req(&s, "POST", "/write?db=x&precision=ms", &lp, Some(&admin));
    assert_eq!(r.status, 204, "{}", r.text());
    let before = all_series(&s, &admin);
    assert_eq!(before.len(), 2, "{before:?}");
    let id_of = |m: &str| before.iter().find(|(_, k)| k.starts_with(m)).unwrap().0;
    let (cpu, mem) = (id_of("cpu"), id_of("mem"));

    // (method, path, body, role needed).
    let lp_cpu = format!("cpu,host=b usage=5 {t}");
    let endpoints: Vec<(&str, String, String, &str)> = vec![
        (
            "POST",
            "/write?db=x&precision=ms".into(),
            lp_cpu.clone(),
            "write",
        ),
        (
            "POST",
            "/api/v2/write?bucket=x&precision=ms".into(),
            lp_cpu.clone(),
            "write",
        ),
        (
            "POST",
            "/api/v1/points".into(),
            json!([{"key": "cpu,host=c usage", "value": 1}]).to_string(),
            "write",
        ),
        ("GET", "/api/v1/series".into(), String::new(), "read"),
        (
            "GET",
            format!("/api/v1/series/{cpu}"),
            String::new(),
            "read",
        ),
        (
            "PUT",
            format!("/api/v1/series/{cpu}"),
            json!({"keep_history_days": 5}).to_string(),
            "write",
        ),
        (
            "DELETE",
            format!("/api/v1/series/{cpu}"),
            String::new(),
            "write",
        ),
        (
            "GET",
            format!("/api/v1/series/{cpu}/points?last=1"),
            String::new(),
            "read",
        ),
        (
            "GET",
            format!("/api/v1/last?series={cpu}"),
            String::new(),
            "read",
        ),
        (
            "GET",
            format!("/api/v1/series/{cpu}/fn/last"),
            String::new(),
            "read",
        ),
        (
            "POST",
            "/api/v1/fn".into(),
            json!([{"series": cpu, "function": "last"}]).to_string(),
            "read",
        ),
        ("GET", "/api/v1/functions".into(), String::new(), "read"),
        ("GET", "/api/v1/plugins".into(), String::new(), "read"),
        (
            "POST",
            "/api/v1/plugins/reload".into(),
            String::new(),
            "admin",
        ),
        ("GET", "/api/v1/housekeeper".into(), String::new(), "read"),
        (
            "POST",
            "/api/v1/housekeeper/run".into(),
            String::new(),
            "admin",
        ),
        (
            "PUT",
            "/api/v1/housekeeper/policy".into(),
            json!({"policy": "keep"}).to_string(),
            "admin",
        ),
        (
            "PUT",
            "/api/v1/registry".into(),
            json!({"ids": []}).to_string(),
            "admin",
        ),
        ("GET", "/api/v1/storage".into(), String::new(), "admin"),
        ("GET", "/api/v1/backups".into(), String::new(), "admin"),
        (
            "POST",
            "/api/v1/backups".into(),
            json!({"dest": dir.path().join("b").to_str().unwrap()}).to_string(),
            "admin",
        ),
        ("GET", "/api/v1/tokens".into(), String::new(), "admin"),
        (
            "POST",
            "/api/v1/tokens".into(),
            json!({"name": "x", "roles": ["admin"]}).to_string(),
            "admin",
        ),
        (
            "DELETE",
            "/api/v1/tokens/root".into(),
            String::new(),
            "admin",
        ),
        ("GET", "/metrics".into(), String::new(), "read"),
        (
            "GET",
            "/query?q=SHOW+MEASUREMENTS".into(),
            String::new(),
            "read",
        ),
        ("POST", "/query".into(), String::new(), "read"),
    ];
    let mut checked = 0;
    for (method, path, body, need) in &endpoints {
        for (who, token) in [
            ("none", None),
            ("wrong", Some(wrong.as_str())),
            ("revoked", Some(revoked.as_str())),
        ] {
            let r = req(&s, method, path, body, token);
            assert_eq!(
                r.status,
                401,
                "{method} {path} with {who} token: {}",
                r.text()
            );
            assert!(r.header("www-authenticate").is_some());
            checked += 1;
        }
        let weaker: &[(&str, &str)] = match *need {
            "write" => &[("reader", reader.as_str())],
            "admin" => &[("reader", reader.as_str()), ("writer", writer.as_str())],
            _ => &[],
        };
        for (who, token) in weaker {
            let r = req(&s, method, path, body, Some(token));
            assert_eq!(r.status, 403, "{method} {path} as {who}: {}", r.text());
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");

    // Scope: the cpu tokens cannot touch mem, and see only cpu.
    for (method, path, body) in [
        ("GET", format!("/api/v1/series/{mem}"), String::new()),
        (
            "GET",
            format!("/api/v1/series/{mem}/points?last=1"),
            String::new(),
        ),
        ("GET", format!("/api/v1/last?series={mem}"), String::new()),
        (
            "GET",
            format!("/api/v1/series/{mem}/fn/last"),
            String::new(),
        ),
    ] {
        let r = req(&s, method, &path, &body, Some(&reader));
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert!(!r.text().contains("used"), "leaked: {}", r.text());
    }
    for (method, path, body) in [
        (
            "POST",
            "/write?db=x&precision=ms".to_string(),
            format!("mem,host=z used=9 {t}\ncpu,host=z usage=9 {t}"),
        ),
        (
            "POST",
            "/api/v1/points".into(),
            json!([{"series": mem, "value": 9, "ts": t}]).to_string(),
        ),
        (
            "PUT",
            format!("/api/v1/series/{mem}"),
            json!({"keep_history_days": 5}).to_string(),
        ),
        ("DELETE", format!("/api/v1/series/{mem}"), String::new()),
    ] {
        let r = req(&s, method, &path, &body, Some(&writer));
        assert!(
            r.status == 403 || r.text().contains("outside the scope"),
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
    }
    // An InfluxQL deletion reaching beyond the scope is refused whole: dropping mem drops
    // nothing (checked below).
    let r = req(
        &s,
        "GET",
        "/query?q=DROP+SERIES+FROM+mem",
        "",
        Some(&writer),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // A function reading another series is bound by its caller's scope.
    let r = req(
        &s,
        "POST",
        "/api/v1/fn",
        &json!([{"series": mem, "function": "last"}]).to_string(),
        Some(&reader),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()[0]["status"], json!(403), "{}", r.text());
    // Listings and SHOW answers are filtered.
    let list = req(&s, "GET", "/api/v1/series", "", Some(&reader)).json();
    let keys: Vec<&str> = list["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["cpu,host=a usage"]);
    let show = req(&s, "GET", "/query?q=SHOW+MEASUREMENTS", "", Some(&reader)).text();
    assert!(show.contains("cpu") && !show.contains("mem"), "{show}");
    let show = req(&s, "GET", "/query?q=SHOW+SERIES", "", Some(&reader)).text();
    assert!(show.contains("cpu") && !show.contains("mem"), "{show}");
    let sel = req(&s, "GET", "/query?q=SELECT+*+FROM+mem", "", Some(&reader)).text();
    assert!(!sel.contains("used"), "{sel}");
    // The cpu reader reads cpu.
    let r = req(
        &s,
        "GET",
        &format!("/api/v1/series/{cpu}/points?last=1"),
        "",
        Some(&reader),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Nothing of the refused requests was written.
    assert_eq!(all_series(&s, &admin), before);
    let mem_points = admin_json(&s, &admin, &format!("/api/v1/series/{mem}/points?last=10"));
    assert_eq!(
        mem_points["points"].as_array().unwrap().len(),
        1,
        "{mem_points}"
    );

    // The writer writes in its scope, also as InfluxDB's u/p and as Basic.
    let r = req(
        &s,
        "POST",
        "/write?db=x&precision=ms",
        &format!("cpu,host=d usage=3 {t}"),
        Some(&writer),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = http_request(
        s.http,
        "GET",
        &format!("/query?u=any&p={reader}&q=SHOW+MEASUREMENTS"),
        b"",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    cli(
        dir.path(),
        &["user", "add", "alice", "--role", "read"],
        "correct horse battery\n",
    );
    // "alice:correct horse battery" and a wrong password.
    let basic = "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = http_request(
            s.http,
            "GET",
            "/api/v1/series",
            b"",
            &[("Authorization", basic)],
        );
        if r.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "user never accepted: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = http_request(
        s.http,
        "GET",
        "/api/v1/series",
        b"",
        &[("Authorization", "Basic YWxpY2U6d3Jvbmc=")],
    );
    assert_eq!(r.status, 401);

    // Tokens over the API: created (shown once), used, revoked.
    let r = req(
        &s,
        "POST",
        "/api/v1/tokens",
        &json!({"name": "api", "roles": ["read"]}).to_string(),
        Some(&admin),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let api_token = r.json()["token"].as_str().unwrap().to_string();
    let api_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        req(&s, "GET", "/api/v1/series", "", Some(&api_token)).status,
        200
    );
    let listed = admin_json(&s, &admin, "/api/v1/tokens").to_string();
    assert!(
        listed.contains(&api_id) && !listed.contains(&api_token[5..]),
        "{listed}"
    );
    assert_eq!(
        req(
            &s,
            "DELETE",
            &format!("/api/v1/tokens/{api_id}"),
            "",
            Some(&admin)
        )
        .status,
        200
    );
    assert_eq!(
        req(&s, "GET", "/api/v1/series", "", Some(&api_token)).status,
        401
    );

    // TCP: a peer outside allow_unauthenticated_from must authenticate.
    let mut c = Tcp::connect(s.tcp);
    let add = json!({"msg": "add", "id": cpu, "records": [{"timestamp": t + 1, "data": 7}]});
    assert_eq!(
        c.code(json!({"msg": "getLastValues", "IDs": [cpu]})),
        Some(401)
    );
    assert_eq!(c.code(add.clone()), Some(401));
    assert_eq!(c.code(json!({"msg": "auth", "token": wrong})), Some(401));
    assert_eq!(c.code(json!({"msg": "auth", "token": revoked})), Some(401));
    assert_eq!(c.code(json!({"msg": "auth", "token": reader})), None);
    assert_eq!(c.code(add.clone()), Some(403), "a reader adds");
    assert_eq!(
        c.code(json!({"msg": "series.delete", "id": cpu})),
        Some(403)
    );
    assert_eq!(
        c.code(json!({"msg": "getByIdx", "id": mem, "last": 0, "cnt": 1})),
        Some(403)
    );
    assert_eq!(
        c.code(json!({"msg": "fn", "series": mem, "function": "last"})),
        Some(403)
    );
    let r = c.call(json!({"msg": "getLastValues", "IDs": [cpu]}));
    assert!(r["err"].is_null(), "{r}");
    let listed = c.call(json!({"msg": "series.list"}));
    assert!(!listed.to_string().contains("mem"), "{listed}");
    let mut w = Tcp::connect(s.tcp);
    assert_eq!(w.code(json!({"msg": "auth", "token": writer})), None);
    assert_eq!(
        w.code(json!({"msg": "add", "id": mem, "records": [{"timestamp": t + 1, "data": 7}]})),
        Some(403)
    );
    assert_eq!(w.code(add), None, "the cpu writer adds to cpu");
    let mem_points = admin_json(&s, &admin, &format!("/api/v1/series/{mem}/points?last=10"));
    assert_eq!(
        mem_points["points"].as_array().unwrap().len(),
        1,
        "{mem_points}"
    );

    // Counted and audited, from where and by whom, without secrets.
    let metrics = req(&s, "GET", "/metrics", "", Some(&admin)).text();
    let failures: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("clio_auth_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(failures >= 100.0, "{metrics}");
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audit_text
            .lines()
            .any(|l| l.contains("\"outcome\":\"failed\"") && l.contains("127.0.0.1")),
        "{audit_text}"
    );
    assert!(
        audit_text.contains("tokens.create") && audit_text.contains("tokens.revoke"),
        "{audit_text}"
    );
    drop(c);
    drop(w);
    let log = std::fs::read_to_string(s.log.as_ref().unwrap()).unwrap();
    assert!(log.contains("request_id"), "no request ids in the log");
    for secret in [&admin, &writer, &reader, &revoked, &api_token, &wrong] {
        let hidden = &secret[5..];
        assert!(!log.contains(hidden), "a token is in the server log");
        assert!(!audit_text.contains(hidden), "a token is in the audit log");
    }
    assert!(!log.contains("correct horse") && !audit_text.contains("correct horse"));
}

#[test]
fn trusted_tcp_peers_rate_limits_and_throttling() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "t", "write", &[]);
    let s = start(
        dir.path(),
        r#"
[auth]
enabled = true
allow_unauthenticated_from = ["127.0.0.1/32"]
rate_limit_per_token = 1
rate_limit_burst = 3
failed_login_limit = 3
failed_login_window_sec = 600
[plugins]
enabled = false
"#,
    );
    // ALEPIZ's IPC client on an allowed address works unchanged.
    let mut c = Tcp::connect(s.tcp);
    let t = now_ms() - 1000;
    assert_eq!(
        c.code(json!({"msg": "add", "id": 5, "records": [{"timestamp": t, "data": 1}]})),
        None
    );
    let r = c.call(json!({"msg": "getLastValues", "IDs": [5]}));
    assert_eq!(r["data"]["5"]["data"], json!(1.0), "{r}");
    // HTTP is not covered by that list.
    assert_eq!(req(&s, "GET", "/api/v1/series", "", None).status, 401);
    // Per-token rate limit: the burst, then 429.
    let statuses: Vec<u16> = (0..6)
        .map(|_| req(&s, "GET", "/api/v1/series", "", Some(&token)).status)
        .collect();
    assert!(
        statuses.contains(&429) && statuses[0] == 200,
        "{statuses:?}"
    );
    // Three failed logins, then even a good token is refused from this address.
    for _ in 0..3 {
        assert_eq!(
            req(&s, "GET", "/api/v1/series", "", Some("clio_nope")).status,
            401
        );
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        req(&s, "GET", "/api/v1/series", "", Some(&token)).status,
        429
    );
    let log = std::fs::read_to_string(s.log.as_ref().unwrap()).unwrap();
    assert!(log.contains("clio::audit"), "{log}");
    assert!(!log.contains(&token[5..]));
}

#[test]
fn an_open_address_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(clio_bin())
        .args(["serve", "--http", "0.0.0.0:0", "--tcp", "", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[auth]") && err.contains("insecure"), "{err}");
}

#[test]
fn python_influxdb_client_writes_with_a_token() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test-all.sh installs the influxdb package there",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), "telegraf", "write", &[]);
    let s = start(
        dir.path(),
        "[auth]\nenabled = true\n[plugins]\nenabled = false\n",
    );
    let t = now_ms() - 5000;
    let script = format!(
        r#"
from influxdb import InfluxDBClient
ok = InfluxDBClient(host="{h}", port={p}, username="telegraf", password="{token}", database="plant").write_points(
    [{{"measurement": "boiler", "tags": {{"site": "n"}}, "time": {t}, "fields": {{"temp": 81.5}}}}], time_precision="ms")
assert ok
try:
    InfluxDBClient(host="{h}", port={p}, username="x", password="clio_wrong", database="plant").write_points(
        [{{"measurement": "boiler", "time": {t}, "fields": {{"temp": 1.0}}}}], time_precision="ms")
    raise SystemExit("a wrong token was accepted")
except Exception as e:
    print("refused:", e)
"#,
        h = s.http.ip(),
        p = s.http.port(),
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refused:") && stdout.contains("401"),
        "{stdout}"
    );
    let series = req(&s, "GET", "/api/v1/series", "", Some(&token)).json();
    assert_eq!(series["series"].as_array().unwrap().len(), 1, "{series}");
}

#[test]
fn with_auth_off_credentials_are_ignored_and_everything_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = clio_e2e::harness::Server::start(dir.path(), &["--auth", "false"]);
    for header in ["Token nonsense", "Basic !!!", "Digest x=y"] {
        let r = s.http("GET", "/api/v1/series", b"", &[("Authorization", header)]);
        assert_eq!(r.status, 200, "{header}: {}", r.text());
    }
    let r = s.http("POST", "/write?db=x&u=a&p=b", b"m f=1", &[]);
    assert_eq!(r.status, 204, "{}", r.text());
}

/// `DROP SERIES` and `DELETE` whose pattern reaches series outside the token's scope are
/// refused with 403 and delete nothing (before, they succeeded and silently deleted only
/// the visible part); a pattern inside the scope still works.
#[test]
fn destructive_patterns_beyond_the_scope_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let admin = create_token(dir.path(), "root", "admin", &[]);
    let s = start(
        dir.path(),
        &CONFIG.replace("AUDIT", audit.to_str().unwrap()),
    );
    let cpu_writer = create_token(dir.path(), "cpu-w", "write", &["measurement=cpu"]);
    let host_a = create_token(dir.path(), "host-a", "write", &["tag=host=a"]);
    let t = now_ms();
    let lp =
        format!("cpu,host=a v=1 {t}\ncpu,host=b v=1 {t}\nmem,host=a v=1 {t}\nmem,host=c v=1 {t}\n");
    let r = req(&s, "POST", "/write?db=x&precision=ms", &lp, Some(&admin));
    assert_eq!(r.status, 204, "{}", r.text());
    let keys = |s: &Server| -> Vec<String> {
        let mut k: Vec<String> = all_series(s, &admin).into_iter().map(|(_, k)| k).collect();
        k.sort();
        k
    };
    let before = keys(&s);
    assert_eq!(before.len(), 4, "{before:?}");
    let q = |token: &str, text: &str| -> Response {
        let path = format!(
            "/query?{}",
            serde_urlencoded::to_string([("q", text)]).unwrap()
        );
        req(&s, "POST", &path, "", Some(token))
    };
    for (token, text) in [
        (&cpu_writer, "DROP SERIES FROM mem"),
        (&cpu_writer, "DROP SERIES WHERE host = 'a'"),
        (&cpu_writer, "DELETE FROM mem WHERE time < now()"),
        (&cpu_writer, "DELETE WHERE host = 'c'"),
        (&cpu_writer, "DROP SERIES FROM /.*/"),
        (&host_a, "DROP SERIES FROM cpu"),
        (
            &host_a,
            "DROP SERIES FROM cpu WHERE host = 'a'; DROP SERIES FROM mem",
        ),
    ] {
        let r = q(token, text);
        assert_eq!(r.status, 403, "{text}: {}", r.text());
        assert!(
            r.text().contains("outside the scope"),
            "{text}: {}",
            r.text()
        );
        assert_eq!(keys(&s), before, "{text} deleted something");
    }
    // Inside the scope: deleted.
    let r = q(&cpu_writer, "DROP SERIES FROM cpu WHERE host = 'b'");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("error"), "{}", r.text());
    let r = q(&host_a, "DROP SERIES FROM mem WHERE host = 'a'");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys(&s), ["cpu,host=a v", "mem,host=c v"], "{:?}", keys(&s));
}
