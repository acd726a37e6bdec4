//! Size targets on deterministic data. Run with `--nocapture` to see the table.

mod support;

use clio_codec::decode_chunk;
use clio_storage::Point;
use support::*;

fn measure(name: &str, points: &[Point]) -> f64 {
    let bpp = bytes_per_point(points);
    let bytes = clio_codec::encode_chunk(points).expect("valid input");
    assert_eq!(
        decode_chunk(&bytes).as_deref(),
        Ok(points),
        "{name} round trip"
    );
    println!(
        "{name:<28} {:>6} points {:>8.3} bytes/point",
        points.len(),
        bpp
    );
    bpp
}

#[test]
fn realistic_sensor_data_costs_at_most_two_bytes_per_point() {
    for n in [1000, 5000, 10_000] {
        for seed in 1..=3 {
            let bpp = measure(&format!("realistic n={n} seed={seed}"), &realistic(n, seed));
            assert!(bpp <= 2.0, "realistic n={n} seed={seed}: {bpp} bytes/point");
        }
    }
}

#[test]
fn other_shapes_stay_within_their_budgets() {
    let n = 10_000;
    // (name, data, budget in bytes/point): budgets sit a little above measured values so a
    // regression in any encoding path shows up here.
    let cases: Vec<(&str, Vec<Point>, f64)> = vec![
        ("constant", constant(n), 0.02),
        // Increments uniform in 0..=5000 carry log2(5001) ≈ 12.3 bits: ≥ 1.54 bytes/point.
        ("integer counter", counter(n, 7), 2.3),
        ("mixed 1% strings", mixed(n, 7), 1.3),
        ("full-precision walk", full_precision_walk(n, 7), 7.5),
        // Incompressible: 8 bytes of raw bits plus the jittered timestamps.
        ("random f64 bits", random_bits(n, 7), 8.3),
        ("status strings", status_strings(n, 7), 0.35),
        ("log strings", log_strings(n, 7), 4.2),
    ];
    for (name, points, budget) in cases {
        let bpp = measure(name, &points);
        assert!(bpp <= budget, "{name}: {bpp} bytes/point > {budget}");
    }
}
