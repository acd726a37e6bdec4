//! The InfluxQL subset Clio answers on `/query`, as a pure library: a lexer, a parser to an
//! AST with InfluxDB's error texts, `WHERE` clauses split into a time range and a tag
//! predicate, and RFC3339 time literals. Running statements against the engine lives in
//! `clio-server` (`http/influxql`).
//!
//! Input is untrusted: nothing here panics on any text (a property test feeds it arbitrary
//! strings), and expression nesting is bounded.

pub mod ast;
pub mod cond;
pub mod error;
pub mod lexer;
pub mod parser;
pub mod time;

pub use ast::*;
pub use cond::{Condition, TagCond, TimeRange, compile_regex, split, time_value};
pub use error::{ParseError, QueryError};
pub use parser::{parse_query, parse_statement};
pub use time::{format_rfc3339, parse_time};
