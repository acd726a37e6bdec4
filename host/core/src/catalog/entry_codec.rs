//! One catalog entry in bytes, shared by the catalog's local copy (`catalog.bin`) and the
//! log's series-creation records (docs/file-format.md, "The catalog copy"): flags, the id
//! and the creation time as deltas from the entry before, the key's line-protocol text, and
//! settings only where they differ from the defaults. A keyed series with default settings
//! costs its key and ~5 bytes, against ~150 bytes of JSON.

use std::collections::BTreeMap;

use clio_codec::varint::{Reader, put_ivarint, put_varint};
use clio_storage::{SeriesId, SeriesInfo, SeriesKey, SeriesSettings};

/// Entry flag: a key follows.
const HAS_KEY: u8 = 1;
/// Entry flag: settings other than the defaults follow.
const HAS_SETTINGS: u8 = 2;

/// Writes entries one after another; each is encoded relative to the one before.
#[derive(Debug, Default)]
pub(crate) struct EntryWriter {
    prev_id: u64,
    prev_created: i64,
    defaults: SeriesSettings,
    /// The key text being written (one buffer for every entry).
    text: String,
}

impl EntryWriter {
    /// Appends `e` to `out`. Ids in ascending order cost one or two bytes; any order is
    /// valid (the delta wraps).
    pub(crate) fn put(&mut self, out: &mut Vec<u8>, e: &SeriesInfo) {
        let custom = e.settings != self.defaults;
        out.push(if e.key.is_some() { HAS_KEY } else { 0 } | if custom { HAS_SETTINGS } else { 0 });
        put_varint(out, e.id.0.wrapping_sub(self.prev_id));
        self.prev_id = e.id.0;
        put_ivarint(out, e.created.wrapping_sub(self.prev_created));
        self.prev_created = e.created;
        if let Some(k) = &e.key {
            self.text.clear();
            k.write_text(&mut self.text);
            put_bytes(out, self.text.as_bytes());
        }
        if custom {
            put_varint(out, u64::from(e.settings.keep_history_days));
            put_varint(out, u64::from(e.settings.keep_trends_days));
            put_varint(out, e.settings.metadata.len() as u64);
            for (k, v) in &e.settings.metadata {
                put_bytes(out, k.as_bytes());
                put_bytes(out, v.as_bytes());
            }
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads what [`EntryWriter`] wrote, entry by entry.
#[derive(Debug, Default)]
pub(crate) struct EntryReader {
    id: u64,
    created: i64,
}

impl EntryReader {
    /// The next entry; the error says what is wrong (the caller adds where).
    pub(crate) fn read(&mut self, r: &mut Reader<'_>) -> Result<SeriesInfo, String> {
        self.read_raw(r)?.parse()
    }

    /// The next entry with its key still text: reading on needs no more (each entry is
    /// relative to the one before), and a reader that drops the entry saves parsing it.
    pub(crate) fn read_raw<'a>(&mut self, r: &mut Reader<'a>) -> Result<RawEntry<'a>, String> {
        let flags = r.u8("flags").map_err(|e| e.to_string())?;
        if flags & !(HAS_KEY | HAS_SETTINGS) != 0 {
            return Err(format!("unknown flags {flags:#x}"));
        }
        self.id = self
            .id
            .wrapping_add(r.varint("id").map_err(|e| e.to_string())?);
        self.created = self
            .created
            .wrapping_add(r.ivarint("created").map_err(|e| e.to_string())?);
        let key = if flags & HAS_KEY != 0 {
            Some(text(r, "key")?)
        } else {
            None
        };
        let settings = if flags & HAS_SETTINGS != 0 {
            let days = |r: &mut Reader<'_>| {
                let d = r.varint("retention days").map_err(|e| e.to_string())?;
                u32::try_from(d).map_err(|_| "retention days beyond u32".to_owned())
            };
            let keep_history_days = days(r)?;
            let keep_trends_days = days(r)?;
            let entries = r.varint("metadata count").map_err(|e| e.to_string())?;
            let mut metadata = BTreeMap::new();
            for _ in 0..entries {
                let k = text(r, "metadata name")?.to_owned();
                let v = text(r, "metadata value")?.to_owned();
                metadata.insert(k, v);
            }
            SeriesSettings {
                keep_history_days,
                keep_trends_days,
                metadata,
            }
        } else {
            SeriesSettings::default()
        };
        Ok(RawEntry {
            id: SeriesId(self.id),
            created: self.created,
            key,
            settings,
        })
    }
}

/// An entry as read, its key not yet parsed.
#[derive(Debug)]
pub(crate) struct RawEntry<'a> {
    pub id: SeriesId,
    pub created: i64,
    /// The key's line-protocol text, as [`SeriesKey::write_text`] wrote it.
    pub key: Option<&'a str>,
    pub settings: SeriesSettings,
}

impl RawEntry<'_> {
    /// The entry, its key parsed.
    pub(crate) fn parse(self) -> Result<SeriesInfo, String> {
        let key = match self.key {
            Some(text) => Some(
                text.parse::<SeriesKey>()
                    .map_err(|e| format!("key `{text}`: {e}"))?,
            ),
            None => None,
        };
        Ok(SeriesInfo {
            id: self.id,
            key,
            settings: self.settings,
            created: self.created,
        })
    }

    /// Whether this is `info`'s entry, key and settings (not the creation time). A key is
    /// compared as text: the writer's text of a key parses back to that key, so equal text
    /// means an equal key; a key spelled otherwise is not matched, which only costs the
    /// caller a parse.
    pub(crate) fn is_held_as(&self, info: &SeriesInfo) -> bool {
        info.id == self.id
            && info.settings == self.settings
            && match (&info.key, self.key) {
                (None, None) => true,
                (Some(k), Some(t)) => k.is_text(t),
                _ => false,
            }
    }
}

/// A length-prefixed UTF-8 string.
fn text<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a str, String> {
    let len = r.len(usize::MAX, what).map_err(|e| e.to_string())?;
    let bytes = r.bytes(len, what).map_err(|e| e.to_string())?;
    std::str::from_utf8(bytes).map_err(|e| format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_any_id_order_read_back_as_written() {
        let mut custom = SeriesSettings {
            keep_history_days: 7,
            keep_trends_days: 0,
            ..SeriesSettings::default()
        };
        custom.metadata.insert("unit".into(), "°C".into());
        let key = |s: &str| Some(s.parse::<SeriesKey>().expect("key"));
        let long = format!("m,t={} f", "x".repeat(300));
        let list = [
            (u64::MAX, None, custom.clone(), i64::MIN),
            (
                1 << 48,
                key("cpu,host=a usage"),
                SeriesSettings::default(),
                5,
            ),
            (3, key("m\\ m,t\\,\\==v\\ \\\\ f"), custom, -3),
            (4, key(&long), SeriesSettings::default(), i64::MAX),
        ]
        .map(|(id, key, settings, created)| SeriesInfo {
            id: SeriesId(id),
            key,
            settings,
            created,
        });
        let out = encoded(&list);
        let mut r = Reader::new(&out);
        let mut reader = EntryReader::default();
        for e in &list {
            assert_eq!(&reader.read(&mut r).expect("entry"), e);
        }
        assert_eq!(r.remaining(), 0);
    }

    /// Replay drops a logged creation the catalog holds by comparing text; it must never
    /// call an entry held that differs in key or settings.
    #[test]
    fn an_entry_is_held_only_as_its_own_key_and_settings() {
        let info = |id: u64, key: Option<&str>, days: u32| SeriesInfo {
            id: SeriesId(id),
            key: key.map(|k| k.parse().expect("key")),
            settings: SeriesSettings {
                keep_history_days: days,
                ..SeriesSettings::default()
            },
            created: 7,
        };
        let logged = [
            info(1 << 48, Some("cpu,dc=x,host=a usage"), 0),
            info(2, None, 3),
        ];
        let out = encoded(&logged);
        let mut r = Reader::new(&out);
        let mut reader = EntryReader::default();
        let keyed = reader.read_raw(&mut r).expect("entry");
        let plain = reader.read_raw(&mut r).expect("entry");
        // The catalog's own entry, whatever its creation time.
        let mut held = logged[0].clone();
        held.created = 99;
        assert!(keyed.is_held_as(&held));
        assert!(plain.is_held_as(&logged[1]));
        for other in [
            info(1 << 48, Some("cpu,dc=x,host=b usage"), 0),
            info(1 << 48, Some("cpu,dc=x,host=a usage"), 1),
            info(1 << 48, None, 0),
            info((1 << 48) + 1, Some("cpu,dc=x,host=a usage"), 0),
        ] {
            assert!(!keyed.is_held_as(&other), "{other:?}");
        }
        assert!(!plain.is_held_as(&info(2, Some("m f"), 3)));
        // The same key spelled otherwise (tags out of order) is not matched as text; the
        // caller parses it then, and the parse agrees.
        let unsorted = RawEntry {
            key: Some("cpu,host=a,dc=x usage"),
            ..reader_entry(&out)
        };
        assert!(!unsorted.is_held_as(&logged[0]));
        assert_eq!(unsorted.parse().expect("parses").key, logged[0].key);
    }

    /// `entries` as written one after another.
    fn encoded(entries: &[SeriesInfo]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = EntryWriter::default();
        for e in entries {
            w.put(&mut out, e);
        }
        out
    }

    /// The first entry written in `out`.
    fn reader_entry(out: &[u8]) -> RawEntry<'_> {
        EntryReader::default()
            .read_raw(&mut Reader::new(out))
            .expect("entry")
    }
}
