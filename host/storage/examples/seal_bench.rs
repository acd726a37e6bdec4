//! The cost of encryption at rest per item: seal and open of a chunk-sized body (2 KiB, the
//! size of a full compressed chunk) and of a log record of a 5,000-point write (≈ 125 KiB).
//! `cargo run --release -p clio-storage --example seal_bench` (BENCHMARKS.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use clio_storage::sealing::{DataKey, Keyring, chunk_aad};

fn main() {
    let keys = Keyring::new(DataKey::generate(), vec![]);
    for (what, size, n) in [
        ("chunk body 2 KiB", 2048usize, 200_000usize),
        ("log record 125 KiB", 125 << 10, 4_000),
    ] {
        let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let aad = chunk_aad(7, 1_700_000_000_000);
        let t = Instant::now();
        let mut sealed = Vec::new();
        for _ in 0..n {
            sealed = keys.seal(&aad, &body);
        }
        let seal = t.elapsed().as_secs_f64() / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            let plain = keys.open(&aad, &sealed).unwrap();
            assert_eq!(plain.len(), size);
        }
        let open = t.elapsed().as_secs_f64() / n as f64;
        println!(
            "{what}: seal {:.2} us ({:.0} MB/s), open {:.2} us ({:.0} MB/s)",
            seal * 1e6,
            size as f64 / seal / 1e6,
            open * 1e6,
            size as f64 / open / 1e6
        );
    }
}
