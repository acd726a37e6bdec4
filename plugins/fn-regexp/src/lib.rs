//! `regexp(pattern, num, shift, flags)`: 1 when the string form of any value in the window
//! matches the regular expression, else 0 (also 0 on an empty window). Syntax of the Rust
//! `regex` crate (linear time). Note the order: the window is parameters 2 and 3.
#![deny(missing_docs)]

use clio_sdk::{Args, History, Result, Value, bad_argument};
use regex::RegexBuilder;

#[clio_sdk::history_function(
    name = "regexp",
    description = "1 when any value in the window matches the regular expression, else 0",
    params = [
        "pattern: the regular expression (Rust regex syntax)",
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "flags?: any of i (case-insensitive) m (multi-line) s (dot matches newline); g is ignored; default i",
    ],
)]
fn regexp(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let Some(pattern) = args.get(0) else {
        return Err(bad_argument("pattern", "required: a regular expression"));
    };
    let window = args.window(1, 2)?;
    let mut builder = RegexBuilder::new(pattern);
    // Bounded compiled size: a hostile pattern is an error, not a memory bomb.
    builder.size_limit(1 << 20);
    for flag in args.get(3).unwrap_or("i").chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'g' => &mut builder,
            other => {
                return Err(bad_argument(
                    "flags",
                    format!("unknown flag `{other}`; use i, m, s (g is accepted and ignored)"),
                ));
            }
        };
    }
    let re = builder
        .build()
        .map_err(|e| bad_argument("pattern", format!("not a valid regular expression: {e}")))?;
    // One chunk in memory at a time. After a match the rest of the window is still read
    // (without matching), because a strict window is decided on all of it.
    let mut hit = false;
    let covered = window.for_each_chunk(h, |chunk| {
        hit = hit || chunk.iter().any(|(_, v)| re.is_match(&v.to_text()));
        Ok(())
    })?;
    Ok(covered.map(|_| Value::Num(if hit { 1.0 } else { 0.0 })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, call, exact, many_chunks, num, per_minute};

    fn h() -> MemHistory {
        per_minute([
            Value::from("Disk FULL"),
            Value::Num(1.5),
            Value::from("ok"),
            Value::Num(42.0),
        ])
    }

    #[test]
    fn matching_and_window_forms() {
        let h = h();
        assert_eq!(num(regexp, &h, "full, #4"), Some(1.0)); // default flag i
        assert_eq!(num(regexp, &h, "full, #4, , g"), Some(0.0)); // case-sensitive
        assert_eq!(num(regexp, &h, "FULL, #4, , g"), Some(1.0));
        assert_eq!(num(regexp, &h, "full, #2"), Some(0.0));
        assert_eq!(num(regexp, &h, "full, #2, #2"), Some(1.0));
        assert_eq!(num(regexp, &h, "^1\\.5$, 3m"), Some(1.0)); // numbers by their string form
        assert_eq!(num(regexp, &h, "^42$, 0"), Some(1.0));
        assert_eq!(num(regexp, &h, "^42$, 2m, 1m"), Some(0.0));
        assert_eq!(num(regexp, &h, "^ok$, 1m, #1"), Some(1.0));
        assert_eq!(num(regexp, &h, "^o.$, #4, , ms"), Some(1.0));
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let pattern = args.get(0).unwrap_or_default();
        let window = args.window(1, 2)?;
        let re = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .unwrap();
        let Some(points) = window.fetch(h)? else {
            return Ok(None);
        };
        let hit = points.iter().any(|(_, v)| re.is_match(&v.to_text()));
        Ok(Some(Value::Num(if hit { 1.0 } else { 0.0 })))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        let h = many_chunks();
        for p in [
            "N/A, #3000",
            "N/A, #2500, #100",
            "N/A, !#3100",
            "N/A, !#3400",
            "N/A, 2000s",
            "N/A, !2000s",
            "N/A, !3500s",
            "N/A, 40m, #5",
            "N/A, #1000, 10m",
            "N/A, 0, #17",
            "^1000999\\., #3000",
            "^x, #3000",
            "^ , 50s, #24",
        ] {
            assert_eq!(
                exact(call(regexp, &h, p)),
                exact(call(fetched, &h, p)),
                "{p}"
            );
        }
    }

    #[test]
    fn empty_strict_and_errors() {
        let h = h();
        assert_eq!(num(regexp, &MemHistory::new(NOW), "x, #5"), Some(0.0));
        assert_eq!(num(regexp, &h, "ok, !#9"), None);
        for (bad, name) in [
            ("(, #4", "pattern"),
            (", #4", "pattern"),
            ("ok", "num"),
            ("ok, #4, , x", "flags"),
        ] {
            let e = call(regexp, &h, bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{name}`")), "{bad}: {e}");
        }
    }
}
