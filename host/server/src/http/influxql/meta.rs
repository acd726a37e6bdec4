//! `SHOW` statements, `DROP SERIES` and `DELETE`.

use std::collections::BTreeSet;

use clio_influxql::{Expr, KeyMatch, NameMatch, Page, Source, TagCond, compile_regex, split};
use clio_storage::SeriesFilter;
use serde_json::{Value as Json, json};

use super::schema::{self, Measurement};
use super::{Ctx, SeriesOut};

/// Applies `OFFSET` and `LIMIT` (0 = no limit).
pub(crate) fn page<T>(v: Vec<T>, p: Page) -> Vec<T> {
    let it = v
        .into_iter()
        .skip(usize::try_from(p.offset).unwrap_or(usize::MAX));
    if p.limit == 0 {
        it.collect()
    } else {
        it.take(usize::try_from(p.limit).unwrap_or(usize::MAX))
            .collect()
    }
}

/// The tag predicate of a `SHOW` clause (time conditions are ignored, as InfluxDB 1.x
/// ignores them on most `SHOW` statements).
fn tag_cond(ctx: &Ctx<'_>, condition: Option<&Expr>) -> Result<Option<TagCond>, String> {
    split(condition, ctx.now_ns, &|_| false)
        .map(|c| c.tags)
        .map_err(|e| e.0)
}

fn rows(values: impl IntoIterator<Item = Vec<Json>>) -> Vec<Vec<Json>> {
    values.into_iter().collect()
}

/// `SHOW DATABASES`: the names clients created or used (Clio has one namespace; every name
/// reads and writes it).
pub(super) fn show_databases(ctx: &Ctx<'_>) -> Vec<SeriesOut> {
    vec![SeriesOut {
        name: Some("databases".into()),
        columns: vec!["name".into()],
        values: rows(
            ctx.gate
                .state()
                .databases()
                .into_iter()
                .map(|d| vec![json!(d)]),
        ),
        ..Default::default()
    }]
}

/// `SHOW RETENTION POLICIES`: one default policy (Clio keeps data per series settings).
pub(super) fn show_retention_policies() -> Vec<SeriesOut> {
    vec![SeriesOut {
        columns: [
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]
        .map(String::from)
        .to_vec(),
        values: vec![vec![
            json!("autogen"),
            json!("0s"),
            json!("168h0m0s"),
            json!(1),
            json!(true),
        ]],
        ..Default::default()
    }]
}

pub(super) fn show_measurements(
    ctx: &Ctx<'_>,
    with: Option<&NameMatch>,
    condition: Option<&Expr>,
    p: Page,
) -> Result<Vec<SeriesOut>, String> {
    let cond = tag_cond(ctx, condition)?;
    let matcher: Box<dyn Fn(&str) -> bool> = match with {
        None => Box::new(|_| true),
        Some(NameMatch::Eq(n)) => {
            let n = n.clone();
            Box::new(move |m| m == n)
        }
        Some(NameMatch::Neq(n)) => {
            let n = n.clone();
            Box::new(move |m| m != n)
        }
        Some(NameMatch::Regex(r)) => {
            let re = compile_regex(r).map_err(|e| e.0)?;
            Box::new(move |m| re.is_match(m))
        }
        Some(NameMatch::NotRegex(r)) => {
            let re = compile_regex(r).map_err(|e| e.0)?;
            Box::new(move |m| !re.is_match(m))
        }
    };
    let names: Vec<String> = match &cond {
        // Without a tag condition the catalog's measurement index answers alone.
        None => ctx
            .gate
            .measurements()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|m| matcher(m))
            .collect(),
        Some(_) => schema::measurements(ctx.gate, &[])?
            .into_iter()
            .filter(|m| matcher(&m.name) && m.matching(cond.as_ref()).next().is_some())
            .map(|m| m.name)
            .collect(),
    };
    let names = page(names, p);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![SeriesOut {
        name: Some("measurements".into()),
        columns: vec!["name".into()],
        values: rows(names.into_iter().map(|n| vec![json!(n)])),
        ..Default::default()
    }])
}

pub(super) fn show_tag_keys(
    ctx: &Ctx<'_>,
    from: &[Source],
    condition: Option<&Expr>,
    p: Page,
) -> Result<Vec<SeriesOut>, String> {
    let cond = tag_cond(ctx, condition)?;
    let mut out = Vec::new();
    // Without a condition the catalog's tag index answers (no series visited).
    if cond.is_none()
        && let Some(index) = schema::tag_index(ctx.gate, from, &|_| true, false)?
    {
        for (name, tags) in index {
            let keys = page(tags.keys().collect(), p);
            if keys.is_empty() {
                continue;
            }
            out.push(SeriesOut {
                name: Some(name),
                columns: vec!["tagKey".into()],
                values: rows(keys.into_iter().map(|k| vec![json!(k)])),
                ..Default::default()
            });
        }
        return Ok(out);
    }
    let must = schema::required_tags(cond.as_ref());
    for m in schema::measurements_with(ctx.gate, from, &must)? {
        let keys: BTreeSet<&String> = m
            .matching(cond.as_ref())
            .flat_map(|(tags, _)| tags.iter().map(|(k, _)| k))
            .collect();
        let keys = page(keys.into_iter().collect(), p);
        if keys.is_empty() {
            continue;
        }
        out.push(SeriesOut {
            name: Some(m.name.clone()),
            columns: vec!["tagKey".into()],
            values: rows(keys.into_iter().map(|k| vec![json!(k)])),
            ..Default::default()
        });
    }
    Ok(out)
}

pub(super) fn show_tag_values(
    ctx: &Ctx<'_>,
    from: &[Source],
    key: &KeyMatch,
    condition: Option<&Expr>,
    p: Page,
) -> Result<Vec<SeriesOut>, String> {
    let cond = tag_cond(ctx, condition)?;
    let key_ok: Box<dyn Fn(&str) -> bool> = match key {
        KeyMatch::In(keys) => {
            let keys = keys.clone();
            Box::new(move |k| keys.iter().any(|x| x == k))
        }
        KeyMatch::Neq(n) => {
            let n = n.clone();
            Box::new(move |k| k != n)
        }
        KeyMatch::Regex(r) => {
            let re = compile_regex(r).map_err(|e| e.0)?;
            Box::new(move |k| re.is_match(k))
        }
        KeyMatch::NotRegex(r) => {
            let re = compile_regex(r).map_err(|e| e.0)?;
            Box::new(move |k| !re.is_match(k))
        }
    };
    let mut out = Vec::new();
    if cond.is_none()
        && let Some(index) = schema::tag_index(ctx.gate, from, &|k| key_ok(k), true)?
    {
        for (name, tags) in index {
            let pairs: Vec<(&String, &String)> = tags
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k, v)))
                .collect();
            let pairs = page(pairs, p);
            if pairs.is_empty() {
                continue;
            }
            out.push(SeriesOut {
                name: Some(name),
                columns: vec!["key".into(), "value".into()],
                values: rows(pairs.into_iter().map(|(k, v)| vec![json!(k), json!(v)])),
                ..Default::default()
            });
        }
        return Ok(out);
    }
    let must = schema::required_tags(cond.as_ref());
    for m in schema::measurements_with(ctx.gate, from, &must)? {
        let pairs: BTreeSet<(&String, &String)> = m
            .matching(cond.as_ref())
            .flat_map(|(tags, _)| tags.iter().map(|(k, v)| (k, v)))
            .filter(|(k, _)| key_ok(k))
            .collect();
        let pairs = page(pairs.into_iter().collect(), p);
        if pairs.is_empty() {
            continue;
        }
        out.push(SeriesOut {
            name: Some(m.name.clone()),
            columns: vec!["key".into(), "value".into()],
            values: rows(pairs.into_iter().map(|(k, v)| vec![json!(k), json!(v)])),
            ..Default::default()
        });
    }
    Ok(out)
}

pub(super) async fn show_field_keys(
    ctx: &Ctx<'_>,
    from: &[Source],
    p: Page,
) -> Result<Vec<SeriesOut>, String> {
    let mut out = Vec::new();
    for m in schema::measurements(ctx.gate, from)? {
        let fields: Vec<&String> = page(m.fields.iter().collect(), p);
        if fields.is_empty() {
            continue;
        }
        let mut values = Vec::with_capacity(fields.len());
        for f in fields {
            values.push(vec![json!(f), json!(field_type(ctx, &m, f).await)]);
        }
        out.push(SeriesOut {
            name: Some(m.name.clone()),
            columns: vec!["fieldKey".into(), "fieldType".into()],
            values,
            ..Default::default()
        });
    }
    Ok(out)
}

/// A field's type as InfluxDB names it, from the newest value of one of its series: Clio
/// keeps no type per field (numbers are floats to InfluxDB clients).
async fn field_type(ctx: &Ctx<'_>, m: &Measurement, field: &str) -> &'static str {
    let Some(id) = m.tagsets.values().find_map(|fields| fields.get(field)) else {
        return "float";
    };
    let window = clio_core::Window::Last {
        n: 1,
        skip: 0,
        at: None,
    };
    match ctx.gate.read_columns(*id, window, 1).await {
        Ok((cols, _)) if cols.kinds.first() == Some(&clio_storage::KIND_STR) => "string",
        _ => "float",
    }
}

/// Writes a tag set as InfluxDB writes a series key, `m,k=v,...` (line-protocol escapes),
/// into `out` (cleared first): the SHOW SERIES walk reuses one buffer for every series.
fn series_key_into<'a>(out: &mut String, m: &str, tags: impl Iterator<Item = (&'a str, &'a str)>) {
    fn esc(out: &mut String, s: &str, eq: bool) {
        for c in s.chars() {
            if c == ',' || c == ' ' || (eq && c == '=') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.clear();
    esc(out, m, false);
    for (k, v) in tags {
        out.push(',');
        esc(out, k, true);
        out.push('=');
        esc(out, v, true);
    }
}

pub(super) fn show_series(
    ctx: &Ctx<'_>,
    from: &[Source],
    condition: Option<&Expr>,
    p: Page,
) -> Result<Vec<SeriesOut>, String> {
    let cond = tag_cond(ctx, condition)?;
    let must = schema::required_tags(cond.as_ref());
    // Only the first `OFFSET + LIMIT` keys in key order are kept: the walk visits each series
    // once without copying it, and holds no more than the page whatever the measurement's size.
    let keep = if p.limit == 0 {
        usize::MAX
    } else {
        usize::try_from(p.offset.saturating_add(p.limit)).unwrap_or(usize::MAX)
    };
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut buf = String::with_capacity(128);
    for name in schema::measurement_names(ctx.gate, from)? {
        let filter = SeriesFilter {
            measurement: Some(name),
            tags: must.clone(),
            ..Default::default()
        };
        ctx.gate
            .visit_series(&filter, |info| {
                let Some(key) = &info.key else { return };
                if cond.as_ref().is_some_and(|c| !c.eval(&|k| key.tag(k))) {
                    return;
                }
                // Formatted into the reused buffer; only a key that joins the page is
                // copied (a walk over a million series allocates about as often as the
                // page is long, not once per series).
                series_key_into(&mut buf, key.measurement(), key.tags());
                if keys.len() >= keep
                    && keys.last().is_none_or(|last| buf.as_str() >= last.as_str())
                {
                    return;
                }
                if keys.contains(buf.as_str()) {
                    return;
                }
                keys.insert(buf.clone());
                if keys.len() > keep {
                    keys.pop_last();
                }
            })
            .map_err(|e| e.to_string())?;
    }
    let keys = page(keys.into_iter().collect(), p);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![SeriesOut {
        columns: vec!["key".into()],
        values: rows(keys.into_iter().map(|k| vec![json!(k)])),
        ..Default::default()
    }])
}

/// The series (every field) of the tag sets a `DROP SERIES` / `DELETE` names.
fn doomed(
    ctx: &Ctx<'_>,
    from: &[Source],
    cond: Option<&TagCond>,
) -> Result<Vec<clio_storage::SeriesId>, String> {
    let ms: Vec<Measurement> = schema::measurements(ctx.gate, from)?;
    Ok(ms
        .iter()
        .flat_map(|m| m.matching(cond))
        .flat_map(|(_, fields)| fields.values().copied())
        .collect())
}

/// Refuses a `DROP SERIES` or `DELETE` whose pattern also matches series outside the
/// principal's scope (403): it would otherwise succeed and delete only part of what it
/// names. All or nothing, as writes: nothing of the query has run yet.
pub(super) fn refuse_beyond_scope(
    ctx: &Ctx<'_>,
    stmt: &clio_influxql::Statement,
) -> Result<(), crate::error::ApiError> {
    use clio_influxql::Statement;
    let (what, from, condition) = match stmt {
        Statement::DropSeries { from, condition } => ("DROP SERIES", from, condition),
        Statement::Delete { from, condition } => ("DELETE", from, condition),
        _ => return Ok(()),
    };
    // A condition that does not split is reported when the statement runs.
    let Ok(c) = split(condition.as_ref(), ctx.now_ns, &|_| false) else {
        return Ok(());
    };
    let hidden = schema::measurements_in(&schema::Hidden(ctx.gate), from, &[])
        .map_err(crate::error::ApiError::BadRequest)?;
    if hidden
        .iter()
        .any(|m| m.matching(c.tags.as_ref()).next().is_some())
    {
        return Err(ctx.gate.beyond_scope(&format!(
            "part of what {what} matches (nothing was deleted; narrow FROM or WHERE to the \
             scope)"
        )));
    }
    Ok(())
}

/// `DROP SERIES`: deletes the series and all their data.
pub(super) async fn drop_series(
    ctx: &Ctx<'_>,
    from: &[Source],
    condition: Option<&Expr>,
) -> Result<Vec<SeriesOut>, String> {
    let c = split(condition, ctx.now_ns, &|_| false).map_err(|e| e.0)?;
    if c.time.min.is_some() || c.time.max.is_some() {
        return Err("DROP SERIES doesn't support time in WHERE clause".into());
    }
    for id in doomed(ctx, from, c.tags.as_ref())? {
        ctx.gate
            .delete_series(id)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Vec::new())
}

/// `DELETE`: with a time range, deletes the points in it (trend buckets stay, as with
/// retention); without one, deletes the series.
pub(super) async fn delete(
    ctx: &Ctx<'_>,
    from: &[Source],
    condition: Option<&Expr>,
) -> Result<Vec<SeriesOut>, String> {
    let c = split(condition, ctx.now_ns, &|_| false).map_err(|e| e.0)?;
    let ids = doomed(ctx, from, c.tags.as_ref())?;
    if c.time.min.is_none() && c.time.max.is_none() {
        for id in ids {
            ctx.gate
                .delete_series(id)
                .await
                .map_err(|e| e.to_string())?;
        }
        return Ok(Vec::new());
    }
    let (from_ms, to_ms) = super::select::window_ms(c.time, None);
    for id in ids {
        ctx.gate
            .delete_points(id, from_ms, to_ms)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Vec::new())
}
