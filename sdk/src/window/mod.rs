//! ALEPIZ-style windows (`num`, `shift`) per semantics.md section 2, and reading a window
//! through [`History`](crate::History): whole ([`Window::fetch`]) or one chunk at a time
//! ([`Window::for_each_chunk`]).
//!
//! This module holds the public types; the rest lives by concern:
//! - `grammar`: parsing `num` and `shift` (counts, durations, timestamps, the strict `!`);
//! - `iso8601`: ISO-8601 date-times to epoch ms (the calendar math);
//! - `span`: where a window lies once the evaluation time is known;
//! - `read`: [`Window::fetch`] and [`Window::for_each_chunk`], over
//!   `plan` (how a window larger than one answer is read) and `walk` (reading a plan);
//! - `strict`: the strict rule (enough of the window covered), at once or on the fly;
//! - `tests`: the read tests, by topic, with their fixtures and test hosts.

mod grammar;
mod iso8601;
mod plan;
mod read;
mod span;
mod strict;
#[cfg(test)]
mod tests;
mod walk;

pub use grammar::{parse_duration, parse_term};
pub use iso8601::parse_iso8601;
pub use strict::{count_well_covered, time_well_covered};

use crate::points::Timestamp;

/// Values at or above this (2000-01-01T00:00:00Z in ms) are absolute timestamps, below it
/// durations.
pub const TIMESTAMP_THRESHOLD: i64 = 946_684_800_000;

/// How many points one host call asks for. Windows larger than this are read in several
/// calls, so a function always sees its whole window.
pub const CHUNK: u64 = 65_536;

/// One parsed `num` or `shift` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// `#N`: a number of records (for `num`) or of newest records to skip (for `shift`).
    Count(u64),
    /// A duration in ms (`300000`, `5m`, `1.5h`).
    Duration(i64),
    /// An absolute time: a number ≥ [`TIMESTAMP_THRESHOLD`] or an ISO-8601 date-time.
    Timestamp(Timestamp),
}

/// A window: which records of the series a function computes on. Build it with
/// [`Window::parse`] (or [`Args::window`](crate::Args::window)) and read it with
/// [`Window::fetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    num: Term,
    shift: Term,
    strict: bool,
}

/// Where a window lies once `now` is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The `n` newest records before `before` after skipping `skip` (count form; strict mode
    /// needs ≥ 90 % of `n`).
    Last {
        /// Records wanted.
        n: u64,
        /// Newest records skipped.
        skip: u64,
        /// Exclusive upper time bound.
        before: Timestamp,
    },
    /// Every record of `[from, to)` (time form; strict mode needs ≥ 2 records and the first
    /// within 1.2 median gaps of `from`).
    Range {
        /// Inclusive start.
        from: Timestamp,
        /// Exclusive end.
        to: Timestamp,
    },
    /// `f(period, #K)`: skip the `skip` newest records; the window is the `period` ending with,
    /// and including, the newest record left.
    Anchored {
        /// Newest records skipped.
        skip: u64,
        /// Period in ms.
        period: i64,
    },
}

impl Window {
    /// A window of the `n` newest records (`#n`).
    pub fn last(n: u64) -> Window {
        Window {
            num: Term::Count(n),
            shift: Term::Duration(0),
            strict: false,
        }
    }

    /// True for a strict (`!`) window.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The parsed `num`.
    pub fn num(&self) -> Term {
        self.num
    }

    /// The parsed `shift`.
    pub fn shift(&self) -> Term {
        self.shift
    }
}

/// What [`Window::for_each_chunk`] visited in a window that passed the strict rule (or was not
/// strict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Points visited (records of any kind, numbers and strings).
    pub points: u64,
}
