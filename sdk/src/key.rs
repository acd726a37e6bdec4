//! Canonical series keys: `measurement,tag1=v1,tag2=v2 field`, escaped as Clio's line-protocol
//! parser and formatter escape them (`host/lineproto`, `SeriesKey` in `host/storage`).

use std::iter::Peekable;
use std::str::Chars;

use crate::error::{Result, bad_argument};

/// A series key split into its parts, with the escapes removed.
///
/// ```
/// use clio_sdk::SeriesKey;
/// let k = SeriesKey::parse(r"disk\ io,host=db\,1,path=C:\\ read\=s").unwrap();
/// assert_eq!(k.measurement, "disk io");
/// assert_eq!(k.tag("host"), Some("db,1"));
/// assert_eq!(k.tag("path"), Some(r"C:\"));
/// assert_eq!(k.field, "read=s");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesKey {
    /// The measurement name.
    pub measurement: String,
    /// The tags in the order of the key (the host's canonical keys sort them by name).
    pub tags: Vec<(String, String)>,
    /// The field name.
    pub field: String,
}

/// Characters a backslash escapes in a measurement. A backslash before anything else is a
/// literal backslash, as in line protocol.
const MEASUREMENT_ESCAPES: &[char] = &[',', ' ', '\\'];
/// Characters a backslash escapes in tag names, tag values and the field name.
const NAME_ESCAPES: &[char] = &[',', '=', ' ', '\\'];

/// Reads up to the first unescaped character of `stops` and unescapes what it read. Returns
/// the text and the stop found (`None` at the end of the key).
fn token(
    chars: &mut Peekable<Chars<'_>>,
    stops: &[char],
    escapes: &[char],
) -> (String, Option<char>) {
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&n) if escapes.contains(&n) => {
                    out.push(n);
                    chars.next();
                }
                // `\x` keeps its backslash, and so does one at the very end.
                _ => out.push('\\'),
            }
        } else if stops.contains(&c) {
            return (out, Some(c));
        } else {
            out.push(c);
        }
    }
    (out, None)
}

impl SeriesKey {
    /// Parses a canonical key. Escapes: `\,` and `\ ` in the measurement; `\,`, `\=` and `\ `
    /// in tag names, tag values and the field; `\\` is one backslash everywhere; a backslash
    /// before any other character is a literal backslash. Several spaces before the field are
    /// tolerated. Errors (`bad-argument` naming `key`) for an empty measurement or field, a tag
    /// without `=` or with an empty name or value, a repeated tag, and text after the field.
    pub fn parse(key: &str) -> Result<SeriesKey> {
        let bad = |why: String| bad_argument("key", format!("`{key}`: {why}"));
        let mut chars = key.chars().peekable();
        let (measurement, mut sep) = token(&mut chars, &[',', ' '], MEASUREMENT_ESCAPES);
        if measurement.is_empty() {
            return Err(bad("empty measurement".into()));
        }
        let mut tags: Vec<(String, String)> = Vec::new();
        while sep == Some(',') {
            let (name, eq) = token(&mut chars, &['=', ',', ' '], NAME_ESCAPES);
            if eq != Some('=') {
                return Err(bad(format!("tag `{name}` has no `=`")));
            }
            let (value, next) = token(&mut chars, &[',', ' ', '='], NAME_ESCAPES);
            if next == Some('=') {
                return Err(bad(format!(
                    "tag `{name}` has an unescaped `=` in its value"
                )));
            }
            if name.is_empty() || value.is_empty() {
                return Err(bad(format!(
                    "tag `{name}={value}` has an empty name or value"
                )));
            }
            if tags.iter().any(|(k, _)| *k == name) {
                return Err(bad(format!("tag `{name}` appears twice")));
            }
            tags.push((name, value));
            sep = next;
        }
        if sep != Some(' ') {
            return Err(bad(
                "no field (expected `measurement[,tag=value...] field`)".into(),
            ));
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let (field, rest) = token(&mut chars, &[' '], NAME_ESCAPES);
        if field.is_empty() {
            return Err(bad("empty field".into()));
        }
        if rest.is_some() {
            return Err(bad("text after the field".into()));
        }
        Ok(SeriesKey {
            measurement,
            tags,
            field,
        })
    }

    /// The value of one tag.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::str::FromStr for SeriesKey {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        SeriesKey::parse(s)
    }
}

/// Parses a canonical series key into measurement, tags and field; see [`SeriesKey::parse`].
pub fn parse_series_key(key: &str) -> Result<SeriesKey> {
    SeriesKey::parse(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn plain_keys() {
        let k = SeriesKey::parse("cpu,host=a,site=b usage").unwrap();
        assert_eq!(k.measurement, "cpu");
        assert_eq!(k.tags, tags(&[("host", "a"), ("site", "b")]));
        assert_eq!(k.field, "usage");
        assert_eq!(k.tag("site"), Some("b"));
        assert_eq!(k.tag("nope"), None);
        let k = SeriesKey::parse("temp value").unwrap();
        assert_eq!(
            k,
            SeriesKey {
                measurement: "temp".into(),
                tags: Vec::new(),
                field: "value".into(),
            }
        );
        // Several spaces before the field, as the host's key parser tolerates.
        assert_eq!(SeriesKey::parse("temp   value").unwrap().field, "value");
    }

    #[test]
    fn escapes_as_the_host_writes_them() {
        // What `SeriesKey`'s Display in host/storage gives for measurement `my meas,x`,
        // tag `t=a` = `v 1,\` and field `f =`.
        let k = SeriesKey::parse(r"my\ meas\,x,t\=a=v\ 1\,\\ f\ \=").unwrap();
        assert_eq!(k.measurement, "my meas,x");
        assert_eq!(k.tags, tags(&[("t=a", r"v 1,\")]));
        assert_eq!(k.field, "f =");
        // An `=` needs no escape in a measurement; `\=` there is a literal backslash and `=`.
        let k = SeriesKey::parse(r"a=b\=c,t=1 f").unwrap();
        assert_eq!(k.measurement, r"a=b\=c");
        // A backslash before any other character is literal, in every part.
        let k = SeriesKey::parse(r"m\x,t\y=v\z f\w").unwrap();
        assert_eq!(k.measurement, r"m\x");
        assert_eq!(k.tags, tags(&[(r"t\y", r"v\z")]));
        assert_eq!(k.field, r"f\w");
        // `\\` followed by a separator: the backslash is escaped, the separator is real.
        let k = SeriesKey::parse(r"m\\,t=v\\ f\\").unwrap();
        assert_eq!(k.measurement, r"m\");
        assert_eq!(k.tags, tags(&[("t", r"v\")]));
        assert_eq!(k.field, r"f\");
        // A trailing lone backslash stays.
        assert_eq!(SeriesKey::parse(r"m f\").unwrap().field, r"f\");
        // Non-ASCII passes through.
        let k = SeriesKey::parse("température,lieu=salle\\ à\\ manger °C").unwrap();
        assert_eq!(k.tag("lieu"), Some("salle à manger"));
        assert_eq!(k.field, "°C");
    }

    #[test]
    fn bad_keys_name_the_key() {
        for bad in [
            "",
            "cpu",
            " f",
            "cpu,",
            "cpu,a f",
            "cpu,=1 f",
            "cpu,a= f",
            "cpu,a=1=2 f",
            "cpu,a=1,a=2 f",
            "cpu f g",
            "cpu ",
            "cpu,a=1",
        ] {
            match SeriesKey::parse(bad) {
                Err(crate::Error::BadArgument { name, .. }) => assert_eq!(name, "key", "{bad}"),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
        let e = "cpu,a=1,a=2 f".parse::<SeriesKey>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad argument `key`: `cpu,a=1,a=2 f`: tag `a` appears twice"
        );
    }
}
