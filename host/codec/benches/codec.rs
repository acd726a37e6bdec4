//! Encode and decode throughput on 10 000 realistic sensor points (10 s interval with
//! jitter, two-decimal random walk). Prints bytes/point once before measuring.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use clio_codec::{decode_chunk, encode_chunk};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const N: usize = 10_000;

fn bench(c: &mut Criterion) {
    let points = support::realistic(N, 1);
    let bytes = encode_chunk(&points).expect("valid input");
    println!(
        "realistic {N} points: {} bytes, {:.3} bytes/point",
        bytes.len(),
        bytes.len() as f64 / N as f64
    );

    let mut g = c.benchmark_group("realistic_10k");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("encode", |b| b.iter(|| encode_chunk(black_box(&points))));
    g.bench_function("decode", |b| b.iter(|| decode_chunk(black_box(&bytes))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
