//! Create, read, update and delete of one row, validated, inside a transaction the caller
//! owns (a single request's, or a batch's shared by all its changes).

use serde_json::{Map, Value as Json};

use crate::engine::{Tx, quote};
use crate::error::GlassError;
use crate::tables::{Column, Table};
use crate::value::{Kind, Val};

/// `"id", "name", ...` of every column.
pub(crate) fn select_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| quote(c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kinds of every column, in order.
pub(crate) fn kinds(t: &Table) -> Vec<Kind> {
    t.columns.iter().map(|c| c.kind).collect()
}

/// A result row as a JSON object.
pub(crate) fn row_json(t: &Table, row: Vec<Val>) -> Json {
    let mut m = Map::new();
    for (c, v) in t.columns.iter().zip(row) {
        m.insert(c.name.to_owned(), v.to_json());
    }
    Json::Object(m)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Checks one value against its column: kind, length, range.
pub(crate) fn check_value(c: &Column, v: &Json) -> Result<Val, GlassError> {
    let val = Val::from_json(c.kind, v).map_err(|m| GlassError::invalid(c.name, m))?;
    match &val {
        Val::Null if c.required => {
            return Err(GlassError::invalid(
                c.name,
                "is required and may not be null",
            ));
        }
        Val::Text(s) => {
            if let Some(max) = c.max_len
                && s.chars().count() > max
            {
                return Err(GlassError::invalid(
                    c.name,
                    format!("longer than {max} characters"),
                ));
            }
            if s.contains('\0') {
                return Err(GlassError::invalid(c.name, "contains a NUL character"));
            }
        }
        Val::Int(i) => check_range(c, *i as f64)?,
        Val::Float(f) => check_range(c, *f)?,
        // PostgreSQL's jsonb refuses \u0000 in strings; refuse it on both engines.
        Val::Json(j) if j.to_string().contains("\\u0000") => {
            return Err(GlassError::invalid(c.name, "JSON holds a NUL character"));
        }
        _ => {}
    }
    Ok(val)
}

fn check_range(c: &Column, x: f64) -> Result<(), GlassError> {
    if let Some((lo, hi)) = c.range
        && !(lo..=hi).contains(&x)
    {
        return Err(GlassError::invalid(
            c.name,
            format!("{x} is outside {lo}..={hi}"),
        ));
    }
    Ok(())
}

/// The columns and values of a create (`creating`) or update body, checked; references and
/// unique values are checked against the database in `tx`.
async fn values(
    tx: &mut Box<dyn Tx + '_>,
    t: &Table,
    data: &Json,
    creating: bool,
    id: Option<i64>,
) -> Result<Vec<(&'static Column, Val)>, GlassError> {
    let out = fields(t, data, creating)?;
    for (c, v) in &out {
        if let (Some(parent), Val::Int(pid)) = (c.references, v)
            && !exists(tx, parent, *pid).await?
        {
            return Err(GlassError::invalid(
                c.name,
                format!("no {parent} row with id {pid}"),
            ));
        }
        if c.unique && *v != Val::Null {
            let taken = tx
                .query(
                    &format!(
                        "SELECT \"id\" FROM {} WHERE {} = $1 AND \"id\" <> $2",
                        quote(t.name),
                        quote(c.name)
                    ),
                    &[v.clone(), Val::Int(id.unwrap_or(-1))],
                    &[Kind::Int],
                )
                .await?;
            if let Some(Val::Int(other)) = taken.first().and_then(|r| r.first()) {
                return Err(GlassError::Conflict(format!(
                    "{}: {} is taken by {} {other}",
                    c.name,
                    v.to_json(),
                    t.name
                )));
            }
        }
    }
    Ok(out)
}

/// Whether `parent` has a row `id`.
pub(crate) async fn exists(
    tx: &mut Box<dyn Tx + '_>,
    parent: &str,
    id: i64,
) -> Result<bool, GlassError> {
    let found = tx
        .query(
            &format!("SELECT 1 FROM {} WHERE \"id\" = $1", quote(parent)),
            &[Val::Int(id)],
            &[Kind::Int],
        )
        .await?;
    Ok(!found.is_empty())
}

/// The columns and values of a create (`creating`) or update body, checked without the
/// database: names, kinds, lengths, ranges, required columns.
pub(crate) fn fields(
    t: &Table,
    data: &Json,
    creating: bool,
) -> Result<Vec<(&'static Column, Val)>, GlassError> {
    let obj = data
        .as_object()
        .ok_or_else(|| GlassError::invalid("data", "expected a JSON object of columns"))?;
    for key in obj.keys() {
        match t.column(key) {
            None => {
                return Err(GlassError::invalid(
                    key.as_str(),
                    format!("{} has no such column", t.name),
                ));
            }
            Some(c) if c.auto => {
                return Err(GlassError::invalid(key.as_str(), "is set by the server"));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for c in t.columns.iter().filter(|c| !c.auto) {
        match obj.get(c.name) {
            None if creating && c.required => {
                return Err(GlassError::invalid(c.name, "is required"));
            }
            None => {}
            Some(v) => out.push((c, check_value(c, v)?)),
        }
    }
    Ok(out)
}

/// Inserts a row; returns it as stored.
pub(crate) async fn create(
    tx: &mut Box<dyn Tx + '_>,
    t: &Table,
    data: &Json,
) -> Result<Json, GlassError> {
    create_with(tx, t, data, Vec::new()).await
}

/// Inserts a row of `data` (checked) and `server` values of columns the server sets
/// (`auto`, not checked: the caller computed them); returns it as stored.
pub(crate) async fn create_with(
    tx: &mut Box<dyn Tx + '_>,
    t: &Table,
    data: &Json,
    server: Vec<(&'static Column, Val)>,
) -> Result<Json, GlassError> {
    let mut vals = values(tx, t, data, true, None).await?;
    vals.extend(server);
    if let Some(created) = t.column("created_at") {
        vals.push((created, Val::Int(now_ms())));
    }
    let cols: Vec<String> = vals.iter().map(|(c, _)| quote(c.name)).collect();
    let marks: Vec<String> = (1..=vals.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) RETURNING {}",
        quote(t.name),
        cols.join(", "),
        marks.join(", "),
        select_list(t)
    );
    let params: Vec<Val> = vals.into_iter().map(|(_, v)| v).collect();
    let mut rows = tx.query(&sql, &params, &kinds(t)).await?;
    let row = rows
        .pop()
        .ok_or_else(|| GlassError::Db("INSERT returned no row".into()))?;
    Ok(row_json(t, row))
}

/// One row by id.
pub(crate) async fn get(tx: &mut Box<dyn Tx + '_>, t: &Table, id: i64) -> Result<Json, GlassError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE \"id\" = $1",
        select_list(t),
        quote(t.name)
    );
    let mut rows = tx.query(&sql, &[Val::Int(id)], &kinds(t)).await?;
    match rows.pop() {
        Some(r) => Ok(row_json(t, r)),
        None => Err(GlassError::NotFound(format!(
            "no {} row with id {id}",
            t.name
        ))),
    }
}

/// Changes the given columns of a row; returns it as stored.
pub(crate) async fn update(
    tx: &mut Box<dyn Tx + '_>,
    t: &Table,
    id: i64,
    data: &Json,
) -> Result<Json, GlassError> {
    let vals = values(tx, t, data, false, Some(id)).await?;
    if vals.is_empty() {
        return get(tx, t, id).await;
    }
    let sets: Vec<String> = vals
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{} = ${}", quote(c.name), i + 1))
        .collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE \"id\" = ${} RETURNING {}",
        quote(t.name),
        sets.join(", "),
        vals.len() + 1,
        select_list(t)
    );
    let mut params: Vec<Val> = vals.into_iter().map(|(_, v)| v).collect();
    params.push(Val::Int(id));
    let mut rows = tx.query(&sql, &params, &kinds(t)).await?;
    match rows.pop() {
        Some(r) => Ok(row_json(t, r)),
        None => Err(GlassError::NotFound(format!(
            "no {} row with id {id}",
            t.name
        ))),
    }
}

/// Deletes a row. A row others refer to is a conflict.
pub(crate) async fn delete(
    tx: &mut Box<dyn Tx + '_>,
    t: &Table,
    id: i64,
) -> Result<(), GlassError> {
    let sql = format!("DELETE FROM {} WHERE \"id\" = $1", quote(t.name));
    match tx.execute(&sql, &[Val::Int(id)]).await {
        Ok(0) => Err(GlassError::NotFound(format!(
            "no {} row with id {id}",
            t.name
        ))),
        Ok(_) => Ok(()),
        Err(GlassError::Conflict(m)) => Err(GlassError::Conflict(format!(
            "{} {id} is still referred to by other rows ({m})",
            t.name
        ))),
        Err(e) => Err(e),
    }
}
