//! Typed access to a function's ALEPIZ-style parameters.

use crate::error::{Result, bad_argument};
use crate::value::parse_number;
use crate::window::{Term, Window, parse_duration, parse_term};

/// The parameters of one call, as the host passes them: already split on commas and trimmed
/// (`avg(#10, 1m)` gives `["#10", "1m"]`). An empty parameter counts as missing everywhere
/// except [`Args::raw`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    params: Vec<String>,
}

impl Args {
    /// Wraps the host's parameter list.
    pub fn new(params: Vec<String>) -> Self {
        Self { params }
    }

    /// Splits an ALEPIZ parameter text the way the host does: on commas, each part trimmed;
    /// an all-blank text is no parameters (`last()`).
    pub fn parse(text: &str) -> Self {
        if text.trim().is_empty() {
            return Self::default();
        }
        Self::new(text.split(',').map(|p| p.trim().to_owned()).collect())
    }

    /// How many parameters were given (empty ones included).
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True when no parameter was given.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Parameter `i` exactly as given: `None` when it is missing, `Some("")` when empty.
    pub fn raw(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(String::as_str)
    }

    /// Parameter `i`, trimmed; `None` when missing or empty (so it takes its default).
    pub fn get(&self, i: usize) -> Option<&str> {
        self.raw(i).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The window given by parameters `num` and `shift` (indexes); `num` is required.
    pub fn window(&self, num: usize, shift: usize) -> Result<Window> {
        Window::parse(self.get(num), self.get(shift))
    }

    /// Like [`Args::window`], with `default_num` (such as `"#2"`) when `num` is empty.
    pub fn window_or(&self, num: usize, shift: usize, default_num: &str) -> Result<Window> {
        Window::parse(Some(self.get(num).unwrap_or(default_num)), self.get(shift))
    }

    /// Parameter `i` as a number (numeric-like text), `None` when empty; `name` goes into
    /// the error.
    pub fn number(&self, i: usize, name: &str) -> Result<Option<f64>> {
        self.get(i)
            .map(|s| {
                parse_number(s).ok_or_else(|| bad_argument(name, format!("`{s}` is not a number")))
            })
            .transpose()
    }

    /// Parameter `i` as a required number.
    pub fn required_number(&self, i: usize, name: &str) -> Result<f64> {
        self.number(i, name)?
            .ok_or_else(|| bad_argument(name, "required: a number"))
    }

    /// Parameter `i` as a whole number ≥ 0, `default` when empty.
    pub fn count(&self, i: usize, name: &str, default: u64) -> Result<u64> {
        match self.get(i) {
            None => Ok(default),
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| bad_argument(name, format!("`{s}` is not a whole number ≥ 0"))),
        }
    }

    /// Parameter `i` as a duration in ms (`5m`, `-1h`, `300000`; negative allowed), `None`
    /// when empty. A count (`#N`) or a timestamp is an error.
    pub fn duration(&self, i: usize, name: &str) -> Result<Option<i64>> {
        let Some(s) = self.get(i) else {
            return Ok(None);
        };
        if s.starts_with('#') || s.starts_with('!') {
            return Err(bad_argument(
                name,
                format!("`{s}`: expected a duration, not a count"),
            ));
        }
        let ms = parse_duration(s).ok_or_else(|| {
            bad_argument(
                name,
                format!("`{s}`: expected a whole number of ms or a duration with s m h d w"),
            )
        })?;
        Ok(Some(ms))
    }

    /// Parameter `i` as a `num`/`shift`-style term (for functions with their own window
    /// logic, such as `last`).
    pub fn term(&self, i: usize, name: &str) -> Result<Option<Term>> {
        self.get(i).map(|s| parse_term(s, name)).transpose()
    }

    /// Parameter `i` as a flag: empty, `0`, `false`, `no` are false; `1`, `true`, `yes` (and
    /// any other non-zero number) are true; other text is an error.
    pub fn flag(&self, i: usize, name: &str) -> Result<bool> {
        let Some(s) = self.get(i) else {
            return Ok(false);
        };
        match s.to_ascii_lowercase().as_str() {
            "false" | "no" => Ok(false),
            "true" | "yes" => Ok(true),
            other => parse_number(other)
                .map(|v| v != 0.0)
                .ok_or_else(|| bad_argument(name, format!("`{s}`: expected 0/1 or true/false"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_and_defaults() {
        let a = Args::parse("#10, 0 , , gt");
        assert_eq!(a.len(), 4);
        assert_eq!(a.get(0), Some("#10"));
        assert_eq!(a.get(2), None);
        assert_eq!(a.raw(2), Some(""));
        assert_eq!(a.raw(9), None);
        assert!(Args::parse("  ").is_empty());
    }

    #[test]
    fn typed_parameters() {
        let a = Args::parse("1.5, x, 3, 5m, #2, true, 0, maybe");
        assert_eq!(a.number(0, "p").unwrap(), Some(1.5));
        assert!(a.number(1, "p").unwrap_err().to_string().contains("`p`"));
        assert_eq!(a.count(2, "k", 0).unwrap(), 3);
        assert!(a.count(0, "k", 0).is_err());
        assert_eq!(a.count(9, "k", 7).unwrap(), 7);
        assert_eq!(a.duration(3, "h").unwrap(), Some(300_000));
        assert!(a.duration(4, "h").is_err());
        assert_eq!(a.duration(9, "h").unwrap(), None);
        assert!(a.flag(5, "f").unwrap());
        assert!(!a.flag(6, "f").unwrap());
        assert!(!a.flag(9, "f").unwrap());
        assert!(a.flag(7, "f").is_err());
        assert!(a.required_number(9, "threshold").is_err());
        assert_eq!(a.term(4, "s").unwrap(), Some(Term::Count(2)));
    }
}
