use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The key of a series written by line protocol: measurement, tag set and field, written
/// `measurement,tag1=v1,tag2=v2 field`. Tags are kept sorted by name, so every spelling of the
/// same tag set maps to one key. Commas, spaces, equals signs and backslashes inside names and
/// values are escaped with a backslash, as in InfluxDB line protocol.
///
/// In memory a key is its pieces — measurement, each tag's name and value, field — one after
/// another in one string, with where each piece ends: two allocations instead of one per
/// piece, which matters at a million series (issue #25).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The pieces, unescaped, without separators.
    text: Box<str>,
    /// Where each piece of `text` ends: measurement, then name and value of each tag, then
    /// the field (always `text.len()`).
    ends: Box<[u32]>,
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
    /// The key is longer than a key can be (4 GiB).
    #[error("series key is too long")]
    TooLong,
}

/// A key's tags while it is built: up to eight without an allocation (nearly every key;
/// building one is on the write path of every new series).
type TagList<'a> = smallvec::SmallVec<[(&'a str, &'a str); 8]>;

impl SeriesKey {
    /// Builds a key, sorting the tags by name.
    pub fn new(
        measurement: impl Into<String>,
        tags: impl IntoIterator<Item = (String, String)>,
        field: impl Into<String>,
    ) -> Result<Self, KeyError> {
        let tags: Vec<(String, String)> = tags.into_iter().collect();
        SeriesKey::from_pieces(
            &measurement.into(),
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &field.into(),
        )
    }

    /// [`SeriesKey::new`] from borrowed pieces, without an owned copy of each: the
    /// line-protocol parser hands its tags out this way. Tags in any order are sorted, and a
    /// repeated name is refused.
    pub fn from_pieces<'t>(
        measurement: &str,
        tags: impl IntoIterator<Item = (&'t str, &'t str)>,
        field: &str,
    ) -> Result<Self, KeyError> {
        let mut tags: TagList<'_> = tags.into_iter().collect();
        SeriesKey::build(measurement, &mut tags, field)
    }

    /// The one constructor every other one goes through: checks the pieces, sorts the tags
    /// (when they are not sorted already) and lays the pieces out in one string.
    fn build(measurement: &str, tags: &mut [(&str, &str)], field: &str) -> Result<Self, KeyError> {
        if measurement.is_empty() {
            return Err(KeyError::EmptyMeasurement);
        }
        if field.is_empty() {
            return Err(KeyError::MissingField);
        }
        if let Some((k, v)) = tags.iter().find(|(k, v)| k.is_empty() || v.is_empty()) {
            return Err(KeyError::BadTag(format!("{k}={v}")));
        }
        // Names in strictly ascending order are sorted and unique: the usual case, one
        // comparison per tag.
        if !tags.windows(2).all(|w| w[0].0 < w[1].0) {
            tags.sort_unstable();
            if let Some(w) = tags.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(KeyError::DuplicateTag(w[0].0.to_owned()));
            }
        }
        let len = measurement.len()
            + field.len()
            + tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if u32::try_from(len).is_err() {
            return Err(KeyError::TooLong);
        }
        let mut text = String::with_capacity(len);
        let mut ends = Vec::with_capacity(2 + 2 * tags.len());
        // Each end fits: the whole text does (checked above).
        let mut piece = |s: &str| {
            text.push_str(s);
            ends.push(text.len() as u32);
        };
        piece(measurement);
        for (k, v) in tags.iter() {
            piece(k);
            piece(v);
        }
        piece(field);
        Ok(SeriesKey {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        })
    }

    /// Piece `i` of the text (see [`SeriesKey::ends`]).
    fn piece(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).map_or(0, |e| *e as usize)
        };
        let end = self.ends.get(i).map_or(start, |e| *e as usize);
        self.text.get(start..end).unwrap_or_default()
    }

    /// The measurement name.
    pub fn measurement(&self) -> &str {
        self.piece(0)
    }

    /// The tags, sorted by name, as `(name, value)`.
    pub fn tags(&self) -> Tags<'_> {
        Tags {
            key: self,
            front: 0,
            back: self.tag_count(),
        }
    }

    /// How many tags the key has.
    pub fn tag_count(&self) -> usize {
        self.ends.len().saturating_sub(2) / 2
    }

    /// The tags as owned pairs.
    pub fn tags_owned(&self) -> Vec<(String, String)> {
        self.tags()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The value of one tag.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The field name.
    pub fn field(&self) -> &str {
        self.piece(self.ends.len().saturating_sub(1))
    }
}

/// The tags of a [`SeriesKey`], sorted by name.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    key: &'a SeriesKey,
    front: usize,
    back: usize,
}

impl<'a> Tags<'a> {
    fn at(&self, i: usize) -> (&'a str, &'a str) {
        (self.key.piece(1 + 2 * i), self.key.piece(2 + 2 * i))
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let t = self.at(self.front);
        self.front += 1;
        Some(t)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Tags<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(self.at(self.back))
    }
}

impl ExactSizeIterator for Tags<'_> {}

impl Ord for SeriesKey {
    /// Measurement, then the tags pair by pair, then the field.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.measurement()
            .cmp(other.measurement())
            .then_with(|| self.tags().cmp(other.tags()))
            .then_with(|| self.field().cmp(other.field()))
    }
}

impl PartialOrd for SeriesKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeriesKey({self})")
    }
}

/// Appends `s` with `,`, space, `\\` and (when `eq`) `=` escaped by a backslash.
/// Whether `b` is escaped in a piece of a key's text (`=` only in tags and the field).
fn special(b: u8, eq: bool) -> bool {
    b == b',' || b == b' ' || b == b'\\' || (eq && b == b'=')
}

fn escape(out: &mut String, s: &str, eq: bool) {
    // Most names need no escape: one copy instead of a push per character.
    if !s.bytes().any(|b| special(b, eq)) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        // Every special character is ASCII.
        if c.is_ascii() && special(c as u8, eq) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Takes `prefix` off the front of `rest`; false (and `rest` unspecified) when it is not
/// there.
fn eat(rest: &mut &str, prefix: &str) -> bool {
    match rest.strip_prefix(prefix) {
        Some(r) => {
            *rest = r;
            true
        }
        None => false,
    }
}

/// Takes what [`escape`] writes for `s` off the front of `rest`, without writing it.
fn eat_escaped(rest: &mut &str, s: &str, eq: bool) -> bool {
    if !s.bytes().any(|b| special(b, eq)) {
        return eat(rest, s);
    }
    let mut buf = [0u8; 4];
    s.chars().all(|c| {
        (!(c.is_ascii() && special(c as u8, eq)) || eat(rest, "\\"))
            && eat(rest, c.encode_utf8(&mut buf))
    })
}

impl SeriesKey {
    /// Appends the key's line-protocol text (what `Display` writes) to `out`.
    pub fn write_text(&self, out: &mut String) {
        escape(out, self.measurement(), false);
        for (k, v) in self.tags() {
            out.push(',');
            escape(out, k, true);
            out.push('=');
            escape(out, v, true);
        }
        out.push(' ');
        escape(out, self.field(), true);
    }

    /// Whether `text` is exactly what [`SeriesKey::write_text`] writes for this key,
    /// compared piece by piece instead of written out first (the log replay asks this of
    /// a million logged creations).
    pub fn is_text(&self, text: &str) -> bool {
        let mut rest = text;
        eat_escaped(&mut rest, self.measurement(), false)
            && self.tags().all(|(k, v)| {
                eat(&mut rest, ",")
                    && eat_escaped(&mut rest, k, true)
                    && eat(&mut rest, "=")
                    && eat_escaped(&mut rest, v, true)
            })
            && eat(&mut rest, " ")
            && eat_escaped(&mut rest, self.field(), true)
            && rest.is_empty()
    }

    /// The common spelling, without backslashes, parsed without an allocation per piece.
    /// `None` for anything else (escapes, any error), which the general parser then handles
    /// and explains.
    fn parse_plain(s: &str) -> Option<SeriesKey> {
        /// Where the scan is: in the measurement, a tag's name or a tag's value.
        #[derive(Clone, Copy)]
        enum In {
            Measurement,
            Name,
            Value,
        }
        let b = s.as_bytes();
        let mut tags = TagList::new();
        let mut at = In::Measurement;
        let (mut measurement_end, mut name_start, mut name_end, mut start) = (0, 0, 0, 0);
        // One pass up to the space before the field. Every piece starts and ends at an
        // ASCII separator or an end of `s`, so at character boundaries.
        let mut i = 0;
        let field_from = loop {
            // The end of `s` before a space: no field.
            let c = *b.get(i)?;
            match (at, c) {
                (_, b'\\') => return None,
                (In::Measurement, b',') => {
                    measurement_end = i;
                    at = In::Name;
                    name_start = i + 1;
                }
                (In::Measurement, b' ') => {
                    measurement_end = i;
                    break i + 1;
                }
                (In::Name, b'=') => {
                    name_end = i;
                    at = In::Value;
                    start = i + 1;
                }
                (In::Name, b',' | b' ') | (In::Value, b'=') => return None,
                (In::Value, b',' | b' ') => {
                    tags.push((s.get(name_start..name_end)?, s.get(start..i)?));
                    if c == b' ' {
                        break i + 1;
                    }
                    at = In::Name;
                    name_start = i + 1;
                }
                _ => {}
            }
            i += 1;
        };
        let field = s.get(field_from..)?.trim_start_matches(' ');
        if field.bytes().any(|c| c == b' ' || c == b'\\') {
            return None;
        }
        SeriesKey::build(s.get(..measurement_end)?, &mut tags, field).ok()
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(self.text.len() + self.ends.len() + 8);
        self.write_text(&mut s);
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
        match SeriesKey::parse_plain(s) {
            Some(k) => Ok(k),
            None => parse_general(s),
        }
    }
}

/// Any spelling: escapes, tags in any order; the errors say what is wrong.
fn parse_general(s: &str) -> Result<SeriesKey, KeyError> {
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
    fn pieces_and_order_are_those_of_the_parts() {
        let k: SeriesKey = "cpu,zone=eu,host=a\\ b usage".parse().unwrap();
        assert_eq!(k.measurement(), "cpu");
        assert_eq!(
            k.tags().collect::<Vec<_>>(),
            vec![("host", "a b"), ("zone", "eu")]
        );
        assert_eq!(k.tags().next_back(), Some(("zone", "eu")));
        assert_eq!(k.tags().len(), 2);
        assert_eq!(k.field(), "usage");
        assert_eq!(k.tag("zone"), Some("eu"));
        assert_eq!(k.tag("usage"), None, "the field is not a tag");
        // Order: measurement, then the tags pair by pair (fewer first on a tie), then field;
        // not the order of the concatenated pieces.
        let sorted = [
            "a,x=1 f",
            "a,x=1 g",
            "a,x=1,y=0 a",
            "a,x=10 a",
            "ab f",
            "b,a=z f",
        ];
        let mut keys: Vec<SeriesKey> = sorted.iter().rev().map(|s| s.parse().unwrap()).collect();
        keys.sort();
        let back: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(back, sorted);
        assert_eq!(format!("{:?}", keys[0]), "SeriesKey(a,x=1 f)");
    }

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
        assert_eq!(k.tag_count(), 0);
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

    #[test]
    fn the_plain_spelling_parses_like_any_other() {
        for s in [
            "cpu usage",
            "cpu,host=a,zone=eu usage",
            "cpu,host=a,zone=eu   usage",
            "m=x,a=b f,g=h",
            "cpu,zone=eu,host=a usage",
            "cpu,host=a,host=b usage",
            "cpu,host=,zone=eu usage",
            "cpu,=a usage",
            "cpu,host usage",
            "cpu,host=a=b usage",
            ",host=a usage",
            "cpu,host=a",
            "cpu,host=a ",
            "cpu,host=a usage extra",
            "cpu",
            "",
            "é,ü=ö ß",
            // More tags than the parser keeps without an allocation.
            "m,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10 v",
            "m,j=10,i=9,h=8,g=7,f=6,e=5,d=4,c=3,b=2,a=1 v",
            "m,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,a=10 v",
        ] {
            let general = parse_general(s);
            match SeriesKey::parse_plain(s) {
                Some(k) => assert_eq!(Ok(k), general, "{s:?}"),
                None => assert!(
                    general.is_err() || s.contains(",zone=eu,host"),
                    "{s:?} is plain and valid but took the general parser"
                ),
            }
        }
    }

    #[test]
    fn keys_from_borrowed_pieces_are_those_of_new() {
        let owned = |t: &[(&str, &str)]| -> Vec<(String, String)> {
            t.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for (m, tags, f) in [
            ("cpu", &[("host", "a"), ("zone", "eu")][..], "usage"),
            ("cpu", &[("zone", "eu"), ("host", "a")][..], "usage"),
            ("cpu", &[][..], "usage"),
            ("cpu", &[("host", "a"), ("host", "b")][..], "usage"),
            ("cpu", &[("host", "")][..], "usage"),
            ("", &[("host", "a")][..], "usage"),
            ("cpu", &[("host", "a")][..], ""),
        ] {
            assert_eq!(
                SeriesKey::from_pieces(m, tags.iter().copied(), f),
                SeriesKey::new(m, owned(tags), f),
                "{m} {tags:?} {f}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_plain_parser_agrees_with_the_general_one(s in "[a-c,= \\\\é]{0,16}") {
            if let Some(k) = SeriesKey::parse_plain(&s) {
                prop_assert_eq!(Ok(k), parse_general(&s));
            }
        }

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

        /// `is_text` says yes to the key's own text and to nothing else: not to a text
        /// cut short or run on, nor to the text of another key.
        #[test]
        fn a_key_is_its_own_text_only(
            m in "[a-c,= \\\\é]{1,6}",
            tags in proptest::collection::btree_map("[a-c,= \\\\é]{1,4}", "[a-c,= \\\\é]{1,4}", 0..3),
            f in "[a-c,= \\\\é]{1,4}",
            other in "[a-c,= \\\\é]{1,24}",
            cut in 0usize..24,
        ) {
            let k = SeriesKey::new(m, tags, f).unwrap();
            let s = k.to_string();
            prop_assert!(k.is_text(&s), "{}", s);
            let short: String = s.chars().take(cut.min(s.chars().count().saturating_sub(1))).collect();
            prop_assert!(!k.is_text(&short), "{}", short);
            let longer = format!("{s}a");
            prop_assert!(!k.is_text(&longer), "{}", longer);
            prop_assert_eq!(k.is_text(&other), other == s, "{}", other);
            if let Ok(o) = other.parse::<SeriesKey>() {
                prop_assert_eq!(k.is_text(&o.to_string()), o == k, "{}", o);
            }
        }
    }
}
