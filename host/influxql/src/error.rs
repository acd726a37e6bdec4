//! Errors with InfluxDB's wording, so that clients and users recognise them.

/// A query that cannot be parsed: `error parsing query: <reason> at line L, char C`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing query: {message} at line {line}, char {col}")]
pub struct ParseError {
    /// What is wrong or unsupported.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based character in the line.
    pub col: usize,
}

impl ParseError {
    /// An error at a position.
    pub fn new(message: impl Into<String>, line: usize, col: usize) -> Self {
        ParseError {
            message: message.into(),
            line,
            col,
        }
    }
}

/// A statement that parses but cannot be run as written (a bad time condition, a regex that
/// does not compile, a condition Clio does not evaluate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl QueryError {
    /// An error with this text.
    pub fn new(msg: impl Into<String>) -> Self {
        QueryError(msg.into())
    }
}
