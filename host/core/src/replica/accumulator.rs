//! Points a replica has read but not written yet: the same view the primary's cache has of
//! unflushed points (one value per timestamp, each with the segment that wrote it), so that
//! a flush mark hands the replica exactly what the primary's flush wrote.

use std::collections::BTreeMap;

use clio_storage::{Point, SeriesId, SeriesPoints, Timestamp, Value};

use crate::apply::Change;
use crate::hashing::FastMap;

#[derive(Debug, Default)]
pub(super) struct Accumulator {
    series: FastMap<SeriesId, BTreeMap<Timestamp, (Value, u64)>>,
    len: usize,
}

impl Accumulator {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Points logged in segment `seg`; a later value at a timestamp replaces the earlier.
    pub(super) fn add(&mut self, seg: u64, points: &[(SeriesId, Point)]) {
        for (id, p) in points {
            if self
                .series
                .entry(*id)
                .or_default()
                .insert(p.ts, (p.value.clone(), seg))
                .is_none()
            {
                self.len += 1;
            }
        }
    }

    /// What a deletion does to unflushed points (the cache does the same on the primary).
    pub(super) fn apply_change(&mut self, change: &Change) {
        match change {
            Change::DeleteSeries(id) => {
                if let Some(m) = self.series.remove(id) {
                    self.len -= m.len();
                }
            }
            Change::DeleteRange { series, from, to } => self.cut(*series, *from, *to),
            Change::Expire(batch) => {
                for e in batch {
                    if let Some(before) = e.raw_before {
                        self.cut(e.series, Timestamp::MIN, before);
                    }
                }
            }
            Change::Create(_) | Change::Update(..) => {}
        }
    }

    fn cut(&mut self, id: SeriesId, from: Timestamp, to: Timestamp) {
        if from >= to {
            return;
        }
        if let Some(m) = self.series.get_mut(&id) {
            let doomed: Vec<Timestamp> = m.range(from..to).map(|(t, _)| *t).collect();
            for t in doomed {
                m.remove(&t);
                self.len -= 1;
            }
        }
    }

    /// The oldest segment a gathered point came from.
    pub(super) fn min_seg(&self) -> Option<u64> {
        self.series
            .values()
            .flat_map(|m| m.values().map(|(_, seg)| *seg))
            .min()
    }

    /// Takes the points of segments `<= upto`, by series, ascending.
    pub(super) fn take_upto(&mut self, upto: u64) -> Vec<SeriesPoints> {
        let mut out = Vec::new();
        for (id, m) in self.series.iter_mut() {
            let points: Vec<Point> = m
                .iter()
                .filter(|(_, (_, seg))| *seg <= upto)
                .map(|(ts, (v, _))| Point {
                    ts: *ts,
                    value: v.clone(),
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            for p in &points {
                m.remove(&p.ts);
            }
            self.len -= points.len();
            out.push(SeriesPoints {
                series: *id,
                points,
            });
        }
        self.series.retain(|_, m| !m.is_empty());
        out.sort_by_key(|s| s.series);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_the_mark_covers_and_honours_deletions() {
        let mut a = Accumulator::default();
        let s = SeriesId(1);
        a.add(1, &[(s, Point::new(10, 1.0)), (s, Point::new(20, 2.0))]);
        a.add(2, &[(s, Point::new(20, 3.0)), (s, Point::new(30, 4.0))]);
        assert_eq!(a.len(), 3);
        a.apply_change(&Change::DeleteRange {
            series: s,
            from: 5,
            to: 11,
        });
        // Segment 1 is covered; its value at 20 was replaced in segment 2, which is not.
        assert!(a.take_upto(1).is_empty());
        let b = a.take_upto(2);
        assert_eq!(
            b,
            vec![SeriesPoints {
                series: s,
                points: vec![Point::new(20, 3.0), Point::new(30, 4.0)]
            }]
        );
        assert_eq!(a.len(), 0);
    }
}
