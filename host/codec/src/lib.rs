//! Clio's chunk codec: one series' points, sorted strictly ascending by timestamp, as one
//! compact, versioned byte string (stored as a BLOB by the SQLite backend and read by other
//! tools). The format is specified byte by byte in `docs/chunk-format.md`.
//!
//! Layout: a fixed 22-byte header (version, flags, count, first and last timestamp — so
//! [`chunk_header`] is O(1)), then a body holding a delta-of-delta timestamp column, a type
//! bitmap when numbers and strings mix, a number column (decimal-scaled mantissa deltas,
//! Gorilla XOR, or raw bits) and a length-prefixed string column. The body is stored
//! zstd-compressed when that is smaller.
//!
//! ```
//! use clio_codec::{chunk_header, decode_chunk, encode_chunk};
//! use clio_storage::Point;
//!
//! let points: Vec<Point> = (0..1000)
//!     .map(|i| Point::new(1_700_000_000_000 + i * 10_000, f64::from(2000 + i as i32 % 7) / 100.0))
//!     .collect();
//! let bytes = encode_chunk(&points).unwrap();
//! assert!(bytes.len() < 1000);
//! assert_eq!(chunk_header(&bytes).unwrap().count, 1000);
//! assert_eq!(decode_chunk(&bytes).unwrap(), points);
//! ```
//!
//! Decoding treats its input as untrusted: every length is checked against the remaining
//! bytes, the decompressed size is capped at [`MAX_BODY_BYTES`], and any damage is reported
//! as a [`CodecError`], never a panic.
#![deny(missing_docs)]

mod bits;
mod compress;
mod error;
mod floats;
mod header;
mod strings;
mod timestamps;
mod trends;
pub mod varint;

use clio_storage::{KIND_NUM, KIND_STR, Point, PointColumns, Value};

pub use compress::MAX_BODY_BYTES;
pub use error::CodecError;
pub use header::{ChunkHeader, FORMAT_VERSION, HEADER_LEN};
pub use strings::MAX_STRING_BYTES;
pub use trends::{decode_trend_chunk, encode_trend_chunk};

use varint::Reader;

/// Most points one chunk may hold; `encode_chunk` refuses more and decoders reject headers
/// that claim more.
pub const MAX_CHUNK_POINTS: usize = 1 << 20;

/// Value-kind byte: every point is a number.
const KIND_NUMBERS: u8 = 0;
/// Value-kind byte: every point is a string.
const KIND_STRINGS: u8 = 1;
/// Value-kind byte: both; a bitmap (bit set = string) says which is which.
const KIND_MIXED: u8 = 2;

/// Encodes `points` (1 ..= [`MAX_CHUNK_POINTS`], timestamps strictly ascending, numbers
/// finite, strings at most [`MAX_STRING_BYTES`]) into a chunk.
pub fn encode_chunk(points: &[Point]) -> Result<Vec<u8>, CodecError> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err(CodecError::Empty);
    };
    if points.len() > MAX_CHUNK_POINTS {
        return Err(CodecError::TooManyPoints {
            count: points.len() as u64,
            max: MAX_CHUNK_POINTS,
        });
    }
    let n_str = validate(points)?;
    let n_num = points.len() - n_str;

    let mut body = Vec::with_capacity(points.len() * 2 + 16);
    timestamps::encode(points.iter().map(|p| p.ts), &mut body);
    body.push(match (n_num, n_str) {
        (_, 0) => KIND_NUMBERS,
        (0, _) => KIND_STRINGS,
        _ => KIND_MIXED,
    });
    if n_num > 0 && n_str > 0 {
        let mut bitmap = vec![0u8; points.len().div_ceil(8)];
        for (i, p) in points.iter().enumerate() {
            if p.value.is_str() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        body.extend_from_slice(&bitmap);
    }
    if n_num > 0 {
        let nums: Vec<f64> = points.iter().filter_map(|p| p.value.as_f64()).collect();
        floats::encode(&nums, &mut body);
    }
    if n_str > 0 {
        strings::encode(points.iter().filter_map(|p| p.value.as_str()), &mut body);
    }

    let (flags, payload) = match compress::compress(&body) {
        Some(c) => (header::FLAG_ZSTD, c),
        None => (0, body),
    };
    let header = ChunkHeader {
        // Fits: the count was checked against MAX_CHUNK_POINTS (2^20) above.
        count: points.len() as u32,
        first_ts: first.ts,
        last_ts: last.ts,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    header.write(flags, &mut out);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Checks the input invariants the format relies on; returns how many values are strings.
fn validate(points: &[Point]) -> Result<usize, CodecError> {
    let mut n_str = 0;
    for (index, p) in points.iter().enumerate() {
        if index > 0 && p.ts <= points[index - 1].ts {
            return Err(CodecError::NotAscending {
                index,
                prev: points[index - 1].ts,
                ts: p.ts,
            });
        }
        match &p.value {
            Value::Num(v) if !v.is_finite() => return Err(CodecError::NotFinite { index }),
            Value::Num(_) => {}
            Value::Str(s) if s.len() > MAX_STRING_BYTES => {
                return Err(CodecError::StringTooLong {
                    index,
                    len: s.len(),
                    max: MAX_STRING_BYTES,
                });
            }
            Value::Str(_) => n_str += 1,
        }
    }
    Ok(n_str)
}

/// Decodes a chunk written by [`encode_chunk`]. Any byte string is safe to pass: damage is
/// reported as an error, memory use is bounded by the input size and [`MAX_BODY_BYTES`].
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<Point>, CodecError> {
    Ok(decode_chunk_columns(bytes)?.into_points())
}

/// [`decode_chunk`] into columns, which is how the chunk stores them: no [`Point`] is built
/// (large reads for plugins take this path). Same validation.
pub fn decode_chunk_columns(bytes: &[u8]) -> Result<PointColumns, CodecError> {
    let (header, flags) = header::parse(bytes)?;
    let mut r = Reader::new(&bytes[HEADER_LEN..]);
    if flags & header::FLAG_ZSTD != 0 {
        decode_body(&compress::decompress(&mut r)?, &header)
    } else {
        decode_body(r.rest(), &header)
    }
}

/// Reads only the fixed header: count and timestamp range without decoding the body. The
/// header is validated (version, flags, plausible count and range) but the body is not.
pub fn chunk_header(bytes: &[u8]) -> Result<ChunkHeader, CodecError> {
    header::parse(bytes).map(|(h, _)| h)
}

fn decode_body(body: &[u8], header: &ChunkHeader) -> Result<PointColumns, CodecError> {
    let mut r = Reader::new(body);
    let ts = timestamps::decode(&mut r, header)?;
    let count = ts.len();
    // `is_str[i]` for mixed chunks; None when every value has the same kind.
    let (bitmap, n_str) = match r.u8("value kind")? {
        KIND_NUMBERS => (None, 0),
        KIND_STRINGS => (None, count),
        KIND_MIXED => {
            let bitmap = r.bytes(count.div_ceil(8), "type bitmap")?;
            if count % 8 != 0 && bitmap[count / 8] >> (count % 8) != 0 {
                return Err(CodecError::corrupt("type bitmap padding bits set"));
            }
            let n_str = bitmap
                .iter()
                .map(|b| b.count_ones() as usize)
                .sum::<usize>();
            if n_str == 0 || n_str == count {
                return Err(CodecError::corrupt("mixed chunk with only one value kind"));
            }
            (Some(bitmap), n_str)
        }
        other => return Err(CodecError::corrupt(format!("unknown value kind {other}"))),
    };
    let n_num = count - n_str;
    let nums = if n_num > 0 {
        floats::decode(&mut r, n_num)?
    } else {
        Vec::new()
    };
    let strs = if n_str > 0 {
        strings::decode(&mut r, n_str)?
    } else {
        Vec::new()
    };
    if r.remaining() != 0 {
        return Err(CodecError::corrupt(format!(
            "{} trailing bytes after the last column",
            r.remaining()
        )));
    }
    // The columns must hold exactly as many values as the kinds promise (a bug, not input,
    // could break this; it is an error rather than a panic either way).
    if nums.len() != n_num || strs.len() != n_str {
        return Err(CodecError::corrupt(
            "value columns do not match the value kinds",
        ));
    }
    let kinds = match (bitmap, n_str) {
        (Some(b), _) => (0..count)
            .map(|i| {
                if b[i / 8] >> (i % 8) & 1 == 1 {
                    KIND_STR
                } else {
                    KIND_NUM
                }
            })
            .collect(),
        (None, 0) => Vec::new(),
        (None, _) => vec![KIND_STR; count],
    };
    Ok(PointColumns {
        ts,
        nums,
        strs,
        kinds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(vals: Vec<Value>) -> Vec<Point> {
        vals.into_iter()
            .enumerate()
            .map(|(i, value)| Point {
                ts: 1_000 + i as i64 * 10,
                value,
            })
            .collect()
    }

    #[test]
    fn input_errors() {
        assert_eq!(encode_chunk(&[]), Err(CodecError::Empty));
        let dup = [Point::new(5, 1.0), Point::new(5, 2.0)];
        assert_eq!(
            encode_chunk(&dup),
            Err(CodecError::NotAscending {
                index: 1,
                prev: 5,
                ts: 5
            })
        );
        let nan = [Point::new(1, 1.0), Point::new(2, f64::NAN)];
        assert_eq!(encode_chunk(&nan), Err(CodecError::NotFinite { index: 1 }));
        let long = [Point::new(1, "x".repeat(MAX_STRING_BYTES + 1))];
        assert!(matches!(
            encode_chunk(&long),
            Err(CodecError::StringTooLong { index: 0, .. })
        ));
        let many: Vec<Point> = (0..=MAX_CHUNK_POINTS as i64)
            .map(|i| Point::new(i, 0.0))
            .collect();
        assert!(matches!(
            encode_chunk(&many),
            Err(CodecError::TooManyPoints { .. })
        ));
    }

    #[test]
    fn kinds_round_trip() {
        for vals in [
            vec![Value::Num(1.5)],
            vec![Value::from("a")],
            vec![
                Value::from("a"),
                Value::Num(-0.0),
                Value::from(""),
                Value::Num(2.0),
            ],
            (0..17)
                .map(|i| {
                    if i % 3 == 0 {
                        Value::from("s")
                    } else {
                        Value::Num(f64::from(i))
                    }
                })
                .collect(),
        ] {
            let points = pts(vals);
            let bytes = encode_chunk(&points).unwrap();
            assert_eq!(decode_chunk(&bytes).unwrap(), points);
            let h = chunk_header(&bytes).unwrap();
            assert_eq!(h.count as usize, points.len());
            assert_eq!(h.first_ts, points[0].ts);
            assert_eq!(h.last_ts, points[points.len() - 1].ts);
        }
    }

    #[test]
    fn uncompressed_layout_of_a_tiny_chunk() {
        let points = [Point::new(100, 1.5), Point::new(110, "ok")];
        let b = encode_chunk(&points).unwrap();
        assert_eq!(b[1], 0, "tiny bodies are not compressed");
        // The example in docs/chunk-format.md section 5.
        assert_eq!(
            &b[..HEADER_LEN],
            &[
                1, 0, 2, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 110, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(
            &b[HEADER_LEN..],
            &[
                20,         // timestamp dod 10 → zigzag 20
                KIND_MIXED, // numbers and strings
                0b10,       // bitmap: point 1 is a string
                0,          // number column: decimal deltas
                1,          // k = 1
                30,         // mantissa 15 → zigzag 30
                2,          // string length
                b'o', b'k',
            ]
        );
    }

    #[test]
    fn large_regular_chunks_are_compressed_and_detect_trailing_garbage() {
        let points: Vec<Point> = (0..5000).map(|i| Point::new(i * 1000, 42.0)).collect();
        let b = encode_chunk(&points).unwrap();
        assert_eq!(b[1], header::FLAG_ZSTD);
        assert!(b.len() < 80, "{}", b.len());
        assert_eq!(decode_chunk(&b).unwrap(), points);

        let small = encode_chunk(&points[..2]).unwrap();
        let mut extra = small.clone();
        extra.push(0);
        assert!(matches!(
            decode_chunk(&extra),
            Err(CodecError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_chunk(&small[..small.len() - 1]),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn header_claims_are_checked_against_the_body() {
        let points = [Point::new(1, 1.0), Point::new(2, 2.0), Point::new(3, 3.0)];
        let mut b = encode_chunk(&points).unwrap();
        // Claim 2 points instead of 3: the timestamp column then ends at 2, not last_ts 3.
        b[2] = 2;
        assert!(decode_chunk(&b).is_err());
    }
}
