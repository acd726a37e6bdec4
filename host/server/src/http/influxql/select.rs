//! `SELECT`: raw fields joined by time per tag set, or aggregates per `GROUP BY time`
//! bucket and tag group. Grouped aggregates over ranges that cover whole trend buckets read
//! those buckets instead of raw points (count, sum, mean, min, max, first, last and spread
//! are exact from them): only the partial buckets at the range's edges are read raw.

use std::collections::{BTreeMap, BTreeSet};

use clio_core::Window;
use clio_influxql::{
    BinOp, Expr, Field, Fill, GroupTags, Select, Source, SourceName, TagDim, TimeRange,
    compile_regex, split,
};
use clio_storage::{PointColumns, SeriesId, TrendBucket, TrendInterval};

use super::agg::{Acc, Func, SUPPORTED, Val, for_each_point};
use super::meta::page;
use super::schema::{self, Measurement, TagSet, tag};
use super::{Ctx, SeriesOut, num_json};

/// Most points one statement reads raw (a bound on memory; InfluxDB's `max-select-point`).
const MAX_POINTS: usize = 20_000_000;
/// Most `GROUP BY time` buckets per series (InfluxDB's `max-select-buckets`).
const MAX_BUCKETS: i64 = 5_000_000;

const NS_PER_MS: i64 = 1_000_000;

/// `[from, to)` in ms of an inclusive ns range; `default_to` (else unbounded) when the range
/// has no upper bound.
pub(crate) fn window_ms(t: TimeRange, default_to: Option<i64>) -> (i64, i64) {
    let from = t.min.map_or(i64::MIN, |ns| {
        ns.div_euclid(NS_PER_MS) + i64::from(ns.rem_euclid(NS_PER_MS) != 0)
    });
    let to = match t.max {
        Some(ns) => ns.div_euclid(NS_PER_MS).saturating_add(1),
        None => default_to.unwrap_or(i64::MAX),
    };
    (from, to)
}

/// What a projection reads.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Field(String),
    Tag(String),
    Agg(Func, String),
}

/// A projection compiled over leaves.
#[derive(Debug, Clone)]
enum CExpr {
    Leaf(usize),
    Lit(Val),
    Bin(BinOp, Box<CExpr>, Box<CExpr>),
}

#[derive(Debug)]
struct Plan {
    leaves: Vec<Leaf>,
    cols: Vec<(String, CExpr)>,
    aggregate: bool,
    /// `derivative(mean(f), 1s)` and its kin: applied to the one column's buckets.
    transform: Option<Transform>,
}

/// Functions of consecutive non-null buckets (Grafana's counter panels use them).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    /// Change per `unit` ms; `non_negative` drops decreases (counter resets).
    Derivative { unit: f64, non_negative: bool },
    /// Change between buckets.
    Difference { non_negative: bool },
}

/// The transform a call names, with its argument count checked.
fn transform_of(name: &str, args: &[Expr]) -> Result<Option<(Transform, Expr)>, String> {
    let non_negative = name.starts_with("non_negative_");
    let base = name.trim_start_matches("non_negative_");
    let t = match (base, args) {
        ("derivative", [_]) => Transform::Derivative {
            unit: 1000.0,
            non_negative,
        },
        ("derivative", [_, Expr::Duration(d)]) if *d >= NS_PER_MS => Transform::Derivative {
            unit: (*d / NS_PER_MS) as f64,
            non_negative,
        },
        ("derivative", _) => {
            return Err(format!(
                "{name}() expects an aggregate and an optional unit of at least 1ms: \
                 {name}(mean(\"value\"), 1s)"
            ));
        }
        ("difference", [_]) => Transform::Difference { non_negative },
        ("difference", _) => {
            return Err(format!(
                "{name}() expects one aggregate: {name}(mean(\"value\"))"
            ));
        }
        _ => return Ok(None),
    };
    Ok(Some((t, args[0].clone())))
}

/// Applies a transform to rows of one column (ascending), skipping null cells; the first
/// bucket has no predecessor and is dropped.
fn apply_transform(rows: Vec<Row>, t: Transform) -> Vec<Row> {
    let mut out = Vec::with_capacity(rows.len());
    let mut prev: Option<(i64, f64)> = None;
    for (ts, cells) in rows {
        let Some(v) = cells.first().and_then(|c| c.as_ref()).and_then(Val::num) else {
            continue;
        };
        if let Some((pt, pv)) = prev {
            let r = match t {
                Transform::Derivative { unit, .. } if ts > pt => {
                    Some((v - pv) / ((ts - pt) as f64 / unit))
                }
                Transform::Derivative { .. } => None,
                Transform::Difference { .. } => Some(v - pv),
            };
            let non_negative = matches!(
                t,
                Transform::Derivative {
                    non_negative: true,
                    ..
                } | Transform::Difference { non_negative: true }
            );
            if let Some(r) = r.filter(|r| r.is_finite() && !(non_negative && *r < 0.0)) {
                out.push((ts, vec![Some(Val::Num(r))]));
            }
        }
        prev = Some((ts, v));
    }
    out
}

/// A row: time (ms) and one cell per column.
type Row = (i64, Vec<Option<Val>>);

fn name_of(e: &Expr) -> Option<String> {
    match e {
        Expr::Ident(n) => Some(n.clone()),
        Expr::Call { name, .. } => Some(name.clone()),
        Expr::Paren(inner) => name_of(inner),
        Expr::Binary { lhs, rhs, .. } => name_of(lhs).or_else(|| name_of(rhs)),
        _ => None,
    }
}

fn leaf_of(e: &Expr, m: &Measurement) -> Result<Leaf, String> {
    match e {
        Expr::Ident(n) => Ok(if m.fields.contains(n) || !m.tag_keys.contains(n) {
            Leaf::Field(n.clone())
        } else {
            Leaf::Tag(n.clone())
        }),
        Expr::Call { name, args } => {
            let extra = match (name.as_str(), args.get(1)) {
                ("percentile", Some(Expr::Int(i))) => Some(*i as f64),
                ("percentile", Some(Expr::Num(n))) => Some(*n),
                ("percentile", _) => {
                    return Err(
                        "invalid number of arguments for percentile, expected 2, got 1 \
                         (percentile(field, N))"
                            .into(),
                    );
                }
                _ => None,
            };
            let Some(f) = Func::from_name(name, extra) else {
                return Err(format!(
                    "function {name}() is not supported by Clio (supported: {SUPPORTED})"
                ));
            };
            let expected = if matches!(f, Func::Percentile(_)) {
                2
            } else {
                1
            };
            if args.len() != expected {
                return Err(format!(
                    "invalid number of arguments for {name}, expected {expected}, got {}",
                    args.len()
                ));
            }
            match &args[0] {
                Expr::Ident(field) => Ok(Leaf::Agg(f, field.clone())),
                Expr::Wildcard => Err(format!(
                    "{name}(*) is not supported by Clio; name the field: {name}(\"value\")"
                )),
                Expr::Call { name: inner, .. } => Err(format!(
                    "nested functions ({name}({inner}(...))) are not supported by Clio"
                )),
                other => Err(format!(
                    "expected field argument in {name}(), found {other}"
                )),
            }
        }
        other => Err(format!("unsupported expression {other}")),
    }
}

fn compile(e: &Expr, m: &Measurement, leaves: &mut Vec<Leaf>) -> Result<CExpr, String> {
    Ok(match e {
        Expr::Paren(inner) => compile(inner, m, leaves)?,
        Expr::Int(i) => CExpr::Lit(Val::Num(*i as f64)),
        Expr::Num(n) => CExpr::Lit(Val::Num(*n)),
        Expr::Str(s) => CExpr::Lit(Val::Str(s.clone())),
        Expr::Binary { op, lhs, rhs }
            if matches!(
                op,
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod
            ) =>
        {
            CExpr::Bin(
                *op,
                Box::new(compile(lhs, m, leaves)?),
                Box::new(compile(rhs, m, leaves)?),
            )
        }
        Expr::Ident(_) | Expr::Call { .. } => {
            let leaf = leaf_of(e, m)?;
            let i = match leaves.iter().position(|l| *l == leaf) {
                Some(i) => i,
                None => {
                    leaves.push(leaf);
                    leaves.len() - 1
                }
            };
            CExpr::Leaf(i)
        }
        other => return Err(format!("unsupported expression in SELECT: {other}")),
    })
}

fn eval(e: &CExpr, cells: &[Option<Val>]) -> Option<Val> {
    match e {
        CExpr::Leaf(i) => cells.get(*i).cloned().flatten(),
        CExpr::Lit(v) => Some(v.clone()),
        CExpr::Bin(op, a, b) => {
            let x = eval(a, cells)?.num()?;
            let y = eval(b, cells)?.num()?;
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                // InfluxDB answers 0 for a division by zero.
                BinOp::Div if y == 0.0 => 0.0,
                BinOp::Div => x / y,
                BinOp::Mod if y == 0.0 => 0.0,
                BinOp::Mod => x % y,
                _ => return None,
            };
            r.is_finite().then_some(Val::Num(r))
        }
    }
}

fn plan(fields: &[Field], m: &Measurement, dims: &[String]) -> Result<Plan, String> {
    let mut leaves = Vec::new();
    let mut cols: Vec<(String, CExpr)> = Vec::new();
    let mut transform = None;
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut push = |name: String, c: CExpr, cols: &mut Vec<(String, CExpr)>| {
        let n = names.entry(name.clone()).or_insert(0);
        let unique = if *n == 0 { name } else { format!("{name}_{n}") };
        *n += 1;
        cols.push((unique, c));
    };
    for f in fields {
        match &f.expr {
            Expr::Wildcard => {
                let all: BTreeSet<&String> = m
                    .fields
                    .iter()
                    .chain(m.tag_keys.iter().filter(|k| !dims.contains(k)))
                    .collect();
                for n in all {
                    let c = compile(&Expr::Ident(n.clone()), m, &mut leaves)?;
                    push(n.clone(), c, &mut cols);
                }
            }
            Expr::Ident(n) if n.eq_ignore_ascii_case("time") => {}
            Expr::Call { name, args } if transform_of(name, args)?.is_some() => {
                let Some((t, inner)) = transform_of(name, args)? else {
                    continue;
                };
                if fields.len() != 1 {
                    return Err(format!(
                        "{name}() is supported by Clio only as the one column of a SELECT"
                    ));
                }
                if !matches!(inner, Expr::Call { .. }) {
                    return Err(format!(
                        "{name}() of raw fields is not supported by Clio; use an aggregate \
                         with GROUP BY time: {name}(mean(\"value\"), 1s)"
                    ));
                }
                transform = Some(t);
                let c = compile(&inner, m, &mut leaves)?;
                push(f.alias.clone().unwrap_or(name.clone()), c, &mut cols);
            }
            e => {
                let c = compile(e, m, &mut leaves)?;
                let name = f.alias.clone().or_else(|| name_of(e)).unwrap_or_default();
                push(name, c, &mut cols);
            }
        }
    }
    let aggregate = leaves.iter().any(|l| matches!(l, Leaf::Agg(..)));
    let raw = leaves.iter().any(|l| matches!(l, Leaf::Field(_)));
    if aggregate && leaves.iter().any(|l| !matches!(l, Leaf::Agg(..))) {
        return Err("mixing aggregate and non-aggregate queries is not supported".into());
    }
    if !aggregate && !raw {
        return Err("statement must have at least one field in select clause".into());
    }
    Ok(Plan {
        leaves,
        cols,
        aggregate,
        transform,
    })
}

fn dims(g: &GroupTags, m: &Measurement) -> Result<Vec<String>, String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    match g {
        GroupTags::None => {}
        GroupTags::All => out.extend(m.tag_keys.iter().cloned()),
        GroupTags::Some(list) => {
            for d in list {
                match d {
                    TagDim::Name(n) if n.eq_ignore_ascii_case("time") => {}
                    TagDim::Name(n) => {
                        out.insert(n.clone());
                    }
                    TagDim::Regex(r) => {
                        let re = compile_regex(r).map_err(|e| e.0)?;
                        out.extend(m.tag_keys.iter().filter(|k| re.is_match(k)).cloned());
                    }
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The tag equalities of `condition` that every series of `measurement` it selects must
/// carry, so that only those series are loaded from the catalog's tag index. The names that
/// are tag keys of the measurement are known from the index without visiting a series; the
/// condition is split treating every other name as a field, which can only leave out terms,
/// never add one (the full split per measurement follows). Nothing is pushed down when the
/// caller's scope covers only part of the measurement or the condition does not split.
fn pushed_down(
    ctx: &Ctx<'_>,
    condition: Option<&Expr>,
    measurement: &str,
) -> Result<Vec<(String, String)>, String> {
    if condition.is_none() {
        return Ok(Vec::new());
    }
    let Some(keys) = ctx
        .gate
        .tags_of(measurement, &|_| true, false)
        .map_err(|e| e.to_string())?
    else {
        return Ok(Vec::new());
    };
    Ok(split(condition, ctx.now_ns, &|n| !keys.contains_key(n))
        .map(|c| schema::required_tags(c.tags.as_ref()))
        .unwrap_or_default())
}

/// Runs a `SELECT`.
pub(super) async fn select(ctx: &Ctx<'_>, s: &Select) -> Result<Vec<SeriesOut>, String> {
    if let Some(tz) = &s.tz
        && !matches!(tz.as_str(), "UTC" | "Etc/UTC" | "utc")
    {
        return Err(format!(
            "tz('{tz}') is not supported by Clio: times are answered in UTC"
        ));
    }
    let mut ms = Vec::new();
    for name in schema::measurement_names(ctx.gate, &s.sources)? {
        let must = pushed_down(ctx, s.condition.as_ref(), &name)?;
        let source = [Source {
            database: None,
            retention_policy: None,
            name: SourceName::Name(name),
        }];
        ms.extend(schema::measurements_with(ctx.gate, &source, &must)?);
    }
    let mut out = Vec::new();
    let mut budget = MAX_POINTS;
    for m in &ms {
        let cond = split(s.condition.as_ref(), ctx.now_ns, &|n| m.is_field(n)).map_err(|e| e.0)?;
        let dims = dims(&s.group_tags, m)?;
        let plan = plan(&s.fields, m, &dims)?;
        if !plan.aggregate && s.group_time.is_some() {
            return Err("GROUP BY requires at least one aggregate function".into());
        }
        if plan.transform.is_some() && s.group_time.is_none() {
            return Err(
                "derivative() and difference() of an aggregate need GROUP BY time()".into(),
            );
        }
        if cond.time.is_empty() {
            continue;
        }
        let mut groups: BTreeMap<Vec<String>, Vec<Member<'_>>> = BTreeMap::new();
        for (tags, fields) in m.matching(cond.tags.as_ref()) {
            let key = dims
                .iter()
                .map(|d| tag(tags, d).unwrap_or("").to_string())
                .collect();
            groups.entry(key).or_default().push((tags, fields));
        }
        for (key, members) in groups {
            let mut rows = if plan.aggregate {
                aggregate(ctx, s, &plan, cond.time, &members, &mut budget).await?
            } else {
                raw(ctx, &plan, cond.time, &members, &mut budget).await?
            };
            if let Some(t) = plan.transform {
                rows = apply_transform(rows, t);
            }
            if rows.is_empty() {
                continue;
            }
            if s.descending {
                rows.reverse();
            }
            let rows = page(rows, s.page);
            let mut columns = vec!["time".to_string()];
            columns.extend(plan.cols.iter().map(|(n, _)| n.clone()));
            let values = rows
                .into_iter()
                .map(|(t, cells)| {
                    let mut r = Vec::with_capacity(cells.len() + 1);
                    r.push(ctx.epoch.time(t));
                    r.extend(cells.into_iter().map(|c| match c {
                        None => serde_json::Value::Null,
                        Some(Val::Num(x)) => num_json(x),
                        Some(Val::Str(s)) => serde_json::Value::String(s),
                    }));
                    r
                })
                .collect();
            out.push(SeriesOut {
                name: Some(m.name.clone()),
                tags: (!dims.is_empty()).then(|| dims.iter().cloned().zip(key).collect()),
                columns,
                values,
            });
        }
    }
    Ok(page(out, s.series_page))
}

type Member<'a> = (&'a TagSet, &'a BTreeMap<String, SeriesId>);

async fn read(
    ctx: &Ctx<'_>,
    id: SeriesId,
    from: i64,
    to: i64,
    budget: &mut usize,
) -> Result<PointColumns, String> {
    if from >= to {
        return Ok(PointColumns::new());
    }
    let (cols, truncated) = ctx
        .gate
        .read_columns(id, Window::Range { from, to }, *budget)
        .await
        .map_err(|e| e.to_string())?;
    if truncated {
        return Err(format!(
            "the statement would read more than {MAX_POINTS} raw points; narrow the time range \
             or aggregate with GROUP BY time"
        ));
    }
    *budget = budget.saturating_sub(cols.len());
    Ok(cols)
}

/// Raw fields: per tag set, the fields joined by time; tag sets merged by time.
async fn raw(
    ctx: &Ctx<'_>,
    plan: &Plan,
    time: TimeRange,
    members: &[Member<'_>],
    budget: &mut usize,
) -> Result<Vec<Row>, String> {
    let (from, to) = window_ms(time, None);
    let n = plan.leaves.len();
    let mut rows: Vec<Row> = Vec::new();
    for (tags, fields) in members {
        let mut by_ts: BTreeMap<i64, Vec<Option<Val>>> = BTreeMap::new();
        for (li, leaf) in plan.leaves.iter().enumerate() {
            if let Leaf::Field(f) = leaf
                && let Some(id) = fields.get(f)
            {
                let cols = read(ctx, *id, from, to, budget).await?;
                for_each_point(&cols, |t, v| {
                    by_ts.entry(t).or_insert_with(|| vec![None; n])[li] = Some(v.to_val());
                });
            }
        }
        for (t, mut cells) in by_ts {
            for (li, leaf) in plan.leaves.iter().enumerate() {
                if let Leaf::Tag(k) = leaf {
                    cells[li] = tag(tags, k).map(|v| Val::Str(v.to_string()));
                }
            }
            let row: Vec<Option<Val>> = plan.cols.iter().map(|(_, c)| eval(c, &cells)).collect();
            rows.push((t, row));
        }
    }
    rows.sort_by_key(|r| r.0);
    Ok(rows)
}

/// The coarsest kept trend interval that tiles the `GROUP BY time` buckets.
fn tiling_interval(kept: &[TrendInterval], iv: i64, off: i64) -> Option<TrendInterval> {
    kept.iter()
        .copied()
        .filter(|t| iv % t.ms() == 0 && off.rem_euclid(t.ms()) == 0)
        .max_by_key(|t| t.ms())
}

/// What one field of one group holds in the window.
#[derive(Default)]
struct FieldData {
    cols: Vec<PointColumns>,
    trends: Vec<TrendBucket>,
}

async fn aggregate(
    ctx: &Ctx<'_>,
    s: &Select,
    plan: &Plan,
    time: TimeRange,
    members: &[Member<'_>],
    budget: &mut usize,
) -> Result<Vec<Row>, String> {
    let now_ms = ctx.now_ns.div_euclid(NS_PER_MS);
    let grouped = match s.group_time {
        None => None,
        Some(g) => {
            if g.interval % NS_PER_MS != 0 || g.offset % NS_PER_MS != 0 {
                return Err(
                    "GROUP BY time() intervals and offsets must be whole milliseconds in Clio \
                     (timestamps are kept in ms)"
                        .into(),
                );
            }
            let iv = g.interval / NS_PER_MS;
            Some((iv, (g.offset / NS_PER_MS).rem_euclid(iv)))
        }
    };
    // As InfluxDB, grouped queries end at now() unless the query says otherwise.
    let (user_from, to) = window_ms(time, grouped.map(|_| now_ms.saturating_add(1)));
    let funcs: Vec<(Func, &String)> = plan
        .leaves
        .iter()
        .filter_map(|l| match l {
            Leaf::Agg(f, field) => Some((*f, field)),
            _ => None,
        })
        .collect();
    let field_names: Vec<&String> = funcs
        .iter()
        .map(|(_, f)| *f)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let keep_values = funcs.iter().any(|(f, _)| f.needs_values());
    // Trend buckets for the whole buckets of the window, raw points at its edges.
    // The whole trend buckets of `[user_from, to)` for interval `t`, when there are any.
    let span = |t: TrendInterval| {
        let ti = t.ms();
        let a = user_from.div_euclid(ti) * ti + if user_from.rem_euclid(ti) != 0 { ti } else { 0 };
        let b = to.div_euclid(ti) * ti;
        (b > a).then_some((t, a, b))
    };
    // A lone min or max selector reports its point's time, which trend buckets do not keep.
    let min_max_selector = grouped.is_none()
        && plan.cols.len() == 1
        && funcs.len() == 1
        && matches!(funcs[0].0, Func::Min | Func::Max);
    let kept = ctx.gate.trend_intervals();
    let trend = if user_from == i64::MIN || !funcs.iter().all(|(f, _)| f.trend_exact()) {
        None
    } else {
        match grouped {
            Some((iv, off)) => tiling_interval(kept, iv, off).and_then(span),
            // One bucket over the whole range: the coarsest interval with whole buckets in it.
            None if !min_max_selector => kept
                .iter()
                .copied()
                .filter_map(span)
                .max_by_key(|(t, _, _)| t.ms()),
            None => None,
        }
    };
    let mut data: Vec<FieldData> = Vec::with_capacity(field_names.len());
    for field in &field_names {
        let mut d = FieldData::default();
        for (_, fields) in members {
            let Some(id) = fields.get(*field) else {
                continue;
            };
            match trend {
                Some((t, a, b)) => {
                    d.cols.push(read(ctx, *id, user_from, a, budget).await?);
                    d.cols.push(read(ctx, *id, b, to, budget).await?);
                    let buckets = ctx
                        .gate
                        .read_trends(*id, t, a, b)
                        .await
                        .map_err(|e| e.to_string())?;
                    d.trends.extend(buckets);
                }
                None => d.cols.push(read(ctx, *id, user_from, to, budget).await?),
            }
        }
        data.push(d);
    }
    let from = if user_from == i64::MIN {
        // No lower bound: the data's first point.
        let first = data
            .iter()
            .flat_map(|d| d.cols.iter().filter_map(|c| c.ts.first().copied()))
            .min();
        match first {
            Some(t) => t,
            None => return Ok(Vec::new()),
        }
    } else {
        user_from
    };
    if from >= to {
        return Ok(Vec::new());
    }
    let (first_bucket, nb, iv, off) = match grouped {
        Some((iv, off)) => {
            let fb = bucket_start(from, iv, off);
            let nb =
                (i128::from(bucket_start(to - 1, iv, off)) - i128::from(fb)) / i128::from(iv) + 1;
            if nb > i128::from(MAX_BUCKETS) {
                return Err(format!(
                    "max-select-buckets limit exceeded: ({nb}/{MAX_BUCKETS}); use a wider \
                     GROUP BY time interval or a shorter time range"
                ));
            }
            (fb, usize::try_from(nb).unwrap_or(0), iv, off)
        }
        None => (from, 1, 0, 0),
    };
    let index = |t: i64| -> Option<usize> {
        if t < from || t >= to {
            return None;
        }
        if iv == 0 {
            return Some(0);
        }
        bucket_index(t, iv, off, first_bucket)
    };
    let mut accs: Vec<Vec<Acc>> = Vec::with_capacity(data.len());
    let mut any = false;
    for d in &data {
        let mut v = vec![Acc::default(); nb];
        for cols in &d.cols {
            for_each_point(cols, |t, p| {
                if let Some(a) = index(t).and_then(|i| v.get_mut(i)) {
                    a.add_ref(t, p, keep_values);
                    any = true;
                }
            });
        }
        for b in &d.trends {
            // A trend bucket lies wholly inside one group bucket (the interval tiles them).
            let i = if iv == 0 {
                Some(0)
            } else {
                bucket_index(b.start, iv, off, first_bucket)
            };
            if b.start >= from
                && b.start < to
                && let Some(a) = i.and_then(|i| v.get_mut(i))
            {
                a.merge_trend(b);
                any = any || b.count > 0;
            }
        }
        accs.push(v);
    }
    if !any {
        return Ok(Vec::new());
    }
    let field_index = |f: &String| field_names.iter().position(|n| *n == f).unwrap_or(0);
    let single_selector =
        grouped.is_none() && plan.cols.len() == 1 && funcs.len() == 1 && funcs[0].0.is_selector();
    let mut rows: Vec<Row> = Vec::with_capacity(nb);
    let mut empty: Vec<bool> = Vec::with_capacity(nb);
    for bi in 0..nb {
        let is_empty = accs.iter().all(|v| v.get(bi).is_none_or(|a| a.count == 0));
        if is_empty && matches!(s.fill, Fill::None) {
            continue;
        }
        let mut sel_ts = None;
        let cells: Vec<Option<Val>> = plan
            .leaves
            .iter()
            .map(|l| match l {
                // An empty bucket is null for every function (count too: `fill(previous)`
                // carries a count over, `fill(null)` shows it as 0, as InfluxDB does).
                Leaf::Agg(f, field) => accs[field_index(field)]
                    .get(bi)
                    .filter(|a| a.count > 0)
                    .and_then(|a| a.eval(*f))
                    .map(|(v, t)| {
                        sel_ts = t;
                        v
                    }),
                _ => None,
            })
            .collect();
        let t = match grouped {
            Some((iv, _)) => first_bucket + bi as i64 * iv,
            None if single_selector => sel_ts.unwrap_or(from),
            None if user_from == i64::MIN => 0,
            None => from,
        };
        let row: Vec<Option<Val>> = plan.cols.iter().map(|(_, c)| eval(c, &cells)).collect();
        rows.push((t, row));
        empty.push(is_empty);
    }
    fill(&mut rows, s.fill);
    if matches!(s.fill, Fill::Null) {
        for (j, (_, c)) in plan.cols.iter().enumerate() {
            if let CExpr::Leaf(i) = c
                && matches!(plan.leaves.get(*i), Some(Leaf::Agg(Func::Count, _)))
            {
                for r in rows.iter_mut() {
                    if r.1[j].is_none() {
                        r.1[j] = Some(Val::Num(0.0));
                    }
                }
            }
        }
    }
    Ok(rows)
}

/// Start of the `GROUP BY time` bucket holding `t` (`iv` > 0), computed without overflow.
fn bucket_start(t: i64, iv: i64, off: i64) -> i64 {
    let (t, iv, off) = (i128::from(t), i128::from(iv), i128::from(off));
    let b = (t - off).div_euclid(iv) * iv + off;
    i64::try_from(b).unwrap_or(if b < 0 { i64::MIN } else { i64::MAX })
}

/// Index of the bucket holding `t` counted from the bucket starting at `first`.
fn bucket_index(t: i64, iv: i64, off: i64, first: i64) -> Option<usize> {
    let b = i128::from(bucket_start(t, iv, off));
    usize::try_from((b - i128::from(first)) / i128::from(iv)).ok()
}

/// Fills null cells (`fill(previous|linear|<n>)`; `null` leaves them, `none` dropped the rows).
fn fill(rows: &mut [Row], how: Fill) {
    let ncols = rows.first().map_or(0, |r| r.1.len());
    match how {
        Fill::Null | Fill::None => {}
        Fill::Value(x) => {
            for r in rows.iter_mut() {
                for c in r.1.iter_mut().filter(|c| c.is_none()) {
                    *c = Some(Val::Num(x));
                }
            }
        }
        Fill::Previous => {
            for j in 0..ncols {
                let mut prev: Option<Val> = None;
                for r in rows.iter_mut() {
                    match &r.1[j] {
                        Some(v) => prev = Some(v.clone()),
                        None => r.1[j] = prev.clone(),
                    }
                }
            }
        }
        Fill::Linear => {
            for j in 0..ncols {
                let mut last: Option<(usize, f64)> = None;
                for i in 0..rows.len() {
                    let Some(y) = rows[i].1[j].as_ref().and_then(Val::num) else {
                        continue;
                    };
                    if let Some((p, py)) = last
                        && i > p + 1
                    {
                        let (tp, ti) = (rows[p].0 as f64, rows[i].0 as f64);
                        for row in rows.iter_mut().take(i).skip(p + 1) {
                            let tk = row.0 as f64;
                            row.1[j] = Some(Val::Num(py + (y - py) * (tk - tp) / (ti - tp)));
                        }
                    }
                    last = Some((i, y));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rows(v: &[Option<f64>]) -> Vec<Row> {
        v.iter()
            .enumerate()
            .map(|(i, x)| (i as i64 * 10, vec![x.map(Val::Num)]))
            .collect()
    }

    fn nums(r: &[Row]) -> Vec<Option<f64>> {
        r.iter()
            .map(|r| r.1[0].as_ref().and_then(Val::num))
            .collect()
    }

    fn cells(c: &[Option<Val>]) -> Vec<Option<f64>> {
        c.iter().map(|v| v.as_ref().and_then(Val::num)).collect()
    }

    #[test]
    fn fills() {
        let v = [None, Some(1.0), None, None, Some(4.0), None];
        let mut r = rows(&v);
        fill(&mut r, Fill::Linear);
        assert_eq!(
            nums(&r),
            vec![None, Some(1.0), Some(2.0), Some(3.0), Some(4.0), None]
        );
        let mut r = rows(&v);
        fill(&mut r, Fill::Previous);
        assert_eq!(
            nums(&r),
            vec![None, Some(1.0), Some(1.0), Some(1.0), Some(4.0), Some(4.0)]
        );
        let mut r = rows(&v);
        fill(&mut r, Fill::Value(0.0));
        assert_eq!(nums(&r)[0], Some(0.0));
    }

    #[test]
    fn windows_convert_inclusive_ns_to_half_open_ms() {
        let t = TimeRange {
            min: Some(1_500_000),
            max: Some(3_000_000),
        };
        assert_eq!(window_ms(t, None), (2, 4));
        let t = TimeRange {
            min: Some(-1_500_000),
            max: None,
        };
        assert_eq!(window_ms(t, Some(9)), (-1, 9));
    }

    #[test]
    fn derivatives_skip_nulls_and_resets() {
        let r = rows(&[Some(10.0), None, Some(30.0), Some(5.0), Some(25.0)]);
        let d = apply_transform(
            r.clone(),
            Transform::Derivative {
                unit: 10.0,
                non_negative: true,
            },
        );
        assert_eq!(
            d.iter().map(|r| (r.0, cells(&r.1)[0])).collect::<Vec<_>>(),
            vec![(20, Some(10.0)), (40, Some(20.0))]
        );
        let d = apply_transform(
            r,
            Transform::Difference {
                non_negative: false,
            },
        );
        assert_eq!(d.len(), 3);
        assert_eq!(cells(&d[1].1)[0], Some(-25.0));
    }

    #[test]
    fn buckets_never_overflow() {
        assert_eq!(bucket_start(125, 60, 0), 120);
        assert_eq!(bucket_start(-1, 60, 0), -60);
        assert_eq!(bucket_start(125, 60, 10), 70);
        assert_eq!(bucket_start(i64::MIN, 7, 3), i64::MIN);
        assert_eq!(bucket_index(i64::MAX, 1, 0, i64::MIN), Some(usize::MAX));
        assert_eq!(bucket_index(185, 60, 0, 60), Some(2));
    }

    #[test]
    fn trend_intervals_must_tile_the_buckets() {
        let kept: Vec<TrendInterval> = clio_storage::DEFAULT_TREND_INTERVALS.to_vec();
        assert_eq!(tiling_interval(&kept, 60_000, 0), None);
        assert_eq!(
            tiling_interval(&kept, 7_200_000, 0).unwrap().ms(),
            3_600_000
        );
        assert_eq!(
            tiling_interval(&kept, 7_200_000, 1_800_000).unwrap().ms(),
            1_800_000
        );
        assert_eq!(
            tiling_interval(&kept, 86_400_000 * 7, 0).unwrap().ms(),
            86_400_000
        );
    }
}
