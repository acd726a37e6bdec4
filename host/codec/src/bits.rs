//! A minimal MSB-first bit writer and a bounds-checked bit reader for the Gorilla stream.

use crate::CodecError;

/// Packs bit fields most-significant bit first; the last byte is padded with zero bits.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    out: Vec<u8>,
    /// Pending bits in the low `nbits` positions; fewer than 8 between calls.
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            out: Vec::with_capacity(bytes),
            acc: 0,
            nbits: 0,
        }
    }

    /// Appends the low `n` bits of `v` (`n` ≤ 64), most significant first.
    pub(crate) fn write(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n > 32 {
            // Split so the accumulator (< 8 pending bits) never needs more than 40 bits.
            self.write(v >> 32, n - 32);
            self.write(v, 32);
            return;
        }
        if n == 0 {
            return;
        }
        let v = v & ((1u64 << n) - 1);
        self.acc = (self.acc << n) | v;
        self.nbits += n;
        while self.nbits >= 8 {
            self.nbits -= 8;
            self.out.push((self.acc >> self.nbits) as u8);
        }
        self.acc &= (1u64 << self.nbits) - 1;
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    /// The packed bytes, last one zero-padded.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.nbits > 0 {
            self.out.push((self.acc << (8 - self.nbits)) as u8);
        }
        self.out
    }
}

/// Reads bit fields written by [`BitWriter`]; running past the end is [`CodecError::Truncated`].
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    /// Position in bits from the start of `buf`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// Reads `n` bits (`n` ≤ 64) as the low bits of the result.
    pub(crate) fn read(&mut self, n: u32) -> Result<u64, CodecError> {
        debug_assert!(n <= 64);
        let total = self.buf.len().saturating_mul(8);
        if total - self.pos < n as usize {
            return Err(CodecError::Truncated {
                what: "float bit stream",
            });
        }
        let mut v: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = u32::from(self.buf[self.pos / 8]);
            let avail = 8 - (self.pos % 8) as u32;
            let take = avail.min(left);
            let bits = (byte >> (avail - take)) & ((1u32 << take) - 1);
            v = (v << take) | u64::from(bits);
            left -= take;
            self.pos += take as usize;
        }
        Ok(v)
    }

    pub(crate) fn bit(&mut self) -> Result<bool, CodecError> {
        Ok(self.read(1)? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_every_width_round_trip() {
        let mut w = BitWriter::default();
        let fields: Vec<(u64, u32)> = (0..=64u32)
            .map(|n| (0xDEAD_BEEF_CAFE_F00Du64.rotate_left(n), n))
            .collect();
        for &(v, n) in &fields {
            w.write(v, n);
        }
        let bytes = w.finish();
        let total_bits: u32 = (0..=64).sum();
        assert_eq!(bytes.len(), total_bits.div_ceil(8) as usize);
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &fields {
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            assert_eq!(r.read(n).unwrap(), v & mask, "width {n}");
        }
    }

    #[test]
    fn msb_first_layout_and_padding() {
        let mut w = BitWriter::default();
        w.bit(true);
        w.write(0b01, 2);
        assert_eq!(w.finish(), vec![0b1010_0000]);
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read(5).unwrap(), 0b11111);
        assert!(r.read(4).is_err());
        assert_eq!(r.read(3).unwrap(), 0b111);
        assert!(r.bit().is_err());
    }
}
