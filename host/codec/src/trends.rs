//! Trend chunks: consecutive trend buckets of one series and one interval in one BLOB
//! (docs/chunk-format.md, "Trend chunks"). The header is the point chunk's (count, first and
//! last bucket start); the body holds the bucket starts as delta-of-deltas, the counts, the
//! first/last timestamps as offsets, and six float columns. A 10-minute bucket costs about
//! 10–25 bytes instead of ~100 as a table row.

use clio_storage::TrendBucket;

use crate::header::{self, ChunkHeader, HEADER_LEN};
use crate::varint::{Reader, put_ivarint, put_varint};
use crate::{CodecError, MAX_CHUNK_POINTS, compress, floats, timestamps};

/// Float column tag: the number-column encoding of point chunks.
const COL_FLOATS: u8 = 0;
/// Float column tag: raw little-endian bits (used when a sum overflowed to infinity).
const COL_RAW: u8 = 1;
/// Float column tag: the same bit patterns as an earlier column, whose index (0-based, in
/// the order `sum`, `sum_sq`, `min`, `max`, `first`, `last`) follows in one byte. A bucket of
/// one value has `sum`, `min`, `max`, `first` and `last` all equal, so a series written at
/// most once per bucket stores one of those five columns instead of five.
const COL_SAME: u8 = 2;

/// Encodes buckets (1 ..= [`MAX_CHUNK_POINTS`], starts strictly ascending).
pub fn encode_trend_chunk(buckets: &[TrendBucket]) -> Result<Vec<u8>, CodecError> {
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return Err(CodecError::Empty);
    };
    if buckets.len() > MAX_CHUNK_POINTS {
        return Err(CodecError::TooManyPoints {
            count: buckets.len() as u64,
            max: MAX_CHUNK_POINTS,
        });
    }
    for (index, w) in buckets.windows(2).enumerate() {
        if w[1].start <= w[0].start {
            return Err(CodecError::NotAscending {
                index: index + 1,
                prev: w[0].start,
                ts: w[1].start,
            });
        }
    }
    let mut body = Vec::with_capacity(buckets.len() * 16 + 16);
    timestamps::encode(buckets.iter().map(|b| b.start), &mut body);
    for b in buckets {
        put_varint(&mut body, b.count);
    }
    for b in buckets {
        put_ivarint(&mut body, b.first_ts.wrapping_sub(b.start));
        put_ivarint(&mut body, b.last_ts.wrapping_sub(b.first_ts));
    }
    let columns: [fn(&TrendBucket) -> f64; 6] = [
        |b| b.sum,
        |b| b.sum_sq,
        |b| b.min,
        |b| b.max,
        |b| b.first,
        |b| b.last,
    ];
    let mut written: Vec<Vec<f64>> = Vec::with_capacity(columns.len());
    for col in columns {
        let values: Vec<f64> = buckets.iter().map(col).collect();
        // Compared by bits, so that -0.0 and 0.0 stay apart and the copy is exact.
        let same = written.iter().position(|w| {
            w.iter()
                .zip(&values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        });
        if let Some(j) = same {
            body.push(COL_SAME);
            body.push(j as u8);
        } else if values.iter().all(|v| v.is_finite()) {
            body.push(COL_FLOATS);
            floats::encode(&values, &mut body);
        } else {
            body.push(COL_RAW);
            for v in &values {
                body.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        written.push(values);
    }
    // One bucket's body is at most about 80 bytes with nothing repeated in it: zstd shrank
    // none of 6,000 such chunks of sensor data once equal columns are referenced (COL_SAME),
    // and the attempt was a fifth of the SQLite writer's time for a new series, which writes
    // four of them (issue #25).
    let compressed = if buckets.len() > 1 {
        compress::compress(&body)
    } else {
        None
    };
    let (flags, payload) = match compressed {
        Some(c) => (header::FLAG_ZSTD, c),
        None => (0, body),
    };
    let h = ChunkHeader {
        count: buckets.len() as u32,
        first_ts: first.start,
        last_ts: last.start,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    h.write(flags, &mut out);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes a trend chunk. Safe on any input, like [`crate::decode_chunk`].
pub fn decode_trend_chunk(bytes: &[u8]) -> Result<Vec<TrendBucket>, CodecError> {
    let (h, flags) = header::parse(bytes)?;
    let mut r = Reader::new(&bytes[HEADER_LEN..]);
    if flags & header::FLAG_ZSTD != 0 {
        decode_body(&compress::decompress(&mut r)?, &h)
    } else {
        decode_body(r.rest(), &h)
    }
}

fn decode_body(body: &[u8], h: &ChunkHeader) -> Result<Vec<TrendBucket>, CodecError> {
    let mut r = Reader::new(body);
    let starts = timestamps::decode(&mut r, h)?;
    let n = starts.len();
    let mut counts = Vec::with_capacity(n);
    for _ in 0..n {
        counts.push(r.varint("bucket count")?);
    }
    let mut spans = Vec::with_capacity(n);
    for &s in &starts {
        let first_ts = s.wrapping_add(r.ivarint("bucket first_ts")?);
        let last_ts = first_ts.wrapping_add(r.ivarint("bucket last_ts")?);
        spans.push((first_ts, last_ts));
    }
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(6);
    for index in 0..6 {
        let col = match r.u8("trend column kind")? {
            COL_SAME => {
                let j = usize::from(r.u8("trend column reference")?);
                match cols.get(j) {
                    Some(earlier) => earlier.clone(),
                    None => {
                        return Err(CodecError::corrupt(format!(
                            "trend column {index} refers to column {j}, which is not before it"
                        )));
                    }
                }
            }
            COL_FLOATS => floats::decode(&mut r, n)?,
            COL_RAW => {
                let raw = r.bytes(n.saturating_mul(8), "raw trend column")?;
                raw.chunks_exact(8)
                    .map(|c| {
                        f64::from_bits(u64::from_le_bytes([
                            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                        ]))
                    })
                    .collect()
            }
            other => {
                return Err(CodecError::corrupt(format!(
                    "unknown trend column kind {other}"
                )));
            }
        };
        cols.push(col);
    }
    if r.remaining() != 0 {
        return Err(CodecError::corrupt(format!(
            "{} trailing bytes after the last trend column",
            r.remaining()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(TrendBucket {
            start: starts[i],
            count: counts[i],
            sum: cols[0][i],
            sum_sq: cols[1][i],
            min: cols[2][i],
            max: cols[3][i],
            first: cols[4][i],
            last: cols[5][i],
            first_ts: spans[i].0,
            last_ts: spans[i].1,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_storage::{Point, TrendInterval};

    fn sample(n: i64) -> Vec<TrendBucket> {
        let i = TrendInterval::from_ms(600_000).unwrap();
        let pts: Vec<Point> = (0..n * 60)
            .map(|k| {
                let v = 20.0 + ((k * 7919) % 200) as f64 / 100.0;
                Point::new(1_700_000_000_000 + k * 10_000, v)
            })
            .collect();
        TrendBucket::build(i, &pts)
    }

    #[test]
    fn round_trip_and_size() {
        let b = sample(256);
        let bytes = encode_trend_chunk(&b).unwrap();
        assert_eq!(decode_trend_chunk(&bytes).unwrap(), b);
        let per_bucket = bytes.len() as f64 / b.len() as f64;
        assert!(per_bucket < 30.0, "{per_bucket} bytes per bucket");
    }

    #[test]
    fn overflowing_sums_round_trip() {
        let mut b = sample(3);
        b[1].sum_sq = f64::INFINITY;
        b[2].sum = f64::NEG_INFINITY;
        let bytes = encode_trend_chunk(&b).unwrap();
        let back = decode_trend_chunk(&bytes).unwrap();
        assert_eq!(back[1].sum_sq, f64::INFINITY);
        assert_eq!(back[2].sum, f64::NEG_INFINITY);
        assert_eq!(back[0], b[0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(encode_trend_chunk(&[]).is_err());
        let mut b = sample(2);
        b[1].start = b[0].start;
        assert!(encode_trend_chunk(&b).is_err());
        let good = encode_trend_chunk(&sample(10)).unwrap();
        for cut in 0..good.len() {
            assert!(decode_trend_chunk(&good[..cut]).is_err());
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                let _ = decode_trend_chunk(&bad); // must not panic
            }
        }
    }

    #[test]
    fn a_bucket_of_one_value_stores_its_value_once_and_uncompressed() {
        let i = TrendInterval::from_ms(600_000).unwrap();
        let one = TrendBucket::build(i, &[Point::new(1_700_000_000_000, 21.37)]);
        let bytes = encode_trend_chunk(&one).unwrap();
        assert_eq!(decode_trend_chunk(&bytes).unwrap(), one);
        assert_eq!(
            bytes[1] & header::FLAG_ZSTD,
            0,
            "a one-bucket chunk is stored raw"
        );
        // sum, min, max, first and last are one value: four of them are two-byte references.
        let refs = bytes.windows(2).filter(|w| w == &[COL_SAME, 0]).count();
        assert_eq!(refs, 4, "{bytes:?}");
        assert!(bytes.len() <= 50, "{} bytes", bytes.len());
    }

    #[test]
    fn equal_columns_are_copied_bit_for_bit() {
        let mut b = sample(40);
        for x in &mut b {
            // -0.0 equals 0.0 as a float but not as bits: the copy must keep them apart.
            x.first = 0.0;
            x.last = -0.0;
            x.max = x.min;
        }
        let bytes = encode_trend_chunk(&b).unwrap();
        let back = decode_trend_chunk(&bytes).unwrap();
        assert_eq!(back, b);
        for (x, y) in back.iter().zip(&b) {
            assert_eq!(x.last.to_bits(), y.last.to_bits());
            assert_eq!(x.first.to_bits(), y.first.to_bits());
        }
    }

    #[test]
    fn a_reference_to_a_later_column_is_corrupt() {
        let i = TrendInterval::from_ms(600_000).unwrap();
        let one = TrendBucket::build(i, &[Point::new(1_700_000_000_000, 21.37)]);
        let good = encode_trend_chunk(&one).unwrap();
        let at = good
            .windows(2)
            .position(|w| w == [COL_SAME, 0])
            .expect("a reference");
        for j in [2u8, 5, 6, 255] {
            let mut bad = good.clone();
            bad[at + 1] = j;
            let err = decode_trend_chunk(&bad).unwrap_err().to_string();
            assert!(err.contains(&format!("refers to column {j}")), "{err}");
        }
    }
}
