//! String column: each value as a varint byte length followed by its UTF-8 bytes
//! (docs/chunk-format.md, "String column"). Repetition across values is left to zstd.

use crate::CodecError;
use crate::varint::{Reader, put_varint};

/// Longest string value a chunk accepts, in bytes (16 MiB; the ingest default is 1 MiB).
pub const MAX_STRING_BYTES: usize = 16 << 20;

/// Appends the column. Lengths were validated by the caller.
pub(crate) fn encode<'a>(values: impl IntoIterator<Item = &'a str>, out: &mut Vec<u8>) {
    for s in values {
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

/// Reads `n` strings; each length is checked against the limit and the remaining bytes
/// before anything is copied, and the bytes must be valid UTF-8.
pub(crate) fn decode(r: &mut Reader<'_>, n: usize) -> Result<Vec<String>, CodecError> {
    // Every string costs at least its one-byte length.
    let mut out = Vec::with_capacity(n.min(r.remaining()));
    for _ in 0..n {
        let len = r.len(MAX_STRING_BYTES, "string length")?;
        let bytes = r.bytes(len, "string bytes")?;
        let s = std::str::from_utf8(bytes)
            .map_err(|e| CodecError::corrupt(format!("string is not UTF-8: {e}")))?;
        out.push(s.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_with_length_prefixes() {
        let vals = ["", "OK", "héllo ✓", "a\0b"];
        let mut out = Vec::new();
        encode(vals, &mut out);
        assert_eq!(&out[..4], &[0, 2, b'O', b'K']);
        let mut r = Reader::new(&out);
        assert_eq!(decode(&mut r, vals.len()).unwrap(), vals);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn bad_lengths_and_bad_utf8_are_errors() {
        assert_eq!(
            decode(&mut Reader::new(&[5, b'a']), 1),
            Err(CodecError::Truncated {
                what: "string bytes"
            })
        );
        assert!(matches!(
            decode(&mut Reader::new(&[2, 0xc3, 0x28]), 1),
            Err(CodecError::Corrupt { .. })
        ));
        let mut huge = Vec::new();
        put_varint(&mut huge, MAX_STRING_BYTES as u64 + 1);
        assert!(matches!(
            decode(&mut Reader::new(&huge), 1),
            Err(CodecError::Corrupt { .. })
        ));
        assert!(decode(&mut Reader::new(&[]), 1).is_err());
    }
}
