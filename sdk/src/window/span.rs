//! Where a window lies once the evaluation time is known: [`Window::span`], the [`Span`] of
//! each `num` / `shift` combination.

use super::{Span, Term, Window};
use crate::points::Timestamp;

impl Window {
    /// True when the window is a count of records ending at the evaluation time (`#N`,
    /// `#N,#K`, `0,#K`): its [`Span::Last`] has `before: now` and nothing else depends on it.
    pub(super) fn ends_now(&self) -> bool {
        matches!(
            (self.num, self.shift),
            (Term::Count(_), Term::Count(_) | Term::Duration(0))
                | (Term::Duration(0), Term::Count(_))
        )
    }

    /// Where the window lies at evaluation time `now`.
    pub fn span(&self, now: Timestamp) -> Span {
        // "At or before t" as an exclusive bound, never past `now` (points at `now` are
        // invisible).
        let at_or_before = |t: Timestamp| t.saturating_add(1).min(now);
        match (self.num, self.shift) {
            (Term::Count(n), Term::Count(k)) => Span::Last {
                n,
                skip: k,
                before: now,
            },
            (Term::Count(n), Term::Duration(s)) => Span::Last {
                n,
                skip: 0,
                before: now.saturating_sub(s),
            },
            (Term::Count(n), Term::Timestamp(t)) => Span::Last {
                n,
                skip: 0,
                before: t.min(now),
            },
            // Period 0: the newest record at or before now − shift (ALEPIZ's "0 = newest").
            (Term::Duration(0), Term::Count(k)) => Span::Last {
                n: 1,
                skip: k,
                before: now,
            },
            (Term::Duration(0), Term::Duration(s)) => Span::Last {
                n: 1,
                skip: 0,
                before: at_or_before(now.saturating_sub(s)),
            },
            (Term::Duration(0), Term::Timestamp(t)) => Span::Last {
                n: 1,
                skip: 0,
                before: at_or_before(t),
            },
            (Term::Duration(p), Term::Count(k)) => Span::Anchored { skip: k, period: p },
            (Term::Duration(p), Term::Duration(s)) => {
                let to = now.saturating_sub(s);
                Span::Range {
                    from: to.saturating_sub(p),
                    to,
                }
            }
            (Term::Duration(p), Term::Timestamp(t)) => Span::Range {
                from: t,
                to: t.saturating_add(p),
            },
            (Term::Timestamp(a), Term::Timestamp(b)) => Span::Range {
                from: a.min(b),
                to: a.max(b),
            },
            // `parse` only lets an empty shift through here: from the timestamp until now.
            (Term::Timestamp(a), _) => Span::Range { from: a, to: now },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::tests::NOW;

    #[test]
    fn spans() {
        let w = |n: &str, s: &str| Window::parse(Some(n), Some(s)).unwrap().span(NOW);
        assert_eq!(
            w("#10", ""),
            Span::Last {
                n: 10,
                skip: 0,
                before: NOW
            }
        );
        assert_eq!(
            w("#10", "#3"),
            Span::Last {
                n: 10,
                skip: 3,
                before: NOW
            }
        );
        assert_eq!(
            w("#10", "1m"),
            Span::Last {
                n: 10,
                skip: 0,
                before: NOW - 60_000
            }
        );
        assert_eq!(
            w("5m", ""),
            Span::Range {
                from: NOW - 300_000,
                to: NOW
            }
        );
        assert_eq!(
            w("5m", "1m"),
            Span::Range {
                from: NOW - 360_000,
                to: NOW - 60_000
            }
        );
        assert_eq!(
            w("1.5m", "0"),
            Span::Range {
                from: NOW - 90_000,
                to: NOW
            }
        );
        let t = NOW - 1_000_000;
        assert_eq!(
            w("5m", &t.to_string()),
            Span::Range {
                from: t,
                to: t + 300_000
            }
        );
        assert_eq!(
            w(&t.to_string(), &(t + 10).to_string()),
            Span::Range {
                from: t,
                to: t + 10
            }
        );
        assert_eq!(
            w(&(t + 10).to_string(), &t.to_string()),
            Span::Range {
                from: t,
                to: t + 10
            }
        );
        assert_eq!(w(&t.to_string(), ""), Span::Range { from: t, to: NOW });
        assert_eq!(
            w("0", ""),
            Span::Last {
                n: 1,
                skip: 0,
                before: NOW
            }
        );
        assert_eq!(
            w("!0", "1m"),
            Span::Last {
                n: 1,
                skip: 0,
                before: NOW - 60_000 + 1
            }
        );
        assert_eq!(
            w("0", "#2"),
            Span::Last {
                n: 1,
                skip: 2,
                before: NOW
            }
        );
        assert_eq!(
            w("5m", "#2"),
            Span::Anchored {
                skip: 2,
                period: 300_000
            }
        );
        assert_eq!(
            w("#3", &t.to_string()),
            Span::Last {
                n: 3,
                skip: 0,
                before: t
            }
        );
    }
}
