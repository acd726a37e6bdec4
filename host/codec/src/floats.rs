//! Number column (docs/chunk-format.md, "Number column").
//!
//! Three encodings, chosen per chunk:
//! - **decimal**: every value is exactly `m / 10^k` for integer mantissas `m` and one `k` in
//!   0..=9; mantissas are stored as zigzag varint deltas or delta-of-deltas, whichever is
//!   shorter. Sensor readings with a fixed number of decimals and integer counters land here
//!   and cost about one byte per point before compression.
//! - **gorilla**: XOR of consecutive IEEE-754 bit patterns with leading/trailing-zero windows
//!   (Pelkonen et al., VLDB 2015), for values with no short decimal form.
//! - **raw**: little-endian bit patterns, when Gorilla would be larger (random full-precision
//!   data, where XORs have few zero bits).
//!
//! Every encoding reproduces `f64::to_bits` exactly; the decimal check is done with the very
//! expression the decoder uses, so it cannot accept a value it would not reproduce.

use crate::CodecError;
use crate::bits::{BitReader, BitWriter};
use crate::varint::{Reader, put_ivarint, put_varint, varint_len, zigzag};

const ENC_DECIMAL_DELTA: u8 = 0;
const ENC_DECIMAL_DOD: u8 = 1;
const ENC_GORILLA: u8 = 2;
const ENC_RAW: u8 = 3;

/// Powers of ten used as decimal scales; all are exact in f64, so decoding `m / 10^k` is one
/// correctly rounded IEEE division that any language reproduces.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Appends the column for `values` (at least one).
pub(crate) fn encode(values: &[f64], out: &mut Vec<u8>) {
    if let Some((k, mantissas)) = decimal(values) {
        encode_decimal(k, &mantissas, out);
        return;
    }
    let gorilla = gorilla_encode(values);
    let raw_len = values.len().saturating_mul(8);
    if gorilla.len() + varint_len(gorilla.len() as u64) < raw_len {
        out.push(ENC_GORILLA);
        put_varint(out, gorilla.len() as u64);
        out.extend_from_slice(&gorilla);
    } else {
        out.push(ENC_RAW);
        out.reserve(raw_len);
        for v in values {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }
}

/// Reads a column of `n` values (n ≥ 1).
pub(crate) fn decode(r: &mut Reader<'_>, n: usize) -> Result<Vec<f64>, CodecError> {
    let values = match r.u8("number encoding")? {
        enc @ (ENC_DECIMAL_DELTA | ENC_DECIMAL_DOD) => {
            decode_decimal(r, n, enc == ENC_DECIMAL_DOD)?
        }
        ENC_GORILLA => {
            let len = r.len(r.remaining(), "float bit stream length")?;
            gorilla_decode(r.bytes(len, "float bit stream")?, n)?
        }
        ENC_RAW => {
            let len = n
                .checked_mul(8)
                .ok_or(CodecError::Truncated { what: "raw floats" })?;
            r.bytes(len, "raw floats")?
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_bits(u64::from_le_bytes(b))
                })
                .collect()
        }
        other => {
            return Err(CodecError::corrupt(format!(
                "unknown number encoding {other}"
            )));
        }
    };
    // Value::Num must be finite; bit flips in a Gorilla or raw column could produce NaN.
    if values.iter().any(|v| !v.is_finite()) {
        return Err(CodecError::corrupt("non-finite number"));
    }
    Ok(values)
}

/// `Some(m)` when `m / 10^k` reproduces `v` bit for bit. Catches everything that is not a
/// short decimal: -0.0 (0 / p is +0.0), subnormals, values beyond i64 (the cast saturates and
/// the check then fails), NaN (casts to 0).
fn mantissa(v: f64, k: usize) -> Option<i64> {
    let p = POW10[k];
    let m = (v * p).round() as i64;
    ((m as f64 / p).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest scale `k` at which every value is decimal, and the mantissas at that scale.
fn decimal(values: &[f64]) -> Option<(usize, Vec<i64>)> {
    let mut k = 0;
    let mut ms = Vec::with_capacity(values.len());
    // A value that needs a larger scale restarts the pass at that scale; the scale only
    // grows, so this restarts at most 9 times, and in practice only on the first values.
    'scale: loop {
        ms.clear();
        for &v in values {
            match mantissa(v, k) {
                Some(m) => ms.push(m),
                None => {
                    k = (k + 1..POW10.len()).find(|&k2| mantissa(v, k2).is_some())?;
                    continue 'scale;
                }
            }
        }
        return Some((k, ms));
    }
}

fn encode_decimal(k: usize, ms: &[i64], out: &mut Vec<u8>) {
    // Pick deltas (random walks) or delta-of-deltas (counters, ramps) by exact encoded size.
    let (mut delta_len, mut dod_len) = (0usize, 0usize);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for &m in ms {
        let d = m.wrapping_sub(prev);
        delta_len += varint_len(zigzag(d));
        dod_len += varint_len(zigzag(d.wrapping_sub(prev_delta)));
        prev = m;
        prev_delta = d;
    }
    let dod = dod_len < delta_len;
    out.push(if dod {
        ENC_DECIMAL_DOD
    } else {
        ENC_DECIMAL_DELTA
    });
    out.push(k as u8);
    out.reserve(delta_len.min(dod_len));
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for &m in ms {
        let d = m.wrapping_sub(prev);
        put_ivarint(out, if dod { d.wrapping_sub(prev_delta) } else { d });
        prev = m;
        prev_delta = d;
    }
}

fn decode_decimal(r: &mut Reader<'_>, n: usize, dod: bool) -> Result<Vec<f64>, CodecError> {
    let k = usize::from(r.u8("decimal scale")?);
    let p = *POW10
        .get(k)
        .ok_or_else(|| CodecError::corrupt(format!("decimal scale {k} out of range")))?;
    let mut out = Vec::with_capacity(n.min(r.remaining().saturating_add(1)));
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for _ in 0..n {
        let x = r.ivarint("mantissa")?;
        let d = if dod { prev_delta.wrapping_add(x) } else { x };
        let m = prev.wrapping_add(d);
        out.push(m as f64 / p);
        prev = m;
        prev_delta = d;
    }
    Ok(out)
}

fn gorilla_encode(values: &[f64]) -> Vec<u8> {
    let mut w = BitWriter::with_capacity(values.len() * 4);
    let Some((first, rest)) = values.split_first() else {
        return w.finish();
    };
    let mut prev = first.to_bits();
    w.write(prev, 64);
    // The current leading/trailing-zero window; None until the first non-zero XOR.
    let mut window: Option<(u32, u32)> = None;
    for v in rest {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        let (lead, trail) = (x.leading_zeros(), x.trailing_zeros());
        match window {
            Some((wl, wt)) if lead >= wl && trail >= wt => {
                w.bit(false);
                w.write(x >> wt, 64 - wl - wt);
            }
            _ => {
                let len = 64 - lead - trail;
                w.bit(true);
                w.write(u64::from(lead), 6);
                w.write(u64::from(len - 1), 6);
                w.write(x >> trail, len);
                window = Some((lead, trail));
            }
        }
    }
    w.finish()
}

fn gorilla_decode(stream: &[u8], n: usize) -> Result<Vec<f64>, CodecError> {
    let mut r = BitReader::new(stream);
    // Each value after the first costs at least one bit.
    let mut out = Vec::with_capacity(n.min(stream.len().saturating_mul(8).saturating_add(1)));
    let mut prev = r.read(64)?;
    out.push(f64::from_bits(prev));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..n {
        if r.bit()? {
            let (lead, trail) = if r.bit()? {
                let lead = r.read(6)? as u32;
                let len = r.read(6)? as u32 + 1;
                if lead + len > 64 {
                    return Err(CodecError::corrupt("float window exceeds 64 bits"));
                }
                let w = (lead, 64 - lead - len);
                window = Some(w);
                w
            } else {
                window.ok_or_else(|| CodecError::corrupt("float window reused before set"))?
            };
            prev ^= r.read(64 - lead - trail)? << trail;
        }
        out.push(f64::from_bits(prev));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        let mut r = Reader::new(&out);
        let back = decode(&mut r, values.len()).unwrap();
        assert_eq!(r.remaining(), 0);
        let a: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u64> = back.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b);
        out
    }

    #[test]
    fn two_decimal_values_use_scale_two_and_one_byte_deltas() {
        let vals = [20.0, 20.13, 20.01, 19.5, 19.51, 20.0];
        let out = round_trip(&vals);
        assert_eq!(out[0], ENC_DECIMAL_DELTA);
        assert_eq!(out[1], 2);
        // Mantissa 2000 → 2 bytes, then five deltas within ±63 → 1 byte each.
        assert_eq!(out.len(), 2 + 2 + 5);
    }

    #[test]
    fn scale_is_minimal() {
        let out = round_trip(&[1.0, 2.5, 3.0]);
        assert_eq!(out[1], 1);
        let out = round_trip(&[7.0, -3.0, 12.0]);
        assert_eq!(out[1], 0);
        let out = round_trip(&[0.123456789, 1.0]);
        assert_eq!(out[1], 9);
    }

    #[test]
    fn steep_counters_use_delta_of_delta() {
        let vals: Vec<f64> = (0..100).map(|i| 1e6 + f64::from(i) * 1000.0).collect();
        let out = round_trip(&vals);
        assert_eq!(out[0], ENC_DECIMAL_DOD);
        assert_eq!(out[1], 0);
        // First mantissa (3 bytes), first delta-of-delta (3 bytes), then 98 zero bytes.
        assert_eq!(out.len(), 2 + 3 + 3 + 98);
        // A small constant step is one byte either way, so plain deltas win the tie.
        let vals: Vec<f64> = (0..100).map(|i| f64::from(i) * 3.0).collect();
        assert_eq!(round_trip(&vals)[0], ENC_DECIMAL_DELTA);
    }

    #[test]
    fn negative_zero_and_odd_values_fall_back_to_bit_exact_encodings() {
        let out = round_trip(&[1.0, -0.0, 2.0]);
        assert!(out[0] == ENC_GORILLA || out[0] == ENC_RAW);
        for edge in [
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            0.1 + 0.2,
            1e300,
            i64::MAX as f64,
            (i64::MAX as f64).next_down(),
            i64::MIN as f64,
            (i64::MIN as f64).next_up(),
        ] {
            round_trip(&[edge]);
            round_trip(&[0.0, edge, edge, 1.5, edge]);
        }
    }

    #[test]
    fn constant_full_precision_values_cost_one_bit_each() {
        let vals = vec![std::f64::consts::PI; 800];
        let out = round_trip(&vals);
        assert_eq!(out[0], ENC_GORILLA);
        // 64 + 799 bits → 108 bytes, after the encoding byte and a 1-byte length.
        assert_eq!(out.len(), 1 + 1 + 108);
    }

    #[test]
    fn random_bits_fall_back_to_raw() {
        // A xorshift stream: XORs of random patterns have almost no zero bits to exploit.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let vals: Vec<f64> = std::iter::from_fn(|| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            Some(f64::from_bits(s))
        })
        .filter(|v| v.is_finite())
        .take(200)
        .collect();
        let out = round_trip(&vals);
        assert_eq!(out[0], ENC_RAW);
        assert_eq!(out.len(), 1 + 8 * 200);
    }

    #[test]
    fn corrupt_columns_are_errors() {
        assert!(decode(&mut Reader::new(&[9]), 1).is_err());
        assert!(decode(&mut Reader::new(&[ENC_DECIMAL_DELTA, 10, 0]), 1).is_err());
        assert!(decode(&mut Reader::new(&[ENC_DECIMAL_DELTA, 1]), 1).is_err());
        // Raw NaN.
        let mut nan = vec![ENC_RAW];
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert!(matches!(
            decode(&mut Reader::new(&nan), 1),
            Err(CodecError::Corrupt { .. })
        ));
        // Gorilla stream that reuses a window before defining one: first value, then "10".
        let mut w = BitWriter::default();
        w.write(1.0f64.to_bits(), 64);
        w.write(0b10, 2);
        let s = w.finish();
        let mut col = vec![ENC_GORILLA, s.len() as u8];
        col.extend_from_slice(&s);
        assert!(matches!(
            decode(&mut Reader::new(&col), 2),
            Err(CodecError::Corrupt { .. })
        ));
        // Gorilla stream shorter than its declared length.
        assert!(decode(&mut Reader::new(&[ENC_GORILLA, 5, 0]), 1).is_err());
    }
}
