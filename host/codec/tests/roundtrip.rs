//! Property tests: arbitrary valid input round-trips bit-exactly; arbitrary, truncated and
//! bit-flipped bytes never panic and never decode into invalid points.

mod support;

use std::collections::BTreeSet;

use clio_codec::{
    CodecError, FORMAT_VERSION, HEADER_LEN, MAX_CHUNK_POINTS, chunk_header, decode_chunk,
    encode_chunk,
};
use clio_storage::{Point, Value};
use proptest::prelude::*;

/// Any i64, with the extremes and their neighbourhoods over-represented.
fn ts_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => any::<i64>(),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0i64),
        2 => i64::MIN..i64::MIN + 1000,
        2 => i64::MAX - 1000..=i64::MAX,
        2 => -5000i64..5000,
    ]
}

/// Strictly ascending timestamps: arbitrary sets, or a regular grid with random jitter.
fn timestamps(max: usize) -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        prop::collection::btree_set(ts_strategy(), 1..max)
            .prop_map(|s: BTreeSet<i64>| s.into_iter().collect::<Vec<_>>()),
        (
            ts_strategy(),
            1i64..100_000,
            prop::collection::vec(0i64..3, 1..max)
        )
            .prop_map(|(start, step, jit)| {
                let mut out = Vec::with_capacity(jit.len());
                let mut t = start;
                for j in jit {
                    out.push(t);
                    // Stop rather than wrap: timestamps must keep ascending.
                    match t.checked_add(step + j) {
                        Some(n) => t = n,
                        None => break,
                    }
                }
                out
            }),
    ]
}

/// Finite f64s: arbitrary bit patterns, the awkward edge values, and short decimals.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits).prop_filter("finite", |v| v.is_finite()),
        2 => prop::sample::select(vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1.0,
            -1.0,
            i64::MAX as f64,
            (i64::MAX as f64).next_down(),
            i64::MIN as f64,
            (i64::MIN as f64).next_up(),
            1e300,
            0.1 + 0.2,
        ]),
        3 => (any::<i32>(), 0u32..12).prop_map(|(m, k)| f64::from(m) / 10f64.powi(k as i32)),
        2 => any::<i64>().prop_map(|m| m as f64),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::sample::select(vec!["", "OK", "ошибка", "🙂", "a\0b"]).prop_map(str::to_owned),
    ]
}

fn with_values(
    ts: Vec<i64>,
    values: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Vec<Point>> {
    let n = ts.len();
    prop::collection::vec(values, n).prop_map(move |vals| {
        ts.iter()
            .zip(vals)
            .map(|(&ts, value)| Point { ts, value })
            .collect()
    })
}

fn numeric_points() -> impl Strategy<Value = Vec<Point>> {
    timestamps(200).prop_flat_map(|ts| with_values(ts, number().prop_map(Value::Num)))
}

/// Series whose numbers share one decimal scale, so the decimal path is exercised with
/// arbitrary mantissas (including huge ones and an occasional -0.0 that forces a fallback).
fn decimal_points() -> impl Strategy<Value = Vec<Point>> {
    (timestamps(200), 0u32..10).prop_flat_map(|(ts, k)| {
        let p = 10f64.powi(k as i32);
        let v = prop_oneof![
            20 => (-100_000i64..100_000).prop_map(move |m| m as f64 / p),
            2 => any::<i64>().prop_map(move |m| m as f64 / p),
            1 => Just(-0.0),
        ];
        with_values(ts, v.prop_map(Value::Num))
    })
}

fn string_points() -> impl Strategy<Value = Vec<Point>> {
    timestamps(100).prop_flat_map(|ts| with_values(ts, string().prop_map(Value::Str)))
}

fn mixed_points() -> impl Strategy<Value = Vec<Point>> {
    timestamps(200).prop_flat_map(|ts| {
        with_values(
            ts,
            prop_oneof![number().prop_map(Value::Num), string().prop_map(Value::Str)],
        )
    })
}

fn any_points() -> impl Strategy<Value = Vec<Point>> {
    prop_oneof![
        numeric_points(),
        decimal_points(),
        string_points(),
        mixed_points()
    ]
}

/// Point lists compared by bit pattern, so -0.0 vs 0.0 and NaN payloads would count.
fn bits(points: &[Point]) -> Vec<(i64, Result<u64, &str>)> {
    points
        .iter()
        .map(|p| {
            let v = match &p.value {
                Value::Num(v) => Ok(v.to_bits()),
                Value::Str(s) => Err(s.as_str()),
            };
            (p.ts, v)
        })
        .collect()
}

fn assert_round_trip(points: &[Point]) -> Result<(), TestCaseError> {
    let bytes = encode_chunk(points).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back = decode_chunk(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(bits(&back), bits(points));
    let h = chunk_header(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(h.count as usize, points.len());
    prop_assert_eq!(h.first_ts, points[0].ts);
    prop_assert_eq!(h.last_ts, points[points.len() - 1].ts);
    // The encoding is deterministic, so decoded data re-encodes to the same bytes.
    prop_assert_eq!(
        encode_chunk(&back).map_err(|e| TestCaseError::fail(e.to_string()))?,
        bytes
    );
    Ok(())
}

/// Whatever decoding yields must satisfy the invariants encode_chunk demands.
fn assert_valid_if_ok(result: Result<Vec<Point>, CodecError>) -> Result<(), TestCaseError> {
    if let Ok(points) = result {
        prop_assert!(!points.is_empty() && points.len() <= MAX_CHUNK_POINTS);
        prop_assert!(points.windows(2).all(|w| w[0].ts < w[1].ts));
        prop_assert!(points.iter().all(|p| p.value.validate().is_ok()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn numbers_round_trip(points in numeric_points()) {
        assert_round_trip(&points)?;
    }

    #[test]
    fn decimals_round_trip(points in decimal_points()) {
        assert_round_trip(&points)?;
    }

    #[test]
    fn strings_round_trip(points in string_points()) {
        assert_round_trip(&points)?;
    }

    #[test]
    fn mixtures_round_trip(points in mixed_points()) {
        assert_round_trip(&points)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = chunk_header(&bytes);
        assert_valid_if_ok(decode_chunk(&bytes))?;
    }

    /// Random bodies behind a header that passes validation, so the body decoders (and the
    /// zstd path) see the garbage rather than the header check.
    #[test]
    fn plausible_header_with_random_body_never_panics(
        count in 1u32..64,
        first in any::<i64>(),
        zstd in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let first = first.min(i64::MAX - 1_000_000);
        let mut bytes = vec![FORMAT_VERSION, u8::from(zstd)];
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&first.to_le_bytes());
        bytes.extend_from_slice(&(first + i64::from(count) * 1000).to_le_bytes());
        prop_assert_eq!(bytes.len(), HEADER_LEN);
        bytes.extend_from_slice(&body);
        prop_assert!(chunk_header(&bytes).is_ok());
        assert_valid_if_ok(decode_chunk(&bytes))?;
    }

    #[test]
    fn truncated_chunks_are_errors(points in any_points(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_chunk(&points).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let len = cut.index(bytes.len());
        prop_assert!(decode_chunk(&bytes[..len]).is_err(), "prefix of {} / {} bytes decoded", len, bytes.len());
    }

    #[test]
    fn bit_flipped_chunks_never_panic(
        points in any_points(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let mut bytes = encode_chunk(&points).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (at, bit) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        let _ = chunk_header(&bytes);
        assert_valid_if_ok(decode_chunk(&bytes))?;
    }
}

#[test]
fn every_prefix_and_every_single_bit_flip_of_real_chunks_is_handled() {
    for points in [
        support::realistic(300, 3),
        support::mixed(300, 4),
        support::log_strings(50, 5),
    ] {
        let bytes = encode_chunk(&points).unwrap();
        for len in 0..bytes.len() {
            assert!(decode_chunk(&bytes[..len]).is_err(), "prefix {len}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let _ = chunk_header(&b);
                if let Ok(p) = decode_chunk(&b) {
                    assert!(p.windows(2).all(|w| w[0].ts < w[1].ts));
                    assert!(p.iter().all(|p| p.value.validate().is_ok()));
                }
            }
        }
    }
}
