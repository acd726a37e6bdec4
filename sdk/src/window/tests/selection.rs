//! What a window selects, for every form of `num` and `shift`, strict or not, and when it
//! asks for the evaluation time.

use super::hosts::CountsNow;
use super::*;

#[test]
fn fetch_forms() {
    let h = minutes();
    assert_eq!(fetch(&h, "#3", ""), Some(vec![8.0, 9.0, 10.0]));
    assert_eq!(fetch(&h, "#3", "#2"), Some(vec![6.0, 7.0, 8.0]));
    // The 2 newest records older than now − 2m: 10 is at now−1m, 9 at now−2m (not older).
    assert_eq!(fetch(&h, "#2", "2m"), Some(vec![7.0, 8.0]));
    // [now−3m, now): records at now−3m, −2m, −1m.
    assert_eq!(fetch(&h, "3m", ""), Some(vec![8.0, 9.0, 10.0]));
    assert_eq!(fetch(&h, "3m", "2m"), Some(vec![6.0, 7.0, 8.0]));
    // Period 0: newest at or before now − 2m includes the record exactly at now − 2m.
    assert_eq!(fetch(&h, "0", "2m"), Some(vec![9.0]));
    assert_eq!(fetch(&h, "0", ""), Some(vec![10.0]));
    assert_eq!(fetch(&h, "0", "#1"), Some(vec![9.0]));
    // f(period, #K): skip 2 → anchor is 8 at now−3m; (t − 2m, t] holds 7 and 8.
    assert_eq!(fetch(&h, "2m", "#2"), Some(vec![7.0, 8.0]));
    // Absolute, either order.
    let a = (NOW - 5 * 60_000).to_string();
    let b = (NOW - 3 * 60_000).to_string();
    assert_eq!(fetch(&h, &a, &b), Some(vec![6.0, 7.0]));
    assert_eq!(fetch(&h, &b, &a), Some(vec![6.0, 7.0]));
    assert_eq!(fetch(&h, "2m", &a), Some(vec![6.0, 7.0]));
    assert_eq!(
        fetch(&h, "2023-11-14T22:08:20Z", "2023-11-14T22:10:20Z"),
        Some(vec![6.0, 7.0])
    );
    // Empty windows are empty, not errors.
    assert_eq!(fetch(&h, "30s", ""), Some(vec![]));
    assert_eq!(fetch(&h, "#3", "#20"), Some(vec![]));
    assert_eq!(fetch(&h, "2m", "#20"), Some(vec![]));
}

#[test]
fn evaluation_time_hides_the_future() {
    // Evaluated 3.5 minutes ago, the series ends with 7.
    let h = minutes().at(NOW - 210_000);
    assert_eq!(fetch(&h, "#2", ""), Some(vec![6.0, 7.0]));
    assert_eq!(fetch(&h, "0", ""), Some(vec![7.0]));
    assert_eq!(fetch(&h, "10m", ""), Some((1..=7).map(f64::from).collect()));
}

#[test]
fn strict_count_needs_ninety_percent() {
    let h = minutes();
    assert_eq!(fetch(&h, "!#11", "").map(|v| v.len()), Some(10)); // 10 of 11 is 90.9 %
    assert_eq!(fetch(&h, "#!12", ""), None); // 10 of 12 is 83 %
    assert_eq!(fetch(&h, "#12", "").map(|v| v.len()), Some(10));
    assert!(count_well_covered(9, 10));
    assert!(!count_well_covered(8, 10));
    assert!(!count_well_covered(0, 1));
}

#[test]
fn strict_time_needs_coverage() {
    let h = minutes();
    // 15 minutes over 10 one-minute records: the first is 5 min after `from` (> 72 s).
    assert_eq!(fetch(&h, "!15m", ""), None);
    assert_eq!(fetch(&h, "15m", "").map(|v| v.len()), Some(10));
    // 10 minutes: the first record is exactly at `from`.
    assert_eq!(fetch(&h, "!10m", "").map(|v| v.len()), Some(10));
    // 11 minutes: first record 60 s after from ≤ 72 s.
    assert_eq!(fetch(&h, "!11m", "").map(|v| v.len()), Some(10));
    // One record is never enough.
    assert_eq!(fetch(&h, "!1m", ""), None);
    assert!(time_well_covered(&[100, 200, 300], 0)); // 100 ≤ 0 + 120
    assert!(!time_well_covered(&[130, 200, 300], 0));
    // The median ignores one long gap.
    assert!(!time_well_covered(&[500, 510, 520, 530, 2000], 480));
    assert!(time_well_covered(&[500, 510, 520, 530, 2000], 490));
}

#[test]
fn strict_anchored_empty_is_no_data() {
    let h = minutes();
    assert_eq!(fetch(&h, "!2m", "#20"), None);
}

/// Count windows that end at the evaluation time leave `now` to the host's cap (one
/// import fewer), and still never see a point at or after `now`; every other form asks.
#[test]
fn count_windows_ending_now_do_not_ask_for_now() {
    // Points on both sides of now, 1 s apart: values are their offsets from now in s.
    let mem = || MemHistory::new(NOW).with_points((-50..50).map(|i| (NOW + i * 1000, i as f64)));
    for (num, shift, ends_now, want) in [
        ("#3", None, true, vec![-3.0, -2.0, -1.0]),
        ("#3", Some("#2"), true, vec![-5.0, -4.0, -3.0]),
        ("0", Some("#1"), true, vec![-2.0]),
        ("#2", Some("10s"), false, vec![-12.0, -11.0]),
        ("3s", None, false, vec![-3.0, -2.0, -1.0]),
        ("0", Some("5s"), false, vec![-5.0]),
    ] {
        let w = Window::parse(Some(num), shift).unwrap();
        assert_eq!(w.ends_now(), ends_now, "{num} {shift:?}");
        let h = CountsNow(mem(), std::cell::Cell::new(0));
        let got = w.fetch(&h).unwrap().unwrap();
        assert_eq!(got.numbers(), want, "{num} {shift:?}");
        let asked = h.1.get();
        assert_eq!(
            asked == 0,
            ends_now,
            "{num} {shift:?}: now() asked {asked} times"
        );
        let h = CountsNow(mem(), std::cell::Cell::new(0));
        let mut seen = Vec::new();
        w.for_each_chunk(&h, |c| {
            seen.extend(c.numbers());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, want, "{num} {shift:?} streamed");
        assert_eq!(h.1.get() == 0, ends_now);
    }
}

#[test]
fn strict_streaming_matches_fetch_on_small_windows() {
    let h = minutes();
    for (num, cov) in [
        ("!#11", Some(10)),
        ("#!12", None),
        ("!15m", None),
        ("!11m", Some(10)),
        ("!1m", None),
        ("!2m", Some(2)),
        ("15m", Some(10)),
    ] {
        let w = Window::parse(Some(num), None).unwrap();
        let got = w.for_each_chunk(&h, |_| Ok(())).unwrap();
        assert_eq!(got, cov.map(|points| Coverage { points }), "{num}");
    }
    let empty = MemHistory::new(NOW);
    let w = Window::parse(Some("#5"), None).unwrap();
    assert_eq!(
        w.for_each_chunk(&empty, |_| panic!("nothing to visit")),
        Ok(Some(Coverage { points: 0 }))
    );
}
