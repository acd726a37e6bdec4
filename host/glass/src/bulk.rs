//! Many creates into one table inside a batch's transaction, in a few statements instead of
//! one round trip per row: every row is checked as a single create checks it (fields,
//! references, unique values; the first failing change is named), then inserted by
//! multi-row `INSERT ... VALUES (..), (..) RETURNING` statements. On PostgreSQL this is what
//! turns a batch from one network round trip per row into one per up to 1,000 rows.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use crate::crud::{exists, fields, kinds, now_ms, row_json, select_list};
use crate::engine::{Tx, quote};
use crate::error::GlassError;
use crate::tables::{Column, Table};
use crate::value::{Kind, Val};

/// Most parameters in one statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;
/// Most rows in one statement.
const MAX_ROWS: usize = 1_000;

/// References known to exist in this transaction (`(table, id)`), so a batch of 10,000
/// predictions of one model asks for the model once. Only hits are kept (a miss ends the
/// batch), and the caller clears it when a change deletes rows.
pub(crate) type RefCache = HashSet<(&'static str, i64)>;

/// Statement sizes for `n` rows, at most `max` each: whole statements of `max`, then the
/// rest in powers of two, so the prepared-statement caches hold a few shapes per table
/// rather than one per batch size.
fn pieces(n: usize, max: usize) -> Vec<usize> {
    let max = max.max(1);
    let mut out = vec![max; n / max];
    let mut rest = n % max;
    while rest > 0 {
        let p = 1 << rest.ilog2();
        out.push(p);
        rest -= p;
    }
    out
}

fn value_of(row: &[(&'static Column, Val)], c: &Column) -> Val {
    row.iter()
        .find(|(rc, _)| rc.name == c.name)
        .map_or(Val::Null, |(_, v)| v.clone())
}

/// Inserts `rows` (the index of their change in the batch, and the columns) into `t`;
/// returns them as stored, in order. An error comes with the index of the change it is
/// about.
pub(crate) async fn create_many(
    tx: &mut Box<dyn Tx + '_>,
    t: &'static Table,
    rows: &[(usize, &Json)],
    refs: &mut RefCache,
) -> Result<Vec<Json>, (usize, GlassError)> {
    let mut checked: Vec<Vec<(&'static Column, Val)>> = Vec::with_capacity(rows.len());
    for &(i, data) in rows {
        let vals = fields(t, data, true).map_err(|e| (i, e))?;
        for (c, v) in &vals {
            if let (Some(parent), Val::Int(pid)) = (c.references, v)
                && !refs.contains(&(parent, *pid))
            {
                if !exists(tx, parent, *pid).await.map_err(|e| (i, e))? {
                    return Err((
                        i,
                        GlassError::invalid(c.name, format!("no {parent} row with id {pid}")),
                    ));
                }
                refs.insert((parent, *pid));
            }
        }
        checked.push(vals);
    }
    for c in t.columns.iter().filter(|c| c.unique) {
        unique(tx, t, c, rows, &checked).await?;
    }
    // The columns any row gives, in the table's order; a row without one stores NULL, as a
    // single create leaving it out does (no column has another default).
    let cols: Vec<&'static Column> = t
        .columns
        .iter()
        .filter(|c| {
            !c.auto
                && checked
                    .iter()
                    .any(|r| r.iter().any(|(rc, _)| rc.name == c.name))
        })
        .collect();
    let created = t.column("created_at");
    let width = cols.len() + usize::from(created.is_some());
    if width == 0 {
        return Err((
            rows.first().map_or(0, |r| r.0),
            GlassError::Db(format!("{}: nothing to insert", t.name)),
        ));
    }
    let names: Vec<String> = cols
        .iter()
        .copied()
        .chain(created)
        .map(|c| quote(c.name))
        .collect();
    let now = now_ms();
    let mut out = Vec::with_capacity(rows.len());
    let mut start = 0;
    for n in pieces(rows.len(), (MAX_PARAMS / width).min(MAX_ROWS)) {
        let mut params = Vec::with_capacity(n * width);
        let mut tuples = Vec::with_capacity(n);
        for row in &checked[start..start + n] {
            let mut marks = Vec::with_capacity(width);
            for c in &cols {
                params.push(value_of(row, c));
                marks.push(format!("${}", params.len()));
            }
            if created.is_some() {
                params.push(Val::Int(now));
                marks.push(format!("${}", params.len()));
            }
            tuples.push(format!("({})", marks.join(", ")));
        }
        let insert = |tuples: &[String]| {
            format!(
                "INSERT INTO {} ({}) VALUES {} RETURNING {}",
                quote(t.name),
                names.join(", "),
                tuples.join(", "),
                select_list(t)
            )
        };
        let first = rows[start].0;
        // A constraint the checks above do not cover (a unique pair) fails the whole
        // statement without saying which row: back to the savepoint, and row by row to
        // name the change, as a single create would.
        tx.batch("SAVEPOINT glass_bulk")
            .await
            .map_err(|e| (first, e))?;
        let mut got = match tx.query(&insert(&tuples), &params, &kinds(t)).await {
            Ok(got) => got,
            Err(e) => {
                tx.batch("ROLLBACK TO SAVEPOINT glass_bulk")
                    .await
                    .map_err(|e| (first, e))?;
                let one = insert(&[format!(
                    "({})",
                    (1..=width)
                        .map(|k| format!("${k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )]);
                for (k, ps) in params.chunks(width).enumerate() {
                    if let Err(e) = tx.query(&one, ps, &kinds(t)).await {
                        return Err((rows[start + k].0, e));
                    }
                }
                return Err((first, e));
            }
        };
        if got.len() != n {
            return Err((
                first,
                GlassError::Db(format!("INSERT of {n} rows returned {}", got.len())),
            ));
        }
        // RETURNING promises no order; ids are drawn row by row in VALUES order, so
        // ascending ids are the changes' order.
        got.sort_by_key(|r| match r.first() {
            Some(Val::Int(id)) => *id,
            _ => i64::MAX,
        });
        out.extend(got.into_iter().map(|r| row_json(t, r)));
        start += n;
    }
    Ok(out)
}

/// Unique column `c`: no two rows of the batch and no stored row share a value.
async fn unique(
    tx: &mut Box<dyn Tx + '_>,
    t: &Table,
    c: &'static Column,
    rows: &[(usize, &Json)],
    checked: &[Vec<(&'static Column, Val)>],
) -> Result<(), (usize, GlassError)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut vals: Vec<(usize, Val)> = Vec::new();
    for (k, row) in checked.iter().enumerate() {
        let v = value_of(row, c);
        if v == Val::Null {
            continue;
        }
        let i = rows[k].0;
        if let Some(first) = seen.insert(v.to_json().to_string(), i) {
            return Err((
                i,
                GlassError::Conflict(format!(
                    "{}: {} is also created by ops[{first}]",
                    c.name,
                    v.to_json()
                )),
            ));
        }
        vals.push((i, v));
    }
    let mut start = 0;
    for n in pieces(vals.len(), MAX_ROWS) {
        let part = &vals[start..start + n];
        let marks: Vec<String> = (1..=n).map(|k| format!("${k}")).collect();
        let sql = format!(
            "SELECT \"id\", {col} FROM {} WHERE {col} IN ({})",
            quote(t.name),
            marks.join(", "),
            col = quote(c.name)
        );
        let params: Vec<Val> = part.iter().map(|(_, v)| v.clone()).collect();
        let taken = tx
            .query(&sql, &params, &[Kind::Int, c.kind])
            .await
            .map_err(|e| (part[0].0, e))?;
        if let Some(r) = taken.first()
            && let (Some(Val::Int(other)), Some(v)) = (r.first(), r.get(1))
        {
            let i = part
                .iter()
                .find(|(_, pv)| pv == v)
                .map_or(part[0].0, |p| p.0);
            return Err((
                i,
                GlassError::Conflict(format!(
                    "{}: {} is taken by {} {other}",
                    c.name,
                    v.to_json(),
                    t.name
                )),
            ));
        }
        start += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn statement_sizes_are_few_shapes() {
        assert_eq!(super::pieces(0, 1000), Vec::<usize>::new());
        assert_eq!(
            super::pieces(2500, 1000),
            vec![1000, 1000, 256, 128, 64, 32, 16, 4]
        );
        assert_eq!(super::pieces(3, 0), vec![1, 1, 1]);
        for n in 0..3000 {
            assert_eq!(super::pieces(n, 1000).iter().sum::<usize>(), n);
        }
    }
}
