use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The key of a series written by line protocol: measurement, tag set and field, written
/// `measurement,tag1=v1,tag2=v2 field`. Tags are kept sorted by name, so every spelling of the
/// same tag set maps to one key. Commas, spaces, equals signs and backslashes inside names and
/// values are escaped with a backslash, as in InfluxDB line protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    measurement: String,
    tags: Vec<(String, String)>,
    field: String,
}

/// Why a series key is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The measurement name is empty.
    #[error("series key has an empty measurement")]
    EmptyMeasurement,
    /// The field name is empty or missing.
    #[error("series key has no field (expected `measurement[,tag=value...] field`)")]
    MissingField,
    /// A tag has an empty name or value, or no `=`.
    #[error("series key has a malformed tag `{0}`")]
    BadTag(String),
    /// The same tag name appears twice.
    #[error("series key repeats tag `{0}`")]
    DuplicateTag(String),
    /// Text after the field name.
    #[error("series key has trailing text after the field")]
    Trailing,
}

impl SeriesKey {
    /// Builds a key, sorting the tags by name.
    pub fn new(
        measurement: impl Into<String>,
        tags: impl IntoIterator<Item = (String, String)>,
        field: impl Into<String>,
    ) -> Result<Self, KeyError> {
        let measurement = measurement.into();
        let field = field.into();
        if measurement.is_empty() {
            return Err(KeyError::EmptyMeasurement);
        }
        if field.is_empty() {
            return Err(KeyError::MissingField);
        }
        let mut tags: Vec<(String, String)> = tags.into_iter().collect();
        for (k, v) in &tags {
            if k.is_empty() || v.is_empty() {
                return Err(KeyError::BadTag(format!("{k}={v}")));
            }
        }
        tags.sort();
        if let Some(w) = tags.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(KeyError::DuplicateTag(w[0].0.clone()));
        }
        Ok(SeriesKey {
            measurement,
            tags,
            field,
        })
    }

    /// The measurement name.
    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    /// The tags, sorted by name.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    /// The value of one tag.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field name.
    pub fn field(&self) -> &str {
        &self.field
    }
}

fn escape(out: &mut String, s: &str, extra: &[char]) {
    for c in s.chars() {
        if c == ',' || c == ' ' || c == '\\' || extra.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        escape(&mut s, &self.measurement, &[]);
        for (k, v) in &self.tags {
            s.push(',');
            escape(&mut s, k, &['=']);
            s.push('=');
            escape(&mut s, v, &['=']);
        }
        s.push(' ');
        escape(&mut s, &self.field, &['=']);
        f.write_str(&s)
    }
}

/// Reads characters up to the first unescaped character of `stops`, unescaping
/// backslash sequences. Returns the text and the stop character found (None at the end).
fn read_token(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    stops: &[char],
) -> (String, Option<char>) {
    let mut cur = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => cur.push(n),
                None => cur.push('\\'),
            }
        } else if stops.contains(&c) {
            return (cur, Some(c));
        } else {
            cur.push(c);
        }
    }
    (cur, None)
}

impl FromStr for SeriesKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars().peekable();
        let (measurement, mut sep) = read_token(&mut chars, &[',', ' ']);
        let mut tags = Vec::new();
        while sep == Some(',') {
            let (name, eq) = read_token(&mut chars, &['=', ',', ' ']);
            if eq != Some('=') {
                return Err(KeyError::BadTag(name));
            }
            let (value, next) = read_token(&mut chars, &[',', ' ', '=']);
            if next == Some('=') {
                return Err(KeyError::BadTag(format!("{name}={value}=")));
            }
            tags.push((name, value));
            sep = next;
        }
        if sep != Some(' ') {
            return Err(KeyError::MissingField);
        }
        // Several spaces between the tag set and the field are tolerated.
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let (field, rest) = read_token(&mut chars, &[' ']);
        if rest.is_some() {
            return Err(KeyError::Trailing);
        }
        SeriesKey::new(measurement, tags, field)
    }
}

impl Serialize for SeriesKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_normalised() {
        let a: SeriesKey = "cpu,z=1,a=2 usage".parse().unwrap();
        let b: SeriesKey = "cpu,a=2,z=1 usage".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "cpu,a=2,z=1 usage");
        assert_eq!(a.tag("z"), Some("1"));
    }

    #[test]
    fn no_tags() {
        let k: SeriesKey = "temp value".parse().unwrap();
        assert_eq!(k.measurement(), "temp");
        assert!(k.tags().is_empty());
        assert_eq!(k.field(), "value");
    }

    #[test]
    fn bad_keys_are_named() {
        assert_eq!("cpu".parse::<SeriesKey>(), Err(KeyError::MissingField));
        assert_eq!(" f".parse::<SeriesKey>(), Err(KeyError::EmptyMeasurement));
        assert!(matches!(
            "cpu,a f".parse::<SeriesKey>(),
            Err(KeyError::BadTag(_))
        ));
        assert!(matches!(
            "cpu,a=1,a=2 f".parse::<SeriesKey>(),
            Err(KeyError::DuplicateTag(_))
        ));
        assert_eq!("cpu f g".parse::<SeriesKey>(), Err(KeyError::Trailing));
    }

    #[test]
    fn escapes_round_trip() {
        let k = SeriesKey::new(
            "my meas,x",
            [("t=a".to_owned(), "v 1,\\".to_owned())],
            "f =",
        )
        .unwrap();
        let s = k.to_string();
        assert_eq!(s.parse::<SeriesKey>().unwrap(), k, "{s}");
    }

    proptest! {
        #[test]
        fn any_key_round_trips(
            m in "[^\\x00]{1,12}",
            tags in proptest::collection::btree_map("[^\\x00]{1,6}", "[^\\x00]{1,6}", 0..4),
            f in "[^\\x00]{1,8}",
        ) {
            let k = SeriesKey::new(m, tags, f).unwrap();
            let s = k.to_string();
            prop_assert_eq!(s.parse::<SeriesKey>().unwrap(), k);
        }
    }
}
