//! Alerts end to end: the real binary evaluating rules through its plugin host, a real
//! webhook receiver (a small HTTP server in the test) seeing pending → firing → resolved,
//! retries of a failing webhook, the state surviving a restart, and rules through the API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};

use clio_e2e::harness::{Server, wait_until};
use serde_json::Value;

/// A webhook receiver: records every JSON body it accepts; the first `fail_first` requests
/// are answered 500 (not recorded) so the sender has to retry.
struct Receiver {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<usize>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let (acc, refd) = (accepted.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                if r.read_exact(&mut body).is_err() {
                    continue;
                }
                let fail = {
                    let mut n = refd.lock().unwrap();
                    if *n < fail_first {
                        *n += 1;
                        true
                    } else {
                        false
                    }
                };
                let status = if fail {
                    "500 Internal Server Error"
                } else {
                    acc.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    "204 No Content"
                };
                let _ = s.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Receiver {
            addr,
            accepted,
            refused,
        }
    }

    fn states(&self, rule: &str) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["rule"] == rule)
            .map(|v| v["state"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn write_kiln(s: &Server, value: f64, at: i64) {
    let body: String = (0..3)
        .map(|i| format!("kiln,line=1 temp={value} {}\n", at + i))
        .collect();
    let r = s.http("POST", "/write?db=x&precision=ms", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
}

fn config(dir: &Path, webhook: SocketAddr) -> std::path::PathBuf {
    let p = dir.join("clio.toml");
    std::fs::write(
        &p,
        format!(
            r##"[alerts]
interval = "200ms"
webhook_url = "http://{webhook}/hook"
webhook_backoff_ms = 50
webhook_retries = 5

[[alerts.rules]]
name = "kiln-hot"
pattern = "kiln,* temp"
function = "avg"
args = "#3"
op = ">"
threshold = 1600
for = "1s"
severity = "critical"
"##
        ),
    )
    .unwrap();
    p
}

/// Waits for at least `rounds` evaluation rounds after now.
fn wait_rounds(s: &Server, rounds: i64) {
    let after = now_ms() + rounds * 200;
    wait_until("evaluation rounds", 60, || {
        s.get_json("/api/v1/alerts", 200)["last_evaluation"]
            .as_i64()
            .unwrap_or(0)
            > after
    });
}

#[test]
fn a_pattern_rule_goes_pending_firing_resolved_over_a_retried_webhook_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hook = Receiver::start(2);
    let cfg = config(dir.path(), hook.addr);
    let cfg_arg = cfg.to_str().unwrap();
    let s = Server::start(&data, &["--config", cfg_arg]);
    let rules = s.get_json("/api/v1/alerts/rules", 200);
    assert_eq!(rules["rules"][0]["source"], "config", "{rules}");

    let t0 = now_ms();
    write_kiln(&s, 1700.0, t0);
    // The first two deliveries are refused: `pending` arrives on the third attempt.
    wait_until("pending then firing at the webhook", 60, || {
        hook.states("kiln-hot") == ["pending", "firing"]
    });
    assert_eq!(*hook.refused.lock().unwrap(), 2);
    let (pending, firing) = {
        let a = hook.accepted.lock().unwrap();
        (a[0].clone(), a[1].clone())
    };
    assert_eq!(firing["key"], "kiln,line=1 temp");
    assert_eq!(firing["value"], 1700.0);
    assert_eq!(firing["severity"], "critical");
    assert!(
        firing["at"].as_i64().unwrap() - pending["at"].as_i64().unwrap() >= 1000,
        "fired before `for` elapsed: {pending} {firing}"
    );
    let list = s.get_json("/api/v1/alerts", 200);
    assert_eq!(list["firing"], 1, "{list}");
    assert_eq!(list["alerts"][0]["state"], "firing");
    let since = list["alerts"][0]["since"].clone();
    let metrics = s.http("GET", "/metrics", b"", &[]).text();
    assert!(metrics.contains("clio_alerts_firing 1"), "{metrics}");
    assert!(
        metrics.contains("clio_alert_webhook_failures_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("clio_alert_evaluation_duration_seconds_count"));
    assert_eq!(s.terminate().code(), Some(0));
    assert!(data.join("alerts.json").is_file());

    // After a restart the alert is still firing, since the same time, and nothing is
    // notified again.
    let s = Server::start(&data, &["--config", cfg_arg]);
    wait_rounds(&s, 5);
    let list = s.get_json("/api/v1/alerts", 200);
    assert_eq!(list["firing"], 1, "{list}");
    assert_eq!(list["alerts"][0]["since"], since);
    assert_eq!(hook.states("kiln-hot"), ["pending", "firing"]);

    // Cooler points: the 3-point average drops below the threshold and the alert resolves.
    write_kiln(&s, 100.0, now_ms());
    wait_until("resolved at the webhook", 60, || {
        hook.states("kiln-hot") == ["pending", "firing", "resolved"]
    });
    let list = s.get_json("/api/v1/alerts", 200);
    assert_eq!(list["firing"], 0, "{list}");
    assert_eq!(list["resolved"][0]["rule"], "kiln-hot");
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn rules_added_through_the_api_fire_persist_and_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hook = Receiver::start(0);
    let cfg = config(dir.path(), hook.addr);
    let cfg_arg = cfg.to_str().unwrap();
    let s = Server::start(&data, &["--config", cfg_arg]);
    let post =
        |s: &Server, body: &str| s.http("POST", "/api/v1/alerts/rules", body.as_bytes(), &[]);
    // Any file system has less than 100 % free: this health rule fires at once.
    let rule = r#"{"name": "disk", "kind": "disk_free", "threshold": 100, "for": "0s"}"#;
    let r = post(&s, rule);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(post(&s, rule).status, 409, "duplicate name");
    let r = post(&s, r#"{"name": "x", "kind": "disk_free"}"#);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("threshold is required"), "{}", r.text());
    let r = post(
        &s,
        r#"{"name": "y", "series": 1, "function": "nope", "threshold": 1}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("no history function `nope`"),
        "{}",
        r.text()
    );
    assert_eq!(post(&s, r#"{"name": "z", "colour": "red"}"#).status, 400);
    assert_eq!(
        s.http("DELETE", "/api/v1/alerts/rules/kiln-hot", b"", &[])
            .status,
        409,
        "configured rules live in the file"
    );
    assert_eq!(
        s.http("DELETE", "/api/v1/alerts/rules/none", b"", &[])
            .status,
        404
    );
    wait_until("disk alert firing at the webhook", 60, || {
        hook.states("disk") == ["firing"]
    });
    let fired = hook.accepted.lock().unwrap()[0].clone();
    assert_eq!(fired["kind"], "disk_free");
    assert!(fired["value"].as_f64().unwrap() < 100.0);
    assert_eq!(s.terminate().code(), Some(0));

    let s = Server::start(&data, &["--config", cfg_arg]);
    let rules = s.get_json("/api/v1/alerts/rules", 200);
    assert_eq!(rules["rules"][1]["name"], "disk", "{rules}");
    assert_eq!(rules["rules"][1]["source"], "api");
    assert_eq!(
        s.http("DELETE", "/api/v1/alerts/rules/disk", b"", &[])
            .status,
        204
    );
    wait_until("disk alert resolved at the webhook", 60, || {
        hook.states("disk") == ["firing", "resolved"]
    });
    assert_eq!(
        s.get_json("/api/v1/alerts/rules", 200)["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.terminate().code(), Some(0));
}
