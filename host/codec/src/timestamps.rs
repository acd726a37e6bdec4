//! Timestamp column: delta-of-delta, zigzag varints (docs/chunk-format.md, "Timestamps").
//!
//! The first timestamp lives in the header, so the column holds `count - 1` entries. All
//! arithmetic wraps: a delta between i64::MIN and i64::MAX does not fit in an i64, but its
//! wrapped value still reproduces the next timestamp exactly when added back with wrapping.

use clio_storage::Timestamp;

use crate::CodecError;
use crate::header::ChunkHeader;
use crate::varint::{Reader, put_ivarint};

/// Appends the delta-of-delta column for `ts` (already validated as strictly ascending).
/// A regular interval costs one zero byte per point after the second.
pub(crate) fn encode(ts: impl IntoIterator<Item = Timestamp>, out: &mut Vec<u8>) {
    let mut it = ts.into_iter();
    let Some(mut prev) = it.next() else { return };
    let mut prev_delta: i64 = 0;
    for t in it {
        let delta = t.wrapping_sub(prev);
        put_ivarint(out, delta.wrapping_sub(prev_delta));
        prev_delta = delta;
        prev = t;
    }
}

/// Reads the column back and checks it against the header: every step must ascend and the
/// last timestamp must equal `header.last_ts`.
pub(crate) fn decode(
    r: &mut Reader<'_>,
    header: &ChunkHeader,
) -> Result<Vec<Timestamp>, CodecError> {
    let count = header.count as usize;
    // Each entry takes at least one byte, so the remaining input bounds the allocation even
    // when a corrupt header claims a million points.
    let mut out = Vec::with_capacity(count.min(r.remaining().saturating_add(1)));
    let mut prev = header.first_ts;
    let mut prev_delta: i64 = 0;
    out.push(prev);
    for _ in 1..count {
        let dod = r.ivarint("timestamp delta")?;
        let delta = prev_delta.wrapping_add(dod);
        let t = prev.wrapping_add(delta);
        if t <= prev {
            return Err(CodecError::corrupt(format!(
                "timestamps do not ascend: {t} after {prev}"
            )));
        }
        out.push(t);
        prev = t;
        prev_delta = delta;
    }
    if prev != header.last_ts {
        return Err(CodecError::corrupt(format!(
            "last timestamp {prev} differs from header's {}",
            header.last_ts
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ts: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(ts.iter().copied(), &mut out);
        let h = ChunkHeader {
            count: ts.len() as u32,
            first_ts: ts[0],
            last_ts: *ts.last().unwrap(),
        };
        let mut r = Reader::new(&out);
        assert_eq!(decode(&mut r, &h).unwrap(), ts);
        assert_eq!(r.remaining(), 0);
        out
    }

    #[test]
    fn regular_interval_costs_one_zero_byte_per_point() {
        let ts: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        let out = round_trip(&ts);
        // First delta 10 000 → zigzag 20 000 → 3 bytes, then 998 zero bytes.
        assert_eq!(out.len(), 3 + 998);
        assert!(out[3..].iter().all(|&b| b == 0));
    }

    #[test]
    fn extremes_round_trip_with_wrapping() {
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[i64::MIN, -1, 0, 1, i64::MAX - 1, i64::MAX]);
        round_trip(&[i64::MAX]);
        round_trip(&[i64::MIN, i64::MIN + 1, i64::MAX]);
    }

    #[test]
    fn non_ascending_or_mismatched_column_is_corrupt() {
        let h = ChunkHeader {
            count: 2,
            first_ts: 10,
            last_ts: 20,
        };
        let mut out = Vec::new();
        put_ivarint(&mut out, 0);
        assert!(matches!(
            decode(&mut Reader::new(&out), &h),
            Err(CodecError::Corrupt { .. })
        ));
        let mut out = Vec::new();
        put_ivarint(&mut out, 5);
        assert!(matches!(
            decode(&mut Reader::new(&out), &h),
            Err(CodecError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(&mut Reader::new(&[]), &h),
            Err(CodecError::Truncated { .. })
        ));
    }
}
