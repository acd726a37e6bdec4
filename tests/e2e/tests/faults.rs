//! Faults and hostile clients against the real binary (issue 19): exhausted id space, a full
//! disk, slow and idle connections, nested errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use clio_e2e::harness::Server;
use serde_json::{Value, json};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn series_id(s: &Server, query: &str) -> u64 {
    let list = s.get_json(&format!("/api/v1/series?{query}"), 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{query}: {list}");
    list[0]["id"].as_u64().unwrap()
}

fn points(s: &Server, id: u64) -> Value {
    s.get_json(&format!("/api/v1/series/{id}/points?last=100"), 200)["points"].clone()
}

/// Item 1: a write to the top numeric id used to wrap the key-id counter, so the next key
/// series got id 0, 1, … and shared ALEPIZ's series, across restarts.
#[test]
fn key_ids_and_numeric_ids_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t = now_ms() - 10_000;
    let r = s.http(
        "POST",
        "/api/v1/points",
        json!([{"series": 1, "ts": t, "value": 1.0}])
            .to_string()
            .as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for id in [u64::MAX, 1u64 << 48] {
        let r = s.http(
            "POST",
            "/api/v1/points",
            json!([{"series": id, "ts": t, "value": 9.0}])
                .to_string()
                .as_bytes(),
            &[],
        );
        assert_eq!(r.status, 400, "{id}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(&id.to_string()) && e.contains("2^48"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let r = s.http(
        "POST",
        "/write?db=x&precision=ms",
        format!("lp v=2 {t}\nlp2 v=3 {t}\n").as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let lp = series_id(&s, "measurement=lp");
    assert!(lp >= 1 << 48, "{lp}");
    assert_eq!(points(&s, 1), json!([[t, 1.0]]));
    assert_eq!(points(&s, lp), json!([[t, 2.0]]));
    assert!(s.terminate().success());

    // After a restart the allocator continues above the key series, never at 0.
    let s = Server::start(dir.path(), &[]);
    let r = s.http(
        "POST",
        "/write?db=x&precision=ms",
        format!("lp3 v=4 {t}\n").as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let lp3 = series_id(&s, "measurement=lp3");
    assert!(lp3 > lp, "{lp3} after {lp}");
    assert_eq!(points(&s, 1), json!([[t, 1.0]]));
    let all = s.get_json("/api/v1/series", 200);
    let ids: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.iter().filter(|&&i| i < 1 << 48).count(), 1, "{all}");
    assert!(s.terminate().success());
}
