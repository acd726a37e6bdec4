//! The fuzz targets on stable, bounded: every input of the kept corpus
//! (`fuzz/corpus/<target>/`, which also holds every input that once found a bug), then
//! `CLIO_FUZZ_ITERS` (default 3000) seeded random mutations of it per target. A panic is
//! reported with the input as a byte string, to be added to the corpus with its fix.
//! `CLIO_FUZZ_SEED` picks another seed (the default is fixed, so a run is repeatable).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;

use clio_fuzz_targets::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that matter to some decoder: separators, quotes, escapes, frame magic, extremes.
const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\n",
    b"\r",
    b",",
    b"=",
    b" ",
    b"\"",
    b"\\",
    b"'",
    b"#",
    b"-",
    b"e",
    b"i",
    b"u",
    b".",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b"AlPz\x01",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\x7f",
    b"\x01\x00\x00\x00",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"1e309",
    b"NaN",
    b"\xc3\xa9",
    b"\xe2\x82",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let s = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, s.iter().copied());
            }
            3 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                let start = at.min(end);
                v.drain(start..end);
            }
            4 if !v.is_empty() => {
                // Repeat a slice (long lines, many fields, nested brackets).
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(32)).min(v.len());
                let piece = v[start..end].repeat(1 + rng.below(8));
                v.splice(at..at, piece);
            }
            5 if !corpus.is_empty() => {
                // Splice in part of another input.
                let other = &corpus[rng.below(corpus.len())];
                let start = rng.below(other.len() + 1);
                let end = (start + rng.below(64)).min(other.len());
                v.splice(at..at, other[start..end].iter().copied());
            }
            6 => v.truncate(at),
            _ => {
                // Overwrite four bytes with an extreme little-endian number (lengths, counts).
                let n: u32 = [0, 1, 0x7fff_ffff, u32::MAX, 13, 65_536][rng.below(6)];
                for (k, b) in n.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = v.get_mut(at + k) {
                        *slot = b;
                    }
                }
            }
        }
    }
    v.truncate(64 * 1024);
    v
}

/// Binary seeds made by Clio's own encoders (chunks, log records), written into the
/// corpus when `CLIO_FUZZ_WRITE_SEEDS=1` (they are kept in git; this regenerates them after
/// a format change).
#[test]
fn binary_seeds_are_in_the_corpus() {
    use clio_storage::{Point, Value};
    let nums: Vec<Point> = (0..50)
        .map(|i| Point::new(1_700_000_000_000 + i * 1000, Value::Num(i as f64 * 0.25)))
        .collect();
    let strs: Vec<Point> = (0..5)
        .map(|i| Point::new(1_700_000_000_000 + i, Value::Str(format!("s{i}"))))
        .collect();
    let seeds = [
        (
            "chunk_decoding",
            "numbers",
            clio_codec::encode_chunk(&nums).unwrap(),
        ),
        (
            "chunk_decoding",
            "strings",
            clio_codec::encode_chunk(&strs).unwrap(),
        ),
        (
            "log_records",
            "sample",
            clio_core::fuzzing::sample_log_segment(),
        ),
    ];
    let write = std::env::var("CLIO_FUZZ_WRITE_SEEDS").is_ok_and(|v| v == "1");
    for (target, name, bytes) in seeds {
        let path = corpus_dir(target).join(name);
        if write {
            std::fs::create_dir_all(corpus_dir(target)).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).ok().as_deref(),
            Some(bytes.as_slice()),
            "{} is stale: run with CLIO_FUZZ_WRITE_SEEDS=1",
            path.display()
        );
    }
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let iters: usize = std::env::var("CLIO_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("CLIO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00c1_10f0_22ed);
    // A panic inside a target is the finding: keep its message, report the input.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let corpus = corpus(name);
        assert!(!corpus.is_empty(), "no corpus for {name}");
        let mut rng = Rng(seed ^ (name.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let inputs = corpus.iter().cloned().chain((0..iters).map(|_| {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus)
        }));
        let mut runs = 0;
        let started = std::time::Instant::now();
        let mut slowest = (std::time::Duration::ZERO, 0usize);
        for input in inputs {
            let one = std::time::Instant::now();
            runs += 1;
            if let Err(e) = std::panic::catch_unwind(|| target(&input)) {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!(
                    "{name}: {why}\n  input: b\"{}\"",
                    input.escape_ascii()
                ));
                break;
            }
            // A slow input is a finding too (a request that pins a core): over a second in a
            // debug build is far beyond any legitimate input of this size.
            if one.elapsed() > std::time::Duration::from_secs(1) {
                failures.push(format!(
                    "{name}: {:?} for one input\n  input: b\"{}\"",
                    one.elapsed(),
                    input.escape_ascii()
                ));
                break;
            }
            if one.elapsed() > slowest.0 {
                slowest = (one.elapsed(), input.len());
            }
        }
        eprintln!(
            "{name}: {runs} inputs in {:?} (slowest {:?}, {} bytes)",
            started.elapsed(),
            slowest.0,
            slowest.1
        );
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
