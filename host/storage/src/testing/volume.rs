//! Volume checks: many random writes compared with a model (deterministic seed), and 200,000
//! points across 50 series read back in full and by spot checks.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::{Point, SeriesPoints, StorageBackend, Timestamp, Value, WriteSummary};

use super::support::{
    Model, Rng, T0, assert_model, assert_points, assert_trends, create, model_last, model_range,
    read_all, read_last, read_range, sorted, sp, stats, write,
};

/// Random writes (numbers, numeric-like and other strings, new and replacing timestamps) to
/// several series, compared with a model after every few calls and by random range and last-N
/// queries at the end. Deterministic seed.
pub async fn check_random_model(b: &dyn StorageBackend) {
    let ids = [1u64, 2, 3, 4];
    create(b, &ids).await;
    let mut models: BTreeMap<u64, Model> = ids.iter().map(|&i| (i, Model::new())).collect();
    let mut rng = Rng::new(0xc110_5eed);
    let span = 3 * 86_400_000;
    for round in 0..40 {
        let mut batch = Vec::new();
        let mut expected = WriteSummary::default();
        for &id in &ids {
            if !rng.chance(0.6) {
                continue;
            }
            let Some(m) = models.get_mut(&id) else {
                continue;
            };
            let n = rng.range(1, 150);
            let stored: Vec<Timestamp> = m.keys().copied().collect();
            let pts = sorted(
                (0..n)
                    .map(|_| {
                        let ts = if !stored.is_empty() && rng.chance(0.2) {
                            stored[rng.below(stored.len() as u64) as usize]
                        } else {
                            T0 + rng.range(-span, span)
                        };
                        let r = rng.unit();
                        let value = if r < 0.8 {
                            Value::Num(rng.range(-1_000_000, 1_000_000) as f64 / 64.0)
                        } else if r < 0.9 {
                            Value::from(format!(" {} ", rng.range(-500, 500)))
                        } else {
                            Value::from(format!("s{}", rng.below(1000)))
                        };
                        Point { ts, value }
                    })
                    .collect(),
            );
            expected.points += pts.len() as u64;
            for p in &pts {
                if m.insert(p.ts, p.value.clone()).is_some() {
                    expected.replaced += 1;
                }
            }
            batch.push(sp(id, pts));
        }
        let s = write(b, &batch, &format!("random round {round}")).await;
        assert_eq!(
            (s.points, s.replaced),
            (expected.points, expected.replaced),
            "random round {round}: summary"
        );
        if round % 8 == 7 {
            for (&id, m) in &models {
                assert_model(b, id, m, &format!("random round {round}")).await;
            }
        }
    }
    for (&id, m) in &models {
        assert_model(b, id, m, "random end").await;
        let s = stats(b, id, "random end").await;
        assert_eq!(
            (s.points, s.first_ts, s.last_ts),
            (
                m.len() as u64,
                m.keys().next().copied(),
                m.keys().next_back().copied()
            ),
            "series {id} stats"
        );
        for q in 0..50 {
            let from = T0 + rng.range(-span - 1000, span);
            let to = from + rng.range(0, span / 4);
            let limit = if rng.chance(0.5) {
                usize::MAX
            } else {
                rng.below(100) as usize
            };
            assert_points(
                &read_range(b, id, from, to, limit, "random").await,
                &model_range(m, from, to, limit),
                &format!("series {id} random read_range #{q} [{from}, {to}) limit {limit}"),
            );
            let n = rng.below(60) as usize;
            let before = T0 + rng.range(-span - 1000, span + 1000);
            assert_points(
                &read_last(b, id, n, before, "random").await,
                &model_last(m, n, before),
                &format!("series {id} random read_last #{q} (n {n}, before {before})"),
            );
        }
    }
}

/// 200,000 points across 50 series in 20 calls, then full counts, stats, spot checks by range
/// and last-N, and trends of a few series.
pub async fn check_large_volume(b: &dyn StorageBackend) {
    const SERIES: u64 = 50;
    const ROUNDS: i64 = 20;
    const PER_ROUND: i64 = 200;
    const STEP: i64 = 15_000;
    let ids: Vec<u64> = (1..=SERIES).collect();
    create(b, &ids).await;
    let value = |id: u64, i: i64| -> Value {
        if i % 97 == 0 {
            Value::from(format!("event {id}/{i}"))
        } else {
            Value::Num(id as f64 * 1e6 + i as f64 * 0.5)
        }
    };
    let point = |id: u64, i: i64| Point {
        ts: T0 + i * STEP + id as i64,
        value: value(id, i),
    };
    let t = Instant::now();
    for r in 0..ROUNDS {
        let batch: Vec<SeriesPoints> = ids
            .iter()
            .map(|&id| {
                sp(
                    id,
                    (r * PER_ROUND..(r + 1) * PER_ROUND)
                        .map(|i| point(id, i))
                        .collect(),
                )
            })
            .collect();
        let s = write(b, &batch, &format!("large round {r}")).await;
        assert_eq!(
            (s.points, s.replaced),
            ((SERIES as i64 * PER_ROUND) as u64, 0),
            "large round {r} summary"
        );
    }
    let write_time = t.elapsed();
    let total = ROUNDS * PER_ROUND;
    let mut rng = Rng::new(0x1a26e);
    let t = Instant::now();
    let mut count = 0usize;
    for &id in &ids {
        let all = read_all(b, id, "large").await;
        count += all.len();
        assert_eq!(all.len() as i64, total, "series {id}: full range count");
        let s = stats(b, id, "large").await;
        assert_eq!(
            (s.points, s.first_ts, s.last_ts),
            (
                total as u64,
                Some(point(id, 0).ts),
                Some(point(id, total - 1).ts)
            ),
            "series {id} stats"
        );
        assert!(s.bytes > 0, "series {id}: bytes");
        for _ in 0..3 {
            let i = rng.range(0, total);
            let j = (i + rng.range(1, 300)).min(total);
            let want: Vec<Point> = (i..j).map(|k| point(id, k)).collect();
            assert_points(
                &read_range(
                    b,
                    id,
                    point(id, i).ts,
                    point(id, j - 1).ts + 1,
                    usize::MAX,
                    "large",
                )
                .await,
                &want,
                &format!("series {id} range of points {i}..{j}"),
            );
            let n = rng.range(1, 50);
            let want: Vec<Point> = ((i - n).max(0)..i).map(|k| point(id, k)).collect();
            assert_points(
                &read_last(b, id, n as usize, point(id, i).ts, "large").await,
                &want,
                &format!("series {id} {n} points before point {i}"),
            );
        }
        if id % 10 == 1 {
            let expected: Vec<Point> = (0..total).map(|k| point(id, k)).collect();
            assert_trends(b, id, &expected, "large volume").await;
        }
    }
    assert_eq!(count as u64, SERIES * total as u64, "total points");
    eprintln!(
        "storage conformance: large volume wrote {count} points in {write_time:?}, verified in {:?}",
        t.elapsed()
    );
}
