//! A recursive-descent parser for the supported subset, with InfluxDB's error wording.

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::{Lexer, Tok};

/// Statements Clio recognises but does not run: they become per-statement errors.
const KNOWN_STARTS: &str =
    "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL";

/// Parses a query: one or more statements separated by `;`.
pub fn parse_query(src: &str) -> Result<Vec<Statement>, ParseError> {
    let mut p = Parser::new(src);
    let mut out = Vec::new();
    loop {
        while p.peek()? == Tok::Op(";") {
            p.next()?;
        }
        if p.peek()? == Tok::Eof {
            break;
        }
        out.push(p.statement()?);
        match p.peek()? {
            Tok::Op(";") | Tok::Eof => {}
            other => return Err(p.unexpected(&other, "EOF or ;")),
        }
    }
    if out.is_empty() {
        return Err(ParseError::new(
            "found EOF, expected ".to_string() + KNOWN_STARTS,
            1,
            1,
        ));
    }
    Ok(out)
}

/// Parses a single statement (the whole text).
pub fn parse_statement(src: &str) -> Result<Statement, ParseError> {
    let mut v = parse_query(src)?;
    if v.len() != 1 {
        return Err(ParseError::new("expected one statement", 1, 1));
    }
    Ok(v.remove(0))
}

/// The parser: a lexer with one token of lookahead.
#[derive(Debug)]
pub struct Parser<'a> {
    lex: Lexer<'a>,
    /// The peeked token, the position it starts at and the lexer state before it.
    peeked: Option<(Tok, usize, Lexer<'a>)>,
    /// Nesting depth of expressions (bounded so that input cannot overflow the stack).
    depth: usize,
    /// Binary operators parsed in this statement (bounded: a long `AND` chain is a deep
    /// tree, and everything walking it recurses).
    ops: usize,
}

const MAX_DEPTH: usize = 64;
const MAX_OPS: usize = 1000;

impl<'a> Parser<'a> {
    /// A parser over `src`.
    pub fn new(src: &'a str) -> Self {
        Parser {
            lex: Lexer::new(src),
            peeked: None,
            depth: 0,
            ops: 0,
        }
    }

    fn peek(&mut self) -> Result<Tok, ParseError> {
        if self.peeked.is_none() {
            let before = self.lex.clone();
            let at = self.lex.pos();
            let t = self.lex.next_tok()?;
            self.peeked = Some((t, at, before));
        }
        Ok(self.peeked.as_ref().map_or(Tok::Eof, |p| p.0.clone()))
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        match self.peeked.take() {
            Some((t, _, _)) => Ok(t),
            None => self.lex.next_tok(),
        }
    }

    fn pos(&mut self) -> usize {
        match &self.peeked {
            Some((_, at, _)) => *at,
            None => self.lex.pos(),
        }
    }

    fn err_here(&mut self, msg: impl Into<String>) -> ParseError {
        let at = self.pos();
        let (line, col) = self.lex.line_col(at);
        ParseError::new(msg, line, col)
    }

    fn unexpected(&mut self, found: &Tok, expected: &str) -> ParseError {
        self.err_here(format!("found {}, expected {expected}", found.describe()))
    }

    /// A regex at this point, if the next character starts one.
    fn regex(&mut self) -> Result<Option<String>, ParseError> {
        if let Some((_, _, before)) = self.peeked.take() {
            self.lex = before;
        }
        self.lex.regex()
    }

    fn eat_kw(&mut self, kw: &str) -> Result<bool, ParseError> {
        if self.peek()?.is_kw(kw) {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        let t = self.peek()?;
        if t.is_kw(kw) {
            self.next()?;
            Ok(())
        } else {
            Err(self.unexpected(&t, kw))
        }
    }

    fn eat_op(&mut self, op: &str) -> Result<bool, ParseError> {
        if matches!(self.peek()?, Tok::Op(o) if o == op) {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        let t = self.peek()?;
        if matches!(t, Tok::Op(o) if o == op) {
            self.next()?;
            Ok(())
        } else {
            Err(self.unexpected(&t, op))
        }
    }

    /// An identifier (bare or quoted).
    fn ident(&mut self) -> Result<String, ParseError> {
        match self.peek()? {
            Tok::Ident(s) | Tok::Quoted(s) => {
                self.next()?;
                Ok(s)
            }
            other => Err(self.unexpected(&other, "identifier")),
        }
    }

    /// An identifier or a string (`WITH KEY = "k"` or `'k'`).
    fn ident_or_str(&mut self) -> Result<String, ParseError> {
        match self.peek()? {
            Tok::Ident(s) | Tok::Quoted(s) | Tok::Str(s) => {
                self.next()?;
                Ok(s)
            }
            other => Err(self.unexpected(&other, "identifier or string")),
        }
    }

    fn uint(&mut self, what: &str) -> Result<u64, ParseError> {
        match self.peek()? {
            Tok::Int(i) if i >= 0 => {
                self.next()?;
                Ok(i as u64)
            }
            other => Err(self.unexpected(&other, &format!("integer ({what})"))),
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        self.ops = 0;
        let t = self.peek()?;
        let Tok::Ident(word) = &t else {
            return Err(self.unexpected(&t, KNOWN_STARTS));
        };
        match word.to_ascii_uppercase().as_str() {
            "SELECT" => {
                self.next()?;
                Ok(Statement::Select(Box::new(self.select()?)))
            }
            "SHOW" => {
                self.next()?;
                self.show()
            }
            "CREATE" => {
                self.next()?;
                if self.eat_kw("DATABASE")? {
                    let name = self.ident()?;
                    self.skip_rest()?;
                    Ok(Statement::CreateDatabase { name })
                } else {
                    self.unsupported("CREATE")
                }
            }
            "DROP" => {
                self.next()?;
                if self.eat_kw("SERIES")? {
                    let from = self.opt_from()?;
                    let condition = self.opt_where()?;
                    if from.is_empty() && condition.is_none() {
                        return Err(
                            self.err_here("DROP SERIES needs a FROM clause or a WHERE clause")
                        );
                    }
                    Ok(Statement::DropSeries { from, condition })
                } else if self.eat_kw("MEASUREMENT")? {
                    let name = self.ident()?;
                    Ok(Statement::DropSeries {
                        from: vec![Source {
                            database: None,
                            retention_policy: None,
                            name: SourceName::Name(name),
                        }],
                        condition: None,
                    })
                } else {
                    self.unsupported("DROP")
                }
            }
            "DELETE" => {
                self.next()?;
                let from = self.opt_from()?;
                let condition = self.opt_where()?;
                if from.is_empty() && condition.is_none() {
                    return Err(self.err_here("DELETE needs a FROM clause or a WHERE clause"));
                }
                Ok(Statement::Delete { from, condition })
            }
            "EXPLAIN" | "GRANT" | "REVOKE" | "ALTER" | "SET" | "KILL" => {
                let w = word.to_ascii_uppercase();
                self.next()?;
                self.unsupported(&w)
            }
            _ => Err(self.unexpected(&t, KNOWN_STARTS)),
        }
    }

    /// Skips the rest of a statement and names it unsupported.
    fn unsupported(&mut self, head: &str) -> Result<Statement, ParseError> {
        let mut words = vec![head.to_string()];
        // The words naming the statement (`SHOW USERS`, `CREATE RETENTION POLICY`).
        while let Tok::Ident(w) = self.peek()? {
            if words.len() >= 4 {
                break;
            }
            words.push(w.to_ascii_uppercase());
            self.next()?;
        }
        self.skip_rest()?;
        Ok(Statement::Unsupported {
            what: words.join(" "),
        })
    }

    fn skip_rest(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek()? {
                Tok::Op(";") | Tok::Eof => return Ok(()),
                _ => {
                    self.next()?;
                }
            }
        }
    }

    fn opt_on(&mut self) -> Result<Option<String>, ParseError> {
        if self.eat_kw("ON")? {
            return Ok(Some(self.ident()?));
        }
        Ok(None)
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        let t = self.peek()?;
        let word = match &t {
            Tok::Ident(w) => w.to_ascii_uppercase(),
            _ => {
                return Err(
                    self.unexpected(&t, "DATABASES, MEASUREMENTS, TAG, FIELD, SERIES, RETENTION")
                );
            }
        };
        match word.as_str() {
            "DATABASES" => {
                self.next()?;
                Ok(Statement::ShowDatabases)
            }
            "RETENTION" => {
                self.next()?;
                self.expect_kw("POLICIES")?;
                let on = self.opt_on()?;
                Ok(Statement::ShowRetentionPolicies { on })
            }
            "MEASUREMENTS" => {
                self.next()?;
                self.opt_on()?;
                let mut with = None;
                if self.eat_kw("WITH")? {
                    self.expect_kw("MEASUREMENT")?;
                    with = Some(self.name_match()?);
                }
                let condition = self.opt_where()?;
                let page = self.page()?;
                Ok(Statement::ShowMeasurements {
                    with,
                    condition,
                    page,
                })
            }
            "TAG" => {
                self.next()?;
                if self.eat_kw("KEYS")? {
                    self.opt_on()?;
                    let from = self.opt_from()?;
                    let condition = self.opt_where()?;
                    let page = self.page()?;
                    Ok(Statement::ShowTagKeys {
                        from,
                        condition,
                        page,
                    })
                } else if self.eat_kw("VALUES")? {
                    self.opt_on()?;
                    let from = self.opt_from()?;
                    self.expect_kw("WITH")?;
                    self.expect_kw("KEY")?;
                    let key = self.key_match()?;
                    let condition = self.opt_where()?;
                    let page = self.page()?;
                    Ok(Statement::ShowTagValues {
                        from,
                        key,
                        condition,
                        page,
                    })
                } else {
                    let t = self.peek()?;
                    Err(self.unexpected(&t, "KEYS, VALUES"))
                }
            }
            "FIELD" => {
                self.next()?;
                self.expect_kw("KEYS")?;
                self.opt_on()?;
                let from = self.opt_from()?;
                let page = self.page()?;
                Ok(Statement::ShowFieldKeys { from, page })
            }
            "SERIES" => {
                self.next()?;
                self.opt_on()?;
                let from = self.opt_from()?;
                let condition = self.opt_where()?;
                let page = self.page()?;
                Ok(Statement::ShowSeries {
                    from,
                    condition,
                    page,
                })
            }
            _ => self.unsupported("SHOW"),
        }
    }

    fn name_match(&mut self) -> Result<NameMatch, ParseError> {
        let t = self.next()?;
        let op = match t {
            Tok::Op(o @ ("=" | "!=" | "<>" | "=~" | "!~")) => o,
            other => return Err(self.unexpected(&other, "=, !=, =~ or !~")),
        };
        if matches!(op, "=~" | "!~") {
            let Some(re) = self.regex()? else {
                let t = self.peek()?;
                return Err(self.unexpected(&t, "regex"));
            };
            return Ok(if op == "=~" {
                NameMatch::Regex(re)
            } else {
                NameMatch::NotRegex(re)
            });
        }
        let name = self.ident_or_str()?;
        Ok(if op == "=" {
            NameMatch::Eq(name)
        } else {
            NameMatch::Neq(name)
        })
    }

    fn key_match(&mut self) -> Result<KeyMatch, ParseError> {
        if self.eat_kw("IN")? {
            self.expect_op("(")?;
            let mut keys = vec![self.ident_or_str()?];
            while self.eat_op(",")? {
                keys.push(self.ident_or_str()?);
            }
            self.expect_op(")")?;
            return Ok(KeyMatch::In(keys));
        }
        Ok(match self.name_match()? {
            NameMatch::Eq(k) => KeyMatch::In(vec![k]),
            NameMatch::Neq(k) => KeyMatch::Neq(k),
            NameMatch::Regex(r) => KeyMatch::Regex(r),
            NameMatch::NotRegex(r) => KeyMatch::NotRegex(r),
        })
    }

    fn opt_from(&mut self) -> Result<Vec<Source>, ParseError> {
        if !self.eat_kw("FROM")? {
            return Ok(Vec::new());
        }
        let mut v = vec![self.source()?];
        while self.eat_op(",")? {
            v.push(self.source()?);
        }
        Ok(v)
    }

    fn source(&mut self) -> Result<Source, ParseError> {
        if let Some(re) = self.regex()? {
            return Ok(Source {
                database: None,
                retention_policy: None,
                name: SourceName::Regex(re),
            });
        }
        // Up to three parts separated by dots; `db..m` leaves the policy empty.
        let mut parts: Vec<Option<String>> = vec![Some(self.ident()?)];
        while parts.len() < 3 && self.eat_op(".")? {
            if let Some(re) = self.regex()? {
                parts.push(None);
                let (database, retention_policy) = split_qualifiers(&parts);
                return Ok(Source {
                    database,
                    retention_policy,
                    name: SourceName::Regex(re),
                });
            }
            match self.peek()? {
                Tok::Op(".") => parts.push(None),
                _ => parts.push(Some(self.ident()?)),
            }
        }
        let name = parts
            .pop()
            .flatten()
            .ok_or_else(|| self.err_here("missing measurement name"))?;
        parts.push(None);
        let (database, retention_policy) = split_qualifiers(&parts);
        Ok(Source {
            database,
            retention_policy,
            name: SourceName::Name(name),
        })
    }

    fn opt_where(&mut self) -> Result<Option<Expr>, ParseError> {
        if self.eat_kw("WHERE")? {
            return Ok(Some(self.expr(0)?));
        }
        Ok(None)
    }

    fn page(&mut self) -> Result<Page, ParseError> {
        let mut page = Page::default();
        if self.eat_kw("LIMIT")? {
            page.limit = self.uint("LIMIT")?;
        }
        if self.eat_kw("OFFSET")? {
            page.offset = self.uint("OFFSET")?;
        }
        Ok(page)
    }

    fn select(&mut self) -> Result<Select, ParseError> {
        let mut fields = vec![self.field()?];
        while self.eat_op(",")? {
            fields.push(self.field()?);
        }
        if self.peek()?.is_kw("INTO") {
            return Err(self.err_here("SELECT ... INTO is not supported by Clio"));
        }
        self.expect_kw("FROM")?;
        let mut sources = vec![self.source()?];
        while self.eat_op(",")? {
            sources.push(self.source()?);
        }
        let condition = self.opt_where()?;
        let mut group_time = None;
        let mut group_tags = GroupTags::None;
        if self.eat_kw("GROUP")? {
            self.expect_kw("BY")?;
            loop {
                self.dimension(&mut group_time, &mut group_tags)?;
                if !self.eat_op(",")? {
                    break;
                }
            }
        }
        let mut fill = Fill::Null;
        if self.peek()?.is_kw("fill") {
            self.next()?;
            fill = self.fill()?;
        }
        let mut descending = false;
        if self.eat_kw("ORDER")? {
            self.expect_kw("BY")?;
            let t = self.peek()?;
            if !(t.is_kw("time") || t == Tok::Quoted("time".into())) {
                return Err(self.err_here("only ORDER BY time supported at this time"));
            }
            self.next()?;
            if self.eat_kw("DESC")? {
                descending = true;
            } else {
                self.eat_kw("ASC")?;
            }
        }
        let page = self.page()?;
        let mut series_page = Page::default();
        if self.eat_kw("SLIMIT")? {
            series_page.limit = self.uint("SLIMIT")?;
        }
        if self.eat_kw("SOFFSET")? {
            series_page.offset = self.uint("SOFFSET")?;
        }
        let mut tz = None;
        if self.peek()?.is_kw("tz") {
            self.next()?;
            self.expect_op("(")?;
            match self.next()? {
                Tok::Str(s) => tz = Some(s),
                other => return Err(self.unexpected(&other, "string")),
            }
            self.expect_op(")")?;
        }
        Ok(Select {
            fields,
            sources,
            condition,
            group_time,
            group_tags,
            fill,
            descending,
            page,
            series_page,
            tz,
        })
    }

    fn field(&mut self) -> Result<Field, ParseError> {
        let expr = self.expr(0)?;
        let alias = if self.eat_kw("AS")? {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(Field { expr, alias })
    }

    fn dimension(
        &mut self,
        group_time: &mut Option<GroupTime>,
        tags: &mut GroupTags,
    ) -> Result<(), ParseError> {
        if self.eat_op("*")? {
            *tags = GroupTags::All;
            return Ok(());
        }
        if let Some(re) = self.regex()? {
            push_dim(tags, TagDim::Regex(re));
            return Ok(());
        }
        let t = self.peek()?;
        if t.is_kw("time") {
            self.next()?;
            if self.eat_op("(")? {
                let interval = self.duration("GROUP BY time interval")?;
                if interval <= 0 {
                    return Err(self.err_here("GROUP BY time interval must be positive"));
                }
                let mut offset = 0;
                if self.eat_op(",")? {
                    let neg = self.eat_op("-")?;
                    offset = self.duration("GROUP BY time offset")?;
                    if neg {
                        offset = -offset;
                    }
                }
                self.expect_op(")")?;
                if group_time.is_some() {
                    return Err(self.err_here("multiple time dimensions"));
                }
                *group_time = Some(GroupTime { interval, offset });
                return Ok(());
            }
            push_dim(tags, TagDim::Name("time".into()));
            return Ok(());
        }
        let name = self.ident()?;
        // A `::tag` cast on a dimension.
        if self.eat_op("::")? {
            self.ident()?;
        }
        push_dim(tags, TagDim::Name(name));
        Ok(())
    }

    fn duration(&mut self, what: &str) -> Result<i64, ParseError> {
        match self.next()? {
            Tok::Duration(d) => Ok(d),
            // `time(0)` and bare integers are nanoseconds, as in InfluxDB.
            Tok::Int(i) => Ok(i),
            other => Err(self.unexpected(&other, &format!("duration ({what})"))),
        }
    }

    fn fill(&mut self) -> Result<Fill, ParseError> {
        self.expect_op("(")?;
        let neg = self.eat_op("-")?;
        let t = self.next()?;
        let f = match &t {
            Tok::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "null" => Fill::Null,
                "none" => Fill::None,
                "previous" => Fill::Previous,
                "linear" => Fill::Linear,
                _ => return Err(self.unexpected(&t, "null, none, previous, linear or a number")),
            },
            Tok::Int(i) => Fill::Value(*i as f64),
            Tok::Num(n) => Fill::Value(*n),
            _ => return Err(self.unexpected(&t, "null, none, previous, linear or a number")),
        };
        let f = match (neg, f) {
            (true, Fill::Value(v)) => Fill::Value(-v),
            (true, _) => return Err(self.err_here("only a number can be negative in fill()")),
            (false, f) => f,
        };
        self.expect_op(")")?;
        Ok(f)
    }

    /// Precedence climbing over binary operators.
    fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here("expression nested too deeply"));
        }
        let r = self.expr_inner(min_prec);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let Some(op) = self.peek_binop()? else {
                return Ok(lhs);
            };
            let prec = op.precedence();
            if prec <= min_prec {
                return Ok(lhs);
            }
            self.ops += 1;
            if self.ops > MAX_OPS {
                return Err(self.err_here(format!(
                    "expression too large (more than {MAX_OPS} operators)"
                )));
            }
            self.next()?;
            let rhs = if matches!(op, BinOp::EqRegex | BinOp::NeqRegex) {
                match self.regex()? {
                    Some(re) => Expr::Regex(re),
                    None => {
                        let t = self.peek()?;
                        return Err(self.unexpected(&t, "regex"));
                    }
                }
            } else {
                self.expr(prec)?
            };
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn peek_binop(&mut self) -> Result<Option<BinOp>, ParseError> {
        Ok(Some(match self.peek()? {
            Tok::Op("=") => BinOp::Eq,
            Tok::Op("!=" | "<>") => BinOp::Neq,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Lte,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Gte,
            Tok::Op("=~") => BinOp::EqRegex,
            Tok::Op("!~") => BinOp::NeqRegex,
            Tok::Op("+") => BinOp::Add,
            Tok::Op("-") => BinOp::Sub,
            Tok::Op("*") => BinOp::Mul,
            Tok::Op("/") => BinOp::Div,
            Tok::Op("%") => BinOp::Mod,
            t if t.is_kw("AND") => BinOp::And,
            t if t.is_kw("OR") => BinOp::Or,
            _ => return Ok(None),
        }))
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        if self.depth > MAX_DEPTH {
            return Err(self.err_here("expression nested too deeply"));
        }
        if self.eat_op("-")? {
            return Ok(match self.unary()? {
                Expr::Int(i) => Expr::Int(i.saturating_neg()),
                Expr::Num(n) => Expr::Num(-n),
                Expr::Duration(d) => Expr::Duration(d.saturating_neg()),
                e => Expr::Binary {
                    op: BinOp::Mul,
                    lhs: Box::new(Expr::Int(-1)),
                    rhs: Box::new(e),
                },
            });
        }
        if self.eat_op("+")? {
            return self.unary();
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek()?;
        match t {
            Tok::Op("(") => {
                self.next()?;
                let e = self.expr(0)?;
                self.expect_op(")")?;
                Ok(Expr::Paren(Box::new(e)))
            }
            Tok::Op("*") => {
                self.next()?;
                // `*::field`
                if self.eat_op("::")? {
                    self.ident()?;
                }
                Ok(Expr::Wildcard)
            }
            Tok::Op("/") => match self.regex()? {
                Some(re) => Ok(Expr::Regex(re)),
                None => Err(self.unexpected(&t, "expression")),
            },
            Tok::Str(s) => {
                self.next()?;
                Ok(Expr::Str(s))
            }
            Tok::Int(i) => {
                self.next()?;
                Ok(Expr::Int(i))
            }
            Tok::Num(n) => {
                self.next()?;
                Ok(Expr::Num(n))
            }
            Tok::Duration(d) => {
                self.next()?;
                Ok(Expr::Duration(d))
            }
            Tok::Quoted(s) => {
                self.next()?;
                self.opt_cast()?;
                Ok(Expr::Ident(s))
            }
            Tok::Ident(s) => {
                self.next()?;
                if self.eat_op("(")? {
                    let mut args = Vec::new();
                    if !self.eat_op(")")? {
                        loop {
                            args.push(self.expr(0)?);
                            if self.eat_op(")")? {
                                break;
                            }
                            self.expect_op(",")?;
                        }
                    }
                    return Ok(Expr::Call {
                        name: s.to_ascii_lowercase(),
                        args,
                    });
                }
                if s.eq_ignore_ascii_case("true") {
                    return Ok(Expr::Bool(true));
                }
                if s.eq_ignore_ascii_case("false") {
                    return Ok(Expr::Bool(false));
                }
                if is_reserved(&s) {
                    return Err(self.err_here(format!(
                        "found {s}, expected identifier, string, number, bool"
                    )));
                }
                self.opt_cast()?;
                Ok(Expr::Ident(s))
            }
            other => Err(self.unexpected(&other, "identifier, string, number, bool")),
        }
    }

    fn opt_cast(&mut self) -> Result<(), ParseError> {
        if self.eat_op("::")? {
            let ty = self.ident()?;
            if !matches!(
                ty.to_ascii_lowercase().as_str(),
                "field" | "tag" | "float" | "integer" | "string" | "boolean" | "unsigned"
            ) {
                return Err(self.err_here(format!("unknown type {ty}")));
            }
        }
        Ok(())
    }
}

/// Keywords that cannot be bare identifiers in an expression.
fn is_reserved(s: &str) -> bool {
    matches!(
        s.to_ascii_uppercase().as_str(),
        "SELECT"
            | "FROM"
            | "WHERE"
            | "GROUP"
            | "BY"
            | "ORDER"
            | "LIMIT"
            | "OFFSET"
            | "SLIMIT"
            | "SOFFSET"
            | "AND"
            | "OR"
            | "AS"
            | "INTO"
            | "FILL"
            | "ON"
            | "WITH"
    )
}

fn push_dim(tags: &mut GroupTags, d: TagDim) {
    match tags {
        GroupTags::All => {}
        GroupTags::None => *tags = GroupTags::Some(vec![d]),
        GroupTags::Some(v) => v.push(d),
    }
}

/// `[db, rp, None]`-style qualifier lists (the last element stands for the name) into the
/// database and the retention policy.
fn split_qualifiers(parts: &[Option<String>]) -> (Option<String>, Option<String>) {
    match parts.len() {
        3 => (parts[0].clone(), parts[1].clone()),
        2 => (None, parts[0].clone()),
        _ => (None, None),
    }
}
