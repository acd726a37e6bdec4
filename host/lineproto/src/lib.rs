//! InfluxDB line protocol for Clio: parses the body of an InfluxDB 1.x `/write` or 2.x
//! `/api/v2/write` request (and `clio import` files) into Clio points.
//!
//! A line `cpu,host=a usage=1.5,idle=98i 1700000000000000000` becomes one point per field: the
//! series `cpu,host=a usage` and `cpu,host=a idle`, both at the line's timestamp converted to
//! milliseconds. Floats, integers (`12i`) and unsigned integers (`12u`) become f64 numbers,
//! booleans become 1 and 0, quoted strings stay strings.
//!
//! Errors behave as InfluxDB's: a bad line is reported with its number and the reason, and
//! does not stop the parse, so the valid lines of the body can still be written (a partial
//! write). Two entry points:
//!
//! - [`Parser::parse`] hands out owned [`ParsedPoint`]s (a [`SeriesKey`] per point). Simple,
//!   but it allocates the key's strings for every point.
//! - [`Parser::parse_lines`] / [`Parser::parse_chunk`] hand out a borrowed [`LineRef`] per
//!   line, zero-copy unless the line has escapes. Hot paths cache `raw_key + field -> id` and
//!   only build a key for series they have not seen.
//!
//! # Syntax and compatibility
//!
//! The grammar, escapes and error texts follow InfluxDB (the Go parser of 1.x/2.x, and where
//! they differ the documented 2.x rules that InfluxDB 3's parser implements):
//!
//! - Lines end at `\n` (a `\r` before it is ignored), except inside a quoted string value or
//!   right after a backslash, exactly as InfluxDB splits lines. Leading spaces, tabs and NULs
//!   are skipped; blank lines and lines starting with `#` are skipped (a comment ends at the
//!   next newline).
//! - Sections are separated by spaces: one after the tag set, any number before the fields
//!   and the timestamp, trailing spaces allowed.
//! - Escapes: `\,` and `\ ` in a measurement; `\,`, `\=` and `\ ` in tag names, tag values and
//!   field names; `\\` is one backslash in all of them; a backslash before anything else is a
//!   literal backslash. These names may not end with a backslash. In string values only `\"`
//!   and `\\` are escapes.
//! - Values: floats (`1`, `-1.5`, `.5`, `1e3`), `12i`, `12u`, `t T true True TRUE f F false
//!   False FALSE`, and `"strings"` (which may contain newlines). NaN, infinities and floats
//!   beyond f64 are rejected, as are integers beyond i64/u64.
//! - Timestamps are optional integers in the write's [`Precision`], converted to
//!   milliseconds with floor division. A missing one is the parser's default time truncated to
//!   the precision (as InfluxDB does with its clock). Any result that fits an i64 of
//!   milliseconds is accepted (InfluxDB's nanosecond range ends in 2262).
//! - Tags are sorted by name; a repeated tag name is an error. A repeated field name is
//!   accepted, as in InfluxDB (the later value wins in storage).
//! - Limits: a series key (measurement, tags and field name) of at most 65535 bytes, as
//!   InfluxDB; a line of at most [`DEFAULT_MAX_LINE_LEN`] bytes ([`Parser::with_max_line_len`]).
//! - Invalid UTF-8 makes its line bad (`invalid UTF-8`), not the whole body.
//! - A quote that never closes makes the rest of the body one bad line, as in InfluxDB;
//!   when that is longer than the line limit, only its first physical line is lost.
//!
//! Unsigned integers need no flag (InfluxDB 1.x needed one), and field or tag names such as
//! `time` are accepted (1.x dropped them).
//!
//! ```
//! use clio_lineproto::{Parser, Precision};
//! use clio_storage::Value;
//!
//! let body = b"cpu,host=a usage=1.5,up=true 1700000000000\ncpu usage=oops\n";
//! let parser = Parser::new(Precision::Ms, 0);
//! let mut points = Vec::new();
//! let report = parser.parse(body, |p| points.push(p));
//! assert_eq!(points.len(), 2);
//! assert_eq!(points[0].key.to_string(), "cpu,host=a usage");
//! assert_eq!(points[1].value, Value::Num(1.0));
//! assert_eq!(points[0].ts, 1_700_000_000_000);
//! assert_eq!(report.error_count, 1);
//! assert_eq!(report.errors[0].line, 2);
//! assert_eq!(
//!     report.errors[0].to_string(),
//!     "unable to parse 'cpu usage=oops': invalid boolean `oops`"
//! );
//! ```
#![deny(missing_docs)]

mod format;
mod line;
mod number;
mod parse;
mod precision;

#[cfg(test)]
mod tests;

pub use clio_storage::{SeriesKey, Value};
pub use format::{FormatError, write_point};
pub use line::{FieldValue, LineRef, ParsedPoint};
pub use precision::{Precision, PrecisionError};

use parse::{LineConfig, Reason};

/// The default limit on the length of one line: 1 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 1 << 20;

/// The default number of line errors a [`ParseReport`] keeps (all are counted).
pub const DEFAULT_MAX_ERRORS: usize = 100;

/// How many characters of a bad line an error quotes.
const MAX_TEXT_IN_ERROR: usize = 100;

/// A line that could not be parsed. Its `Display` is InfluxDB's:
/// `unable to parse '<line>': <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse '{text}': {message}")]
pub struct LineError {
    /// The 1-based number of the physical line the bad line starts on.
    pub line: usize,
    /// The line's text, cut to its first 100 characters (with `...` when cut), invalid UTF-8
    /// replaced by U+FFFD.
    pub text: String,
    /// Why the line is invalid, e.g. `missing fields` or `bad timestamp `12x``.
    pub message: String,
}

/// The outcome of parsing a body or chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// Physical lines read, including blank lines, comments and bad lines. For a chunk, the
    /// next chunk's first line number is this chunk's plus `lines`.
    pub lines: usize,
    /// Points handed to the sink (one per field of every valid line).
    pub points: usize,
    /// The first [`Parser::max_errors`] bad lines, in order.
    pub errors: Vec<LineError>,
    /// Every bad line, also those beyond `errors`.
    pub error_count: usize,
    /// Bytes of the input consumed. All of it, except for [`Parser::parse_chunk`] with
    /// `last == false`, which leaves an unterminated final line for the next chunk.
    pub consumed: usize,
}

impl ParseReport {
    /// True when no line was rejected.
    pub fn is_ok(&self) -> bool {
        self.error_count == 0
    }

    /// The first bad line, which InfluxDB's `/write` reports.
    pub fn first_error(&self) -> Option<&LineError> {
        self.errors.first()
    }
}

/// A line protocol parser: the write's timestamp precision, the time given to lines without
/// one, and the limits.
#[derive(Debug, Clone)]
pub struct Parser {
    precision: Precision,
    default_ts: i64,
    max_line_len: usize,
    max_errors: usize,
}

impl Parser {
    /// A parser for timestamps in `precision`. Lines without a timestamp get `default_ts_ms`
    /// (usually the server's clock), truncated to the precision as InfluxDB does.
    pub fn new(precision: Precision, default_ts_ms: i64) -> Self {
        Parser {
            precision,
            default_ts: default_ts_ms,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_errors: DEFAULT_MAX_ERRORS,
        }
    }

    /// Sets the longest accepted line in bytes (default [`DEFAULT_MAX_LINE_LEN`]). A longer
    /// line is an error and parsing resumes at the next newline.
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.max_line_len = max;
        self
    }

    /// Sets how many line errors a report keeps (default [`DEFAULT_MAX_ERRORS`]); the rest are
    /// only counted.
    pub fn with_max_errors(mut self, max: usize) -> Self {
        self.max_errors = max;
        self
    }

    /// The timestamp precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The longest accepted line in bytes.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// How many line errors a report keeps.
    pub fn max_errors(&self) -> usize {
        self.max_errors
    }

    /// Parses a whole body and calls `sink` with every point of every valid line. Bad lines
    /// are reported in the result and skipped; they do not stop the parse.
    pub fn parse<F: FnMut(ParsedPoint)>(&self, body: &[u8], mut sink: F) -> ParseReport {
        self.run(body, 1, true, |line| {
            // Build every key before handing out the first point, so that a line is either
            // written whole or reported.
            let points = line.to_points()?;
            let count = points.len();
            points.into_iter().for_each(&mut sink);
            Ok(count)
        })
    }

    /// Parses a whole body and calls `sink` with every valid line, borrowed from `body`.
    pub fn parse_lines<'a, F: FnMut(&LineRef<'a>)>(&self, body: &'a [u8], sink: F) -> ParseReport {
        self.parse_chunk(body, 1, true, sink)
    }

    /// Parses a chunk of a larger input, for streaming a big file. `first_line` is the
    /// number of the chunk's first line (1 for the first chunk, then the previous chunk's
    /// first line plus its report's `lines`). Unless `last` is set, a final line without its
    /// `\n` is left unconsumed (see [`ParseReport::consumed`]): the caller keeps those bytes
    /// and passes them again at the start of the next chunk. A single physical line longer
    /// than [`Parser::max_line_len`] is also left for the caller, who may drop it (it can only
    /// be reported as too long); a quoted value that runs past the limit over several lines
    /// is reported here and parsing resumes after its first line.
    pub fn parse_chunk<'a, F: FnMut(&LineRef<'a>)>(
        &self,
        chunk: &'a [u8],
        first_line: usize,
        last: bool,
        mut sink: F,
    ) -> ParseReport {
        self.run(chunk, first_line, last, |line| {
            sink(line);
            Ok(line.fields.len())
        })
    }

    /// The line loop shared by every entry point. `on_line` returns the number of points it
    /// produced, or a reason to count the line as bad after all.
    fn run<'a, F>(
        &self,
        chunk: &'a [u8],
        first_line: usize,
        last: bool,
        mut on_line: F,
    ) -> ParseReport
    where
        F: FnMut(&LineRef<'a>) -> Result<usize, Reason>,
    {
        let n = chunk.len();
        // Validate UTF-8 once for the whole chunk (fast for ASCII); only lines at or after
        // the first invalid byte need a check of their own.
        let (valid, valid_upto) = match std::str::from_utf8(chunk) {
            Ok(s) => (s, n),
            Err(e) => {
                let upto = e.valid_up_to();
                let prefix = chunk.get(..upto).unwrap_or_default();
                (std::str::from_utf8(prefix).unwrap_or_default(), upto)
            }
        };
        let cfg = LineConfig {
            precision: self.precision,
            default_ts: self.precision.truncate_ms(self.default_ts),
        };
        let mut report = ParseReport::default();
        let mut line = LineRef::default();
        let mut pos = 0;
        let mut line_no = first_line;

        while pos < n {
            // Skip leading whitespace, blank lines and comments.
            let mut s = pos;
            while s < n && parse::is_ws(chunk[s]) {
                s += 1;
            }
            let rest = &chunk[s..];
            match rest {
                [] | [b'\r'] => {
                    // Only whitespace left. A chunk keeps it: the next chunk may continue it.
                    if last {
                        pos = n;
                    }
                    break;
                }
                [b'\n', ..] | [b'\r', b'\n', ..] => {
                    pos = s + if rest[0] == b'\r' { 2 } else { 1 };
                    line_no += 1;
                    continue;
                }
                [b'#', ..] => match find_newline(chunk, s) {
                    Some(nl) => {
                        pos = nl + 1;
                        line_no += 1;
                        continue;
                    }
                    None => {
                        if last {
                            pos = n;
                        }
                        break;
                    }
                },
                _ => {}
            }

            // Parse the line: in place when it lies in the valid UTF-8 prefix, else on its own.
            let fast = if s < valid_upto {
                Some(parse::parse_line(valid, s, &cfg, &mut line).map_err(|b| *b))
            } else {
                None
            };
            let (end, result) = match fast {
                Some(Ok(ok)) if ok.end < valid_upto || valid_upto == n => (ok.end, Ok(ok.newlines)),
                Some(Err(reason)) => {
                    let end = parse::scan_line(chunk, s);
                    let invalid = end > valid_upto && std::str::from_utf8(&chunk[s..end]).is_err();
                    (end, Err(if invalid { Reason::InvalidUtf8 } else { reason }))
                }
                // The line runs into the first invalid UTF-8 byte, or starts after it.
                _ => {
                    let end = parse::scan_line(chunk, s);
                    let result = match std::str::from_utf8(&chunk[s..end]) {
                        Err(_) => Err(Reason::InvalidUtf8),
                        Ok(text) => {
                            match parse::parse_line(text, 0, &cfg, &mut line).map_err(|b| *b) {
                                Ok(ok) if ok.end == text.len() => Ok(ok.newlines),
                                // The parser and the splitter agree on every valid line; if they
                                // ever do not, refuse the line rather than drop part of it.
                                Ok(_) => Err(Reason::InvalidFieldFormat),
                                Err(reason) => Err(reason),
                            }
                        }
                    };
                    (end, result)
                }
            };
            if end >= n && !last {
                // The line may continue in the next chunk, so wait for it; unless it already
                // spans physical lines beyond the limit (a quote that never closes), which
                // would otherwise make the caller buffer the rest of the input.
                let runaway = end - pos > self.max_line_len && find_newline(chunk, s).is_some();
                if !runaway {
                    break;
                }
            }

            let len = end - pos;
            let result = match result {
                Ok(_) | Err(_) if len > self.max_line_len => {
                    Err(Reason::LineTooLong(self.max_line_len))
                }
                Ok(newlines) => {
                    line.line = line_no;
                    on_line(&line).map(|points| (points, newlines))
                }
                Err(reason) => Err(reason),
            };
            match result {
                Ok((points, newlines)) => {
                    report.points += points;
                    pos = end + 1;
                    line_no += newlines + usize::from(end < n);
                }
                Err(reason) => {
                    report.error_count += 1;
                    if let Reason::LineTooLong(..) = reason {
                        // Skip to the next physical line: if the line is long because of a
                        // quote that never closes, this salvages the lines after it. The error
                        // shows what was skipped, the same however the input was chunked.
                        let nl = find_newline(chunk, s);
                        if report.errors.len() < self.max_errors {
                            let shown = &chunk[s..nl.unwrap_or(n)];
                            report.errors.push(line_error(line_no, shown, &reason));
                        }
                        match nl {
                            Some(nl) => {
                                pos = nl + 1;
                                line_no += 1;
                            }
                            None => pos = n,
                        }
                    } else {
                        if report.errors.len() < self.max_errors {
                            let shown = &chunk[s..end];
                            report.errors.push(line_error(line_no, shown, &reason));
                        }
                        line_no += count_newlines(&chunk[s..end]) + usize::from(end < n);
                        pos = end + 1;
                    }
                }
            }
        }

        // `line_no` counted the newlines consumed; a consumed final line without one counts too.
        report.consumed = pos.min(n);
        report.lines = line_no - first_line
            + usize::from(report.consumed > 0 && chunk[report.consumed - 1] != b'\n');
        report
    }
}

fn find_newline(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == b'\n')
        .map(|p| from + p)
}

fn count_newlines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn line_error(line: usize, raw: &[u8], reason: &Reason) -> LineError {
    // Only the start of the line is quoted; don't decode a megabyte to show 100 characters.
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let head = &raw[..raw.len().min(MAX_TEXT_IN_ERROR * 4)];
    let lossy = String::from_utf8_lossy(head);
    let text = match lossy.char_indices().nth(MAX_TEXT_IN_ERROR) {
        Some((at, _)) => format!("{}...", &lossy[..at]),
        None if head.len() < raw.len() => format!("{lossy}..."),
        None => lossy.into_owned(),
    };
    LineError {
        line,
        text,
        message: reason.to_string(),
    }
}
