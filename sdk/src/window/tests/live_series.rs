//! A series that changes while it is read (late writes into the past, deletions): every
//! record still visited once, in order, none that stayed in the window missed.

use super::hosts::LateWrites;
use super::*;

#[test]
fn a_piece_that_grew_after_planning_is_split_again() {
    // 100 points 10 ms apart, answers of at most 10: the plan is 1 read + 9 probes, then
    // 10 pieces are read oldest first. After the 12th read (the oldest pieces are done),
    // 25 points land between the newest ones: that piece comes back truncated, is split,
    // and every point is still visited exactly once, in order.
    let base = MemHistory::new(NOW)
        .with_points((0..100).map(|i| (NOW - 1000 + i * 10, 1.0)))
        .with_answer_cap(10);
    let late: Vec<_> = (0..25).map(|i| (NOW - 99 + i * 2, Some(2.0))).collect();
    let h = LateWrites {
        inner: std::cell::RefCell::new(base),
        reads: std::cell::Cell::new(0),
        after: 12,
        late,
    };
    let w = Window::parse(Some("1000"), None).unwrap();
    let (got, _) = streamed(&w, &h);
    let got = got.unwrap();
    assert_eq!(got.len(), 125);
    assert!(got.timestamps().windows(2).all(|p| p[0] < p[1]));
    assert_eq!(got.numbers().iter().sum::<f64>(), 150.0);
    assert!(h.reads.get() > 20, "the split took extra reads");
}

#[test]
fn late_writes_between_count_pieces_never_repeat_or_reorder_records() {
    // After the n-th read, 30 points land among records already visited and records not
    // yet read: the counts shift, and the pieces read afterwards would repeat records
    // and miss others; each record is still visited once, in order, and none that was
    // in the window all along is missed.
    for after in 2..=10 {
        let base = MemHistory::new(NOW)
            .with_points((0..100).map(|i| (NOW - 1000 + i * 10, 1.0)))
            .with_answer_cap(10);
        let late: Vec<_> = (0..30).map(|i| (NOW - 995 + i * 30, Some(2.0))).collect();
        let late_ts: Vec<i64> = late.iter().map(|&(t, _)| t).collect();
        let h = LateWrites {
            inner: std::cell::RefCell::new(base),
            reads: std::cell::Cell::new(0),
            after,
            late,
        };
        let w = Window::parse(Some("#100"), None).unwrap();
        let (got, _) = streamed(&w, &h);
        let got = got.unwrap();
        let ts = got.timestamps();
        assert!(ts.windows(2).all(|p| p[0] < p[1]), "after {after}: {ts:?}");
        assert!(got.len() <= 130, "after {after}: {}", got.len());
        // Every record in the window both before and after the late write is visited.
        let old: Vec<i64> = (0..100).map(|i| NOW - 1000 + i * 10).collect();
        let mut all: Vec<i64> = old.iter().copied().chain(late_ts.clone()).collect();
        all.sort_unstable();
        let newest_after = &all[all.len() - 100..];
        for t in old.iter().filter(|t| newest_after.contains(t)) {
            assert!(ts.contains(t), "after {after}: {t} missed: {ts:?}");
        }
        // The newest answer was read first, before any late write.
        assert_eq!(ts.last(), Some(&(NOW - 10)));
    }
}

#[test]
fn deletions_between_count_pieces_never_repeat_or_reorder_records() {
    // After the n-th read, 30 records are deleted: the oldest of the window (as
    // retention would), or every fifth one (spread over records already visited and
    // records not yet read). The counts shift the other way than with late writes:
    // pieces read afterwards land on older records. Each record is still visited at most
    // once, in order; none that stayed in the window all along is missed; nothing older
    // than the window at either moment is visited.
    let base: Vec<i64> = (0..150).map(|i| NOW - 1500 + i * 10).collect();
    let oldest_of_window: Vec<i64> = base[50..80].to_vec();
    let spread: Vec<i64> = base[50..].iter().copied().step_by(5).take(30).collect();
    for (name, deleted) in [("oldest", &oldest_of_window), ("spread", &spread)] {
        for after in 2..=10 {
            let h = LateWrites {
                inner: std::cell::RefCell::new(
                    MemHistory::new(NOW)
                        .with_points(base.iter().map(|&t| (t, 1.0)))
                        .with_answer_cap(10),
                ),
                reads: std::cell::Cell::new(0),
                after,
                late: deleted.iter().map(|&t| (t, None)).collect(),
            };
            let w = Window::parse(Some("#100"), None).unwrap();
            let (got, _) = streamed(&w, &h);
            let got = got.unwrap();
            let ts = got.timestamps();
            let at = format!("{name}, after read {after}");
            assert!(ts.windows(2).all(|p| p[0] < p[1]), "{at}: {ts:?}");
            let before_window = &base[50..];
            let kept: Vec<i64> = base
                .iter()
                .copied()
                .filter(|t| !deleted.contains(t))
                .collect();
            let after_window = &kept[kept.len() - 100..];
            // Stayed in the window all along: visited.
            for t in before_window.iter().filter(|t| after_window.contains(t)) {
                assert!(ts.contains(t), "{at}: {t} missed: {ts:?}");
            }
            // Nothing from outside both windows.
            let oldest = before_window[0].min(after_window[0]);
            assert!(
                ts[0] >= oldest,
                "{at}: {} is older than both windows",
                ts[0]
            );
            assert!(got.len() <= 130, "{at}: {}", got.len());
            assert_eq!(ts.last(), Some(&(NOW - 10)), "{at}");
        }
    }
}
