//! Key patterns of alert rules: `*` matches any run of characters, `?` one character,
//! everything else itself.

/// Whether `text` matches `pattern`. Linear backtracking over the last `*`, so a hostile
/// pattern costs at most `O(pattern × text)`.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The measurement a pattern names literally (the text before the first `,` or space when
/// no wildcard or backslash comes before it), so that a rule over one measurement walks
/// only that measurement's series.
pub(crate) fn literal_measurement(pattern: &str) -> Option<&str> {
    let end = pattern.find([',', ' '])?;
    let m = &pattern[..end];
    (!m.is_empty() && !m.contains(['*', '?', '\\'])).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("kiln,* temp", "kiln,line=2 temp"));
        assert!(!matches("kiln,* temp", "kiln,line=2 pressure"));
        assert!(matches("*", ""));
        assert!(matches("k?ln*", "kiln,line=2 temp"));
        assert!(!matches("kiln", "kiln2"));
        assert!(matches("*a*b*c", "xxaxxbxxc"));
        assert!(!matches("*a*b*c", "xxaxxcxxb"));
        assert!(matches(&"*a".repeat(50), &"a".repeat(100)));
    }

    #[test]
    fn the_literal_measurement_narrows_the_walk() {
        assert_eq!(literal_measurement("kiln,* temp"), Some("kiln"));
        assert_eq!(literal_measurement("kiln temp"), Some("kiln"));
        assert_eq!(literal_measurement("ki*,a=b temp"), None);
        assert_eq!(literal_measurement("kiln*"), None);
    }
}
