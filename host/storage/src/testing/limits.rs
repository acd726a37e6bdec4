//! The declared-capabilities profile: a backend may declare documented limits
//! ([`crate::Limits`]); for each declared limit this check makes sure it is enforced with an
//! `InvalidInput` error that says something, and that the refused call changed nothing (never
//! silent loss). What is not declared must simply work. Every other check runs unchanged
//! (only `check_edge_timestamps` leaves out timestamps a backend declares it cannot hold).

use std::fmt;

use crate::{Limits, Point, Result, SeriesId, StorageBackend, StorageError, Timestamp};

use super::support::{
    MAX, MIN, Model, T0, assert_model, assert_points, create, keyed_series, model_points, ok,
    read_all, sp, write_model,
};

/// Every declared limit is enforced with a clear error and without loss; undeclared ones are
/// not limits at all.
pub async fn check_declared_limits(b: &dyn StorageBackend) {
    let limits = b.capabilities().limits;
    timestamps(b, &limits).await;
    keyed_types(b, &limits).await;
    tag_set_deletes(b, &limits).await;
}

/// `r` must be an `InvalidInput` with a message.
fn refused<T: fmt::Debug>(r: Result<T>, ctx: &str) {
    match r {
        Err(StorageError::InvalidInput(m)) => {
            assert!(!m.trim().is_empty(), "{ctx}: the refusal says nothing")
        }
        Err(e) => panic!("{ctx}: a declared limit must be refused with InvalidInput, got {e:?}"),
        Ok(v) => panic!("{ctx}: a declared limit was not enforced: the call answered {v:?}"),
    }
}

async fn timestamps(b: &dyn StorageBackend, limits: &Limits) {
    let Some((lo, hi)) = limits.timestamps else {
        return;
    };
    assert!(
        lo <= T0 && T0 + 1_000_000 <= hi,
        "declared timestamp range [{lo}, {hi}] does not even hold present-day times"
    );
    create(b, &[1, 2]).await;
    let mut m = Model::new();
    write_model(
        b,
        1,
        (0..10)
            .map(|i| Point::new(T0 + i * 1000, i as f64))
            .collect(),
        &mut m,
        "limits: timestamps",
    )
    .await;
    let outside: Vec<Timestamp> = [lo.checked_sub(1), Some(MIN), hi.checked_add(1), Some(MAX)]
        .into_iter()
        .flatten()
        .filter(|t| !limits.holds_timestamp(*t))
        .collect();
    for bad in outside {
        let ctx = format!("limits: a point at {bad}, outside the declared [{lo}, {hi}]");
        let mut points = vec![Point::new(T0 + 500, 7.0), Point::new(bad, 1.0)];
        points.sort_by_key(|p| p.ts);
        let batch = [sp(2, vec![Point::new(T0, 3.0)]), sp(1, points)];
        refused(crate::write_points(b, &batch).await, &ctx);
        assert_model(b, 1, &m, &ctx).await;
        assert!(
            read_all(b, 2, &ctx).await.is_empty(),
            "{ctx}: the other series of the refused call was stored"
        );
    }
}

async fn keyed_types(b: &dyn StorageBackend, limits: &Limits) {
    ok(
        b.create_series(&[keyed_series(10, "limits,host=a value")])
            .await,
        "limits: create keyed series",
    );
    let mut m = Model::new();
    let ctx = "limits: keyed series";
    write_model(
        b,
        10,
        (0..4).map(|i| Point::new(T0 + i, i as f64)).collect(),
        &mut m,
        ctx,
    )
    .await;
    let cases: [(&str, Vec<Point>); 3] = [
        ("a string after numbers", vec![Point::new(T0 + 10, "s")]),
        (
            "numbers and strings in one write",
            vec![Point::new(T0 + 20, 1.0), Point::new(T0 + 21, "x")],
        ),
        (
            "a number overwritten by a string",
            vec![Point::new(T0, "x")],
        ),
    ];
    for (what, points) in cases {
        let ctx = format!("limits: keyed series, {what}");
        if limits.keyed_single_type {
            refused(crate::write_points(b, &[sp(10, points)]).await, &ctx);
        } else {
            write_model(b, 10, points, &mut m, &ctx).await;
        }
        assert_model(b, 10, &m, &ctx).await;
    }
}

async fn tag_set_deletes(b: &dyn StorageBackend, limits: &Limits) {
    let keys = [
        (20, "limits_del,host=c x"),
        (21, "limits_del,host=c y"),
        (22, "limits_del,host=d x"),
    ];
    let new: Vec<_> = keys.iter().map(|&(id, k)| keyed_series(id, k)).collect();
    ok(b.create_series(&new).await, "limits: create keyed series");
    let mut models = Vec::new();
    for &(id, _) in &keys {
        let mut m = Model::new();
        write_model(
            b,
            id,
            (0..100)
                .map(|i| Point::new(T0 + i * 1000, i as f64))
                .collect(),
            &mut m,
            "limits: deletes",
        )
        .await;
        models.push((id, m));
    }
    let check_all = |models: Vec<(u64, Model)>, ctx: String| async move {
        for (id, m) in &models {
            assert_points(
                &read_all(b, *id, &ctx).await,
                &model_points(m),
                &format!("{ctx}: series {id}"),
            );
        }
        models
    };

    // Series 22 has its tag set to itself: deleting from it always works.
    let (from, to) = (T0, T0 + 50_000);
    let n = ok(
        b.delete_points(SeriesId(22), from, to).await,
        "limits: delete_points of a series alone in its tag set",
    );
    assert_eq!(n, 50, "limits: points deleted from series 22");
    models[2].1.retain(|&ts, _| !(from..to).contains(&ts));
    let mut models = check_all(models, "limits: after deleting from series 22".into()).await;

    // Series 20 shares `limits_del,host=c` with 21.
    let ctx = "limits: delete_points of a series sharing its tag set";
    match b.delete_points(SeriesId(20), from, to).await {
        Ok(n) => {
            assert_eq!(n, 50, "{ctx}: points deleted");
            models[0].1.retain(|&ts, _| !(from..to).contains(&ts));
        }
        Err(e) if limits.deletes_per_tag_set => refused::<()>(Err(e), ctx),
        Err(e) => panic!("{ctx}: {e:?} (no limit declared)"),
    }
    models = check_all(models, ctx.into()).await;

    let ctx = "limits: delete_series of a series sharing its tag set";
    match b.delete_series(SeriesId(20)).await {
        Ok(gone) => {
            assert!(gone, "{ctx}: delete_series answered false");
            models.remove(0);
        }
        Err(e) if limits.deletes_per_tag_set => refused::<()>(Err(e), ctx),
        Err(e) => panic!("{ctx}: {e:?} (no limit declared)"),
    }
    check_all(models, ctx.into()).await;
}
