//! The byte format of one log record. A segment file is the 8-byte magic `CLIOWAL\x01`
//! followed by records; a record is `u32 LE payload length`, `u32 LE CRC-32 of the payload`,
//! then the payload. A torn or corrupt record ends the readable part of a segment. With a data
//! key (encryption at rest) the stored payload is the plain payload sealed by
//! `clio_storage::sealing` (it starts with `0xC5`, which is no record kind); the length and
//! CRC are those of the stored bytes.

use clio_codec::varint::put_varint;
use clio_storage::sealing::{self, Keyring};
use clio_storage::{
    Expiry, Point, SeriesId, SeriesInfo, SeriesUpdate, Timestamp, TrendInterval, Value,
};

use crate::catalog::entry_codec::{EntryReader, EntryWriter, RawEntry};

/// Magic bytes at the start of every segment file.
pub(crate) const MAGIC: &[u8; 8] = b"CLIOWAL\x01";

/// Largest payload accepted when reading; a bigger length field means corruption.
const MAX_PAYLOAD: usize = 1 << 30;

const KIND_POINTS: u8 = 1;
const KIND_DELETE_SERIES: u8 = 2;
const KIND_DELETE_RANGE: u8 = 3;
/// Added after the first release; logs written before it simply contain none.
const KIND_EXPIRE: u8 = 4;
/// Added with replication (the engine owns the catalog): series created, with their ids,
/// keys, settings and creation times, as JSON. Still read; no longer written (see
/// [`KIND_CREATE_SERIES_BIN`]).
const KIND_CREATE_SERIES_JSON: u8 = 5;
/// A series' settings changed: `u64` id, then the JSON update (applying it twice is applying
/// it once).
const KIND_UPDATE_SERIES: u8 = 6;
/// A flush committed every point of log segments `<= upto` to the primary: `u64 upto`.
/// Replicas write what they gathered at these marks, so they see the primary's batches.
const KIND_FLUSHED: u8 = 7;
/// The wall clock when a group of records was committed: `i64` ms since the epoch. Written
/// only while log archiving is on (a point-in-time restore cuts the log at these); binaries
/// older than this record stop replaying at the first one.
const KIND_CLOCK: u8 = 8;
/// Series created: `varint` count, then the entries in the catalog copy's encoding
/// (`catalog::entry_codec`), ~45 bytes for a series with a 40-byte key against ~150 as
/// JSON; a million new series are two thirds of a log's bytes otherwise (issue #25).
/// Binaries older than this record stop replaying at the first one.
const KIND_CREATE_SERIES_BIN: u8 = 9;

const VAL_NUM: u8 = 0;
const VAL_STR: u8 = 1;

/// One logged change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    /// Points written (already validated and restamped).
    Points(Vec<(SeriesId, Point)>),
    /// A series deleted with all its data.
    DeleteSeries(SeriesId),
    /// Points of `[from, to)` deleted from a series.
    DeleteRange {
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
    },
    /// Retention applied to a batch of series (raw points and trend buckets older than the
    /// cuts), in one record.
    Expire(Vec<Expiry>),
    /// Series created (the engine assigned ids and keys before logging).
    CreateSeries(Vec<SeriesInfo>),
    /// A series' settings changed.
    UpdateSeries(SeriesId, SeriesUpdate),
    /// A flush committed the points of segments `<= upto` to the primary.
    Flushed {
        /// The last segment the flush covered.
        upto: u64,
    },
    /// The records after this one, up to the next clock record, were committed at or
    /// after this time (ms since the epoch).
    Clock(i64),
}

/// Appends `entry` as one framed record to `out`.
pub(crate) fn encode(entry: &Entry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    match entry {
        Entry::Points(points) => {
            out.push(KIND_POINTS);
            out.extend_from_slice(&(points.len() as u32).to_le_bytes());
            for (series, p) in points {
                out.extend_from_slice(&series.0.to_le_bytes());
                out.extend_from_slice(&p.ts.to_le_bytes());
                match &p.value {
                    Value::Num(v) => {
                        out.push(VAL_NUM);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    Value::Str(s) => {
                        out.push(VAL_STR);
                        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        out.extend_from_slice(s.as_bytes());
                    }
                }
            }
        }
        Entry::DeleteSeries(id) => {
            out.push(KIND_DELETE_SERIES);
            out.extend_from_slice(&id.0.to_le_bytes());
        }
        Entry::DeleteRange { series, from, to } => {
            out.push(KIND_DELETE_RANGE);
            out.extend_from_slice(&series.0.to_le_bytes());
            out.extend_from_slice(&from.to_le_bytes());
            out.extend_from_slice(&to.to_le_bytes());
        }
        Entry::Expire(batch) => {
            // series u64, raw flag u8 (+ i64), u32 count of (interval ms i64, before i64).
            out.push(KIND_EXPIRE);
            out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
            for e in batch {
                out.extend_from_slice(&e.series.0.to_le_bytes());
                match e.raw_before {
                    None => out.push(0),
                    Some(before) => {
                        out.push(1);
                        out.extend_from_slice(&before.to_le_bytes());
                    }
                }
                out.extend_from_slice(&(e.trends_before.len() as u32).to_le_bytes());
                for (interval, before) in &e.trends_before {
                    out.extend_from_slice(&interval.ms().to_le_bytes());
                    out.extend_from_slice(&before.to_le_bytes());
                }
            }
        }
        Entry::CreateSeries(series) => {
            // `encode_creations` frames its record itself (the log thread's caller uses it
            // without an entry).
            out.truncate(start);
            return encode_creations(series, out);
        }
        Entry::UpdateSeries(id, update) => {
            out.push(KIND_UPDATE_SERIES);
            out.extend_from_slice(&id.0.to_le_bytes());
            let _ = serde_json::to_writer(&mut *out, update);
        }
        Entry::Flushed { upto } => {
            out.push(KIND_FLUSHED);
            out.extend_from_slice(&upto.to_le_bytes());
        }
        Entry::Clock(ms) => {
            out.push(KIND_CLOCK);
            out.extend_from_slice(&ms.to_le_bytes());
        }
    }
    frame(out, start);
}

/// Appends the record of `series` created, framed ([`Entry::CreateSeries`] without the
/// entry).
pub(crate) fn encode_creations(series: &[SeriesInfo], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.push(KIND_CREATE_SERIES_BIN);
    put_varint(out, series.len() as u64);
    let mut w = EntryWriter::default();
    for info in series {
        w.put(out, info);
    }
    frame(out, start);
}

/// Fills in the length and checksum of the record that starts at `start` (8 bytes kept
/// for them, then the payload).
fn frame(out: &mut [u8], start: usize) {
    let payload_len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Associated data of a sealed log record.
const SEALED_AAD: &[u8] = b"clio-wal-record";

/// Appends `entry` as one framed record to `out`, its payload sealed when `keys` has a
/// current key (encryption at rest): the framing (length, CRC-32 of the stored payload)
/// stays, and the payload is `clio_storage::sealing`'s sealed item, whose first byte
/// (`0xC5`) is no record kind.
pub(crate) fn encode_sealed(entry: &Entry, keys: &Keyring, out: &mut Vec<u8>) {
    seal_into(keys, out, |plain| encode(entry, plain));
}

/// Appends the one framed record that `encode` writes, sealed as [`encode_sealed`] seals.
pub(crate) fn seal_into(keys: &Keyring, out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    if !keys.is_enabled() {
        return encode(out);
    }
    let mut plain = Vec::new();
    encode(&mut plain);
    let sealed = keys.seal(SEALED_AAD, plain.get(8..).unwrap_or_default());
    out.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&sealed).to_le_bytes());
    out.extend_from_slice(&sealed);
}

/// What reading a segment's records found.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The valid records, in order.
    pub entries: Vec<Entry>,
    /// Bytes of the segment (after the magic) that held valid records.
    pub valid_len: usize,
    /// Why reading stopped before the end, if it did.
    pub stopped: Option<String>,
    /// Where each entry ends (offset in the body, after the magic), in order.
    pub ends: Vec<usize>,
    /// A whole record (its checksum holds) that the keys cannot open: a missing or wrong
    /// data key. Unlike a torn tail this is never "the end of the log": the caller stops.
    pub fatal: Option<String>,
}

/// Decodes the records of a plain segment body (the bytes after the magic).
#[cfg(test)]
pub(crate) fn decode_all(body: &[u8]) -> Decoded {
    decode_all_with(body, &Keyring::none())
}

/// Decodes the records of a segment body (the bytes after the magic), opening sealed
/// records with `keys`.
pub(crate) fn decode_all_with(body: &[u8], keys: &Keyring) -> Decoded {
    let mut entries = Vec::new();
    let mut ends = Vec::new();
    let tail = decode_each(body, keys, |entry, end| {
        entries.push(entry);
        ends.push(end);
        true
    });
    Decoded {
        entries,
        valid_len: tail.valid_len,
        stopped: tail.stopped,
        ends,
        fatal: tail.fatal,
    }
}

/// How reading a segment's records ended (see [`Decoded`] for the fields).
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Bytes of the segment (after the magic) that held valid records.
    pub valid_len: usize,
    /// Why reading stopped before the end, if it did.
    pub stopped: Option<String>,
    /// A whole record the keys cannot open.
    pub fatal: Option<String>,
}

/// Decodes the records of a segment body one by one, handing each to `each` with the
/// offset where it ends; stops early when `each` returns false.
pub(crate) fn decode_each(
    body: &[u8],
    keys: &Keyring,
    mut each: impl FnMut(Entry, usize) -> bool,
) -> Tail {
    let mut pos = 0;
    let mut tail = Tail::default();
    while pos < body.len() {
        let Some((entry, used)) = next_record(&body[pos..], pos, keys, &mut tail, &mut KeepAll)
        else {
            break;
        };
        pos += used;
        if !each(entry, pos) {
            break;
        }
    }
    tail.valid_len = pos;
    tail
}

/// The record at the start of `buf`, which is at `pos` in the segment body, and its size;
/// `None` with the reason in `tail` when it does not decode.
fn next_record(
    buf: &[u8],
    pos: usize,
    keys: &Keyring,
    tail: &mut Tail,
    hooks: &mut dyn DecodeHooks,
) -> Option<(Entry, usize)> {
    match decode_one(buf, keys, hooks) {
        Ok(decoded) => Some(decoded),
        Err(Stop::Damaged(why)) => {
            tail.stopped = Some(format!("at byte {}: {why}", pos + MAGIC.len()));
            None
        }
        Err(Stop::Key(why)) => {
            let why = format!("at byte {}: {why}", pos + MAGIC.len());
            tail.stopped = Some(why.clone());
            tail.fatal = Some(why);
            None
        }
    }
}

/// What a reader of log records decides while it decodes them. Replay drops the logged
/// creations the catalog holds already, unparsed (`store::open`), and decodes points into
/// vectors the applying thread handed back (`wal::Recycling`); every other reader keeps
/// every creation and allocates afresh ([`KeepAll`]).
pub(crate) trait DecodeHooks {
    /// Whether to leave the logged creation `e` out of its entry.
    fn held(&mut self, _e: &RawEntry<'_>) -> bool {
        false
    }
    /// An entry as decoded (its held creations left out), before it is handed on.
    fn passed(&mut self, _e: &Entry) {}
    /// An empty vector for a record's points, with room for `n`.
    fn points(&mut self, n: usize) -> Vec<(SeriesId, Point)> {
        Vec::with_capacity(n)
    }
}

/// The hooks of every reader but replay: keeps every creation, allocates afresh.
pub(crate) struct KeepAll;

impl DecodeHooks for KeepAll {}

/// Bytes read from a segment at once during replay.
const READ_PIECE: usize = 4 << 20;

/// [`decode_each`] over the `len` bytes of a segment body read from `src`, in pieces through
/// `buf`, which the caller keeps from one segment to the next. Replay read each segment
/// whole into a fresh allocation of its size, and faulting in those new pages cost a fifth
/// of the reading thread's time (issue #25's replay rate); a piece is as large as the
/// largest record needs. Creations `hooks` holds are left out of their entry.
/// Only reading `src` fails.
pub(crate) fn decode_read(
    src: &mut impl std::io::Read,
    len: u64,
    buf: &mut Vec<u8>,
    keys: &Keyring,
    hooks: &mut dyn DecodeHooks,
    each: impl FnMut(Entry, usize) -> bool,
) -> std::io::Result<Tail> {
    decode_read_in(src, len, buf, keys, READ_PIECE, hooks, each)
}

/// [`decode_read`] reading `piece` bytes at once (tests cut records at every byte).
fn decode_read_in(
    src: &mut impl std::io::Read,
    len: u64,
    buf: &mut Vec<u8>,
    keys: &Keyring,
    piece: usize,
    hooks: &mut dyn DecodeHooks,
    mut each: impl FnMut(Entry, usize) -> bool,
) -> std::io::Result<Tail> {
    let mut tail = Tail::default();
    // buf[start..end] is read and not yet decoded; `pos` is where it starts in the body.
    let (mut start, mut end, mut pos) = (0usize, 0usize, 0usize);
    let mut left = len;
    loop {
        let whole = record_len(&buf[start..end]);
        if end - start < whole && left > 0 {
            // The next record is not all here: move its start to the front and read more.
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            // A length field is not yet checked: never more room than the body has left.
            let room = whole.min(end.saturating_add(usize::try_from(left).unwrap_or(usize::MAX)));
            let want = room.max(piece.min(usize::try_from(len).unwrap_or(usize::MAX)));
            if buf.len() < want {
                buf.resize(want, 0);
            }
            let got = read_up_to(src, &mut buf[end..], left)?;
            end += got;
            left = if got == 0 { 0 } else { left - got as u64 };
            continue;
        }
        if start == end {
            break;
        }
        let Some((entry, used)) = next_record(&buf[start..end], pos, keys, &mut tail, hooks) else {
            break;
        };
        start += used;
        pos += used;
        hooks.passed(&entry);
        if !each(entry, pos) {
            break;
        }
    }
    tail.valid_len = pos;
    Ok(tail)
}

/// The bytes the record at the start of `b` takes, as far as its header tells: the header
/// alone while it is incomplete or its length implausible (decoding then says why).
fn record_len(b: &[u8]) -> usize {
    match b.get(..4) {
        Some(l) => {
            let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            if len > MAX_PAYLOAD { 8 } else { 8 + len }
        }
        None => 8,
    }
}

/// Fills `buf` from `src`, reading at most `left` bytes; fewer only at the end of `src`.
fn read_up_to(src: &mut impl std::io::Read, buf: &mut [u8], left: u64) -> std::io::Result<usize> {
    let cap = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
    let mut got = 0;
    while got < cap {
        match src.read(&mut buf[got..cap]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Why a record did not decode.
enum Stop {
    /// Torn or corrupt: the readable part of the segment ends here.
    Damaged(String),
    /// A sound record the keys cannot open.
    Key(String),
}

impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::Damaged(s)
    }
}

impl From<&str> for Stop {
    fn from(s: &str) -> Self {
        Stop::Damaged(s.into())
    }
}

fn decode_one(
    buf: &[u8],
    keys: &Keyring,
    hooks: &mut dyn DecodeHooks,
) -> Result<(Entry, usize), Stop> {
    let mut r = Reader { buf, pos: 0 };
    let len = r.u32()? as usize;
    let crc = r.u32()?;
    if len > MAX_PAYLOAD {
        return Err(format!("record length {len} is implausible").into());
    }
    let payload = r
        .take(len)
        .map_err(|_| "torn record (shorter than its length)")?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let entry = if sealing::is_sealed(payload) {
        let plain = keys
            .open(SEALED_AAD, payload)
            .map_err(|e| Stop::Key(format!("sealed log record: {e}")))?;
        decode_payload(&plain, hooks)?
    } else if keys.is_enabled() {
        // A log written without a key, opened with one: its records would be replayed
        // into an encrypted store as if they were sealed. Refused, like a plain store.
        return Err(Stop::Key(
            "an unencrypted log record, but a data key is configured (the log was written without one)"
                .into(),
        ));
    } else {
        decode_payload(payload, hooks)?
    };
    Ok((entry, 8 + len))
}

fn decode_payload(payload: &[u8], hooks: &mut dyn DecodeHooks) -> Result<Entry, String> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let entry = match r.u8()? {
        KIND_POINTS => {
            let n = r.u32()? as usize;
            // Every point takes at least 17 bytes, which bounds the allocation.
            let mut points = hooks.points(n.min(payload.len() / 17));
            for _ in 0..n {
                let series = SeriesId(r.u64()?);
                let ts = r.i64()?;
                let value = match r.u8()? {
                    VAL_NUM => Value::Num(f64::from_le_bytes(r.array()?)),
                    VAL_STR => {
                        let len = r.u32()? as usize;
                        let bytes = r.take(len)?;
                        Value::Str(
                            std::str::from_utf8(bytes)
                                .map_err(|_| "string value is not UTF-8")?
                                .to_owned(),
                        )
                    }
                    k => return Err(format!("unknown value kind {k}")),
                };
                points.push((series, Point { ts, value }));
            }
            Entry::Points(points)
        }
        KIND_DELETE_SERIES => Entry::DeleteSeries(SeriesId(r.u64()?)),
        KIND_DELETE_RANGE => Entry::DeleteRange {
            series: SeriesId(r.u64()?),
            from: r.i64()?,
            to: r.i64()?,
        },
        KIND_EXPIRE => {
            let n = r.u32()? as usize;
            // Every entry takes at least 13 bytes, every trend cut 16: bounded allocations.
            let mut batch = Vec::with_capacity(n.min(payload.len() / 13));
            for _ in 0..n {
                let series = SeriesId(r.u64()?);
                let raw_before = match r.u8()? {
                    0 => None,
                    1 => Some(r.i64()?),
                    f => return Err(format!("unknown raw-cut flag {f}")),
                };
                let m = r.u32()? as usize;
                let mut trends_before = Vec::with_capacity(m.min(payload.len() / 16));
                for _ in 0..m {
                    let interval = TrendInterval::from_ms(r.i64()?).map_err(|e| e.to_string())?;
                    trends_before.push((interval, r.i64()?));
                }
                batch.push(Expiry {
                    series,
                    raw_before,
                    trends_before,
                });
            }
            Entry::Expire(batch)
        }
        KIND_CREATE_SERIES_JSON => {
            let rest = r.take(payload.len() - r.pos)?;
            Entry::CreateSeries(
                serde_json::from_slice(rest).map_err(|e| format!("bad series record: {e}"))?,
            )
        }
        KIND_CREATE_SERIES_BIN => {
            let mut v = clio_codec::varint::Reader::new(r.take(payload.len() - r.pos)?);
            let n = v.varint("series count").map_err(|e| e.to_string())?;
            let bad = |i: u64, e: String| format!("bad series record, entry {i}: {e}");
            // Every entry takes at least three bytes, which bounds the allocation. A record
            // whose series are all held allocates nothing.
            let cap = n.min(v.remaining() as u64 / 3) as usize;
            let mut series = Vec::new();
            let mut reader = EntryReader::default();
            for i in 0..n {
                let raw = reader.read_raw(&mut v).map_err(|e| bad(i, e))?;
                if !hooks.held(&raw) {
                    if series.capacity() == 0 {
                        series.reserve(cap);
                    }
                    series.push(raw.parse().map_err(|e| bad(i, e))?);
                }
            }
            if v.remaining() != 0 {
                return Err("trailing bytes in record".into());
            }
            Entry::CreateSeries(series)
        }
        KIND_UPDATE_SERIES => {
            let id = SeriesId(r.u64()?);
            let rest = r.take(payload.len() - r.pos)?;
            Entry::UpdateSeries(
                id,
                serde_json::from_slice(rest).map_err(|e| format!("bad update record: {e}"))?,
            )
        }
        KIND_FLUSHED => Entry::Flushed { upto: r.u64()? },
        KIND_CLOCK => Entry::Clock(r.u64()? as i64),
        k => return Err(format!("unknown record kind {k}")),
    };
    if r.pos != payload.len() {
        return Err("trailing bytes in record".into());
    }
    Ok(entry)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or("record is truncated")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sealed_records_hide_their_payload_and_need_their_key() {
        use clio_storage::sealing::DataKey;
        let key = DataKey::generate();
        let keys = Keyring::new(key.clone(), vec![]);
        let entries = vec![
            Entry::Points(vec![(
                SeriesId(9),
                Point::new(5, Value::Str("SECRET-valve-open".into())),
            )]),
            Entry::Clock(1_700_000_000_000),
            Entry::DeleteSeries(SeriesId(3)),
        ];
        let mut buf = Vec::new();
        for e in &entries {
            encode_sealed(e, &keys, &mut buf);
        }
        let mut plain = Vec::new();
        encode(&entries[0], &mut plain);
        assert!(
            plain.windows(6).any(|w| w == b"SECRET"),
            "the plain record shows it"
        );
        assert!(
            !buf.windows(6).any(|w| w == b"SECRET"),
            "the sealed record shows it"
        );
        let d = decode_all_with(&buf, &keys);
        assert_eq!(d.entries, entries);
        assert!(d.stopped.is_none() && d.fatal.is_none());
        assert_eq!(d.valid_len, buf.len());
        // After a rotation the old key opens them by id.
        let rotated = Keyring::new(DataKey::generate(), vec![key]);
        assert_eq!(decode_all_with(&buf, &rotated).entries, entries);
        // No key or a wrong key: a hard stop at the first record, not a torn tail.
        for other in [Keyring::none(), Keyring::new(DataKey::generate(), vec![])] {
            let d = decode_all_with(&buf, &other);
            assert!(d.entries.is_empty());
            let why = d.fatal.expect("a key problem is fatal");
            assert!(why.contains("key"), "{why}");
        }
        // A torn sealed tail is still just a torn tail.
        let d = decode_all_with(&buf[..buf.len() - 3], &keys);
        assert_eq!(d.entries.len(), 2);
        assert!(d.fatal.is_none() && d.stopped.is_some());
    }

    /// Logs written before the binary creation record hold JSON ones: still replayed.
    #[test]
    fn creations_logged_as_json_by_earlier_versions_are_read() {
        let infos = vec![SeriesInfo {
            id: SeriesId(1 << 48),
            key: Some("cpu,host=a usage".parse().expect("key")),
            settings: clio_storage::SeriesSettings::default(),
            created: 1_765_000_000_000,
        }];
        let mut payload = vec![KIND_CREATE_SERIES_JSON];
        serde_json::to_writer(&mut payload, &infos).expect("json");
        let mut buf = Vec::new();
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        let d = decode_all(&buf);
        assert_eq!(d.entries, vec![Entry::CreateSeries(infos.clone())]);
        // What this version writes is the binary record, a third of the size.
        let mut bin = Vec::new();
        encode(&Entry::CreateSeries(infos.clone()), &mut bin);
        assert_eq!(bin[8], KIND_CREATE_SERIES_BIN);
        assert!(
            bin.len() * 2 < buf.len(),
            "{} vs {} bytes",
            bin.len(),
            buf.len()
        );
        assert_eq!(decode_all(&bin).entries, vec![Entry::CreateSeries(infos)]);
    }

    /// Replay drops creations the catalog holds while it decodes: the entry keeps the
    /// others in order, and a record of held series only is an empty creation.
    #[test]
    fn held_creations_are_left_out_of_their_record() {
        let infos: Vec<SeriesInfo> = (0..6u64)
            .map(|i| SeriesInfo {
                id: SeriesId((1 << 48) + i),
                key: Some(format!("cpu,host=h{i} usage").parse().expect("key")),
                settings: clio_storage::SeriesSettings::default(),
                created: 1_765_000_000_000 + i as i64,
            })
            .collect();
        let mut body = Vec::new();
        encode(&Entry::CreateSeries(infos.clone()), &mut body);
        encode(&Entry::CreateSeries(infos[..2].to_vec()), &mut body);
        /// Holds the even ids and those below two past the base; notes what it is asked.
        #[derive(Default)]
        struct HoldSome {
            offered: Vec<SeriesId>,
            passed: usize,
        }
        impl DecodeHooks for HoldSome {
            fn held(&mut self, e: &RawEntry<'_>) -> bool {
                self.offered.push(e.id);
                e.id.0.is_multiple_of(2) || e.id.0 < (1 << 48) + 2
            }
            fn passed(&mut self, _: &Entry) {
                self.passed += 1;
            }
        }
        let mut filter = HoldSome::default();
        let mut got = Vec::new();
        let tail = decode_read(
            &mut &body[..],
            body.len() as u64,
            &mut Vec::new(),
            &Keyring::none(),
            &mut filter,
            |e, _| {
                got.push(e);
                true
            },
        )
        .expect("a slice reads");
        assert_eq!(tail.valid_len, body.len());
        let kept = [infos[3].clone(), infos[5].clone()].to_vec();
        assert_eq!(
            got,
            vec![Entry::CreateSeries(kept), Entry::CreateSeries(Vec::new())]
        );
        // Every series was offered, in log order.
        let all: Vec<SeriesId> = infos.iter().chain(&infos[..2]).map(|i| i.id).collect();
        assert_eq!(filter.offered, all);
        assert_eq!(filter.passed, 2);
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(Value::Num),
            ".{0,20}".prop_map(Value::Str),
        ]
    }

    fn entry() -> impl Strategy<Value = Entry> {
        prop_oneof![
            proptest::collection::vec(
                (any::<u64>(), any::<i64>(), value())
                    .prop_map(|(s, ts, value)| (SeriesId(s), Point { ts, value })),
                0..20
            )
            .prop_map(Entry::Points),
            any::<u64>().prop_map(|s| Entry::DeleteSeries(SeriesId(s))),
            (any::<u64>(), any::<i64>(), any::<i64>()).prop_map(|(s, from, to)| {
                Entry::DeleteRange {
                    series: SeriesId(s),
                    from,
                    to,
                }
            }),
            proptest::collection::vec(expiry(), 0..8).prop_map(Entry::Expire),
            proptest::collection::vec(info(), 0..4).prop_map(Entry::CreateSeries),
            (
                any::<u64>(),
                proptest::option::of(any::<u32>()),
                proptest::option::of(proptest::collection::btree_map(
                    "[a-z]{0,4}",
                    ".{0,6}",
                    0..3
                ))
            )
                .prop_map(|(id, days, metadata)| Entry::UpdateSeries(
                    SeriesId(id),
                    SeriesUpdate {
                        keep_history_days: days,
                        keep_trends_days: None,
                        metadata
                    }
                )),
            any::<u64>().prop_map(|upto| Entry::Flushed { upto }),
            any::<i64>().prop_map(Entry::Clock),
        ]
    }

    fn info() -> impl Strategy<Value = SeriesInfo> {
        (any::<u64>(), any::<bool>(), any::<u32>(), any::<i64>()).prop_map(
            |(id, keyed, days, created)| SeriesInfo {
                id: SeriesId(id),
                key: keyed.then(|| {
                    clio_storage::SeriesKey::new("m", [("t".to_string(), "v".to_string())], "f")
                        .expect("a valid key")
                }),
                settings: clio_storage::SeriesSettings {
                    keep_history_days: days,
                    ..Default::default()
                },
                created,
            },
        )
    }

    fn expiry() -> impl Strategy<Value = Expiry> {
        (
            any::<u64>(),
            proptest::option::of(any::<i64>()),
            proptest::collection::vec((1i64..1_000_000, any::<i64>()), 0..5),
        )
            .prop_map(|(s, raw_before, cuts)| Expiry {
                series: SeriesId(s),
                raw_before,
                trends_before: cuts
                    .into_iter()
                    .filter_map(|(secs, before)| {
                        TrendInterval::from_ms(secs * 1000)
                            .ok()
                            .map(|i| (i, before))
                    })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(entries in proptest::collection::vec(entry(), 0..10)) {
            let mut buf = Vec::new();
            for e in &entries {
                encode(e, &mut buf);
            }
            let d = decode_all(&buf);
            prop_assert_eq!(d.entries, entries);
            prop_assert_eq!(d.valid_len, buf.len());
            prop_assert!(d.stopped.is_none());
        }

        #[test]
        fn torn_tail_keeps_whole_records(entries in proptest::collection::vec(entry(), 1..6), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for e in &entries {
                encode(e, &mut buf);
                ends.push(buf.len());
            }
            let cut = cut.index(buf.len());
            let d = decode_all(&buf[..cut]);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            prop_assert_eq!(d.entries.len(), whole);
            prop_assert_eq!(&d.entries[..], &entries[..whole]);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_all(&bytes);
        }

        /// Replay reads a segment in pieces, from a file that may hand back fewer bytes
        /// than asked: any piece size and any read size decode what the whole body does,
        /// torn tail included, through one buffer reused from segment to segment.
        #[test]
        fn reading_in_pieces_decodes_as_the_whole_body(
            entries in proptest::collection::vec(entry(), 1..8),
            cut in any::<prop::sample::Index>(),
            piece in 1usize..64,
            dribble in 1usize..9,
        ) {
            let mut body = Vec::new();
            for e in &entries {
                encode(e, &mut body);
            }
            let body = &body[..cut.index(body.len() + 1)];
            let whole = decode_all(body);
            let mut buf = vec![0xAB; 3];
            for _ in 0..2 {
                let mut src = Dribble { data: body, at_most: dribble };
                let mut got = Vec::new();
                let mut ends = Vec::new();
                let tail = decode_read_in(&mut src, body.len() as u64, &mut buf, &Keyring::none(), piece, &mut KeepAll, |e, end| {
                    got.push(e);
                    ends.push(end);
                    true
                })
                .expect("a slice reads");
                prop_assert_eq!(&got, &whole.entries);
                prop_assert_eq!(&ends, &whole.ends);
                prop_assert_eq!(tail.valid_len, whole.valid_len);
                prop_assert_eq!(&tail.stopped, &whole.stopped);
            }
        }
    }

    /// A source that hands back at most `at_most` bytes per read.
    struct Dribble<'a> {
        data: &'a [u8],
        at_most: usize,
    }

    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.at_most).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn flipped_bit_is_detected() {
        let mut buf = Vec::new();
        encode(&Entry::DeleteSeries(SeriesId(7)), &mut buf);
        encode(&Entry::DeleteSeries(SeriesId(8)), &mut buf);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let d = decode_all(&buf);
        assert_eq!(d.entries, vec![Entry::DeleteSeries(SeriesId(7))]);
        assert!(d.stopped.unwrap().contains("checksum"));
    }

    /// Bytes from hex digits; spaces only separate fields.
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|d| u8::from_str_radix(std::str::from_utf8(d).unwrap(), 16).unwrap())
            .collect()
    }

    /// Records as the first release wrote them (before `Expire` existed) still decode: the
    /// bytes are pinned here, not produced by today's encoder.
    #[test]
    fn records_of_older_logs_still_decode() {
        let old = [
            // Points [(1, ts 10, 1.5)]
            "1e000000 460dc7a2 01 01000000 0100000000000000 0a00000000000000 00 000000000000f83f",
            // DeleteSeries(2)
            "09000000 553bda8a 02 0200000000000000",
            // DeleteRange { 7, 5, 15 }
            "19000000 1140434e 03 0700000000000000 0500000000000000 0f00000000000000",
        ]
        .map(hex)
        .concat();
        let d = decode_all(&old);
        assert_eq!(d.stopped, None);
        assert_eq!(
            d.entries,
            vec![
                Entry::Points(vec![(SeriesId(1), Point::new(10, 1.5))]),
                Entry::DeleteSeries(SeriesId(2)),
                Entry::DeleteRange {
                    series: SeriesId(7),
                    from: 5,
                    to: 15
                },
            ]
        );
    }

    /// The `Expire` layout is pinned too, so later changes cannot silently break logs
    /// written today.
    #[test]
    fn expire_record_layout_is_stable() {
        let e = Entry::Expire(vec![
            Expiry {
                series: SeriesId(5),
                raw_before: Some(1000),
                trends_before: vec![(TrendInterval::from_ms(600_000).unwrap(), 2000)],
            },
            Expiry {
                series: SeriesId(6),
                raw_before: None,
                trends_before: vec![],
            },
        ]);
        let mut buf = Vec::new();
        encode(&e, &mut buf);
        let payload = [
            "04 02000000",
            "0500000000000000 01 e803000000000000 01000000 c027090000000000 d007000000000000",
            "0600000000000000 00 00000000",
        ]
        .map(hex)
        .concat();
        assert_eq!(&buf[8..], &payload[..]);
        assert_eq!(decode_all(&buf).entries, vec![e]);
    }

    #[test]
    fn expire_with_a_bad_interval_ends_the_readable_part() {
        let mut buf = Vec::new();
        let mut payload = hex("04 01000000 0500000000000000 00");
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.extend_from_slice(&1234i64.to_le_bytes()); // not whole seconds
        payload.extend_from_slice(&0i64.to_le_bytes());
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        let d = decode_all(&buf);
        assert!(d.entries.is_empty());
        assert!(d.stopped.unwrap().contains("1234ms"));
    }
}
