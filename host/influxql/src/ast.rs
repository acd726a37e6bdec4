//! The statements and expressions of the supported subset.

/// One statement of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SHOW DATABASES`.
    ShowDatabases,
    /// `SHOW RETENTION POLICIES [ON db]`.
    ShowRetentionPolicies {
        /// The database named by `ON`.
        on: Option<String>,
    },
    /// `SHOW MEASUREMENTS [ON db] [WITH MEASUREMENT =~ /re/ | = m] [WHERE ...] [LIMIT n] [OFFSET n]`.
    ShowMeasurements {
        /// `WITH MEASUREMENT`.
        with: Option<NameMatch>,
        /// `WHERE` on tags.
        condition: Option<Expr>,
        /// `LIMIT` / `OFFSET`.
        page: Page,
    },
    /// `SHOW TAG KEYS [FROM m] [WHERE ...] [LIMIT n] [OFFSET n]`.
    ShowTagKeys {
        /// `FROM`.
        from: Vec<Source>,
        /// `WHERE` on tags.
        condition: Option<Expr>,
        /// `LIMIT` / `OFFSET`.
        page: Page,
    },
    /// `SHOW TAG VALUES [FROM m] WITH KEY = "k" | IN (...) | =~ /re/ [WHERE ...] [LIMIT n]`.
    ShowTagValues {
        /// `FROM`.
        from: Vec<Source>,
        /// Which keys.
        key: KeyMatch,
        /// `WHERE` on tags.
        condition: Option<Expr>,
        /// `LIMIT` / `OFFSET`.
        page: Page,
    },
    /// `SHOW FIELD KEYS [FROM m] [LIMIT n] [OFFSET n]`.
    ShowFieldKeys {
        /// `FROM`.
        from: Vec<Source>,
        /// `LIMIT` / `OFFSET`.
        page: Page,
    },
    /// `SHOW SERIES [FROM m] [WHERE ...] [LIMIT n] [OFFSET n]`.
    ShowSeries {
        /// `FROM`.
        from: Vec<Source>,
        /// `WHERE` on tags.
        condition: Option<Expr>,
        /// `LIMIT` / `OFFSET`.
        page: Page,
    },
    /// `CREATE DATABASE name [...]`: accepted (Clio has one namespace).
    CreateDatabase {
        /// The name.
        name: String,
    },
    /// `DROP SERIES [FROM m] [WHERE tags]`: deletes whole series.
    DropSeries {
        /// `FROM`.
        from: Vec<Source>,
        /// `WHERE` on tags.
        condition: Option<Expr>,
    },
    /// `DELETE [FROM m] [WHERE tags AND time]`: deletes points (whole series when no time).
    Delete {
        /// `FROM`.
        from: Vec<Source>,
        /// `WHERE` on tags and time.
        condition: Option<Expr>,
    },
    /// `SELECT`.
    Select(Box<Select>),
    /// A statement InfluxDB has and Clio does not run (`SHOW USERS`, `GRANT ...`): answered
    /// with a per-statement error naming it.
    Unsupported {
        /// The statement's leading words.
        what: String,
    },
}

/// `LIMIT` and `OFFSET`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    /// `LIMIT n` (0 = none, as in InfluxDB).
    pub limit: u64,
    /// `OFFSET n`.
    pub offset: u64,
}

/// A measurement name or a regex over names.
#[derive(Debug, Clone, PartialEq)]
pub enum NameMatch {
    /// `= name`.
    Eq(String),
    /// `=~ /re/`.
    Regex(String),
    /// `!~ /re/`.
    NotRegex(String),
    /// `!= name`.
    Neq(String),
}

/// `WITH KEY ...` of `SHOW TAG VALUES`.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMatch {
    /// `= "k"` or `IN ("a", "b")`.
    In(Vec<String>),
    /// `!= "k"`.
    Neq(String),
    /// `=~ /re/`.
    Regex(String),
    /// `!~ /re/`.
    NotRegex(String),
}

/// A `FROM` source: `m`, `rp.m`, `db.rp.m`, `db..m` or `/re/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The database, when named.
    pub database: Option<String>,
    /// The retention policy, when named.
    pub retention_policy: Option<String>,
    /// The measurement or a regex over measurements.
    pub name: SourceName,
}

/// The measurement part of a source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceName {
    /// A measurement name.
    Name(String),
    /// `/re/`.
    Regex(String),
}

/// A `SELECT` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// The projections.
    pub fields: Vec<Field>,
    /// `FROM`.
    pub sources: Vec<Source>,
    /// `WHERE`.
    pub condition: Option<Expr>,
    /// `GROUP BY time(interval[, offset])`, in nanoseconds.
    pub group_time: Option<GroupTime>,
    /// `GROUP BY` tags.
    pub group_tags: GroupTags,
    /// `fill(...)`.
    pub fill: Fill,
    /// `ORDER BY time DESC`.
    pub descending: bool,
    /// `LIMIT` / `OFFSET` (rows per series).
    pub page: Page,
    /// `SLIMIT` / `SOFFSET` (series).
    pub series_page: Page,
    /// `tz('...')`: accepted only for UTC.
    pub tz: Option<String>,
}

/// `GROUP BY time(interval, offset)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTime {
    /// The interval in ns (> 0).
    pub interval: i64,
    /// The offset in ns.
    pub offset: i64,
}

/// `GROUP BY` tag dimensions.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum GroupTags {
    /// None.
    #[default]
    None,
    /// `*`: every tag.
    All,
    /// Named tags (and tags matched by regexes).
    Some(Vec<TagDim>),
}

/// One tag dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum TagDim {
    /// A tag name.
    Name(String),
    /// `/re/`: every tag key matching.
    Regex(String),
}

/// `fill(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Fill {
    /// `fill(null)`, the default.
    #[default]
    Null,
    /// `fill(none)`: empty intervals are left out.
    None,
    /// `fill(previous)`.
    Previous,
    /// `fill(linear)`.
    Linear,
    /// `fill(<number>)`.
    Value(f64),
}

/// A projection with its alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The expression.
    pub expr: Expr,
    /// `AS alias`.
    pub alias: Option<String>,
}

/// Binary operators, loosest first by precedence group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `OR`.
    Or,
    /// `AND`.
    And,
    /// `=`.
    Eq,
    /// `!=` or `<>`.
    Neq,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `=~`.
    EqRegex,
    /// `!~`.
    NeqRegex,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
}

impl BinOp {
    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq
            | BinOp::Neq
            | BinOp::Lt
            | BinOp::Lte
            | BinOp::Gt
            | BinOp::Gte
            | BinOp::EqRegex
            | BinOp::NeqRegex => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
        }
    }

    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "OR",
            BinOp::And => "AND",
            BinOp::Eq => "=",
            BinOp::Neq => "!=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::EqRegex => "=~",
            BinOp::NeqRegex => "!~",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
        }
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A name (field, tag or `time`), with its `::type` when given.
    Ident(String),
    /// `*`.
    Wildcard,
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Num(f64),
    /// A duration literal in ns.
    Duration(i64),
    /// `true` / `false`.
    Bool(bool),
    /// A regex literal.
    Regex(String),
    /// A function call (`now()`, `mean(value)`).
    Call {
        /// The name, lower-cased.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// A binary expression.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left side.
        lhs: Box<Expr>,
        /// Right side.
        rhs: Box<Expr>,
    },
    /// A parenthesised expression.
    Paren(Box<Expr>),
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Ident(s) => write!(f, "{s}"),
            Expr::Wildcard => write!(f, "*"),
            Expr::Str(s) => write!(f, "'{s}'"),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Duration(d) => write!(f, "{d}ns"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Regex(r) => write!(f, "/{r}/"),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            Expr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            Expr::Paren(e) => write!(f, "({e})"),
        }
    }
}
