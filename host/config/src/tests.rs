//! Parsing and validation of whole configuration files.

use std::time::Duration;

use super::*;

#[test]
fn every_shipped_config_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            Config::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 1, "no config files found in {}", dir.display());
}

#[test]
fn default_toml_matches_built_in_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
    let file = Config::load(&dir).unwrap();
    let builtin = Config::default();
    assert_eq!(format!("{file:?}"), format!("{builtin:?}"));
}

#[test]
fn plugin_limits_parse_and_validate() {
    let c = Config::from_toml(
        "[plugins]\ndir = \"p\"\nfuel = 7\n[plugins.limits.forecast]\ncall_timeout_ms = 500",
    )
    .unwrap();
    assert_eq!(c.plugins.dir, "p");
    assert_eq!(c.plugins.fuel, 7);
    assert_eq!(c.plugins.limits["forecast"].call_timeout_ms, Some(500));
    assert_eq!(c.plugins.limits["forecast"].memory_mb, None);
    let e =
        Config::from_toml("[plugins]\nallocator = \"magic\"\n[plugins.limits.avg]\nmemory_mb = 0")
            .unwrap_err()
            .to_string();
    assert!(
        e.contains("magic") && e.contains("plugins.limits.avg.memory_mb"),
        "{e}"
    );
}

#[test]
fn flush_priority_is_named_and_reaches_the_engine_and_sqlite() {
    use clio_storage::priority::Priority;
    assert_eq!(Config::default().cache.flush_priority, Priority::Low);
    let c = Config::from_toml("[cache]\nflush_priority = \"idle\"").unwrap();
    assert_eq!(c.cache.flush_priority, Priority::Idle);
    assert_eq!(c.engine_options().flush_priority, Priority::Idle);
    let e = Config::from_toml("[cache]\nflush_priority = \"high\"").unwrap_err();
    let e = e.to_string();
    assert!(e.contains("flush_priority") && e.contains("high"), "{e}");
}

#[test]
fn warm_up_keys_reach_the_engine() {
    let d = Config::default();
    assert!(d.cache.warm_up && d.engine_options().warm_up);
    assert_eq!(d.cache.warm_up_wait_seconds, 5);
    let c = Config::from_toml("[cache]\nwarm_up = false\nwarm_up_wait_seconds = 0").unwrap();
    assert!(!c.engine_options().warm_up);
    assert_eq!(c.cache.warm_up_wait_seconds, 0);
    let e = Config::from_toml("[cache]\nwarm_up_wait_seconds = -1").unwrap_err();
    assert!(e.to_string().contains("warm_up_wait_seconds"), "{e}");
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let e = Config::from_toml("[cache]\ninit_cached_record = 5").unwrap_err();
    assert!(e.to_string().contains("init_cached_record"), "{e}");
    let e = Config::from_toml("colour = 1").unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}

#[test]
fn invalid_combinations_are_all_listed() {
    let e =
        Config::from_toml("[[storage.backends]]\nname = \"a\"\ntype = \"sqlite\"\nrole = \"boss\"\n[cache]\ninit_cached_records = 0")
            .unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("boss") && s.contains("init_cached_records"),
        "{s}"
    );
}

#[test]
fn glass_ai_tiers_are_expressible() {
    let c = Config::from_toml(
        r#"
[housekeeper]
policy = "tiered"
[[housekeeper.tiers]]
measurement = "sensor"
raw_days = 30
trend_days = { "1h" = 180, "1d" = 365 }
"#,
    )
    .unwrap();
    assert_eq!(c.housekeeper.tiers[0].raw_days, 30);
    assert_eq!(c.housekeeper.policy().name(), "tiered");
    let json: serde_json::Value =
        serde_json::from_str(&c.housekeeper.policy_config_json()).unwrap();
    assert_eq!(json["tiers"][0]["raw_days"], 30);
    assert_eq!(json["tiers"][0]["trend_days"]["1h"], 180);
    let e = Config::from_toml("[housekeeper]\npolicy = \"tiered\"").unwrap_err();
    assert!(e.to_string().contains("tiers"), "{e}");
}

#[test]
fn engine_options_follow_the_file() {
    let c = Config::from_toml(
        "[wal]\nsync = \"off\"\n[ingest]\ntimestamp_max_time_diff = 0\n[cache]\ncache_service_interval = 7",
    )
    .unwrap();
    let o = c.engine_options();
    assert_eq!(o.wal_sync, SyncMode::Off);
    assert_eq!(o.timestamp_max_past, None);
    assert_eq!(o.cache_service_interval, Duration::from_secs(7));
    assert_eq!(o.timestamp_max_future, Some(Duration::from_secs(60)));
}

/// Numbers that become durations (per request, at start, per plugin call) are bounded where
/// the conversion or the arithmetic after it would overflow: such a file used to be accepted
/// and then panic (`slow_query_sec = 1e20` on every request) or wrap.
#[test]
fn numbers_that_become_durations_are_bounded() {
    for (text, names) in [
        ("[server]\nslow_query_sec = 1e20", "server.slow_query_sec"),
        (
            "[backup]\nwarn_after_hours = 18446744073709551615",
            "backup.warn_after_hours",
        ),
        (
            "[plugins]\ncall_timeout_ms = 18446744073709551615",
            "plugins.call_timeout_ms",
        ),
        (
            "[plugins.limits.avg]\ncall_timeout_ms = 3600001",
            "plugins.limits.avg.call_timeout_ms",
        ),
    ] {
        let e = Config::from_toml(text).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(names), "{text}: {e}");
    }
    // The largest accepted values convert without panicking.
    let c = Config::from_toml(
        "[server]\nslow_query_sec = 31536000.0\n[backup]\nwarn_after_hours = 876000\n\
         [plugins]\ncall_timeout_ms = 3600000",
    )
    .unwrap();
    let _ = Duration::from_secs_f64(c.server.slow_query_sec);
    let _ = Duration::from_secs(c.backup.warn_after_hours * 3600).as_millis() as i64;
}

/// Sizes in MiB become bytes by saturating: a shift dropped the high bits, so a huge
/// `wal.max_size_mb` (meant as "unlimited") became 0 bytes and every write was refused as
/// overloaded.
#[test]
fn huge_sizes_saturate_instead_of_wrapping() {
    let c = Config::from_toml(
        "[wal]\nsegment_size_mb = 17592186044416\nmax_size_mb = 17592186044416\n\
         [cache]\nflush_wal_mb = 17592186044416\n\
         [storage]\nreplica_max_log_mb = 17592186044416",
    )
    .unwrap();
    let o = c.engine_options();
    assert_eq!(o.max_wal_bytes, u64::MAX);
    assert_eq!(o.wal_segment_bytes, u64::MAX);
    assert_eq!(o.flush_wal_bytes, u64::MAX);
    assert_eq!(c.replication().1, u64::MAX);
}
