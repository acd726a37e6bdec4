//! The tests of reading windows, by topic in the submodules; here the fixtures they share:
//! the evaluation time, small series, and the reference read the planned reads must match.

mod faults;
mod hosts;
mod large;
mod live_series;
mod selection;

use super::*;
use crate::error::{Error, Result};
use crate::history::{History, Trends};
use crate::points::Points;
use crate::testing::MemHistory;
use crate::value::Value;

pub(super) const NOW: i64 = 1_700_000_000_000;

/// One point a minute, values 1..=10, the newest one minute before NOW.
fn minutes() -> MemHistory {
    MemHistory::new(NOW).with_points((1..=10).map(|i| (NOW - (11 - i) * 60_000, i as f64)))
}

fn values(p: &Points) -> Vec<f64> {
    p.numbers()
}

fn fetch(h: &MemHistory, num: &str, shift: &str) -> Option<Vec<f64>> {
    Window::parse(Some(num), Some(shift))
        .unwrap()
        .fetch(h)
        .unwrap()
        .map(|p| values(&p))
}

/// The pre-streaming `fetch`: newest chunk first, joined at the end. The reference the
/// planned reads must agree with, point for point.
fn reference_fetch(w: &Window, h: &dyn History) -> Option<Points> {
    let series = h.series_id();
    let join = |mut chunks: Vec<Points>| {
        let mut all = chunks.pop().unwrap_or_default();
        while let Some(newer) = chunks.pop() {
            all.extend(newer);
        }
        all.set_truncated(false);
        all
    };
    let last = |n: u64, mut skip: u64, mut before: Timestamp| {
        let (mut chunks, mut remaining) = (Vec::new(), n);
        while remaining > 0 {
            let want = remaining.min(CHUNK);
            let c = h.read_last(series, want, skip, before).unwrap();
            let full = c.len() as u64 >= want || c.truncated();
            let Some(&oldest) = c.timestamps().first() else {
                break;
            };
            remaining = remaining.saturating_sub(c.len() as u64);
            (skip, before) = (0, oldest);
            chunks.push(c);
            if !full {
                break;
            }
        }
        join(chunks)
    };
    let range = |from: Timestamp, mut to: Timestamp| {
        let mut chunks = Vec::new();
        while from < to {
            let c = h.read_range(series, from, to, CHUNK).unwrap();
            let more = c.truncated();
            let Some(&oldest) = c.timestamps().first() else {
                break;
            };
            to = oldest;
            chunks.push(c);
            if !more {
                break;
            }
        }
        join(chunks)
    };
    match w.span(h.now()) {
        Span::Last { n, skip, before } => {
            let p = last(n, skip, before);
            (!w.is_strict() || count_well_covered(p.len(), n)).then_some(p)
        }
        Span::Range { from, to } => {
            let p = range(from, to);
            (!w.is_strict() || time_well_covered(p.timestamps(), from)).then_some(p)
        }
        Span::Anchored { skip, period } => {
            let anchor = h.read_last(series, 1, skip, h.now()).unwrap();
            let Some(&t) = anchor.timestamps().last() else {
                return (!w.is_strict()).then(Points::new);
            };
            let from = t.saturating_sub(period).saturating_add(1);
            let p = range(from, t.saturating_add(1));
            (!w.is_strict() || time_well_covered(p.timestamps(), from)).then_some(p)
        }
    }
}

/// What `for_each_chunk` visits, joined, and the sizes of the chunks it handed over.
fn streamed(w: &Window, h: &dyn History) -> (Option<Points>, Vec<usize>) {
    let mut all = Points::new();
    let mut sizes = Vec::new();
    let cov = w
        .for_each_chunk(h, |c| {
            assert!(!c.is_empty(), "empty chunks are not visited");
            sizes.push(c.len());
            all.extend(c.clone());
            Ok(())
        })
        .unwrap();
    if let Some(cov) = cov {
        assert_eq!(cov.points, all.len() as u64);
    }
    (cov.map(|_| all), sizes)
}

/// A series of `n` points 10 ms apart ending 10 ms before NOW, with a few irregular gaps
/// and strings, so that windows cut anywhere and kinds mix across chunks.
fn irregular(n: i64) -> MemHistory {
    MemHistory::new(NOW).with_points((0..n).map(|i| {
        let ts = NOW - (n - i) * 10 - if i % 97 == 0 { 3 } else { 0 };
        let v = if i % 41 == 0 {
            Value::from(format!("s{i}"))
        } else {
            Value::Num(i as f64 * 0.1)
        };
        (ts, v)
    }))
}

/// Every window form, strict or not, as parameter text.
fn forms(n: i64) -> Vec<(String, String)> {
    let mut v = Vec::new();
    let t = NOW - n * 10;
    for strict in ["", "!"] {
        for (num, shift) in [
            (format!("#{}", n / 2), String::new()),
            (format!("#{}", n - 3), String::new()),
            (format!("#{}", n + 50), String::new()),
            (format!("#{}", n / 3), format!("#{}", n / 5)),
            (format!("#{}", n / 3), "1s".to_owned()),
            (format!("#{}", n / 4), (t + n * 5).to_string()),
            ("0".to_owned(), "#7".to_owned()),
            (format!("{}", n * 10), String::new()),
            (format!("{}", n * 10 + 700), String::new()),
            (format!("{}", n * 7), "2s".to_owned()),
            (format!("{}", n * 4), format!("#{}", n / 7)),
            (format!("{}", n * 30), format!("#{}", n / 7)),
            (t.to_string(), String::new()),
            ((t + 1234).to_string(), (t + n * 6).to_string()),
            (format!("{}", n * 3), (t + 99).to_string()),
            ("5s".to_owned(), format!("#{}", n * 2)),
        ] {
            v.push((format!("{strict}{num}"), shift));
        }
    }
    v
}
