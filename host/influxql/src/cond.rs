//! `WHERE` clauses split into what Clio evaluates separately: a time range (ns, inclusive
//! bounds as InfluxDB states them) and a predicate over a series' tags.

use regex::Regex;

use crate::ast::{BinOp, Expr};
use crate::error::QueryError;
use crate::time::parse_time;

/// A time range in ns since the epoch, both bounds inclusive; `None` = unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest time.
    pub min: Option<i64>,
    /// Latest time.
    pub max: Option<i64>,
}

impl TimeRange {
    /// True when no time can satisfy the range.
    pub fn is_empty(&self) -> bool {
        matches!((self.min, self.max), (Some(a), Some(b)) if a > b)
    }

    fn lower(&mut self, v: i64) {
        self.min = Some(self.min.map_or(v, |m| m.max(v)));
    }

    fn upper(&mut self, v: i64) {
        self.max = Some(self.max.map_or(v, |m| m.min(v)));
    }
}

/// A predicate over tags (a missing tag reads as the empty string, as in InfluxDB).
#[derive(Debug, Clone)]
pub enum TagCond {
    /// `key = 'v'` (`negate`: `!=`).
    Eq {
        /// Tag key.
        key: String,
        /// Value.
        value: String,
        /// `!=`.
        negate: bool,
    },
    /// `key =~ /re/` (`negate`: `!~`).
    Regex {
        /// Tag key.
        key: String,
        /// The compiled regex.
        re: Regex,
        /// `!~`.
        negate: bool,
    },
    /// Both.
    And(Box<TagCond>, Box<TagCond>),
    /// Either.
    Or(Box<TagCond>, Box<TagCond>),
    /// A constant (a clause holding only time conditions).
    Const(bool),
}

impl TagCond {
    /// Evaluates the predicate; `tag(k)` gives a tag's value.
    pub fn eval<'a>(&self, tag: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            TagCond::Eq { key, value, negate } => (tag(key).unwrap_or("") == value) != *negate,
            TagCond::Regex { key, re, negate } => re.is_match(tag(key).unwrap_or("")) != *negate,
            TagCond::And(a, b) => a.eval(tag) && b.eval(tag),
            TagCond::Or(a, b) => a.eval(tag) || b.eval(tag),
            TagCond::Const(b) => *b,
        }
    }

    /// `key = value` pairs every matching series must carry (usable with an index).
    pub fn required_tags(&self) -> Vec<(String, String)> {
        match self {
            TagCond::Eq {
                key,
                value,
                negate: false,
            } if !value.is_empty() => vec![(key.clone(), value.clone())],
            TagCond::And(a, b) => {
                let mut v = a.required_tags();
                v.extend(b.required_tags());
                v
            }
            _ => Vec::new(),
        }
    }
}

/// A `WHERE` clause split.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The time range.
    pub time: TimeRange,
    /// The tag predicate (`None`: every series).
    pub tags: Option<TagCond>,
}

/// Compiles a regex from a query, with the error naming it.
pub fn compile_regex(src: &str) -> Result<Regex, QueryError> {
    regex::RegexBuilder::new(src)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| QueryError::new(format!("invalid regex /{src}/: {e}")))
}

/// Splits a `WHERE` clause. `now` is the server's time in ns; `is_field(name)` tells a field
/// of the queried measurements (conditions on fields are not supported).
pub fn split(
    cond: Option<&Expr>,
    now: i64,
    is_field: &dyn Fn(&str) -> bool,
) -> Result<Condition, QueryError> {
    let mut time = TimeRange::default();
    let tags = match cond {
        None => None,
        Some(e) => match walk(e, now, is_field, &mut time, false)? {
            TagCond::Const(true) => None,
            t => Some(t),
        },
    };
    Ok(Condition { time, tags })
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(inner) => strip(inner),
        e => e,
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(strip(e), Expr::Ident(n) if n.eq_ignore_ascii_case("time"))
}

fn walk(
    e: &Expr,
    now: i64,
    is_field: &dyn Fn(&str) -> bool,
    time: &mut TimeRange,
    under_or: bool,
) -> Result<TagCond, QueryError> {
    let e = strip(e);
    let Expr::Binary { op, lhs, rhs } = e else {
        return match e {
            Expr::Bool(b) => Ok(TagCond::Const(*b)),
            _ => Err(QueryError::new(format!(
                "invalid condition `{e}`: expected a comparison"
            ))),
        };
    };
    match op {
        BinOp::And => Ok(and(
            walk(lhs, now, is_field, time, under_or)?,
            walk(rhs, now, is_field, time, under_or)?,
        )),
        BinOp::Or => Ok(or(
            walk(lhs, now, is_field, time, true)?,
            walk(rhs, now, is_field, time, true)?,
        )),
        _ if is_time(lhs) || is_time(rhs) => {
            if under_or {
                return Err(QueryError::new(
                    "time conditions joined with OR are not supported (use AND)",
                ));
            }
            let (op, value) = if is_time(lhs) {
                (*op, rhs)
            } else {
                (flip(*op), lhs)
            };
            let t = time_value(value, now)?;
            match op {
                BinOp::Gte => time.lower(t),
                BinOp::Gt => time.lower(t.saturating_add(1)),
                BinOp::Lte => time.upper(t),
                BinOp::Lt => time.upper(t.saturating_sub(1)),
                BinOp::Eq => {
                    time.lower(t);
                    time.upper(t);
                }
                other => {
                    return Err(QueryError::new(format!(
                        "invalid time comparison operator {}",
                        other.as_str()
                    )));
                }
            }
            Ok(TagCond::Const(true))
        }
        BinOp::Eq | BinOp::Neq | BinOp::EqRegex | BinOp::NeqRegex => {
            let (key, value) = match (strip(lhs), strip(rhs)) {
                (Expr::Ident(k), v) => (k, v),
                (v, Expr::Ident(k)) if !matches!(v, Expr::Ident(_)) => (k, v),
                _ => {
                    return Err(QueryError::new(format!(
                        "invalid condition `{e}`: expected tag = 'value' or tag =~ /regex/"
                    )));
                }
            };
            if is_field(key) {
                return Err(QueryError::new(format!(
                    "conditions on fields (`{e}`) are not supported by Clio; \
                     conditions on tags and time are"
                )));
            }
            let negate = matches!(op, BinOp::Neq | BinOp::NeqRegex);
            match (op, value) {
                (BinOp::Eq | BinOp::Neq, Expr::Str(v)) => Ok(TagCond::Eq {
                    key: key.clone(),
                    value: v.clone(),
                    negate,
                }),
                // Grafana writes numeric and boolean values unquoted (`"port" = 8080`): tag
                // values are strings, so they compare as their text.
                (BinOp::Eq | BinOp::Neq, Expr::Int(_) | Expr::Num(_) | Expr::Bool(_)) => {
                    Ok(TagCond::Eq {
                        key: key.clone(),
                        value: value.to_string(),
                        negate,
                    })
                }
                (BinOp::EqRegex | BinOp::NeqRegex, Expr::Regex(r)) => Ok(TagCond::Regex {
                    key: key.clone(),
                    re: compile_regex(r)?,
                    negate,
                }),
                _ => Err(QueryError::new(format!(
                    "invalid condition `{e}`: compare a tag with a 'string' (= or !=) or a /regex/ (=~ or !~)"
                ))),
            }
        }
        other => {
            let field = [lhs, rhs].into_iter().find_map(|s| match strip(s) {
                Expr::Ident(k) => Some(k.clone()),
                _ => None,
            });
            Err(QueryError::new(match field {
                Some(f) if is_field(&f) => format!(
                    "conditions on fields (`{e}`) are not supported by Clio; conditions on tags and time are"
                ),
                _ => format!(
                    "invalid condition `{e}`: operator {} compares only time here",
                    other.as_str()
                ),
            }))
        }
    }
}

fn and(a: TagCond, b: TagCond) -> TagCond {
    match (a, b) {
        (TagCond::Const(true), x) | (x, TagCond::Const(true)) => x,
        (TagCond::Const(false), _) | (_, TagCond::Const(false)) => TagCond::Const(false),
        (a, b) => TagCond::And(Box::new(a), Box::new(b)),
    }
}

fn or(a: TagCond, b: TagCond) -> TagCond {
    match (a, b) {
        (TagCond::Const(true), _) | (_, TagCond::Const(true)) => TagCond::Const(true),
        (TagCond::Const(false), x) | (x, TagCond::Const(false)) => x,
        (a, b) => TagCond::Or(Box::new(a), Box::new(b)),
    }
}

fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Lte => BinOp::Gte,
        BinOp::Gt => BinOp::Lt,
        BinOp::Gte => BinOp::Lte,
        o => o,
    }
}

/// Evaluates a time value: an RFC3339 string, an integer (ns), a duration literal (ns
/// since the epoch, `1700000000000ms`), `now()`, and sums and differences of them.
pub fn time_value(e: &Expr, now: i64) -> Result<i64, QueryError> {
    let bad = || QueryError::new(format!("invalid time value `{e}`"));
    match strip(e) {
        Expr::Str(s) => parse_time(s),
        Expr::Int(i) => Ok(*i),
        Expr::Num(n) if n.is_finite() && n.abs() < 9.2e18 => Ok(*n as i64),
        Expr::Duration(d) => Ok(*d),
        Expr::Call { name, args } if name == "now" && args.is_empty() => Ok(now),
        Expr::Binary { op, lhs, rhs } => {
            let a = time_value(lhs, now)?;
            let b = time_value(rhs, now)?;
            match op {
                BinOp::Add => a.checked_add(b).ok_or_else(bad),
                BinOp::Sub => a.checked_sub(b).ok_or_else(bad),
                BinOp::Mul => a.checked_mul(b).ok_or_else(bad),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ast::Statement;
    use crate::parser::parse_statement;

    fn cond(w: &str) -> Result<Condition, QueryError> {
        let Statement::Select(s) = parse_statement(&format!("SELECT v FROM m WHERE {w}")).unwrap()
        else {
            panic!()
        };
        split(s.condition.as_ref(), 1_000_000_000_000, &|f| f == "v")
    }

    #[test]
    fn time_ranges() {
        let c = cond("time >= now() - 1h AND time < now()").unwrap();
        assert_eq!(c.time.min, Some(1_000_000_000_000 - 3_600_000_000_000));
        assert_eq!(c.time.max, Some(999_999_999_999));
        assert!(c.tags.is_none());
        let c = cond("time >= 1700000000000ms and time <= 1700003600000ms").unwrap();
        assert_eq!(c.time.min, Some(1_700_000_000_000_000_000));
        assert_eq!(c.time.max, Some(1_700_003_600_000_000_000));
        let c = cond("'2015-08-18T00:00:00Z' <= time AND time > 5").unwrap();
        assert_eq!(c.time.min, Some(1_439_856_000_000_000_000));
        assert!(cond("time > 1 OR host = 'a'").is_err());
        assert!(cond("time != 1").is_err());
    }

    #[test]
    fn tag_predicates() {
        let c = cond(r#"("host" =~ /^a|b$/ OR host = 'c') AND dc != 'x' AND time > 0"#).unwrap();
        let t = c.tags.unwrap();
        let look = |h: &'static str, dc: &'static str| {
            move |k: &str| match k {
                "host" => Some(h),
                "dc" => Some(dc),
                _ => None,
            }
        };
        assert!(t.eval(&look("a", "y")));
        assert!(t.eval(&look("c", "y")));
        assert!(!t.eval(&look("c", "x")));
        assert!(!t.eval(&look("d", "y")));
        assert!(cond("v > 5").unwrap_err().0.contains("fields"));
        assert!(cond("host =~ /(/").unwrap_err().0.contains("invalid regex"));
        let c = cond("port = 8080 AND up != true").unwrap().tags.unwrap();
        assert!(c.eval(&|k| (k == "port").then_some("8080")));
        let c = cond("host = 'a' AND dc = 'b'").unwrap();
        assert_eq!(c.tags.unwrap().required_tags().len(), 2);
    }
}
