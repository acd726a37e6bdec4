//! `concat(num, shift, separator, skipEqual, reverse)`: the string forms of the window's
//! values joined oldest first. Empty strings are skipped; `skipEqual` keeps the first of each
//! distinct value; `reverse` reverses the order. A missing separator is `,`; an empty one
//! (`concat(#3, 0, , 1)`) means no separator. An empty window gives `""`.
#![deny(missing_docs)]

use std::collections::HashSet;

use clio_sdk::{Args, History, Result, Value};

#[clio_sdk::history_function(
    name = "concat",
    description = "The window's values joined into one string, oldest first",
    params = [
        "num: the window: #N records, a period (5m) or a timestamp; ! for strict",
        "shift?: where the window ends: a time shift, #K records to skip, or a timestamp",
        "separator?: put between values; missing = \",\", empty = nothing",
        "skipEqual?: 1 to keep only the first of equal values",
        "reverse?: 1 for newest first",
    ],
)]
fn concat(h: &dyn History, args: &Args) -> Result<Option<Value>> {
    let window = args.window(0, 1)?;
    let separator = args.raw(2).unwrap_or(",");
    let skip_equal = args.flag(3, "skipEqual")?;
    let reverse = args.flag(4, "reverse")?;
    // One chunk in memory at a time, oldest first. In order, the parts go straight into the
    // result; reversed, they are kept and joined at the end (as before).
    let mut seen = HashSet::new();
    let mut joined = String::new();
    let mut any = false;
    let mut parts: Vec<String> = Vec::new();
    let covered = window.for_each_chunk(h, |chunk| {
        let texts = chunk
            .iter()
            .map(|(_, v)| v.to_text().into_owned())
            .filter(|s| !s.is_empty())
            .filter(|s| !skip_equal || seen.insert(s.clone()));
        if reverse {
            parts.extend(texts);
        } else {
            for s in texts {
                if any {
                    joined.push_str(separator);
                }
                joined.push_str(&s);
                any = true;
            }
        }
        Ok(())
    })?;
    if covered.is_none() {
        return Ok(None);
    }
    if reverse {
        parts.reverse();
        joined = parts.join(separator);
    }
    Ok(Some(Value::Str(joined)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_sdk::testing::{MemHistory, NOW, assert_same_over_many_chunks, call, per_minute};

    fn h() -> MemHistory {
        per_minute([
            Value::from("a"),
            Value::Num(1.5),
            Value::from(""),
            Value::from("a"),
            Value::Num(0.0),
            Value::Num(1e-7),
        ])
    }

    fn s(h: &MemHistory, p: &str) -> Option<Value> {
        call(concat, h, p).unwrap()
    }

    #[test]
    fn joining() {
        let h = h();
        assert_eq!(s(&h, "#6"), Some(Value::from("a,1.5,a,0,1e-7")));
        assert_eq!(s(&h, "#6, 0, ;"), Some(Value::from("a;1.5;a;0;1e-7")));
        assert_eq!(s(&h, "#6, 0, "), Some(Value::from("a1.5a01e-7")));
        assert_eq!(s(&h, "#6, 0, -, 1"), Some(Value::from("a-1.5-0-1e-7")));
        assert_eq!(s(&h, "#6, 0, -, 1, 1"), Some(Value::from("1e-7-0-1.5-a")));
        assert_eq!(
            s(&h, "#6, 0, -, 0, true"),
            Some(Value::from("1e-7-0-a-1.5-a"))
        );
        assert_eq!(s(&h, "#2, #1"), Some(Value::from("a,0")));
        assert_eq!(s(&h, "2m"), Some(Value::from("0,1e-7")));
        assert_eq!(s(&h, "0"), Some(Value::from("1e-7")));
    }

    /// The body before streaming: the whole window through `fetch`.
    fn fetched(h: &dyn History, args: &Args) -> Result<Option<Value>> {
        let window = args.window(0, 1)?;
        let separator = args.raw(2).unwrap_or(",");
        let skip_equal = args.flag(3, "skipEqual")?;
        let reverse = args.flag(4, "reverse")?;
        let Some(points) = window.fetch(h)? else {
            return Ok(None);
        };
        let mut seen = HashSet::new();
        let mut parts: Vec<String> = points
            .iter()
            .map(|(_, v)| v.to_text().into_owned())
            .filter(|s| !s.is_empty())
            .filter(|s| !skip_equal || seen.insert(s.clone()))
            .collect();
        if reverse {
            parts.reverse();
        }
        Ok(Some(Value::Str(parts.join(separator))))
    }

    #[test]
    fn streaming_matches_fetch_bit_for_bit_over_many_chunks() {
        assert_same_over_many_chunks(
            concat,
            fetched,
            &[
                "#3000, 0, ;, 1",
                "#3000, 0, , 0, 1",
                "#2000, #7, |, 1, 1",
                "!#3400, 0, -",
            ],
        );
    }

    #[test]
    fn empty_strict_and_errors() {
        assert_eq!(s(&MemHistory::new(NOW), "#3"), Some(Value::from("")));
        let h = h();
        assert_eq!(s(&h, "!#9"), None);
        assert!(call(concat, &h, "#3, 0, ,, x").is_err());
        assert!(call(concat, &h, "").is_err());
    }
}
