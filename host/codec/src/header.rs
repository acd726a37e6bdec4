//! The fixed 22-byte chunk header (docs/chunk-format.md, "Header").

use clio_storage::Timestamp;

use crate::{CodecError, MAX_CHUNK_POINTS};

/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 22;
/// Flag bit: the body after the header is a zstd frame preceded by its decompressed length.
pub(crate) const FLAG_ZSTD: u8 = 0x01;
/// Every flag bit this version knows; other bits set mean the chunk is not ours.
const KNOWN_FLAGS: u8 = FLAG_ZSTD;

/// What the fixed header of a chunk says, readable without decoding the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    /// Number of points in the chunk (1 ..= [`MAX_CHUNK_POINTS`]).
    pub count: u32,
    /// Timestamp of the first (oldest) point.
    pub first_ts: Timestamp,
    /// Timestamp of the last (newest) point; equals `first_ts` when `count == 1`.
    pub last_ts: Timestamp,
}

impl ChunkHeader {
    pub(crate) fn write(&self, flags: u8, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        out.push(flags);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.first_ts.to_le_bytes());
        out.extend_from_slice(&self.last_ts.to_le_bytes());
    }
}

/// Parses and sanity-checks the header; returns it with the flags byte.
pub(crate) fn parse(bytes: &[u8]) -> Result<(ChunkHeader, u8), CodecError> {
    // The version is checked before the length so that a future version with a different
    // header layout is reported as such rather than as truncation.
    let &version = bytes
        .first()
        .ok_or(CodecError::Truncated { what: "version" })?;
    if version != FORMAT_VERSION {
        return Err(CodecError::BadVersion(version));
    }
    let h: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(CodecError::Truncated { what: "header" })?;
    let flags = h[1];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(CodecError::corrupt(format!(
            "unknown flag bits {flags:#04x}"
        )));
    }
    let count = u32::from_le_bytes([h[2], h[3], h[4], h[5]]);
    let first_ts = i64::from_le_bytes([h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13]]);
    let last_ts = i64::from_le_bytes([h[14], h[15], h[16], h[17], h[18], h[19], h[20], h[21]]);
    if count == 0 {
        return Err(CodecError::corrupt("header declares zero points"));
    }
    if count as usize > MAX_CHUNK_POINTS {
        return Err(CodecError::TooManyPoints {
            count: u64::from(count),
            max: MAX_CHUNK_POINTS,
        });
    }
    // `count` strictly ascending timestamps span at least `count - 1` ms.
    let span = i128::from(last_ts) - i128::from(first_ts);
    if span < i128::from(count - 1) {
        return Err(CodecError::corrupt(format!(
            "{count} points cannot fit between first_ts {first_ts} and last_ts {last_ts}"
        )));
    }
    Ok((
        ChunkHeader {
            count,
            first_ts,
            last_ts,
        },
        flags,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(h: ChunkHeader, flags: u8) -> Vec<u8> {
        let mut out = Vec::new();
        h.write(flags, &mut out);
        out
    }

    #[test]
    fn layout_is_little_endian_at_fixed_offsets() {
        let h = ChunkHeader {
            count: 0x0403_0201,
            first_ts: -2,
            last_ts: i64::MAX,
        };
        let b = bytes(h, FLAG_ZSTD);
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(&b[..6], &[1, 1, 1, 2, 3, 4]);
        assert_eq!(&b[6..14], &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            &b[14..22],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
        );
    }

    #[test]
    fn header_round_trips_and_is_validated() {
        let h = ChunkHeader {
            count: 3,
            first_ts: i64::MIN,
            last_ts: i64::MIN + 2,
        };
        assert_eq!(parse(&bytes(h, 0)).unwrap(), (h, 0));

        let mut b = bytes(h, 0);
        b[0] = 2;
        assert_eq!(parse(&b), Err(CodecError::BadVersion(2)));
        assert_eq!(parse(&[]), Err(CodecError::Truncated { what: "version" }));
        assert_eq!(
            parse(&bytes(h, 0)[..21]),
            Err(CodecError::Truncated { what: "header" })
        );
        assert!(matches!(
            parse(&bytes(h, 0x80)),
            Err(CodecError::Corrupt { .. })
        ));

        let too_dense = ChunkHeader {
            last_ts: i64::MIN + 1,
            ..h
        };
        assert!(matches!(
            parse(&bytes(too_dense, 0)),
            Err(CodecError::Corrupt { .. })
        ));
        let zero = ChunkHeader { count: 0, ..h };
        assert!(matches!(
            parse(&bytes(zero, 0)),
            Err(CodecError::Corrupt { .. })
        ));
        let huge = ChunkHeader {
            count: MAX_CHUNK_POINTS as u32 + 1,
            first_ts: 0,
            last_ts: i64::MAX,
        };
        assert!(matches!(
            parse(&bytes(huge, 0)),
            Err(CodecError::TooManyPoints { .. })
        ));
    }
}
