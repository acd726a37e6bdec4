//! Byte-level primitives: LEB128 varints, zigzag, and a bounds-checked reader. Public for
//! the engine's other binary files (the catalog copy), so that they share one varint.

use crate::CodecError;

/// Maps signed to unsigned so that small magnitudes of either sign get short varints
/// (0 → 0, -1 → 1, 1 → 2, -2 → 3, …).
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends `v` as an unsigned LEB128 varint (7 bits per byte, low groups first, high bit =
/// "more follows"); 1 to 10 bytes.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded as a varint.
pub fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// Encoded length of `v` as a varint, for choosing between encodings without writing.
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 + floor(bits / 7), with 0 needing one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A cursor over untrusted bytes: every read is checked against what remains, so corrupt
/// input yields [`CodecError::Truncated`] instead of a panic or a huge allocation.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte; `what` names it in the error.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(CodecError::Truncated { what })?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `n` bytes; `n` is checked against the remaining length before anything else,
    /// so a corrupt length can never index out of bounds.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if n > self.remaining() {
            return Err(CodecError::Truncated { what });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The rest of the input.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// An unsigned LEB128 varint of at most 64 bits.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8(what)?;
            // The tenth byte may only carry the single remaining bit (bit 63).
            if i == 9 && b > 1 {
                return Err(CodecError::corrupt(format!(
                    "varint overflows 64 bits in {what}"
                )));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        // Unreachable in practice: the tenth byte either ends the varint or fails above.
        Err(CodecError::corrupt(format!("varint too long in {what}")))
    }

    /// A zigzag-encoded signed varint.
    pub fn ivarint(&mut self, what: &'static str) -> Result<i64, CodecError> {
        self.varint(what).map(unzigzag)
    }

    /// A varint used as a length or count, converted to `usize` and capped at `max`.
    pub fn len(&mut self, max: usize, what: &'static str) -> Result<usize, CodecError> {
        let v = self.varint(what)?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| CodecError::corrupt(format!("{what} {v} exceeds {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_codes() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        for v in [0, 1, -1, 63, -64, i64::MIN, i64::MAX, 123_456_789] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn varint_round_trips_and_reports_its_length() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&out);
            assert_eq!(r.varint("t").unwrap(), v);
            assert_eq!(r.remaining(), 0);
        }
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn varint_rejects_overflow_and_truncation() {
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            Reader::new(&over).varint("t"),
            Err(CodecError::Corrupt { .. })
        ));
        assert_eq!(
            Reader::new(&[0x80, 0x80]).varint("t"),
            Err(CodecError::Truncated { what: "t" })
        );
    }

    #[test]
    fn reader_checks_lengths_before_slicing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.bytes(4, "x").is_err());
        assert_eq!(r.bytes(2, "x").unwrap(), &[1, 2]);
        assert_eq!(
            r.bytes(usize::MAX, "x"),
            Err(CodecError::Truncated { what: "x" })
        );
        let mut r = Reader::new(&[0x05]);
        assert!(r.len(4, "n").is_err());
    }
}
