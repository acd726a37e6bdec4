//! The scanner: turns query text into tokens on demand. Regular expressions (`/.../`) are
//! only scanned where the grammar allows one (the parser asks for them), as InfluxDB does,
//! so that `/` stays a division elsewhere.

use crate::error::ParseError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bare identifier or keyword (`SELECT`, `cpu`, `mean`).
    Ident(String),
    /// A double-quoted identifier (`"host"`): never a keyword.
    Quoted(String),
    /// A single-quoted string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Num(f64),
    /// A duration literal, in nanoseconds (`10s`, `1700000000000ms`).
    Duration(i64),
    /// A regular expression literal's source (without the slashes).
    Regex(String),
    /// An operator or punctuation: `= != <> < <= > >= =~ !~ + - * / % ( ) , ; . ::`.
    Op(&'static str),
    /// The end of the input.
    Eof,
}

impl Tok {
    /// The token as InfluxDB names it in "found X" errors.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Quoted(s) => format!("\"{s}\""),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Int(i) => i.to_string(),
            Tok::Num(n) => n.to_string(),
            Tok::Duration(d) => format!("{d}ns"),
            Tok::Regex(r) => format!("/{r}/"),
            Tok::Op(o) => (*o).to_string(),
            Tok::Eof => "EOF".to_string(),
        }
    }

    /// True for a bare identifier equal to `kw`, ignoring case.
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

/// The scanner's state: the text and a byte position.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

const OPS: [&str; 21] = [
    "::", "!=", "<>", "<=", ">=", "=~", "!~", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")",
    ",", ";", ".", ":",
];

impl<'a> Lexer<'a> {
    /// A scanner at the start of `src`.
    pub fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// The byte offset of the next token (after whitespace and comments).
    pub fn pos(&mut self) -> usize {
        self.skip_space();
        self.pos
    }

    /// Line and column (1-based, in characters) of a byte offset, for error texts.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let before = self.src.get(..at.min(self.src.len())).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn skip_space(&mut self) {
        loop {
            let r = self.rest();
            let trimmed = r.trim_start();
            self.pos += r.len() - trimmed.len();
            if trimmed.starts_with("--") {
                // A line comment.
                let end = trimmed.find('\n').unwrap_or(trimmed.len());
                self.pos += end;
            } else if trimmed.starts_with("/*") {
                let end = trimmed.find("*/").map_or(trimmed.len(), |e| e + 2);
                self.pos += end;
            } else {
                return;
            }
        }
    }

    fn err(&self, at: usize, msg: impl Into<String>) -> ParseError {
        let (line, col) = self.line_col(at);
        ParseError::new(msg, line, col)
    }

    /// Scans the next token.
    pub fn next_tok(&mut self) -> Result<Tok, ParseError> {
        self.skip_space();
        let start = self.pos;
        let r = self.rest();
        let Some(c) = r.chars().next() else {
            return Ok(Tok::Eof);
        };
        if c.is_ascii_alphabetic() || c == '_' {
            let end = r
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(r.len());
            self.pos += end;
            return Ok(Tok::Ident(r[..end].to_string()));
        }
        if c == '"' || c == '\'' {
            let (text, len) = self.quoted(r, c).ok_or_else(|| {
                self.err(
                    start,
                    if c == '"' {
                        "unterminated quoted identifier"
                    } else {
                        "unterminated string"
                    },
                )
            })?;
            self.pos += len;
            return Ok(if c == '"' {
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            });
        }
        if c.is_ascii_digit() || (c == '.' && r[1..].starts_with(|d: char| d.is_ascii_digit())) {
            return self.number(start);
        }
        for op in OPS {
            if r.starts_with(op) {
                self.pos += op.len();
                return Ok(Tok::Op(op));
            }
        }
        Err(self.err(start, format!("found {c}, expected a token")))
    }

    /// A quoted text starting at `r[0] == q`: the unescaped text and the bytes consumed.
    fn quoted(&self, r: &str, q: char) -> Option<(String, usize)> {
        let mut out = String::new();
        let mut chars = r.char_indices().skip(1);
        while let Some((i, ch)) = chars.next() {
            if ch == '\\' {
                let (_, n) = chars.next()?;
                match n {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    '\\' => out.push('\\'),
                    c if c == q => out.push(c),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            } else if ch == q {
                return Some((out, i + 1));
            } else if ch == '\n' {
                return None;
            } else {
                out.push(ch);
            }
        }
        None
    }

    fn number(&mut self, start: usize) -> Result<Tok, ParseError> {
        let r = self.rest();
        let digits_end = r
            .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .unwrap_or(r.len());
        let mut end = digits_end;
        let text = &r[..digits_end];
        // An exponent (`1e3`, `2.5E-4`).
        let after = &r[digits_end..];
        let mut is_exp = false;
        if after.starts_with(['e', 'E']) {
            let tail = &after[1..];
            let sign = usize::from(tail.starts_with(['+', '-']));
            let exp_digits = tail[sign..]
                .find(|ch: char| !ch.is_ascii_digit())
                .unwrap_or(tail.len() - sign);
            if exp_digits > 0 {
                end = digits_end + 1 + sign + exp_digits;
                is_exp = true;
            }
        }
        // A duration unit right after an integer.
        if !is_exp && !text.contains('.') {
            let unit_end = after
                .find(|ch: char| !(ch.is_alphabetic() || ch == 'µ'))
                .unwrap_or(after.len());
            let unit = &after[..unit_end];
            if !unit.is_empty() {
                let per = unit_ns(unit)
                    .ok_or_else(|| self.err(start, format!("invalid duration {text}{unit}")))?;
                let n: i64 = text
                    .parse()
                    .map_err(|_| self.err(start, format!("invalid duration {text}{unit}")))?;
                let ns = n
                    .checked_mul(per)
                    .ok_or_else(|| self.err(start, format!("duration {text}{unit} overflows")))?;
                self.pos += digits_end + unit_end;
                return Ok(Tok::Duration(ns));
            }
        }
        let lit = &r[..end];
        self.pos += end;
        if !is_exp
            && !lit.contains('.')
            && let Ok(i) = lit.parse::<i64>()
        {
            return Ok(Tok::Int(i));
        }
        lit.parse::<f64>()
            .map(Tok::Num)
            .map_err(|_| self.err(start, format!("unable to parse number {lit}")))
    }

    /// Scans a regular expression `/.../` (`\/` escapes a slash); `None` when the next
    /// character is not `/`.
    pub fn regex(&mut self) -> Result<Option<String>, ParseError> {
        self.skip_space();
        let start = self.pos;
        let r = self.rest();
        if !r.starts_with('/') {
            return Ok(None);
        }
        let mut out = String::new();
        let mut chars = r.char_indices().skip(1);
        while let Some((i, ch)) = chars.next() {
            match ch {
                '\\' => match chars.next() {
                    Some((_, '/')) => out.push('/'),
                    Some((_, n)) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => break,
                },
                '/' => {
                    self.pos += i + 1;
                    return Ok(Some(out));
                }
                c => out.push(c),
            }
        }
        Err(self.err(start, "unterminated regex"))
    }
}

/// Nanoseconds per duration unit.
pub fn unit_ns(unit: &str) -> Option<i64> {
    Some(match unit {
        "ns" => 1,
        "u" | "µ" | "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 604_800_000_000_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(s: &str) -> Vec<Tok> {
        let mut l = Lexer::new(s);
        let mut v = Vec::new();
        loop {
            let t = l.next_tok().unwrap();
            if t == Tok::Eof {
                return v;
            }
            v.push(t);
        }
    }

    #[test]
    fn scans_tokens() {
        assert_eq!(
            all(r#"SELECT "a b"::field FROM x WHERE t >= 1700000000000ms AND v = 'it\'s' -- c"#),
            vec![
                Tok::Ident("SELECT".into()),
                Tok::Quoted("a b".into()),
                Tok::Op("::"),
                Tok::Ident("field".into()),
                Tok::Ident("FROM".into()),
                Tok::Ident("x".into()),
                Tok::Ident("WHERE".into()),
                Tok::Ident("t".into()),
                Tok::Op(">="),
                Tok::Duration(1_700_000_000_000_000_000),
                Tok::Ident("AND".into()),
                Tok::Ident("v".into()),
                Tok::Op("="),
                Tok::Str("it's".into()),
            ]
        );
        assert_eq!(
            all("1.5 2 1e3 10s 5µ"),
            vec![
                Tok::Num(1.5),
                Tok::Int(2),
                Tok::Num(1000.0),
                Tok::Duration(10_000_000_000),
                Tok::Duration(5_000)
            ]
        );
    }

    #[test]
    fn scans_regexes_on_demand() {
        let mut l = Lexer::new(r" /^a\/b$/ x");
        assert_eq!(l.regex().unwrap(), Some("^a/b$".into()));
        assert_eq!(l.regex().unwrap(), None);
        assert!(Lexer::new("/abc").regex().is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Lexer::new("'abc").next_tok().is_err());
        assert!(Lexer::new("10xs").next_tok().is_err());
        assert!(Lexer::new("#").next_tok().is_err());
        assert!(Lexer::new("99999999999999999999d").next_tok().is_err());
    }
}
