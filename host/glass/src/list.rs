//! Listing rows: filters on columns (`line=3`, `type=temperature`, `confidence=gte:0.8`),
//! a time range on the table's time column (`from`, `to`: half-open), filters on JSON fields
//! (`json.prediction.label=crack`, `json.input_data.temp=gt:1200`), sorting (`sort=-timestamp`)
//! and keyset paging with an opaque cursor (`limit`, `cursor`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::crud::{kinds, row_json, select_list};
use crate::engine::{Dialect, Tx, quote};
use crate::error::GlassError;
use crate::tables::{Column, Table};
use crate::value::{Kind, Val};

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most rows per page.
pub const MAX_LIMIT: usize = 1000;

/// One page of rows.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The rows.
    pub items: Vec<Json>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    fn split(v: &str) -> (Op, &str) {
        for (p, op) in [
            ("gte:", Op::Gte),
            ("lte:", Op::Lte),
            ("gt:", Op::Gt),
            ("lt:", Op::Lt),
            ("ne:", Op::Ne),
            ("eq:", Op::Eq),
        ] {
            if let Some(rest) = v.strip_prefix(p) {
                return (op, rest);
            }
        }
        (Op::Eq, v)
    }
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }
}

struct Query {
    wheres: Vec<String>,
    params: Vec<Val>,
}

impl Query {
    fn push(&mut self, v: Val) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }
}

fn json_filter(
    q: &mut Query,
    t: &Table,
    dialect: Dialect,
    name: &str,
    raw: &str,
) -> Result<(), GlassError> {
    let mut parts = name.split('.');
    let col_name = parts.next().unwrap_or("");
    let c = t
        .column(col_name)
        .filter(|c| c.kind == Kind::Json)
        .ok_or_else(|| {
            GlassError::invalid(
                format!("json.{name}"),
                format!("{} has no JSON column {col_name:?}", t.name),
            )
        })?;
    let path: Vec<&str> = parts.collect();
    if path.is_empty()
        || path
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(GlassError::invalid(
            format!("json.{name}"),
            "expected json.<column>.<key>[.<key>...] with keys of letters, digits and _",
        ));
    }
    let (op, value) = Op::split(raw);
    let col = quote(c.name);
    let numeric = matches!(op, Op::Gt | Op::Gte | Op::Lt | Op::Lte);
    // Keys are checked to be [A-Za-z0-9_]+ above, so they can be spelled inline.
    let (text_expr, num_expr) = match dialect {
        Dialect::Postgres => {
            let p = format!("'{{{}}}'", path.join(","));
            (
                format!("({col} #>> {p})"),
                format!(
                    "(CASE WHEN jsonb_typeof({col} #> {p}) = 'number' THEN ({col} #>> {p})::float8 END)"
                ),
            )
        }
        Dialect::Sqlite => {
            let p = format!("'$.{}'", path.join("."));
            (
                format!(
                    "(CASE json_type({col}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                     WHEN 'object' THEN NULL WHEN 'array' THEN NULL \
                     ELSE CAST(json_extract({col}, {p}) AS TEXT) END)"
                ),
                format!(
                    "(CASE WHEN json_type({col}, {p}) IN ('integer', 'real') THEN json_extract({col}, {p}) END)"
                ),
            )
        }
    };
    if numeric {
        let x: f64 = value.parse().map_err(|_| {
            GlassError::invalid(
                format!("json.{name}"),
                format!("expected a number, got {value:?}"),
            )
        })?;
        let m = q.push(Val::Float(x));
        q.wheres.push(format!("{num_expr} {} {m}", op.sql()));
    } else {
        let m = q.push(Val::Text(value.to_owned()));
        q.wheres.push(format!("{text_expr} {} {m}", op.sql()));
    }
    Ok(())
}

fn column_filter(q: &mut Query, c: &Column, field: &str, raw: &str) -> Result<(), GlassError> {
    let (op, value) = Op::split(raw);
    if value == "null" && matches!(op, Op::Eq | Op::Ne) {
        let not = if op == Op::Ne { " NOT" } else { "" };
        q.wheres.push(format!("{} IS{not} NULL", quote(c.name)));
        return Ok(());
    }
    let v = Val::from_text(c.kind, value).map_err(|m| GlassError::invalid(field, m))?;
    let m = q.push(v);
    q.wheres.push(format!("{} {} {m}", quote(c.name), op.sql()));
    Ok(())
}

/// The cursor: where the previous page stopped, and the sort it belongs to.
fn encode_cursor(sort: &str, value: &Val, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(json!({"s": sort, "v": value.to_json(), "id": id}).to_string())
}

fn decode_cursor(raw: &str, sort: &str, c: &Column) -> Result<(Val, i64), GlassError> {
    let bad = |m: &str| GlassError::invalid("cursor", m.to_owned());
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim())
        .map_err(|_| bad("not a cursor of this API"))?;
    let j: Json = serde_json::from_slice(&bytes).map_err(|_| bad("not a cursor of this API"))?;
    if j["s"].as_str() != Some(sort) {
        return Err(bad(
            "belongs to another sort order; start again without a cursor",
        ));
    }
    let id = j["id"]
        .as_i64()
        .ok_or_else(|| bad("not a cursor of this API"))?;
    let v = Val::from_json(c.kind, &j["v"]).map_err(|_| bad("not a cursor of this API"))?;
    Ok((v, id))
}

/// Lists rows of `t` matching the query-string `params`.
pub(crate) async fn list(
    tx: &mut Box<dyn Tx + '_>,
    dialect: Dialect,
    t: &Table,
    params: &[(String, String)],
) -> Result<Page, GlassError> {
    let mut q = Query {
        wheres: Vec::new(),
        params: Vec::new(),
    };
    let mut limit = DEFAULT_LIMIT;
    let mut sort = "id".to_owned();
    let mut cursor = None;
    for (k, v) in params {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        GlassError::invalid("limit", format!("expected 1..={MAX_LIMIT}"))
                    })?;
            }
            "sort" => sort = v.clone(),
            "cursor" => cursor = Some(v.clone()),
            "from" | "to" => {
                let c = t
                    .column(t.time_column)
                    .ok_or_else(|| GlassError::Db(format!("{}: no time column", t.name)))?;
                let ms = Val::from_text(Kind::Time, v).map_err(|m| GlassError::invalid(k, m))?;
                let m = q.push(ms);
                let op = if k == "from" { ">=" } else { "<" };
                q.wheres.push(format!("{} {op} {m}", quote(c.name)));
            }
            other => {
                if let Some(name) = other.strip_prefix("json.") {
                    json_filter(&mut q, t, dialect, name, v)?;
                } else if let Some(c) = t.filter_column(other) {
                    column_filter(&mut q, c, other, v)?;
                } else {
                    return Err(GlassError::invalid(
                        other,
                        format!("{} has no such column or parameter", t.name),
                    ));
                }
            }
        }
    }
    let (desc, sort_name) = match sort.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, sort.as_str()),
    };
    let sc = t.column(sort_name).filter(|c| c.sortable).ok_or_else(|| {
        let names: Vec<&str> = t
            .columns
            .iter()
            .filter(|c| c.sortable)
            .map(|c| c.name)
            .collect();
        GlassError::invalid(
            "sort",
            format!("expected one of {} (- for descending)", names.join(", ")),
        )
    })?;
    let (cmp, dir) = if desc { ("<", "DESC") } else { (">", "ASC") };
    if let Some(raw) = &cursor {
        let (v, id) = decode_cursor(raw, &sort, sc)?;
        if sc.name == "id" {
            let m = q.push(Val::Int(id));
            q.wheres.push(format!("\"id\" {cmp} {m}"));
        } else if v == Val::Null {
            // NULLs sort last either way: after a NULL only NULLs with a later id follow.
            let mi = q.push(Val::Int(id));
            q.wheres.push(format!(
                "({} IS NULL AND \"id\" {cmp} {mi})",
                quote(sc.name)
            ));
        } else {
            let mv = q.push(v.clone());
            let mv2 = q.push(v);
            let mi = q.push(Val::Int(id));
            let col = quote(sc.name);
            q.wheres.push(format!(
                "({col} {cmp} {mv} OR ({col} = {mv2} AND \"id\" {cmp} {mi}) OR {col} IS NULL)"
            ));
        }
    }
    let order = if sc.name == "id" {
        format!("\"id\" {dir}")
    } else {
        format!("{} {dir} NULLS LAST, \"id\" {dir}", quote(sc.name))
    };
    let where_sql = if q.wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", q.wheres.join(" AND "))
    };
    let sql = format!(
        "SELECT {} FROM {}{where_sql} ORDER BY {order} LIMIT {}",
        select_list(t),
        quote(t.name),
        limit + 1
    );
    let mut rows = tx.query(&sql, &q.params, &kinds(t)).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let sort_idx = t
        .columns
        .iter()
        .position(|c| c.name == sc.name)
        .unwrap_or(0);
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => {
            let id = match last.first() {
                Some(Val::Int(i)) => *i,
                _ => 0,
            };
            let v = last.get(sort_idx).cloned().unwrap_or(Val::Null);
            Some(encode_cursor(&sort, &v, id))
        }
        _ => None,
    };
    Ok(Page {
        items: rows.into_iter().map(|r| row_json(t, r)).collect(),
        next_cursor,
    })
}
