//! Deterministic data generators shared by the integration tests and the benchmark.
#![allow(dead_code)] // each test binary uses a different subset

use clio_storage::{Point, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 2023-11-14T22:13:20Z, a plausible "now" for sensor data.
pub const T0: i64 = 1_700_000_000_000;

/// Timestamps every 10 s; 5 % of them jittered by ±1..=50 ms, as a polling agent produces.
pub fn jittered_ts(rng: &mut StdRng, n: usize) -> Vec<i64> {
    (0..n as i64)
        .map(|i| {
            let jitter = if rng.random_bool(0.05) {
                let j = rng.random_range(1..=50);
                if rng.random_bool(0.5) { j } else { -j }
            } else {
                0
            };
            T0 + i * 10_000 + jitter
        })
        .collect()
}

fn zip(ts: Vec<i64>, values: impl IntoIterator<Item = Value>) -> Vec<Point> {
    ts.into_iter()
        .zip(values)
        .map(|(ts, value)| Point { ts, value })
        .collect()
}

/// The "realistic" sensor: 20.00 plus a random walk in steps of ±0.01..=0.50, reported with
/// two decimals (the value a parser makes of the text "20.13" is exactly 2013 / 100).
pub fn realistic(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ts = jittered_ts(&mut rng, n);
    let mut cents: i64 = 2000;
    let values: Vec<Value> = (0..n)
        .map(|_| {
            let step = rng.random_range(1..=50);
            cents += if rng.random_bool(0.5) { step } else { -step };
            Value::Num(cents as f64 / 100.0)
        })
        .collect();
    zip(ts, values)
}

/// A byte counter: monotonically increasing integers, +0..=5000 per sample.
pub fn counter(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ts = jittered_ts(&mut rng, n);
    let mut c: u64 = 1_234_567_890;
    let values: Vec<Value> = (0..n)
        .map(|_| {
            c += rng.random_range(0..=5000);
            Value::Num(c as f64)
        })
        .collect();
    zip(ts, values)
}

/// A constant value on a perfectly regular 10 s grid.
pub fn constant(n: usize) -> Vec<Point> {
    (0..n as i64)
        .map(|i| Point::new(T0 + i * 10_000, 42.5))
        .collect()
}

/// A random walk kept at full f64 precision (no short decimal form): Gorilla territory.
pub fn full_precision_walk(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ts = jittered_ts(&mut rng, n);
    let mut v = 20.0f64;
    let values: Vec<Value> = (0..n)
        .map(|_| {
            v += rng.random_range(-0.5..0.5);
            Value::Num(v)
        })
        .collect();
    zip(ts, values)
}

/// Uniformly random finite bit patterns: the incompressible worst case.
pub fn random_bits(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ts = jittered_ts(&mut rng, n);
    let values: Vec<Value> = std::iter::repeat_with(|| f64::from_bits(rng.random()))
        .filter(|v| v.is_finite())
        .take(n)
        .map(Value::Num)
        .collect();
    zip(ts, values)
}

/// A status string that changes now and then.
pub fn status_strings(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ts = jittered_ts(&mut rng, n);
    let states = ["OK", "WARNING: disk 91% full", "CRITICAL: service down"];
    let mut s = 0;
    let values: Vec<Value> = (0..n)
        .map(|_| {
            if rng.random_bool(0.02) {
                s = rng.random_range(0..states.len());
            }
            Value::from(states[s])
        })
        .collect();
    zip(ts, values)
}

/// Log-like lines with a varying numeric part.
pub fn log_strings(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ts = jittered_ts(&mut rng, n);
    let values: Vec<Value> = (0..n)
        .map(|_| {
            let ms: u32 = rng.random_range(1..2000);
            let code = [200, 200, 200, 404, 500][rng.random_range(0..5)];
            Value::from(format!("GET /api/v1/items {code} {ms}ms"))
        })
        .collect();
    zip(ts, values)
}

/// Numbers with an occasional string (an agent reporting an error instead of a reading).
pub fn mixed(n: usize, seed: u64) -> Vec<Point> {
    let mut points = realistic(n, seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0xABCD);
    for p in &mut points {
        if rng.random_bool(0.01) {
            p.value = Value::from("timeout");
        }
    }
    points
}

/// Encoded size divided by point count.
pub fn bytes_per_point(points: &[Point]) -> f64 {
    let bytes = clio_codec::encode_chunk(points).expect("generators produce valid input");
    bytes.len() as f64 / points.len() as f64
}
