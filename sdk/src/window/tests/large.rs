//! Windows larger than one answer: read whole, allocated once, streamed in chunks, scanned
//! by time or read by count, always exactly the reference window.

use super::hosts::counting;
use super::*;

#[test]
fn big_windows_are_read_whole_in_chunks() {
    // The host answers at most 1000 points per call; windows of 250k points still arrive
    // whole, by count and by time.
    let n = 250_000_i64;
    let h = MemHistory::new(NOW)
        .with_points((0..n).map(|i| (NOW - (n - i) * 10, i as f64)))
        .with_answer_cap(1000);
    let p = Window::parse(Some("#250000"), None)
        .unwrap()
        .fetch(&h)
        .unwrap()
        .unwrap();
    assert_eq!(p.len(), n as usize);
    assert!(p.timestamps().windows(2).all(|w| w[0] < w[1]));
    assert!(!p.truncated());
    let p = Window::parse(Some(&format!("{}", n * 10)), None)
        .unwrap()
        .fetch(&h)
        .unwrap()
        .unwrap();
    assert_eq!(p.len(), n as usize);
    assert_eq!(p.numbers()[0], 0.0);
    assert_eq!(p.numbers()[n as usize - 1], (n - 1) as f64);
    // More than CHUNK through the real chunk size, uncapped host.
    let h = MemHistory::new(NOW).with_points((0..n).map(|i| (NOW - (n - i) * 10, 1.0)));
    let p = Window::parse(Some("#200000"), Some("#10"))
        .unwrap()
        .fetch(&h)
        .unwrap()
        .unwrap();
    assert_eq!(p.len(), 200_000);
    assert_eq!(*p.timestamps().last().unwrap(), NOW - 11 * 10);
}

#[test]
fn streaming_and_fetch_see_exactly_the_reference_window() {
    let n = 5_000;
    for cap in [u64::MAX, 1000, 333, 7] {
        let h = irregular(n).with_answer_cap(cap);
        for (num, shift) in forms(n) {
            let w = Window::parse(Some(&num), Some(&shift)).unwrap();
            let want = reference_fetch(&w, &h);
            let what = format!("cap {cap}, ({num}, {shift})");
            assert_eq!(w.fetch(&h).unwrap(), want, "fetch {what}");
            let (got, sizes) = streamed(&w, &h);
            assert_eq!(got, want, "stream {what}");
            let limit = usize::try_from(cap.min(CHUNK)).unwrap();
            assert!(sizes.iter().all(|&s| s <= limit), "{what}: {sizes:?}");
            if cap == 7 && want.as_ref().is_some_and(|p| p.len() > 100) {
                assert!(sizes.len() > 10, "{what}: several chunks expected");
            }
        }
    }
}

#[test]
fn the_real_chunk_size_splits_windows() {
    // No cap: the host answers CHUNK points. A count window of 2.5 chunks comes in 3
    // (the oldest, partial one first); a time window in slices of half a chunk, sized from
    // the density of the newest chunk.
    let c = CHUNK as usize;
    let n = 2 * CHUNK as i64 + CHUNK as i64 / 2;
    let h = MemHistory::new(NOW).with_points((0..n).map(|i| (NOW - (n - i), i as f64 * 0.3)));
    for (num, shift, want) in [
        (format!("#{n}"), "", vec![c / 2, c, c]),
        (format!("#{}", n - 10), "#5", vec![c / 2 - 10, c, c]),
        (format!("{n}"), "", vec![c / 2; 5]),
    ] {
        let w = Window::parse(Some(&num), Some(shift)).unwrap();
        let (got, sizes) = streamed(&w, &h);
        assert_eq!(got, reference_fetch(&w, &h), "{num}");
        assert_eq!(sizes, want, "{num}");
    }
}

#[test]
fn scans_adapt_to_sparse_and_dense_stretches() {
    // A sparse past (20 points a day apart) before a dense present (5000 points 1 ms
    // apart), answers of at most 100: the slices start 50 ms wide, grow across the sparse
    // days in a few doublings, shrink where the data turns dense, and every point is
    // visited once, in order, in far fewer reads than one per millisecond.
    let day = 86_400_000;
    let sparse = (0..20).map(|i| (NOW - 10_000 - (20 - i) * day, 1.0));
    let dense = (0..5000).map(|i| (NOW - 5000 + i, 2.0));
    let h = counting(
        MemHistory::new(NOW)
            .with_points(sparse.chain(dense))
            .with_answer_cap(100),
    );
    let w = Window::parse(Some("30d"), None).unwrap();
    let (got, sizes) = streamed(&w, &h);
    assert_eq!(got, reference_fetch(&w, &*h.inner.borrow()));
    assert_eq!(got.map(|p| p.len()), Some(5020));
    assert!(sizes.iter().all(|&s| s <= 100), "{sizes:?}");
    let reads = h.reads.get();
    eprintln!("sparse then dense: {reads} reads");
    assert!((100..250).contains(&reads), "{reads} reads");

    // The other way round: a dense past under a sparse present. The first slice, sized
    // from the sparse newest answer, overflows and is read again narrower.
    let dense = (0..5000).map(|i| (NOW - 10 * day + i, 2.0));
    let sparse = (0..200).map(|i| (NOW - (200 - i) * 1_000_000, 1.0));
    let h = counting(
        MemHistory::new(NOW)
            .with_points(dense.chain(sparse))
            .with_answer_cap(100),
    );
    let w = Window::parse(Some("11d"), None).unwrap();
    let (got, sizes) = streamed(&w, &h);
    assert_eq!(got, reference_fetch(&w, &*h.inner.borrow()));
    assert_eq!(got.map(|p| p.len()), Some(5200));
    assert!(sizes.iter().all(|&s| s <= 100), "{sizes:?}");
    let reads = h.reads.get();
    eprintln!("dense then sparse: {reads} reads");
    assert!((104..250).contains(&reads), "{reads} reads");
}

#[test]
fn fetch_allocates_the_result_once() {
    let n = 10_000;
    let h = MemHistory::new(NOW)
        .with_points((0..n).map(|i| (NOW - (n - i) * 10, i as f64)))
        .with_answer_cap(999);
    for (num, len) in [
        ("#9000", 9000),
        ("#20000", 10_000),
        ("95000", 9500),
        ("#10000", 10_000),
    ] {
        let w = Window::parse(Some(num), None).unwrap();
        let p = w.fetch(&h).unwrap().unwrap();
        assert_eq!(p.len(), len, "{num}");
        assert_eq!(
            p.capacity(),
            p.len(),
            "{num}: reserved exactly, never regrown"
        );
    }
}

#[test]
fn streamed_count_windows_read_by_count_without_probes() {
    // 100 points, answers of at most 10. `#95`: the newest answer (kept, visited last),
    // then 85 older records in 11 pieces read oldest first: 12 reads, none a probe.
    let base = MemHistory::new(NOW)
        .with_points((0..100).map(|i| (NOW - 1000 + i * 10, i as f64)))
        .with_answer_cap(10);
    let w = Window::parse(Some("#95"), None).unwrap();
    let h = counting(base.clone());
    let (got, sizes) = streamed(&w, &h);
    assert_eq!(got, reference_fetch(&w, &base));
    // Pieces of 8: each read carries up to two records of overlap.
    assert_eq!(sizes, [5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 10]);
    assert_eq!(h.reads.get(), 12);
    // More records asked for than exist: the oldest piece comes back empty, one-record
    // probes find how many exist (binary search, 6 reads), and only those are read.
    let w = Window::parse(Some("#150"), Some("#3")).unwrap();
    let h = counting(base.clone());
    let (got, sizes) = streamed(&w, &h);
    assert_eq!(got, reference_fetch(&w, &base));
    assert_eq!(got.as_ref().map(Points::len), Some(97));
    assert_eq!(sizes, [7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 10]);
    assert_eq!(h.reads.get(), 20);
    // Strict: 97 of 150 is not well covered.
    let w = Window::parse(Some("!#150"), Some("#3")).unwrap();
    assert_eq!(streamed(&w, &base).0, None);
}

#[test]
fn a_count_window_far_larger_than_the_series_costs_few_reads() {
    // Found by the fuzz target `function_arguments`: `#1000000` over 200 records read every
    // missing piece (1M / 15 empty answers, seconds of CPU per call). Now the missing part is
    // measured with one-record probes (about log2 of the window) and the window is whole.
    let base = MemHistory::new(NOW)
        .with_points((0..200_i64).map(|i| (NOW - (200 - i) * 1_000, i as f64)))
        .with_answer_cap(17);
    for text in ["#1000000", "#18446744073709551615", "#250"] {
        let w = Window::parse(Some(text), None).unwrap();
        let h = counting(base.clone());
        let mut seen = Vec::new();
        let cov = w
            .for_each_chunk(&h, |c| {
                seen.extend_from_slice(c.timestamps());
                Ok(())
            })
            .unwrap();
        assert_eq!(cov.map(|c| c.points), Some(200), "{text}");
        assert_eq!(seen.len(), 200, "{text}");
        assert!(seen.windows(2).all(|p| p[0] < p[1]), "{text}");
        assert!(h.reads.get() < 100, "{text}: {} reads", h.reads.get());
        let whole = w.fetch(&counting(base.clone())).unwrap().unwrap();
        assert_eq!(whole.timestamps(), seen.as_slice(), "{text}");
    }
}
