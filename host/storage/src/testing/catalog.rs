//! Catalog checks: creating series (idempotent, a key owned by another id refused, settings
//! and metadata round-trip), getting and listing them under every `SeriesFilter` condition,
//! updating them, and deleting them together with their points and trends.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    NewSeries, Point, SeriesFilter, SeriesId, SeriesSettings, SeriesUpdate, StorageBackend,
    StorageError, Timestamp,
};

use super::support::{
    T0, assert_empty, assert_gone, assert_points, assert_trends, create, key, keyed_series,
    new_series, ok, read_all, sp, write,
};

/// Wall-clock time in milliseconds, to check `created` against.
fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

/// Catalog: create is idempotent (existing ids unchanged), a key owned by another id is
/// `InvalidInput`, get and list (ascending ids, every `SeriesFilter` condition) and
/// `load_catalog` agree, settings and metadata round-trip, `created` is a plausible wall-clock
/// time that never changes.
pub async fn check_catalog(b: &dyn StorageBackend) {
    let before = now_ms();
    let mut custom = SeriesSettings {
        keep_history_days: 7,
        keep_trends_days: 30,
        ..SeriesSettings::default()
    };
    custom.metadata.insert("unit".into(), "%".into());
    custom
        .metadata
        .insert("description".into(), "CPU \"usage\", per core ✓".into());
    let keyed = [
        (1, "cpu,host=a,region=eu usage"),
        (2, "cpu,host=b,region=eu usage"),
        (3, "cpu,host=a,region=us idle"),
        (4, "mem,host=a used"),
    ];
    // Created out of order, so that listing has to sort.
    let mut all = vec![NewSeries {
        id: SeriesId(100),
        key: None,
        settings: custom.clone(),
    }];
    all.push(new_series(5));
    for &(id, k) in keyed.iter().rev() {
        all.push(keyed_series(id, k));
    }
    ok(b.create_series(&all).await, "create_series");
    let after = now_ms();

    let s100 = ok(b.get_series(SeriesId(100)).await, "get_series(100)");
    let Some(s100) = s100 else {
        panic!("get_series(100) is None after create")
    };
    assert_eq!(s100.id, SeriesId(100));
    assert_eq!(s100.key, None, "series 100 has no key");
    assert_eq!(s100.settings, custom, "settings and metadata round-trip");
    let day = 86_400_000;
    assert!(
        (before - day..=after + day).contains(&s100.created),
        "created {} is not the wall-clock time of creation (~{before})",
        s100.created
    );
    for &(id, k) in &keyed {
        let got = ok(
            b.get_series(SeriesId(id)).await,
            format!("get_series({id})"),
        );
        let Some(got) = got else {
            panic!("get_series({id}) is None after create")
        };
        assert_eq!(got.key, Some(key(k)), "key of series {id}");
        assert_eq!(
            got.settings,
            SeriesSettings::default(),
            "default settings of {id}"
        );
    }
    assert_eq!(
        ok(b.get_series(SeriesId(6)).await, "get_series(6)"),
        None,
        "unknown id"
    );

    let list = |f: SeriesFilter| async move {
        let got = ok(b.list_series(&f).await, format!("list_series({f:?})"));
        got.iter().map(|s| s.id.0).collect::<Vec<u64>>()
    };
    let tags = |t: &[(&str, &str)]| -> Vec<(String, String)> {
        t.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        list(SeriesFilter::default()).await,
        [1, 2, 3, 4, 5, 100],
        "empty filter"
    );
    let by_meas = SeriesFilter {
        measurement: Some("cpu".into()),
        ..SeriesFilter::default()
    };
    assert_eq!(list(by_meas.clone()).await, [1, 2, 3], "measurement cpu");
    let by_tag = SeriesFilter {
        tags: tags(&[("host", "a")]),
        ..SeriesFilter::default()
    };
    assert_eq!(list(by_tag).await, [1, 3, 4], "tag host=a");
    let meas_tag = SeriesFilter {
        tags: tags(&[("region", "eu")]),
        ..by_meas.clone()
    };
    assert_eq!(list(meas_tag).await, [1, 2], "measurement cpu, region=eu");
    let two_tags = SeriesFilter {
        tags: tags(&[("region", "us"), ("host", "a")]),
        ..SeriesFilter::default()
    };
    assert_eq!(list(two_tags).await, [3], "tags host=a, region=us");
    let by_field = SeriesFilter {
        field: Some("usage".into()),
        ..SeriesFilter::default()
    };
    assert_eq!(list(by_field).await, [1, 2], "field usage");
    let all_three = SeriesFilter {
        measurement: Some("cpu".into()),
        tags: tags(&[("host", "a")]),
        field: Some("idle".into()),
    };
    assert_eq!(list(all_three).await, [3], "measurement, tag and field");
    let nothing = SeriesFilter {
        measurement: Some("disk".into()),
        ..SeriesFilter::default()
    };
    assert!(list(nothing).await.is_empty(), "unknown measurement");
    let no_tag = SeriesFilter {
        tags: tags(&[("dc", "x")]),
        ..SeriesFilter::default()
    };
    assert!(list(no_tag).await.is_empty(), "unknown tag");

    let mut catalog = ok(b.load_catalog().await, "load_catalog");
    catalog.sort_by_key(|s| s.id);
    let listed = ok(b.list_series(&SeriesFilter::default()).await, "list_series");
    assert_eq!(catalog, listed, "load_catalog and list_series disagree");

    // Idempotent: existing ids stay as they are, even when asked with other settings or a key.
    let again = vec![
        NewSeries {
            id: SeriesId(100),
            key: Some(key("other,x=y f")),
            settings: SeriesSettings::default(),
        },
        keyed_series(1, "cpu,host=a,region=eu usage"),
        new_series(6),
    ];
    ok(
        b.create_series(&again).await,
        "create_series again (idempotent)",
    );
    let s100b = ok(b.get_series(SeriesId(100)).await, "get_series(100)");
    assert_eq!(
        s100b,
        Some(s100.clone()),
        "re-creating an id must leave it unchanged"
    );
    assert!(
        ok(b.get_series(SeriesId(6)).await, "get_series(6)").is_some(),
        "a new id in a partly existing batch is created"
    );
    ok(b.create_series(&[]).await, "create_series(empty)");

    // A key that belongs to another id.
    match b
        .create_series(&[keyed_series(7, "cpu,region=eu,host=a usage")])
        .await
    {
        Err(StorageError::InvalidInput(_)) => {}
        other => panic!("creating id 7 with series 1's key: expected InvalidInput, got {other:?}"),
    }
    assert_eq!(
        ok(b.get_series(SeriesId(7)).await, "get_series(7)"),
        None,
        "the conflicting series must not be created"
    );
    let s1 = ok(b.get_series(SeriesId(1)).await, "get_series(1)");
    assert_eq!(
        s1.and_then(|s| s.key),
        Some(key("cpu,host=a,region=eu usage")),
        "series 1 keeps its key"
    );
}

/// `update_series` changes only what it names, removes metadata entries set to "", returns
/// what `get_series` then shows, keeps key and `created`, and is `NotFound` for unknown ids.
pub async fn check_catalog_update(b: &dyn StorageBackend) {
    let mut settings = SeriesSettings::default();
    settings.metadata.insert("unit".into(), "B".into());
    settings
        .metadata
        .insert("description".into(), "bytes".into());
    let ns = NewSeries {
        id: SeriesId(1),
        key: Some(key("mem,host=a used")),
        settings,
    };
    ok(b.create_series(&[ns]).await, "create_series");
    let Some(orig) = ok(b.get_series(SeriesId(1)).await, "get_series") else {
        panic!("series 1 missing after create")
    };

    let unchanged = ok(
        b.update_series(SeriesId(1), &SeriesUpdate::default()).await,
        "empty update",
    );
    assert_eq!(unchanged, orig, "an empty update changes nothing");

    let mut meta = BTreeMap::new();
    meta.insert("unit".to_owned(), String::new());
    meta.insert("owner".to_owned(), "ops team".to_owned());
    let upd = SeriesUpdate {
        keep_history_days: Some(3),
        keep_trends_days: None,
        metadata: Some(meta),
    };
    let got = ok(b.update_series(SeriesId(1), &upd).await, "update_series");
    let mut want = orig.clone();
    upd.apply(&mut want.settings);
    assert_eq!(got, want, "update_series result");
    assert_eq!(want.settings.keep_history_days, 3);
    assert_eq!(
        want.settings.keep_trends_days,
        orig.settings.keep_trends_days
    );
    assert_eq!(
        want.settings.metadata.get("unit"),
        None,
        "an empty metadata value removes the entry"
    );
    assert_eq!(
        ok(b.get_series(SeriesId(1)).await, "get_series after update"),
        Some(want.clone()),
        "get_series after update"
    );

    let upd2 = SeriesUpdate {
        keep_history_days: None,
        keep_trends_days: Some(0),
        metadata: None,
    };
    let got2 = ok(b.update_series(SeriesId(1), &upd2).await, "second update");
    upd2.apply(&mut want.settings);
    assert_eq!(got2, want, "second update");
    let cat = ok(b.load_catalog().await, "load_catalog");
    assert_eq!(cat, vec![want], "load_catalog shows the update");

    match b.update_series(SeriesId(2), &upd).await {
        Err(StorageError::NotFound(id)) => assert_eq!(id, SeriesId(2), "NotFound names the id"),
        other => panic!("update_series of an unknown id: expected NotFound, got {other:?}"),
    }
}

/// `delete_series` answers true then false, removes the entry from get, list and the catalog,
/// takes its points and trends with it (a re-created id starts empty), frees its key and
/// leaves other series alone.
pub async fn check_delete_series(b: &dyn StorageBackend) {
    let ns = [
        keyed_series(1, "cpu,host=a usage"),
        keyed_series(2, "cpu,host=b usage"),
    ];
    ok(b.create_series(&ns).await, "create_series");
    let pts: Vec<Point> = (0..300)
        .map(|i| Point::new(T0 + i * 60_000, i as f64))
        .collect();
    write(
        b,
        &[sp(1, pts.clone()), sp(2, pts.clone())],
        "delete_series",
    )
    .await;

    assert!(
        ok(b.delete_series(SeriesId(1)).await, "delete_series(1)"),
        "first delete → true"
    );
    assert!(
        !ok(b.delete_series(SeriesId(1)).await, "delete_series(1) again"),
        "second delete → false"
    );
    assert!(
        !ok(b.delete_series(SeriesId(999)).await, "delete_series(999)"),
        "unknown id → false"
    );
    assert_eq!(ok(b.get_series(SeriesId(1)).await, "get_series(1)"), None);
    let ids: Vec<u64> = ok(b.list_series(&SeriesFilter::default()).await, "list")
        .iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(ids, [2], "list after delete");
    let cat: Vec<u64> = ok(b.load_catalog().await, "load_catalog")
        .iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(cat, [2], "load_catalog after delete");
    assert_gone(b, 1, "after delete_series").await;

    // The other series is untouched.
    assert_points(
        &read_all(b, 2, "other").await,
        &pts,
        "series 2 after deleting 1",
    );
    assert_trends(b, 2, &pts, "series 2 after deleting 1").await;

    // The id comes back empty; the key is free for another id.
    ok(
        b.create_series(&[keyed_series(3, "cpu,host=a usage")])
            .await,
        "re-using a deleted series' key",
    );
    create(b, &[1]).await;
    assert_empty(b, 1, "re-created series").await;
    assert_empty(b, 3, "new series with the freed key").await;
}
