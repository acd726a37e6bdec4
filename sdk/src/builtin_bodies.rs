//! Function bodies that several built-in plugins share (each plugin is its own component,
//! so the shared part lives here rather than being copied into each crate).

use crate::{Args, History, Result, Term, Timestamp, Value, ValueRef, bad_argument};

/// Finds the record `last` and `getTimestamp` answer about.
pub fn last_record(h: &dyn History, args: &Args) -> Result<Option<(Timestamp, Value)>> {
    let now = h.now();
    let series = h.series_id();
    // Strict mode does not apply to last: drop a `!` wherever ALEPIZ would accept it.
    let shift = match args.get(0) {
        None => None,
        Some(s) => {
            let s = s.trim_start_matches('!').replacen("#!", "#", 1);
            Some(crate::parse_term(&s, "shift")?)
        }
    };
    // A count as period is ignored, as in ALEPIZ (`last(0, #3)` is the newest record).
    let period = match args.get(1) {
        Some(p) if p.trim_start_matches('!').starts_with('#') => None,
        _ => args.duration(1, "period")?,
    };
    if period.is_some_and(|p| p < 0) {
        return Err(bad_argument("period", "a period cannot be negative"));
    }
    let period = period.filter(|&p| p > 0);
    // The "as of" instant, included in the lookup.
    let as_of = match shift {
        None => now - 1,
        Some(Term::Count(k)) => {
            let p = h.read_last(series, 1, k, now)?;
            return Ok(p.last().map(|(t, v)| (t, v.into())));
        }
        Some(Term::Duration(s)) if s < 0 => {
            return Err(bad_argument("shift", "a shift cannot be negative"));
        }
        Some(Term::Duration(0)) => now - 1,
        Some(Term::Duration(s)) => now.saturating_sub(s),
        Some(Term::Timestamp(t)) => t,
    };
    let end = as_of.saturating_add(1).min(now);
    let p = match period {
        None => h.read_last(series, 1, 0, end)?,
        Some(p) => h.read_range(series, as_of.saturating_sub(p).saturating_add(1), end, 1)?,
    };
    Ok(p.last()
        .map(|(t, v): (Timestamp, ValueRef<'_>)| (t, v.into())))
}

/// `change` and `absChange`: newest minus oldest (absolute for absChange); for strings 0 when
/// equal (ignoring case for absChange), else 1. `num` defaults to `#2`; needs 2 records.
pub fn change(h: &dyn History, args: &Args, absolute: bool) -> Result<Option<Value>> {
    let window = args.window_or(0, 1, "#2")?;
    let as_text = args.flag(2, "dataType")?;
    if let Term::Count(n) = window.num()
        && n < 2
    {
        return Ok(None);
    }
    // Only the oldest and the newest record matter: stream the window (chunks come oldest
    // first) so that a window of any size fits in the plugin's memory.
    let mut oldest: Option<Value> = None;
    let mut newest: Option<Value> = None;
    let Some(covered) = window.for_each_chunk(h, |chunk| {
        if oldest.is_none() {
            oldest = chunk.first().map(|(_, v)| v.into());
        }
        if let Some((_, v)) = chunk.last() {
            newest = Some(v.into());
        }
        Ok(())
    })?
    else {
        return Ok(None);
    };
    let (Some(first), Some(last)) = (oldest, newest) else {
        return Ok(None);
    };
    if covered.points < 2 {
        return Ok(None);
    }
    let (first, last) = (first.as_ref(), last.as_ref());
    if !as_text && let (Some(a), Some(b)) = (first.as_number(), last.as_number()) {
        let d = b - a;
        return Ok(Some(Value::Num(if absolute { d.abs() } else { d })));
    }
    let (a, b) = (first.to_text(), last.to_text());
    let same = if absolute {
        a.to_lowercase() == b.to_lowercase()
    } else {
        a == b
    };
    Ok(Some(Value::Num(if same { 0.0 } else { 1.0 })))
}
